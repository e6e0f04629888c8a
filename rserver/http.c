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
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "monitor-client.h"
#include "notices.h"
#include "profiles.h"
#include "sessions.h"
#include "strutil.h"
#include "webutil.h"
#include "www.h"

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
	/* Console traffic is many small messages: without this every
	 * exchange can wait ~40 ms for a delayed ACK. */
	{
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
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

#define MAX_FORM_BYTES   (64 * 1024)
#define MAX_PENDING_AUTH 256
#define SIGNIN_PAGE_SIZE 8192
#define MAX_WS_MESSAGE   (1024 * 1024 + 4096) /* browser -> server, one message */
#define MAX_WS_QUEUED    (16 * 1024 * 1024)   /* server -> browser, unsent bytes */
#define WS_WRITE_BURST   (1024 * 1024)        /* bytes sent per writable callback, at most */

struct http {
	struct lws_context *ctx;
	void *loops[1];
	uv_loop_t *loop;
	struct http_deps deps;
	struct monitor_client mc;
	uv_poll_t mon_poll;
	bool serving;
	struct sessions *sessions;
	struct notices *notices;
	lws_retry_bo_t retry; /* WebSocket pings: websocket-ping-seconds */
	/* Sign-ins waiting for the monitor: request id -> connection. */
	struct {
		uint32_t id;
		struct lws *wsi;
	} pending[MAX_PENDING_AUTH];
};

/* A response built now or when the monitor answers, written when lws says
 * the connection is writable. */
struct response {
	bool ready;
	unsigned status;
	const char *type;
	char *body;
	char location[2048];
	char cookies[3][COOKIE_VALUE_SIZE + 128];
	int ncookies;
};

/* A message waiting for a WebSocket to become writable. */
struct ws_out {
	struct ws_out *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes, then the message */
};

/* Per connection: the request being served, or the console WebSocket. */
struct pss {
	struct lws *wsi;
	char path[256];
	char *body; /* POST body */
	size_t body_len;
	bool body_too_big;
	bool waiting; /* for the monitor */
	/* the sign-in being checked */
	char user[COOKIE_USER_MAX + 1];
	char app_uri[1024];
	bool stay;
	struct response resp;
	char *resp_body; /* owned body of resp, when built later */
	struct session *api_session; /* a suspend or quit waiting for rsession */

	/* The console WebSocket */
	struct session *ws_session; /* chosen when the upgrade was allowed */
	struct session_viewer viewer;
	bool ws;
	char *rx;
	size_t rx_len;
	struct ws_out *out_head, *out_tail;
	size_t out_bytes;
	bool out_overflow;
};

/*
 * Our per-connection state. lws allocates per-session data only for some
 * roles and only after binding; we own ours explicitly through the opaque
 * pointer lws never touches, created on first use, freed at WSI_DESTROY.
 */
static struct pss *pss_of(struct lws *wsi, bool create)
{
	struct pss *ps = lws_get_opaque_user_data(wsi);

	if (!ps && create) {
		ps = calloc(1, sizeof(*ps));
		if (ps) {
			ps->wsi = wsi;
			lws_set_opaque_user_data(wsi, ps);
		}
	}
	return ps;
}

static void pss_reset(struct pss *ps)
{
	struct lws *wsi = ps->wsi;

	if (ps->body) {
		explicit_bzero(ps->body, ps->body_len);
		free(ps->body);
	}
	if (ps->api_session)
		session_request_cancel(ps->api_session, ps);
	session_detach(&ps->viewer);
	free(ps->resp_body);
	free(ps->rx);
	for (struct ws_out *o = ps->out_head, *next; o; o = next) {
		next = o->next;
		free(o);
	}
	memset(ps, 0, sizeof(*ps));
	ps->wsi = wsi;
}

static struct http *http_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static const struct conf *rs_conf(struct http *h)
{
	return h->deps.settings->rserver;
}

/* Writes a whole response: status, headers, cookies, body. complete:
 * end the HTTP transaction (not for a refused WebSocket upgrade, which
 * lws ends itself). */
static int write_response_ex(struct lws *wsi, const struct response *r, bool complete)
{
	unsigned char buf[LWS_PRE + 8192], *start = buf + LWS_PRE, *p = start,
	                                   *end = buf + sizeof(buf) - 1;
	const char *body = r->body ? r->body : "";
	size_t len = strlen(body);

	if (lws_add_http_common_headers(wsi, r->status, r->type ? r->type : "text/plain",
	                                (lws_filepos_t)len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)"no-store", 8, &p, end))
		return -1;
	if (r->location[0] && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION,
	                                                   (const unsigned char *)r->location,
	                                                   (int)strlen(r->location), &p, end))
		return -1;
	for (int i = 0; i < r->ncookies; i++)
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_SET_COOKIE,
		                                 (const unsigned char *)r->cookies[i],
		                                 (int)strlen(r->cookies[i]), &p, end))
			return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (len) {
		unsigned char *out = malloc(LWS_PRE + len);
		int n;
		if (!out)
			return -1;
		memcpy(out + LWS_PRE, body, len);
		n = lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		free(out);
		if (n != (int)len)
			return -1;
	}
	if (!complete)
		return 0;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int write_response(struct lws *wsi, const struct response *r)
{
	return write_response_ex(wsi, r, true);
}

static int respond(struct lws *wsi, unsigned status, const char *type, const char *body)
{
	struct response r = {.status = status, .type = type, .body = (char *)body};

	return write_response(wsi, &r);
}

static void add_cookie(struct http *h, struct response *r, const char *name, const char *value,
                       int64_t max_age)
{
	if (r->ncookies < 3 &&
	    cookie_set_header(r->cookies[r->ncookies], sizeof(r->cookies[0]), name, value, max_age,
	                      true, conf_bool(rs_conf(h), RSERVER_SSL_ENABLED), "/") == 0)
		r->ncookies++;
}

/* A copy of one request header, "" if absent or too long. */
static void header(struct lws *wsi, enum lws_token_indexes t, char *out, size_t size)
{
	out[0] = '\0';
	if (lws_hdr_total_length(wsi, t) >= (int)size || lws_hdr_copy(wsi, out, (int)size, t) < 0)
		out[0] = '\0';
}

/*
 * The signed-in user of this request: a user-id cookie with a valid MAC,
 * not expired and not revoked. Fills user, the cookie's expiry and
 * persistence, and its value (for sign-out).
 */
static bool signed_in(struct http *h, struct lws *wsi, char *user, size_t usersize,
                      int64_t *ret_expires, bool *ret_persistent, char *value, size_t valuesize)
{
	char cookies[4096], hash[COOKIE_HASH_SIZE];
	bool revoked = true;

	header(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies));
	if (cookie_header_get(cookies, COOKIE_USER_ID, value, valuesize) < 0)
		return false;
	if (cookie_verify(h->deps.key, value, now_ms() / 1000, user, usersize, ret_expires,
	                  ret_persistent) < 0)
		return false;
	if (cookie_token_hash(value, hash) < 0 ||
	    db_cookie_is_revoked(h->deps.db, hash, &revoked) < 0)
		return false; /* fail closed */
	return !revoked;
}

/* The CSRF token of this browser: its cookie's, or a new one. */
static void csrf_token(struct lws *wsi, char *out, size_t size, bool *ret_new)
{
	char cookies[4096];

	header(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies));
	*ret_new = false;
	if (cookie_header_get(cookies, COOKIE_CSRF, out, size) == 0 && strlen(out) >= 32)
		return;
	*ret_new = true;
	if (cookie_csrf_new(out, size) < 0)
		out[0] = '\0';
}

