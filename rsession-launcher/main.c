/*
 * rsession-launcher: turns root into the user for one R session; see
 * launcher.h for how the monitor runs it.
 *
 * main() is one linear sequence. Each step has its own exit code; a failure
 * reports "fail <step> <message>" on the status pipe, undoes what earlier
 * steps set up (PAM session, cgroup, TMPDIR, in reverse) and exits with the
 * step's code. The order is deliberate:
 *
 *   parent (root)                         child (root, then the user)
 *   1  arguments                          13 nice (negative needs root)
 *   2  fds 0-4 sane, all others closed    14 CPU affinity, checked against
 *   3  own session (setsid), signals         the online cores
 *   4  rserver.conf, profiles             15 join the memory cgroup
 *   5  the user may run sessions          16 the sandbox (session-sandbox-
 *   6  the user's profile                    enabled): own mount namespace,
 *   7  the R installation; the               masks, private /tmp
 *      supervisor: absolute, executable   17 supplementary groups
 *   8  the sandbox's plan, refused if it  18 setresgid, setresuid (with
 *      would hide the home, R, rsession      RLIMIT_NPROC lifted around it,
 *   9  rlimits, before PAM so that           as sudo does) and the proof
 *      pam_limits has the last word          that root cannot come back
 *   10 PAM: acct_mgmt, setcred, open      19 the supervisor is executable
 *   11 per-session TMPDIR, diagnostics       by the user
 *   12 fork, then wait until the child    20 environment from an allow-list
 *      has become rsession: a supervisor  21 chdir home
 *      that never execs its target is     22 exec: bash (profile scripts),
 *      reported and stopped, not waited      the supervisor, rsession
 *      on forever
 *
 * The parent stays as the session's root parent: it holds the PAM session
 * and, when the session ends, closes it (auth-pam-sessions-close=1, or a
 * forced suspend), removes the cgroup and TMPDIR, records how the session
 * ended and exits with its status. It is a child subreaper, so whatever
 * the session orphans is its child too: a failed start can stop all of it,
 * and it reaps what ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "command.h"
#include "cpulist.h"
#include "fsutil.h"
#include "launcher.h"
#include "log.h"
#include "pamsession.h"
#include "privdrop.h"
#include "profiles.h"
#include "proc.h"
#include "rinstall.h"
#include "sandbox.h"
#include "secret.h"
#include "sessproto.h"
#include "settings.h"
#include "strutil.h"

#define SANE_PATH "/usr/local/bin:/usr/bin:/bin"
#define MAX_ENV   256
/* Descriptors the child hands to the shells of the exec chain (closed
 * before the supervisor runs): the diagnostics file, which the login shell
 * appends the environment to, and, in the sandbox, rsession-profile, whose
 * directory the session cannot see. */
#define CHILD_PROFILE_FD 4
#define CHILD_DIAG_FD    5
/* How long the session's process may take to become rsession. */
#define START_TIMEOUT_MS 30000
#define STRINGIFY_(x)    #x
#define STRINGIFY(x)     STRINGIFY_(x)

static const char *const step_names[STEP_MAX - STEP_ARGS] = {
    "arguments", "fds",    "session", "config",      "user",  "profile", "r",
    "limits",    "pam",    "tmpdir",  "diagnostics", "fork",  "nice",    "affinity",
    "cgroup",    "groups", "uid",     "environment", "chdir", "exec",  "sandbox", "supervisor",
    "start",
};

const char *launch_step_name(enum launch_step s)
{
	return s >= STEP_ARGS && s < STEP_MAX ? step_names[s - STEP_ARGS] : "?";
}

/* Everything the steps set up, for the later steps and for undoing. */
static struct launch {
	/* arguments */
	const char *user;
	const char *session_id;
	const char *config_dir;
	bool resume;
	int password_fd;
	int start_timeout_ms;
	const char *overrides[128][2]; /* --KEY=VALUE for rserver/rsession.conf */
	size_t noverrides;

	/* state */
	int status_fd; /* to the monitor; -1 once closed */
	struct settings settings;
	struct passwd pw;
	char *pw_buf;
	char **groups;
	size_t ngroups;
	struct profiles profiles;
	struct profile_effective profile[PROFILE_NKEYS];
	char *r_home;
	char *rsession_path;
	struct secret *password;
	struct pamsession *pam; /* open */
	char *tmpdir;           /* created */
	char *diag_path;        /* created */
	int diag_fd;            /* open on diag_path */
	struct cgroup *cgroup;  /* created */
	bool sandboxed;         /* session-sandbox-enabled */
	struct sandbox sandbox; /* its masks */
	char **exec_argv;
	bool has_supervisor; /* exec_argv[0] is rsession-exec-command's */
	pid_t child;
} L = {.status_fd = LAUNCHER_STATUS_FD,
       .password_fd = -1,
       .diag_fd = -1,
       .start_timeout_ms = START_TIMEOUT_MS};

/* ---- reporting ---------------------------------------------------------- */

