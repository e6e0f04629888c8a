/*
 * The monitor protocol's encoding; see monproto.h.
 */
#include "monproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[MON_TYPE_MAX] = {
    [MON_AUTH_REQ] = "auth",           [MON_LAUNCH_REQ] = "launch",
    [MON_SIGNAL_REQ] = "signal",       [MON_STATS_REQ] = "stats",
    [MON_RELOAD_REQ] = "reload",       [MON_SIGNOUT_REQ] = "sign-out",
    [MON_AUTH_REP] = "auth-reply",     [MON_LAUNCH_REP] = "launch-reply",
    [MON_SIGNAL_REP] = "signal-reply", [MON_STATS_REP] = "stats-reply",
    [MON_RELOAD_REP] = "reload-reply", [MON_SIGNOUT_REP] = "sign-out-reply",
};

static const char *const auth_names[MON_AUTH_RESULT_MAX] = {
    "ok",
    "wrong password",
    "unknown user",
    "account expired",
    "password expired",
    "account refused by PAM (locked or not allowed now)",
    "PAM error",
    "user id below auth-minimum-user-id",
    "not in auth-required-user-group",
    "PAM did not answer in time",
};

const char *mon_auth_result_name(enum mon_auth_result r)
{
	return r < MON_AUTH_RESULT_MAX ? auth_names[r] : "?";
}

const char *mon_type_name(enum mon_type t)
{
	return t > 0 && t < MON_TYPE_MAX ? type_names[t] : "?";
}

