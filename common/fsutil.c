/*
 * File-system helpers; see fsutil.h.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_fsync_path(const char *path, bool directory)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (directory ? O_DIRECTORY : 0));
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int fs_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return fs_fsync_path(".", true);
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return fs_fsync_path(dir, true);
}

/* The helpers' directory relative to the directory of rserver and
 * rstudio-server, as installed (CMake computes it from the install dirs). */
#ifndef RSERVER_HELPER_RELDIR
#define RSERVER_HELPER_RELDIR "../lib/rserver"
#endif

/*
 * "<dir>/<rel>/<name>" with each ".." of rel taking away the last
 * component of dir, so that paths in messages read as installed
 * ("/usr/lib/rserver/rsession-launcher"). Lexical, which is right as long
 * as dir holds no symbolic links: the programs pass /proc/self/exe or a
 * realpath().
 */
static char *join(const char *dir, const char *rel, const char *name)
{
	size_t n = strlen(dir);
	char *p;

	while (strncmp(rel, "../", 3) == 0) {
		const char *slash = memrchr(dir, '/', n);
		size_t last = slash ? n - (size_t)(slash - dir) : 0; /* "/component" */
		/* Nothing lexical to take away ("x", "a/.."): keep the "..". */
		if (!slash || (last == 3 && memcmp(slash, "/..", 3) == 0))
			break;
		n = (size_t)(slash - dir);
		rel += 3;
	}
	if (asprintf(&p, "%.*s/%s%s%s", (int)n, dir, rel, *rel ? "/" : "", name) < 0)
		return NULL;
	return p;
}

/* Sets *ret to the i-th place to look; whether it is an executable file. */
static int candidate(char **ret, int i, const char *dir, const char *name)
{
	char rel[PATH_MAX];
	struct stat st;

	/* In order: an installed program beside another (rsession beside
	 * rsession-launcher, rserver beside rstudio-server); a helper seen from
	 * sbin; the build tree, where each program has a directory of its own. */
	switch (i) {
	case 0:
		*ret = join(dir, "", name);
		break;
	case 1:
		*ret = join(dir, RSERVER_HELPER_RELDIR, name);
		break;
	default:
		if (snprintf(rel, sizeof(rel), "../%s", name) >= (int)sizeof(rel))
			return -ENAMETOOLONG;
		*ret = join(dir, rel, name);
		break;
	}
	if (!*ret)
		return -ENOMEM;
	return stat(*ret, &st) == 0 && S_ISREG(st.st_mode) && access(*ret, X_OK) == 0;
}

char *fs_sibling_program(const char *self, const char *name)
{
	char buf[PATH_MAX], *slash, *p, *first = NULL;

	if (self) {
		if (snprintf(buf, sizeof(buf), "%s", self) >= (int)sizeof(buf))
			return NULL;
	} else {
		ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
		if (n <= 0)
			return NULL;
		buf[n] = '\0';
	}
	slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	for (int i = 0; i < 3; i++) {
		int r = candidate(&p, i, buf, name);
		if (r < 0) {
			free(first);
			return NULL;
		}
		if (r > 0) {
			free(first);
			return p;
		}
		/* Nothing found: name the first place looked, the simplest. */
		if (!first)
			first = p;
		else
			free(p);
	}
	return first;
}
