/*
 * The sign-in passwords the monitor keeps for auth-pam-sessions-use-password,
 * so that a session started later from a cookie (no password typed) can
 * still give pam_krb5 or pam_mount the user's password.
 *
 * Each password is held encrypted (ChaCha20-Poly1305, the user name as
 * associated data) under a key drawn from the kernel when the cache is
 * made, so a per-process key: a stray read of the cache's memory shows
 * neither a password nor, from the ciphertext alone, anything to recover
 * one. Key and ciphertexts live in locked pages kept out of core dumps
 * (secret.h). Nothing is ever written to disk.
 *
 * A password may be used for lifetime_ms from the put (the sign-in), then
 * it is wiped; a later put (signing in again) restarts the clock, and
 * pwcache_forget (signing out) wipes it at once. The lifetime is passed to
 * every call rather than stored, so that a reload that shortens it applies
 * to the passwords already kept. Times are the caller's monotonic
 * milliseconds (the monitor uses CLOCK_BOOTTIME, which keeps counting
 * while the machine sleeps); the module never reads a clock, so the tests
 * need no sleeps.
 *
 * After expiry the user's name stays, without any secret, so that a
 * launch can say "expired" rather than "never signed in".
 */
#ifndef RSERVER_PWCACHE_H
#define RSERVER_PWCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"

struct pwcache;

/* A new, empty cache with a fresh random key. -ENOMEM, or -errno from
 * getrandom. */
int pwcache_new(struct pwcache **ret);

/* Wipes every password and the key. Accepts NULL. */
void pwcache_free(struct pwcache *c);

/* Keeps pw (copied, encrypted) for user from now_ms, replacing what was
 * kept for user. -EINVAL (bad arguments), -ENOMEM, -EIO (the cipher). */
int pwcache_put(struct pwcache *c, const char *user, const struct secret *pw, int64_t now_ms);

/*
 * A decrypted copy of user's password in *ret (free with secret_free).
 * -ENOENT: none kept (never signed in since the cache was made, or signed
 * out); -ETIME: the lifetime has passed (the password is wiped now if it
 * was not already); -EIO: it does not decrypt (never expected).
 */
int pwcache_get(struct pwcache *c, const char *user, int64_t now_ms, int64_t lifetime_ms,
                struct secret **ret);

/* Wipes and forgets user's password (and the record that it expired).
 * True if a password was kept. */
bool pwcache_forget(struct pwcache *c, const char *user);

/*
 * Wipes every password kept for lifetime_ms or longer, calling expired
 * (may be NULL) with each user's name. Returns how many were wiped.
 */
size_t pwcache_expire(struct pwcache *c, int64_t now_ms, int64_t lifetime_ms,
                      void (*expired)(const char *user, void *arg), void *arg);

/* Milliseconds until the next password expires (0 if one is due), or -1
 * when no password is kept. */
int64_t pwcache_next_expiry(const struct pwcache *c, int64_t now_ms, int64_t lifetime_ms);

/* Wipes every password and every expiry record; the key stays. Returns
 * how many passwords were wiped. */
size_t pwcache_clear(struct pwcache *c);

/* How many passwords are kept (expired ones not counted). */
size_t pwcache_count(const struct pwcache *c);

#endif