/* ---- pages ------------------------------------------------------------------- */

/*
 * Offline mode: while <state directory>/offline exists (the database
 * directory, /var/lib/rstudio-server by default), user routes answer 503
 * with the file's text as the message. Checked on every request, so an
 * administrator needs no signal: touch or remove the file. Health checks
 * and, later, admin routes keep working.
 */
static int page_offline_if(struct http *h, struct lws *wsi, bool *ret_offline)
{
	const char *dir = conf_str(h->deps.settings->database, DATABASE_DIRECTORY);
	char path[4096], *text = NULL, *page = NULL, msg_html[8192] = "";
	size_t len;
	struct response r = {.status = HTTP_STATUS_SERVICE_UNAVAILABLE,
	                     .type = "text/html; charset=utf-8"};
	int rc;

	*ret_offline = false;
	snprintf(path, sizeof(path), "%s/offline", dir);
	rc = file_read_all(path, 4096, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0 && rc != -EFBIG) {
		/* Offline only when the administrator's file is known to be
		 * there; an unreadable state directory must not take the
		 * server down. */
		static bool warned;
		if (!warned)
			log_warn_errno(-rc, "Cannot check %s for offline mode", path);
		warned = true;
		return 0;
	}
	*ret_offline = true;
	if (rc == 0)
		html_escape(text, msg_html, sizeof(msg_html));
	free(text);
	if (asprintf(&page,
	             "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	             "<title>Offline - rserver</title></head><body><main>\n"
	             "<h1>This server is offline for maintenance</h1>\n<p>%s</p>\n"
	             "<p>Your sessions are kept; try again later.</p>\n</main></body></html>\n",
	             msg_html) < 0)
		return -1;
	r.body = page;
	rc = write_response(wsi, &r);
	free(page);
	return rc;
}

/* The sign-in page's ?error= messages. 2 is followed by how long is left
 * (?minutes=, see signin_failed()); 4 is for a user PAM accepted whom
 * auth-minimum-user-id or auth-required-user-group keep out. */
static const char *const signin_errors[] = {
    NULL,
    "Incorrect username or password.",
    "This account is locked after too many failed sign-ins.",
    "Too many sign-in attempts. Wait a moment and try again.",
    "This account is not permitted to use this server. Ask its administrator for access.",
};

/*
 * A decoded query argument. lws 4.1 returns a pointer inside its buffer,
 * just after "name="; later versions move the value to the start. Copy
 * from the returned pointer, which is right for both.
 */
static bool url_arg(struct lws *wsi, const char *name, char *out, size_t size)
{
	char buf[2048];
	const char *v = lws_get_urlarg_by_name(wsi, name, buf, sizeof(buf));

	if (!v || strlen(v) >= size)
		return false;
	memmove(out, v, strlen(v) + 1);
	return true;
}

/* server-public-warning (sign-in page) or server-logged-in-warning (home
 * and console): the administrator's HTML snippet, shown as given; read at
 * each request, so SIGHUP changes it. */
static const char *system_message(struct http *h, bool signed_in_pages)
{
	const char *v = conf_str(rs_conf(h), signed_in_pages ? RSERVER_SERVER_LOGGED_IN_WARNING
	                                                     : RSERVER_SERVER_PUBLIC_WARNING);

	return v ? v : "";
}

static int page_signin(struct http *h, struct lws *wsi)
{
	char token[COOKIE_CSRF_SIZE + 1], app[1024] = "/", err[8] = "", mins[16] = "",
	                                  message[512] = "";
	char *page;
	bool fresh;
	struct response r = {.status = HTTP_STATUS_OK, .type = "text/html; charset=utf-8"};
	int rc;

	csrf_token(wsi, token, sizeof(token), &fresh);
	if (!url_arg(wsi, "appUri=", app, sizeof(app)) || !local_path(app))
		snprintf(app, sizeof(app), "/");
	if (url_arg(wsi, "error=", err, sizeof(err)) && err[0] >= '1' && err[0] <= '4' && !err[1])
		snprintf(message, sizeof(message), "%s", signin_errors[err[0] - '0']);
	if (err[0] == '2' && message[0]) {
		/* How long is left, from the redirect; else the configured
		 * length, an upper bound. */
		char *end = NULL;
		long n = url_arg(wsi, "minutes=", mins, sizeof(mins)) ? strtol(mins, &end, 10) : 0;
		if (!end || *end || n < 1 || n > 1000000) {
			double conf_minutes = conf_decimal(rs_conf(h), RSERVER_AUTH_LOCKOUT_MINUTES);
			n = conf_minutes > 0 && conf_minutes < 1000000 ? (long)conf_minutes : 0;
			if (n < conf_minutes)
				n++;
		}
		if (n > 0)
			snprintf(message + strlen(message), sizeof(message) - strlen(message),
			         " Try again in %ld minute%s.", n, n == 1 ? "" : "s");
		else
			snprintf(message + strlen(message), sizeof(message) - strlen(message),
			         " Try again later.");
	}
	page = www_render("signin.html",
	                  (const char *const[]){"message", message, "app", app, "csrf", token,
	                                        "warning", system_message(h, false), NULL});
	if (!page)
		return -1;
	r.body = page;
	if (fresh)
		add_cookie(h, &r, COOKIE_CSRF, token, -1);
	rc = write_response(wsi, &r);
	free(page);
	return rc;
}

static int redirect(struct lws *wsi, struct response *r, const char *location)
{
	r->status = HTTP_STATUS_FOUND;
	r->type = "text/plain";
	snprintf(r->location, sizeof(r->location), "%s", location);
	return write_response(wsi, r);
}

/*
 * Sets the sign-in connection's response to the sign-in page's redirect
 * with an error and the target (ps->app_uri). For a lockout (error 2) the
 * redirect also carries the minutes left, rounded
 * up, counted from the user's last recorded failure (attempts refused while
 * locked out are not recorded, so the lock ends by then at the latest).
 */
static void signin_failed(struct pss *ps, int error)
{
	char enc[3 * 1024 + 1] = "%2F", left[32] = "";
	struct response *r = &ps->resp;
	const char *app = ps->app_uri;

	if (error == 2) {
		struct http *h = http_of(ps->wsi);
		int64_t lock_ms =
		    (int64_t)(conf_decimal(rs_conf(h), RSERVER_AUTH_LOCKOUT_MINUTES) * 60000);
		int64_t now = now_ms(), last = 0;
		if (db_signin_state(h->deps.db, ps->user, now - lock_ms, NULL, &last) == 0 && last) {
			int64_t ms = last + lock_ms - now;
			snprintf(left, sizeof(left), "&minutes=%lld",
			         ms > 60000 ? (long long)((ms + 59999) / 60000) : 1LL);
		}
	}
	url_encode(app, enc, sizeof(enc));
	r->status = HTTP_STATUS_FOUND;
	r->type = "text/plain";
	snprintf(r->location, sizeof(r->location), "/auth-sign-in?error=%d%s&appUri=%s", error,
	         left, enc);
	r->ready = true;
}

/*
 * The signed-in user of this request, into user. A sign-in without "stay
 * signed in" lasts auth-timeout-minutes from the last activity: any
 * signed-in request renews it (at most once a minute), through a cookie
 * added to r.
 */
