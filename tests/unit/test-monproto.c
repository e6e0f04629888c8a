/*
 * Unit tests for the network <-> monitor protocol (common/monproto.c) and
 * the client's reply decoder (rserver/monitor-client.c). The seed corpus of
 * fuzz-monproto (tests/fuzz/corpus/monproto) is checked here too: every
 * seed must still decode under the current MONPROTO_VERSION.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "monitor-client.h"
#include "monproto.h"
#include "strutil.h"
#include "test.h"

/* Builds a request, passes it through mon_take and decodes it. */
static int round_trip(struct monbuf *b, struct mon_request *q)
{
	uint8_t buf[MONPROTO_MAX];
	size_t len;
	struct monbuf m;
	int r;

	mon_finish(b);
	memcpy(buf, b->data, b->len);
	len = b->len;
	mon_free(b);
	r = mon_take(buf, &len, &m);
	if (r != 1)
		return r < 0 ? r : -EAGAIN;
	r = mon_decode_request(&m, q);
	mon_free(&m);
	return r;
}

TEST(requests)
{
	struct monbuf b;
	struct mon_request q;

	CHECK_INT(mon_begin(&b, MON_AUTH_REQ, 7), 0);
	mon_put_str(&b, "rstudio");
	mon_put_str(&b, "alice");
	mon_put_str(&b, "s3cret");
	CHECK_INT(round_trip(&b, &q), 0);
	CHECK_INT(q.type, MON_AUTH_REQ);
	CHECK_INT(q.id, 7);
	CHECK_STR(q.service, "rstudio");
	CHECK_STR(q.user, "alice");
	CHECK_STR(q.password, "s3cret");
	mon_request_free(&q);

	mon_begin(&b, MON_LAUNCH_REQ, 8);
	mon_put_str(&b, "alice");
	mon_put_str(&b, "s1");
	mon_put_u32(&b, MON_LAUNCH_RESUME);
	CHECK_INT(round_trip(&b, &q), 0);
	CHECK_INT(q.flags, MON_LAUNCH_RESUME);
	mon_request_free(&q);

	mon_begin(&b, MON_STATS_REQ, 9);
	mon_put_u32(&b, 3);
	for (int i = 0; i < 3; i++)
		mon_put_i32(&b, 100 + i);
	CHECK_INT(round_trip(&b, &q), 0);
	CHECK_INT(q.npids, 3);
	CHECK_INT(q.pids[2], 102);
	mon_request_free(&q);
}

TEST(reload)
{
	struct monitor_client mc;
	struct monbuf b;
	struct mon_request q;

	/* The client's request: no payload at all. */
	monitor_client_init(&mc, -1);
	CHECK_INT(monitor_client_request_reload(&mc, &b), 0);
	CHECK_INT(b.id, 1);
	CHECK_INT(round_trip(&b, &q), 0);
	CHECK_INT(q.type, MON_RELOAD_REQ);
	CHECK_INT(q.id, 1);
	mon_request_free(&q);
	monitor_client_free(&mc);

	/* Any payload byte is refused. */
	mon_begin(&b, MON_RELOAD_REQ, 2);
	mon_put_u32(&b, 0);
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	mon_begin(&b, MON_RELOAD_REQ, 2);
	mon_put_str(&b, "");
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
}

TEST(signout)
{
	struct monitor_client mc;
	struct monbuf b;
	struct mon_request q;

	/* The client's request: the user, nothing else. */
	monitor_client_init(&mc, -1);
	CHECK_INT(monitor_client_request_signout(&mc, "alice", &b), 0);
	CHECK_INT(b.id, 1);
	CHECK_INT(round_trip(&b, &q), 0);
	CHECK_INT(q.type, MON_SIGNOUT_REQ);
	CHECK_INT(q.id, 1);
	CHECK_STR(q.user, "alice");
	CHECK(q.password == NULL && q.session_id == NULL);
	mon_request_free(&q);
	monitor_client_free(&mc);

	/* No user, an extra field, a trailing byte: refused. */
	mon_begin(&b, MON_SIGNOUT_REQ, 2);
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	mon_begin(&b, MON_SIGNOUT_REQ, 2);
	mon_put_str(&b, "alice");
	mon_put_str(&b, "s1");
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	mon_begin(&b, MON_SIGNOUT_REQ, 2);
	mon_put_str(&b, "alice");
	CHECK_INT(mon_put_u32(&b, 0), 0);
	b.len -= 3; /* one byte of it left */
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* A reply type is not a request. */
	mon_begin(&b, MON_SIGNOUT_REP, 3);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "");
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
}

/* Feeds one finished message to a client and takes the reply. */
static int parse_reply(struct monbuf *b, struct mon_reply *ret)
{
	struct monitor_client mc;
	int r;

	monitor_client_init(&mc, -1);
	mon_finish(b);
	r = monitor_client_feed(&mc, b->data, b->len);
	mon_free(b);
	if (r == 0)
		r = monitor_client_next(&mc, ret);
	monitor_client_free(&mc);
	return r;
}

