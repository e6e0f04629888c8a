/*
 * Small web helpers with sharp edges: decoding form bodies, escaping for
 * HTML and URLs, and deciding whether a redirect target is local.
 */
#ifndef RSERVER_WEBUTIL_H
#define RSERVER_WEBUTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Finds field name in an application/x-www-form-urlencoded body and
 * decodes its value ('+' is a space, %XX a byte) into out. -ENOENT if
 * absent, -EBADMSG for a malformed escape, a NUL byte or a field given
 * twice (ambiguity is refused), -E2BIG if it does not fit.
 */
int form_get(const char *body, size_t len, const char *name, char *out, size_t outsize);

/* Escapes & < > " ' for HTML text and attribute values. -E2BIG if it does
 * not fit. */
int html_escape(const char *in, char *out, size_t outsize);

/* Percent-encodes everything but unreserved characters (RFC 3986). */
int url_encode(const char *in, char *out, size_t outsize);

/*
 * Whether target is a path on this server: it starts with one "/", is not
 * "//host" or "/\host" (which browsers treat as another host), and holds
 * no control characters. Anything else must not be a redirect target.
 */
bool local_path(const char *target);

#endif