static void status_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void status_line(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	ssize_t n;

	if (L.status_fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	/* One line: a message never carries a newline of its own. */
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	strcat(line, "\n");
	n = write(L.status_fd, line, strlen(line));
	(void)n;
	close(L.status_fd);
	L.status_fd = -1;
}

/* Removes the per-session TMPDIR as the user, never as root: the tree is
 * the user's, and root following their symlinks would be a hole. */
static void remove_tmpdir(void)
{
	pid_t pid;

	if (!L.tmpdir)
		return;
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 ||
		    setresgid(L.pw.pw_gid, L.pw.pw_gid, L.pw.pw_gid) < 0 ||
		    setresuid(L.pw.pw_uid, L.pw.pw_uid, L.pw.pw_uid) < 0)
			_exit(1);
		/* The contents only: the directory itself is in root's. find
		 * -delete never follows symbolic links. */
		execl("/usr/bin/find", "find", L.tmpdir, "-xdev", "-mindepth", "1", "-delete",
		      (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	/* The user emptied it; its parent is root's, so root removes it. */
	if (rmdir(L.tmpdir) < 0 && errno != ENOENT)
		log_warn("Cannot remove %s", L.tmpdir);
	free(L.tmpdir);
	L.tmpdir = NULL;
}

/* Undoes the parent's steps in reverse. */
static void undo(bool close_pam)
{
	cgroup_remove(L.cgroup);
	L.cgroup = NULL;
	remove_tmpdir();
	pamsession_close(L.pam, close_pam);
	L.pam = NULL;
	secret_free(L.password);
	L.password = NULL;
}

static void fail(enum launch_step step, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void fail(enum launch_step step, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_errorx("Session %s of %s: %s failed: %s", L.session_id ? L.session_id : "?",
	           L.user ? L.user : "?", launch_step_name(step), msg);
	status_line("fail %s %s", launch_step_name(step), msg);
	undo(true);
	exit(step);
}

/* ---- parent steps --------------------------------------------------------- */

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--user") == 0 && next) {
			L.user = argv[++i];
		} else if (strcmp(a, "--session-id") == 0 && next) {
			L.session_id = argv[++i];
		} else if (strcmp(a, "--config-dir") == 0 && next) {
			L.config_dir = argv[++i];
		} else if (strcmp(a, "--password-fd") == 0 && next) {
			long long fd;
			if (str_to_llong(argv[++i], 5, 5, &fd) < 0)
				fail(STEP_ARGS, "--password-fd must be 5");
			L.password_fd = (int)fd;
		} else if (strcmp(a, "--start-timeout-ms") == 0 && next) {
			long long ms;
			if (str_to_llong(argv[++i], 100, 3600000, &ms) < 0)
				fail(STEP_ARGS, "--start-timeout-ms must be 100-3600000");
			L.start_timeout_ms = (int)ms;
		} else if (strcmp(a, "--resume") == 0) {
			L.resume = true;
		} else if (strncmp(a, "--", 2) == 0 && (eq = strchr(a, '=')) &&
		           L.noverrides < sizeof(L.overrides) / sizeof(L.overrides[0])) {
			L.overrides[L.noverrides][0] = a;
			L.overrides[L.noverrides][1] = eq;
			L.noverrides++;
		} else {
			fail(STEP_ARGS, "unexpected argument '%s'", a);
		}
	}
	if (!L.user || !L.session_id)
		fail(STEP_ARGS, "--user and --session-id are required");
	if (!conf_name_valid(L.user))
		fail(STEP_ARGS, "invalid user name '%s'", L.user);
	for (const char *p = L.session_id; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_')
			fail(STEP_ARGS, "invalid session id '%s'", L.session_id);
	if (strlen(L.session_id) > 64)
		fail(STEP_ARGS, "session id too long");
	if (!L.config_dir)
		L.config_dir = SETTINGS_DEFAULT_CONFIG_DIR;
}

static bool is_listening_socket(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static void sanitize_fds(void)
{
	struct stat st;

	/* 0-2 must exist, or a later open() would become stdout. */
	for (int fd = 0; fd < 3; fd++) {
		if (fstat(fd, &st) == 0)
			continue;
		int nfd = open("/dev/null", O_RDWR);
		if (nfd != fd)
			fail(STEP_FDS, "cannot open /dev/null as fd %d", fd);
	}
	if (fstat(LAUNCHER_STATUS_FD, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		L.status_fd = -1;
		fail(STEP_FDS, "fd %d is not the status pipe", LAUNCHER_STATUS_FD);
	}
	if (!is_listening_socket(LAUNCHER_SOCKET_FD))
		fail(STEP_FDS, "fd %d is not a listening socket", LAUNCHER_SOCKET_FD);
	fcntl(LAUNCHER_STATUS_FD, F_SETFD, FD_CLOEXEC);
	fcntl(LAUNCHER_SOCKET_FD, F_SETFD, 0);
	/* Nothing else of rserver's may reach the session. */
	if (close_range(L.password_fd == 5 ? 6 : 5, ~0U, 0) < 0)
		fail(STEP_FDS, "close_range: %s", strerror(errno));
}

static void own_session(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	/* A session of its own: stopping rserver (its process group) must not
	 * stop the sessions. */
	if (setsid() < 0 && errno != EPERM)
		fail(STEP_SESSION, "setsid: %s", strerror(errno));
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void load_config(void)
{
	char *path;
	struct diag d;
	int r;

	diag_init(&d);
	r = settings_load(&L.settings, L.config_dir, "rsession-launcher", SETTINGS_LOGIN_DEFS, &d);
	for (size_t i = 0; r == 0 && i < L.noverrides; i++) {
		char *key = str_copy_n(L.overrides[i][0] + 2,
		                       (size_t)(L.overrides[i][1] - L.overrides[i][0] - 2));
		if (!key)
			fail(STEP_CONFIG, "out of memory");
		r = settings_override(&L.settings, key, L.overrides[i][1] + 1, &d);
		free(key);
		if (r == -ENOMEM)
			break;
		r = 0;
	}
	if (r == 0 && (path = settings_path(&L.settings, "profiles"))) {
		r = profiles_load(path, &L.profiles, &d);
		free(path);
	}
	/* logging.conf's [*] and [@rsession-launcher] sections. */
	if (r == 0)
		(void)settings_apply_logging(&L.settings);
	if (r == 0)
		L.sandboxed = conf_bool(L.settings.rserver, RSERVER_SESSION_SANDBOX_ENABLED);
	if (r < 0 || diag_errors(&d)) {
		char first[512] = "out of memory";
		for (size_t i = 0; i < d.n; i++)
			if (d.entries[i].severity == DIAG_ERROR) {
				snprintf(first, sizeof(first), "%s:%u: %s", d.entries[i].file,
				         d.entries[i].line, d.entries[i].message);
				break;
			}
		diag_free(&d);
		fail(STEP_CONFIG, "%s", first);
	}
	diag_free(&d);
}

static void check_user(void)
{
	long long min_uid = conf_int(L.settings.rserver, RSERVER_AUTH_MINIMUM_USER_ID);
	const char *group = conf_str(L.settings.rserver, RSERVER_AUTH_REQUIRED_USER_GROUP);
	size_t size = 16384;
	struct passwd *res = NULL;
	int r;

	for (;;) {
		L.pw_buf = realloc(L.pw_buf, size);
		if (!L.pw_buf)
			fail(STEP_USER, "out of memory");
		r = getpwnam_r(L.user, &L.pw, L.pw_buf, size, &res);
		if (r != ERANGE || size > (1 << 24))
			break;
		size *= 2;
	}
	if (!res)
		fail(STEP_USER, "no such user '%s'", L.user);
	if (L.pw.pw_uid == 0 || (long long)L.pw.pw_uid < min_uid)
		fail(STEP_USER, "user %s: uid %u is below auth-minimum-user-id %lld", L.user,
		     (unsigned)L.pw.pw_uid, min_uid);
	r = profiles_user_groups(L.user, &L.groups, &L.ngroups);
	if (r < 0)
		fail(STEP_USER, "cannot read the groups of %s: %s", L.user, strerror(-r));
	if (group) {
		bool member = false;
		for (size_t i = 0; i < L.ngroups && !member; i++)
			member = strcmp(L.groups[i], group) == 0;
		if (!member)
			fail(STEP_USER, "user %s is not in auth-required-user-group %s", L.user,
			     group);
	}
}

static const char *profile_str(enum profile_key k)
{
	return L.profile[k].set ? L.profile[k].value.s : NULL;
}

static long long profile_int(enum profile_key k)
{
	return L.profile[k].set ? L.profile[k].value.i : 0;
}

static void choose_r(void)
{
	char err[512];
	int r;

	profiles_resolve(&L.profiles, L.user, (const char *const *)L.groups, L.ngroups, L.profile);
	r = rinstall_find(profile_str(PROFILE_R_VERSION),
	                  conf_str(L.settings.rserver, RSERVER_RSESSION_WHICH_R), SANE_PATH,
	                  &L.r_home, err, sizeof(err));
	if (r < 0)
		fail(STEP_R, "%s", err);
	L.rsession_path = conf_str(L.settings.rserver, RSERVER_RSESSION_PATH)
	                      ? strdup(conf_str(L.settings.rserver, RSERVER_RSESSION_PATH))
	                      : fs_sibling_program(NULL, "rsession");
	if (!L.rsession_path || access(L.rsession_path, X_OK) < 0)
		fail(STEP_R, "rsession not found at %s",
		     L.rsession_path ? L.rsession_path : "(unknown)");
}

/*
 * session-sandbox-enabled: which directories the session will not see,
 * refused when that would hide what the session runs or lives in. Checked
 * here, in the parent and before PAM, so that a bad combination of
 * settings fails with a message naming them instead of a session that
 * cannot find its home.
 */
static void plan_sandbox(void)
{
	const struct {
		const char *path, *what;
	} needed[] = {
	    {L.pw.pw_dir, "the home directory of the user"},
	    {L.r_home, "the R installation"},
	    {L.rsession_path, "rsession"},
	    {L.has_supervisor ? L.exec_argv[0] : NULL, "the supervisor (rsession-exec-command)"},
	    {"/bin/bash", "bash, which starts the session"},
	};
	int r;

	if (!L.sandboxed)
		return;
	r = sandbox_plan(&L.settings, L.config_dir, &L.sandbox);
	if (r < 0)
		fail(STEP_SANDBOX, "%s", strerror(-r));
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		const struct sandbox_mask *m;
		if (!needed[i].path)
			continue;
		m = sandbox_hides(&L.sandbox, needed[i].path);
		if (m)
			fail(STEP_SANDBOX,
			     "session-sandbox-enabled=1 would hide %s (%s): it is inside %s (%s), "
			     "which sandboxed sessions do not see",
			     needed[i].what, needed[i].path, m->path, m->what);
	}
	for (size_t i = 0; i < L.sandbox.nmasks; i++)
		log_debug("Session %s: the sandbox masks %s (%s)", L.session_id,
		          L.sandbox.masks[i].path, L.sandbox.masks[i].what);
}

static void set_limit(int resource, const char *name, unsigned long long value)
{
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};

	if (setrlimit(resource, &rl) < 0)
		fail(STEP_LIMITS, "%s %llu: %s", name, value, strerror(errno));
}

static void apply_limits(void)
{
	if (profile_int(PROFILE_MAX_MEMORY_MB) > 0)
		set_limit(RLIMIT_AS, "max-memory-mb",
		          (unsigned long long)profile_int(PROFILE_MAX_MEMORY_MB) << 20);
	if (profile_int(PROFILE_MAX_PROCESSES) > 0)
		set_limit(RLIMIT_NPROC, "max-processes",
		          (unsigned long long)profile_int(PROFILE_MAX_PROCESSES));
	if (profile_int(PROFILE_MAX_OPEN_FILES) > 0)
		set_limit(RLIMIT_NOFILE, "max-open-files",
		          (unsigned long long)profile_int(PROFILE_MAX_OPEN_FILES));
}

static void read_password(void)
{
	char buf[4097];
	size_t len = 0;

	if (L.password_fd < 0)
		return;
	for (;;) {
		ssize_t n = read(L.password_fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	close(L.password_fd);
	L.password_fd = -1;
	if (len && secret_new(buf, len, &L.password) < 0) {
		explicit_bzero(buf, sizeof(buf));
		fail(STEP_PAM, "out of memory");
	}
	explicit_bzero(buf, sizeof(buf));
}

static void open_pam(void)
{
	char err[512];
	int r;

	read_password();
	if (!conf_bool(L.settings.rserver, RSERVER_AUTH_PAM_SESSIONS_ENABLED))
		return;
	/* Without the password, modules that need it (pam_krb5) would open a
	 * session without credentials: refuse instead of pretending. */
	if (conf_bool(L.settings.rserver, RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD) && !L.password)
		fail(STEP_PAM,
		     "auth-pam-sessions-use-password=1 but no sign-in password is available for "
		     "%s (sign in again)",
		     L.user);
	r = pamsession_open(conf_str(L.settings.rserver, RSERVER_AUTH_PAM_SESSIONS_PROFILE), L.user,
	                    conf_bool(L.settings.rserver, RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD)
	                        ? L.password
	                        : NULL,
	                    &L.pam, err, sizeof(err));
	if (r < 0)
		fail(STEP_PAM, "%s (service %s)", err,
		     conf_str(L.settings.rserver, RSERVER_AUTH_PAM_SESSIONS_PROFILE));
}

static void make_tmpdir(void)
{
	const char *root = conf_str(L.settings.rserver, RSERVER_SESSION_TEMP_DIR);
	struct stat st;

	/* The parent is root's and not writable by users, so nobody can
	 * plant a link where the session's directory goes. */
	if (mkdir(root, 0711) < 0 && errno != EEXIST)
		fail(STEP_TMPDIR, "cannot create session-temp-dir %s: %s", root, strerror(errno));
	if (lstat(root, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0022))
		fail(STEP_TMPDIR,
		     "session-temp-dir %s must be a directory owned by root and "
		     "writable only by root",
		     root);
	if (asprintf(&L.tmpdir, "%s/%s", root, L.session_id) < 0)
		fail(STEP_TMPDIR, "out of memory");
	if (mkdir(L.tmpdir, 0700) < 0 && errno != EEXIST) {
		char *t = L.tmpdir;
		L.tmpdir = NULL;
		fail(STEP_TMPDIR, "cannot create %s: %s", t, strerror(errno));
	}
	if (lstat(L.tmpdir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != L.pw.pw_uid))
		fail(STEP_TMPDIR, "%s exists and is not a directory of %s", L.tmpdir, L.user);
	if (chown(L.tmpdir, L.pw.pw_uid, L.pw.pw_gid) < 0 || chmod(L.tmpdir, 0700) < 0)
		fail(STEP_TMPDIR, "cannot give %s to %s: %s", L.tmpdir, L.user, strerror(errno));
}

static void diag_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag_write(const char *fmt, ...)
{
	va_list ap;

	if (L.diag_fd < 0)
		return;
	va_start(ap, fmt);
	vdprintf(L.diag_fd, fmt, ap);
	va_end(ap);
}

static void open_diagnostics(void)
{
	const char *dir = conf_str(L.settings.rserver, RSERVER_RSESSION_DIAGNOSTICS_DIR);
	int fd;

	if (!conf_bool(L.settings.rserver, RSERVER_RSESSION_DIAGNOSTICS_ENABLED))
		return;
	/* World-writable like /tmp is expected, as in RStudio's default. */
	if (mkdir(dir, 01777) < 0 && errno != EEXIST)
		fail(STEP_DIAGNOSTICS, "cannot create %s: %s", dir, strerror(errno));
	/* O_EXCL|O_NOFOLLOW: in a shared directory nobody can point this at
	 * another file. The descriptor is kept and used for every later
	 * write, by the launcher and (inherited) by the session's login
	 * shell, so that nobody can swap the file underneath, and so that it
	 * stays reachable from inside the sandbox. O_APPEND: both write. A
	 * name already taken (a relaunch within the same second, or a file
	 * planted in the shared directory) gets a number after the time. */
	for (int n = 1;; n++) {
		free(L.diag_path);
		L.diag_path = NULL;
		if ((n == 1 ? asprintf(&L.diag_path, "%s/rsession-diagnostics-%s-%s-%lld.log", dir,
		                       L.user, L.session_id, (long long)time(NULL))
		            : asprintf(&L.diag_path, "%s/rsession-diagnostics-%s-%s-%lld-%d.log", dir,
		                       L.user, L.session_id, (long long)time(NULL), n)) < 0)
			fail(STEP_DIAGNOSTICS, "out of memory");
		fd = open(L.diag_path,
		          O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST || n == 100)
			break;
	}
	if (fd < 0 || fchown(fd, L.pw.pw_uid, L.pw.pw_gid) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		fail(STEP_DIAGNOSTICS, "cannot create %s: %s", L.diag_path, strerror(e));
	}
	L.diag_fd = fd;
	diag_write("rsession launch diagnostics\nuser: %s (uid %u)\nsession: %s%s\nR home: "
	           "%s\nstarted: %lld\n",
	           L.user, (unsigned)L.pw.pw_uid, L.session_id, L.resume ? " (resume)" : "",
	           L.r_home, (long long)time(NULL));
}

/* "--key=value" for every rsession.conf key set in the file or on the
 * command line, in the canonical form rsession parses back. NULL on OOM. */
static char *rsession_conf_arg(unsigned k)
{
	const struct conf_key *key = &rsession_conf_table.keys[k];
	char *text = NULL, *arg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	conf_value_print(key, &L.settings.rsession->values[k].v, f);
	if (fclose(f) == 0 && asprintf(&arg, "--%s=%s", key->name, text) < 0)
		arg = NULL;
	free(text);
	return arg;
}

/*
 * The command the child execs, rsession and its arguments last. The
 * supervisor contract's static half is checked here: rsession-exec-command
 * names its program by absolute path, and that program exists and is
 * executable (command_check_supervisor, as --test-config does).
 */
static void build_argv(void)
{
	const char *sup = conf_str(L.settings.rserver, RSERVER_RSESSION_EXEC_COMMAND);
	char **words = NULL, err[512], uid[32];
	size_t nwords = 0, n = 0;
	struct passwd *spw = getpwnam(conf_str(L.settings.rserver, RSERVER_SERVER_USER));

	if (command_check_supervisor(sup, err, sizeof(err)) < 0)
		fail(STEP_SUPERVISOR, "%s", err);
	if (sup && command_split(sup, &words, &nwords, err, sizeof(err)) < 0)
		fail(STEP_SUPERVISOR, "rsession-exec-command: %s", err);
	L.exec_argv = calloc(nwords + 20 + L.noverrides + RSESSION_NKEYS, sizeof(char *));
	if (!L.exec_argv)
		fail(STEP_CONFIG, "out of memory");
	for (size_t i = 0; i < nwords; i++)
		L.exec_argv[n++] = words[i];
	L.has_supervisor = nwords > 0;
	free(words);
	L.exec_argv[n++] = L.rsession_path;
	L.exec_argv[n++] = "--session-id";
	L.exec_argv[n++] = (char *)L.session_id;
	L.exec_argv[n++] = "--config-dir";
	L.exec_argv[n++] = (char *)L.config_dir;
	L.exec_argv[n++] = "--r-home";
	L.exec_argv[n++] = L.r_home;
	if (L.resume)
		L.exec_argv[n++] = "--resume";
	if (spw) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)spw->pw_uid);
		L.exec_argv[n++] = "--allow-uid";
		L.exec_argv[n++] = strdup(uid);
	}
	/* In the sandbox rsession cannot read rsession.conf (the config
	 * directory is masked): it gets every key set there, or on rserver's
	 * command line, as an argument instead. */
	for (unsigned k = 0; L.sandboxed && k < RSESSION_NKEYS; k++)
		if (L.settings.rsession->values[k].set &&
		    !(L.exec_argv[n++] = rsession_conf_arg(k)))
			fail(STEP_CONFIG, "out of memory");
	/* rsession.conf overrides given to rserver go on to the session. */
	for (size_t i = 0; !L.sandboxed && i < L.noverrides; i++) {
		char *key = str_copy_n(L.overrides[i][0] + 2,
		                       (size_t)(L.overrides[i][1] - L.overrides[i][0] - 2));
		if (key && conf_key_index(&rsession_conf_table, key) >= 0)
			L.exec_argv[n++] = (char *)L.overrides[i][0];
		free(key);
	}
	L.exec_argv[n] = NULL;
}

/* ---- child steps ---------------------------------------------------------- */

static int child_err_fd = -1;
/* What child_fds() put on CHILD_PROFILE_FD and CHILD_DIAG_FD. */
static bool child_profile_fd, child_diag_fd;

static void child_fail(enum launch_step step, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void child_fail(enum launch_step step, const char *fmt, ...)
{
	char msg[1024];
	int len;
	va_list ap;

	len = snprintf(msg, sizeof(msg), "%d ", (int)step);
	va_start(ap, fmt);
	vsnprintf(msg + len, sizeof(msg) - (size_t)len, fmt, ap);
	va_end(ap);
	if (write(child_err_fd, msg, strlen(msg)) < 0) {
	}
	_exit(step);
}

/* The kernel's online cores ("0-1,3" in /sys, 0-based). */
static void online_cpus(cpu_set_t *set)
{
	char *buf, *p;
	size_t len;

	CPU_ZERO(set);
	if (file_read_all("/sys/devices/system/cpu/online", 4096, &buf, &len) < 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		for (long i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET(i, set);
		return;
	}
	for (p = buf; *p;) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long i = a; i <= b && i < CPU_SETSIZE; i++)
			CPU_SET(i, set);
		p = *end == ',' ? end + 1 : end;
		if (*p == '\n')
			break;
	}
	free(buf);
}

static void child_limits_and_placement(void)
{
	const char *affinity = profile_str(PROFILE_CPU_AFFINITY);
	char err[256];

	if (L.profile[PROFILE_NICE].set &&
	    setpriority(PRIO_PROCESS, 0, (int)profile_int(PROFILE_NICE)) < 0)
		child_fail(STEP_NICE, "nice %lld: %s", profile_int(PROFILE_NICE), strerror(errno));
	if (affinity) {
		cpu_set_t want, online;
		if (cpulist_parse(affinity, &want, err, sizeof(err)) < 0)
			child_fail(STEP_AFFINITY, "cpu-affinity %s: %s", affinity, err);
		online_cpus(&online);
		if (cpulist_check_online(&want, &online, err, sizeof(err)) < 0)
			child_fail(STEP_AFFINITY, "cpu-affinity %s: %s", affinity, err);
		if (sched_setaffinity(0, sizeof(want), &want) < 0)
			child_fail(STEP_AFFINITY, "cpu-affinity %s: %s", affinity, strerror(errno));
	}
	if (L.cgroup && cgroup_join(L.cgroup, 0, err, sizeof(err)) < 0)
		child_fail(STEP_CGROUP, "%s", err);
}

static void child_drop_privileges(void)
{
	char err[256];
	int r = privdrop_permanently(L.user, L.pw.pw_uid, L.pw.pw_gid, true, err, sizeof(err));

	if (r < 0)
		child_fail(strncmp(err, "initgroups", 10) == 0 ? STEP_GROUPS : STEP_UID, "%s", err);
}

static int env_add(char **env, size_t *n, const char *name, const char *value)
{
	char *e;

	if (!value || *n >= MAX_ENV - 1)
		return 0;
	if (asprintf(&e, "%s=%s", name, value) < 0)
		return -ENOMEM;
	/* A later entry replaces an earlier one of the same name. */
	for (size_t i = 0; i < *n; i++) {
		size_t nl = strlen(name);
		if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=') {
			free(env[i]);
			env[i] = e;
			return 0;
		}
	}
	env[(*n)++] = e;
	env[*n] = NULL;
	return 0;
}

