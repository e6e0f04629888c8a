/*
 * The monitor protocol's client side; see monitor-client.h.
 */
#include "monitor-client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void monitor_client_init(struct monitor_client *mc, int fd)
{
	memset(mc, 0, sizeof(*mc));
	mc->fd = fd;
	mc->next_id = 1;
}

void monitor_client_free(struct monitor_client *mc)
{
	if (!mc)
		return;
	if (mc->rbuf)
		explicit_bzero(mc->rbuf, mc->rcap);
	free(mc->rbuf);
	mc->rbuf = NULL;
	mc->rlen = mc->rcap = 0;
}

static int begin(struct monitor_client *mc, enum mon_type type, struct monbuf *req)
{
	return mon_begin(req, type, mc->next_id++);
}

int monitor_client_request_auth(struct monitor_client *mc, const char *service, const char *user,
                                const char *password, struct monbuf *req)
{
	int r = begin(mc, MON_AUTH_REQ, req);

	req->secret = true;
	if (r == 0)
		r = mon_put_str(req, service);
	if (r == 0)
		r = mon_put_str(req, user);
	if (r == 0)
		r = mon_put_str(req, password);
	if (r < 0)
		mon_free(req);
	return r;
}

int monitor_client_request_launch(struct monitor_client *mc, const char *user,
                                  const char *session_id, bool resume, struct monbuf *req)
{
	int r = begin(mc, MON_LAUNCH_REQ, req);

	if (r == 0)
		r = mon_put_str(req, user);
	if (r == 0)
		r = mon_put_str(req, session_id);
	if (r == 0)
		r = mon_put_u32(req, resume ? MON_LAUNCH_RESUME : 0);
	if (r < 0)
		mon_free(req);
	return r;
}

int monitor_client_request_signal(struct monitor_client *mc, const char *user,
                                  const char *session_id, pid_t pid, int sig, struct monbuf *req)
{
	int r = begin(mc, MON_SIGNAL_REQ, req);

	if (r == 0)
		r = mon_put_str(req, user);
	if (r == 0)
		r = mon_put_str(req, session_id);
	if (r == 0)
		r = mon_put_i32(req, (int32_t)pid);
	if (r == 0)
		r = mon_put_i32(req, sig);
	if (r < 0)
		mon_free(req);
	return r;
}

int monitor_client_request_stats(struct monitor_client *mc, const pid_t *pids, size_t n,
                                 struct monbuf *req)
{
	int r;

	if (n > MONPROTO_MAX_PIDS)
		return -E2BIG;
	r = begin(mc, MON_STATS_REQ, req);
	if (r == 0)
		r = mon_put_u32(req, (uint32_t)n);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = mon_put_i32(req, (int32_t)pids[i]);
	if (r < 0)
		mon_free(req);
	return r;
}

int monitor_client_request_reload(struct monitor_client *mc, struct monbuf *req)
{
	return begin(mc, MON_RELOAD_REQ, req);
}

int monitor_client_request_signout(struct monitor_client *mc, const char *user,
                                   struct monbuf *req)
{
	int r = begin(mc, MON_SIGNOUT_REQ, req);

	if (r == 0)
		r = mon_put_str(req, user);
	if (r < 0)
		mon_free(req);
	return r;
}

int monitor_client_send(struct monitor_client *mc, struct monbuf *req)
{
	size_t off = 0;
	int r = 0;

	mon_finish(req);
	while (off < req->len) {
		ssize_t n = write(mc->fd, req->data + off, req->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
			break;
		}
		off += (size_t)n;
	}
	mon_free(req);
	return r;
}

int monitor_client_feed(struct monitor_client *mc, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (mc->rlen + len > 2 * MONPROTO_MAX)
		return -EMSGSIZE;
	if (mc->rlen + len > mc->rcap) {
		size_t ncap = 2 * MONPROTO_MAX;
		uint8_t *n = realloc(mc->rbuf, ncap);
		if (!n)
			return -ENOMEM;
		mc->rbuf = n;
		mc->rcap = ncap;
	}
	memcpy(mc->rbuf + mc->rlen, data, len);
	mc->rlen += len;
	return 0;
}

