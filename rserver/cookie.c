/*
 * Sign-in cookies; see cookie.h for the formats.
 *
 * Everything that reads attacker-supplied text (cookie_verify(),
 * cookie_header_get()) is a strict, allocation-free scanner over a bounded
 * string: it decides what the text is before any secret is touched, and
 * every accepted input has exactly one spelling.
 */
#include "cookie.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define ERR(...)                                                                                   \
	do {                                                                                       \
		if (err && errsize)                                                                \
			snprintf(err, errsize, __VA_ARGS__);                                       \
	} while (0)

#define MAC_SIZE          32 /* HMAC-SHA256 */
#define MAC_B64_LEN       43 /* base64url of 32 bytes, unpadded */
#define USER_B64_MAX      342
#define EXPIRES_DIGITS    19 /* INT64_MAX has 19 digits */
#define CSRF_BYTES        32
#define KEY_LOAD_ATTEMPTS 3

/* ---- base64url (RFC 4648 section 5), unpadded ---- */

static const char b64u_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64u_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Writes b64u_len(n) characters and a NUL. */
static void b64u_encode(const unsigned char *in, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			*out++ = b64u_chars[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		*out++ = b64u_chars[(acc << (6 - bits)) & 63];
	*out = '\0';
}

static int b64u_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decodes exactly n characters. Strict: no padding, no other characters, no
 * length that leaves a lone character (n % 4 == 1), and the unused low bits
 * of the last character must be zero. Without that last rule "QQ" and "QR"
 * would both decode to "A", and a changed character would slip past the MAC.
 */
static int b64u_decode(const char *in, size_t n, unsigned char *out, size_t outsize,
                       size_t *ret_len)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > outsize)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int v = b64u_value((unsigned char)in[i]);
		if (v < 0)
			return -EBADMSG;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -EBADMSG;
	*ret_len = o;
	return 0;
}

/* ---- character classes ---- */

/*
 * The rule of conf_name_valid() (common/conf.c), restated here over explicit
 * ASCII ranges: isalnum() follows the locale, and what a cookie accepts must
 * not. A name is 1..256 bytes of letters, digits, '_', '.', '-', not starting
 * with '-' or '$', with an optional trailing '$' (Samba machine accounts).
 */
