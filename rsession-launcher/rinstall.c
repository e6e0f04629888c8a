/*
 * Finding R; see rinstall.h.
 */
#include "rinstall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strutil.h"

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* R_HOME_DIR=... from an R launcher script, literal values only. */
static char *script_home(const char *script)
{
	char *buf, *home = NULL;
	size_t len;

	if (file_read_all(script, 1024 * 1024, &buf, &len) < 0)
		return NULL;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "R_HOME_DIR=", 11) == 0) {
			char *v = str_trim(line + 11);
			size_t n = strlen(v);
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
				v[n - 1] = '\0';
				v++;
			}
			if (v[0] == '/' && !strpbrk(v, "$`"))
				home = strdup(v);
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return home;
}

int rinstall_find(const char *r_version, const char *which_r, const char *path, char **ret_home,
                  char *err, size_t errsize)
{
	char *exe = NULL, *home;

	if (r_version) {
		char *script;
		if (asprintf(&script, "%s/bin/R", r_version) < 0)
			return -ENOMEM;
		bool ok = is_executable_file(script);
		free(script);
		if (!ok) {
			snprintf(err, errsize, "r-version %s: no R installation there", r_version);
			return -ENOENT;
		}
		home = strdup(r_version);
		if (!home)
			return -ENOMEM;
		*ret_home = home;
		return 0;
	}
	if (which_r) {
		if (!is_executable_file(which_r)) {
			snprintf(err, errsize, "rsession-which-r %s: no R executable there",
			         which_r);
			return -ENOENT;
		}
		exe = strdup(which_r);
	} else {
		char *copy = strdup(path), *save = NULL;
		if (!copy)
			return -ENOMEM;
		for (char *dir = strtok_r(copy, ":", &save); dir && !exe;
		     dir = strtok_r(NULL, ":", &save)) {
			char *cand;
			if (dir[0] != '/' || asprintf(&cand, "%s/R", dir) < 0)
				continue;
			if (is_executable_file(cand))
				exe = cand;
			else
				free(cand);
		}
		free(copy);
		if (!exe) {
			snprintf(err, errsize, "no R on PATH (%s); set rsession-which-r", path);
			return -ENOENT;
		}
	}
	if (!exe)
		return -ENOMEM;
	home = script_home(exe);
	if (!home) {
		snprintf(err, errsize, "%s: not an R launcher script (no R_HOME_DIR line)", exe);
		free(exe);
		return -ENOENT;
	}
	free(exe);
	*ret_home = home;
	return 0;
}
