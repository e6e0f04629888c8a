/*
 * The HTTP/WebSocket front of the network process: libwebsockets on our
 * libuv loop (a "foreign loop"), one vhost, the routes of SPEC.md.
 */
#ifndef RSERVER_HTTP_H
#define RSERVER_HTTP_H

#include <uv.h>

#include "cookie.h"
#include "db.h"
#include "settings.h"

struct http;

/* What the routes need from the rest of the network process. */
struct http_deps {
	const struct settings *settings;
	struct db *db;                 /* set before http_serve() */
	const struct cookie_key *key;  /* set before http_serve() */
	int monitor_fd;                /* the socketpair to the monitor */
	void (*on_monitor_lost)(void); /* the monitor has gone: stop */
};

/*
 * Creates the lws context on loop and binds www-address:www-port (as root,
 * before privileges are dropped). On error writes a message and returns a
 * negative errno.
 */
int http_start(uv_loop_t *loop, const struct settings *s, struct http **ret, char *err,
               size_t errsize);

/* Starts serving the routes that need deps (after the database and key
 * are open): watches the monitor socket on loop. */
int http_serve(struct http *h, const struct http_deps *deps);

/* The connection to the monitor, once serving (for sessions.h). */
struct monitor_client *http_monitor_client(struct http *h);

/* The session registry and notices the routes use; set after http_serve(). */
struct sessions;
struct notices;
void http_set_sessions(struct http *h, struct sessions *ss, struct notices *n);

/* Stops accepting and closes every connection; the loop then drains. */
void http_stop(struct http *h);

/* Frees what is left once the loop has run dry after http_stop(). With a
 * foreign loop lws finishes destroying its context only after its libuv
 * handles have closed, which takes loop iterations. Accepts NULL. */
void http_free(struct http *h);

#endif
