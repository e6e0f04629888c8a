/*
 * Diagnostics list; see diag.h.
 */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_init(struct diag *d)
{
	memset(d, 0, sizeof(*d));
}

void diag_free(struct diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->entries[i].file);
		free(d->entries[i].message);
	}
	free(d->entries);
	memset(d, 0, sizeof(*d));
}

/*
 * Messages quote file contents, which may hold terminal control sequences;
 * escape every control byte so that printing a problem is always safe.
 */
static char *escape_controls(char *msg)
{
	size_t n = 0, len = strlen(msg);
	char *out, *o;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			n++;
	if (n == 0)
		return msg;
	out = malloc(len + 3 * n + 1);
	if (!out) {
		free(msg);
		return NULL;
	}
	o = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c < 0x20 || c == 0x7f)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	free(msg);
	return out;
}

int diag_add(struct diag *d, enum diag_severity severity, const char *file, unsigned line,
             const char *fmt, ...)
{
	struct diag_entry e = {.severity = severity, .line = line};
	va_list ap;
	int r;

	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct diag_entry *v = reallocarray(d->entries, ncap, sizeof(*v));
		if (!v)
			goto oom;
		d->entries = v;
		d->cap = ncap;
	}
	e.file = strdup(file ? file : "(unknown)");
	va_start(ap, fmt);
	r = vasprintf(&e.message, fmt, ap);
	va_end(ap);
	if (r >= 0)
		e.message = escape_controls(e.message);
	if (!e.file || r < 0 || !e.message) {
		free(e.file);
		if (r >= 0)
			free(e.message);
		goto oom;
	}
	d->entries[d->n++] = e;
	if (severity == DIAG_ERROR)
		d->nerrors++;
	return 0;
oom:
	d->oom = true;
	return -ENOMEM;
}

size_t diag_errors(const struct diag *d)
{
	return d->nerrors + (d->oom ? 1 : 0);
}

void diag_print(const struct diag *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct diag_entry *e = &d->entries[i];
		const char *sev = e->severity == DIAG_ERROR ? "error" : "warning";

		if (e->line)
			fprintf(out, "%s:%u: %s: %s\n", e->file, e->line, sev, e->message);
		else
			fprintf(out, "%s: %s: %s\n", e->file, sev, e->message);
	}
	if (d->oom)
		fprintf(out, "error: out of memory while recording problems\n");
}
