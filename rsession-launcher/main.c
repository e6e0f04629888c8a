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
 *   1  arguments                          12 nice (negative needs root)
 *   2  fds 0-4 sane, all others closed    13 CPU affinity, checked against
 *   3  own session (setsid), signals         the online cores
 *   4  rserver.conf, profiles             14 join the memory cgroup
 *   5  the user may run sessions          15 supplementary groups
 *   6  the user's profile                 16 setresgid, setresuid (with
 *   7  the R installation                    RLIMIT_NPROC lifted around it,
 *   8  rlimits, before PAM so that           as sudo does) and the proof
 *      pam_limits has the last word          that root cannot come back
 *   9  PAM: acct_mgmt, setcred, open      17 environment from an allow-list
 *   10 per-session TMPDIR, diagnostics    18 chdir home
 *   11 fork                               19 exec: bash (profile scripts),
 *                                            the supervisor, rsession
 *
 * The parent stays as the session's root parent: it holds the PAM session
 * and, when the session ends, closes it (auth-pam-sessions-close=1, or a
 * forced suspend), removes the cgroup and TMPDIR, records how the session
 * ended and exits with its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
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
#include "rinstall.h"
#include "secret.h"
#include "sessproto.h"
#include "settings.h"
#include "strutil.h"

#define SANE_PATH "/usr/local/bin:/usr/bin:/bin"
#define MAX_ENV   256

static const char *const step_names[STEP_MAX - STEP_ARGS] = {
    "arguments", "fds",    "session", "config",      "user",  "profile", "r",
    "limits",    "pam",    "tmpdir",  "diagnostics", "fork",  "nice",    "affinity",
    "cgroup",    "groups", "uid",     "environment", "chdir", "exec",
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
	struct cgroup *cgroup;  /* created */
	char **exec_argv;
	pid_t child;
} L = {.status_fd = LAUNCHER_STATUS_FD, .password_fd = -1};

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
	FILE *f;

	if (!L.diag_path)
		return;
	f = fopen(L.diag_path, "ae");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
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
	if (asprintf(&L.diag_path, "%s/rsession-diagnostics-%s-%s-%lld.log", dir, L.user,
	             L.session_id, (long long)time(NULL)) < 0)
		fail(STEP_DIAGNOSTICS, "out of memory");
	/* O_EXCL|O_NOFOLLOW: in a shared directory nobody can point this at
	 * another file. */
	fd = open(L.diag_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchown(fd, L.pw.pw_uid, L.pw.pw_gid) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		fail(STEP_DIAGNOSTICS, "cannot create %s: %s", L.diag_path, strerror(e));
	}
	close(fd);
	diag_write("rsession launch diagnostics\nuser: %s (uid %u)\nsession: %s%s\nR home: "
	           "%s\nstarted: %lld\n",
	           L.user, (unsigned)L.pw.pw_uid, L.session_id, L.resume ? " (resume)" : "",
	           L.r_home, (long long)time(NULL));
}

