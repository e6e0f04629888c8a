/*
 * Memory cgroups for sessions; see cgroup.h.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strutil.h"

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[4096];
	ssize_t n;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n < 0)
		r = -errno;
	close(fd);
	return r;
}

/* The line of /proc/self/cgroup for a controller ("memory") or, for the
 * unified hierarchy, the "0::" line. */
static char *own_cgroup(const char *controller)
{
	char *buf, *found = NULL;
	size_t len;

	if (file_read_all("/proc/self/cgroup", 65536, &buf, &len) < 0)
		return NULL;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n'), *c1, *c2;
		if (nl)
			*nl = '\0';
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c1 && c2) {
			*c2 = '\0';
			bool match = controller ? strstr(c1 + 1, controller) != NULL
			                        : strcmp(line, "0") == 0 && c1[1] == '\0';
			if (match) {
				found = strdup(c2 + 1);
				break;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return found;
}

/* The mount point of the v1 memory controller, from mountinfo. */
static char *memory_mount(char **ret_root)
{
	char *buf, *found = NULL;
	size_t len;

	if (file_read_all("/proc/self/mountinfo", 1024 * 1024, &buf, &len) < 0)
		return NULL;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		char root[1024], mnt[1024], fstype[64], super[512];
		const char *dash;
		if (nl)
			*nl = '\0';
		dash = strstr(line, " - ");
		if (dash && sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) == 2 &&
		    sscanf(dash + 3, "%63s %*s %511s", fstype, super) == 2 &&
		    strcmp(fstype, "cgroup") == 0 && strstr(super, "memory")) {
			found = strdup(mnt);
			*ret_root = strdup(root);
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return found;
}

int cgroup_create(const char *session_id, unsigned long long limit_bytes, struct cgroup **ret,
                  char *err, size_t errsize)
{
	struct cgroup *cg = calloc(1, sizeof(*cg));
	char *own = NULL, *mnt = NULL, *mroot = NULL, value[32];
	struct stat st;
	int r;

	if (!cg)
		return -ENOMEM;
	snprintf(value, sizeof(value), "%llu", limit_bytes);
	if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
		char *controllers;
		size_t len;
		cg->version = 2;
		own = own_cgroup(NULL);
		if (file_read_all("/sys/fs/cgroup/cgroup.controllers", 4096, &controllers, &len) ==
		    0) {
			bool has = strstr(controllers, "memory") != NULL;
			free(controllers);
			if (!has) {
				snprintf(err, errsize, "cgroup v2 has no memory controller");
				r = -EOPNOTSUPP;
				goto fail;
			}
		}
		if (!own || asprintf(&cg->path, "/sys/fs/cgroup%s%srserver-%s", own,
		                     own[strlen(own) - 1] == '/' ? "" : "/", session_id) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	} else {
		const char *rel;
		cg->version = 1;
		own = own_cgroup("memory");
		mnt = memory_mount(&mroot);
		if (!own || !mnt || !mroot) {
			snprintf(err, errsize, "no memory cgroup controller is mounted");
			r = -EOPNOTSUPP;
			goto fail;
		}
		/* The group path is relative to the mount's root. */
		rel = own;
		if (strcmp(mroot, "/") != 0 && strncmp(own, mroot, strlen(mroot)) == 0)
			rel = own + strlen(mroot);
		if (asprintf(&cg->path, "%s%s%srserver-%s", mnt, rel,
		             rel[strlen(rel) - 1] == '/' ? "" : "/", session_id) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (mkdir(cg->path, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errsize, "cannot create %s: %s", cg->path, strerror(errno));
		goto fail;
	}
	r = write_file(cg->path, cg->version == 2 ? "memory.max" : "memory.limit_in_bytes", value);
	if (r < 0) {
		snprintf(err, errsize, "cannot set the memory limit in %s: %s", cg->path,
		         strerror(-r));
		rmdir(cg->path);
		goto fail;
	}
	/* Swap counts too where the kernel accounts it, so a limit is a limit. */
	if (cg->version == 1)
		(void)write_file(cg->path, "memory.memsw.limit_in_bytes", value);
	else
		(void)write_file(cg->path, "memory.swap.max", "0");
	free(own);
	free(mnt);
	free(mroot);
	*ret = cg;
	return 0;
fail:
	free(own);
	free(mnt);
	free(mroot);
	free(cg->path);
	free(cg);
	return r;
}

int cgroup_join(const struct cgroup *cg, pid_t pid, char *err, size_t errsize)
{
	char value[32];
	int r;

	snprintf(value, sizeof(value), "%d", (int)(pid ? pid : getpid()));
	r = write_file(cg->path, "cgroup.procs", value);
	if (r < 0)
		snprintf(err, errsize, "cannot join %s: %s", cg->path, strerror(-r));
	return r;
}

bool cgroup_oom_killed(const struct cgroup *cg)
{
	char path[4096], *buf, *p;
	size_t len;
	bool killed = false;

	snprintf(path, sizeof(path), "%s/%s", cg->path,
	         cg->version == 2 ? "memory.events" : "memory.oom_control");
	if (file_read_all(path, 65536, &buf, &len) < 0)
		return false;
	p = strstr(buf, "oom_kill ");
	if (p)
		killed = strtoull(p + 9, NULL, 10) > 0;
	free(buf);
	return killed;
}

void cgroup_remove(struct cgroup *cg)
{
	if (!cg)
		return;
	/* Processes that outlive the session (session-quit-child-processes-
	 * on-exit=0) keep the group busy; it is then left for the next
	 * launch of this id to reuse. */
	rmdir(cg->path);
	free(cg->path);
	free(cg);
}