static int reserve(struct monbuf *b, size_t n)
{
	size_t ncap;
	uint8_t *nd;

	if (b->len + n <= b->cap)
		return 0;
	if (b->len + n > MONPROTO_MAX)
		return -EMSGSIZE;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n)
		ncap *= 2;
	/* Not realloc: the old block may hold a password and must be wiped. */
	nd = malloc(ncap);
	if (!nd)
		return -ENOMEM;
	if (b->data) {
		memcpy(nd, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = nd;
	b->cap = ncap;
	return 0;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

int mon_begin(struct monbuf *b, enum mon_type type, uint32_t id)
{
	int r;

	memset(b, 0, sizeof(*b));
	b->type = (uint16_t)type;
	b->id = id;
	r = reserve(b, MONPROTO_HEADER);
	if (r < 0)
		return r;
	b->len = MONPROTO_HEADER;
	return 0;
}

static int put(struct monbuf *b, uint64_t v, int bytes)
{
	int r = reserve(b, (size_t)bytes);

	if (r < 0)
		return r;
	put_be(b->data + b->len, v, bytes);
	b->len += (size_t)bytes;
	return 0;
}

int mon_put_u32(struct monbuf *b, uint32_t v)
{
	return put(b, v, 4);
}

int mon_put_i32(struct monbuf *b, int32_t v)
{
	return put(b, (uint32_t)v, 4);
}

int mon_put_u64(struct monbuf *b, uint64_t v)
{
	return put(b, v, 8);
}

int mon_put_str(struct monbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int r;

	if (n > MONPROTO_MAX_STR)
		return -EMSGSIZE;
	r = put(b, (uint32_t)n, 4);
	if (r < 0)
		return r;
	r = reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

int mon_finish(struct monbuf *b)
{
	put_be(b->data, b->len - 4, 4);
	put_be(b->data + 4, MONPROTO_VERSION, 2);
	put_be(b->data + 6, b->type, 2);
	put_be(b->data + 8, b->id, 4);
	return 0;
}

void mon_free(struct monbuf *b)
{
	if (!b)
		return;
	if (b->data)
		explicit_bzero(b->data, b->cap); /* cheap; always, not only for secrets */
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int mon_take(uint8_t *buf, size_t *len, struct monbuf *ret)
{
	uint32_t n;
	uint16_t version, type;

	if (*len < 4)
		return 0;
	n = (uint32_t)get_be(buf, 4);
	if (n > MONPROTO_MAX - 4)
		return -EMSGSIZE;
	if (n < MONPROTO_HEADER - 4)
		return -EPROTO;
	if (*len < 4 + (size_t)n)
		return 0;
	version = (uint16_t)get_be(buf + 4, 2);
	type = (uint16_t)get_be(buf + 6, 2);
	if (version != MONPROTO_VERSION || type == 0 || type >= MON_TYPE_MAX)
		return -EPROTO;
	memset(ret, 0, sizeof(*ret));
	ret->cap = ret->len = 4 + (size_t)n;
	ret->data = malloc(ret->cap);
	if (!ret->data)
		return -ENOMEM;
	memcpy(ret->data, buf, ret->len);
	ret->type = type;
	ret->id = (uint32_t)get_be(buf + 8, 4);
	ret->pos = MONPROTO_HEADER;
	/* The receive buffer may have held a password: wipe what moved. */
	memmove(buf, buf + ret->len, *len - ret->len);
	explicit_bzero(buf + *len - ret->len, ret->len);
	*len -= ret->len;
	return 1;
}

static int get(struct monbuf *b, uint64_t *v, int bytes)
{
	if (b->len - b->pos < (size_t)bytes)
		return -EBADMSG;
	*v = get_be(b->data + b->pos, bytes);
	b->pos += (size_t)bytes;
	return 0;
}

int mon_get_u32(struct monbuf *b, uint32_t *ret)
{
	uint64_t v;
	int r = get(b, &v, 4);

	if (r == 0)
		*ret = (uint32_t)v;
	return r;
}

int mon_get_i32(struct monbuf *b, int32_t *ret)
{
	uint64_t v;
	int r = get(b, &v, 4);

	if (r == 0)
		*ret = (int32_t)(uint32_t)v;
	return r;
}

int mon_get_u64(struct monbuf *b, uint64_t *ret)
{
	return get(b, ret, 8);
}

int mon_get_str(struct monbuf *b, char **ret)
{
	size_t start = b->pos;
	uint32_t n;
	char *s;

	if (mon_get_u32(b, &n) < 0)
		return -EBADMSG;
	if (n > MONPROTO_MAX_STR || b->len - b->pos < n || memchr(b->data + b->pos, '\0', n)) {
		b->pos = start;
		return -EBADMSG;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		b->pos = start;
		return -ENOMEM;
	}
	memcpy(s, b->data + b->pos, n);
	s[n] = '\0';
	b->pos += n;
	*ret = s;
	return 0;
}

int mon_end(const struct monbuf *b)
{
	return b->pos == b->len ? 0 : -EBADMSG;
}

void mon_request_free(struct mon_request *r)
{
	if (!r)
		return;
	if (r->password) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->service);
	free(r->user);
	free(r->session_id);
	free(r->pids);
	memset(r, 0, sizeof(*r));
}

int mon_decode_request(struct monbuf *m, struct mon_request *ret)
{
	struct mon_request r = {.type = (enum mon_type)m->type, .id = m->id};
	uint32_t n;
	int e = -EBADMSG;

	switch (m->type) {
	case MON_AUTH_REQ:
		if (mon_get_str(m, &r.service) < 0 || mon_get_str(m, &r.user) < 0 ||
		    mon_get_str(m, &r.password) < 0)
			goto bad;
		break;
	case MON_LAUNCH_REQ:
		if (mon_get_str(m, &r.user) < 0 || mon_get_str(m, &r.session_id) < 0 ||
		    mon_get_u32(m, &r.flags) < 0 || (r.flags & ~MON_LAUNCH_RESUME))
			goto bad;
		break;
	case MON_SIGNAL_REQ:
		if (mon_get_str(m, &r.user) < 0 || mon_get_str(m, &r.session_id) < 0 ||
		    mon_get_i32(m, &r.pid) < 0 || mon_get_i32(m, &r.sig) < 0)
			goto bad;
		break;
	case MON_STATS_REQ:
		if (mon_get_u32(m, &n) < 0 || n > MONPROTO_MAX_PIDS)
			goto bad;
		r.pids = calloc(n ? n : 1, sizeof(*r.pids));
		if (!r.pids) {
			e = -ENOMEM;
			goto bad;
		}
		r.npids = n;
		for (uint32_t i = 0; i < n; i++)
			if (mon_get_i32(m, &r.pids[i]) < 0)
				goto bad;
		break;
	case MON_RELOAD_REQ:
		break; /* no fields: mon_end() refuses any payload byte */
	case MON_SIGNOUT_REQ:
		if (mon_get_str(m, &r.user) < 0)
			goto bad;
		break;
	default:
		goto bad;
	}
	if (mon_end(m) < 0)
		goto bad;
	*ret = r;
	return 0;
bad:
	mon_request_free(&r);
	return e;
}
