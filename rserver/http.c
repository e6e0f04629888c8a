/*
 * HTTP on libwebsockets; see http.h.
 *
 * lws runs on our libuv loop (LWS_SERVER_OPTION_LIBUV with foreign_loops),
 * so timers, the monitor socket and session sockets share one loop with
 * HTTP. Requests are answered from the "http" protocol callback. Limits
 * (header size, body size, timeouts) are lws's, set from constants here.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define MAX_HEADER_BYTES     8192 /* a request line and headers beyond this get 431 */
#define IDLE_TIMEOUT_S       60
#define MAX_CONNS_PER_CLIENT 64 /* open connections from one address */

/*
 * Open connections by client address, for MAX_CONNS_PER_CLIENT. Each entry
 * remembers the accepted fd and its socket's inode; an entry whose fd has
 * since closed (or now names another socket) is stale and dropped when
 * counting. That stays right however lws closes a connection, without
 * relying on any particular close callback.
 */
struct conn_slot {
	int fd;
	ino_t ino;
	char addr[INET6_ADDRSTRLEN];
};

static struct conn_slot *conns;
static size_t nconns, conns_cap;

static int conns_count(const char *addr)
{
	int n = 0;

	for (size_t i = 0; i < nconns;) {
		struct stat st;
		if (fstat(conns[i].fd, &st) < 0 || st.st_ino != conns[i].ino) {
			conns[i] = conns[--nconns];
			continue;
		}
		n += strcmp(conns[i].addr, addr) == 0;
		i++;
	}
	return n;
}

/* Decides on a new connection: its address may hold few enough already. */
static int conns_admit(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "";
	struct stat st;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0 || fstat(fd, &st) < 0)
		return 0; /* not an address we can count: lws will fail it anyway */
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		/* An IPv4 client on a dual-stack socket counts as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr, sizeof(addr));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
	} else if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
	}
	if (conns_count(addr) >= MAX_CONNS_PER_CLIENT) {
		log_warnx("Refused a connection from %s: %d connections open already", addr,
		          MAX_CONNS_PER_CLIENT);
		return -1;
	}
	if (nconns == conns_cap) {
		size_t ncap = conns_cap ? conns_cap * 2 : 64;
		struct conn_slot *n = reallocarray(conns, ncap, sizeof(*n));
		if (!n)
			return -1;
		conns = n;
		conns_cap = ncap;
	}
	conns[nconns].fd = fd;
	conns[nconns].ino = st.st_ino;
	snprintf(conns[nconns].addr, sizeof(conns[nconns].addr), "%s", addr);
	nconns++;
	return 0;
}

struct http {
	struct lws_context *ctx;
	void *loops[1];
};

/* Writes a complete response with a small body. */
static int respond(struct lws *wsi, unsigned status, const char *type, const char *body)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
	                                   *end = buf + sizeof(buf) - 1;
	size_t len = strlen(body);

	if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (len) {
		unsigned char out[LWS_PRE + 4096];
		if (len > sizeof(out) - LWS_PRE)
			return -1;
		memcpy(out + LWS_PRE, body, len);
		if (lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) != (int)len)
			return -1;
	}
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
	const char *path = in;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* in is the accepted socket; non-zero closes it at once. */
		return conns_admit((int)(intptr_t)in);
	case LWS_CALLBACK_HTTP:
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
			/* Only GET is routed so far; other methods get 405. */
			return respond(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain",
			               "method not allowed\n");
		}
		if (strcmp(path, "/health-check") == 0)
			return respond(wsi, HTTP_STATUS_OK, "text/plain", "ok\n");
		if (strcmp(path, "/__ping__") == 0)
			return respond(wsi, HTTP_STATUS_OK, "application/json", "{}");
		return respond(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n");
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}, /* terminator */
};

/* lws logs through its own hook; route warnings and errors to ours. */
static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	if (level & LLL_ERR)
		log_errorx("lws: %.*s", (int)n, line);
	else if (level & LLL_WARN)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

int http_start(uv_loop_t *loop, const struct settings *s, struct http **ret, char *err,
               size_t errsize)
{
	struct lws_context_creation_info info;
	struct http *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memset(&info, 0, sizeof(info));
	h->loops[0] = loop;
	info.foreign_loops = h->loops;
	info.options = LWS_SERVER_OPTION_LIBUV |
	               LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.port = (int)conf_int(s->rserver, RSERVER_WWW_PORT);
	/* lws takes NULL for "every address". */
	info.iface = conf_str(s->rserver, RSERVER_WWW_ADDRESS);
	if (strcmp(info.iface, "0.0.0.0") == 0 || strcmp(info.iface, "::") == 0)
		info.iface = NULL;
	info.protocols = protocols;
	info.max_http_header_data = MAX_HEADER_BYTES;
	info.timeout_secs = IDLE_TIMEOUT_S;
	info.vhost_name = "rserver";
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		snprintf(err, errsize,
		         "cannot serve HTTP on %s:%d (port in use, or the lws libuv "
		         "plugin libwebsockets-evlib-uv missing?)",
		         conf_str(s->rserver, RSERVER_WWW_ADDRESS), info.port);
		free(h);
		return -EADDRINUSE;
	}
	*ret = h;
	return 0;
}

void http_stop(struct http *h)
{
	if (h)
		lws_context_destroy(h->ctx);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	/* The second call completes the destruction the first one started,
	 * now that the loop has closed lws's handles. */
	lws_context_destroy(h->ctx);
	free(h);
	free(conns);
	conns = NULL;
	nconns = conns_cap = 0;
}