static bool auth_user(struct http *h, struct lws *wsi, struct response *r, char *user,
                      size_t usersize)
{
	char value[COOKIE_VALUE_SIZE];
	int64_t expires;
	bool persistent;

	if (!signed_in(h, wsi, user, usersize, &expires, &persistent, value, sizeof(value)))
		return false;
	double minutes = conf_decimal(rs_conf(h), RSERVER_AUTH_TIMEOUT_MINUTES);
	int64_t now = now_ms() / 1000;
	if (r && !persistent && minutes > 0 && expires - now < (int64_t)(minutes * 60) - 60) {
		char renewed[COOKIE_VALUE_SIZE];
		if (cookie_sign(h->deps.key, user, now + (int64_t)(minutes * 60), false, renewed,
		                sizeof(renewed)) == 0)
			add_cookie(h, r, COOKIE_USER_ID, renewed, -1);
	}
	return true;
}

/* Sends an embedded page rendered with vars (see www_render()). */
static int send_page(struct lws *wsi, struct response *r, const char *name,
                     const char *const *vars)
{
	char *page = www_render(name, vars);
	int rc;

	if (!page)
		return -1;
	r->status = r->status ? r->status : HTTP_STATUS_OK;
	r->type = "text/html; charset=utf-8";
	r->body = page;
	rc = write_response(wsi, r);
	free(page);
	return rc;
}

/* The redirect to the sign-in page, coming back to path afterwards. */
static int to_signin(struct lws *wsi, struct response *r, const char *path)
{
	char enc[3 * 256 + 1] = "%2F", loc[1024];

	url_encode(path, enc, sizeof(enc));
	snprintf(loc, sizeof(loc), "/auth-sign-in?appUri=%s", enc);
	return redirect(wsi, r, loc);
}

static int page_home(struct http *h, struct lws *wsi)
{
	char user[COOKIE_USER_MAX + 1], token[COOKIE_CSRF_SIZE + 1];
	struct response r = {0};
	bool fresh;

	if (!auth_user(h, wsi, &r, user, sizeof(user)))
		return to_signin(wsi, &r, "/");
	csrf_token(wsi, token, sizeof(token), &fresh);
	if (fresh)
		add_cookie(h, &r, COOKIE_CSRF, token, -1);
	return send_page(wsi, &r, "home.html",
	                 (const char *const[]){"user", user, "csrf", token, "warning",
	                                       system_message(h, true), NULL});
}

/* /static/<name>: the scripts and styles (not the page templates). */
static int page_static(struct lws *wsi, const char *name)
{
	const struct www_file *f = www_find(name);
	const char *type = www_type(name);

	if (!f || strstr(type, "text/html"))
		return respond(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n");
	return respond(wsi, HTTP_STATUS_OK, type, f->data);
}

/* ---- sessions: routes ------------------------------------------------------------ */

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * Splits "<prefix><id><rest>" where id is 1..64 id characters: copies id
 * and returns a pointer to rest, or NULL when path does not have that
 * shape.
 */
static const char *path_id(const char *path, const char *prefix, char *id, size_t idsize)
{
	size_t n = strlen(prefix), i = 0;

	if (strncmp(path, prefix, n) != 0)
		return NULL;
	path += n;
	while (id_char(path[i]) && i < DB_SESSION_ID_MAX && i + 1 < idsize) {
		id[i] = path[i];
		i++;
	}
	id[i] = '\0';
	return i == 0 || id_char(path[i]) ? NULL : path + i;
}

static int respond_json(struct lws *wsi, struct response *r, unsigned status, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (!text)
		return -1;
	r->status = status;
	r->type = "application/json";
	r->body = text;
	rc = write_response(wsi, r);
	free(text);
	return rc;
}

static int api_error(struct lws *wsi, struct response *r, unsigned status, const char *message)
{
	return respond_json(wsi, r, status, json_pack("{s:s}", "error", message));
}

/* State-changing requests carry the CSRF token in X-RS-CSRF-Token (or a
 * form field), equal to the rs-csrf-token cookie. */
static bool csrf_ok(struct lws *wsi, const struct pss *ps)
{
	static const char name[] = "x-rs-csrf-token:";
	char sent[COOKIE_CSRF_SIZE + 8] = "", cookie[COOKIE_CSRF_SIZE + 8], cookies[4096];
	int n = lws_hdr_custom_length(wsi, name, (int)strlen(name));

	if (n > 0 && n < (int)sizeof(sent)) {
		if (lws_hdr_custom_copy(wsi, sent, (int)sizeof(sent), name, (int)strlen(name)) < 0)
			sent[0] = '\0';
	} else if (ps->body) {
		if (form_get(ps->body, ps->body_len, "rs-csrf-token", sent, sizeof(sent)) < 0)
			sent[0] = '\0';
	}
	header(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies));
	return sent[0] && cookie_header_get(cookies, COOKIE_CSRF, cookie, sizeof(cookie)) == 0 &&
	       cookie_csrf_equal(sent, cookie);
}

/*
 * The session of a route for user: NULL after answering 404 (no such
 * session) or 403 (someone else's). json: answer as the API does.
 */
static struct session *owned_session(struct http *h, struct lws *wsi, struct response *r,
                                     const char *id, const char *user, bool json, int *rc)
{
	struct session *s = sessions_find(h->sessions, id);

	if (!s) {
		*rc = json ? api_error(wsi, r, HTTP_STATUS_NOT_FOUND, "no such session")
		           : respond(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "no such session\n");
		return NULL;
	}
	if (strcmp(session_user(s), user) != 0) {
		log_warnx("%s asked for session %s of %s: refused", user, id, session_user(s));
		*rc = json ? api_error(wsi, r, HTTP_STATUS_FORBIDDEN, "not your session")
		           : respond(wsi, HTTP_STATUS_FORBIDDEN, "text/plain", "not your session\n");
		return NULL;
	}
	return s;
}

static int page_console(struct http *h, struct lws *wsi, const char *id, const char *path)
{
	char user[COOKIE_USER_MAX + 1], token[COOKIE_CSRF_SIZE + 1];
	struct response r = {0};
	struct session *s;
	bool fresh;
	int rc = 0;

	if (!auth_user(h, wsi, &r, user, sizeof(user)))
		return to_signin(wsi, &r, path);
	if (!(s = owned_session(h, wsi, &r, id, user, false, &rc)))
		return rc;
	if (session_open(s) < 0)
		log_warnx("Cannot open session %s of %s", id, user);
	csrf_token(wsi, token, sizeof(token), &fresh);
	if (fresh)
		add_cookie(h, &r, COOKIE_CSRF, token, -1);
	return send_page(wsi, &r, "console.html",
	                 (const char *const[]){"user", user, "csrf", token, "id", id, "warning",
	                                       system_message(h, true), NULL});
}

/* rsession answered a suspend or quit asked for by this connection. */
static void api_done(void *arg, bool ok, const char *error)
{
	struct pss *ps = arg;
	json_t *o = ok ? json_pack("{s:b}", "ok", 1) : json_pack("{s:s}", "error", error);

	ps->api_session = NULL;
	ps->resp_body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	ps->resp.status = ok ? HTTP_STATUS_OK : HTTP_STATUS_CONFLICT;
	ps->resp.type = "application/json";
	ps->resp.body = ps->resp_body;
	ps->resp.ready = true;
	lws_callback_on_writable(ps->wsi);
}

static int api_get(struct http *h, struct lws *wsi, const char *path)
{
	char user[COOKIE_USER_MAX + 1];
	struct response r = {0};

	if (!auth_user(h, wsi, &r, user, sizeof(user)))
		return api_error(wsi, &r, HTTP_STATUS_UNAUTHORIZED, "not signed in");
	if (strcmp(path, "/api/sessions") == 0)
		return respond_json(wsi, &r, HTTP_STATUS_OK,
		                    sessions_list_json(h->sessions, user, false));
	return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such route");
}

