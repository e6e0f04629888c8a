/*
 * The pages, scripts and styles rserver serves, embedded at build time
 * (embed-www.cmake) from the files in this directory.
 */
#ifndef RSERVER_WWW_H
#define RSERVER_WWW_H

#include <stddef.h>

struct www_file {
	const char *name; /* "console.html" */
	const char *data; /* NUL-terminated */
	size_t len;
};

/* Terminated by an entry with name NULL. */
extern const struct www_file www_files[];

/* The file called name, or NULL. */
const struct www_file *www_find(const char *name);

/* The Content-Type for a file name by its extension. */
const char *www_type(const char *name);

/*
 * The file called name with every "{{key}}" replaced by its value, HTML
 * escaped, and every "{{{key}}}" by its value as it is (trusted HTML: the
 * administrator's server-public-warning). vars holds key, value pairs and
 * ends with NULL. A placeholder without a value is left empty. Returns a malloc'd string or NULL (no
 * such file, out of memory).
 */
char *www_render(const char *name, const char *const *vars);

#endif