/*
 * The session's environment, built from nothing (OpenSSH do_setup_env,
 * sudo env.c): identity, a sane PATH, locale and time zone from rserver's
 * own environment, the PAM environment, R's variables, TMPDIR. Nothing else
 * of rserver's environment reaches the session.
 */
static char **child_environment(void)
{
	static const char *const passthrough[] = {
	    "LANG",    "LANGUAGE",   "LC_ALL",       "LC_CTYPE",       "LC_NUMERIC",
	    "LC_TIME", "LC_COLLATE", "LC_MONETARY",  "LC_MESSAGES",    "LC_PAPER",
	    "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "TZ"};
	char **env = calloc(MAX_ENV, sizeof(char *)), *ld = NULL, *profile = NULL;
	const char *extra = conf_str(L.settings.rserver, RSERVER_RSESSION_LD_LIBRARY_PATH);
	size_t n = 0;
	int r = 0;

	if (!env)
		return NULL;
	r |= env_add(env, &n, "HOME", L.pw.pw_dir);
	r |= env_add(env, &n, "USER", L.pw.pw_name);
	r |= env_add(env, &n, "LOGNAME", L.pw.pw_name);
	r |= env_add(env, &n, "SHELL", L.pw.pw_shell && *L.pw.pw_shell ? L.pw.pw_shell : "/bin/sh");
	r |= env_add(env, &n, "PATH", SANE_PATH);
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
		r |= env_add(env, &n, passthrough[i], getenv(passthrough[i]));
	if (L.pam) {
		char **pe = pamsession_env(L.pam);
		for (char **p = pe; p && *p; p++) {
			char *eq = strchr(*p, '=');
			if (!eq)
				continue;
			*eq = '\0';
			/* PAM may set PATH or KRB5CCNAME, never who the user is. */
			if (strcmp(*p, "HOME") && strcmp(*p, "USER") && strcmp(*p, "LOGNAME") &&
			    strcmp(*p, "SHELL"))
				r |= env_add(env, &n, *p, eq + 1);
			*eq = '=';
		}
		pamsession_env_free(pe);
	}
	if (asprintf(&ld, "%s/lib%s%s", L.r_home, extra ? ":" : "", extra ? extra : "") < 0)
		ld = NULL;
	r |= env_add(env, &n, "LD_LIBRARY_PATH", ld);
	free(ld);
	r |= env_add(env, &n, "R_HOME", L.r_home);
	/* In the sandbox the session's directory is /tmp itself. */
	r |= env_add(env, &n, "TMPDIR", L.sandboxed ? "/tmp" : L.tmpdir);
	if (!conf_bool(L.settings.rserver, RSERVER_RSESSION_NO_PROFILE)) {
		if (L.sandboxed)
			r |= env_add(env, &n, "RSESSION_PROFILE_SCRIPT",
			             child_profile_fd ? "/proc/self/fd/" STRINGIFY(CHILD_PROFILE_FD)
			                              : NULL);
		else if (asprintf(&profile, "%s/rsession-profile", L.config_dir) >= 0)
			r |= env_add(env, &n, "RSESSION_PROFILE_SCRIPT", profile);
		free(profile);
		r |= env_add(env, &n, "RSESSION_DIAGNOSTICS_FILE",
		             child_diag_fd ? "/proc/self/fd/" STRINGIFY(CHILD_DIAG_FD) : NULL);
	}
	return r ? NULL : env;
}

/*
 * The first bash sources rsession-profile, the login bash reads /etc/profile
 * and ~/.bash_profile, and both exec the next step, so the session keeps one
 * pid. Every word of the command travels as a positional parameter: nothing
 * from the configuration is ever parsed by a shell. Descriptors 4
 * (rsession-profile, in the sandbox) and 5 (the diagnostics file) are
 * closed before the next program runs.
 */
static const char wrapper[] =
    "p=$RSESSION_PROFILE_SCRIPT; unset RSESSION_PROFILE_SCRIPT; "
    "if [ -r \"$p\" ]; then . \"$p\"; fi; exec 4<&-; "
    "exec /bin/bash --login -c '"
    "if [ -n \"$RSESSION_DIAGNOSTICS_FILE\" ]; then "
    "{ echo \"== environment after profile scripts\"; env; } >> \"$RSESSION_DIAGNOSTICS_FILE\"; "
    "fi; unset RSESSION_DIAGNOSTICS_FILE; exec 5>&-; exec \"$@\"' rsession \"$@\"";

/*
 * The session's stdin is /dev/null and its stdout and stderr (rsession's
 * log, profile scripts' chatter) go to the user's own log file,
 * ~/.local/share/rstudio/log/rsession-<id>.log, opened as the user: a
 * session must not write into the server's log. /dev/null if that fails.
 */
static void child_stdio(void)
{
	char *dir = NULL, *path = NULL;
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC), out = -1;

	if (asprintf(&dir, "%s/.local/share/rstudio/log", L.pw.pw_dir) >= 0) {
		for (char *p = dir + strlen(L.pw.pw_dir) + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(dir, 0700);
				*p = '/';
			}
		mkdir(dir, 0700);
		if (asprintf(&path, "%s/rsession-%s.log", dir, L.session_id) >= 0)
			out = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			           0600);
	}
	if (out < 0)
		out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		child_fail(STEP_ENV, "cannot set up the session's stdin and log");
	close(in);
	close(out);
	free(dir);
	free(path);
}

