/*
 * Unit tests for the admin protocol (common/adminproto.c): requests and
 * answers decode strictly, frames are cut and capped.
 */
#include <errno.h>
#include <stdlib.h>

#include "adminproto.h"
#include "test.h"

static int req(const char *json, struct admin_request *r, char *err)
{
	return adminproto_decode_request(json, strlen(json), r, err, 256);
}

static int ans(enum admin_command c, const char *json, char *err)
{
	json_t *o = NULL;
	int r = adminproto_decode_answer(c, json, strlen(json), &o, err, 256);

	json_decref(o);
	return r;
}

TEST(requests)
{
	struct admin_request r;
	char err[256];

	CHECK_INT(req("{\"command\":\"status\"}", &r, err), 0);
	CHECK_INT(r.command, ADMIN_STATUS);
	admin_request_free(&r);
	CHECK_INT(req("{\"command\":\"kill-session\",\"args\":{\"session\":\"4242\"}}", &r, err),
	          0);
	CHECK_INT(r.command, ADMIN_KILL_SESSION);
	CHECK_STR(r.session, "4242");
	admin_request_free(&r);
	CHECK_INT(req("{\"command\":\"suspend-all\",\"args\":{}}", &r, err), 0);
	CHECK(r.user == NULL);
	admin_request_free(&r);
	CHECK_INT(req("{\"command\":\"force-suspend-all\",\"args\":{\"user\":\"alice\"}}", &r, err),
	          0);
	CHECK_STR(r.user, "alice");
	admin_request_free(&r);
	CHECK_INT(req("{\"command\":\"offline\",\"args\":{\"message\":\"back at 5\"}}", &r, err),
	          0);
	CHECK_STR(r.message, "back at 5");
	admin_request_free(&r);

	/* What the CLI builds, the server reads. */
	for (int c = 0; c < ADMIN_NCOMMANDS; c++) {
		json_t *o = adminproto_request_new((enum admin_command)c);
		char *buf;
		size_t len;
		if (c == ADMIN_SUSPEND_SESSION || c == ADMIN_FORCE_SUSPEND_SESSION ||
		    c == ADMIN_KILL_SESSION)
			json_object_set_new(json_object_get(o, "args"), "session",
			                    json_string("x"));
		if (c == ADMIN_VERIFY_SESSION)
			json_object_set_new(json_object_get(o, "args"), "user", json_string("u"));
		CHECK_INT(adminproto_encode(o, &buf, &len), 0);
		CHECK_INT(adminproto_decode_request(buf + ADMINPROTO_HEADER,
		                                    len - ADMINPROTO_HEADER, &r, err, sizeof(err)),
		          0);
		CHECK_INT(r.command, c);
		admin_request_free(&r);
		free(buf);
		json_decref(o);
	}
}

TEST(strict_requests)
{
	static const struct {
		const char *json, *err;
	} bad[] = {
	    {"{\"command\":\"shutdown\"}", "unknown command 'shutdown'"},
	    {"{\"args\":{}}", "request has no string 'command'"},
	    {"{\"command\":\"status\",\"extra\":1}", "request has no field 'extra'"},
	    {"{\"command\":\"status\",\"args\":{\"user\":\"a\"}}",
	     "'status' args has no field 'user'"},
	    {"{\"command\":\"status\",\"args\":[]}", "'status' field 'args' must be an object"},
	    {"{\"command\":\"kill-session\",\"args\":{}}",
	     "'kill-session' args lacks field 'session'"},
	    {"{\"command\":\"kill-session\",\"args\":{\"session\":4242}}",
	     "'kill-session' args field 'session' must be a non-empty string of at most 255 bytes"},
	    {"{\"command\":\"kill-session\",\"args\":{\"session\":\"\"}}",
	     "'kill-session' args field 'session' must be a non-empty string of at most 255 bytes"},
	    {"{\"command\":\"verify-session\"}", "'verify-session' args lacks field 'user'"},
	    {"[\"status\"]", "message is not a JSON object"},
	};
	struct admin_request r;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(req(bad[i].json, &r, err), -EBADMSG);
		CHECK_STR(err, bad[i].err);
	}
	CHECK_INT(req("{\"command\":\"status\",\"command\":\"reload\"}", &r, err), -EBADMSG);
	CHECK_INT(req("{\"command\":\"status\"} x", &r, err), -EBADMSG);
	{
		/* A NUL inside a string is refused. */
		static const char nul[] = "{\"command\":\"status\\u0000\"}";
		CHECK_INT(req(nul, &r, err), -EBADMSG);
	}
}