TEST(reload_reply)
{
	struct monbuf b;
	struct mon_reply rep;

	mon_begin(&b, MON_RELOAD_REP, 5);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "3 settings reloaded, 1 needs a restart");
	CHECK_INT(parse_reply(&b, &rep), 1);
	CHECK_INT(rep.type, MON_RELOAD_REP);
	CHECK_INT(rep.id, 5);
	CHECK_INT(rep.reload.result, 0);
	CHECK_STR(rep.reload.message, "3 settings reloaded, 1 needs a restart");
	mon_reply_free(&rep);

	mon_begin(&b, MON_RELOAD_REP, 6);
	mon_put_i32(&b, -EINVAL);
	mon_put_str(&b, "rserver.conf:2: unknown key 'x'");
	CHECK_INT(parse_reply(&b, &rep), 1);
	CHECK_INT(rep.reload.result, -EINVAL);
	CHECK_STR(rep.reload.message, "rserver.conf:2: unknown key 'x'");
	mon_reply_free(&rep);

	/* A positive result, a missing message, a trailing byte. */
	mon_begin(&b, MON_RELOAD_REP, 7);
	mon_put_i32(&b, 1);
	mon_put_str(&b, "");
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
	mon_begin(&b, MON_RELOAD_REP, 7);
	mon_put_i32(&b, 0);
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
	mon_begin(&b, MON_RELOAD_REP, 7);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "");
	mon_put_u32(&b, 0);
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
}

TEST(signout_reply)
{
	struct monbuf b;
	struct mon_reply rep;

	mon_begin(&b, MON_SIGNOUT_REP, 4);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "the sign-in password of alice is wiped");
	CHECK_INT(parse_reply(&b, &rep), 1);
	CHECK_INT(rep.type, MON_SIGNOUT_REP);
	CHECK_INT(rep.id, 4);
	CHECK_INT(rep.signout.result, 0);
	CHECK_STR(rep.signout.message, "the sign-in password of alice is wiped");
	mon_reply_free(&rep);

	/* A positive result, a missing message, a trailing byte. */
	mon_begin(&b, MON_SIGNOUT_REP, 5);
	mon_put_i32(&b, 1);
	mon_put_str(&b, "");
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
	mon_begin(&b, MON_SIGNOUT_REP, 5);
	mon_put_i32(&b, 0);
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
	mon_begin(&b, MON_SIGNOUT_REP, 5);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "");
	mon_put_u32(&b, 0);
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
	/* The request type coming back is not a reply. */
	mon_begin(&b, MON_SIGNOUT_REQ, 5);
	mon_put_str(&b, "alice");
	CHECK_INT(parse_reply(&b, &rep), -EBADMSG);
}

/* A launch reply for "sign in again" is an ordinary failed launch. */
TEST(launch_reply_sign_in)
{
	struct monbuf b;
	struct mon_reply rep;

	mon_begin(&b, MON_LAUNCH_REP, 6);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "");
	mon_put_str(&b, MON_LAUNCH_STEP_SIGN_IN);
	mon_put_str(&b, "sign in again");
	CHECK_INT(parse_reply(&b, &rep), 1);
	CHECK_INT(rep.launch.pid, 0);
	CHECK_STR(rep.launch.step, "sign-in");
	CHECK_STR(rep.launch.message, "sign in again");
	mon_reply_free(&rep);
}

TEST(strict)
{
	struct monbuf b;
	struct mon_request q;

	/* A trailing byte. */
	mon_begin(&b, MON_SIGNAL_REQ, 1);
	mon_put_str(&b, "alice");
	mon_put_str(&b, "s1");
	mon_put_i32(&b, 42);
	mon_put_i32(&b, 10);
	mon_put_u32(&b, 0);
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* A missing field. */
	mon_begin(&b, MON_SIGNAL_REQ, 1);
	mon_put_str(&b, "alice");
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* Unknown flags. */
	mon_begin(&b, MON_LAUNCH_REQ, 1);
	mon_put_str(&b, "alice");
	mon_put_str(&b, "s1");
	mon_put_u32(&b, 0x80);
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* Too many pids. */
	mon_begin(&b, MON_STATS_REQ, 1);
	mon_put_u32(&b, MONPROTO_MAX_PIDS + 1);
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* A reply is not a request. */
	mon_begin(&b, MON_SIGNAL_REP, 1);
	mon_put_i32(&b, 0);
	mon_put_str(&b, "");
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* A NUL inside a string: hand-built. */
	mon_begin(&b, MON_LAUNCH_REQ, 1);
	mon_put_u32(&b, 3);
	mon_put_u32(&b, 0x61006200); /* "a\0b\0" as the 3 string bytes + 1 */
	CHECK_INT(round_trip(&b, &q), -EBADMSG);
	/* Strings longer than the cap cannot even be written. */
	char *big = malloc(MONPROTO_MAX_STR + 2);
	memset(big, 'x', MONPROTO_MAX_STR + 1);
	big[MONPROTO_MAX_STR + 1] = '\0';
	mon_begin(&b, MON_AUTH_REQ, 1);
	CHECK_INT(mon_put_str(&b, big), -EMSGSIZE);
	mon_free(&b);
	free(big);
}

