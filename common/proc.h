/*
 * Process trees, from /proc. Descendants are found by parent pid, not by
 * process group or session: programs (pam_exec, R's system(), callr) start
 * their own groups and sessions and still belong to whoever started them.
 */
#ifndef RSERVER_PROC_H
#define RSERVER_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Fields of /proc/<pid>/stat. */
struct proc_stat {
	pid_t ppid;
	pid_t sid;
	unsigned long long utime, stime; /* clock ticks */
	unsigned long long starttime;    /* clock ticks after boot */
};

/*
 * Reads /proc/<pid>/stat. The command name (field 2) may hold spaces and
 * parentheses, so fields are parsed after its last ')'. -ENOENT when the
 * process is gone, -EBADMSG when the line does not parse.
 */
int proc_stat(pid_t pid, struct proc_stat *ret);

/* The real uid of pid (the "Uid:" line of /proc/<pid>/status). -ENOENT
 * when the process is gone, -EBADMSG when the file does not parse. */
int proc_uid(pid_t pid, uid_t *ret);

/* Collects up to max descendants of root (not root itself) into out;
 * returns how many. A snapshot: call it before killing, since an orphan is
 * adopted by init and no longer found. */
size_t proc_descendants(pid_t root, pid_t *out, size_t max);

/* Collects up to max processes whose session id is sid, other than sid
 * itself and skip; returns how many. */
size_t proc_in_session(pid_t sid, pid_t skip, pid_t *out, size_t max);

#endif
