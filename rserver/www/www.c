/*
 * The embedded web files; see www.h.
 */
#include "www.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "webutil.h"

const struct www_file *www_find(const char *name)
{
	for (const struct www_file *f = www_files; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

const char *www_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static const char *lookup(const char *const *vars, const char *key, size_t keylen)
{
	for (size_t i = 0; vars && vars[i] && vars[i + 1]; i += 2)
		if (strlen(vars[i]) == keylen && memcmp(vars[i], key, keylen) == 0)
			return vars[i + 1];
	return "";
}

char *www_render(const char *name, const char *const *vars)
{
	const struct www_file *f = www_find(name);
	size_t cap, len = 0;
	char *out;
	const char *p;

	if (!f)
		return NULL;
	cap = f->len + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (p = f->data; *p;) {
		const char *open = strstr(p, "{{"), *close = NULL, *value = "";
		bool raw = open && open[2] == '{';
		size_t lit, vlen;
		char esc[8192] = "";

		if (open)
			close = strstr(open + (raw ? 3 : 2), raw ? "}}}" : "}}");
		lit = close ? (size_t)(open - p) : strlen(p);
		if (close) {
			const char *key = open + (raw ? 3 : 2);
			value = lookup(vars, key, (size_t)(close - key));
			if (!raw) {
				if (html_escape(value, esc, sizeof(esc)) < 0)
					esc[0] = '\0';
				value = esc;
			}
		}
		vlen = strlen(value);
		if (len + lit + vlen + 1 > cap) {
			size_t ncap = (len + lit + vlen + 1) * 2;
			char *n = realloc(out, ncap);
			if (!n) {
				free(out);
				return NULL;
			}
			out = n;
			cap = ncap;
		}
		memcpy(out + len, p, lit);
		len += lit;
		memcpy(out + len, value, vlen);
		len += vlen;
		p = close ? close + (raw ? 3 : 2) : p + lit;
	}
	out[len] = '\0';
	return out;
}