static int api_post(struct http *h, struct lws *wsi, struct pss *ps)
{
	char user[COOKIE_USER_MAX + 1], id[DB_SESSION_ID_MAX + 1];
	struct response r = {0};
	const char *rest;
	struct session *s;
	int rc = 0;

	if (!auth_user(h, wsi, &r, user, sizeof(user)))
		return api_error(wsi, &r, HTTP_STATUS_UNAUTHORIZED, "not signed in");
	if (!csrf_ok(wsi, ps)) {
		log_warnx("POST %s by %s refused: missing or mismatched CSRF token", ps->path, user);
		return api_error(wsi, &r, HTTP_STATUS_FORBIDDEN, "missing or invalid X-RS-CSRF-Token");
	}
	if (strcmp(ps->path, "/api/sessions") == 0) {
		bool existing;
		rc = sessions_create(h->sessions, user, &s, &existing);
		if (rc < 0)
			return api_error(wsi, &r,
			                 rc == -EAGAIN ? HTTP_STATUS_SERVICE_UNAVAILABLE
			                               : HTTP_STATUS_INTERNAL_SERVER_ERROR,
			                 "cannot start a session now");
		if (!existing)
			audit_event(h->deps.db, user, "create-session", session_id(s), NULL);
		return respond_json(wsi, &r, existing ? HTTP_STATUS_OK : 201,
		                    existing ? json_pack("{s:s, s:b}", "id", session_id(s), "existing", 1)
		                             : json_pack("{s:s}", "id", session_id(s)));
	}
	rest = path_id(ps->path, "/api/notifications/", id, sizeof(id));
	if (rest && strcmp(rest, "/ack") == 0) {
		rc = h->notices ? notices_ack(h->notices, user, id) : -ENOENT;
		if (rc == -ENOENT)
			return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such notification");
		if (rc < 0)
			return api_error(wsi, &r, HTTP_STATUS_INTERNAL_SERVER_ERROR,
			                 "cannot record the acknowledgement now");
		return respond_json(wsi, &r, HTTP_STATUS_OK, json_pack("{s:b}", "ok", 1));
	}
	rest = path_id(ps->path, "/api/sessions/", id, sizeof(id));
	if (!rest || (strcmp(rest, "/suspend") != 0 && strcmp(rest, "/quit") != 0))
		return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such route");
	if (!(s = owned_session(h, wsi, &r, id, user, true, &rc)))
		return rc;
	ps->api_session = s;
	rc = strcmp(rest, "/suspend") == 0 ? session_suspend(s, false, api_done, ps)
	                                   : session_quit(s, api_done, ps);
	if (rc == -EBUSY) {
		ps->api_session = NULL;
		return api_error(wsi, &r, HTTP_STATUS_CONFLICT, "a request is already in progress");
	}
	audit_event(h->deps.db, user, strcmp(rest, "/suspend") == 0 ? "suspend-session" : "quit-session",
	            id, NULL);
	/* Answered from api_done(), now or when rsession replies. */
	return 0;
}

/* ---- administration: /admin, /admin/api, /metrics ------------------------------ */

/* Members of admin-group (none when unset: root only, through the CLI). */
static bool is_admin(struct http *h, const char *user)
{
	const char *group = conf_str(rs_conf(h), RSERVER_ADMIN_GROUP);
	char **groups = NULL;
	size_t ngroups = 0;
	bool ok = false;

	if (!conf_bool(rs_conf(h), RSERVER_ADMIN_ENABLED) || !group || !*group)
		return false;
	if (profiles_user_groups(user, &groups, &ngroups) < 0)
		return false;
	for (size_t i = 0; i < ngroups && !ok; i++)
		ok = strcmp(groups[i], group) == 0;
	profiles_groups_free(groups, ngroups);
	return ok;
}

/* The signed-in administrator of this request; answers 401/403 itself
 * (json or page) and returns false otherwise. */
static bool require_admin(struct http *h, struct lws *wsi, struct response *r, char *user,
                          size_t usersize, bool json, int *rc)
{
	if (!auth_user(h, wsi, r, user, usersize)) {
		*rc = json ? api_error(wsi, r, HTTP_STATUS_UNAUTHORIZED, "not signed in")
		           : to_signin(wsi, r, "/admin");
		return false;
	}
	if (!is_admin(h, user)) {
		log_warnx("%s is not in admin-group: refused the admin pages", user);
		*rc = json ? api_error(wsi, r, HTTP_STATUS_FORBIDDEN, "administrators only")
		           : respond(wsi, HTTP_STATUS_FORBIDDEN, "text/plain",
		                     "administrators only (admin-group)\n");
		return false;
	}
	return true;
}

static bool loopback_peer(struct lws *wsi)
{
	char addr[64] = "";

	lws_get_peer_simple(wsi, addr, sizeof(addr));
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	       strncmp(addr, "::ffff:127.", 11) == 0;
}

/* Prometheus text: for administrators, or anyone on loopback (a local
 * scraper needs no sign-in). */
