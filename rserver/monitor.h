/*
 * The monitor: the small root part of rserver (after OpenSSH's monitor).
 *
 * rserver forks it at start, before the network process drops to
 * server-user; the two share a socketpair speaking common/monproto.h. The
 * monitor answers six requests and nothing else:
 *   authenticate  PAM, in a child process per request, killed on timeout;
 *                 with auth-pam-sessions-use-password the password is
 *                 kept, encrypted, for later launches
 *   launch        create the session socket, run rsession-launcher (or
 *                 answer MON_LAUNCH_STEP_SIGN_IN when the launch needs a
 *                 sign-in password that is no longer kept)
 *   signal        a session's rsession, after checking the pid is that
 *                 user's rsession for that session id
 *   stats         CPU time and resident memory of rsession processes
 *   reload        re-read the configuration files (rserver got SIGHUP);
 *                 the monitor reads them itself, as root: the network
 *                 process is not trusted to hand it settings
 *   sign-out      wipe the user's kept sign-in password
 * A malformed or unknown message from the network process ends the
 * monitor (fail closed): a confused peer must not be served.
 */
#ifndef RSERVER_MONITOR_H
#define RSERVER_MONITOR_H

#include <stddef.h>
#include <sys/types.h>

#include "cmdline.h"
#include "settings.h"

struct monitor_config {
	/* rserver.conf etc., already checked. The monitor's (forked) copy
	 * takes the reloadable values on a reload. */
	struct settings *settings;
	/* How rserver was started, so that a reload reads the same files
	 * and re-applies the same --key=value overrides; NULL: no reload. */
	const struct cmdline *cmdline;
	const char *launcher_path; /* NULL: beside rserver */
	/* --KEY=VALUE arguments given to rserver, passed on to launchers. */
	char **overrides;
	size_t noverrides;
	int auth_timeout_ms;   /* 0: 30 s */
	int launch_timeout_ms; /* 0: 60 s */
};

/*
 * Forks the monitor. The child never returns; the parent gets the child's
 * pid and its end of the socketpair. Call as root.
 */
int monitor_spawn(const struct monitor_config *cfg, pid_t *ret_pid, int *ret_fd);

/* The monitor's loop, for a process that already is the monitor. */
void monitor_main(int fd, const struct monitor_config *cfg) __attribute__((noreturn));

#endif
