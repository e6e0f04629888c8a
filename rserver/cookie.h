/*
 * The sign-in cookies: the server's secret key, the signed "user-id" cookie,
 * CSRF tokens ("rs-csrf-token"), and the two header syntaxes, reading a
 * request's Cookie header and writing Set-Cookie.
 *
 * A user-id cookie value is one token made only of characters a cookie value
 * may hold unquoted:
 *
 *   base64url(user) "." expires "." flags "." base64url(mac)
 *   mac = HMAC-SHA256(key, "v1|" user "|" expires "|" flags)
 *
 * base64url without padding; expires is Unix seconds in decimal without sign
 * or leading zeros; flags is "1" for a persistent ("stay signed in") cookie
 * and "0" for a session one. The MAC covers the format version and every
 * field, so none can be changed, and the parser accepts exactly one spelling
 * of each field (canonical base64url, canonical decimal), so a signed cookie
 * has exactly one accepted form: cookie_sign() of what cookie_verify()
 * returns gives back the same string. Revocation can then key on a hash of
 * the whole value (cookie_token_hash()).
 *
 * All functions return 0 or a negative errno value, and leave their output
 * parameters untouched on failure. When a result does not fit the caller's
 * buffer the answer is -E2BIG.
 */
#ifndef RSERVER_COOKIE_H
#define RSERVER_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COOKIE_USER_ID  "user-id"
#define COOKIE_CSRF     "rs-csrf-token"
#define COOKIE_CSRF_HDR "X-RS-CSRF-Token"

#define COOKIE_KEY_MIN  32  /* bytes; a shorter key file is refused */
#define COOKIE_KEY_MAX  256 /* bytes read from the key file, at most */
#define COOKIE_USER_MAX 256 /* bytes in a user name */

/* Longest user-id value: base64url of 256 bytes (342), a 19-digit expiry,
 * one flag, a 43-character MAC and three dots is 408 characters. */
#define COOKIE_VALUE_SIZE 512
/* A CSRF token: 32 random bytes as 43 base64url characters, plus the NUL. */
#define COOKIE_CSRF_SIZE 44
/* cookie_token_hash(): 64 hex digits plus the NUL. */
#define COOKIE_HASH_SIZE 65

struct cookie_key {
	size_t len; /* COOKIE_KEY_MIN..COOKIE_KEY_MAX */
	unsigned char data[COOKIE_KEY_MAX];
};

/*
 * Loads the secret key from path (secure-cookie-key-file), creating it with
 * COOKIE_KEY_MIN random bytes, mode 0600, when it does not exist. Creation
 * writes and fsyncs a temporary file in the same directory and links it into
 * place, which never replaces an existing file: processes starting at once
 * all end up with the one key that won.
 *
 * An existing file must be a regular file (not a symbolic link), owned by the
 * effective user, without any permission bits for group or others, and at
 * least COOKIE_KEY_MIN bytes long; its first COOKIE_KEY_MAX bytes are the
 * key. Otherwise a message naming the path and the problem goes to err and
 * the result is -ELOOP (symbolic link), -EINVAL (not a regular file, too
 * short), -EPERM (mode or owner), or the errno of a failed system call.
 *
 * The caller wipes the key with cookie_key_clear() when done.
 */
int cookie_key_load(const char *path, struct cookie_key *ret, char *err, size_t errsize);

/* Wipes the key (explicit_bzero); accepts NULL. */
void cookie_key_clear(struct cookie_key *k);

/*
 * Writes a signed user-id value for user (1..COOKIE_USER_MAX bytes of what
 * conf_name_valid() accepts) expiring at expires_unix_s (> 0) into out.
 * -EINVAL for a bad user, expiry or key; -E2BIG if out is too small
 * (COOKIE_VALUE_SIZE always suffices); -EIO if the HMAC fails.
 */
int cookie_sign(const struct cookie_key *k, const char *user, int64_t expires_unix_s,
                bool persistent, char *out, size_t outsize);

/*
 * Checks a user-id value and returns its user, expiry and persistence.
 * -EBADMSG: not exactly the format above (any deviation: length, character,
 * sign or leading zero, extra field, non-canonical base64url, a user name
 * conf_name_valid() refuses); -EKEYREJECTED: the MAC does not match
 * (compared in constant time); -EKEYEXPIRED: a genuine cookie whose expiry
 * is at or before now_unix_s; -E2BIG: the user does not fit ret_user
 * (COOKIE_USER_MAX + 1 always suffices); -EINVAL: a bad key; -EIO: the HMAC
 * failed. The checks run in this order, so only a genuine cookie reports
 * -EKEYEXPIRED. ret_expires and ret_persistent may be NULL.
 */
int cookie_verify(const struct cookie_key *k, const char *value, int64_t now_unix_s, char *ret_user,
                  size_t usersize, int64_t *ret_expires, bool *ret_persistent);

/*
 * The SHA-256 of the whole value as 64 lowercase hex digits: the identity
 * under which a signed-out cookie is remembered as revoked (the server keeps
 * hashes, never cookies). -EIO if hashing fails, so that a caller checking
 * revocation fails closed instead of comparing garbage.
 */
int cookie_token_hash(const char *value, char out_hex[static COOKIE_HASH_SIZE]);

/* Writes a new CSRF token, 32 random bytes in base64url, into out.
 * -E2BIG if outsize < COOKIE_CSRF_SIZE; -EIO if the random generator fails. */
int cookie_csrf_new(char *out, size_t outsize);

/*
 * Compares two CSRF tokens (the cookie and the header or form field) in time
 * that depends on their length only. False when either is NULL or empty or
 * the lengths differ.
 */
bool cookie_csrf_equal(const char *a, const char *b);

/*
 * Finds the cookie called name (exact, case-sensitive) in a request's Cookie
 * header ("a=1; b=2"; RFC 6265 section 4.2.1) and copies its value to out.
 * Spaces and tabs around ";" and "=" are allowed, and empty items ("a=1;")
 * are skipped.
 *
 * The value of the cookie asked for must be RFC 6265 cookie-octets, either
 * bare or wrapped in one pair of double quotes, which are removed (as Go's
 * net/http does): the quotes are part of the grammar, not of the value. The
 * values of other cookies are not checked beyond the separators: other
 * applications on the same site set them, and their sloppiness must not sign
 * our users out. An item without "=" is a nameless cookie and never matches.
 *
 * -ENOENT: no such cookie; -E2BIG: the value does not fit out; -EBADMSG: a
 * control character in the header, a malformed value for name, or name
 * present twice (whoever can set a cookie for a parent domain must not be
 * able to shadow ours; refusing is the only safe choice since the header
 * does not say which is which); -EINVAL: name is not an RFC 7230 token.
 * A request with several Cookie headers is to be joined with "; " first
 * (RFC 9113 section 8.2.3), so that duplicates across them are seen.
 */
int cookie_header_get(const char *header, const char *name, char *out, size_t outsize);

/*
 * Writes a Set-Cookie header value into out:
 *   name=value; Path=path[; Max-Age=N][; HttpOnly]; SameSite=Lax[; Secure]
 * max_age_s: -1 for a session cookie (no Max-Age), 0 to delete the cookie,
 * otherwise seconds. name must be a token, value cookie-octets (may be
 * empty; never quoted), path must start with "/" and hold no control
 * character or ";". -EINVAL for anything else, -E2BIG if out is too small.
 */
int cookie_set_header(char *out, size_t outsize, const char *name, const char *value,
                      int64_t max_age_s, bool http_only, bool secure, const char *path);

#endif
