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

char *fs_sibling_program(const char *self, const char *name)
{
	char buf[PATH_MAX], *slash, *p;

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
	if (asprintf(&p, "%s/%s", buf, name) < 0)
		return NULL;
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return asprintf(&p, "%s/../%s/%s", buf, name, name) < 0 ? NULL : p;
}