/* The command the child execs, rsession and its arguments last. */
static void build_argv(void)
{
	const char *sup = conf_str(L.settings.rserver, RSERVER_RSESSION_EXEC_COMMAND);
	char **words = NULL, err[256], uid[32];
	size_t nwords = 0, n = 0;
	struct passwd *spw = getpwnam(conf_str(L.settings.rserver, RSERVER_SERVER_USER));

	if (sup && command_split(sup, &words, &nwords, err, sizeof(err)) < 0)
		fail(STEP_CONFIG, "rsession-exec-command: %s", err);
	L.exec_argv = calloc(nwords + 20 + L.noverrides, sizeof(char *));
	if (!L.exec_argv)
		fail(STEP_CONFIG, "out of memory");
	for (size_t i = 0; i < nwords; i++)
		L.exec_argv[n++] = words[i];
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
	/* rsession.conf overrides given to rserver go on to the session. */
	for (size_t i = 0; i < L.noverrides; i++) {
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
	r |= env_add(env, &n, "TMPDIR", L.tmpdir);
	if (!conf_bool(L.settings.rserver, RSERVER_RSESSION_NO_PROFILE) &&
	    asprintf(&profile, "%s/rsession-profile", L.config_dir) >= 0) {
		r |= env_add(env, &n, "RSESSION_PROFILE_SCRIPT", profile);
		free(profile);
	}
	if (!conf_bool(L.settings.rserver, RSERVER_RSESSION_NO_PROFILE))
		r |= env_add(env, &n, "RSESSION_DIAGNOSTICS_FILE", L.diag_path);
	return r ? NULL : env;
}

/*
 * The first bash sources rsession-profile, the login bash reads /etc/profile
 * and ~/.bash_profile, and both exec the next step, so the session keeps one
 * pid. Every word of the command travels as a positional parameter: nothing
 * from the configuration is ever parsed by a shell.
 */
static const char wrapper[] =
    "p=$RSESSION_PROFILE_SCRIPT; unset RSESSION_PROFILE_SCRIPT; "
    "if [ -r \"$p\" ]; then . \"$p\"; fi; "
    "exec /bin/bash --login -c '"
    "if [ -n \"$RSESSION_DIAGNOSTICS_FILE\" ]; then "
    "{ echo \"== environment after profile scripts\"; env; } >> \"$RSESSION_DIAGNOSTICS_FILE\"; "
    "fi; unset RSESSION_DIAGNOSTICS_FILE; exec \"$@\"' rsession \"$@\"";

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

static void child(int err_fd) __attribute__((noreturn));
static void child(int err_fd)
{
	char **env;

	child_err_fd = err_fd;
	close(LAUNCHER_STATUS_FD);
	child_limits_and_placement();
	child_drop_privileges();
	child_stdio();
	env = child_environment();
	if (!env)
		child_fail(STEP_ENV, "out of memory");
	if (chdir(L.pw.pw_dir) < 0 && chdir("/") < 0)
		child_fail(STEP_CHDIR, "chdir %s: %s", L.pw.pw_dir, strerror(errno));
	if (conf_bool(L.settings.rserver, RSERVER_RSESSION_NO_PROFILE)) {
		/* No shell runs: the launcher records the environment itself. */
		if (L.diag_path) {
			FILE *f = fopen(L.diag_path, "ae");
			if (f) {
				fputs("== environment (rsession-no-profile=1)\n", f);
				for (char **e = env; *e; e++)
					fprintf(f, "%s\n", *e);
				fclose(f);
			}
		}
		/* execvpe searches the session's PATH for the supervisor. */
		execvpe(L.exec_argv[0], L.exec_argv, env);
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

static int wait_for_session(void)
{
	struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
	int status, code;
	bool oom = false;

	/* Signals meant for the session (an administrator's kill of the
	 * launcher) go on to it. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	while (waitpid(L.child, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
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
	build_argv();
	apply_limits(); /* 8 */
	open_pam();     /* 9 */
	make_tmpdir();  /* 10 */
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

	/* 11: the child reports a failure before exec on a close-on-exec
	 * pipe; end-of-file without a message means exec succeeded. */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		fail(STEP_FORK, "pipe: %s", strerror(errno));
	L.child = fork();
	if (L.child < 0)
		fail(STEP_FORK, "fork: %s", strerror(errno));
	if (L.child == 0) {
		close(pipefd[0]);
		child(pipefd[1]);
	}
	close(pipefd[1]);
	close(LAUNCHER_SOCKET_FD); /* the session holds it now */
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
	log_info("Session %s of %s started as pid %d (R %s)", L.session_id, L.user, (int)L.child,
	         L.r_home);
	status_line("ok %d", (int)L.child);
	secret_free(L.password);
	L.password = NULL;
	return wait_for_session();
}