static int page_metrics(struct http *h, struct lws *wsi)
{
	char user[COOKIE_USER_MAX + 1];
	char *text;
	int rc;

	if (!conf_bool(rs_conf(h), RSERVER_METRICS_ENABLED))
		return respond(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "metrics are disabled\n");
	if (!loopback_peer(wsi) &&
	    !(auth_user(h, wsi, NULL, user, sizeof(user)) && is_admin(h, user)))
		return respond(wsi, HTTP_STATUS_FORBIDDEN, "text/plain",
		               "metrics: administrators or loopback only\n");
	text = metrics_render(h->sessions);
	if (!text)
		return -1;
	rc = respond(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", text);
	free(text);
	return rc;
}

static int admin_get(struct http *h, struct lws *wsi, const char *path)
{
	char user[COOKIE_USER_MAX + 1], id[DB_SESSION_ID_MAX + 1], token[COOKIE_CSRF_SIZE + 1];
	struct response r = {0};
	const char *rest;
	struct session *s;
	bool fresh;
	int rc = 0;

	if (!require_admin(h, wsi, &r, user, sizeof(user), strncmp(path, "/admin/api/", 11) == 0,
	                   &rc))
		return rc;
	if (strcmp(path, "/admin") == 0 || strcmp(path, "/admin/") == 0) {
		csrf_token(wsi, token, sizeof(token), &fresh);
		if (fresh)
			add_cookie(h, &r, COOKIE_CSRF, token, -1);
		return send_page(wsi, &r, "admin.html",
		                 (const char *const[]){"user", user, "csrf", token, NULL});
	}
	if (strcmp(path, "/admin/api/sessions") == 0)
		return respond_json(wsi, &r, HTTP_STATUS_OK,
		                    sessions_list_json(h->sessions, NULL, true));
	if (strcmp(path, "/admin/api/notifications") == 0)
		return respond_json(wsi, &r, HTTP_STATUS_OK,
		                    h->notices ? notices_status_json(h->notices) : json_object());
	rest = path_id(path, "/admin/api/sessions/", id, sizeof(id));
	if (rest && strcmp(rest, "/history") == 0) {
		if (!(s = sessions_find(h->sessions, id)))
			return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such session");
		return respond_json(wsi, &r, HTTP_STATUS_OK, session_history_json(s));
	}
	return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such route");
}

static void ignore_done(void *arg, bool ok, const char *error)
{
	(void)arg;
	(void)ok;
	(void)error;
}

static int admin_post(struct http *h, struct lws *wsi, struct pss *ps)
{
	char user[COOKIE_USER_MAX + 1], id[DB_SESSION_ID_MAX + 1], reason[COOKIE_USER_MAX + 64];
	struct response r = {0};
	const char *rest;
	struct session *s;
	int rc = 0;

	if (!require_admin(h, wsi, &r, user, sizeof(user), true, &rc))
		return rc;
	if (!csrf_ok(wsi, ps)) {
		log_warnx("POST %s by %s refused: missing or mismatched CSRF token", ps->path, user);
		return api_error(wsi, &r, HTTP_STATUS_FORBIDDEN, "missing or invalid X-RS-CSRF-Token");
	}
	if (strcmp(ps->path, "/admin/api/suspend-all") == 0) {
		size_t n = 0;
		for (s = sessions_first(h->sessions); s; s = session_next(s))
			if (session_state(s) == DB_SESSION_RUNNING &&
			    session_suspend(s, false, ignore_done, NULL) == 0)
				n++;
		audit_event(h->deps.db, user, "admin-suspend-all", NULL, "%zu session(s) asked", n);
		return respond_json(wsi, &r, HTTP_STATUS_OK, json_pack("{s:I}", "requested", (json_int_t)n));
	}
	rest = path_id(ps->path, "/admin/api/sessions/", id, sizeof(id));
	if (!rest || (strcmp(rest, "/suspend") != 0 && strcmp(rest, "/force-suspend") != 0 &&
	              strcmp(rest, "/kill") != 0))
		return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such route");
	if (!(s = sessions_find(h->sessions, id)))
		return api_error(wsi, &r, HTTP_STATUS_NOT_FOUND, "no such session");
	audit_event(h->deps.db, user, strcmp(rest, "/kill") == 0 ? "admin-kill"
	                              : strcmp(rest, "/suspend") == 0 ? "admin-suspend"
	                                                              : "admin-force-suspend",
	            id, "session of %s", session_user(s));
	if (strcmp(rest, "/kill") == 0) {
		snprintf(reason, sizeof(reason), "killed by an administrator (%s)", user);
		if (session_kill(s, reason) < 0)
			return api_error(wsi, &r, HTTP_STATUS_CONFLICT, "the session is not running");
		return respond_json(wsi, &r, HTTP_STATUS_OK, json_pack("{s:b}", "ok", 1));
	}
	ps->api_session = s;
	rc = session_suspend(s, strcmp(rest, "/force-suspend") == 0, api_done, ps);
	if (rc == -EBUSY) {
		ps->api_session = NULL;
		return api_error(wsi, &r, HTTP_STATUS_CONFLICT, "a suspend is already in progress");
	}
	return 0; /* answered from api_done() */
}

/* ---- sessions: the console WebSocket ----------------------------------------------- */

static void ws_send(struct session_viewer *v, const char *json, size_t len)
{
	struct pss *ps = (struct pss *)((char *)v - offsetof(struct pss, viewer));
	struct ws_out *o;

	if (ps->out_overflow)
		return;
	if (ps->out_bytes + len > MAX_WS_QUEUED) {
		/* Flow control (sessions.h) keeps a reading browser far below
		 * this; one that stops reading is cut off rather than let grow
		 * our memory; it reconnects and gets recent output. */
		log_warnx("Closing a console of session %s: %zu bytes unsent",
		          v->session ? session_id(v->session) : "?", ps->out_bytes);
		ps->out_overflow = true;
		lws_set_timeout(ps->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
		return;
	}
	o = malloc(sizeof(*o) + LWS_PRE + len);
	if (!o)
		return;
	o->next = NULL;
	o->len = len;
	memcpy(o->data + LWS_PRE, json, len);
	ps->out_bytes += len;
	if (ps->out_tail) {
		/* A writable callback is already asked for (ws_writable asks
		 * again while anything is left): asking again would only have
		 * libuv re-register the socket with epoll. */
		ps->out_tail->next = o;
		ps->out_tail = o;
		return;
	}
	ps->out_head = ps->out_tail = o;
	lws_callback_on_writable(ps->wsi);
}

/*
 * Sends queued messages while the socket takes them. One message per
 * writable callback would cost a trip round the event loop (and lws's poll
 * bookkeeping) per message: an answer at the console is often five small
 * ones. lws_send_pipe_choked() says whether lws still holds part of the last
 * write or the socket is full; then we wait for the next callback. The
 * bound keeps one busy console from starving the others.
 */
static int ws_writable(struct lws *wsi, struct pss *ps)
{
	size_t sent = 0;

	while (ps->out_head && sent < WS_WRITE_BURST) {
		struct ws_out *o = ps->out_head;

		if (sent && lws_send_pipe_choked(wsi))
			break;
		if (lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT) < (int)o->len)
			return -1;
		ps->out_head = o->next;
		if (!ps->out_head)
			ps->out_tail = NULL;
		ps->out_bytes -= o->len;
		sent += o->len;
		free(o);
	}
	if (ps->out_head)
		lws_callback_on_writable(wsi);
	if (ps->out_bytes <= SESSION_VIEWER_LOW)
		session_viewer_drained(&ps->viewer);
	return 0;
}

static size_t ws_queued(struct session_viewer *v)
{
	struct pss *ps = (struct pss *)((char *)v - offsetof(struct pss, viewer));

	return ps->out_bytes;
}

static void ws_drop(struct session_viewer *v)
{
	struct pss *ps = (struct pss *)((char *)v - offsetof(struct pss, viewer));

	ps->out_overflow = true;
	lws_set_timeout(ps->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

/* Refuses an upgrade with an HTTP status (lws then closes). */
static int ws_refuse(struct lws *wsi, unsigned status, const char *why)
{
	struct response r = {.status = status, .type = "text/plain", .body = (char *)why};

	if (write_response_ex(wsi, &r, false) < 0)
		return -1;
	return 1;
}

/* Whether Origin names this server as the browser reached it: the scheme
 * we serve and the Host header. Browsers always send Origin with a
 * WebSocket; a page elsewhere cannot forge it. */
static bool same_origin(struct http *h, struct lws *wsi)
{
	char origin[512], host[300], want[320];

	header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
	header(wsi, WSI_TOKEN_HOST, host, sizeof(host));
	if (!host[0])
		header(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, host, sizeof(host));
	if (!origin[0] || !host[0])
		return false;
	snprintf(want, sizeof(want), "%s://%s",
	         conf_bool(rs_conf(h), RSERVER_SSL_ENABLED) ? "https" : "http", host);
	return strcasecmp(origin, want) == 0;
}

/* An upgrade to the console WebSocket: decide before lws answers 101. */
static int ws_confirm(struct http *h, struct lws *wsi, struct pss *ps)
{
	char path[256], id[DB_SESSION_ID_MAX + 1], user[COOKIE_USER_MAX + 1];
	const char *rest;
	struct session *s;
	bool offline = false;

	header(wsi, WSI_TOKEN_GET_URI, path, sizeof(path));
	rest = path_id(path, "/s/", id, sizeof(id));
	if (!rest || strcmp(rest, "/console") != 0)
		return ws_refuse(wsi, HTTP_STATUS_NOT_FOUND, "not found\n");
	if (!h->serving)
		return ws_refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "starting\n");
	{
		/* The offline page is written by page_offline_if(); here only
		 * the decision is needed. */
		char p[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/offline",
		         conf_str(h->deps.settings->database, DATABASE_DIRECTORY));
		offline = stat(p, &st) == 0;
	}
	if (offline)
		return ws_refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "offline\n");
	if (!same_origin(h, wsi)) {
		char origin[512];
		header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin));
		log_warnx("Refused a console WebSocket for session %s from origin '%s'", id,
		          origin[0] ? origin : "(none)");
		return ws_refuse(wsi, HTTP_STATUS_FORBIDDEN, "cross-origin WebSocket refused\n");
	}
	if (!auth_user(h, wsi, NULL, user, sizeof(user)))
		return ws_refuse(wsi, HTTP_STATUS_FORBIDDEN, "not signed in\n");
	s = sessions_find(h->sessions, id);
	if (!s)
		return ws_refuse(wsi, HTTP_STATUS_NOT_FOUND, "no such session\n");
	if (strcmp(session_user(s), user) != 0) {
		log_warnx("%s asked for the console of session %s of %s: refused", user, id,
		          session_user(s));
		return ws_refuse(wsi, HTTP_STATUS_FORBIDDEN, "not your session\n");
	}
	ps->ws_session = s;
	return 0;
}

