/*
 * The HTTP/WebSocket front of the network process: libwebsockets on our
 * libuv loop (a "foreign loop"), one vhost, the routes of SPEC.md.
 */
#ifndef RSERVER_HTTP_H
#define RSERVER_HTTP_H

#include <uv.h>

#include "settings.h"

struct http;

/*
 * Creates the lws context on loop and binds www-address:www-port (as root,
 * before privileges are dropped). On error writes a message and returns a
 * negative errno.
 */
int http_start(uv_loop_t *loop, const struct settings *s, struct http **ret, char *err,
	       size_t errsize);

/* Stops accepting and closes every connection; the loop then drains. */
void http_stop(struct http *h);

#endif
