/*
 * Web helpers; see webutil.h.
 */
#include "webutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes src[0..n) into out; -EBADMSG, -E2BIG. */
static int form_decode(const char *src, size_t n, char *out, size_t outsize)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -EBADMSG;
			hi = hexval(src[i + 1]);
			lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EBADMSG;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -EBADMSG;
		if (o + 1 >= outsize)
			return -E2BIG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int form_get(const char *body, size_t len, const char *name, char *out, size_t outsize)
{
	size_t nlen = strlen(name);
	const char *found = NULL;
	size_t found_len = 0;

	for (size_t start = 0; start <= len;) {
		const char *amp = memchr(body + start, '&', len - start);
		size_t end = amp ? (size_t)(amp - body) : len;
		const char *item = body + start;
		size_t ilen = end - start;

		if (ilen > nlen && item[nlen] == '=' && memcmp(item, name, nlen) == 0) {
			if (found)
				return -EBADMSG;
			found = item + nlen + 1;
			found_len = ilen - nlen - 1;
		} else if (ilen == nlen && memcmp(item, name, nlen) == 0) {
			if (found)
				return -EBADMSG;
			found = item + nlen;
			found_len = 0;
		}
		if (!amp)
			break;
		start = end + 1;
	}
	if (!found)
		return -ENOENT;
	return form_decode(found, found_len, out, outsize);
}

int html_escape(const char *in, char *out, size_t outsize)
{
	size_t o = 0;

	for (; *in; in++) {
		const char *rep = NULL;
		char one[2] = {*in, '\0'};
		switch (*in) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			rep = one;
			break;
		}
		size_t n = strlen(rep);
		if (o + n >= outsize)
			return -E2BIG;
		memcpy(out + o, rep, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

int url_encode(const char *in, char *out, size_t outsize)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		             (*p >= '0' && *p <= '9') || strchr("-._~", *p);
		if (o + (plain ? 1 : 3) >= outsize)
			return -E2BIG;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

bool local_path(const char *target)
{
	if (!target || target[0] != '/' || target[1] == '/' || target[1] == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)target; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}