/* Puts src on target without close-on-exec (dup2 onto itself would keep
 * the flag). */
static int place_fd(int src, int target)
{
	if (src == target)
		return fcntl(target, F_SETFD, 0);
	if (dup2(src, target) < 0)
		return -1;
	close(src);
	return 0;
}

/*
 * The descriptors the exec chain inherits besides 0-3: the diagnostics
 * file on CHILD_DIAG_FD and, in the sandbox, rsession-profile on
 * CHILD_PROFILE_FD, both opened while root and before the sandbox hides
 * their directories. The shells reach them as /proc/self/fd/N (a reopen,
 * so checked against the user's permissions on the file) and close them
 * before the supervisor runs. The status pipe goes first, which frees
 * CHILD_PROFILE_FD.
 */
static void child_fds(void)
{
	bool no_profile = conf_bool(L.settings.rserver, RSERVER_RSESSION_NO_PROFILE);
	int fd = fcntl(child_err_fd, F_DUPFD_CLOEXEC, 10);

	if (fd < 0)
		child_fail(STEP_FDS, "fcntl: %s", strerror(errno));
	close(child_err_fd);
	child_err_fd = fd;
	close(LAUNCHER_STATUS_FD);
	if (no_profile)
		return; /* the launcher writes the diagnostics itself */
	if (L.diag_fd >= 0) {
		if (place_fd(L.diag_fd, CHILD_DIAG_FD) < 0)
			child_fail(STEP_FDS, "diagnostics file: %s", strerror(errno));
		child_diag_fd = true;
	}
	L.diag_fd = -1;
	if (L.sandboxed) {
		char *path = NULL;
		if (asprintf(&path, "%s/rsession-profile", L.config_dir) < 0)
			child_fail(STEP_FDS, "out of memory");
		fd = open(path, O_RDONLY | O_NOCTTY);
		if (fd >= 0 && place_fd(fd, CHILD_PROFILE_FD) < 0)
			child_fail(STEP_FDS, "%s: %s", path, strerror(errno));
		child_profile_fd = fd >= 0;
		if (fd < 0 && errno != ENOENT)
			log_warn("Session %s: cannot open %s; sessions start without it", L.session_id,
			         path);
		free(path);
	}
}

