/*
 * libFuzzer target for the web decoders that read what any client sends
 * before signing in: form_get() (the sign-in form and API bodies, URL
 * decoding), local_path() (appUri, the redirect target), with
 * url_encode() and html_escape() as oracles:
 *  - a decoded field never holds a NUL and fits its buffer;
 *  - url_encode() of a decoded field, decoded again, gives the same bytes;
 *  - html_escape() output holds none of < > " ' and every & starts an entity;
 *  - local_path() accepts only "/" followed by something that is not "/" or
 *    "\\", and no control characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"username", "password", "appUri", "rs-csrf-token", "a"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size + 1), field[512], enc[3 * 512 + 16], back[512], esc[6 * 512 + 1];

	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (form_get(body, size, names[i], field, sizeof(field)) != 0)
			continue;
		if (strlen(field) >= sizeof(field))
			abort();
		/* Round trip: encode, wrap as a form, decode. */
		if (url_encode(field, enc, sizeof(enc)) == 0) {
			char form[3 * 512 + 32];
			snprintf(form, sizeof(form), "x=%s", enc);
			if (form_get(form, strlen(form), "x", back, sizeof(back)) != 0 ||
			    strcmp(back, field) != 0)
				abort();
		}
		if (html_escape(field, esc, sizeof(esc)) == 0) {
			if (strpbrk(esc, "<>\"'"))
				abort();
			for (const char *p = strchr(esc, '&'); p; p = strchr(p + 1, '&'))
				if (strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) &&
				    strncmp(p, "&quot;", 6) && strncmp(p, "&#39;", 5) && strncmp(p, "&#x27;", 6))
					abort();
		}
	}
	/* The whole input as a redirect target. */
	if (strlen(body) == size && local_path(body)) {
		if (body[0] != '/' || body[1] == '/' || body[1] == '\\')
			abort();
		for (const char *p = body; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
	free(body);
	return 0;
}