static int ws_receive(struct lws *wsi, struct pss *ps, const void *in, size_t len)
{
	if (lws_frame_is_binary(wsi)) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		                 (unsigned char *)"text only", 9);
		return -1;
	}
	/* What the frame still announces counts too: a frame that declares
	 * a huge length is refused at its first bytes, not kept open. */
	if (ps->rx_len + len + lws_remaining_packet_payload(wsi) > MAX_WS_MESSAGE) {
		log_warnx("Closing a console of session %s: a message over %d bytes",
		          ps->viewer.session ? session_id(ps->viewer.session) : "?",
		          MAX_WS_MESSAGE);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		                 (unsigned char *)"message too large", 17);
		return -1;
	}
	if (len) {
		char *n = realloc(ps->rx, ps->rx_len + len);
		if (!n)
			return -1;
		ps->rx = n;
		memcpy(ps->rx + ps->rx_len, in, len);
		ps->rx_len += len;
	}
	if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
		session_viewer_message(&ps->viewer, ps->rx ? ps->rx : "", ps->rx_len);
		ps->rx_len = 0;
	}
	return 0;
}

static int page_signout(struct http *h, struct lws *wsi)
{
	char user[COOKIE_USER_MAX + 1], value[COOKIE_VALUE_SIZE], hash[COOKIE_HASH_SIZE];
	struct response r = {0};
	int64_t expires;
	bool persistent;

	/* Stored, so the cookie stays revoked after a restart. */
	if (signed_in(h, wsi, user, sizeof(user), &expires, &persistent, value, sizeof(value)) &&
	    cookie_token_hash(value, hash) == 0) {
		struct monbuf req;
		if (db_cookie_revoke(h->deps.db, hash, expires * 1000) < 0)
			log_errorx("Cannot revoke the cookie of %s: %s", user,
			           db_error(h->deps.db));
		else
			audit_event(h->deps.db, user, "sign-out", NULL, NULL);
		/* The monitor wipes the password it kept for starting this
		 * user's sessions (auth-pam-sessions-use-password). */
		if (monitor_client_request_signout(&h->mc, user, &req) == 0 &&
		    monitor_client_send(&h->mc, &req) < 0)
			log_errorx("Cannot tell the monitor that %s signed out", user);
	}
	add_cookie(h, &r, COOKIE_USER_ID, "", 0);
	return redirect(wsi, &r, "/auth-sign-in");
}

/* ---- sign-in ------------------------------------------------------------------ */

static void pending_drop(struct http *h, struct lws *wsi)
{
	for (size_t i = 0; i < MAX_PENDING_AUTH; i++)
		if (h->pending[i].wsi == wsi)
			h->pending[i].wsi = NULL;
}

/* The form arrived: check it, then ask the monitor. Returns -1 to close. */
static int signin_submit(struct http *h, struct lws *wsi, struct pss *ps)
{
	char field_token[COOKIE_CSRF_SIZE + 8], cookie_token[COOKIE_CSRF_SIZE + 8], cookies[4096],
	    stay[8] = "", password[4097];
	const struct conf *c = rs_conf(h);
	int64_t now = now_ms(), last = 0;
	int failures = 0;
	struct monbuf req;
	size_t slot;

	if (ps->body_too_big)
		return respond(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "text/plain",
		               "request body too large\n");
	/* CSRF: the form's token must equal the cookie's (double submit). */
	header(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies));
	if (form_get(ps->body, ps->body_len, "rs-csrf-token", field_token, sizeof(field_token)) <
	        0 ||
	    cookie_header_get(cookies, COOKIE_CSRF, cookie_token, sizeof(cookie_token)) < 0 ||
	    !cookie_csrf_equal(field_token, cookie_token)) {
		metrics_signin("csrf");
		log_warnx("Sign-in refused: missing or mismatched CSRF token");
		return respond(wsi, HTTP_STATUS_FORBIDDEN, "text/plain",
		               "missing or invalid rs-csrf-token\n");
	}
	if (form_get(ps->body, ps->body_len, "appUri", ps->app_uri, sizeof(ps->app_uri)) < 0 ||
	    !local_path(ps->app_uri))
		snprintf(ps->app_uri, sizeof(ps->app_uri), "/");
	ps->stay = form_get(ps->body, ps->body_len, "staySignedIn", stay, sizeof(stay)) == 0 &&
	           strcmp(stay, "1") == 0;
	if (form_get(ps->body, ps->body_len, "username", ps->user, sizeof(ps->user)) < 0 ||
	    !ps->user[0] ||
	    form_get(ps->body, ps->body_len, "password", password, sizeof(password)) < 0) {
		signin_failed(ps, 1);
		return write_response(wsi, &ps->resp);
	}

	/* Lockout, then throttle, both from the stored attempts: a restart
	 * does not reset them. Neither reaches PAM. */
	double lock_minutes = conf_decimal(c, RSERVER_AUTH_LOCKOUT_MINUTES);
	long long lock_attempts = conf_int(c, RSERVER_AUTH_LOCKOUT_ATTEMPTS);
	double throttle = conf_decimal(c, RSERVER_AUTH_SIGN_IN_THROTTLE_SECONDS);
	if (db_signin_state(h->deps.db, ps->user, now - (int64_t)(lock_minutes * 60000), &failures,
	                    &last) < 0) {
		explicit_bzero(password, sizeof(password));
		return respond(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain",
		               "sign-in unavailable\n");
	}
	if (lock_attempts > 0 && failures >= lock_attempts) {
		metrics_lockout();
		metrics_signin("locked_out");
		audit_event(h->deps.db, ps->user, "lockout", NULL, "%d failed sign-ins", failures);
		log_warnx("Sign-in of '%s' refused: locked out after %d failures", ps->user,
		          failures);
		explicit_bzero(password, sizeof(password));
		signin_failed(ps, 2);
		return write_response(wsi, &ps->resp);
	}
	if (throttle > 0 && last && now - last < (int64_t)(throttle * 1000)) {
		metrics_signin("throttled");
		log_warnx("Sign-in of '%s' refused: throttled (last attempt %lld ms ago)", ps->user,
		          (long long)(now - last));
		explicit_bzero(password, sizeof(password));
		signin_failed(ps, 3);
		return write_response(wsi, &ps->resp);
	}

	for (slot = 0; slot < MAX_PENDING_AUTH && h->pending[slot].wsi; slot++)
		;
	if (slot == MAX_PENDING_AUTH ||
	    monitor_client_request_auth(&h->mc, conf_str(c, RSERVER_AUTH_PAM_SERVICE), ps->user,
	                                password, &req) < 0) {
		explicit_bzero(password, sizeof(password));
		return respond(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
		               "too many sign-ins in progress\n");
	}
	explicit_bzero(password, sizeof(password));
	explicit_bzero(ps->body, ps->body_len);
	h->pending[slot].id = req.id;
	h->pending[slot].wsi = wsi;
	ps->waiting = true;
	if (monitor_client_send(&h->mc, &req) < 0) {
		h->pending[slot].wsi = NULL;
		ps->waiting = false;
		return respond(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
		               "sign-in unavailable\n");
	}
	return 0;
}