/*
 * A file Kerberos ticket cache in the host's /tmp or /var/tmp, where
 * pam_krb5 puts it by default (/tmp/krb5cc_<uid>_XXXXXX): the sandbox
 * gives the session its own /tmp, where KRB5CCNAME would name nothing. The
 * child reads the cache before entering the sandbox and, as the user,
 * writes it at the same path in the private /tmp: the session's own copy,
 * gone with its /tmp. The copy sits in locked memory meanwhile. A cache
 * elsewhere (a KEYRING:, KCM: or ccache_dir cache) is left alone: the
 * sandbox hides nothing of it.
 */
static struct {
	char *path;
	struct secret *data;
} ccache;

static void ccache_read(void)
{
	char **pe = L.pam ? pamsession_env(L.pam) : NULL, buf[65536];
	const char *cc = NULL, *path;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	for (char **p = pe; p && *p && !cc; p++)
		if (strncmp(*p, "KRB5CCNAME=", 11) == 0)
			cc = *p + 11;
	path = cc && strncmp(cc, "FILE:", 5) == 0 ? cc + 5 : cc;
	if (!path || (strncmp(path, "/tmp/", 5) != 0 && strncmp(path, "/var/tmp/", 9) != 0) ||
	    strstr(path, "/../"))
		goto out;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != L.pw.pw_uid) {
		log_warnx("Session %s: KRB5CCNAME names %s, which is not a ticket cache of %s; "
		          "the sandboxed session will not see it",
		          L.session_id, path, L.user);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	ccache.path = strdup(path);
	if (!ccache.path || secret_new(buf, len, &ccache.data) < 0)
		child_fail(STEP_SANDBOX, "out of memory");
out:
	explicit_bzero(buf, sizeof(buf));
	pamsession_env_free(pe);
}