static bool user_valid(const char *s, size_t n)
{
	if (n == 0 || n > COOKIE_USER_MAX || s[0] == '-' || s[0] == '$')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

/* RFC 7230 tchar: what a cookie name may hold. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool token_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* RFC 6265 cookie-octet: US-ASCII except CTLs, whitespace, DQUOTE, comma,
 * semicolon and backslash. */
static bool is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
	       (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- the key ---- */

static bool key_valid(const struct cookie_key *k)
{
	return k && k->len >= COOKIE_KEY_MIN && k->len <= COOKIE_KEY_MAX;
}

void cookie_key_clear(struct cookie_key *k)
{
	if (k)
		explicit_bzero(k, sizeof(*k));
}

/* Reads and checks an existing key file; -ENOENT (without a message) when
 * there is none yet. */
static int key_read(const char *path, struct cookie_key *ret, char *err, size_t errsize)
{
	struct cookie_key k = {0};
	struct stat st;
	int fd, r;

	/* O_NOFOLLOW: a symbolic link could point the server at any file it
	 * can read. O_NONBLOCK: opening a FIFO must not hang startup; fstat
	 * refuses it right after. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			ERR("'%s' is a symbolic link; the cookie key must be a regular file", path);
		else if (r != -ENOENT)
			ERR("Failed to open '%s': %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		ERR("Failed to stat '%s': %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ERR("'%s' is not a regular file; the cookie key must be one", path);
		r = -EINVAL;
		goto out;
	}
	if (st.st_uid != geteuid()) {
		ERR("'%s' is owned by uid %u; the cookie key must be owned by uid %u, which "
		    "rserver runs as",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
		r = -EPERM;
		goto out;
	}
	/* Any bit for group or others is refused, as OpenSSH does for private
	 * keys: whoever reads the key can sign in as anyone. */
	if (st.st_mode & 077) {
		ERR("'%s' has mode %04o: the cookie key must not be accessible to group or "
		    "others (chmod 600)",
		    path, (unsigned)(st.st_mode & 07777));
		r = -EPERM;
		goto out;
	}
	while (k.len < COOKIE_KEY_MAX) {
		ssize_t n = read(fd, k.data + k.len, COOKIE_KEY_MAX - k.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			ERR("Failed to read '%s': %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		k.len += (size_t)n;
	}
	if (k.len < COOKIE_KEY_MIN) {
		ERR("'%s' holds %zu bytes; the cookie key needs at least %d", path, k.len,
		    COOKIE_KEY_MIN);
		r = -EINVAL;
		goto out;
	}
	*ret = k;
	r = 0;
out:
	cookie_key_clear(&k);
	close(fd);
	return r;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Creates the key file atomically: the key is written and fsynced under a
 * temporary name, then link() gives it the real name. link() never replaces
 * an existing file, so when two processes race exactly one wins; the loser
 * (EEXIST) returns 0 too, and both go on to read the winner's file. Nobody
 * ever sees a partly written key.
 */
static int key_create(const char *path, char *err, size_t errsize)
{
	unsigned char key[COOKIE_KEY_MIN], rnd[8];
	char tmp[PATH_MAX];
	bool created = false;
	int fd, r, n;

	if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		ERR("Failed to create '%s': the random generator failed", path);
		r = -EIO;
		goto out;
	}
	n = snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, rnd[0],
	             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		ERR("Failed to create '%s': path too long", path);
		r = -ENAMETOOLONG;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		ERR("Failed to create '%s': %s", tmp, strerror(-r));
		goto out;
	}
	created = true;
	/* The umask may have taken bits away from 0600 (0400 would do, 0200
	 * would leave the key unreadable); say exactly what we mean. */
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, key, sizeof(key));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	/* close() can report a delayed write error on some file systems. */
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	if (r < 0) {
		ERR("Failed to write '%s': %s", tmp, strerror(-r));
		goto out;
	}
	if (link(tmp, path) < 0) {
		r = -errno;
		if (r == -EEXIST) {
			r = 0; /* another process was first; use its key */
			goto out;
		}
		ERR("Failed to create '%s': %s", path, strerror(-r));
		goto out;
	}
	/* The new directory entry must be durable: a key lost in a crash would
	 * sign everyone out at the next start, or worse, be replaced while
	 * cookies signed with it still circulate on other servers sharing the
	 * file. */
	r = fs_fsync_parent(path);
	if (r < 0)
		ERR("Failed to sync the directory of '%s': %s", path, strerror(-r));
out:
	/* The temporary name goes in every case once the file exists. If this
	 * unlink fails after a link, the leftover is a second 0600 copy of the
	 * same key owned by the same user: untidy, not a leak. */
	if (created)
		(void)unlink(tmp);
	explicit_bzero(key, sizeof(key));
	return r;
}

int cookie_key_load(const char *path, struct cookie_key *ret, char *err, size_t errsize)
{
	int r = -EINVAL;

	if (!path || !*path || !ret) {
		ERR("No cookie key file given");
		return -EINVAL;
	}
	/* Missing: create, then read what is there, whoever wrote it. The loop
	 * only repeats if the file vanishes between the two steps. */
	for (int i = 0; i < KEY_LOAD_ATTEMPTS; i++) {
		r = key_read(path, ret, err, errsize);
		if (r != -ENOENT)
			return r;
		r = key_create(path, err, errsize);
		if (r < 0)
			return r;
	}
	ERR("'%s' disappeared each time right after it was created", path);
	return -ENOENT;
}

/* ---- the signed user-id value ---- */

static int compute_mac(const struct cookie_key *k, const char *user, size_t ulen, int64_t expires,
                       bool persistent, unsigned char mac[static MAC_SIZE])
{
	/* "v1|" user "|" expires "|" flag: user names hold no '|', so the
	 * fields cannot slide into one another. */
	char msg[3 + COOKIE_USER_MAX + 1 + EXPIRES_DIGITS + 1 + 1 + 1];
	unsigned int maclen = 0;
	int n;

	n = snprintf(msg, sizeof(msg), "v1|%.*s|%" PRId64 "|%c", (int)ulen, user, expires,
	             persistent ? '1' : '0');
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EINVAL;
	if (!HMAC(EVP_sha256(), k->data, (int)k->len, (const unsigned char *)msg, (size_t)n, mac,
	          &maclen) ||
	    maclen != MAC_SIZE)
		return -EIO;
	return 0;
}

int cookie_sign(const struct cookie_key *k, const char *user, int64_t expires_unix_s,
                bool persistent, char *out, size_t outsize)
{
	char buf[COOKIE_VALUE_SIZE];
	unsigned char mac[MAC_SIZE];
	size_t ulen, pos;
	int r, n;

	if (!key_valid(k) || !user || !out || expires_unix_s <= 0)
		return -EINVAL;
	ulen = strnlen(user, COOKIE_USER_MAX + 1);
	if (!user_valid(user, ulen))
		return -EINVAL;
	r = compute_mac(k, user, ulen, expires_unix_s, persistent, mac);
	if (r < 0)
		goto out;

	b64u_encode((const unsigned char *)user, ulen, buf);
	pos = b64u_len(ulen);
	n = snprintf(buf + pos, sizeof(buf) - pos, ".%" PRId64 ".%c.", expires_unix_s,
	             persistent ? '1' : '0');
	if (n < 0 || (size_t)n >= sizeof(buf) - pos) {
		r = -EINVAL;
		goto out;
	}
	pos += (size_t)n;
	b64u_encode(mac, sizeof(mac), buf + pos);
	pos += MAC_B64_LEN;
	if (pos + 1 > outsize) {
		r = -E2BIG;
		goto out;
	}
	memcpy(out, buf, pos + 1);
	r = 0;
out:
	explicit_bzero(mac, sizeof(mac));
	return r;
}

/* Unix seconds as signed: 1..19 digits, the first not '0', <= INT64_MAX.
 * No sign, no space, no leading zero: one spelling per number. */
static int parse_expires(const char *s, size_t n, int64_t *ret)
{
	int64_t v = 0;

	if (n == 0 || n > EXPIRES_DIGITS || s[0] < '1' || s[0] > '9')
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -EBADMSG;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int cookie_verify(const struct cookie_key *k, const char *value, int64_t now_unix_s, char *ret_user,
                  size_t usersize, int64_t *ret_expires, bool *ret_persistent)
{
	unsigned char user[COOKIE_USER_MAX], given[MAC_SIZE], want[MAC_SIZE];
	const char *f[4];
	size_t flen[4], len, ulen, maclen;
	int64_t expires;
	bool persistent;
	int r;

	if (!key_valid(k) || !ret_user)
		return -EINVAL;
	if (!value)
		return -EBADMSG;
	/* Bounded: a value longer than any we sign is refused unread. */
	len = strnlen(value, COOKIE_VALUE_SIZE);
	if (len >= COOKIE_VALUE_SIZE)
		return -EBADMSG;

	/* Exactly four fields. A '.' cannot hide inside one: it is neither
	 * base64url nor a digit. */
	f[0] = value;
	for (int i = 0; i < 3; i++) {
		const char *dot = memchr(f[i], '.', len - (size_t)(f[i] - value));
		if (!dot)
			return -EBADMSG;
		flen[i] = (size_t)(dot - f[i]);
		f[i + 1] = dot + 1;
	}
	flen[3] = len - (size_t)(f[3] - value);

	if (flen[0] > USER_B64_MAX || b64u_decode(f[0], flen[0], user, sizeof(user), &ulen) < 0 ||
	    !user_valid((const char *)user, ulen))
		return -EBADMSG;
	if (parse_expires(f[1], flen[1], &expires) < 0)
		return -EBADMSG;
	if (flen[2] != 1 || (f[2][0] != '0' && f[2][0] != '1'))
		return -EBADMSG;
	persistent = f[2][0] == '1';
	if (flen[3] != MAC_B64_LEN ||
	    b64u_decode(f[3], flen[3], given, sizeof(given), &maclen) < 0 || maclen != MAC_SIZE)
		return -EBADMSG;

	r = compute_mac(k, (const char *)user, ulen, expires, persistent, want);
	if (r < 0)
		goto out;
	if (CRYPTO_memcmp(want, given, MAC_SIZE) != 0) {
		r = -EKEYREJECTED;
		goto out;
	}
	/* Only now is the expiry the server's own word. */
	if (expires <= now_unix_s) {
		r = -EKEYEXPIRED;
		goto out;
	}
	if (ulen + 1 > usersize) {
		r = -E2BIG;
		goto out;
	}
	memcpy(ret_user, user, ulen);
	ret_user[ulen] = '\0';
	if (ret_expires)
		*ret_expires = expires;
	if (ret_persistent)
		*ret_persistent = persistent;
	r = 0;
out:
	explicit_bzero(want, sizeof(want));
	return r;
}

int cookie_token_hash(const char *value, char out_hex[static COOKIE_HASH_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!value)
		return -EINVAL;
	if (EVP_Digest(value, strlen(value), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	for (unsigned i = 0; i < mdlen; i++) {
		out_hex[2 * i] = hex[md[i] >> 4];
		out_hex[2 * i + 1] = hex[md[i] & 15];
	}
	out_hex[64] = '\0';
	return 0;
}

/* ---- CSRF tokens ---- */

int cookie_csrf_new(char *out, size_t outsize)
{
	unsigned char rnd[CSRF_BYTES];

	if (!out)
		return -EINVAL;
	if (outsize < COOKIE_CSRF_SIZE)
		return -E2BIG;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	b64u_encode(rnd, sizeof(rnd), out);
	explicit_bzero(rnd, sizeof(rnd));
	return 0;
}

bool cookie_csrf_equal(const char *a, const char *b)
{
	size_t n;

	if (!a || !b)
		return false;
	/* The length is no secret (every token is 43 characters); the
	 * contents are compared without an early exit. */
	n = strlen(a);
	if (n == 0 || n != strlen(b))
		return false;
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- Cookie and Set-Cookie headers ---- */

int cookie_header_get(const char *header, const char *name, char *out, size_t outsize)
{
	const char *found = NULL, *p;
	size_t nlen, flen = 0;

	if (!name || !token_valid(name) || !out)
		return -EINVAL;
	if (!header)
		return -ENOENT;
	/* CR, LF and the other controls have no business in a header that
	 * reached us; they suggest header injection or smuggling upstream. */
	for (p = header; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7F)
			return -EBADMSG;

	nlen = strlen(name);
	for (p = header; *p;) {
		const char *s = p, *e = strchr(p, ';'), *eq, *ne, *vs;

		if (!e)
			e = p + strlen(p);
		p = *e ? e + 1 : e;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		eq = memchr(s, '=', (size_t)(e - s));
		if (!eq)
			continue; /* empty item, or a nameless cookie */
		for (ne = eq; ne > s && is_ows(ne[-1]); ne--)
			;
		if ((size_t)(ne - s) != nlen || memcmp(s, name, nlen) != 0)
			continue;
		if (found)
			return -EBADMSG;
		for (vs = eq + 1; vs < e && is_ows(*vs); vs++)
			;
		found = vs;
		flen = (size_t)(e - vs);
	}
	if (!found)
		return -ENOENT;

	/* One pair of quotes around the whole value is grammar, not value. A
	 * lone quote fails the octet check below. */
	if (flen >= 2 && found[0] == '"' && found[flen - 1] == '"') {
		found++;
		flen -= 2;
	}
	for (size_t i = 0; i < flen; i++)
		if (!is_cookie_octet((unsigned char)found[i]))
			return -EBADMSG;
	if (flen + 1 > outsize)
		return -E2BIG;
	memcpy(out, found, flen);
	out[flen] = '\0';
	return 0;
}

int cookie_set_header(char *out, size_t outsize, const char *name, const char *value,
                      int64_t max_age_s, bool http_only, bool secure, const char *path)
{
	char age[32] = "";
	int n;

	if (!out || !name || !value || !path || !token_valid(name) || max_age_s < -1)
		return -EINVAL;
	for (const char *p = value; *p; p++)
		if (!is_cookie_octet((unsigned char)*p))
			return -EINVAL;
	/* RFC 6265 path-value: any CHAR except CTLs and ';'. Non-ASCII is not
	 * a CHAR either. */
	if (path[0] != '/')
		return -EINVAL;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F || *p == ';')
			return -EINVAL;
	if (max_age_s >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%" PRId64, max_age_s);

	/* Measure first so that a short buffer is left untouched. */
	n = snprintf(NULL, 0, "%s=%s; Path=%s%s%s; SameSite=Lax%s", name, value, path, age,
	             http_only ? "; HttpOnly" : "", secure ? "; Secure" : "");
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= outsize)
		return -E2BIG;
	snprintf(out, outsize, "%s=%s; Path=%s%s%s; SameSite=Lax%s", name, value, path, age,
	         http_only ? "; HttpOnly" : "", secure ? "; Secure" : "");
	return 0;
}
