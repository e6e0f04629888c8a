/*
 * max-rss-mb: a memory cgroup per session, limiting the resident memory of
 * the whole session tree (R and everything it starts). cgroup v2
 * (memory.max) where the unified hierarchy has the memory controller, v1
 * (memory.limit_in_bytes) otherwise. The group is created under the
 * launcher's own cgroup, so it stays inside whatever the service manager
 * gave rserver.
 */
#ifndef RSERVER_CGROUP_H
#define RSERVER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cgroup {
	char *path;
	int version; /* 1 or 2 */
};

/* Creates <own cgroup>/rserver-<id> with the limit. */
int cgroup_create(const char *session_id, unsigned long long limit_bytes, struct cgroup **ret,
                  char *err, size_t errsize);

/* Moves pid (0: the caller) into the group. */
int cgroup_join(const struct cgroup *cg, pid_t pid, char *err, size_t errsize);

/* Whether the kernel OOM-killed a process of the group. */
bool cgroup_oom_killed(const struct cgroup *cg);

/* Removes the (empty) group and frees cg. Accepts NULL. */
void cgroup_remove(struct cgroup *cg);

#endif
