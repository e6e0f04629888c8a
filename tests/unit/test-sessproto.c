/*
 * Unit tests for the rserver <-> rsession protocol (common/sessproto.c)
 * and utf8_sanitize (common/strutil.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "sessproto.h"
#include "strutil.h"
#include "test.h"

static int decode(const char *json, enum sessproto_dir dir, struct sessproto_msg *m, char *err)
{
	return sessproto_decode(json, strlen(json), dir, m, err, 256);
}

TEST(requests)
{
	struct sessproto_msg m;
	char err[256];

	CHECK_INT(decode("{\"type\":\"input\",\"text\":\"1+1\\n\"}", SESSPROTO_TO_SESSION, &m, err),
		  0);
	CHECK_INT(m.type, SP_INPUT);
	CHECK_STR(m.text, "1+1\n");
	CHECK_INT(m.text_len, 4);
	sessproto_msg_free(&m);

	CHECK_INT(decode("{\"type\":\"suspend\",\"force\":true}", SESSPROTO_TO_SESSION, &m, err),
		  0);
	CHECK(m.force);
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"suspend\"}", SESSPROTO_TO_SESSION, &m, err), 0);
	CHECK(!m.force);
	sessproto_msg_free(&m);

	CHECK_INT(decode("{\"type\":\"quit\"}", SESSPROTO_TO_SESSION, &m, err), 0);
	CHECK_STR(m.save, "default");
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"quit\",\"save\":\"no\"}", SESSPROTO_TO_SESSION, &m, err), 0);
	CHECK_STR(m.save, "no");
	sessproto_msg_free(&m);
}

TEST(strict)
{
	static const struct {
		const char *json;
		enum sessproto_dir dir;
		const char *err;
	} bad[] = {
		{"{\"type\":\"launch\"}", SESSPROTO_TO_SESSION, "unknown message type 'launch'"},
		{"{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"x\"}", SESSPROTO_TO_SESSION,
		 "unknown message type 'output'"},
		{"{\"type\":\"input\"}", SESSPROTO_TO_SESSION, "'input' message lacks field 'text'"},
		{"{\"type\":\"input\",\"text\":5}", SESSPROTO_TO_SESSION,
		 "'input' field 'text' must be a string"},
		{"{\"type\":\"input\",\"text\":\"x\",\"extra\":1}", SESSPROTO_TO_SESSION,
		 "'input' message has no field 'extra'"},
		{"{\"type\":\"input\",\"text\":\"a\",\"text\":\"b\"}", SESSPROTO_TO_SESSION,
		 "malformed JSON"},
		{"{\"type\":\"input\",\"text\":\"a\\u0000b\"}", SESSPROTO_TO_SESSION, "malformed JSON"},
		{"{\"type\":\"suspend\",\"force\":1}", SESSPROTO_TO_SESSION,
		 "'suspend' field 'force' must be a boolean"},
		{"{\"type\":\"quit\",\"save\":\"maybe\"}", SESSPROTO_TO_SESSION,
		 "'quit' field 'save' must be default, yes or no"},
		{"[1,2]", SESSPROTO_TO_SESSION, "message is not a JSON object"},
		{"{\"text\":\"x\"}", SESSPROTO_TO_SESSION, "message has no string 'type'"},
		{"{\"type\":", SESSPROTO_TO_SESSION, "malformed JSON"},
		{"{\"type\":\"state\"}", SESSPROTO_TO_CLIENT, "'state' message lacks field 'state'"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sessproto_msg m;
		char err[256] = "";
		CHECK_INT(decode(bad[i].json, bad[i].dir, &m, err), -EBADMSG);
		CHECK_CONTAINS(err, bad[i].err);
	}
}

TEST(replies)
{
	struct sessproto_msg m;
	char err[256];

	CHECK_INT(decode("{\"type\":\"output\",\"stream\":\"stderr\",\"text\":\"e\"}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	CHECK_INT(m.type, SP_OUTPUT);
	CHECK_STR(m.text, "e");
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"status\",\"busy\":false,\"prompt\":\"> \",\"prompt_kind\":"
			 "\"toplevel\",\"last_input\":\"2026-01-01T00:00:00Z\",\"pid\":1,"
			 "\"r_version\":\"4.2.2\",\"rss_bytes\":5,\"session_id\":\"a\","
			 "\"clients\":1}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	CHECK_INT(m.type, SP_STATUS_REPLY);
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"status\"}", SESSPROTO_TO_SESSION, &m, err), 0);
	CHECK_INT(m.type, SP_STATUS);
	sessproto_msg_free(&m);
}

TEST(frames)
{
	json_t *o = json_pack("{s:s, s:s}", "type", "input", "text", "1+1\n");
	struct frame_reader rd;
	const char *json;
	char *buf;
	size_t len, jlen;

	CHECK_INT(sessproto_encode(o, &buf, &len), 0);
	json_decref(o);
	CHECK_INT(buf[4], 0);
	CHECK_INT(buf[5], SESSPROTO_VERSION);
	frame_reader_init(&rd);
	/* Byte by byte: a frame is returned only when complete. */
	for (size_t i = 0; i < len - 1; i++) {
		CHECK_INT(frame_reader_push(&rd, buf + i, 1), 0);
		CHECK_INT(frame_reader_next(&rd, &json, &jlen), 0);
	}
	CHECK_INT(frame_reader_push(&rd, buf + len - 1, 1), 0);
	/* Two frames back to back. */
	CHECK_INT(frame_reader_push(&rd, buf, len), 0);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), 1);
	CHECK_INT(jlen, len - SESSPROTO_HEADER);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), 1);
	CHECK(memcmp(json, "{\"type\":\"input\"", 15) == 0);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), 0);
	frame_reader_free(&rd);

	/* Read straight into the reader (space, then commit), in pieces of
	 * 5 bytes, two frames: the same frames come out. */
	frame_reader_init(&rd);
	for (size_t off = 0; off < 2 * len; off += 5) {
		char *p;
		size_t n, take = 2 * len - off < 5 ? 2 * len - off : 5;
		CHECK_INT(frame_reader_space(&rd, 5, &p, &n), 0);
		CHECK(n == 5);
		for (size_t i = 0; i < take; i++)
			p[i] = buf[(off + i) % len];
		frame_reader_commit(&rd, take);
	}
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), 1);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), 1);
	CHECK(jlen == len - SESSPROTO_HEADER && memcmp(json, buf + SESSPROTO_HEADER, jlen) == 0);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), 0);
	frame_reader_free(&rd);
	/* The space offered stops at two frames' worth of unread bytes. */
	frame_reader_init_for(&rd, 1, 16);
	{
		char *p;
		size_t n;
		CHECK_INT(frame_reader_space(&rd, 1000, &p, &n), 0);
		CHECK_INT(n, 40);
		frame_reader_commit(&rd, n);
		CHECK_INT(frame_reader_space(&rd, 1, &p, &n), -EMSGSIZE);
		/* Pending bytes keep the buffer; once read, it can go. */
		frame_reader_trim(&rd, 0);
		CHECK(rd.buf != NULL);
		rd.consumed = rd.len;
		frame_reader_trim(&rd, 1024); /* cap 256: kept */
		CHECK(rd.buf != NULL);
		frame_reader_trim(&rd, 0);
		CHECK(rd.buf == NULL && rd.cap == 0 && rd.len == 0);
		CHECK_INT(frame_reader_space(&rd, 8, &p, &n), 0);
		CHECK_INT(n, 8);
	}
	frame_reader_free(&rd);

	/* A wrong version and an oversized length fail before the body. */
	frame_reader_init(&rd);
	buf[5] = 2;
	frame_reader_push(&rd, buf, 6);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), -EPROTO);
	frame_reader_free(&rd);
	frame_reader_init(&rd);
	frame_reader_push(&rd, "\x7f\xff\xff\xff", 4);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), -EMSGSIZE);
	frame_reader_free(&rd);
	frame_reader_init(&rd);
	frame_reader_push(&rd, "\x00\x00\x00\x01", 4);
	CHECK_INT(frame_reader_next(&rd, &json, &jlen), -EPROTO);
	frame_reader_free(&rd);
	free(buf);

	/* Encoding refuses what the peer would refuse. */
	char *big = malloc(SESSPROTO_MAX_FRAME + 1);
	memset(big, 'a', SESSPROTO_MAX_FRAME);
	big[SESSPROTO_MAX_FRAME] = '\0';
	o = json_pack("{s:s, s:s}", "type", "input", "text", big);
	CHECK_INT(sessproto_encode(o, &buf, &len), -EMSGSIZE);
	json_decref(o);
	free(big);
}