/* As the user, inside the sandbox. */
static void ccache_write(void)
{
	int fd;

	if (!ccache.path)
		return;
	fd = open(ccache.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, ccache.data->data, ccache.data->len) != (ssize_t)ccache.data->len)
		log_warn("Session %s: cannot copy the ticket cache to %s in the sandbox",
		         L.session_id, ccache.path);
	if (fd >= 0)
		close(fd);
	secret_free(ccache.data);
	ccache.data = NULL;
}

static void child_sandbox(void)
{
	char err[512];

	if (!L.sandboxed)
		return;
	ccache_read();
	if (sandbox_enter(&L.sandbox, L.tmpdir, err, sizeof(err)) < 0)
		child_fail(STEP_SANDBOX, "%s", err);
}

/* The supervisor as the user sees it: executable by them and, in the
 * sandbox, not hidden. */
static void child_check_supervisor(void)
{
	if (L.has_supervisor && access(L.exec_argv[0], X_OK) < 0)
		child_fail(STEP_SUPERVISOR, "rsession-exec-command: %s cannot be run by %s: %s%s",
		           L.exec_argv[0], L.user, strerror(errno),
		           L.sandboxed && errno == ENOENT ? " inside the session sandbox" : "");
}

static void child(int err_fd) __attribute__((noreturn));
static void child(int err_fd)
{
	char **env;

	child_err_fd = err_fd;
	child_fds();
	child_limits_and_placement();
	child_sandbox();
	child_drop_privileges();
	ccache_write();
	child_check_supervisor();
	child_stdio();
	env = child_environment();
	if (!env)
		child_fail(STEP_ENV, "out of memory");
	if (chdir(L.pw.pw_dir) < 0 && chdir("/") < 0)
		child_fail(STEP_CHDIR, "chdir %s: %s", L.pw.pw_dir, strerror(errno));
	if (conf_bool(L.settings.rserver, RSERVER_RSESSION_NO_PROFILE)) {
		/* No shell runs: the launcher records the environment itself,
		 * through the descriptor opened before the sandbox. */
		if (L.diag_fd >= 0) {
			dprintf(L.diag_fd, "== environment (rsession-no-profile=1)\n");
			for (char **e = env; *e; e++)
				dprintf(L.diag_fd, "%s\n", *e);
		}
		/* The supervisor is an absolute path: no PATH search. */
		execve(L.exec_argv[0], L.exec_argv, env);
		child_fail(STEP_EXEC, "%s: %s", L.exec_argv[0], strerror(errno));
	}
	size_t n = 0;
	while (L.exec_argv[n])
		n++;
	char **argv = calloc(n + 5, sizeof(char *));
	if (!argv)
		child_fail(STEP_EXEC, "out of memory");
	argv[0] = "/bin/bash";
	argv[1] = "-c";
	argv[2] = (char *)wrapper;
	argv[3] = "rsession-launch";
	memcpy(argv + 4, L.exec_argv, n * sizeof(char *));
	execve("/bin/bash", argv, env);
	child_fail(STEP_EXEC, "/bin/bash: %s", strerror(errno));
}

