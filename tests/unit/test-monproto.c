/*
 * Unit tests for the network <-> monitor protocol (common/monproto.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "monproto.h"
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
	/* Wrong version. */
	memset(buf, 0, sizeof(buf));
	buf[3] = 8;
	buf[5] = 2;
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
	CHECK_STR(mon_auth_result_name(MON_AUTH_RESULT_MAX), "?");
}

int main(void)
{
	RUN(requests);
	RUN(strict);
	RUN(framing);
	RUN(names);
	return test_summary();
}
