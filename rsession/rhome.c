/*
 * R installation discovery; see rhome.h.
 */
#include "rhome.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strutil.h"

/* Finds "NAME=value" at the start of a line of script; a value that uses
 * shell expansion is not taken literally. */
static char *script_value(const char *script, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = script; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *end;
		char *v;

		if (strncmp(p, name, n) != 0 || p[n] != '=')
			continue;
		p += n + 1;
		end = strchr(p, '\n');
		v = str_copy_n(p, end ? (size_t)(end - p) : strlen(p));
		if (!v)
			return NULL;
		char *t = str_trim(v);
		size_t tl = strlen(t);
		if (tl >= 2 && (t[0] == '\'' || t[0] == '"') && t[tl - 1] == t[0]) {
			t[tl - 1] = '\0';
			t++;
		}
		if (t[0] != '/' || strpbrk(t, "$`")) {
			free(v);
			return NULL;
		}
		memmove(v, t, strlen(t) + 1);
		return v;
	}
	return NULL;
}

int rhome_setup(const char *r_home, char *err, size_t errsize)
{
	static const struct {
		const char *var, *sub;
	} dirs[] = {
	    {"R_SHARE_DIR", "share"},
	    {"R_INCLUDE_DIR", "include"},
	    {"R_DOC_DIR", "doc"},
	};
	char *script_path = NULL, *script = NULL;
	size_t len;
	struct stat st;
	int r = 0;

	if (r_home[0] != '/' || stat(r_home, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "R not found at %s: not a directory", r_home);
		return -ENOENT;
	}
	if (asprintf(&script_path, "%s/bin/R", r_home) < 0)
		return -ENOMEM;
	r = file_read_all(script_path, 1024 * 1024, &script, &len);
	if (r < 0) {
		snprintf(err, errsize, "R not found at %s: cannot read %s: %s", r_home, script_path,
		         strerror(-r));
		free(script_path);
		return r;
	}
	free(script_path);
	if (setenv("R_HOME", r_home, 1) < 0)
		r = -errno;
	for (size_t i = 0; r == 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *v = script_value(script, dirs[i].var);
		if (!v && asprintf(&v, "%s/%s", r_home, dirs[i].sub) < 0)
			v = NULL;
		if (!v) {
			r = -ENOMEM;
			break;
		}
		if (setenv(dirs[i].var, v, 1) < 0)
			r = -errno;
		free(v);
	}
	free(script);
	if (r < 0)
		snprintf(err, errsize, "cannot set the R environment: %s", strerror(-r));
	return r;
}
