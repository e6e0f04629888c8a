/*
 * Stopping a session's descendants; see children.h.
 *
 * Descendants are found through /proc (each process's parent pid), not the
 * process group: R's system() and callr-style helpers may start their own
 * process groups or sessions, and they still belong to the user's session.
 */
#include "children.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
static size_t descendants(pid_t root, pid_t *out, size_t max)
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

int children_stop(void)
{
	pid_t pids[4096];
	size_t n = descendants(getpid(), pids, sizeof(pids) / sizeof(pids[0]));
	struct timespec pause = {0, 50 * 1000 * 1000};

	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (int tries = 0; tries < 20; tries++) {
		size_t alive = 0;
		for (size_t i = 0; i < n; i++)
			if (kill(pids[i], 0) == 0)
				alive++;
		if (alive == 0)
			break;
		nanosleep(&pause, NULL);
	}
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	return (int)n;
}
