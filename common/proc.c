/*
 * Process trees from /proc; see proc.h.
 */
#include "proc.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

#define MAX_PROCS 65536

struct proc {
	pid_t pid, ppid;
};

int proc_stat(pid_t pid, struct proc_stat *ret)
{
	char path[64], buf[1024], *close;
	struct proc_stat st;
	FILE *f;
	size_t n;
	int ppid, sid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	close = strrchr(buf, ')');
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime priority nice threads itreal
	 * starttime */
	if (!close || sscanf(close + 1,
	                     " %*c %d %*d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
	                     "%*d %*d %*d %llu",
	                     &ppid, &sid, &st.utime, &st.stime, &st.starttime) != 5)
		return -EBADMSG;
	st.ppid = (pid_t)ppid;
	st.sid = (pid_t)sid;
	*ret = st;
	return 0;
}

int proc_uid(pid_t pid, uid_t *ret)
{
	char path[64], *buf, *p;
	size_t len;
	unsigned uid;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = file_read_all(path, 65536, &buf, &len);
	if (r < 0)
		return r == -ENOENT || r == -ESRCH ? -ENOENT : r;
	p = strstr(buf, "\nUid:");
	r = p && sscanf(p + 5, "%u", &uid) == 1 ? 0 : -EBADMSG;
	free(buf);
	if (r == 0)
		*ret = (uid_t)uid;
	return r;
}

static pid_t read_ppid(pid_t pid)
{
	struct proc_stat st;

	return proc_stat(pid, &st) == 0 ? st.ppid : -1;
}

static bool in_list(const pid_t *list, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == pid)
			return true;
	return false;
}

/* Collects descendants of root into out; returns their number. */
size_t proc_descendants(pid_t root, pid_t *out, size_t max)
{
	struct proc *procs = calloc(MAX_PROCS, sizeof(*procs));
	size_t nprocs = 0, nout = 0;
	struct dirent *e;
	DIR *d;

	if (!procs)
		return 0;
	d = opendir("/proc");
	if (!d) {
		free(procs);
		return 0;
	}
	while ((e = readdir(d)) && nprocs < MAX_PROCS) {
		pid_t pid, ppid;
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atoi(e->d_name);
		ppid = read_ppid(pid);
		if (ppid > 0)
			procs[nprocs++] = (struct proc){pid, ppid};
	}
	closedir(d);
	/* Repeat until nothing is added: each pass adds the children of
	 * everything found so far, however the list is ordered. */
	for (bool added = true; added;) {
		added = false;
		for (size_t i = 0; i < nprocs && nout < max; i++) {
			if (in_list(out, nout, procs[i].pid))
				continue;
			if (procs[i].ppid == root || in_list(out, nout, procs[i].ppid)) {
				out[nout++] = procs[i].pid;
				added = true;
			}
		}
	}
	free(procs);
	return nout;
}

static pid_t read_sid(pid_t pid)
{
	struct proc_stat st;

	return proc_stat(pid, &st) == 0 ? st.sid : -1;
}

size_t proc_in_session(pid_t sid, pid_t skip, pid_t *out, size_t max)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		pid_t pid;
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atoi(e->d_name);
		if (pid != sid && pid != skip && read_sid(pid) == sid)
			out[n++] = pid;
	}
	closedir(d);
	return n;
}
