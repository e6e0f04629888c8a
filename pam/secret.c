/*
 * Secrets in locked, wiped memory; see secret.h.
 *
 * The bytes live in their own page-aligned buffer whose size is a whole
 * number of pages, so that mlock/munlock and madvise cover exactly that
 * buffer and nothing the allocator hands out to anyone else. The buffer is
 * also kept out of core dumps (MADV_DONTDUMP), as libsodium's
 * sodium_mlock() does; both are undone before free() so that the pages,
 * once reused for ordinary data, behave normally again.
 */
#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

int secret_new(const char *src, size_t len, struct secret **ret)
{
	struct secret *s;
	int r;

	if (!ret || (!src && len > 0))
		return -EINVAL;
	r = secret_alloc(len, &s);
	if (r < 0)
		return r;
	if (len > 0)
		memcpy(s->data, src, len);
	*ret = s;
	return 0;
}

int secret_alloc(size_t len, struct secret **ret)
{
	size_t ps = page_size(), size;
	struct secret *s;
	void *data = NULL;

	if (!ret)
		return -EINVAL;
	/* len + 1 for the NUL, rounded up to whole pages, without overflow. */
	if (len > SIZE_MAX - ps)
		return -ENOMEM;
	size = (len + 1 + ps - 1) / ps * ps;

	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (posix_memalign(&data, ps, size) != 0) {
		free(s);
		return -ENOMEM;
	}
	/*
	 * Lock before copying so the secret never sits in swappable memory.
	 * Failure (RLIMIT_MEMLOCK for an unprivileged caller) is not fatal:
	 * the secret is still wiped on free. The same goes for DONTDUMP,
	 * which only fails on kernels without it.
	 */
	(void)mlock(data, size);
	(void)madvise(data, size, MADV_DONTDUMP);
	memset(data, 0, size);

	s->data = data;
	s->len = len;
	s->size = size;
	*ret = s;
	return 0;
}

void secret_free(struct secret *s)
{
	if (!s)
		return;
	if (s->data) {
		/* Wipe while still locked, then hand the pages back as normal. */
		explicit_bzero(s->data, s->size);
		(void)munlock(s->data, s->size);
		(void)madvise(s->data, s->size, MADV_DODUMP);
		free(s->data);
	}
	explicit_bzero(s, sizeof(*s));
	free(s);
}