void mon_reply_free(struct mon_reply *r)
{
	if (!r)
		return;
	switch (r->type) {
	case MON_AUTH_REP:
		free(r->auth.user);
		free(r->auth.message);
		break;
	case MON_LAUNCH_REP:
		free(r->launch.socket_path);
		free(r->launch.step);
		free(r->launch.message);
		break;
	case MON_SIGNAL_REP:
		free(r->signal.message);
		break;
	case MON_RELOAD_REP:
		free(r->reload.message);
		break;
	case MON_SIGNOUT_REP:
		free(r->signout.message);
		break;
	case MON_STATS_REP:
		free(r->stats.stats);
		break;
	default:
		break;
	}
	memset(r, 0, sizeof(*r));
}

static int decode(struct monbuf *m, struct mon_reply *ret)
{
	struct mon_reply r = {.type = (enum mon_type)m->type, .id = m->id};
	uint32_t u;
	int32_t i;
	int e = -EBADMSG;

	switch (m->type) {
	case MON_AUTH_REP:
		if (mon_get_u32(m, &u) < 0 || u >= MON_AUTH_RESULT_MAX ||
		    mon_get_str(m, &r.auth.user) < 0 || mon_get_str(m, &r.auth.message) < 0)
			goto bad;
		r.auth.result = (enum mon_auth_result)u;
		break;
	case MON_LAUNCH_REP:
		if (mon_get_i32(m, &i) < 0 || i < 0 || mon_get_str(m, &r.launch.socket_path) < 0 ||
		    mon_get_str(m, &r.launch.step) < 0 || mon_get_str(m, &r.launch.message) < 0)
			goto bad;
		r.launch.pid = (pid_t)i;
		break;
	case MON_SIGNAL_REP:
		if (mon_get_i32(m, &i) < 0 || i > 0 || mon_get_str(m, &r.signal.message) < 0)
			goto bad;
		r.signal.result = i;
		break;
	case MON_RELOAD_REP:
		if (mon_get_i32(m, &i) < 0 || i > 0 || mon_get_str(m, &r.reload.message) < 0)
			goto bad;
		r.reload.result = i;
		break;
	case MON_SIGNOUT_REP:
		if (mon_get_i32(m, &i) < 0 || i > 0 || mon_get_str(m, &r.signout.message) < 0)
			goto bad;
		r.signout.result = i;
		break;
	case MON_STATS_REP:
		if (mon_get_u32(m, &u) < 0 || u > MONPROTO_MAX_PIDS)
			goto bad;
		r.stats.stats = calloc(u ? u : 1, sizeof(*r.stats.stats));
		if (!r.stats.stats) {
			e = -ENOMEM;
			goto bad;
		}
		r.stats.n = u;
		for (uint32_t k = 0; k < u; k++) {
			struct mon_stat *s = &r.stats.stats[k];
			if (mon_get_i32(m, &i) < 0 || mon_get_u64(m, &s->cpu_ms) < 0 ||
			    mon_get_u64(m, &s->rss_bytes) < 0)
				goto bad;
			s->pid = (pid_t)i;
		}
		break;
	default:
		goto bad; /* a request type coming back: not from a monitor */
	}
	if (mon_end(m) < 0)
		goto bad;
	*ret = r;
	return 0;
bad:
	mon_reply_free(&r);
	return e;
}

int monitor_client_next(struct monitor_client *mc, struct mon_reply *ret)
{
	struct monbuf m;
	int r;

	if (!mc->rbuf)
		return 0;
	r = mon_take(mc->rbuf, &mc->rlen, &m);
	if (r <= 0)
		return r;
	r = decode(&m, ret);
	mon_free(&m);
	return r < 0 ? r : 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int monitor_client_call(struct monitor_client *mc, struct monbuf *req, int timeout_ms,
                        struct mon_reply *ret)
{
	uint32_t id = req->id;
	long long deadline = now_ms() + timeout_ms;
	int r = monitor_client_send(mc, req);

	if (r < 0)
		return r;
	for (;;) {
		struct mon_reply reply;
		struct pollfd pfd = {.fd = mc->fd, .events = POLLIN};
		uint8_t buf[8192];
		long long left;
		ssize_t n;

		while ((r = monitor_client_next(mc, &reply)) == 1) {
			if (reply.id == id) {
				*ret = reply;
				return 0;
			}
			mon_reply_free(&reply);
		}
		if (r < 0)
			return r;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = read(mc->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		r = monitor_client_feed(mc, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}