/* The monitor answered a sign-in. */
static void signin_answered(struct http *h, struct lws *wsi, const struct mon_auth_reply *a)
{
	struct pss *ps = pss_of(wsi, false);
	const struct conf *c = rs_conf(h);
	int64_t now = now_ms();

	if (!ps)
		return;
	ps->waiting = false;
	if (db_signin_record(h->deps.db, ps->user, now, a->result == MON_AUTH_OK) < 0)
		log_errorx("Cannot record the sign-in of %s: %s", ps->user, db_error(h->deps.db));
	metrics_signin(a->result == MON_AUTH_OK ? "ok" : mon_auth_result_name(a->result));
	if (a->result != MON_AUTH_OK)
		audit_event(h->deps.db, ps->user, "sign-in-failed", NULL, "%s",
		            mon_auth_result_name(a->result));
	if (a->result != MON_AUTH_OK) {
		/* The real reason is logged by the monitor; the browser gets
		 * one generic message, except when PAM accepted the password
		 * and then refused the account (pam_acct_mgmt: access rules,
		 * a locked account): saying so then reveals nothing the user
		 * does not know. */
		signin_failed(ps, a->result == MON_AUTH_DENIED ? 4 : 1);
	} else {
		char value[COOKIE_VALUE_SIZE];
		double minutes = conf_decimal(c, RSERVER_AUTH_TIMEOUT_MINUTES);
		double days = conf_decimal(c, RSERVER_AUTH_STAY_SIGNED_IN_DAYS);
		int64_t lifetime = ps->stay      ? (int64_t)(days * 86400)
		                   : minutes > 0 ? (int64_t)(minutes * 60)
		                                 : (int64_t)3650 * 86400;
		if (cookie_sign(h->deps.key, a->user, now / 1000 + lifetime, ps->stay, value,
		                sizeof(value)) < 0) {
			signin_failed(ps, 1);
		} else {
			add_cookie(h, &ps->resp, COOKIE_USER_ID, value, ps->stay ? lifetime : -1);
			ps->resp.status = HTTP_STATUS_FOUND;
			ps->resp.type = "text/plain";
			snprintf(ps->resp.location, sizeof(ps->resp.location), "%s", ps->app_uri);
			ps->resp.ready = true;
			audit_event(h->deps.db, a->user, "sign-in", NULL,
			            ps->stay ? "stay signed in" : NULL);
		}
	}
	lws_callback_on_writable(wsi);
}

static void on_monitor(uv_poll_t *poll, int status, int events)
{
	struct http *h = poll->data;
	uint8_t buf[16384];
	struct mon_reply reply;
	ssize_t n;
	int r;

	(void)events;
	n = status < 0 ? -1 : read(h->deps.monitor_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || monitor_client_feed(&h->mc, buf, (size_t)n) < 0) {
		log_errorx("The monitor has gone; rserver cannot authenticate or start sessions");
		uv_poll_stop(poll);
		if (h->deps.on_monitor_lost)
			h->deps.on_monitor_lost();
		return;
	}
	while ((r = monitor_client_next(&h->mc, &reply)) == 1) {
		for (size_t i = 0; i < MAX_PENDING_AUTH; i++) {
			if (h->pending[i].id != reply.id || !h->pending[i].wsi)
				continue;
			struct lws *wsi = h->pending[i].wsi;
			h->pending[i].wsi = NULL;
			if (reply.type == MON_AUTH_REP)
				signin_answered(h, wsi, &reply.auth);
		}
		if (reply.type == MON_RELOAD_REP) {
			if (reply.reload.result < 0)
				log_errorx("Reload: the monitor kept its settings: %s",
				           reply.reload.message);
			else
				log_info("Reload: monitor: %s", reply.reload.message);
		} else if (reply.type != MON_AUTH_REP && h->sessions) {
			sessions_monitor_reply(h->sessions, &reply);
		}
		mon_reply_free(&reply);
	}
	if (r < 0) {
		log_errorx("The monitor sent a malformed reply; stopping");
		uv_poll_stop(poll);
		if (h->deps.on_monitor_lost)
			h->deps.on_monitor_lost();
	}
}