/* ---- the session's end ----------------------------------------------------- */

static void forward_signal(int sig)
{
	if (L.child > 0)
		kill(L.child, sig);
}

static void write_exit_record(int status, bool oom)
{
	const char *data = conf_str(L.settings.rserver, RSERVER_SERVER_DATA_DIR);
	char *path = NULL, *tmp = NULL, cause[256];
	json_t *o;

	if (WIFSIGNALED(status) && oom)
		snprintf(cause, sizeof(cause),
		         "killed by the kernel: the session reached its memory limit "
		         "(max-rss-mb=%lld)",
		         profile_int(PROFILE_MAX_RSS_MB));
	else if (WIFSIGNALED(status))
		snprintf(cause, sizeof(cause), "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) == RSESSION_EXIT_SUSPENDED)
		snprintf(cause, sizeof(cause), "suspended");
	else if (WEXITSTATUS(status) == RSESSION_EXIT_FORCE_SUSPENDED)
		snprintf(cause, sizeof(cause), "force-suspended");
	else if (WEXITSTATUS(status) == RSESSION_EXIT_TERMINATED)
		snprintf(cause, sizeof(cause), "terminated");
	else
		snprintf(cause, sizeof(cause), "exited with status %d", WEXITSTATUS(status));
	log_info("Session %s of %s (pid %d) ended: %s", L.session_id, L.user, (int)L.child, cause);
	diag_write("ended: %lld\nexit: %s\n", (long long)time(NULL), cause);

	o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:s, s:I}", "session_id", L.session_id,
	              "user", L.user, "pid", (int)L.child, "exit_code",
	              WIFEXITED(status) ? WEXITSTATUS(status) : -1, "signal",
	              WIFSIGNALED(status) ? WTERMSIG(status) : 0, "oom", oom, "cause", cause,
	              "time", (json_int_t)time(NULL));
	if (o && asprintf(&path, "%s/sessions/%s.exit", data, L.session_id) >= 0 &&
	    asprintf(&tmp, "%s.tmp", path) >= 0) {
		/* Written whole, then renamed: a reader never sees half. */
		if (json_dump_file(o, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0)
			tmp[0] = '\0';
		else
			log_warn("Cannot write %s", path);
		if (tmp[0])
			unlink(tmp);
	}
	json_decref(o);
	free(path);
	free(tmp);
	/* The session's socket goes with it; a new launch makes a new one. */
	if (asprintf(&path, "%s/sessions/%s.sock", data, L.session_id) >= 0) {
		unlink(path);
		free(path);
	}
}

/* Signals meant for the session (an administrator's kill of the launcher)
 * go on to it. Installed in the parent only, after fork. */
