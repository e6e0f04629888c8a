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
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monitor-client.h"
#include "strutil.h"
#include "webutil.h"

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

#define MAX_FORM_BYTES   (64 * 1024)
#define MAX_PENDING_AUTH 256
#define SIGNIN_PAGE_SIZE 8192

struct http {
	struct lws_context *ctx;
	void *loops[1];
	uv_loop_t *loop;
	struct http_deps deps;
	struct monitor_client mc;
	uv_poll_t mon_poll;
	bool serving;
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

/* Per connection: the request being served. */
struct pss {
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
		if (ps)
			lws_set_opaque_user_data(wsi, ps);
	}
	return ps;
}

static void pss_reset(struct pss *ps)
{
	if (ps->body) {
		explicit_bzero(ps->body, ps->body_len);
		free(ps->body);
	}
	memset(ps, 0, sizeof(*ps));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct http *http_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static const struct conf *rs_conf(struct http *h)
{
	return h->deps.settings->rserver;
}

/* Writes a whole response: status, headers, cookies, body. */
static int write_response(struct lws *wsi, const struct response *r)
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
	return lws_http_transaction_completed(wsi) ? -1 : 0;
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

static const char *const signin_errors[] = {
    NULL,
    "Incorrect username or password.",
    "This account is locked after too many failed sign-ins. Try again later.",
    "Too many sign-in attempts. Wait a moment and try again.",
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

static int page_signin(struct http *h, struct lws *wsi)
{
	char token[COOKIE_CSRF_SIZE + 1], app[1024] = "/", app_html[4096], err[8] = "";
	char *page = NULL;
	const char *message = NULL;
	bool fresh;
	struct response r = {.status = HTTP_STATUS_OK, .type = "text/html; charset=utf-8"};
	int rc;

	csrf_token(wsi, token, sizeof(token), &fresh);
	if (!url_arg(wsi, "appUri=", app, sizeof(app)) || !local_path(app))
		snprintf(app, sizeof(app), "/");
	if (url_arg(wsi, "error=", err, sizeof(err)) && err[0] >= '1' && err[0] <= '3' && !err[1])
		message = signin_errors[err[0] - '0'];
	if (html_escape(app, app_html, sizeof(app_html)) < 0)
		snprintf(app_html, sizeof(app_html), "/");
	if (asprintf(&page,
	             "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	             "<title>Sign in - rserver</title></head><body>\n"
	             "<main><h1>Sign in</h1>\n%s%s%s"
	             "<form method=\"post\" action=\"/auth-do-sign-in\">\n"
	             "<p><label for=\"username\">Username</label> "
	             "<input id=\"username\" name=\"username\" autocomplete=\"username\" autofocus "
	             "required></p>\n"
	             "<p><label for=\"password\">Password</label> "
	             "<input id=\"password\" name=\"password\" type=\"password\" "
	             "autocomplete=\"current-password\" required></p>\n"
	             "<p><label><input type=\"checkbox\" name=\"staySignedIn\" value=\"1\"> "
	             "Stay signed in</label></p>\n"
	             "<input type=\"hidden\" name=\"appUri\" value=\"%s\">\n"
	             "<input type=\"hidden\" name=\"rs-csrf-token\" value=\"%s\">\n"
	             "<p><button type=\"submit\">Sign in</button></p>\n</form></main>\n"
	             "</body></html>\n",
	             message ? "<p role=\"alert\">" : "", message ? message : "",
	             message ? "</p>\n" : "", app_html, token) < 0)
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

/* Sets r to the sign-in page's redirect with an error and the target. */
static void signin_failed(struct response *r, int error, const char *app)
{
	char enc[3 * 1024 + 1] = "%2F";

	url_encode(app, enc, sizeof(enc));
	r->status = HTTP_STATUS_FOUND;
	r->type = "text/plain";
	snprintf(r->location, sizeof(r->location), "/auth-sign-in?error=%d&appUri=%s", error, enc);
	r->ready = true;
}

static int page_home(struct http *h, struct lws *wsi)
{
	char user[COOKIE_USER_MAX + 1], value[COOKIE_VALUE_SIZE], user_html[1600], *page = NULL;
	struct response r = {.status = HTTP_STATUS_OK, .type = "text/html; charset=utf-8"};
	int64_t expires;
	bool persistent;
	int rc;

	if (!signed_in(h, wsi, user, sizeof(user), &expires, &persistent, value, sizeof(value)))
		return redirect(wsi, &r, "/auth-sign-in?appUri=%2F");
	/* A sign-in without "stay signed in" lasts auth-timeout-minutes from
	 * the last activity: renew it, at most once a minute. */
	double minutes = conf_decimal(rs_conf(h), RSERVER_AUTH_TIMEOUT_MINUTES);
	int64_t now = now_ms() / 1000;
	if (!persistent && minutes > 0 && expires - now < (int64_t)(minutes * 60) - 60) {
		char renewed[COOKIE_VALUE_SIZE];
		if (cookie_sign(h->deps.key, user, now + (int64_t)(minutes * 60), false, renewed,
		                sizeof(renewed)) == 0)
			add_cookie(h, &r, COOKIE_USER_ID, renewed, -1);
	}
	html_escape(user, user_html, sizeof(user_html));
	if (asprintf(&page,
	             "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	             "<title>rserver</title></head><body><main>\n"
	             "<p>Signed in as %s</p>\n<p><a href=\"/auth-sign-out\">Sign out</a></p>\n"
	             "</main></body></html>\n",
	             user_html) < 0)
		return -1;
	r.body = page;
	rc = write_response(wsi, &r);
	free(page);
	return rc;
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
		if (db_cookie_revoke(h->deps.db, hash, expires * 1000) < 0)
			log_errorx("Cannot revoke the cookie of %s: %s", user,
			           db_error(h->deps.db));
		else
			log_info("User %s signed out", user);
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
		signin_failed(&ps->resp, 1, ps->app_uri);
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
		log_warnx("Sign-in of '%s' refused: locked out after %d failures", ps->user,
		          failures);
		explicit_bzero(password, sizeof(password));
		signin_failed(&ps->resp, 2, ps->app_uri);
		return write_response(wsi, &ps->resp);
	}
	if (throttle > 0 && last && now - last < (int64_t)(throttle * 1000)) {
		log_warnx("Sign-in of '%s' refused: throttled (last attempt %lld ms ago)", ps->user,
		          (long long)(now - last));
		explicit_bzero(password, sizeof(password));
		signin_failed(&ps->resp, 3, ps->app_uri);
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
	if (a->result != MON_AUTH_OK) {
		/* The real reason is logged by the monitor; the browser gets
		 * one generic message. */
		signin_failed(&ps->resp, 1, ps->app_uri);
	} else {
		char value[COOKIE_VALUE_SIZE];
		double minutes = conf_decimal(c, RSERVER_AUTH_TIMEOUT_MINUTES);
		double days = conf_decimal(c, RSERVER_AUTH_STAY_SIGNED_IN_DAYS);
		int64_t lifetime = ps->stay      ? (int64_t)(days * 86400)
		                   : minutes > 0 ? (int64_t)(minutes * 60)
		                                 : (int64_t)3650 * 86400;
		if (cookie_sign(h->deps.key, a->user, now / 1000 + lifetime, ps->stay, value,
		                sizeof(value)) < 0) {
			signin_failed(&ps->resp, 1, ps->app_uri);
		} else {
			add_cookie(h, &ps->resp, COOKIE_USER_ID, value, ps->stay ? lifetime : -1);
			ps->resp.status = HTTP_STATUS_FOUND;
			ps->resp.type = "text/plain";
			snprintf(ps->resp.location, sizeof(ps->resp.location), "%s", ps->app_uri);
			ps->resp.ready = true;
			db_audit_add(h->deps.db, now, a->user, "sign-in", NULL, NULL);
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
	struct pss *ps = reason == LWS_CALLBACK_FILTER_NETWORK_CONNECTION ? NULL
	                 : reason == LWS_CALLBACK_HTTP                    ? pss_of(wsi, true)
	                                                                  : pss_of(wsi, false);

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* in is the accepted socket; non-zero closes it at once. */
		return conns_admit((int)(intptr_t)in);
	case LWS_CALLBACK_HTTP: {
		const char *path = in;
		bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;

		if (!ps)
			return -1;
		/* A kept-alive connection starts each request afresh. */
		pss_reset(ps);
		snprintf(ps->path, sizeof(ps->path), "%s", path);
		if (post) {
			bool offline = false;
			if (h->serving) {
				int rc = page_offline_if(h, wsi, &offline);
				if (offline || rc < 0)
					return rc;
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
			memcpy(ps->body + ps->body_len, in, len);
			ps->body_len += len;
			ps->body[ps->body_len] = '\0';
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!ps || !ps->body)
			return respond(wsi, HTTP_STATUS_BAD_REQUEST, "text/plain",
			               "a form body is required\n");
		return signin_submit(h, wsi, ps);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!ps || !ps->resp.ready)
			return 0;
		ps->resp.ready = false;
		return write_response(wsi, &ps->resp);
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