/* ---- the callback -------------------------------------------------------------- */

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
	struct http *h = http_of(wsi);
	bool create = reason == LWS_CALLBACK_HTTP || reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE;
	struct pss *ps =
	    reason == LWS_CALLBACK_FILTER_NETWORK_CONNECTION ? NULL : pss_of(wsi, create);

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* in is the accepted socket; non-zero closes it at once. */
		return conns_admit((int)(intptr_t)in);
	case LWS_CALLBACK_HTTP: {
		const char *path = in;
		bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;

		if (!ps)
			return -1;
		/* Every browser sends Host (or :authority over HTTP/2); the
		 * same-origin checks need it. */
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0 &&
		    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY) <= 0) {
			log_warnx("Refused a request without a Host header");
			return respond(wsi, HTTP_STATUS_BAD_REQUEST, "text/plain",
			               "a Host header is required\n");
		}
		/* A kept-alive connection starts each request afresh. */
		pss_reset(ps);
		snprintf(ps->path, sizeof(ps->path), "%s", path);
		if (post && h->serving && strncmp(path, "/admin/api/", 11) == 0) {
			if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
				return 0; /* the body follows */
			return admin_post(h, wsi, ps);
		}
		if (post) {
			bool offline = false;
			if (h->serving) {
				int rc = page_offline_if(h, wsi, &offline);
				if (offline || rc < 0)
					return rc;
			}
			if (h->serving && strncmp(path, "/api/", 5) == 0) {
				/* A body, if any, is read first (it may hold the
				 * CSRF token); without one, answer now. */
				if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
					return 0;
				return api_post(h, wsi, ps);
			}
			if (!h->serving || strcmp(path, "/auth-do-sign-in") != 0)
				return respond(wsi, HTTP_STATUS_NOT_FOUND, "text/plain",
				               "not found\n");
			if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
				return respond(wsi, HTTP_STATUS_BAD_REQUEST, "text/plain",
				               "a form body is required\n");
			return 0; /* the body follows */
		}
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
			return respond(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain",
			               "method not allowed\n");
		if (strcmp(path, "/health-check") == 0)
			return respond(wsi, HTTP_STATUS_OK, "text/plain", "ok\n");
		/* Administration keeps working in offline mode. */
		if (h->serving && strcmp(path, "/metrics") == 0)
			return page_metrics(h, wsi);
		if (h->serving && (strcmp(path, "/admin") == 0 || strncmp(path, "/admin/", 7) == 0))
			return admin_get(h, wsi, path);
		if (strcmp(path, "/__ping__") == 0)
			return respond(wsi, HTTP_STATUS_OK, "application/json", "{}");
		if (!h->serving)
			return respond(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
			               "starting\n");
		{
			bool offline;
			int rc = page_offline_if(h, wsi, &offline);
			if (offline || rc < 0)
				return rc;
		}
		if (strcmp(path, "/auth-sign-in") == 0)
			return page_signin(h, wsi);
		if (strcmp(path, "/auth-sign-out") == 0)
			return page_signout(h, wsi);
		if (strcmp(path, "/") == 0)
			return page_home(h, wsi);
		if (strncmp(path, "/static/", 8) == 0)
			return page_static(wsi, path + 8);
		if (strncmp(path, "/api/", 5) == 0)
			return api_get(h, wsi, path);
		{
			char id[DB_SESSION_ID_MAX + 1];
			const char *rest = path_id(path, "/s/", id, sizeof(id));
			if (rest && strcmp(rest, "/") == 0)
				return page_console(h, wsi, id, path);
			if (rest && !*rest) {
				char loc[128];
				struct response r = {0};
				snprintf(loc, sizeof(loc), "/s/%s/", id);
				return redirect(wsi, &r, loc);
			}
		}
		return respond(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n");
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!ps)
			return -1;
		if (ps->body_too_big || ps->body_len + len > MAX_FORM_BYTES) {
			ps->body_too_big = true;
			return 0;
		}
		{
			char *nb = realloc(ps->body, ps->body_len + len + 1);
			if (!nb)
				return -1;
			ps->body = nb;
			if (len) /* an empty body comes as in == NULL */
				memcpy(ps->body + ps->body_len, in, len);
			ps->body_len += len;
			ps->body[ps->body_len] = '\0';
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (ps && (strncmp(ps->path, "/api/", 5) == 0 ||
		           strncmp(ps->path, "/admin/api/", 11) == 0)) {
			if (ps->body_too_big)
				return respond(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "text/plain",
				               "request body too large\n");
			return strncmp(ps->path, "/admin/", 7) == 0 ? admin_post(h, wsi, ps)
			                                            : api_post(h, wsi, ps);
		}
		if (!ps || !ps->body)
			return respond(wsi, HTTP_STATUS_BAD_REQUEST, "text/plain",
			               "a form body is required\n");
		return signin_submit(h, wsi, ps);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!ps || !ps->resp.ready)
			return 0;
		ps->resp.ready = false;
		return write_response(wsi, &ps->resp);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (!ps)
			return -1;
		if (!in || strcmp(in, "websocket") != 0)
			return ws_refuse(wsi, HTTP_STATUS_BAD_REQUEST, "unsupported upgrade\n");
		return ws_confirm(h, wsi, ps);
	case LWS_CALLBACK_ESTABLISHED:
		if (!ps || !ps->ws_session)
			return -1;
		ps->ws = true;
		ps->viewer.send = ws_send;
		ps->viewer.queued = ws_queued;
		ps->viewer.drop = ws_drop;
		/* Opening the console starts or resumes the session. */
		if (session_open(ps->ws_session) < 0)
			log_warnx("Cannot open session %s", session_id(ps->ws_session));
		session_attach(ps->ws_session, &ps->viewer);
		metrics_websockets(1);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return ps && ps->ws ? ws_receive(wsi, ps, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ps && ps->ws ? ws_writable(wsi, ps) : 0;
	case LWS_CALLBACK_CLOSED:
		if (ps && ps->ws) {
			session_detach(&ps->viewer);
			metrics_websockets(-1);
			ps->ws = false;
		}
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (ps) {
			if (ps->waiting)
				pending_drop(h, wsi);
			pss_reset(ps);
			free(ps);
			lws_set_opaque_user_data(wsi, NULL);
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", http_callback, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}, /* terminator */
};

/* lws logs through its own hook; route warnings and errors to ours. */
/*
 * lws logs through its own hook; route it to ours. Most of what lws calls
 * an error is a client's malformed request ("Ran out of header data
 * space"), which anyone can send without signing in: those are warnings,
 * at most LWS_LOG_BURST a minute, so that nobody can fill the log.
 */
#define LWS_LOG_BURST 20
static void lws_log(int level, const char *line)
{
	static time_t window;
	static unsigned in_window, suppressed;
	time_t now = time(NULL);
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	if (!(level & (LLL_ERR | LLL_WARN))) {
		log_debug("lws: %.*s", (int)n, line);
		return;
	}
	if (now - window >= 60) {
		if (suppressed)
			log_warnx("lws: %u more messages in the last minute not shown", suppressed);
		window = now;
		in_window = suppressed = 0;
	}
	if (++in_window > LWS_LOG_BURST) {
		suppressed++;
		return;
	}
	log_warnx("lws: %.*s", (int)n, line);
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
	/* Text frames must be UTF-8 (RFC 6455 8.1): lws fails a connection
	 * that sends anything else (close 1007) before we see it. */
	info.options = LWS_SERVER_OPTION_LIBUV |
	               LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
	               LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.port = (int)conf_int(s->rserver, RSERVER_WWW_PORT);
	/* lws takes NULL for "every address". */
	info.iface = conf_str(s->rserver, RSERVER_WWW_ADDRESS);
	if (strcmp(info.iface, "0.0.0.0") == 0 || strcmp(info.iface, "::") == 0)
		info.iface = NULL;
	info.protocols = protocols;
	info.max_http_header_data = MAX_HEADER_BYTES;
	info.timeout_secs = IDLE_TIMEOUT_S;
	info.vhost_name = "rserver";
	{
		/* Pings keep consoles' connections alive through proxies
		 * and find dead peers; a peer silent for three intervals is
		 * dropped (it reconnects). */
		double ping = conf_decimal(s->rsession, RSESSION_WEBSOCKET_PING_SECONDS);
		if (ping > 0) {
			h->retry.secs_since_valid_ping = (uint16_t)(ping < 1 ? 1 : ping);
			h->retry.secs_since_valid_hangup =
			    (uint16_t)(3 * h->retry.secs_since_valid_ping + 5);
			info.retry_and_idle_policy = &h->retry;
		}
	}
	if (conf_bool(s->rserver, RSERVER_SSL_ENABLED)) {
		/* Certificate and key are read here, as root: they may be
		 * readable by root only. TLS 1.0 and 1.1 are refused. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = conf_str(s->rserver, RSERVER_SSL_CERTIFICATE);
		info.ssl_private_key_filepath = conf_str(s->rserver, RSERVER_SSL_CERTIFICATE_KEY);
		info.ssl_options_set =
		    SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	}
	info.user = h;
	h->loop = loop;
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		snprintf(err, errsize,
		         "cannot serve HTTP%s on %s:%d (port in use, an unreadable or invalid "
		         "ssl-certificate/ssl-certificate-key, or the lws libuv plugin "
		         "libwebsockets-evlib-uv missing?)",
		         conf_bool(s->rserver, RSERVER_SSL_ENABLED) ? "S" : "",
		         conf_str(s->rserver, RSERVER_WWW_ADDRESS), info.port);
		free(h);
		return -EADDRINUSE;
	}
	*ret = h;
	return 0;
}

struct monitor_client *http_monitor_client(struct http *h)
{
	return &h->mc;
}

void http_set_sessions(struct http *h, struct sessions *ss, struct notices *n)
{
	h->sessions = ss;
	h->notices = n;
}

int http_serve(struct http *h, const struct http_deps *deps)
{
	int r;

	h->deps = *deps;
	monitor_client_init(&h->mc, deps->monitor_fd);
	r = uv_poll_init(h->loop, &h->mon_poll, deps->monitor_fd);
	if (r < 0)
		return r;
	h->mon_poll.data = h;
	r = uv_poll_start(&h->mon_poll, UV_READABLE, on_monitor);
	if (r < 0)
		return r;
	h->serving = true;
	return 0;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	if (h->serving) {
		uv_poll_stop(&h->mon_poll);
		uv_close((uv_handle_t *)&h->mon_poll, NULL);
		h->serving = false;
	}
	lws_context_destroy(h->ctx);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	/* The second call completes the destruction the first one started,
	 * now that the loop has closed lws's handles. */
	lws_context_destroy(h->ctx);
	monitor_client_free(&h->mc);
	free(h);
	free(conns);
	conns = NULL;
	nconns = conns_cap = 0;
}