static void forward_signals(void)
{
	struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "/usr/bin/bash (bash --login -c ...)": what pid runs, for messages; and
 * whether it is running the supervisor (its program, or the script an
 * interpreter was given). */
static bool describe(pid_t pid, char *out, size_t size)
{
	char path[64], exe[PATH_MAX], *cmd = NULL, *p;
	size_t len = 0;
	ssize_t n;
	bool in_sup = false;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (file_read_all(path, 4096, &cmd, &len) == 0 && len > 0) {
		const char *a0 = cmd, *a1 = memchr(cmd, '\0', len);
		a1 = a1 && a1 + 1 < cmd + len ? a1 + 1 : "";
		in_sup = L.has_supervisor &&
		         (strcmp(a0, L.exec_argv[0]) == 0 || strcmp(a1, L.exec_argv[0]) == 0 ||
		          strcmp(exe, L.exec_argv[0]) == 0);
		for (p = cmd; p < cmd + len - 1; p++)
			if (*p == '\0')
				*p = ' ';
		snprintf(out, size, "%.250s (%.200s%s)", exe[0] ? exe : "?", cmd,
		         len > 200 ? "..." : "");
	} else {
		snprintf(out, size, "%.250s", exe[0] ? exe : "?");
	}
	free(cmd);
	return in_sup;
}

/* Kills the session's process (unless it was reaped already: its pid may
 * be another's by now) and everything below it, orphans included (they
 * are ours: the launcher is a subreaper), and reaps them. */
static void kill_session_tree(bool child_reaped)
{
	pid_t pids[512];

	if (!child_reaped)
		kill(L.child, SIGSTOP); /* no new children while we look */
	/* A few rounds: a process may fork between a look and the kill. */
	for (int round = 0; round < 20; round++) {
		size_t n = proc_descendants(getpid(), pids, sizeof(pids) / sizeof(pids[0]));
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		nap_ms(10);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

/*
 * 12: the supervisor contract's dynamic half. The session's process has
 * exec'd bash; it must become rsession (the login shell execs the
 * supervisor, which must exec its target). Until it does, the monitor is
 * not told "ok": a supervisor that runs its target as a child, sleeps, or
 * exits without exec'ing would otherwise leave the network process waiting
 * for a greeting that never comes. Watched through /proc/<pid>/exe (the
 * kernel's record of the program, which the user cannot fake): if the
 * process ends first, or is not rsession after --start-timeout-ms, the
 * launch fails at step "start" naming what ran, and whatever it started
 * is killed.
 */
static void wait_for_rsession(void)
{
	char *want = realpath(L.rsession_path, NULL), exe[PATH_MAX], what[512], path[64];
	int64_t t0 = mono_ms(), deadline = t0 + L.start_timeout_ms;
	const char *sup = L.has_supervisor ? L.exec_argv[0] : NULL;
	int status = 0;
	bool ended = false, in_sup = false;

	if (!want)
		fail(STEP_START, "rsession %s: %s", L.rsession_path, strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)L.child);
	what[0] = '\0';
	for (;;) {
		ssize_t n = readlink(path, exe, sizeof(exe) - 1);
		pid_t pid;

		if (n > 0) {
			exe[n] = '\0';
			if (strcmp(exe, want) == 0) {
				free(want);
				return;
			}
		}
		/* Reap what ended: the session's process, or an orphan. */
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0 && pid != L.child)
			;
		if (pid == L.child) {
			ended = true;
			break;
		}
		if (mono_ms() >= deadline) {
			in_sup = describe(L.child, what, sizeof(what));
			break;
		}
		/* Most starts take tens of milliseconds. */
		nap_ms(mono_ms() - t0 < 1000 ? 5 : 50);
	}
	free(want);
	if (ended) {
		char how[64];
		/* The child is gone; what it left behind goes too. */
		kill_session_tree(true);
		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
		else
			snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
		if (sup)
			fail(STEP_START,
			     "the session ended (%s) before rsession started: the supervisor %s "
			     "(rsession-exec-command) must exec the command line it is given, as "
			     "'exec \"$@\"' does; see ~/.local/share/rstudio/log/rsession-%s.log",
			     how, sup, L.session_id);
		fail(STEP_START,
		     "the session ended (%s) before rsession started: see rsession-profile, the "
		     "user's login scripts and ~/.local/share/rstudio/log/rsession-%s.log",
		     how, L.session_id);
	}
	kill_session_tree(false);
	if (sup && in_sup)
		fail(STEP_START,
		     "the supervisor %s (rsession-exec-command) did not exec rsession within %.1f s "
		     "and was stopped: a supervisor must exec the command line it is given, as "
		     "'exec \"$@\"' does; the session's process was running %s",
		     sup, L.start_timeout_ms / 1000.0, what);
	fail(STEP_START,
	     "rsession did not start within %.1f s and the session was stopped: its process was "
	     "still running %s%s",
	     L.start_timeout_ms / 1000.0, what,
	     sup ? "; a supervisor (rsession-exec-command) must exec the command line it is given"
	         : "; rsession-profile or the user's login scripts may be waiting for something");
}

static int wait_for_session(void)
{
	int status = 0, code;
	bool oom = false;

	/* Orphans of the session are the launcher's children too (it is
	 * their subreaper): reap them as they end, until the session does. */
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid == L.child) {
			status = st;
			break;
		}
		if (pid < 0 && errno != EINTR)
			return 1;
	}
	if (L.cgroup)
		oom = cgroup_oom_killed(L.cgroup);
	write_exit_record(status, oom);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* Close the PAM session (destroying credentials such as a Kerberos
	 * cache) when asked to, and always after a forced suspend. */
	undo(conf_bool(L.settings.rserver, RSERVER_AUTH_PAM_SESSIONS_CLOSE) ||
	     (WIFEXITED(status) && WEXITSTATUS(status) == RSESSION_EXIT_FORCE_SUSPENDED));
	return code;
}

int main(int argc, char **argv)
{
	int pipefd[2];
	char buf[1100];
	ssize_t n;

	log_init("rsession-launcher");
	/* Not dumpable: a core file would hold the PAM handle and password. */
	prctl(PR_SET_DUMPABLE, 0);
	if (geteuid() != 0) {
		L.status_fd = -1;
		fail(STEP_ARGS, "must run as root");
	}

	parse_args(argc, argv); /* 1 */
	sanitize_fds();         /* 2 */
	own_session();          /* 3 */
	load_config();          /* 4 */
	check_user();           /* 5 */
	choose_r();             /* 6, 7 */
	build_argv();           /* 7 */
	plan_sandbox();         /* 8 */
	apply_limits();         /* 9 */
	open_pam();             /* 10 */
	make_tmpdir();          /* 11 */
	open_diagnostics();
	if (profile_int(PROFILE_MAX_RSS_MB) > 0) {
		char err[512];
		if (cgroup_create(L.session_id,
		                  (unsigned long long)profile_int(PROFILE_MAX_RSS_MB) << 20,
		                  &L.cgroup, err, sizeof(err)) < 0)
			fail(STEP_CGROUP, "max-rss-mb: %s", err);
	}
	for (size_t i = 0; L.exec_argv[i]; i++)
		diag_write("argv[%zu]: %s\n", i, L.exec_argv[i]);

	/* 12: the child reports a failure before exec on a close-on-exec
	 * pipe; end-of-file without a message means exec succeeded. As the
	 * subreaper, the launcher adopts what the session orphans. */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		fail(STEP_FORK, "pipe: %s", strerror(errno));
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fail(STEP_FORK, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	L.child = fork();
	if (L.child < 0)
		fail(STEP_FORK, "fork: %s", strerror(errno));
	if (L.child == 0) {
		close(pipefd[0]);
		child(pipefd[1]);
	}
	close(pipefd[1]);
	close(LAUNCHER_SOCKET_FD); /* the session holds it now */
	forward_signals();
	do
		n = read(pipefd[0], buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n > 0) {
		int status, step;
		char *msg;
		buf[n] = '\0';
		step = (int)strtol(buf, &msg, 10);
		while (waitpid(L.child, &status, 0) < 0 && errno == EINTR)
			;
		fail(step >= STEP_ARGS && step < STEP_MAX ? (enum launch_step)step : STEP_EXEC,
		     "%s", *msg ? msg + 1 : "failed");
	}
	wait_for_rsession();
	log_info("Session %s of %s started as pid %d (R %s)", L.session_id, L.user, (int)L.child,
	         L.r_home);
	status_line("ok %d", (int)L.child);
	secret_free(L.password);
	L.password = NULL;
	return wait_for_session();
}