TEST(framing)
{
	uint8_t buf[64] = {0};
	size_t len;
	struct monbuf m;

	/* Short header: need more. */
	len = 3;
	CHECK_INT(mon_take(buf, &len, &m), 0);
	/* Oversized length. */
	buf[0] = 0x7f;
	len = 16;
	CHECK_INT(mon_take(buf, &len, &m), -EMSGSIZE);
	/* Wrong version: 1, before MON_RELOAD and MON_SIGNOUT renumbered the
	 * replies. */
	memset(buf, 0, sizeof(buf));
	buf[3] = 8;
	buf[5] = 1;
	buf[7] = MON_AUTH_REQ;
	len = 12;
	CHECK_INT(mon_take(buf, &len, &m), -EPROTO);
	/* Unknown type. */
	buf[5] = MONPROTO_VERSION;
	buf[7] = 0x7f;
	CHECK_INT(mon_take(buf, &len, &m), -EPROTO);
	/* A length too small for the header. */
	buf[3] = 2;
	CHECK_INT(mon_take(buf, &len, &m), -EPROTO);
}

TEST(names)
{
	CHECK_STR(mon_auth_result_name(MON_AUTH_UID_TOO_LOW), "user id below auth-minimum-user-id");
	CHECK_STR(mon_type_name(MON_LAUNCH_REQ), "launch");
	CHECK_STR(mon_type_name(MON_RELOAD_REQ), "reload");
	CHECK_STR(mon_type_name(MON_RELOAD_REP), "reload-reply");
	CHECK_STR(mon_type_name(MON_SIGNOUT_REQ), "sign-out");
	CHECK_STR(mon_type_name(MON_SIGNOUT_REP), "sign-out-reply");
	CHECK_STR(mon_type_name(MON_TYPE_MAX), "?");
	CHECK_STR(mon_auth_result_name(MON_AUTH_RESULT_MAX), "?");
}

/*
 * The committed fuzz seeds are well-formed messages of this version: a
 * version bump must rewrite them, or the fuzzer would start from inputs the
 * decoders refuse at the first byte. Each file holds one message, decoded
 * as a request or a reply by its type.
 */
TEST(corpus)
{
	const char *data = getenv("RS_TEST_DATA");
	char dir[4096];
	size_t seeds = 0, types = 0;
	bool seen[MON_TYPE_MAX] = {false};
	struct dirent *e;
	DIR *d;

	if (!data || !strrchr(data, '/')) {
		printf("skip corpus: RS_TEST_DATA is not set\n");
		return;
	}
	/* RS_TEST_DATA is tests/unit/data (which need not exist). */
	snprintf(dir, sizeof(dir), "%.*s/../fuzz/corpus/monproto", (int)(strrchr(data, '/') - data),
	         data);
	d = opendir(dir);
	CHECK(d != NULL);
	while (d && (e = readdir(d))) {
		char path[8192], *buf;
		size_t len;
		struct monbuf m = {0};
		int r;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (file_read_all(path, MONPROTO_MAX, &buf, &len) < 0) {
			fprintf(stderr, "%s: unreadable\n", path);
			test_current_failed = 1;
			continue;
		}
		seeds++;
		r = mon_take((uint8_t *)buf, &len, &m);
		if (r != 1 || len != 0) {
			fprintf(stderr, "%s: not one whole message of version %d (%d)\n", path,
			        MONPROTO_VERSION, r);
			test_current_failed = 1;
		} else if (m.type < MON_AUTH_REP) {
			struct mon_request q;
			r = mon_decode_request(&m, &q);
			if (r < 0) {
				fprintf(stderr, "%s: request refused\n", path);
				test_current_failed = 1;
			}
			mon_request_free(&q);
			seen[m.type] = true;
		} else {
			struct monitor_client mc;
			struct mon_reply rep;
			monitor_client_init(&mc, -1);
			r = monitor_client_feed(&mc, m.data, m.len);
			if (r == 0)
				r = monitor_client_next(&mc, &rep);
			if (r != 1) {
				fprintf(stderr, "%s: reply refused (%d)\n", path, r);
				test_current_failed = 1;
			} else {
				mon_reply_free(&rep);
			}
			monitor_client_free(&mc);
			seen[m.type] = true;
		}
		mon_free(&m);
		free(buf);
	}
	if (d)
		closedir(d);
	for (int t = 1; t < MON_TYPE_MAX; t++)
		types += seen[t];
	printf("corpus: %zu seeds in %s cover %zu of %d message types\n", seeds, dir, types,
	       MON_TYPE_MAX - 1);
	/* Every message type has a seed. */
	CHECK_INT(types, MON_TYPE_MAX - 1);
}

int main(void)
{
	RUN(requests);
	RUN(reload);
	RUN(reload_reply);
	RUN(signout);
	RUN(signout_reply);
	RUN(launch_reply_sign_in);
	RUN(strict);
	RUN(framing);
	RUN(names);
	RUN(corpus);
	return test_summary();
}
