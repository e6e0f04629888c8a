/*
 * The session sandbox; see sandbox.h.
 *
 * Why each step is where it is:
 *   - The session's temporary directory is opened (O_PATH) before anything
 *     is masked, and bound from /proc/self/fd: it lives under
 *     session-temp-dir, which is itself masked. It is opened after
 *     unshare: the kernel binds only from mounts of the caller's own
 *     namespace (EINVAL otherwise), and unshare copied them all.
 *   - Propagation is made MS_SLAVE, recursively, before the first mount:
 *     without it, on a host where / is shared (systemd makes it so), the
 *     masks would appear in every other process's view. Slave rather than
 *     private: nothing of ours reaches the host either way, and with slave
 *     the host's later mounts (an automounted home directory, an NFS share
 *     mounted after the session started) still reach the session, as they
 *     do for systemd's PrivateTmp.
 *   - Masks go before the /tmp binds, so that a mask under /tmp (a test
 *     setup, an odd server-data-dir) is covered by the private /tmp rather
 *     than shadowing part of it.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Whether path is dir or inside it. */
static bool inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	for (size_t i = 0; i < sb->nmasks; i++)
		free(sb->masks[i].path);
	free(sb->masks);
	sb->masks = NULL;
	sb->nmasks = 0;
}

/* Adds path (resolved) unless it does not exist or an existing mask covers
 * it; drops existing masks that it covers. */
static int add_mask(struct sandbox *sb, const char *path, const char *what)
{
	struct sandbox_mask *n;
	char *real;

	if (!path || !*path)
		return 0;
	real = realpath(path, NULL);
	if (!real)
		return errno == ENOMEM ? -ENOMEM : 0;
	for (size_t i = 0; i < sb->nmasks; i++)
		if (inside(real, sb->masks[i].path)) {
			free(real);
			return 0;
		}
	for (size_t i = 0; i < sb->nmasks;)
		if (inside(sb->masks[i].path, real)) {
			free(sb->masks[i].path);
			sb->masks[i] = sb->masks[--sb->nmasks];
		} else {
			i++;
		}
	n = reallocarray(sb->masks, sb->nmasks + 1, sizeof(*n));
	if (!n) {
		free(real);
		return -ENOMEM;
	}
	sb->masks = n;
	sb->masks[sb->nmasks++] = (struct sandbox_mask){.path = real, .what = what};
	return 0;
}

int sandbox_plan(const struct settings *s, const char *config_dir, struct sandbox *ret)
{
	struct sandbox sb = {0};
	const char *key = conf_str(s->rserver, RSERVER_SECURE_COOKIE_KEY_FILE);
	char *key_dir = key ? strdup(key) : NULL;
	int r;

	if (key && !key_dir)
		return -ENOMEM;
	r = add_mask(&sb, config_dir, "the config directory");
	if (r == 0)
		r = add_mask(&sb, conf_str(s->database, DATABASE_DIRECTORY),
		             "the database directory (database.conf directory)");
	if (r == 0 && key_dir)
		r = add_mask(&sb, dirname(key_dir), "the directory of secure-cookie-key-file");
	if (r == 0)
		r = add_mask(&sb, conf_str(s->rserver, RSERVER_SERVER_DATA_DIR), "server-data-dir");
	if (r == 0)
		r = add_mask(&sb, conf_str(s->rserver, RSERVER_SESSION_TEMP_DIR), "session-temp-dir");
	free(key_dir);
	if (r < 0) {
		sandbox_free(&sb);
		return r;
	}
	*ret = sb;
	return 0;
}

/* Hidden too, though not masked: replaced by the session's own. */
static const struct sandbox_mask replaced[] = {
    {(char *)"/tmp", "the host's /tmp, which the session's private /tmp replaces"},
    {(char *)"/var/tmp", "the host's /var/tmp, which the session's private /tmp replaces"},
};

const struct sandbox_mask *sandbox_hides(const struct sandbox *sb, const char *path)
{
	char *real = realpath(path, NULL);
	const char *p = real ? real : path;
	const struct sandbox_mask *found = NULL;

	for (size_t i = 0; i < sb->nmasks && !found; i++)
		if (inside(p, sb->masks[i].path))
			found = &sb->masks[i];
	for (size_t i = 0; i < sizeof(replaced) / sizeof(replaced[0]) && !found; i++)
		if (inside(p, replaced[i].path))
			found = &replaced[i];
	free(real);
	return found;
}

/* Binds the directory open as fd on target, nosuid and nodev, keeping the
 * source's noexec. */
static int bind_tmp(int fd, const char *target, char *err, size_t errsize)
{
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
	char src[64];
	struct statvfs vfs;

	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_NOEXEC))
		flags |= MS_NOEXEC;
	if (mount(src, target, NULL, MS_BIND, NULL) < 0 || mount(NULL, target, NULL, flags, NULL) < 0) {
		int e = errno;
		snprintf(err, errsize, "cannot mount the session's temporary directory on %s: %s",
		         target, strerror(e));
		return -e;
	}
	return 0;
}

int sandbox_enter(const struct sandbox *sb, const char *tmp_dir, char *err, size_t errsize)
{
	struct stat st;
	int fd = -1, r = 0;

	if (unshare(CLONE_NEWNS) < 0) {
		r = -errno;
		snprintf(err, errsize,
		         "session-sandbox-enabled=1, but the kernel refused the session a mount "
		         "namespace of its own (unshare: %s); the sandbox needs rserver to run with "
		         "CAP_SYS_ADMIN, which an unprivileged container does not have. Set "
		         "session-sandbox-enabled=0 to run sessions without the sandbox",
		         strerror(-r));
		goto out;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		r = -errno;
		snprintf(err, errsize, "cannot make the session's mounts private: %s", strerror(-r));
		goto out;
	}
	fd = open(tmp_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsize, "cannot open %s: %s", tmp_dir, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < sb->nmasks; i++) {
		const struct sandbox_mask *m = &sb->masks[i];
		if (mount("rserver-sandbox", m->path, "tmpfs",
		          MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") == 0)
			continue;
		/* Gone since the plan: nothing left to hide. */
		if (errno == ENOENT)
			continue;
		r = -errno;
		snprintf(err, errsize, "cannot mask %s (%s): %s", m->path, m->what, strerror(-r));
		goto out;
	}
	r = bind_tmp(fd, "/tmp", err, errsize);
	/* /var/tmp is optional (minimal containers); /tmp is not. */
	if (r == 0 && stat("/var/tmp", &st) == 0 && S_ISDIR(st.st_mode))
		r = bind_tmp(fd, "/var/tmp", err, errsize);
out:
	if (fd >= 0)
		close(fd);
	return r;
}
