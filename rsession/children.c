/*
 * Stopping a session's descendants; see children.h.
 *
 * Descendants are found through /proc (each process's parent pid), not the
 * process group: R's system() and callr-style helpers may start their own
 * process groups or sessions, and they still belong to the user's session.
 */
#include "children.h"

#include "proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Whether our parent is rsession-launcher, whose process session holds
 * exactly this R session's processes. By its argv[0]: /proc/<pid>/exe of a
 * root process is not readable by the user, and a parent faking the name
 * could only expose the user's own processes to our signals.
 */
static bool parent_is_launcher(void)
{
	char path[64], argv0[4096];
	const char *base;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)getppid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, argv0, sizeof(argv0) - 1);
	close(fd);
	if (n <= 0)
		return false;
	argv0[n] = '\0';
	base = strrchr(argv0, '/');
	return strcmp(base ? base + 1 : argv0, "rsession-launcher") == 0 && getsid(0) == getppid();
}

int children_stop(void)
{
	pid_t pids[4096];
	size_t max = sizeof(pids) / sizeof(pids[0]);
	size_t n = proc_descendants(getpid(), pids, max);
	struct timespec pause = {0, 50 * 1000 * 1000};

	/* A background job (system("cmd &")) is orphaned at once and no
	 * longer our descendant, but it stays in the process session the
	 * launcher made for this R session. Only under the launcher: run
	 * standalone, the session may hold anything. */
	if (parent_is_launcher()) {
		pid_t more[4096];
		size_t m = proc_in_session(getsid(0), getpid(), more, max);
		for (size_t i = 0; i < m && n < max; i++) {
			bool dup = false;
			for (size_t j = 0; j < n && !dup; j++)
				dup = pids[j] == more[i];
			if (!dup)
				pids[n++] = more[i];
		}
	}
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
