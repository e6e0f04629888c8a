/*
 * Process trees from /proc; see proc.h.
 */
#include "proc.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROCS 65536

struct proc {
	pid_t pid, ppid;
};

/* Reads the parent pid from /proc/<pid>/stat, whose second field (the
 * command name) may contain spaces and parentheses: parse after the last
 * ')'. */
static pid_t read_ppid(pid_t pid)
{
	char path[64], buf[512], *close;
	FILE *f;
	size_t n;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	close = strrchr(buf, ')');
	if (!close || sscanf(close + 1, " %*c %d", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
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

/* Field 6 of /proc/<pid>/stat, parsed after the command name. */
static pid_t read_sid(pid_t pid)
{
	char path[64], buf[512], *close;
	FILE *f;
	size_t n;
	int sid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	close = strrchr(buf, ')');
	if (!close || sscanf(close + 1, " %*c %*d %*d %d", &sid) != 1)
		return -1;
	return (pid_t)sid;
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
