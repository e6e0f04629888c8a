/*
 * Encrypted, expiring sign-in passwords; see pwcache.h.
 *
 * One entry per user: a random 96-bit nonce and, in a locked secret, the
 * ciphertext followed by the 16-byte Poly1305 tag. A nonce is drawn for
 * every put, so a key never meets the same nonce twice in practice (2^-96
 * per pair). The user name is the associated data: a ciphertext moved to
 * another user's entry does not decrypt.
 */
#include "pwcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#define KEY_LEN   32
#define NONCE_LEN 12
#define TAG_LEN   16

struct entry {
	char *user;
	unsigned char nonce[NONCE_LEN];
	struct secret *sealed; /* ciphertext || tag; NULL once wiped */
	int64_t since;         /* the put, in the caller's milliseconds */
	bool expired;          /* wiped because its lifetime passed */
};

struct pwcache {
	struct secret *key;
	struct entry *e;
	size_t n, cap;
};

/* Fills buf from the kernel's CSPRNG, retrying short reads. */
static int random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pwcache_new(struct pwcache **ret)
{
	struct pwcache *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	r = secret_alloc(KEY_LEN, &c->key);
	if (r == 0)
		r = random_bytes(c->key->data, KEY_LEN);
	if (r < 0) {
		pwcache_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static void entry_wipe(struct entry *e)
{
	secret_free(e->sealed);
	e->sealed = NULL;
	explicit_bzero(e->nonce, sizeof(e->nonce));
}

static void entry_remove(struct pwcache *c, size_t i)
{
	entry_wipe(&c->e[i]);
	free(c->e[i].user);
	c->e[i] = c->e[--c->n];
	memset(&c->e[c->n], 0, sizeof(c->e[c->n]));
}

void pwcache_free(struct pwcache *c)
{
	if (!c)
		return;
	while (c->n)
		entry_remove(c, c->n - 1);
	free(c->e);
	secret_free(c->key);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static struct entry *find(const struct pwcache *c, const char *user, size_t *ret_i)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].user, user) == 0) {
			if (ret_i)
				*ret_i = i;
			return &c->e[i];
		}
	return NULL;
}

/*
 * One AEAD operation: in (len bytes) to out, the user name as associated
 * data. Sealing writes len bytes then the tag; opening reads the tag from
 * in + len and fails (-EIO) unless it verifies.
 */
static int aead(const struct pwcache *c, bool seal, const unsigned char *nonce, const char *user,
                const unsigned char *in, size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int outl = 0, r = -EIO;

	if (!x)
		return -ENOMEM;
	if (len > (size_t)INT32_MAX || strlen(user) > (size_t)INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(x, EVP_chacha20_poly1305(), NULL, NULL, NULL, seal) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(x, NULL, NULL, (const unsigned char *)c->key->data, nonce, seal) !=
	        1 ||
	    EVP_CipherUpdate(x, NULL, &outl, (const unsigned char *)user, (int)strlen(user)) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(x, out, &outl, in, (int)len) != 1)
		goto out;
	if (!seal &&
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(in + len)) != 1)
		goto out;
	if (EVP_CipherFinal_ex(x, out + len, &outl) != 1)
		goto out;
	if (seal && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + len) != 1)
		goto out;
	r = 0;
out:
	/* Frees and cleanses the key schedule. */
	EVP_CIPHER_CTX_free(x);
	return r;
}

int pwcache_put(struct pwcache *c, const char *user, const struct secret *pw, int64_t now_ms)
{
	struct secret *sealed = NULL;
	unsigned char nonce[NONCE_LEN];
	struct entry *e;
	int r;

	if (!c || !user || !*user || !pw || !pw->data || pw->len > SIZE_MAX - TAG_LEN)
		return -EINVAL;
	r = random_bytes(nonce, sizeof(nonce));
	if (r == 0)
		r = secret_alloc(pw->len + TAG_LEN, &sealed);
	if (r == 0)
		r = aead(c, true, nonce, user, (const unsigned char *)pw->data, pw->len,
		         (unsigned char *)sealed->data);
	if (r < 0)
		goto fail;
	e = find(c, user, NULL);
	if (!e) {
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 8;
			struct entry *ne = reallocarray(c->e, ncap, sizeof(*ne));
			if (!ne) {
				r = -ENOMEM;
				goto fail;
			}
			c->e = ne;
			c->cap = ncap;
		}
		e = &c->e[c->n];
		memset(e, 0, sizeof(*e));
		e->user = strdup(user);
		if (!e->user) {
			r = -ENOMEM;
			goto fail;
		}
		c->n++;
	}
	entry_wipe(e);
	memcpy(e->nonce, nonce, sizeof(nonce));
	e->sealed = sealed;
	e->since = now_ms;
	e->expired = false;
	explicit_bzero(nonce, sizeof(nonce));
	return 0;
fail:
	secret_free(sealed);
	explicit_bzero(nonce, sizeof(nonce));
	return r;
}

static bool due(const struct entry *e, int64_t now_ms, int64_t lifetime_ms)
{
	return e->sealed && now_ms - e->since >= lifetime_ms;
}

int pwcache_get(struct pwcache *c, const char *user, int64_t now_ms, int64_t lifetime_ms,
                struct secret **ret)
{
	struct secret *pw = NULL;
	struct entry *e;
	int r;

	if (!c || !user || !ret)
		return -EINVAL;
	e = find(c, user, NULL);
	if (!e)
		return -ENOENT;
	if (due(e, now_ms, lifetime_ms)) {
		entry_wipe(e);
		e->expired = true;
	}
	if (!e->sealed)
		return e->expired ? -ETIME : -ENOENT;
	r = secret_alloc(e->sealed->len - TAG_LEN, &pw);
	if (r < 0)
		return r;
	r = aead(c, false, e->nonce, user, (const unsigned char *)e->sealed->data,
	         e->sealed->len - TAG_LEN, (unsigned char *)pw->data);
	if (r < 0) {
		secret_free(pw);
		return r;
	}
	*ret = pw;
	return 0;
}

bool pwcache_forget(struct pwcache *c, const char *user)
{
	size_t i;
	bool had;

	if (!c || !user || !find(c, user, &i))
		return false;
	had = c->e[i].sealed != NULL;
	entry_remove(c, i);
	return had;
}

size_t pwcache_expire(struct pwcache *c, int64_t now_ms, int64_t lifetime_ms,
                      void (*expired)(const char *user, void *arg), void *arg)
{
	size_t n = 0;

	if (!c)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		struct entry *e = &c->e[i];
		if (!due(e, now_ms, lifetime_ms))
			continue;
		entry_wipe(e);
		e->expired = true;
		n++;
		if (expired)
			expired(e->user, arg);
	}
	return n;
}

int64_t pwcache_next_expiry(const struct pwcache *c, int64_t now_ms, int64_t lifetime_ms)
{
	int64_t next = -1;

	if (!c)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		const struct entry *e = &c->e[i];
		int64_t left;
		if (!e->sealed)
			continue;
		left = e->since + lifetime_ms - now_ms;
		if (left < 0)
			left = 0;
		if (next < 0 || left < next)
			next = left;
	}
	return next;
}

size_t pwcache_clear(struct pwcache *c)
{
	size_t n = 0;

	if (!c)
		return 0;
	while (c->n) {
		n += c->e[c->n - 1].sealed != NULL;
		entry_remove(c, c->n - 1);
	}
	return n;
}

size_t pwcache_count(const struct pwcache *c)
{
	size_t n = 0;

	for (size_t i = 0; c && i < c->n; i++)
		n += c->e[i].sealed != NULL;
	return n;
}
