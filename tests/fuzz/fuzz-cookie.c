/*
 * libFuzzer target for the cookie code that reads attacker-supplied text:
 * cookie_verify() (the user-id value) and cookie_header_get() (the Cookie
 * header), with cookie_sign() and cookie_set_header() as round-trip oracles.
 * The input, up to its first NUL, is one C string used in every role.
 *
 * The seed corpus holds values signed with the fixed key below, so mutations
 * start from genuine cookies; whatever the fuzzer turns them into must be
 * refused unless it is, byte for byte, what cookie_sign() would write.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"

#define NOW    INT64_C(1700000000)
#define FUTURE INT64_C(4102444800)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Key bytes i * 7 + 1 for i = 0..31; the seeds in corpus/cookie use it. */
static void fuzz_key(struct cookie_key *k)
{
	memset(k, 0, sizeof(*k));
	k->len = 32;
	for (size_t i = 0; i < k->len; i++)
		k->data[i] = (unsigned char)(i * 7 + 1);
}

static bool all_cookie_octets(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!(c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
		      (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)))
			return false;
	}
	return true;
}

/* A value is accepted only in the one spelling cookie_sign() writes. */
static void check_value(const struct cookie_key *k, const char *s)
{
	char user[COOKIE_USER_MAX + 1] = "", again[COOKIE_VALUE_SIZE], hex[COOKIE_HASH_SIZE];
	int64_t exp = -1;
	bool pers = false;
	int r;

	r = cookie_verify(k, s, NOW, user, sizeof(user), &exp, &pers);
	if (r != 0 && r != -EBADMSG && r != -EKEYREJECTED && r != -EKEYEXPIRED)
		abort();
	if (r == 0) {
		if (exp <= NOW || cookie_sign(k, user, exp, pers, again, sizeof(again)) != 0 ||
		    strcmp(again, s) != 0)
			abort();
	} else if (user[0] != '\0' || exp != -1) {
		abort(); /* outputs written on failure */
	}
	if (cookie_token_hash(s, hex) != 0 || strlen(hex) != 64 ||
	    strspn(hex, "0123456789abcdef") != 64)
		abort();
	if (cookie_csrf_equal(s, s) != (s[0] != '\0'))
		abort();
}

static void check_header(const struct cookie_key *k, const char *s, const char *name)
{
	char out[COOKIE_VALUE_SIZE], small[8];
	int r, r2;

	r = cookie_header_get(s, name, out, sizeof(out));
	if (r != 0 && r != -ENOENT && r != -E2BIG && r != -EBADMSG)
		abort();
	/* A smaller buffer changes nothing but the fit. */
	r2 = cookie_header_get(s, name, small, sizeof(small));
	if (r2 != (r == 0 && strlen(out) >= sizeof(small) ? -E2BIG : r))
		abort();
	if (r2 == 0 && (r != 0 || strcmp(small, out) != 0))
		abort();
	if (r == 0) {
		if (!all_cookie_octets(out))
			abort();
		check_value(k, out);
	}
}

/* Whatever Set-Cookie accepts reads back through the Cookie parser, and
 * never carries a control character. */
static void check_set(const char *s)
{
	char hdr[COOKIE_VALUE_SIZE * 2], back[COOKIE_VALUE_SIZE * 2];
	int r = cookie_set_header(hdr, sizeof(hdr), COOKIE_USER_ID, s, 3600, true, true, "/");

	if (r == -EINVAL && all_cookie_octets(s))
		abort();
	if (r != 0)
		return;
	for (const char *p = hdr; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			abort();
	*strchr(hdr, ';') = '\0';
	if (cookie_header_get(hdr, COOKIE_USER_ID, back, sizeof(back)) != 0 || strcmp(back, s) != 0)
		abort();
}

/* The input as a user name: what signs must verify, and no one-byte change
 * of the result may verify. */
static void check_sign(const struct cookie_key *k, const char *s, size_t size)
{
	char v[COOKIE_VALUE_SIZE], user[COOKIE_USER_MAX + 1];
	size_t n, pos;

	if (cookie_sign(k, s, FUTURE, size & 1, v, sizeof(v)) != 0)
		return;
	if (cookie_verify(k, v, NOW, user, sizeof(user), NULL, NULL) != 0 || strcmp(user, s) != 0)
		abort();
	n = strlen(v);
	pos = size % n;
	v[pos] = (char)(v[pos] ^ (1 + size % 255));
	if (cookie_verify(k, v, NOW, user, sizeof(user), NULL, NULL) == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cookie_key k;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_key(&k);

	check_value(&k, s);
	check_header(&k, s, COOKIE_USER_ID);
	check_header(&k, s, "a");
	check_set(s);
	check_sign(&k, s, size);

	free(s);
	return 0;
}
