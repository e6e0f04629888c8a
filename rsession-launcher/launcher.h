/*
 * rsession-launcher: the root parent of one R session.
 *
 * The monitor runs it as
 *   rsession-launcher --user USER --session-id ID [--resume]
 *                     [--config-dir DIR] [--password-fd 5]
 *                     [--start-timeout-ms N] [--KEY=VALUE ...]
 * with fd 3 the session's listening socket and fd 4 the write end of a
 * status pipe. On fd 4 it writes one line, then closes it:
 *   "ok <pid>"                 the session is running as <pid>
 *   "fail <step> <message>"    nothing was started; <step> names the step
 * and it exits with that step's code. "ok" comes once the session's
 * process has become rsession (the exec chain and any supervisor have run:
 * see STEP_START); --start-timeout-ms bounds that wait (default 30 s).
 * After "ok" it stays as the session's
 * root parent (holding the PAM session), and when the session ends it
 * writes <server-data-dir>/sessions/<id>.exit (JSON) and exits with the
 * session's status (its exit code, or 128 + signal).
 */
#ifndef RSERVER_LAUNCHER_H
#define RSERVER_LAUNCHER_H

#define LAUNCHER_STATUS_FD 4
#define LAUNCHER_SOCKET_FD 3

/* One exit code per step (systemd's exec-invoke.c style). */
enum launch_step {
	STEP_ARGS = 200,  /* command line */
	STEP_FDS,         /* fds 0-4 sane, others closed */
	STEP_SESSION,     /* setsid, signals */
	STEP_CONFIG,      /* rserver.conf, profiles */
	STEP_USER,        /* the user may run sessions */
	STEP_PROFILE,     /* the user's profile */
	STEP_R,           /* the R installation */
	STEP_LIMITS,      /* rlimits */
	STEP_PAM,         /* the PAM session */
	STEP_TMPDIR,      /* the per-session TMPDIR */
	STEP_DIAGNOSTICS, /* the diagnostics file */
	STEP_FORK,        /* fork */
	STEP_NICE,        /* child: nice */
	STEP_AFFINITY,    /* child: CPU affinity */
	STEP_CGROUP,      /* child: memory cgroup */
	STEP_GROUPS,      /* child: supplementary groups */
	STEP_UID,         /* child: setresgid/setresuid and the proof */
	STEP_ENV,         /* child: the environment */
	STEP_CHDIR,       /* child: the home directory */
	STEP_EXEC,        /* child: exec */
	/* Added later, so numbered after the others: the exit codes above
	 * stay what they were. In the order of the sequence, sandbox comes
	 * before PAM (the plan) and in the child before the groups;
	 * supervisor with the command line; start last. */
	STEP_SANDBOX,    /* session-sandbox-enabled: the plan, the namespace */
	STEP_SUPERVISOR, /* rsession-exec-command: absolute path, executable */
	STEP_START,      /* after exec: the process did not become rsession */
	STEP_MAX
};

const char *launch_step_name(enum launch_step s);

#endif