TEST(answers)
{
	char err[256];

	CHECK_INT(ans(ADMIN_RELOAD, "{\"ok\":true,\"message\":\"reloaded\"}", err), 0);
	CHECK_INT(ans(ADMIN_RELOAD, "{\"ok\":false,\"error\":\"refused\"}", err), 0);
	CHECK_INT(ans(ADMIN_RELOAD, "{\"ok\":false}", err), -EBADMSG);
	CHECK_STR(err, "'reload' answer failed without an 'error'");
	CHECK_INT(ans(ADMIN_RELOAD, "{\"ok\":true,\"results\":[]}", err), -EBADMSG);
	CHECK_STR(err, "'reload' answer has no field 'results'");
	CHECK_INT(ans(ADMIN_RELOAD, "{\"message\":\"x\"}", err), -EBADMSG);
	CHECK_INT(ans(ADMIN_KILL_ALL,
	              "{\"ok\":true,\"results\":[{\"session\":\"a\",\"user\":\"u\",\"pid\":null,"
	              "\"ok\":true,\"message\":\"u/a (not running): killed\"}]}",
	              err),
	          0);
	CHECK_INT(ans(ADMIN_KILL_ALL,
	              "{\"ok\":true,\"results\":[{\"session\":\"a\",\"user\":\"u\",\"ok\":true,"
	              "\"message\":\"m\"}]}",
	              err),
	          -EBADMSG);
	CHECK_INT(ans(ADMIN_KILL_ALL,
	              "{\"ok\":true,\"results\":[{\"session\":\"a\",\"user\":\"u\",\"pid\":-1,"
	              "\"ok\":true,\"message\":\"m\"}]}",
	              err),
	          -EBADMSG);
	CHECK_INT(ans(ADMIN_STATUS,
	              "{\"ok\":true,\"pid\":1,\"version\":\"0.1.0\",\"uptime_seconds\":0,"
	              "\"address\":\"127.0.0.1\",\"port\":8787,\"sessions\":{\"running\":2},"
	              "\"offline\":false}",
	              err),
	          0);
	CHECK_INT(ans(ADMIN_STATUS, "{\"ok\":true,\"pid\":1}", err), -EBADMSG);
	CHECK_INT(ans(ADMIN_LIST_SESSIONS,
	              "{\"ok\":true,\"sessions\":[{\"id\":\"a\",\"user\":\"u\",\"pid\":null,"
	              "\"state\":\"exited\",\"cpu_percent\":0}]}",
	              err),
	          0);
	CHECK_INT(ans(ADMIN_LIST_SESSIONS, "{\"ok\":true,\"sessions\":[{\"id\":\"a\"}]}", err),
	          -EBADMSG);
}

TEST(frames)
{
	struct frame_reader rd;
	json_t *o = json_pack("{s:s}", "command", "status");
	const char *json;
	char *buf;
	size_t len, n;

	CHECK_INT(adminproto_encode(o, &buf, &len), 0);
	json_decref(o);
	adminproto_reader_init(&rd);
	/* A byte at a time: nothing until the whole frame is in. */
	for (size_t i = 0; i + 1 < len; i++) {
		CHECK_INT(frame_reader_push(&rd, buf + i, 1), 0);
		CHECK_INT(frame_reader_next(&rd, &json, &n), 0);
	}
	CHECK_INT(frame_reader_push(&rd, buf + len - 1, 1), 0);
	CHECK_INT(frame_reader_next(&rd, &json, &n), 1);
	CHECK_INT(n, len - ADMINPROTO_HEADER);
	CHECK_INT(frame_reader_next(&rd, &json, &n), 0);
	frame_reader_free(&rd);

	/* Another version. */
	buf[5] = 2;
	adminproto_reader_init(&rd);
	CHECK_INT(frame_reader_push(&rd, buf, len), 0);
	CHECK_INT(frame_reader_next(&rd, &json, &n), -EPROTO);
	frame_reader_free(&rd);
	free(buf);

	/* Announcing more than the cap is refused before any body arrives. */
	{
		unsigned char big[6] = {0x00, 0x10, 0x00, 0x01, 0x00, 0x01}; /* 1 MiB + 1 */
		adminproto_reader_init(&rd);
		CHECK_INT(frame_reader_push(&rd, big, 4), 0);
		CHECK_INT(frame_reader_next(&rd, &json, &n), -EMSGSIZE);
		frame_reader_free(&rd);
	}
	{
		unsigned char tiny[4] = {0, 0, 0, 1};
		adminproto_reader_init(&rd);
		CHECK_INT(frame_reader_push(&rd, tiny, 4), 0);
		CHECK_INT(frame_reader_next(&rd, &json, &n), -EPROTO);
		frame_reader_free(&rd);
	}
	/* An answer over the cap is not encoded. */
	{
		char *huge = malloc(ADMINPROTO_MAX_FRAME);
		memset(huge, 'x', ADMINPROTO_MAX_FRAME - 1);
		huge[ADMINPROTO_MAX_FRAME - 1] = '\0';
		o = json_pack("{s:b, s:s}", "ok", true, "message", huge);
		CHECK_INT(adminproto_encode(o, &buf, &len), -EMSGSIZE);
		json_decref(o);
		free(huge);
	}
}

int main(void)
{
	RUN(requests);
	RUN(strict_requests);
	RUN(answers);
	RUN(frames);
	return test_summary();
}
