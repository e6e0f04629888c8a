/*
 * Dropping root for good; see privdrop.h.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int privdrop_permanently(const char *user, uid_t uid, gid_t gid, bool lift_nproc, char *err,
			 size_t errsize)
{
	struct rlimit nproc, unlimited = {RLIM_INFINITY, RLIM_INFINITY};
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (user ? initgroups(user, gid) < 0 : setgroups(0, NULL) < 0) {
		snprintf(err, errsize, "%s: %s", user ? "initgroups" : "setgroups",
			 strerror(errno));
		return -errno;
	}
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(err, errsize, "setresgid %u: %s", (unsigned)gid, strerror(errno));
		return -errno;
	}
	if (lift_nproc) {
		getrlimit(RLIMIT_NPROC, &nproc);
		setrlimit(RLIMIT_NPROC, &unlimited);
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(err, errsize, "setresuid %u: %s", (unsigned)uid, strerror(errno));
		return -errno;
	}
	if (lift_nproc && setrlimit(RLIMIT_NPROC, &nproc) < 0) {
		snprintf(err, errsize, "restoring RLIMIT_NPROC: %s", strerror(errno));
		return -errno;
	}
	if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid ||
	    getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid) {
		snprintf(err, errsize, "ids did not change as asked");
		return -EPERM;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errsize, "root could be regained after dropping privileges");
		return -EPERM;
	}
	if (gid != 0 && uid != 0 && (setgid(0) != -1 || setegid(0) != -1)) {
		snprintf(err, errsize, "group root could be regained after dropping privileges");
		return -EPERM;
	}
	return 0;
}
