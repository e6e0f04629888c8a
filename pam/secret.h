/*
 * Secrets (passwords) in memory that is locked against swapping and wiped
 * before it is freed. A secret is never logged, printed or written.
 */
#ifndef RSERVER_SECRET_H
#define RSERVER_SECRET_H

#include <stddef.h>

struct secret {
	char *data; /* NUL-terminated; len bytes before the NUL */
	size_t len;
	size_t size; /* bytes allocated and locked */
};

/*
 * Copies len bytes of src into a new locked secret. -ENOMEM on failure;
 * a failed mlock (RLIMIT_MEMLOCK) is not fatal: the secret is still wiped.
 */
int secret_new(const char *src, size_t len, struct secret **ret);

/* A new locked secret of len zero bytes (and the NUL after them), for
 * callers that write the bytes themselves (a decryption). -ENOMEM. */
int secret_alloc(size_t len, struct secret **ret);

/* Wipes (explicit_bzero), unlocks and frees. Accepts NULL. */
void secret_free(struct secret *s);

#endif