TEST(plots)
{
	struct sessproto_msg m;
	char err[256];

	/* The browser's plot area, an integer or a fractional dpr. */
	CHECK_INT(decode("{\"type\":\"plot-size\",\"width\":640,\"height\":480,\"dpr\":1}",
			 SESSPROTO_TO_SESSION, &m, err),
		  0);
	CHECK_INT(m.type, SP_PLOT_SIZE);
	CHECK_INT(m.width, 640);
	CHECK_INT(m.height, 480);
	CHECK(m.dpr == 1.0);
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"plot-size\",\"width\":300,\"height\":200,\"dpr\":1.5}",
			 SESSPROTO_TO_SESSION, &m, err),
		  0);
	CHECK(m.dpr == 1.5);
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"plot-export\",\"id\":\"e-1_x\",\"width\":1600,"
			 "\"height\":1200,\"dpr\":2}",
			 SESSPROTO_TO_SESSION, &m, err),
		  0);
	CHECK_INT(m.type, SP_PLOT_EXPORT_REQ);
	CHECK_STR(m.id, "e-1_x");
	CHECK_INT(m.width, 1600);
	sessproto_msg_free(&m);

	/* What rsession sends. */
	CHECK_INT(decode("{\"type\":\"plot\",\"png\":\"iVBORw0KGgo=\",\"width\":640,"
			 "\"height\":480,\"dpr\":1.0,\"seq\":3,\"page\":2}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	CHECK_INT(m.type, SP_PLOT);
	CHECK_INT(m.width, 640);
	sessproto_msg_free(&m);
	/* The device was closed: no image. */
	CHECK_INT(decode("{\"type\":\"plot\",\"png\":\"\",\"width\":0,\"height\":0,"
			 "\"dpr\":1,\"seq\":4,\"page\":2}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"plot-export\",\"id\":\"a\",\"png\":\"AAAA\",\"width\":"
			 "1,\"height\":1}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	CHECK_INT(m.type, SP_PLOT_EXPORT);
	CHECK_STR(m.id, "a");
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"plot-export\",\"id\":\"a\",\"error\":\"no plot\"}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	sessproto_msg_free(&m);
	CHECK_INT(decode("{\"type\":\"help\",\"title\":\"R Help on mean\",\"text\":\"x\"}",
			 SESSPROTO_TO_CLIENT, &m, err),
		  0);
	CHECK_INT(m.type, SP_HELP);
	CHECK_STR(m.text, "x");
	sessproto_msg_free(&m);

	static const struct {
		const char *json;
		enum sessproto_dir dir;
		const char *err;
	} bad[] = {
		{"{\"type\":\"plot-size\",\"width\":640,\"height\":480}", SESSPROTO_TO_SESSION,
		 "lacks field 'dpr'"},
		{"{\"type\":\"plot-size\",\"width\":640.5,\"height\":480,\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "'width' must be an integer"},
		{"{\"type\":\"plot-size\",\"width\":640,\"height\":480,\"dpr\":\"1\"}",
		 SESSPROTO_TO_SESSION, "'dpr' must be a number"},
		{"{\"type\":\"plot-size\",\"width\":0,\"height\":480,\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "width and height must be"},
		{"{\"type\":\"plot-size\",\"width\":640,\"height\":99999,\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "width and height must be"},
		{"{\"type\":\"plot-size\",\"width\":640,\"height\":480,\"dpr\":0}",
		 SESSPROTO_TO_SESSION, "dpr must be"},
		{"{\"type\":\"plot-size\",\"width\":640,\"height\":480,\"dpr\":1e300}",
		 SESSPROTO_TO_SESSION, "dpr must be"},
		{"{\"type\":\"plot-size\",\"width\":8000,\"height\":8000,\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "pixels"},
		{"{\"type\":\"plot-size\",\"width\":3000,\"height\":300,\"dpr\":4}",
		 SESSPROTO_TO_SESSION, "pixels"},
		{"{\"type\":\"plot-size\",\"width\":640,\"height\":480,\"dpr\":1,\"x\":1}",
		 SESSPROTO_TO_SESSION, "has no field 'x'"},
		{"{\"type\":\"plot-export\",\"id\":\"a b\",\"width\":640,\"height\":480,"
		 "\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "id must be"},
		{"{\"type\":\"plot-export\",\"id\":\"\",\"width\":640,\"height\":480,"
		 "\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "id must be"},
		{"{\"type\":\"plot-export\",\"width\":640,\"height\":480,\"dpr\":1}",
		 SESSPROTO_TO_SESSION, "lacks field 'id'"},
		{"{\"type\":\"plot\",\"width\":640,\"height\":480,\"dpr\":1,\"seq\":1,"
		 "\"page\":1}",
		 SESSPROTO_TO_SESSION, "unknown message type 'plot'"},
		{"{\"type\":\"plot\",\"png\":\"a\\\"b\",\"width\":1,\"height\":1,\"dpr\":1,"
		 "\"seq\":1,\"page\":1}",
		 SESSPROTO_TO_CLIENT, "png is not base64"},
		{"{\"type\":\"plot\",\"png\":\"AA=A\",\"width\":1,\"height\":1,\"dpr\":1,"
		 "\"seq\":1,\"page\":1}",
		 SESSPROTO_TO_CLIENT, "png is not base64"},
		{"{\"type\":\"plot\",\"png\":\"\",\"width\":-1,\"height\":1,\"dpr\":1,"
		 "\"seq\":1,\"page\":1}",
		 SESSPROTO_TO_CLIENT, "out of range"},
		{"{\"type\":\"plot\",\"png\":\"\",\"width\":1,\"height\":1,\"dpr\":1,"
		 "\"seq\":1}",
		 SESSPROTO_TO_CLIENT, "lacks field 'page'"},
		{"{\"type\":\"plot-export\",\"id\":\"a\"}", SESSPROTO_TO_CLIENT,
		 "either png, width and height, or an error"},
		{"{\"type\":\"plot-export\",\"id\":\"a\",\"png\":\"AAAA\",\"width\":1,"
		 "\"height\":1,\"error\":\"x\"}",
		 SESSPROTO_TO_CLIENT, "either png, width and height, or an error"},
		{"{\"type\":\"plot-export\",\"id\":\"a\",\"png\":\"AAAA\"}", SESSPROTO_TO_CLIENT,
		 "either png, width and height, or an error"},
		{"{\"type\":\"help\",\"title\":\"t\"}", SESSPROTO_TO_CLIENT,
		 "'help' message lacks field 'text'"},
		{"{\"type\":\"help\",\"title\":\"t\",\"text\":\"x\"}", SESSPROTO_TO_SESSION,
		 "unknown message type 'help'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char e[256] = "";
		CHECK_INT(decode(bad[i].json, bad[i].dir, &m, e), -EBADMSG);
		CHECK_CONTAINS(e, bad[i].err);
	}
}

TEST(base64)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
	         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
	         {"foobar", "Zm9vYmFy"}, {"\xff\xfe\x00", "//4A"}};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t inlen = i == 7 ? 3 : strlen(v[i].in), n = 99;
		char *b = sessproto_base64((const unsigned char *)v[i].in, inlen, &n);
		CHECK(b != NULL);
		if (!b)
			continue;
		CHECK_STR(b, v[i].out);
		CHECK_INT(n, strlen(v[i].out));
		CHECK(sessproto_base64_valid(b, n));
		free(b);
	}
	CHECK(!sessproto_base64_valid("Zg=", 3));
	CHECK(!sessproto_base64_valid("Z===", 4));
	CHECK(!sessproto_base64_valid("Zm 9", 4));
	CHECK(!sessproto_base64_valid("=Zm9", 4));
}

TEST(utf8)
{
	char out[64];
	size_t n, pending;

	n = utf8_sanitize("h\xc3\xa9llo", 6, out, &pending);
	CHECK(n == 6 && memcmp(out, "h\xc3\xa9llo", 6) == 0 && pending == 0);
	/* Invalid bytes become U+FFFD. */
	n = utf8_sanitize("a\xffz", 3, out, &pending);
	CHECK(n == 5 && memcmp(out, "a\xef\xbf\xbdz", 5) == 0);
	/* Overlong, surrogate, NUL. */
	n = utf8_sanitize("\xc0\xaf", 2, out, &pending);
	CHECK(n == 6 && pending == 0);
	n = utf8_sanitize("\xed\xa0\x80", 3, out, &pending);
	CHECK(n == 9);
	n = utf8_sanitize("a\0b", 3, out, &pending);
	CHECK(n == 5 && memcmp(out, "a\xef\xbf\xbd" "b", 5) == 0);
	/* A character cut at the end is held back, not replaced. */
	n = utf8_sanitize("ab\xe2\x82", 4, out, &pending);
	CHECK(n == 2 && pending == 2);
}

/* The fast path for output agrees with the decoder on every case here. */
static bool output_agrees(const char *json, bool want_fast)
{
	struct sessproto_msg m;
	char err[256];
	bool fast = sessproto_is_output(json, strlen(json));
	int r = sessproto_decode(json, strlen(json), SESSPROTO_TO_CLIENT, &m, err, sizeof(err));

	if (r == 0)
		sessproto_msg_free(&m);
	if (fast && r < 0)
		return false;
	return fast == want_fast;
}

TEST(output_fast)
{
	/* rsession's own form */
	CHECK(output_agrees("{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"[1] 2\\n\"}",
	                    true));
	CHECK(output_agrees("{\"type\":\"output\",\"stream\":\"stderr\",\"text\":\"\"}", true));
	CHECK(
	    output_agrees("{\"type\":\"output\",\"stream\":\"stdout\",\"text\":"
	                  "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\\" \\\\ \\/ \\b\\f\\r\\t\"}",
	                  true));
	CHECK(output_agrees(
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\u00e9\\ud83d\\ude00\x7f\"}",
	    true));
	/* other forms go to the decoder, which may accept them */
	CHECK(output_agrees("{\"type\": \"output\", \"stream\": \"stdout\", \"text\": \"x\"}",
	                    false));
	CHECK(output_agrees("{\"type\":\"output\",\"text\":\"x\",\"stream\":\"stdout\"}", false));
	CHECK(output_agrees("{\"type\":\"output\",\"stream\":\"stdtty\",\"text\":\"x\"}", false));
	/* and what the decoder refuses, the fast path refuses */
	static const char *bad[] = {
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"x\"",          /* no brace */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"x\"} ",        /* trailing */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"x\",\"a\":1}", /* extra */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\x01\"}",      /* control */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\u0000\"}",   /* NUL */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\ud800\"}",   /* lone high */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\udc00\"}",   /* lone low */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\ud800\\u0041\"}",
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\x\"}", /* escape */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\\u12g4\"}",
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\xc0\xaf\"}",     /* overlong */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\xed\xa0\x80\"}", /* surrogate */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\xf4\x90\x80\x80\"}",
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\xe2\x82\"}", /* cut */
	    "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"\xff\"}",
	};
	/* A bad byte anywhere in a long run of ASCII (checked a word at a
	 * time) is found. */
	for (size_t at = 0; at < 40; at++) {
		static const char bytes[] = {'\x01', '\x1f', '"', '\xff', '\x80'};
		for (size_t k = 0; k < sizeof(bytes); k++) {
			char msg[128];
			int n =
			    snprintf(msg, sizeof(msg),
			             "{\"type\":\"output\",\"stream\":\"stdout\",\"text\":\"%s\"}",
			             "abcdefghijklmnopqrstuvwxyz0123456789ABCD");
			msg[n - 42 + at] = bytes[k];
			CHECK(output_agrees(msg, false));
		}
	}
	CHECK(output_agrees("{\"type\":\"output\",\"stream\":\"stdout\",\"text\":"
	                    "\"abcdefghijklmnopqrstuvwxyz0123456789ABCD~ \"}",
	                    true));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!output_agrees(bad[i], false))
			fprintf(stderr, "case %zu: %s\n", i, bad[i]);
		CHECK(output_agrees(bad[i], false));
	}
}

int main(void)
{
	RUN(requests);
	RUN(strict);
	RUN(replies);
	RUN(frames);
	RUN(plots);
	RUN(base64);
	RUN(utf8);
	RUN(output_fast);
	return test_summary();
}
