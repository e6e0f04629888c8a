/*
 * Root integration tests of session launching, through the real programs:
 * the monitor (monitor_spawn() in this process, spoken to with
 * monitor_client_call() as the network process would), rsession-launcher
 * ($LAUNCHER), real PAM with service files written for the run, throwaway
 * users, and real R sessions ($RSESSION) reached through the socket the
 * launch reply names, with the rsession test client (tests/rsession).
 *
 * Setup, once per run; every name carries this process's pid, so that
 * concurrent runs never meet and leftovers of a crashed run can be told
 * apart (and are swept when their pid is gone):
 *   /tmp/rs-lt-<pid>-XXXXXX     the root (0755): config dir, server-data-dir,
 *                               session-temp-dir, homes, scripts, logs
 *   users rs_lt_<pid>_<tag>     uid >= 1000, homes under the root, passwords
 *   group rs_lt_<pid>_g         the "grp" user is in it
 *   user  rs_lt_<pid>_srv       a system user: server-user
 *   /etc/pam.d/rs-lt-<pid>-*    sign-in (pam_unix), session (like Debian's
 *                               su, plus pam_env with an envfile), session
 *                               with pam_exec, session needing the password
 * Cleanup is registered before anything is created and runs at exit and on
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT: monitors, then every process of the test
 * users and every launcher of this run killed by pid and waited for, then
 * userdel -r, groupdel, the PAM files, the cgroups named rserver-lt<pid>-*
 * and the root are removed, and the removal is verified.
 *
 * Each test spawns its own monitor(s), configured from settings_load() of
 * the shared config dir plus --key=value overrides, which the monitor also
 * passes on to its launchers (as rserver does with its command line). A
 * monitor's stdout and stderr, and so its launchers' and their sessions',
 * go to <root>/logs/<test>.log, printed when the test fails. At the end of
 * a test its sessions still running are killed by pid, their launchers
 * waited for, and its monitors stopped by closing their socket (they must
 * exit on their own).
 *
 * Everything waits for events with deadlines (files, /proc, replies);
 * nothing sleeps a fixed long time. The tests numbered 1-12 follow the
 * issue item by item; 13 and the checks marked "extra" probe neighbouring
 * promises of launcher.h, rsession-launcher/main.c and monitor.h. The
 * tests after them follow issue 12 (session sandbox, supervisor contract,
 * cached sign-in passwords). The sandbox hides /tmp, so they need a second
 * root outside it:
 *   /var/lib/rs-lt-<pid>-XXXXXX  config dir, database, cookie key,
 *                               server-data-dir, session-temp-dir, and the
 *                               homes of users rs_lt_<pid>_sb1 and _sb2
 * and a PAM service rs-lt-<pid>-sesskrb whose auth stack stands in for
 * pam_krb5: a pam_exec script that checks the password it is given against
 * the user's SHA-256 and "gets a ticket" (a file with a serial number).
 *
 *   RSESSION=build/rsession/rsession \
 *   LAUNCHER=build/rsession-launcher/rsession-launcher \
 *   [RS_TEST_ONLY=auth,launch_plain] build/tests/launch/test-launch
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmdline.h"
#include "config-report.h"
#include "launcher.h"
#include "monitor-client.h"
#include "monitor.h"
#include "monproto.h"
#include "sessproto.h"
#include "settings.h"
#include "strutil.h"
#include "test.h"

#define T_MS      30000 /* per expectation; a launch and R's start take about a second */
#define CALL_MS   90000 /* a monitor reply: above its own 60 s launch timeout */
#define MAX_MONS  4
#define MAX_SESS  8
#define MIB       (1024ULL * 1024ULL)
#define RSS_LIMIT 300 /* max-rss-mb of the group */

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define KV(...)   ((const char *const[]){__VA_ARGS__, NULL})

/* ---- the run's state ------------------------------------------------------ */

static pid_t main_pid;
static const char *rsession_path, *launcher_path;           /* as given in the environment */
static char rsession_exe[PATH_MAX], launcher_exe[PATH_MAX]; /* resolved, as /proc shows */
static char r_home[PATH_MAX];                               /* `R RHOME` */
static char root[PATH_MAX];
static char conf_dir[PATH_MAX], data_dir[PATH_MAX], stmp_dir[PATH_MAX], homes_dir[PATH_MAX],
    log_dir[PATH_MAX];
static char supervisor[PATH_MAX], pam_exec_script[PATH_MAX], pam_exec_log[PATH_MAX],
    pam_env_file[PATH_MAX], r_alt[PATH_MAX], canary_path[PATH_MAX];
static char cur_log[PATH_MAX]; /* the current test's monitor log */
static char sid_prefix[32];    /* "lt<pid>-": every session id of the run */
static char name_prefix[32];   /* "rs_lt_<pid>_": every user and group */
static char group_name[64], server_user[64];
static char svc_auth[64], svc_session[64], svc_exec[64], svc_pw[64], svc_slow[64], svc_krb[64],
    svc_cc[64];
/* The second root, outside /tmp (see the top). */
static char sb_rsession[PATH_MAX]; /* the sandbox root's copy of rsession */
static char sb_root[PATH_MAX], sb_conf[PATH_MAX], sb_data[PATH_MAX], sb_db[PATH_MAX],
    sb_dbfile[PATH_MAX], sb_state[PATH_MAX], sb_key[PATH_MAX], sb_stmp[PATH_MAX],
    sb_home[PATH_MAX];
/* The pam_krb5 stand-in: its script, the tickets it gets, the hashes. */
static char ticket_script[PATH_MAX], ticket_dir[PATH_MAX], pw_hashes[PATH_MAX];
/* monitor_config.launch_timeout_ms for the next mon_new() (0: the default). */
static int next_launch_timeout_ms;
/* The config dir of the next mon_new() (NULL: conf_dir). */
static const char *next_conf_dir;
/* monitor_config.auth_timeout_ms for the next mon_new() (0: the default). */
static int next_auth_timeout_ms;
/* monitor_config.cmdline for the next mon_new() (NULL: no reload). */
static const struct cmdline *next_cmdline;
static int online_cpus;
static int base_nice;
static int grp_core;       /* the group's cpu-affinity core, 1-based */
static bool asan_programs; /* $RSESSION or $LAUNCHER has ASan */

enum { U_PLAIN, U_GRP, U_AFF, U_RVER, U_RBAD, U_EXP, U_LOCK, U_SB1, U_SB2, U_N };

struct tuser {
	const char *tag;
	char name[64];
	char password[64];
	uid_t uid;
	gid_t gid;
	char home[PATH_MAX];
	bool created;
};

static struct tuser users[U_N] = {
    [U_PLAIN] = {.tag = "plain"}, [U_GRP] = {.tag = "grp"},   [U_AFF] = {.tag = "aff"},
    [U_RVER] = {.tag = "rver"},   [U_RBAD] = {.tag = "rbad"}, [U_EXP] = {.tag = "exp"},
    [U_LOCK] = {.tag = "lock"},   [U_SB1] = {.tag = "sb1"},   [U_SB2] = {.tag = "sb2"},
};

/* What setup created, so that cleanup removes exactly that. */
static bool group_created, server_user_created;
static char pam_files[7][PATH_MAX];

/* ---- output ----------------------------------------------------------------- */

/* Records a failure with a message, like the CHECK macros. */
static void fail_at(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_at(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: %s: ", __FILE__, line, test_current);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	test_current_failed = 1;
}
#define FAIL(...) fail_at(__LINE__, __VA_ARGS__)

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- files and commands ------------------------------------------------------ */

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* "empty directory of uid 1001, mode 0700" and the like, for messages. */
static const char *dir_state(const char *path)
{
	static char buf[128];
	struct stat st;
	unsigned n = 0;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return "missing";
	if ((d = opendir(path))) {
		while ((e = readdir(d)))
			n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
		closedir(d);
	}
	snprintf(buf, sizeof(buf), "%s of uid %u, mode %04o, %u entries",
	         S_ISDIR(st.st_mode) ? "directory" : "not a directory", (unsigned)st.st_uid,
	         (unsigned)(st.st_mode & 07777), n);
	return buf;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates (never replaces, unless replace) path with text, mode and owner. */
static int write_text(const char *path, mode_t mode, bool replace, const char *text)
{
	int fd = open(
	    path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (replace ? O_TRUNC : O_EXCL), mode);
	int r;

	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "Failed to create '%s': %s\n", path, strerror(errno));
		return r;
	}
	r = write_all(fd, text, strlen(text));
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		fprintf(stderr, "Failed to write '%s': %s\n", path, strerror(-r));
	return r;
}

/* The whole file, NUL-terminated and malloc'd; NULL if it cannot be read. */
static char *read_text(const char *path)
{
	char *buf;
	size_t len;

	return file_read_all(path, 4 * 1024 * 1024, &buf, &len) == 0 ? buf : NULL;
}

/*
 * Runs argv (PATH searched) with input on stdin (NULL: /dev/null) and
 * stdout and stderr collected into out. Returns the exit code, 128 + the
 * signal, or a negative errno.
 */
static int run_cmd(const char *const argv[], const char *input, char *out, size_t outsize)
{
	int opipe[2], ipipe[2] = {-1, -1}, status;
	size_t len = 0;
	pid_t pid;

	if (out && outsize)
		out[0] = '\0';
	if (pipe2(opipe, O_CLOEXEC) < 0)
		return -errno;
	if (input && pipe2(ipipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(opipe[0]);
		close(opipe[1]);
		return -e;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(opipe[0]);
		close(opipe[1]);
		if (input) {
			close(ipipe[0]);
			close(ipipe[1]);
		}
		return -e;
	}
	if (pid == 0) {
		int in = input ? ipipe[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
		signal(SIGPIPE, SIG_DFL);
		if (in < 0 || dup2(in, 0) < 0 || dup2(opipe[1], 1) < 0 || dup2(opipe[1], 2) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(opipe[1]);
	if (input) {
		close(ipipe[0]);
		(void)write_all(ipipe[1], input, strlen(input));
		close(ipipe[1]);
	}
	for (;;) {
		char buf[4096];
		ssize_t n = read(opipe[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && len + 1 < outsize) {
			size_t k = (size_t)n < outsize - 1 - len ? (size_t)n : outsize - 1 - len;
			memcpy(out + len, buf, k);
			len += k;
			out[len] = '\0';
		}
	}
	close(opipe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* run_cmd() that must exit 0; says what went wrong otherwise. */
static bool run_ok(const char *const argv[], const char *input)
{
	char out[4096];
	int r = run_cmd(argv, input, out, sizeof(out));

	if (r == 0)
		return true;
	fprintf(stderr, "command failed (%d):", r);
	for (size_t i = 0; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n%s", out);
	return false;
}

/* nftw has no user pointer: rm_tree's callback needs none. */
static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_tree(const char *path)
{
	if (exists(path))
		nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- /proc ------------------------------------------------------------------- */

static char *proc_text(pid_t pid, const char *name)
{
	char path[64];

	xsnprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	return read_text(path);
}

/* The value of "Key:" in /proc/<pid>/status, tabs turned to spaces. */
static bool proc_status(pid_t pid, const char *key, char *out, size_t size)
{
	char *buf = proc_text(pid, "status"), *p;
	size_t klen = strlen(key);
	bool found = false;

	if (!buf)
		return false;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) != 0 || p[klen] != ':')
			continue;
		p += klen + 1;
		while (*p == '\t' || *p == ' ')
			p++;
		size_t n = strcspn(p, "\n");
		if (n >= size)
			n = size - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		for (char *t = out; *t; t++)
			if (*t == '\t')
				*t = ' ';
		while (n && out[n - 1] == ' ')
			out[--n] = '\0';
		found = true;
		break;
	}
	free(buf);
	return found;
}

/* Field n (1-based, as in proc(5)) of /proc/<pid>/stat, for n >= 3. */
static bool proc_stat_field(pid_t pid, int n, char *out, size_t size)
{
	char *buf = proc_text(pid, "stat"), *p, *save = NULL;
	bool found = false;

	if (!buf)
		return false;
	p = strrchr(buf, ')');
	if (p) {
		int i = 3;
		for (char *t = strtok_r(p + 1, " \n", &save); t;
		     t = strtok_r(NULL, " \n", &save), i++)
			if (i == n) {
				xsnprintf(out, size, "%s", t);
				found = true;
				break;
			}
	}
	free(buf);
	return found;
}

static long long proc_stat_num(pid_t pid, int n)
{
	char v[64];

	return proc_stat_field(pid, n, v, sizeof(v)) ? strtoll(v, NULL, 10) : LLONG_MIN;
}

/* Exists and is not a zombie. */
static bool proc_alive(pid_t pid)
{
	char st[8];

	return pid > 0 && proc_stat_field(pid, 3, st, sizeof(st)) && st[0] != 'Z' && st[0] != 'X';
}

static bool proc_real_uid(pid_t pid, uid_t *ret)
{
	char v[128];
	unsigned u;

	if (!proc_status(pid, "Uid", v, sizeof(v)) || sscanf(v, "%u", &u) != 1)
		return false;
	*ret = u;
	return true;
}

static bool proc_exe(pid_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;

	xsnprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, size - 1);
	if (n < 0)
		return false;
	out[n] = '\0';
	return true;
}

/* Soft and hard value of a /proc/<pid>/limits line ("unlimited" as is). */
static bool proc_limit(pid_t pid, const char *name, char *soft, char *hard, size_t size)
{
	char *buf = proc_text(pid, "limits"), *p;
	bool found = false;
	char s[64], h[64];

	if (!buf)
		return false;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, strlen(name)) == 0 && p[strlen(name)] == ' ' &&
		    sscanf(p + strlen(name), "%63s %63s", s, h) == 2) {
			xsnprintf(soft, size, "%s", s);
			xsnprintf(hard, size, "%s", h);
			found = true;
			break;
		}
	free(buf);
	return found;
}

/* Waits until /proc/<pid>/exe is want (bash execs into the supervisor and
 * rsession under the same pid); false when the process ends first. */
static bool wait_exe(pid_t pid, const char *want, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char exe[PATH_MAX] = "";

	for (;;) {
		if (!proc_exe(pid, exe, sizeof(exe)) || !proc_alive(pid)) {
			fprintf(stderr, "pid %d ended before it became %s (last exe '%s')\n",
			        (int)pid, want, exe);
			return false;
		}
		if (strcmp(exe, want) == 0)
			return true;
		if (now_ms() >= deadline) {
			fprintf(stderr, "pid %d is still '%s' after %d ms, want %s\n", (int)pid,
			        exe, timeout_ms, want);
			return false;
		}
		nap_ms(10);
	}
}

static bool wait_gone(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (proc_alive(pid)) {
		if (now_ms() >= deadline)
			return false;
		nap_ms(10);
	}
	return true;
}

/* Waits for path to exist (and, when needle, to contain it). */
static bool wait_file(const char *path, const char *needle, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		char *t = read_text(path);
		bool ok = t && (!needle || strstr(t, needle));
		free(t);
		if (ok)
			return true;
		if (now_ms() >= deadline)
			return false;
		nap_ms(20);
	}
}

/* Sorted numbers of a space-separated list, into v (at most max). */
static size_t id_list(const char *s, long *v, size_t max)
{
	size_t n = 0;
	char *end;

	while (*s && n < max) {
		long x = strtol(s, &end, 10);
		if (end == s)
			break;
		size_t i = n++;
		while (i > 0 && v[i - 1] > x) {
			v[i] = v[i - 1];
			i--;
		}
		v[i] = x;
		s = end;
	}
	return n;
}

/* The memory cgroup directory of pid, and whether it is cgroup v2 (the
 * v1 memory controller wins on a hybrid system, as in the launcher). */
static bool memory_cgroup_dir(pid_t pid, char *out, size_t size, bool *ret_v2)
{
	char *cg = proc_text(pid, "cgroup"), *mi = NULL, *save = NULL;
	const char *v1 = NULL, *v2 = NULL;
	bool ok = false;

	if (!cg)
		return false;
	for (char *l = strtok_r(cg, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char ctl[512];
		if (!c2)
			continue;
		*c2 = '\0';
		/* The controller list is comma-separated: "memory" itself. */
		snprintf(ctl, sizeof(ctl), ",%s,", c1 + 1);
		if (strstr(ctl, ",memory,"))
			v1 = c2 + 1;
		else if (c1 == l + 1 && l[0] == '0' && c1[1] == '\0')
			v2 = c2 + 1;
	}
	if (v1 && (mi = read_text("/proc/self/mountinfo"))) {
		save = NULL;
		for (char *l = strtok_r(mi, "\n", &save); l && !ok;
		     l = strtok_r(NULL, "\n", &save)) {
			char mroot[1024], mnt[1024], fstype[64], super[512];
			const char *dash = strstr(l, " - "), *rel = v1;
			if (!dash || sscanf(l, "%*s %*s %*s %1023s %1023s", mroot, mnt) != 2 ||
			    sscanf(dash + 3, "%63s %*s %511s", fstype, super) != 2 ||
			    strcmp(fstype, "cgroup") != 0 || !strstr(super, "memory"))
				continue;
			/* The group path is relative to the mount's root. */
			if (strcmp(mroot, "/") != 0 && strncmp(v1, mroot, strlen(mroot)) == 0)
				rel = v1 + strlen(mroot);
			xsnprintf(out, size, "%s%s", mnt, rel);
			*ret_v2 = false;
			ok = true;
		}
	} else if (v2) {
		xsnprintf(out, size, "/sys/fs/cgroup%s", v2);
		*ret_v2 = true;
		ok = true;
	}
	free(mi);
	free(cg);
	return ok;
}

/* ---- processes of the run ---------------------------------------------------- */

static bool is_test_uid(uid_t uid)
{
	for (size_t i = 0; i < U_N; i++)
		if (users[i].created && users[i].uid == uid)
			return true;
	return false;
}

/* A launcher of this run: our launcher binary with one of our session ids. */
static bool is_our_launcher(pid_t pid)
{
	char exe[PATH_MAX], *cmd;
	size_t len = 0;
	bool ours = false;

	if (!launcher_exe[0] || !proc_exe(pid, exe, sizeof(exe)) || strcmp(exe, launcher_exe) != 0)
		return false;
	{
		char path[64];
		xsnprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if (file_read_all(path, 65536, &cmd, &len) < 0)
			return false;
	}
	ours = memmem(cmd, len, sid_prefix, strlen(sid_prefix)) != NULL;
	free(cmd);
	return ours;
}

/*
 * Pids (not zombies) of the test users' processes (users) or of this
 * run's launchers (launchers). Scanning /proc is `pgrep -u` without the
 * fork, and sees launchers, which run as root.
 */
static size_t our_processes(bool want_users, bool want_launchers, pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		uid_t uid;
		if (*end || pid <= 1 || pid == main_pid || !proc_alive((pid_t)pid))
			continue;
		if ((want_users && proc_real_uid((pid_t)pid, &uid) && is_test_uid(uid)) ||
		    (want_launchers && is_our_launcher((pid_t)pid)))
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* SIGKILLs the processes whose real uid is uid, by pid, and waits (up to
 * 10 s) until none is left. */
static void kill_uid(uid_t uid)
{
	int64_t deadline = now_ms() + 10000;

	for (;;) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		unsigned n = 0;
		while (d && (e = readdir(d))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			uid_t u;
			if (!*end && pid > 1 && proc_alive((pid_t)pid) &&
			    proc_real_uid((pid_t)pid, &u) && u == uid) {
				kill((pid_t)pid, SIGKILL);
				n++;
			}
		}
		if (d)
			closedir(d);
		if (n == 0 || now_ms() >= deadline)
			return;
		nap_ms(20);
	}
}

/*
 * Kills what the run started: sessions (the users' processes) first, so
 * that their launchers clean up (cgroup, TMPDIR, PAM) and exit by
 * themselves; launchers that do not are killed after grace_ms.
 */
static size_t kill_ours(int grace_ms)
{
	int64_t t0 = now_ms(), deadline = t0 + grace_ms + 10000;
	size_t killed = 0;
	pid_t pids[1024];

	for (;;) {
		size_t n = our_processes(true, false, pids, 1024);
		for (size_t i = 0; i < n; i++)
			if (kill(pids[i], SIGKILL) == 0)
				killed++;
		size_t nl = our_processes(false, true, pids, 1024);
		if (n == 0 && nl == 0)
			break;
		if (now_ms() - t0 >= grace_ms)
			for (size_t i = 0; i < nl; i++)
				if (kill(pids[i], SIGKILL) == 0)
					killed++;
		if (now_ms() >= deadline) {
			fprintf(stderr, "cleanup: processes of the run are still alive\n");
			break;
		}
		nap_ms(20);
	}
	return killed;
}

/* ---- the monitor -------------------------------------------------------------- */

struct mon {
	bool used, up;
	pid_t pid;
	int fd;
	struct monitor_client mc;
	struct settings s;
	bool settings_loaded;
	struct monitor_config cfg;
	char *ov[16];
	size_t nov;
};

static struct mon mons[MAX_MONS];

/* Waits for a child of ours to exit: true and *status, or false. */
static bool wait_child(pid_t pid, int timeout_ms, int *status)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (now_ms() >= deadline)
			return false;
		nap_ms(10);
	}
}

/*
 * Stops a monitor by closing its socket, as the network process's death
 * would; it must exit 0 by itself (checked when check).
 */
static void mon_stop(struct mon *m, bool check)
{
	int status = 0;

	if (m->up) {
		monitor_client_free(&m->mc);
		close(m->fd);
		if (!wait_child(m->pid, 5000, &status)) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &status, 0);
			if (check)
				FAIL("monitor %d did not exit within 5 s of its socket closing",
				     (int)m->pid);
		} else if (check && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			FAIL("monitor %d ended with %s %d when its socket closed, want exit 0",
			     (int)m->pid, WIFEXITED(status) ? "exit" : "signal",
			     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		}
	}
	if (m->settings_loaded)
		settings_free(&m->s);
	for (size_t i = 0; i < m->nov; i++)
		free(m->ov[i]);
	memset(m, 0, sizeof(*m));
}

/*
 * A new monitor from the config dir plus kv ("key=value", NULL-terminated
 * or NULL), which go both into its settings and, as --key=value, into the
 * overrides it passes to launchers. Its stdin is /dev/null and its stdout
 * and stderr the current test's log.
 */
static struct mon *mon_new(const char *const kv[])
{
	struct mon *m = NULL;
	struct diag d;
	int r, logfd = -1, nullfd = -1, save[3] = {-1, -1, -1};

	for (size_t i = 0; i < MAX_MONS && !m; i++)
		if (!mons[i].used)
			m = &mons[i];
	if (!m) {
		FAIL("more than %d monitors in one test", MAX_MONS);
		return NULL;
	}
	memset(m, 0, sizeof(*m));
	m->used = true;
	m->fd = -1;
	diag_init(&d);
	r = settings_load(&m->s, next_conf_dir ? next_conf_dir : conf_dir, "rserver",
	                  SETTINGS_LOGIN_DEFS, &d);
	if (r < 0) {
		FAIL("settings_load(%s): %s", next_conf_dir ? next_conf_dir : conf_dir,
		     strerror(-r));
		diag_free(&d);
		return NULL;
	}
	m->settings_loaded = true;
	for (size_t i = 0; kv && kv[i]; i++) {
		const char *eq = strchr(kv[i], '=');
		char *key = eq ? str_copy_n(kv[i], (size_t)(eq - kv[i])) : NULL;
		if (!key || m->nov == sizeof(m->ov) / sizeof(m->ov[0]) ||
		    asprintf(&m->ov[m->nov], "--%s", kv[i]) < 0) {
			free(key);
			FAIL("bad override '%s'", kv[i]);
			diag_free(&d);
			return NULL;
		}
		m->nov++;
		settings_override(&m->s, key, eq + 1, &d);
		free(key);
	}
	if (diag_errors(&d)) {
		FAIL("the configuration has errors:");
		diag_print(&d, stderr);
		diag_free(&d);
		return NULL;
	}
	diag_free(&d);
	m->cfg = (struct monitor_config){.settings = &m->s,
	                                 .overrides = m->ov,
	                                 .noverrides = m->nov,
	                                 .cmdline = next_cmdline,
	                                 .auth_timeout_ms = next_auth_timeout_ms,
	                                 .launch_timeout_ms = next_launch_timeout_ms};

	fflush(stdout);
	fflush(stderr);
	logfd = open(cur_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int fd = 0; fd < 3; fd++)
		save[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	if (logfd < 0 || nullfd < 0 || save[0] < 0 || save[1] < 0 || save[2] < 0) {
		r = -EIO;
	} else {
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		r = monitor_spawn(&m->cfg, &m->pid, &m->fd);
		for (int fd = 0; fd < 3; fd++)
			dup2(save[fd], fd);
	}
	for (int fd = 0; fd < 3; fd++)
		if (save[fd] >= 0)
			close(save[fd]);
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	if (r < 0) {
		FAIL("monitor_spawn: %s", strerror(-r));
		return NULL;
	}
	m->up = true;
	monitor_client_init(&m->mc, m->fd);
	return m;
}

/* MON_AUTH; the result, or -1 when the monitor did not answer properly. */
static int mon_auth(struct mon *m, const char *service, const char *user, const char *password,
                    char *canonical, size_t size)
{
	struct monbuf req;
	struct mon_reply rep;
	int r, res;

	if (canonical && size)
		canonical[0] = '\0';
	r = monitor_client_request_auth(&m->mc, service, user, password, &req);
	if (r == 0)
		r = monitor_client_call(&m->mc, &req, CALL_MS, &rep);
	if (r < 0) {
		fprintf(stderr, "auth of '%s': no answer from the monitor: %s\n", user,
		        strerror(-r));
		return -1;
	}
	if (rep.type != MON_AUTH_REP) {
		fprintf(stderr, "auth of '%s': answered with %s\n", user, mon_type_name(rep.type));
		mon_reply_free(&rep);
		return -1;
	}
	res = (int)rep.auth.result;
	say("auth %s (service %s): %s, user '%s', message '%s'", user, service,
	    mon_auth_result_name(rep.auth.result), rep.auth.user ? rep.auth.user : "(null)",
	    rep.auth.message ? rep.auth.message : "(null)");
	if (canonical && rep.auth.user)
		xsnprintf(canonical, size, "%s", rep.auth.user);
	mon_reply_free(&rep);
	return res;
}

struct launch_result {
	pid_t pid; /* 0: failed */
	char sock[PATH_MAX];
	char step[64];
	char message[1024];
};

/* MON_LAUNCH; 0 with *lr filled (succeeded or not), or negative. */
static int mon_launch_ex(struct mon *m, const char *user, const char *sid, bool resume,
                         struct launch_result *lr)
{
	struct monbuf req;
	struct mon_reply rep;
	int r;

	memset(lr, 0, sizeof(*lr));
	r = monitor_client_request_launch(&m->mc, user, sid, resume, &req);
	if (r == 0)
		r = monitor_client_call(&m->mc, &req, CALL_MS, &rep);
	if (r < 0) {
		fprintf(stderr, "launch %s for %s: no answer from the monitor: %s\n", sid, user,
		        strerror(-r));
		return r;
	}
	if (rep.type != MON_LAUNCH_REP) {
		fprintf(stderr, "launch %s: answered with %s\n", sid, mon_type_name(rep.type));
		mon_reply_free(&rep);
		return -EPROTO;
	}
	lr->pid = rep.launch.pid;
	xsnprintf(lr->sock, sizeof(lr->sock), "%s",
	          rep.launch.socket_path ? rep.launch.socket_path : "");
	snprintf(lr->step, sizeof(lr->step), "%s", rep.launch.step ? rep.launch.step : "");
	snprintf(lr->message, sizeof(lr->message), "%s",
	         rep.launch.message ? rep.launch.message : "");
	mon_reply_free(&rep);
	if (lr->pid > 0)
		say("launch %s for %s: pid %d, socket %s", sid, user, (int)lr->pid, lr->sock);
	else
		say("launch %s for %s: failed at step '%s': %s", sid, user, lr->step, lr->message);
	return 0;
}

static int mon_launch(struct mon *m, const char *user, const char *sid, struct launch_result *lr)
{
	return mon_launch_ex(m, user, sid, false, lr);
}

/* MON_SIGNOUT; the result (0) and message, or INT32_MIN without an answer. */
static int mon_signout(struct mon *m, const char *user, char *message, size_t size)
{
	struct monbuf req;
	struct mon_reply rep;
	int r;

	message[0] = '\0';
	r = monitor_client_request_signout(&m->mc, user, &req);
	if (r == 0)
		r = monitor_client_call(&m->mc, &req, CALL_MS, &rep);
	if (r < 0) {
		fprintf(stderr, "sign-out: no answer from the monitor: %s\n", strerror(-r));
		return INT32_MIN;
	}
	if (rep.type != MON_SIGNOUT_REP) {
		fprintf(stderr, "sign-out: answered with %s\n", mon_type_name(rep.type));
		mon_reply_free(&rep);
		return INT32_MIN;
	}
	r = rep.signout.result;
	xsnprintf(message, size, "%s", rep.signout.message ? rep.signout.message : "");
	say("sign-out of %s: %d (%s)", user, r, message);
	mon_reply_free(&rep);
	return r;
}

/* MON_SIGNAL; the result (0 or -errno), or INT32_MIN without an answer. */
static int mon_signal(struct mon *m, const char *user, const char *sid, pid_t pid, int sig)
{
	struct monbuf req;
	struct mon_reply rep;
	int r;

	r = monitor_client_request_signal(&m->mc, user, sid, pid, sig, &req);
	if (r == 0)
		r = monitor_client_call(&m->mc, &req, CALL_MS, &rep);
	if (r < 0) {
		fprintf(stderr, "signal: no answer from the monitor: %s\n", strerror(-r));
		return INT32_MIN;
	}
	if (rep.type != MON_SIGNAL_REP) {
		fprintf(stderr, "signal: answered with %s\n", mon_type_name(rep.type));
		mon_reply_free(&rep);
		return INT32_MIN;
	}
	r = rep.signal.result;
	say("signal %d to pid %d as %s/%s: %d (%s)", sig, (int)pid, user, sid, r,
	    rep.signal.message ? rep.signal.message : "");
	mon_reply_free(&rep);
	return r;
}

/* MON_RELOAD; the result (0 or -errno) and message, or INT32_MIN without an
 * answer. */
static int mon_reload(struct mon *m, char *message, size_t size)
{
	struct monbuf req;
	struct mon_reply rep;
	int r;

	message[0] = '\0';
	r = monitor_client_request_reload(&m->mc, &req);
	if (r == 0)
		r = monitor_client_call(&m->mc, &req, CALL_MS, &rep);
	if (r < 0) {
		fprintf(stderr, "reload: no answer from the monitor: %s\n", strerror(-r));
		return INT32_MIN;
	}
	if (rep.type != MON_RELOAD_REP) {
		fprintf(stderr, "reload: answered with %s\n", mon_type_name(rep.type));
		mon_reply_free(&rep);
		return INT32_MIN;
	}
	r = rep.reload.result;
	xsnprintf(message, size, "%s", rep.reload.message ? rep.reload.message : "");
	say("reload: %d (%s)", r, message);
	mon_reply_free(&rep);
	return r;
}

/* ---- sessions ------------------------------------------------------------------ */

struct sess {
	bool used;
	char id[96];
	const struct tuser *u;
	pid_t pid;      /* rsession (bash until it execs) */
	pid_t launcher; /* its root parent */
	char sock[PATH_MAX];
	struct client c;
};

static struct sess sessions[MAX_SESS];

static struct sess *sess_new(const struct tuser *u, const char *tag)
{
	for (size_t i = 0; i < MAX_SESS; i++)
		if (!sessions[i].used) {
			struct sess *s = &sessions[i];
			memset(s, 0, sizeof(*s));
			s->used = true;
			s->u = u;
			xsnprintf(s->id, sizeof(s->id), "%s%s", sid_prefix, tag);
			client_init(&s->c, tag);
			return s;
		}
	FAIL("more than %d sessions in one test", MAX_SESS);
	return NULL;
}

/*
 * Launches a session for u (resume: with MON_LAUNCH_RESUME, as opening a
 * suspended session does) and attaches to it: the launch must succeed,
 * the pid must become rsession, and the socket must give the hello and
 * R's first prompt. NULL (with the reason printed) otherwise.
 */
static struct sess *session_launch(struct mon *m, const struct tuser *u, const char *tag,
                                   bool resume)
{
	struct sess *s = sess_new(u, tag);
	struct launch_result lr;
	char exe[PATH_MAX];

	if (!s || mon_launch_ex(m, u->name, s->id, resume, &lr) < 0)
		return NULL;
	if (lr.pid <= 0) {
		fprintf(stderr, "launch of %s for %s failed at step '%s': %s\n", s->id, u->name,
		        lr.step, lr.message);
		return NULL;
	}
	s->pid = lr.pid;
	xsnprintf(s->sock, sizeof(s->sock), "%s", lr.sock);
	s->launcher = (pid_t)proc_stat_num(s->pid, 4);
	/* The sandbox's root runs its own copy of rsession (see setup). */
	if (!wait_exe(s->pid,
	              m->s.config_dir && strcmp(m->s.config_dir, sb_conf) == 0 ? sb_rsession
	                                                                   : rsession_exe,
	              T_MS))
		return NULL;
	if (s->launcher <= 1 || !proc_exe(s->launcher, exe, sizeof(exe)) ||
	    strcmp(exe, launcher_exe) != 0)
		FAIL("the parent of session pid %d is %d, not an rsession-launcher", (int)s->pid,
		     (int)s->launcher);
	if (client_connect(&s->c, s->sock, NULL, T_MS) < 0 || client_attach(&s->c, T_MS) < 0)
		return NULL;
	say("session %s attached (pid %d, launcher %d)", s->id, (int)s->pid, (int)s->launcher);
	return s;
}

static struct sess *session_start(struct mon *m, const struct tuser *u, const char *tag)
{
	return session_launch(m, u, tag, false);
}

/*
 * Evaluates expr in the session and returns what cat() printed of it,
 * between markers so that nothing else R prints can be mistaken for it.
 */
static int r_value(struct client *c, const char *expr, char *out, size_t size)
{
	char code[2048];
	const char *o, *a, *b;

	out[0] = '\0';
	xsnprintf(code, sizeof(code), "cat('@@<', %s, '>@@\\n', sep = '')\n", expr);
	if (client_run_wait(c, code, T_MS) < 0)
		return -1;
	o = buf_str(&c->out);
	a = strstr(o, "@@<");
	b = a ? strstr(a + 3, ">@@") : NULL;
	if (!b) {
		fprintf(stderr, "R: no value for %s; stdout '%s', stderr '%s'\n", expr, o,
		        buf_str(&c->err));
		return -1;
	}
	xsnprintf(out, size, "%.*s", (int)(b - a - 3), a + 3);
	return 0;
}

static void check_r(struct client *c, const char *expr, const char *want, int line)
{
	char got[4096];

	if (r_value(c, expr, got, sizeof(got)) < 0) {
		fail_at(line, "R: %s could not be evaluated", expr);
		return;
	}
	say("R: %s = \"%s\"", expr, got);
	if (strcmp(got, want) != 0)
		fail_at(line, "R: %s = \"%s\", want \"%s\"", expr, got, want);
}
#define CHECK_R(c, expr, want) check_r(c, expr, want, __LINE__)

/* q("no") through the socket; the session must close the connection. */
static int session_quit(struct sess *s)
{
	if (client_run(&s->c, "q('no')\n") < 0)
		return -1;
	return client_expect_closed(&s->c, T_MS);
}

/* The exit record the launcher writes, waited for; NULL if none came. */
static json_t *exit_record(const char *sid, int timeout_ms)
{
	char path[PATH_MAX];
	json_error_t err;
	json_t *o;

	xsnprintf(path, sizeof(path), "%s/sessions/%s.exit", data_dir, sid);
	if (!wait_file(path, NULL, timeout_ms)) {
		fprintf(stderr, "no exit record %s within %d ms\n", path, timeout_ms);
		return NULL;
	}
	o = json_load_file(path, 0, &err);
	if (!o) {
		fprintf(stderr, "%s: not JSON: %s\n", path, err.text);
		return NULL;
	}
	char *dump = json_dumps(o, JSON_COMPACT);
	say("exit record: %s", dump ? dump : "?");
	free(dump);
	return o;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "(missing)";
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : LLONG_MIN;
}

/* Forks a process running as u (its primary group only), stdout and
 * stderr to err_fd (or /dev/null when negative). */
static pid_t spawn_as_user(const struct tuser *u, const char *const argv[], int err_fd)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		int out = err_fd >= 0 ? err_fd : nul;
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
		    setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
		    setresuid(u->uid, u->uid, u->uid) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* ---- per-test frame ---------------------------------------------------------- */

static const char *only;

static bool selected(const char *name)
{
	const char *p = only;
	size_t n = strlen(name);

	if (!only || !*only)
		return true;
	while ((p = strstr(p, name))) {
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/*
 * After each test: sessions still running are killed by pid (their
 * launchers then record the end, clean up and exit, which is waited for),
 * monitors are stopped, and the log is searched for sanitizer reports.
 */
static void test_teardown(void)
{
	char *log;

	for (size_t i = 0; i < MAX_SESS; i++) {
		struct sess *s = &sessions[i];
		uid_t uid;
		if (!s->used)
			continue;
		client_close(&s->c);
		if (s->pid > 0 && proc_alive(s->pid) && proc_real_uid(s->pid, &uid) &&
		    uid == s->u->uid)
			kill(s->pid, SIGKILL);
	}
	for (size_t i = 0; i < MAX_SESS; i++) {
		struct sess *s = &sessions[i];
		if (s->used && s->launcher > 1 && !wait_gone(s->launcher, 10000)) {
			FAIL("launcher %d of %s did not exit within 10 s of its session's end",
			     (int)s->launcher, s->id);
			if (is_our_launcher(s->launcher))
				kill(s->launcher, SIGKILL);
		}
		memset(s, 0, sizeof(*s));
	}
	/*
	 * Newest first: a monitor forked after another holds a copy of the
	 * older one's socket (fork copies every fd), so the older monitor
	 * sees end-of-file only once the newer has exited. rserver forks one
	 * monitor; only a test with several meets this.
	 */
	for (size_t i = MAX_MONS; i-- > 0;)
		if (mons[i].used)
			mon_stop(&mons[i], true);
	log = read_text(cur_log);
	if (log && (strstr(log, "Sanitizer") || strstr(log, "runtime error:"))) {
		FAIL("a sanitizer reported in %s", cur_log);
	}
	if (test_current_failed && log) {
		size_t len = strlen(log), max = 12000;
		fprintf(stderr, "---- %s (%s%zu bytes) ----\n%s---- end of log ----\n", cur_log,
		        len > max ? "last of " : "", len, len > max ? log + len - max : log);
	}
	free(log);
}

#define RUN_LAUNCH(name)                                                                           \
	do {                                                                                       \
		if (!selected(#name))                                                              \
			break;                                                                     \
		test_current = #name;                                                              \
		test_current_failed = 0;                                                           \
		test_t0 = now_ms();                                                                \
		xsnprintf(cur_log, sizeof(cur_log), "%s/%s.log", log_dir, #name);                  \
		printf("---- %s\n", #name);                                                        \
		fflush(stdout);                                                                    \
		test_##name();                                                                     \
		test_teardown();                                                                   \
		if (test_current_failed)                                                           \
			test_failed++;                                                             \
		else                                                                               \
			test_passed++;                                                             \
		printf("%s %s (%.1f s)\n", test_current_failed ? "FAIL" : "ok  ", #name,           \
		       (double)(now_ms() - test_t0) / 1000.0);                                     \
		fflush(stdout);                                                                    \
	} while (0)

/* ---- the tests ------------------------------------------------------------------ */

static void check_auth(struct mon *m, const struct tuser *u, const char *user, const char *pw,
                       enum mon_auth_result want, int line)
{
	char canonical[128];
	int got = mon_auth(m, svc_auth, user, pw, canonical, sizeof(canonical));

	if (got != (int)want)
		fail_at(line, "auth of '%s': %s, want %s", user,
		        got < 0 ? "no answer" : mon_auth_result_name((enum mon_auth_result)got),
		        mon_auth_result_name(want));
	else if (want == MON_AUTH_OK && u && strcmp(canonical, u->name) != 0)
		fail_at(line, "auth of '%s': canonical name '%s', want '%s'", user, canonical,
		        u->name);
}
#define CHECK_AUTH(m, u, user, pw, want) check_auth(m, u, user, pw, want, __LINE__)

/* Extra: a PAM stack that never answers is timed out, and its worker and
 * everything it forked are killed. */
TEST(auth_timeout)
{
	struct tuser *p = &users[U_PLAIN];
	char svc[128];
	struct mon *m;
	int64_t t0;
	int got;

	xsnprintf(svc, sizeof(svc), "auth-pam-service=%s", svc_slow);
	next_auth_timeout_ms = 1000;
	m = mon_new(KV(svc));
	next_auth_timeout_ms = 0;
	REQUIRE(m);
	t0 = now_ms();
	got = mon_auth(m, svc_slow, p->name, p->password, NULL, 0);
	say("auth through a hanging PAM stack: %s after %.2f s",
	    got < 0 ? "no answer" : mon_auth_result_name((enum mon_auth_result)got),
	    (double)(now_ms() - t0) / 1000.0);
	CHECK_INT(got, MON_AUTH_TIMEOUT);
	/* pam_exec's sleep went with the worker: nothing of the PAM stack
	 * is left running (bounded wait for the kill to land). */
	{
		int64_t deadline = now_ms() + 5000;
		int left = 1;
		while (left && now_ms() < deadline) {
			char out[256];
			left = run_cmd(ARGV("pgrep", "-f", "^/bin/sleep 300$"), NULL, out,
			               sizeof(out)) == 0;
			if (left)
				poll(NULL, 0, 50);
		}
		CHECK(!left);
	}
out:;
}

/* 1: sign-in outcomes through MON_AUTH. */
TEST(auth)
{
	struct tuser *p = &users[U_PLAIN], *g = &users[U_GRP];
	struct mon *m, *high, *grp;
	char nobody[64], minuid[64], reqgrp[128];
	int got;

	xsnprintf(nobody, sizeof(nobody), "%snobody", name_prefix);
	xsnprintf(minuid, sizeof(minuid), "auth-minimum-user-id=%u", (unsigned)p->uid + 100000);
	xsnprintf(reqgrp, sizeof(reqgrp), "auth-required-user-group=%s", group_name);
	REQUIRE((m = mon_new(NULL)));
	REQUIRE((high = mon_new(KV(minuid))));
	REQUIRE((grp = mon_new(KV(reqgrp))));

	CHECK_AUTH(m, p, p->name, p->password, MON_AUTH_OK);
	CHECK_AUTH(m, p, p->name, "not-the-password", MON_AUTH_BAD_PASSWORD);
	CHECK_AUTH(m, NULL, nobody, "whatever", MON_AUTH_UNKNOWN_USER);
	CHECK_AUTH(m, NULL, "root", "whatever", MON_AUTH_UID_TOO_LOW);
	CHECK_AUTH(m, NULL, users[U_EXP].name, users[U_EXP].password, MON_AUTH_ACCOUNT_EXPIRED);
	got = mon_auth(m, svc_auth, users[U_LOCK].name, users[U_LOCK].password, NULL, 0);
	if (got == MON_AUTH_OK || got < 0)
		FAIL("auth of the locked user '%s': %s, want a refusal", users[U_LOCK].name,
		     got < 0 ? "no answer" : "ok");

	/* Only auth-pam-service: the session service has pam_rootok, and the
	 * monitor runs PAM as root, so through it any password would pass. */
	got = mon_auth(m, svc_session, p->name, "not-the-password", NULL, 0);
	if (got != MON_AUTH_ERROR)
		FAIL("auth through the session service '%s': %s, want %s", svc_session,
		     got < 0 ? "no answer" : mon_auth_result_name((enum mon_auth_result)got),
		     mon_auth_result_name(MON_AUTH_ERROR));

	/* auth-minimum-user-id above the user's uid. */
	CHECK_AUTH(high, p, p->name, p->password, MON_AUTH_UID_TOO_LOW);
	/* auth-required-user-group: a member passes, others do not. */
	CHECK_AUTH(grp, p, p->name, p->password, MON_AUTH_NOT_IN_GROUP);
	CHECK_AUTH(grp, g, g->name, g->password, MON_AUTH_OK);
out:;
}

/* Extra: MON_RELOAD re-reads rserver.conf; a file with errors changes
 * nothing, and a monitor without a command line cannot reload. */
TEST(reload)
{
	struct tuser *p = &users[U_PLAIN];
	struct cmdline cl = {.action = CMDLINE_SERVE, .config_dir = conf_dir};
	char path[PATH_MAX], text[8192], msg[1024], want[128];
	char *orig = NULL, *log = NULL;
	struct mon *m, *old;

	xsnprintf(path, sizeof(path), "%s/rserver.conf", conf_dir);
	REQUIRE((orig = read_text(path)));
	REQUIRE((old = mon_new(NULL)));
	next_cmdline = &cl;
	m = mon_new(NULL);
	next_cmdline = NULL;
	REQUIRE(m);
	CHECK_INT(mon_reload(old, msg, sizeof(msg)), -ENOTSUP);
	CHECK_STR(msg, "reload not available");
	CHECK_AUTH(m, p, p->name, p->password, MON_AUTH_OK);

	/* An error anywhere: nothing of the file is taken, not even the
	 * good line before it. */
	xsnprintf(text, sizeof(text), "%sauth-minimum-user-id=%u\nwww-prot=1\n", orig,
	          (unsigned)p->uid + 1);
	REQUIRE(write_text(path, 0644, true, text) == 0);
	CHECK(mon_reload(m, msg, sizeof(msg)) == -EINVAL);
	CHECK_CONTAINS(msg, "rserver.conf:");
	CHECK_CONTAINS(msg, "unknown key 'www-prot'");
	CHECK_AUTH(m, p, p->name, p->password, MON_AUTH_OK);

	/* A reloadable key is applied at once; a fixed one is reported. */
	xsnprintf(text, sizeof(text), "%sauth-minimum-user-id=%u\nwww-port=9999\n", orig,
	          (unsigned)p->uid + 1);
	REQUIRE(write_text(path, 0644, true, text) == 0);
	CHECK_INT(mon_reload(m, msg, sizeof(msg)), 0);
	CHECK_STR(msg, "1 setting reloaded, 1 needs a restart");
	CHECK_AUTH(m, p, p->name, p->password, MON_AUTH_UID_TOO_LOW);
	xsnprintf(want, sizeof(want), "Reloaded auth-minimum-user-id: now %u",
	          (unsigned)p->uid + 1);
	log = read_text(cur_log);
	CHECK_CONTAINS(log, want);
	CHECK_CONTAINS(log, "rserver.conf: www-port changed; takes effect after a restart");
out:
	/* The other tests share the config dir. */
	if (orig && write_text(path, 0644, true, orig) < 0)
		FAIL("cannot restore %s", path);
	free(orig);
	free(log);
}

static void check_limit(pid_t pid, const char *name, const char *want, int line)
{
	char soft[64], hard[64];

	if (!proc_limit(pid, name, soft, hard, sizeof(soft))) {
		fail_at(line, "/proc/%d/limits has no '%s'", (int)pid, name);
		return;
	}
	say("%s: soft %s, hard %s", name, soft, hard);
	if (strcmp(soft, want) != 0 || strcmp(hard, want) != 0)
		fail_at(line, "%s of pid %d: soft %s hard %s, want %s", name, (int)pid, soft, hard,
		        want);
}
#define CHECK_LIMIT(pid, name, want) check_limit(pid, name, want, __LINE__)

static void check_status_line(pid_t pid, const char *key, const char *want, int line)
{
	char v[512];

	if (!proc_status(pid, key, v, sizeof(v))) {
		fail_at(line, "/proc/%d/status has no %s", (int)pid, key);
		return;
	}
	say("%s: %s", key, v);
	if (strcmp(v, want) != 0)
		fail_at(line, "%s of pid %d is '%s', want '%s'", key, (int)pid, v, want);
}
#define CHECK_STATUS(pid, key, want) check_status_line(pid, key, want, __LINE__)

/* The ids of /proc/<pid>/status Groups: against `id -G user`. */
static void check_groups(pid_t pid, const struct tuser *u, int line)
{
	char got[512], want[512];
	long g[64], w[64];
	size_t ng, nw;

	if (!proc_status(pid, "Groups", got, sizeof(got)) ||
	    run_cmd(ARGV("id", "-G", u->name), NULL, want, sizeof(want)) != 0) {
		fail_at(line, "cannot read the groups of pid %d or of %s", (int)pid, u->name);
		return;
	}
	ng = id_list(got, g, 64);
	nw = id_list(want, w, 64);
	say("Groups: '%s'; id -G %s: '%.*s'", got, u->name, (int)strcspn(want, "\n"), want);
	if (ng != nw || memcmp(g, w, ng * sizeof(long)) != 0)
		fail_at(line, "groups of pid %d are '%s', want those of id -G: '%.*s'", (int)pid,
		        got, (int)strcspn(want, "\n"), want);
}

static void check_nice(pid_t pid, long long want, int line)
{
	long long nice = proc_stat_num(pid, 19);

	say("nice (stat field 19): %lld", nice);
	if (nice != want)
		fail_at(line, "nice of pid %d is %lld, want %lld", (int)pid, nice, want);
}

/* No descriptor of pid refers to the canary this process holds open. */
static void check_no_canary(pid_t pid, int line)
{
	char dir[64], path[PATH_MAX + 80], target[PATH_MAX];
	DIR *d;
	struct dirent *e;
	unsigned n = 0;

	xsnprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d) {
		fail_at(line, "cannot list %s", dir);
		return;
	}
	while ((e = readdir(d))) {
		ssize_t k;
		if (e->d_name[0] == '.')
			continue;
		n++;
		xsnprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		k = readlink(path, target, sizeof(target) - 1);
		if (k > 0) {
			target[k] = '\0';
			if (strcmp(target, canary_path) == 0)
				fail_at(line, "pid %d has fd %s open on the test's canary %s",
				        (int)pid, e->d_name, canary_path);
		}
	}
	closedir(d);
	say("pid %d has %u fds; none is the canary the test process holds open", (int)pid, n);
}

/* 2: a plain user's session: ids, placement, limits, environment. */
TEST(launch_plain)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m;
	struct sess *s;
	char want[PATH_MAX + 64], tmpdir[PATH_MAX];
	struct stat st;

	REQUIRE((m = mon_new(NULL)));
	REQUIRE((s = session_start(m, u, "plain")));

	xsnprintf(want, sizeof(want), "%u %u %u %u", (unsigned)u->uid, (unsigned)u->uid,
	          (unsigned)u->uid, (unsigned)u->uid);
	CHECK_STATUS(s->pid, "Uid", want);
	xsnprintf(want, sizeof(want), "%u %u %u %u", (unsigned)u->gid, (unsigned)u->gid,
	          (unsigned)u->gid, (unsigned)u->gid);
	CHECK_STATUS(s->pid, "Gid", want);
	check_groups(s->pid, u, __LINE__);
	/* [*] sets no nice: the session keeps rserver's. */
	check_nice(s->pid, base_nice, __LINE__);
	CHECK_STATUS(s->pid, "Cpus_allowed_list", "0");
	if (asan_programs)
		say("SKIP Max address space: the programs are built with AddressSanitizer, "
		    "which cannot run under RLIMIT_AS; max-memory-mb is left out of [*]");
	else
		CHECK_LIMIT(s->pid, "Max address space", "8589934592");
	CHECK_LIMIT(s->pid, "Max processes", "800");
	CHECK_LIMIT(s->pid, "Max open files", "1536");
	check_no_canary(s->pid, __LINE__);

	/* The environment is rebuilt from an allow-list: rserver's own
	 * variables stay behind, PAM's come through. */
	CHECK_R(&s->c, "Sys.getenv('RS_LAUNCH_CANARY')", "");
	CHECK_R(&s->c, "Sys.getenv('RS_LAUNCH_CANARY', unset = 'unset')", "unset");
	CHECK_R(&s->c, "Sys.getenv('RS_PAM_CANARY')", "frompam");
	xsnprintf(tmpdir, sizeof(tmpdir), "%s/%s", stmp_dir, s->id);
	CHECK_R(&s->c, "Sys.getenv('TMPDIR')", tmpdir);
	CHECK_R(&s->c, "startsWith(tempdir(), Sys.getenv('TMPDIR'))", "TRUE");
	if (lstat(tmpdir, &st) < 0) {
		FAIL("TMPDIR %s: %s", tmpdir, strerror(errno));
	} else {
		say("TMPDIR %s: uid %u, mode %04o", tmpdir, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		CHECK(S_ISDIR(st.st_mode));
		CHECK_INT(st.st_uid, u->uid);
		CHECK_INT(st.st_mode & 07777, 0700);
	}
	CHECK_R(&s->c, "Sys.getenv('HOME')", u->home);
	CHECK_R(&s->c, "Sys.getenv('USER')", u->name);
	CHECK_R(&s->c, "Sys.getenv('LOGNAME')", u->name);
	CHECK_R(&s->c, "Sys.info()[['effective_user']]", u->name);
	CHECK_R(&s->c, "R.home()", r_home);
	CHECK_R(&s->c, "getwd()", u->home);
	/* Extra: the launcher's hand-over variables do not reach R. */
	CHECK_R(&s->c, "Sys.getenv('RSESSION_PROFILE_SCRIPT', unset = 'unset')", "unset");
	CHECK_R(&s->c, "Sys.getenv('RSESSION_DIAGNOSTICS_FILE', unset = 'unset')", "unset");
	/* The session's log is the user's own file, not the server's: a
	 * user must not be able to write into rserver's log. rsession keeps
	 * it open for its log; its fds 1 and 2 are pipes it reads itself,
	 * turning what child processes print into console output. */
	{
		char logpath[PATH_MAX + 128], fd1[PATH_MAX], link[64];
		bool log_open = false;
		ssize_t n;
		xsnprintf(logpath, sizeof(logpath), "%s/.local/share/rstudio/log/rsession-%s.log",
		          u->home, s->id);
		xsnprintf(link, sizeof(link), "/proc/%d/fd/1", (int)s->pid);
		n = readlink(link, fd1, sizeof(fd1) - 1);
		CHECK(n > 0);
		if (n > 0) {
			fd1[n] = '\0';
			CHECK(strncmp(fd1, "pipe:", 5) == 0);
			say("rsession's fd 1: %s", fd1);
		}
		for (int fd = 3; fd < 64 && !log_open; fd++) {
			xsnprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)s->pid, fd);
			n = readlink(link, fd1, sizeof(fd1) - 1);
			if (n > 0) {
				fd1[n] = '\0';
				log_open = strcmp(fd1, logpath) == 0;
			}
		}
		CHECK(log_open);
		if (!log_open)
			say("no fd of rsession %d is %s", (int)s->pid, logpath);
		if (lstat(logpath, &st) < 0) {
			FAIL("session log %s: %s", logpath, strerror(errno));
		} else {
			CHECK_INT(st.st_uid, u->uid);
			CHECK_INT(st.st_mode & 0777, 0600);
		}
		xsnprintf(link, sizeof(link), "/proc/%d/fd/0", (int)s->pid);
		n = readlink(link, fd1, sizeof(fd1) - 1);
		CHECK(n > 0 && (size_t)n == strlen("/dev/null") &&
		      memcmp(fd1, "/dev/null", (size_t)n) == 0);
	}
out:;
}

/* 3: the group's profile, and the memory cgroup killing a session over it. */
TEST(group_profile)
{
	struct tuser *u = &users[U_GRP];
	struct mon *m;
	struct sess *s;
	char dir[PATH_MAX], want[PATH_MAX], limit_file[PATH_MAX + 32], *limit;
	struct group *gr = getgrnam(group_name);
	bool v2 = false, member = false;
	char groups[512];
	long g[64];
	size_t ng;
	json_t *rec = NULL;

	REQUIRE(gr);
	REQUIRE((m = mon_new(NULL)));
	REQUIRE((s = session_start(m, u, "grp")));

	check_nice(s->pid, 5, __LINE__);
	xsnprintf(want, sizeof(want), "%d", grp_core - 1);
	CHECK_STATUS(s->pid, "Cpus_allowed_list", want);
	CHECK_LIMIT(s->pid, "Max open files", "2048");
	CHECK_LIMIT(s->pid, "Max processes", "800"); /* from [*] */
	check_groups(s->pid, u, __LINE__);
	REQUIRE(proc_status(s->pid, "Groups", groups, sizeof(groups)));
	ng = id_list(groups, g, 64);
	for (size_t i = 0; i < ng; i++)
		member |= g[i] == (long)gr->gr_gid;
	if (!member)
		FAIL("Groups of pid %d ('%s') lack %s (%u)", (int)s->pid, groups, group_name,
		     (unsigned)gr->gr_gid);

	/* The memory cgroup: named for the session, limited to max-rss-mb. */
	REQUIRE(memory_cgroup_dir(s->pid, dir, sizeof(dir), &v2));
	say("memory cgroup of pid %d: %s (v%d)", (int)s->pid, dir, v2 ? 2 : 1);
	xsnprintf(want, sizeof(want), "rserver-%s", s->id);
	CHECK_STR(strrchr(dir, '/') + 1, want);
	xsnprintf(limit_file, sizeof(limit_file), "%s/%s", dir,
	          v2 ? "memory.max" : "memory.limit_in_bytes");
	limit = read_text(limit_file);
	REQUIRE(limit);
	limit[strcspn(limit, "\n")] = '\0';
	say("%s = %s", limit_file, limit);
	xsnprintf(want, sizeof(want), "%llu", (unsigned long long)RSS_LIMIT * MIB);
	CHECK_STR(limit, want);
	free(limit);

	/* Beyond the limit the kernel kills the session; the launcher says so. */
	REQUIRE(client_run(&s->c, "x <- rnorm(80e6)\n") == 0);
	CHECK(client_expect_closed(&s->c, T_MS) == 0);
	REQUIRE((rec = exit_record(s->id, T_MS)));
	CHECK(json_is_true(json_object_get(rec, "oom")));
	CHECK_INT(jint(rec, "signal"), SIGKILL);
	CHECK_CONTAINS(jstr(rec, "cause"), "memory limit");
	CHECK_STR(jstr(rec, "user"), u->name);
	CHECK_STR(jstr(rec, "session_id"), s->id);
	/* The launcher removes the cgroup once the session ended (TMPDIR: 13). */
	REQUIRE(wait_gone(s->launcher, T_MS));
	if (exists(dir))
		FAIL("the cgroup %s is still there after the session ended", dir);
out:
	json_decref(rec);
}

/* A launcher of this run for session sid (exactly), or 0. */
static pid_t launcher_for(const char *sid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char want[128];
	size_t wlen;
	pid_t found = 0;

	/* "--session-id\0<sid>\0" in the NUL-separated command line. */
	wlen = (size_t)snprintf(want, sizeof(want), "--session-id%c%s%c", 0, sid, 0);
	while (d && !found && (e = readdir(d))) {
		char path[300], *cmd;
		size_t len;
		long pid = strtol(e->d_name, NULL, 10);
		if (pid <= 1 || !proc_alive((pid_t)pid) || !is_our_launcher((pid_t)pid))
			continue;
		xsnprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		if (file_read_all(path, 65536, &cmd, &len) == 0) {
			if (memmem(cmd, len, want, wlen))
				found = (pid_t)pid;
			free(cmd);
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* Nothing of a failed launch stays behind (launcher.h: "nothing was
 * started"): no process of the user, no socket; and, when tmpdir, no
 * TMPDIR either (13 checks that on its own). */
static void check_nothing_left(const struct tuser *u, const char *sid, const char *sock,
                               bool tmpdir_too)
{
	char tmpdir[PATH_MAX];
	pid_t pids[64], launcher;
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	/* The launcher reports the failure, then undoes its steps and exits:
	 * judge what it left once it is gone. */
	if ((launcher = launcher_for(sid)) && !wait_gone(launcher, T_MS))
		FAIL("the launcher %d of the failed launch %s did not exit", (int)launcher, sid);
	d = opendir("/proc");
	while (d && (e = readdir(d))) {
		uid_t uid;
		long pid = strtol(e->d_name, NULL, 10);
		if (pid > 1 && proc_alive((pid_t)pid) && proc_real_uid((pid_t)pid, &uid) &&
		    uid == u->uid && n < 64)
			pids[n++] = (pid_t)pid;
	}
	if (d)
		closedir(d);
	if (n)
		FAIL("%zu process(es) of %s remain after a failed launch (first pid %d)", n,
		     u->name, (int)pids[0]);
	xsnprintf(tmpdir, sizeof(tmpdir), "%s/%s", stmp_dir, sid);
	if (tmpdir_too && exists(tmpdir))
		FAIL("a failed launch left its TMPDIR %s (%s)", tmpdir, dir_state(tmpdir));
	if (sock && *sock && exists(sock))
		FAIL("a failed launch left its socket %s", sock);
	{
		char path[PATH_MAX];
		xsnprintf(path, sizeof(path), "%s/sessions/%s.sock", data_dir, sid);
		if (exists(path))
			FAIL("a failed launch left the socket %s", path);
	}
}

/* 4: cpu-affinity naming a core this machine lacks. */
TEST(affinity_missing_core)
{
	struct tuser *u = &users[U_AFF];
	struct launch_result lr;
	struct mon *m;
	char sid[96], want[256];

	REQUIRE((m = mon_new(NULL)));
	xsnprintf(sid, sizeof(sid), "%saff", sid_prefix);
	REQUIRE(mon_launch(m, u->name, sid, &lr) == 0);
	CHECK_INT(lr.pid, 0);
	CHECK_STR(lr.step, "affinity");
	xsnprintf(want, sizeof(want), "cpu-affinity 5-16: core 5 does not exist (%d online)",
	          online_cpus);
	CHECK_STR(lr.message, want);
	check_nothing_left(u, sid, lr.sock, false);
out:;
}

/* The supervisor's marker: "uid N", "argv X" and "fd N target" lines. */
static void check_supervisor_marker(const struct tuser *u, const struct sess *s)
{
	char path[PATH_MAX + 32], *text, *save = NULL, fds[256] = "", own[256] = "";
	struct stat st;
	bool fd_ok[4] = {false, false, false, false}, extra = false, sock3 = false;
	unsigned argc = 0;
	const char *argv1 = NULL, *sid_after = NULL;

	xsnprintf(path, sizeof(path), "%s/rs-lt-supervisor.txt", u->home);
	if (!wait_file(path, NULL, T_MS) || !(text = read_text(path))) {
		FAIL("the supervisor wrote no %s", path);
		return;
	}
	if (lstat(path, &st) == 0) {
		say("%s: owner uid %u", path, (unsigned)st.st_uid);
		CHECK_INT(st.st_uid, u->uid);
	}
	say("supervisor marker:\n%s", text);
	bool next_is_sid = false;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "uid ", 4) == 0) {
			CHECK_INT(strtol(l + 4, NULL, 10), u->uid);
		} else if (strncmp(l, "argv ", 5) == 0) {
			const char *a = l + 5;
			if (argc == 0)
				CHECK_STR(a, supervisor);
			if (argc == 1)
				argv1 = a;
			if (next_is_sid)
				sid_after = a;
			next_is_sid = strcmp(a, "--session-id") == 0;
			argc++;
		} else if (strncmp(l, "fd ", 3) == 0) {
			char *sp = strchr(l + 3, ' ');
			const char *target = sp ? sp + 1 : "";
			long fd = strtol(l + 3, NULL, 10);
			if (sp)
				*sp = '\0';
			/*
			 * bash holds the script it reads on an fd of its own
			 * (255), opened after exec: not inherited, and marked
			 * close-on-exec, so rsession never sees it.
			 */
			if (strcmp(target, supervisor) == 0) {
				snprintf(own + strlen(own), sizeof(own) - strlen(own), " %s",
				         l + 3);
				continue;
			}
			snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), " %s", l + 3);
			if (fd >= 0 && fd <= 3)
				fd_ok[fd] = true;
			else
				extra = true;
			if (fd == 3)
				sock3 = strncmp(target, "socket:", 7) == 0;
		}
	}
	say("fds the supervisor inherited:%s (its own script fd:%s)", fds, own[0] ? own : " none");
	if (!fd_ok[0] || !fd_ok[1] || !fd_ok[2] || !fd_ok[3] || extra)
		FAIL("the supervisor inherited fds%s, want exactly 0 1 2 3", fds);
	if (!sock3)
		FAIL("fd 3 of the supervisor is not the session's socket");
	if (!argv1 || strcmp(argv1, rsession_path) != 0)
		FAIL("the supervisor's first argument is '%s', want the rsession path %s",
		     argv1 ? argv1 : "(none)", rsession_path);
	if (!sid_after || strcmp(sid_after, s->id) != 0)
		FAIL("the supervisor's arguments give --session-id '%s', want %s",
		     sid_after ? sid_after : "(none)", s->id);
	free(text);
}

/* 5: rsession-exec-command: a recording script, and nice. */
TEST(supervisor)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m1, *m2;
	struct sess *s;
	char kv[PATH_MAX + 64];

	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", supervisor);
	REQUIRE((m1 = mon_new(KV(kv))));
	REQUIRE((m2 = mon_new(KV("rsession-exec-command=/usr/bin/nice -n 3"))));

	REQUIRE((s = session_start(m1, u, "sup")));
	check_supervisor_marker(u, s);
	CHECK_R(&s->c, "1 + 1", "2");
	CHECK_INT(proc_stat_num(s->pid, 19), base_nice);

	REQUIRE((s = session_start(m2, u, "nice")));
	check_nice(s->pid, base_nice + 3, __LINE__);
	CHECK_R(&s->c, "Sys.getenv('USER')", u->name);
out:;
}

static bool file_has(const char *path, const char *needle)
{
	char *t = read_text(path);
	bool has = t && strstr(t, needle);

	free(t);
	return has;
}

/* 6: rsession-profile (and the login shell) run, or not with no-profile. */
TEST(rsession_profile)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m1, *m2;
	struct sess *s;
	char plog[PATH_MAX + 32], llog[PATH_MAX + 32], line[128];

	xsnprintf(plog, sizeof(plog), "%s/rs-lt-profile.log", u->home);
	xsnprintf(llog, sizeof(llog), "%s/rs-lt-login.log", u->home);
	REQUIRE((m1 = mon_new(NULL)));
	REQUIRE((m2 = mon_new(KV("rsession-no-profile=1"))));

	REQUIRE((s = session_start(m1, u, "prof")));
	xsnprintf(line, sizeof(line), "profile %d %s", (int)s->pid, u->name);
	if (!wait_file(plog, line, 2000))
		FAIL("rsession-profile did not run: no '%s' in %s", line, plog);
	CHECK_R(&s->c, "Sys.getenv('RS_PROFILE_VAR')", "1");
	/* Extra: the login shell read ~/.bash_profile. */
	xsnprintf(line, sizeof(line), "login %d", (int)s->pid);
	if (!file_has(llog, line))
		FAIL("the login shell did not read ~/.bash_profile: no '%s' in %s", line, llog);

	REQUIRE((s = session_start(m2, u, "noprof")));
	CHECK_R(&s->c, "Sys.getenv('RS_PROFILE_VAR', unset = 'unset')", "unset");
	xsnprintf(line, sizeof(line), "profile %d ", (int)s->pid);
	if (file_has(plog, line))
		FAIL("rsession-profile ran with rsession-no-profile=1 ('%s' in %s)", line, plog);
	xsnprintf(line, sizeof(line), "login %d", (int)s->pid);
	if (file_has(llog, line))
		FAIL("a login shell ran with rsession-no-profile=1 ('%s' in %s)", line, llog);
out:;
}

/* Truncates the pam_exec log. */
static void pam_log_reset(void)
{
	int fd = open(pam_exec_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd >= 0)
		close(fd);
}

/* One case of 7: a session ended by q("no") or, with force, a forced
 * suspend; then what pam_exec logged. */
static void pam_close_case(struct mon *m, const char *tag, bool force, bool want_close)
{
	struct tuser *u = &users[U_PLAIN];
	struct sess *s;
	char *log = NULL, open_line[128], close_line[128];
	json_t *res = NULL;

	pam_log_reset();
	xsnprintf(open_line, sizeof(open_line), "open_session %s %s", u->name, svc_exec);
	xsnprintf(close_line, sizeof(close_line), "close_session %s %s", u->name, svc_exec);
	if (!(s = session_start(m, u, tag))) {
		FAIL("%s: the session did not start", tag);
		return;
	}
	if (!file_has(pam_exec_log, open_line))
		FAIL("%s: pam_exec did not log '%s' when the session started", tag, open_line);
	if (force) {
		if (client_send_pack(&s->c, "{s:s, s:b}", "type", "suspend", "force", 1) < 0 ||
		    client_expect_result(&s->c, "suspend", T_MS, &res) < 0)
			FAIL("%s: the forced suspend was not answered", tag);
		else if (!json_is_true(json_object_get(res, "ok")))
			FAIL("%s: the forced suspend failed", tag);
		json_decref(res);
		if (client_expect_closed(&s->c, T_MS) < 0)
			FAIL("%s: the session did not end after its forced suspend", tag);
	} else if (session_quit(s) < 0) {
		FAIL("%s: q('no') did not end the session", tag);
	}
	/* The launcher closes PAM after the session ended, then exits. */
	if (!wait_gone(s->launcher, T_MS))
		FAIL("%s: the launcher %d did not exit", tag, (int)s->launcher);
	log = read_text(pam_exec_log);
	say("%s: pam_exec log: %s", tag, log ? log : "(none)");
	if (!log || !strstr(log, open_line))
		FAIL("%s: no '%s' in the pam_exec log", tag, open_line);
	if (want_close && (!log || !strstr(log, close_line)))
		FAIL("%s: no '%s' in the pam_exec log, want the PAM session closed", tag,
		     close_line);
	if (!want_close && log && strstr(log, "close_session"))
		FAIL("%s: the PAM session was closed, want it left open", tag);
	free(log);
}

/* 7: auth-pam-sessions-close, and a forced suspend closing regardless. */
TEST(pam_session_close)
{
	char profile[128];
	struct mon *keep, *close1;

	xsnprintf(profile, sizeof(profile), "auth-pam-sessions-profile=%s", svc_exec);
	REQUIRE((keep = mon_new(KV(profile, "auth-pam-sessions-close=0"))));
	REQUIRE((close1 = mon_new(KV(profile, "auth-pam-sessions-close=1"))));
	pam_close_case(keep, "pamkeep", false, false);
	pam_close_case(close1, "pamclose", false, true);
	pam_close_case(keep, "pamforce", true, true);
out:;
}

/* 8: rsession-diagnostics-enabled writes a file per launch. */
TEST(diagnostics)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m;
	struct sess *s;
	char dir[PATH_MAX], kv[PATH_MAX + 64], pattern[PATH_MAX + 128], want[PATH_MAX + 32];
	glob_t gl = {0};
	bool globbed = false;
	char *text = NULL;
	struct stat st;

	xsnprintf(dir, sizeof(dir), "%s/diag", root);
	xsnprintf(kv, sizeof(kv), "rsession-diagnostics-dir=%s", dir);
	REQUIRE((m = mon_new(KV("rsession-diagnostics-enabled=1", kv))));
	REQUIRE((s = session_start(m, u, "diag")));
	xsnprintf(pattern, sizeof(pattern), "%s/rsession-diagnostics-%s-%s-*.log", dir, u->name,
	          s->id);
	REQUIRE(glob(pattern, 0, NULL, &gl) == 0);
	globbed = true;
	CHECK_INT(gl.gl_pathc, 1);
	REQUIRE(gl.gl_pathc >= 1);
	say("diagnostics file %s", gl.gl_pathv[0]);
	if (lstat(gl.gl_pathv[0], &st) == 0) {
		CHECK_INT(st.st_uid, u->uid);
		CHECK_INT(st.st_mode & 07777, 0600);
	}
	/* The environment section is written by the login shell before it
	 * execs rsession, so it is complete once R answers. */
	CHECK_R(&s->c, "1 + 1", "2");
	REQUIRE((text = read_text(gl.gl_pathv[0])));
	xsnprintf(want, sizeof(want), "argv[0]: %s\n", rsession_path);
	CHECK_CONTAINS(text, want);
	xsnprintf(want, sizeof(want), "argv[2]: %s\n", s->id);
	CHECK_CONTAINS(text, want);
	CHECK_CONTAINS(text, "== environment after profile scripts\n");
	CHECK_CONTAINS(text, "\nRS_PROFILE_VAR=1\n");
	CHECK_CONTAINS(text, "\nRS_PAM_CANARY=frompam\n");
	free(text);
	text = NULL;
	REQUIRE(session_quit(s) == 0);
	if (!wait_file(gl.gl_pathv[0], "\nexit: exited with status 0\n", T_MS))
		FAIL("no 'exit: exited with status 0' line in %s after the session ended",
		     gl.gl_pathv[0]);
	text = read_text(gl.gl_pathv[0]);
	say("diagnostics file:\n%s", text ? text : "(unreadable)");
out:
	free(text);
	if (globbed)
		globfree(&gl);
}

/* 9: a profile's r-version: another R home, and one that is not there. */
TEST(r_version)
{
	struct mon *m;
	struct sess *s;
	struct launch_result lr;
	char want[PATH_MAX + 64], sid[96], ld[PATH_MAX];

	REQUIRE((m = mon_new(NULL)));
	REQUIRE((s = session_start(m, &users[U_RVER], "rver")));
	CHECK_R(&s->c, "Sys.getenv('R_HOME')", r_alt);
	CHECK_R(&s->c, "R.home()", r_alt);
	CHECK_R(&s->c, "file.exists(file.path(R.home(), 'RS_LT_MARKER'))", "TRUE");
	xsnprintf(want, sizeof(want), "%s/lib", r_alt);
	if (r_value(&s->c, "Sys.getenv('LD_LIBRARY_PATH')", ld, sizeof(ld)) < 0 ||
	    strncmp(ld, want, strlen(want)) != 0 || (ld[strlen(want)] && ld[strlen(want)] != ':'))
		FAIL("LD_LIBRARY_PATH is '%s', want it to start with %s", ld, want);
	else
		say("LD_LIBRARY_PATH = %s", ld);

	xsnprintf(sid, sizeof(sid), "%srbad", sid_prefix);
	REQUIRE(mon_launch(m, users[U_RBAD].name, sid, &lr) == 0);
	CHECK_INT(lr.pid, 0);
	CHECK_STR(lr.step, "r");
	CHECK_STR(lr.message, "r-version /opt/R/3.1.0: no R installation there");
	check_nothing_left(&users[U_RBAD], sid, lr.sock, true);
out:;
}

/* After a refused signal: the bystander is alive and the session answers
 * without starting to suspend. */
static void check_not_delivered(struct sess *s, pid_t bystander, const char *what)
{
	char v[64];

	if (!proc_alive(bystander))
		FAIL("%s: the user's other process %d died: the signal was delivered", what,
		     (int)bystander);
	if (!proc_alive(s->pid) || r_value(&s->c, "1 + 1", v, sizeof(v)) < 0 ||
	    strcmp(v, "2") != 0 || strstr(buf_str(&s->c.states), "suspend"))
		FAIL("%s: the session is not running undisturbed (states '%s')", what,
		     buf_str(&s->c.states));
}

/* 10: MON_STATS and MON_SIGNAL, which checks whose process it signals. */
TEST(signal_and_stats)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m;
	struct sess *s;
	struct monbuf req;
	struct mon_reply rep;
	bool have_rep = false;
	char other_sid[96], sleep_exe[PATH_MAX];
	pid_t bystander = -1;
	json_t *rec = NULL;
	int r;

	xsnprintf(other_sid, sizeof(other_sid), "%sother", sid_prefix);
	REQUIRE((m = mon_new(NULL)));
	REQUIRE((s = session_start(m, u, "sig")));

	REQUIRE(monitor_client_request_stats(&m->mc, &s->pid, 1, &req) == 0);
	REQUIRE(monitor_client_call(&m->mc, &req, CALL_MS, &rep) == 0);
	have_rep = true;
	REQUIRE(rep.type == MON_STATS_REP);
	CHECK_INT(rep.stats.n, 1);
	REQUIRE(rep.stats.n == 1);
	say("stats of %d: cpu %llu ms, rss %llu bytes", (int)rep.stats.stats[0].pid,
	    (unsigned long long)rep.stats.stats[0].cpu_ms,
	    (unsigned long long)rep.stats.stats[0].rss_bytes);
	CHECK_INT(rep.stats.stats[0].pid, s->pid);
	CHECK(rep.stats.stats[0].rss_bytes > 10 * MIB);
	CHECK(rep.stats.stats[0].cpu_ms < 3600ULL * 1000); /* u64: >= 0 by type; sane */

	/* A process of the same user that is not an rsession. */
	bystander = spawn_as_user(u, ARGV("/bin/sleep", "300"), -1);
	REQUIRE(bystander > 0);
	REQUIRE(realpath("/bin/sleep", sleep_exe));
	REQUIRE(wait_exe(bystander, sleep_exe, T_MS));

	r = mon_signal(m, users[U_GRP].name, s->id, s->pid, SIGUSR1);
	if (r >= 0 || r == INT32_MIN)
		FAIL("SIGUSR1 naming another user: result %d, want a refusal", r);
	check_not_delivered(s, bystander, "another user");
	r = mon_signal(m, u->name, other_sid, s->pid, SIGUSR1);
	if (r >= 0 || r == INT32_MIN)
		FAIL("SIGUSR1 naming another session id: result %d, want a refusal", r);
	check_not_delivered(s, bystander, "another session id");
	/* The launcher forwards SIGUSR1 to its session: a wrong delivery
	 * would show as a suspend. */
	r = mon_signal(m, u->name, s->id, s->launcher, SIGUSR1);
	if (r >= 0 || r == INT32_MIN)
		FAIL("SIGUSR1 to the launcher's pid: result %d, want a refusal", r);
	check_not_delivered(s, bystander, "the launcher's pid");
	r = mon_signal(m, u->name, s->id, bystander, SIGUSR1);
	if (r >= 0 || r == INT32_MIN)
		FAIL("SIGUSR1 to the user's non-rsession pid: result %d, want a refusal", r);
	check_not_delivered(s, bystander, "a non-rsession pid of the user");

	/* The right pid, user and session: suspended. */
	CHECK_INT(mon_signal(m, u->name, s->id, s->pid, SIGUSR1), 0);
	CHECK(client_expect_closed(&s->c, T_MS) == 0);
	REQUIRE((rec = exit_record(s->id, T_MS)));
	CHECK_STR(jstr(rec, "cause"), "suspended");
	CHECK_INT(jint(rec, "exit_code"), RSESSION_EXIT_SUSPENDED);
out:
	if (have_rep)
		mon_reply_free(&rep);
	if (bystander > 0) {
		kill(bystander, SIGKILL);
		waitpid(bystander, NULL, 0);
	}
	json_decref(rec);
}

/*
 * 11: auth-pam-sessions-use-password hands the sign-in password to PAM.
 * The service's auth stack logs through pam_exec before pam_unix, so the
 * log tells whether pam_authenticate ran at all, and the launch's success
 * whether it got the right password.
 */
TEST(use_password)
{
	struct tuser *p = &users[U_PLAIN], *g = &users[U_GRP];
	char profile[128], sid[96], auth_line[128], *log = NULL;
	struct launch_result lr;
	struct mon *m;
	struct sess *s;

	xsnprintf(profile, sizeof(profile), "auth-pam-sessions-profile=%s", svc_pw);
	REQUIRE((m = mon_new(KV("auth-pam-sessions-use-password=1", profile))));
	CHECK_AUTH(m, p, p->name, p->password, MON_AUTH_OK);
	pam_log_reset();
	s = session_start(m, p, "pw");
	if (!s)
		FAIL("after a sign-in, a launch with %s (pam_unix auth) failed", svc_pw);
	else
		CHECK_R(&s->c, "Sys.getenv('RS_PAM_CANARY')", "frompam");
	xsnprintf(auth_line, sizeof(auth_line), "auth %s %s", p->name, svc_pw);
	if (!file_has(pam_exec_log, auth_line))
		FAIL("the launch did not run pam_authenticate: no '%s' in %s", auth_line,
		     pam_exec_log);

	pam_log_reset();
	xsnprintf(sid, sizeof(sid), "%snopw", sid_prefix);
	REQUIRE(mon_launch(m, g->name, sid, &lr) == 0);
	log = read_text(pam_exec_log);
	say("pam_exec log of the launch for %s: %s", g->name, log && *log ? log : "(empty)");
	if (lr.pid > 0) {
		FAIL("a user who never signed in got a session (pid %d) from a service that needs "
		     "the password; want a failure at step 'sign-in'",
		     (int)lr.pid);
		struct sess *leak = sess_new(g, "nopw");
		if (leak) { /* so that the teardown ends it */
			leak->pid = lr.pid;
			leak->launcher = (pid_t)proc_stat_num(lr.pid, 4);
		}
	}
	/* The monitor answers "sign in again" itself: no launcher ran, so
	 * PAM did not either. */
	CHECK_STR(lr.step, MON_LAUNCH_STEP_SIGN_IN);
	CHECK_CONTAINS(lr.message, "sign in again");
	if (log && *log)
		FAIL("PAM ran for a launch the monitor should have refused: %s", log);
	if (lr.pid <= 0)
		check_nothing_left(g, sid, lr.sock, true);
out:
	free(log);
}

/* 12: the exit record of a normal quit; the launcher refuses non-root. */
/* Counts the user's processes running "sleep <secs>". */
static int count_sleeps(const struct tuser *u, const char *secs)
{
	char uid[32], pattern[64], out[1024];
	int n = 0;

	xsnprintf(uid, sizeof(uid), "%u", (unsigned)u->uid);
	xsnprintf(pattern, sizeof(pattern), "^sleep %s$", secs);
	if (run_cmd(ARGV("pgrep", "-u", uid, "-f", pattern), NULL, out, sizeof(out)) != 0)
		return 0;
	for (char *p = out; *p; p++)
		n += *p == '\n';
	return n;
}

/* Extra (rsession.conf): session-quit-child-processes-on-exit. With 1, a
 * quit stops what the session started, including a background job that
 * was orphaned at once (system("sleep &")); with 0 they keep running. */
TEST(quit_child_processes)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m;
	struct sess *s;
	int64_t deadline;

	for (int on = 1; on >= 0; on--) {
		const char *secs = on ? "311" : "312";
		char code[128];
		REQUIRE((m = mon_new(on ? KV("session-quit-child-processes-on-exit=1") : NULL)));
		REQUIRE((s = session_start(m, u, on ? "kids1" : "kids0")));
		xsnprintf(code, sizeof(code), "{system('sleep %s > /dev/null 2>&1 &'); 'started'}",
		          secs);
		CHECK_R(&s->c, code, "started");
		deadline = now_ms() + 5000;
		while (count_sleeps(u, secs) < 1 && now_ms() < deadline)
			poll(NULL, 0, 20);
		CHECK_INT(count_sleeps(u, secs), 1);
		REQUIRE(session_quit(s) == 0);
		json_t *rec = exit_record(s->id, T_MS);
		REQUIRE(rec != NULL);
		json_decref(rec);
		deadline = now_ms() + 5000;
		while (on && count_sleeps(u, secs) > 0 && now_ms() < deadline)
			poll(NULL, 0, 20);
		say("session-quit-child-processes-on-exit=%d: %d background sleep(s) left", on,
		    count_sleeps(u, secs));
		CHECK_INT(count_sleeps(u, secs), on ? 0 : 1);
		if (!on) {
			char uid[32];
			xsnprintf(uid, sizeof(uid), "%u", (unsigned)u->uid);
			run_cmd(ARGV("pkill", "-u", uid, "-f", "^sleep 312$"), NULL, NULL, 0);
		}
	}
out:;
}

TEST(exit_record_and_nonroot)
{
	struct tuser *u = &users[U_PLAIN];
	struct mon *m;
	struct sess *s;
	json_t *rec = NULL;
	int pfd[2] = {-1, -1}, status;
	char err[4096] = "";
	size_t len = 0;
	pid_t pid;

	REQUIRE((m = mon_new(NULL)));
	REQUIRE((s = session_start(m, u, "quit")));
	REQUIRE(session_quit(s) == 0);
	REQUIRE((rec = exit_record(s->id, T_MS)));
	CHECK_STR(jstr(rec, "cause"), "exited with status 0");
	CHECK_INT(jint(rec, "exit_code"), 0);
	CHECK_INT(jint(rec, "signal"), 0);
	CHECK(json_is_false(json_object_get(rec, "oom")));
	CHECK_INT(jint(rec, "pid"), s->pid);
	CHECK_STR(jstr(rec, "user"), u->name);
	CHECK_STR(jstr(rec, "session_id"), s->id);

	REQUIRE(pipe2(pfd, O_CLOEXEC) == 0);
	pid = spawn_as_user(u, ARGV(launcher_exe, "--user", u->name, "--session-id", "x"), pfd[1]);
	REQUIRE(pid > 0);
	close(pfd[1]);
	pfd[1] = -1;
	for (;;) {
		ssize_t n = read(pfd[0], err + len, sizeof(err) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		err[len] = '\0';
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	say("rsession-launcher as %s: %s %d, stderr: %s", u->name,
	    WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), STEP_ARGS);
	CHECK_CONTAINS(err, "must run as root");
out:
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	json_decref(rec);
}

/*
 * 13 (extra): the per-session TMPDIR goes when the session does, after a
 * normal end and after a launch that failed once TMPDIR existed (the
 * header of rsession-launcher/main.c: "removes the cgroup and TMPDIR";
 * fail() "undoes what earlier steps set up").
 */
TEST(tmpdir_removed)
{
	struct tuser *u = &users[U_PLAIN];
	struct launch_result lr;
	struct mon *m;
	struct sess *s;
	char tmpdir[PATH_MAX], sid[96];

	REQUIRE((m = mon_new(NULL)));
	REQUIRE((s = session_start(m, u, "tmp")));
	CHECK_R(&s->c, "file.create(file.path(tempdir(), 'x')) && dir.exists(tempdir())", "TRUE");
	REQUIRE(session_quit(s) == 0);
	REQUIRE(wait_gone(s->launcher, T_MS));
	xsnprintf(tmpdir, sizeof(tmpdir), "%s/%s", stmp_dir, s->id);
	if (exists(tmpdir))
		FAIL("TMPDIR %s is still there after the session ended (%s)", tmpdir,
		     dir_state(tmpdir));

	/* The affinity step comes after TMPDIR is made. */
	xsnprintf(sid, sizeof(sid), "%saff2", sid_prefix);
	REQUIRE(mon_launch(m, users[U_AFF].name, sid, &lr) == 0);
	CHECK_STR(lr.step, "affinity");
	check_nothing_left(&users[U_AFF], sid, lr.sock, true);
out:;
}

/* ---- issue 12: sandbox, supervisor contract, cached passwords ---------------------- */

static const char *found_in; /* the file nftw found the needle in */
static const char *needle_text;
static char found_path[PATH_MAX];

static int needle_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char *buf;
	size_t len;
	bool hit;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_size > (64 << 20))
		return 0;
	if (file_read_all(path, 64 << 20, &buf, &len) < 0)
		return 0;
	hit = memmem(buf, len, needle_text, strlen(needle_text)) != NULL;
	free(buf);
	if (hit) {
		xsnprintf(found_path, sizeof(found_path), "%s", path);
		found_in = found_path;
		return 1;
	}
	return 0;
}

/* The first file under dir whose bytes contain text, or NULL. */
static const char *file_containing(const char *dir, const char *text)
{
	found_in = NULL;
	needle_text = text;
	nftw(dir, needle_cb, 32, FTW_PHYS);
	return found_in;
}

/* The ticket the pam_krb5 stand-in got for u last, "" if none. */
static void ticket_of(const struct tuser *u, char *out, size_t size)
{
	char path[PATH_MAX + 64], *t;

	xsnprintf(path, sizeof(path), "%s/%s", ticket_dir, u->name);
	t = read_text(path);
	xsnprintf(out, size, "%s", t ? t : "");
	out[strcspn(out, "\n")] = '\0';
	free(t);
}

/* Suspends s (not forced) and waits until its launcher has gone. */
static bool session_suspend(struct sess *s)
{
	json_t *res = NULL;
	bool ok;

	if (client_send_pack(&s->c, "{s:s}", "type", "suspend") < 0 ||
	    client_expect_result(&s->c, "suspend", T_MS, &res) < 0)
		return false;
	ok = json_is_true(json_object_get(res, "ok"));
	json_decref(res);
	return ok && client_expect_closed(&s->c, T_MS) == 0 && wait_gone(s->launcher, T_MS);
}

/*
 * Cached credentials (auth-pam-sessions-use-password): after one sign-in,
 * a session started later with no password in the request (as from a
 * cookie) still gets a fresh "ticket" from the auth stack, and so does its
 * resume after a suspend; sign-out wipes the password, and the next launch
 * is answered "sign in again" without running anything; a new sign-in
 * makes the session start. The password is in no file of the run.
 */
TEST(password_cache)
{
	struct tuser *u = &users[U_PLAIN];
	char profile[128], diag[PATH_MAX + 64], code[PATH_MAX + 64], want[64], got[64],
	    msg[512], sid[96], *tlog = NULL;
	struct launch_result lr;
	struct mon *m;
	struct sess *s;
	const char *where;

	xsnprintf(profile, sizeof(profile), "auth-pam-sessions-profile=%s", svc_krb);
	xsnprintf(diag, sizeof(diag), "rsession-diagnostics-dir=%s/diag-krb", root);
	REQUIRE((m = mon_new(KV("auth-pam-sessions-use-password=1", profile,
	                        "rsession-diagnostics-enabled=1", diag))));
	CHECK_AUTH(m, u, u->name, u->password, MON_AUTH_OK);

	/* The first session after the sign-in: a ticket from the password. */
	REQUIRE((s = session_start(m, u, "krb")));
	ticket_of(u, want, sizeof(want));
	say("ticket after the first launch: '%s'", want);
	REQUIRE(strncmp(want, "ticket ", 7) == 0);
	xsnprintf(code, sizeof(code), "readLines('%s/%s')", ticket_dir, u->name);
	CHECK_R(&s->c, code, want);
	CHECK_R(&s->c, "{x <- 42; x}", "42");

	/* Suspend, then resume: the launch carries no password (the
	 * network process never has one after the sign-in) and the session
	 * stack still gets a fresh ticket. */
	REQUIRE(session_suspend(s));
	REQUIRE((s = session_launch(m, u, "krb", true)));
	ticket_of(u, got, sizeof(got));
	say("ticket after the resume: '%s'", got);
	if (strcmp(got, want) == 0 || strtol(got + 7, NULL, 10) != strtol(want + 7, NULL, 10) + 1)
		FAIL("the resume got ticket '%s', want the one after '%s'", got, want);
	CHECK_R(&s->c, code, got);
	CHECK_R(&s->c, "x", "42"); /* it is the same session, resumed */
	REQUIRE(session_quit(s) == 0);
	REQUIRE(wait_gone(s->launcher, T_MS));

	/* Sign-out wipes the password: the next launch is "sign in again",
	 * answered by the monitor with nothing started and no PAM run. */
	CHECK_INT(mon_signout(m, u->name, msg, sizeof(msg)), 0);
	CHECK_CONTAINS(msg, "is wiped");
	CHECK_INT(mon_signout(m, u->name, msg, sizeof(msg)), 0);
	CHECK_CONTAINS(msg, "no sign-in password was kept");
	xsnprintf(sid, sizeof(sid), "%skrbout", sid_prefix);
	REQUIRE(mon_launch(m, u->name, sid, &lr) == 0);
	CHECK_INT(lr.pid, 0);
	CHECK_STR(lr.step, MON_LAUNCH_STEP_SIGN_IN);
	CHECK_CONTAINS(lr.message, "you signed out");
	CHECK_CONTAINS(lr.message, "sign in again");
	ticket_of(u, want, sizeof(want));
	CHECK_STR(want, got);
	check_nothing_left(u, sid, lr.sock, true);

	/* A new sign-in: the session then starts, with a new ticket. */
	CHECK_AUTH(m, u, u->name, u->password, MON_AUTH_OK);
	REQUIRE((s = session_start(m, u, "krbin")));
	ticket_of(u, want, sizeof(want));
	CHECK(strtol(want + 7, NULL, 10) == strtol(got + 7, NULL, 10) + 1);
	CHECK_R(&s->c, code, want);
	REQUIRE(session_quit(s) == 0);
	REQUIRE(wait_gone(s->launcher, T_MS));

	xsnprintf(code, sizeof(code), "%s/log", ticket_dir);
	tlog = read_text(code);
	say("the stand-in's log:\n%s", tlog ? tlog : "(none)");
	if (tlog && strstr(tlog, "refused"))
		FAIL("the pam_krb5 stand-in was given a wrong password");

	/* Never in a file: logs (the monitor's, launchers', sessions'),
	 * diagnostics, exit records, the user's home, the server's state. */
	if ((where = file_containing(root, u->password)))
		FAIL("the password of %s is in %s", u->name, where);
	if ((where = file_containing(sb_root, u->password)))
		FAIL("the password of %s is in %s", u->name, where);
out:
	free(tlog);
}

/*
 * The lifetime: with a tiny auth-pam-sessions-password-lifetime-minutes
 * the monitor wipes the password on its own once the time is up (its log
 * says so, before any launch asks), then a launch is "sign in again" with
 * the reason; after a new sign-in the session starts.
 */
TEST(password_lifetime)
{
	struct tuser *u = &users[U_PLAIN];
	char profile[128], line[256], sid[96];
	struct launch_result lr;
	struct mon *m;
	struct sess *s;

	xsnprintf(profile, sizeof(profile), "auth-pam-sessions-profile=%s", svc_krb);
	REQUIRE((m = mon_new(KV("auth-pam-sessions-use-password=1", profile,
	                        "auth-pam-sessions-password-lifetime-minutes=0.02"))));
	CHECK_AUTH(m, u, u->name, u->password, MON_AUTH_OK);
	xsnprintf(line, sizeof(line), "Wiped the sign-in password of %s", u->name);
	if (!wait_file(cur_log, line, T_MS))
		FAIL("the monitor did not wipe the password when its lifetime (1.2 s) passed: no "
		     "'%s' in its log",
		     line);
	xsnprintf(sid, sizeof(sid), "%slife", sid_prefix);
	REQUIRE(mon_launch(m, u->name, sid, &lr) == 0);
	CHECK_INT(lr.pid, 0);
	CHECK_STR(lr.step, MON_LAUNCH_STEP_SIGN_IN);
	CHECK_CONTAINS(lr.message, "kept for 0.02 minutes");
	CHECK_CONTAINS(lr.message, "sign in again");
	check_nothing_left(u, sid, lr.sock, true);
	/* Signed in again, within the lifetime: the session starts. */
	CHECK_AUTH(m, u, u->name, u->password, MON_AUTH_OK);
	REQUIRE((s = session_start(m, u, "life2")));
	CHECK_R(&s->c, "1 + 1", "2");
out:;
}

/*
 * A core dump of the monitor is impossible: it is not dumpable. Proved by
 * killing one with SIGQUIT (whose default action dumps core, and which no
 * sanitizer intercepts) under an unlimited core limit, next to a control
 * (a dumpable child of this process) that does dump where this machine
 * writes cores; the monitor leaves none, and its status says no core.
 */
TEST(monitor_not_dumpable)
{
	char dir[PATH_MAX + 16], cwd[PATH_MAX], *pattern = NULL, *suid = NULL;
	struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
	bool control_dumped = false;
	struct mon *m = NULL;
	int status = 0;
	pid_t pid;
	size_t left = 0;
	DIR *d;
	struct dirent *e;

	xsnprintf(dir, sizeof(dir), "%s/cores", root);
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	REQUIRE(mkdir(dir, 0755) == 0 && chdir(dir) == 0);
	{
		size_t len;
		if (file_read_all("/proc/sys/kernel/core_pattern", 4096, &pattern, &len) == 0)
			pattern[strcspn(pattern, "\n")] = '\0';
		if (file_read_all("/proc/sys/fs/suid_dumpable", 64, &suid, &len) == 0)
			suid[strcspn(suid, "\n")] = '\0';
	}
	say("core_pattern %s, suid_dumpable %s", pattern ? pattern : "?", suid ? suid : "?");

	pid = fork();
	if (pid == 0) {
		signal(SIGQUIT, SIG_DFL);
		setrlimit(RLIMIT_CORE, &inf);
		raise(SIGQUIT);
		_exit(1);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		control_dumped = WIFSIGNALED(status) && WCOREDUMP(status);
	rm_tree(dir);
	mkdir(dir, 0755);
	say("the control (a dumpable child of this process): %s",
	    control_dumped ? "dumped a core" : "no core either");
	if (!control_dumped)
		say("this machine writes no core files: the monitor's check below still holds, "
		    "but proves less");

	m = mon_new(NULL); /* its working directory: dir */
	if (chdir(cwd) < 0)
		FAIL("chdir %s: %s", cwd, strerror(errno));
	REQUIRE(m);
	/* Undo the monitor's own (soft) core limit of 0, once it has set it
	 * (an answer shows it is in its loop): only non-dumpability may stand
	 * between it and a core here. */
	{
		char msg[256];
		REQUIRE(mon_signout(m, "rs_lt_nobody", msg, sizeof(msg)) == 0);
	}
	{
		struct rlimit cur;
		REQUIRE(prlimit(m->pid, RLIMIT_CORE, NULL, &cur) == 0);
		CHECK_INT(cur.rlim_cur, 0); /* the monitor's own */
		if (cur.rlim_max == 0)
			say("the core hard limit is 0 here: the check below proves less");
		cur.rlim_cur = cur.rlim_max;
		if (prlimit(m->pid, RLIMIT_CORE, &cur, NULL) < 0)
			FAIL("prlimit(%d, RLIMIT_CORE): %s", (int)m->pid, strerror(errno));
	}
	REQUIRE(kill(m->pid, SIGQUIT) == 0);
	REQUIRE(wait_child(m->pid, T_MS, &status));
	monitor_client_free(&m->mc);
	close(m->fd);
	m->up = false;
	say("monitor: %s %d, core %s", WIFSIGNALED(status) ? "signal" : "exit",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
	    WIFSIGNALED(status) && WCOREDUMP(status) ? "dumped" : "not dumped");
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGQUIT);
	CHECK(!(WIFSIGNALED(status) && WCOREDUMP(status)));
	if ((d = opendir(dir))) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				FAIL("the monitor left %s/%s", dir, e->d_name);
				left++;
			}
		closedir(d);
	}
	CHECK_INT(left, 0);
out:
	if (getcwd(dir, sizeof(dir)) && strcmp(dir, cwd) != 0 && chdir(cwd) < 0)
		FAIL("chdir %s: %s", cwd, strerror(errno));
	free(pattern);
	free(suid);
}

/* rserver --test-config with overrides, run in this process: its status
 * and output. */
static int test_config(const char *dir, const char *const kv[], char *out, size_t size)
{
	char *argv[16], *text = NULL;
	struct cmdline cl;
	size_t argc = 0, len = 0;
	char err[256];
	FILE *f;
	int status = -1;

	argv[argc++] = "rserver";
	argv[argc++] = "--config-dir";
	argv[argc++] = (char *)dir;
	for (size_t i = 0; kv && kv[i] && argc < 14; i++)
		argv[argc++] = (char *)kv[i];
	argv[argc++] = "--test-config";
	argv[argc] = NULL;
	out[0] = '\0';
	if (cmdline_parse((int)argc, argv, &cl, err, sizeof(err)) < 0) {
		xsnprintf(out, size, "usage: %s", err);
		return -1;
	}
	f = open_memstream(&text, &len);
	if (f) {
		status = config_test(&cl, f);
		fclose(f);
	}
	xsnprintf(out, size, "%s", text ? text : "");
	free(text);
	cmdline_free(&cl);
	return status;
}

/* A launch of u that must fail at step want_step, leaving nothing. */
static void check_launch_fails(struct mon *m, const struct tuser *u, const char *tag,
                               const char *want_step, const char *want_in_message, int line)
{
	struct launch_result lr;
	char sid[96];

	xsnprintf(sid, sizeof(sid), "%s%s", sid_prefix, tag);
	if (mon_launch(m, u->name, sid, &lr) < 0) {
		fail_at(line, "%s: no answer to the launch", tag);
		return;
	}
	if (lr.pid > 0) {
		struct sess *leak = sess_new(u, tag);
		fail_at(line, "%s: the launch succeeded (pid %d); want a failure at step '%s'", tag,
		        (int)lr.pid, want_step);
		if (leak) { /* so that the teardown ends it */
			leak->pid = lr.pid;
			leak->launcher = (pid_t)proc_stat_num(lr.pid, 4);
		}
		return;
	}
	if (strcmp(lr.step, want_step) != 0)
		fail_at(line, "%s: failed at step '%s' (%s), want '%s'", tag, lr.step, lr.message,
		        want_step);
	if (!strstr(lr.message, want_in_message))
		fail_at(line, "%s: message '%s' does not contain '%s'", tag, lr.message,
		        want_in_message);
	check_nothing_left(u, sid, lr.sock, true);
}
#define CHECK_LAUNCH_FAILS(m, u, tag, step, text)                                                  \
	check_launch_fails(m, u, tag, step, text, __LINE__)

/*
 * The supervisor contract: rsession-exec-command's first word must be an
 * absolute path to an executable (--test-config and every launch say so);
 * a supervisor must exec its target, and one that does not is reported,
 * with whatever it started stopped, instead of leaving the launch hanging;
 * a supervisor that does exec gives the session its exit code.
 */
TEST(supervisor_contract)
{
	struct tuser *u = &users[U_PLAIN];
	char kv[PATH_MAX + 64], kv2[PATH_MAX + 64], sup[PATH_MAX + 32], out[4096];
	struct mon *m;
	struct sess *s;
	json_t *rec = NULL;
	int64_t t0;
	pid_t pids[8];

	/* Not an absolute path: --test-config and the launch. */
	CHECK_INT(test_config(conf_dir, KV("--rsession-exec-command=nice -n 3"), out, sizeof(out)),
	          1);
	say("--test-config:\n%s", out);
	CHECK_CONTAINS(out, "command line: error: rsession-exec-command: 'nice' is not an absolute "
	                    "path; the supervisor's first word must be the full path of a program "
	                    "(such as /usr/bin/nice)");
	CHECK_INT(test_config(conf_dir, KV("--rsession-exec-command=/usr/bin/nice -n 3"), out,
	                      sizeof(out)),
	          0);
	REQUIRE((m = mon_new(KV("rsession-exec-command=nice -n 3"))));
	CHECK_LAUNCH_FAILS(m, u, "suprel", "supervisor", "'nice' is not an absolute path");
	/* One monitor at a time: MAX_MONS, and an older monitor only sees
	 * its socket close once the newer ones (which hold a copy) are gone. */
	mon_stop(m, true);

	/* Not executable. */
	xsnprintf(sup, sizeof(sup), "%s/sup-noexec.sh", root);
	REQUIRE(write_text(sup, 0644, true, "#!/bin/sh\nexec \"$@\"\n") == 0);
	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", sup);
	REQUIRE((m = mon_new(KV(kv))));
	CHECK_LAUNCH_FAILS(m, u, "supnox", "supervisor", "is not executable (mode 0644)");
	mon_stop(m, true);
	xsnprintf(kv2, sizeof(kv2), "--rsession-exec-command=%s", sup);
	CHECK_INT(test_config(conf_dir, KV(kv2), out, sizeof(out)), 1);
	CHECK_CONTAINS(out, "is not executable (mode 0644)");

	/* In the sandbox's config directory, which sessions do not see. */
	xsnprintf(sup, sizeof(sup), "%s/sup.sh", sb_conf);
	REQUIRE(write_text(sup, 0755, true, "#!/bin/sh\nexec \"$@\"\n") == 0);
	xsnprintf(kv2, sizeof(kv2), "--rsession-exec-command=%s", sup);
	CHECK_INT(test_config(sb_conf, KV(kv2, "--session-sandbox-enabled=1"), out, sizeof(out)),
	          1);
	CHECK_CONTAINS(out, "which session-sandbox-enabled=1 hides from sessions");
	CHECK_INT(test_config(sb_conf, KV(kv2), out, sizeof(out)), 0);
	unlink(sup);

	/* Exits 0 without exec'ing its target: reported at once. */
	xsnprintf(sup, sizeof(sup), "%s/sup-exit.sh", root);
	REQUIRE(write_text(sup, 0755, true,
	                   "#!/bin/sh\necho 'supervising, but not exec-ing' >&2\nexit 0\n") == 0);
	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", sup);
	REQUIRE((m = mon_new(KV(kv))));
	t0 = now_ms();
	CHECK_LAUNCH_FAILS(m, u, "supexit", "start", "ended (exit status 0) before rsession started");
	CHECK_LAUNCH_FAILS(m, u, "supexit2", "start", "must exec the command line it is given");
	say("a supervisor that exits: two launches reported in %.2f s",
	    (double)(now_ms() - t0) / 1000.0);
	mon_stop(m, true);

	/* Runs the target as a child and exits: rsession would run on,
	 * unknown to anyone. It is stopped with the rest. */
	xsnprintf(sup, sizeof(sup), "%s/sup-fork.sh", root);
	REQUIRE(write_text(sup, 0755, true, "#!/bin/sh\n\"$@\" &\nsleep 1\nexit 0\n") == 0);
	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", sup);
	REQUIRE((m = mon_new(KV(kv))));
	CHECK_LAUNCH_FAILS(m, u, "supfork", "start", "must exec the command line it is given");
	if (our_processes(true, false, pids, 8))
		FAIL("a process of the run (pid %d) survived a supervisor that forked its target",
		     (int)pids[0]);
	mon_stop(m, true);

	/* Never execs (sleeps first): reported within the launcher's bound
	 * (half the monitor's launch timeout: 3 s here), not a hang. */
	xsnprintf(sup, sizeof(sup), "%s/sup-sleep.sh", root);
	REQUIRE(write_text(sup, 0755, true, "#!/bin/sh\nsleep 300\nexec \"$@\"\n") == 0);
	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", sup);
	next_launch_timeout_ms = 6000;
	m = mon_new(KV(kv));
	next_launch_timeout_ms = 0;
	REQUIRE(m);
	t0 = now_ms();
	CHECK_LAUNCH_FAILS(m, u, "supsleep", "start", "did not exec rsession within 3.0 s");
	say("a supervisor that sleeps: reported after %.1f s", (double)(now_ms() - t0) / 1000.0);
	if (our_processes(true, false, pids, 8))
		FAIL("a process of the run (pid %d) survived a supervisor that never exec'd",
		     (int)pids[0]);
	mon_stop(m, true);

	/* The documented example (docs/examples), copied where the users
	 * can run it: the session starts, with what it set up. */
	if (getenv("SUPERVISOR_EXAMPLE")) {
		char *text = read_text(getenv("SUPERVISOR_EXAMPLE")), logpath[PATH_MAX + 128];
		xsnprintf(sup, sizeof(sup), "%s/rsession-supervisor", root);
		REQUIRE(text && write_text(sup, 0755, true, text) == 0);
		free(text);
		xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", sup);
		REQUIRE((m = mon_new(KV(kv))));
		REQUIRE((s = session_start(m, u, "supdoc")));
		CHECK_R(&s->c, "Sys.getenv('COMPANY_DATA_HOME')", "/srv/data");
		xsnprintf(logpath, sizeof(logpath), "%s/.local/share/rstudio/log/rsession-%s.log",
		          u->home, s->id);
		if (!file_has(logpath, "rsession-supervisor: starting "))
			FAIL("the example supervisor's message is not in the session's log %s",
			     logpath);
		REQUIRE(session_quit(s) == 0);
		mon_stop(m, true);
	} else {
		say("SUPERVISOR_EXAMPLE is not set: the documented example is not tried");
	}

	/* One that does exec: the session's exit code is rsession's. */
	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", supervisor);
	REQUIRE((m = mon_new(KV(kv))));
	REQUIRE((s = session_start(m, u, "supcode")));
	REQUIRE(client_run(&s->c, "q('no', status = 7)\n") == 0);
	REQUIRE(client_expect_closed(&s->c, T_MS) == 0);
	REQUIRE((rec = exit_record(s->id, T_MS)));
	CHECK_INT(jint(rec, "exit_code"), 7);
	CHECK_STR(jstr(rec, "cause"), "exited with status 7");
out:
	next_launch_timeout_ms = 0;
	json_decref(rec);
}

/* Whether the host's mount table mentions path. */
static bool host_mounts_mention(const char *path)
{
	char *t = read_text("/proc/self/mountinfo");
	bool has = t && strstr(t, path);

	free(t);
	return has;
}

/*
 * session-sandbox-enabled=1: the server's files are masked, /tmp and
 * /var/tmp are the session's own (invisible to the host and to another
 * user's session, gone when it ends), and what the user needs stays. With
 * the sandbox off, the same files are there to see.
 */
TEST(sandbox)
{
	struct tuser *a = &users[U_SB1], *b = &users[U_SB2];
	char code[PATH_MAX + 256], path[PATH_MAX + 128], host[PATH_MAX], want[PATH_MAX + 64];
	struct mon *off, *on;
	struct sess *s, *sa, *sb;

	char profile[128], cc[PATH_MAX];

	xsnprintf(profile, sizeof(profile), "auth-pam-sessions-profile=%s", svc_cc);
	next_conf_dir = sb_conf;
	off = mon_new(NULL);
	on = mon_new(KV("session-sandbox-enabled=1", profile));
	next_conf_dir = NULL;
	REQUIRE(off && on);

	/* Off (the default): the cookie key, the database and the config
	 * directory are there to see (not to read). */
	REQUIRE((s = session_start(off, a, "sboff")));
	xsnprintf(code, sizeof(code), "file.exists('%s')", sb_key);
	CHECK_R(&s->c, code, "TRUE");
	xsnprintf(code, sizeof(code), "file.exists('%s')", sb_dbfile);
	CHECK_R(&s->c, code, "TRUE");
	xsnprintf(code, sizeof(code), "length(list.files('%s')) > 0", sb_conf);
	CHECK_R(&s->c, code, "TRUE");
	xsnprintf(want, sizeof(want), "%s/%s", sb_stmp, s->id);
	CHECK_R(&s->c, "Sys.getenv('TMPDIR')", want);
	REQUIRE(session_quit(s) == 0);

	/* On. */
	REQUIRE((sa = session_start(on, a, "sbA")));
	xsnprintf(code, sizeof(code), "file.exists('%s')", sb_key);
	CHECK_R(&sa->c, code, "FALSE");
	xsnprintf(code, sizeof(code), "file.exists('%s')", sb_dbfile);
	CHECK_R(&sa->c, code, "FALSE");
	const char *const masked[] = {sb_conf, sb_db, sb_state, sb_data, sb_stmp};
	for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		xsnprintf(code, sizeof(code),
		          "length(list.files('%s', all.files = TRUE, no.. = TRUE))", masked[i]);
		CHECK_R(&sa->c, code, "0");
	}
	/* What the user needs is there: home, R, its libraries, /usr. */
	CHECK_R(&sa->c, "dir.exists(Sys.getenv('HOME'))", "TRUE");
	xsnprintf(code, sizeof(code), "file.exists('%s/.local/share/rstudio/log/rsession-%s.log')",
	          a->home, sa->id);
	CHECK_R(&sa->c, code, "TRUE");
	CHECK_R(&sa->c, "file.exists(file.path(R.home('bin'), 'R'))", "TRUE");
	CHECK_R(&sa->c, "all(dir.exists(.libPaths()))", "TRUE");
	CHECK_R(&sa->c, "file.exists('/usr/bin/env')", "TRUE");
	/* rsession.conf and rsession-profile still reach the session. */
	CHECK_R(&sa->c, "Sys.getenv('R_LIBS_USER')", "~/rs-lt-sb-lib");
	CHECK_R(&sa->c, "Sys.getenv('RS_PROFILE_VAR')", "sb");
	/* The ticket cache PAM left in the host's /tmp comes along. */
	xsnprintf(cc, sizeof(cc), "/tmp/rs-lt-%d-krb5cc_%s", (int)main_pid, a->name);
	xsnprintf(want, sizeof(want), "FILE:%s", cc);
	CHECK_R(&sa->c, "Sys.getenv('KRB5CCNAME')", want);
	xsnprintf(want, sizeof(want), "ccache of %s", a->name);
	CHECK_R(&sa->c, "readLines(sub('^FILE:', '', Sys.getenv('KRB5CCNAME')))", want);
	if (!exists(cc))
		FAIL("the host's ticket cache %s went away", cc);
	/* A private /tmp. */
	CHECK_R(&sa->c, "Sys.getenv('TMPDIR')", "/tmp");
	CHECK_R(&sa->c, "startsWith(tempdir(), '/tmp/Rtmp')", "TRUE");
	xsnprintf(host, sizeof(host), "/tmp/rs-lt-%d-host", (int)main_pid);
	REQUIRE(write_text(host, 0644, true, "the host's /tmp\n") == 0);
	xsnprintf(code, sizeof(code), "file.exists('%s')", host);
	CHECK_R(&sa->c, code, "FALSE");
	unlink(host);
	xsnprintf(code, sizeof(code), "{writeLines('a', '/tmp/rs-lt-%d-a'); "
	                              "writeLines('v', '/var/tmp/rs-lt-%d-v'); 'written'}",
	          (int)main_pid, (int)main_pid);
	CHECK_R(&sa->c, code, "written");
	xsnprintf(path, sizeof(path), "/tmp/rs-lt-%d-a", (int)main_pid);
	if (exists(path))
		FAIL("the host sees %s, written in the sandboxed session's /tmp", path);
	xsnprintf(path, sizeof(path), "/var/tmp/rs-lt-%d-v", (int)main_pid);
	if (exists(path))
		FAIL("the host sees %s, written in the sandboxed session's /var/tmp", path);
	xsnprintf(path, sizeof(path), "%s/%s/rs-lt-%d-a", sb_stmp, sa->id, (int)main_pid);
	if (!exists(path))
		FAIL("the session's /tmp is not %s/%s: no %s", sb_stmp, sa->id, path);
	/* Another user's session sees neither. */
	REQUIRE((sb = session_start(on, b, "sbB")));
	xsnprintf(code, sizeof(code), "file.exists('/tmp/rs-lt-%d-a')", (int)main_pid);
	CHECK_R(&sb->c, code, "FALSE");
	xsnprintf(code, sizeof(code), "file.exists('/var/tmp/rs-lt-%d-v')", (int)main_pid);
	CHECK_R(&sb->c, code, "FALSE");
	xsnprintf(code, sizeof(code), "file.exists('%s')", sb_key);
	CHECK_R(&sb->c, code, "FALSE");
	/* Nothing of it reached the host's mount table. */
	if (host_mounts_mention(sb_root))
		FAIL("the host's /proc/self/mountinfo mentions %s: a sandbox mount propagated",
		     sb_root);
	/* Gone when the session ends. */
	REQUIRE(session_quit(sa) == 0);
	REQUIRE(wait_gone(sa->launcher, T_MS));
	xsnprintf(path, sizeof(path), "%s/%s", sb_stmp, sa->id);
	if (exists(path))
		FAIL("the session's /tmp (%s) is still there after it ended (%s)", path,
		     dir_state(path));
	REQUIRE(session_quit(sb) == 0);
out:
	next_conf_dir = NULL;
	for (size_t i = U_SB1; i <= U_SB2; i++) {
		xsnprintf(cc, sizeof(cc), "/tmp/rs-lt-%d-krb5cc_%s", (int)main_pid, users[i].name);
		unlink(cc);
	}
}

/*
 * The sandbox fails closed: where the kernel refuses a mount namespace (no
 * CAP_SYS_ADMIN, as in an unprivileged container; here the launcher runs
 * without it) the launch fails naming the setting, and a configuration
 * whose masks would hide a user's home is refused before anything starts.
 */
TEST(sandbox_refused)
{
	struct tuser *a = &users[U_SB1];
	char wrapper[PATH_MAX + 32], text[PATH_MAX * 2], kv[PATH_MAX + 64], want[PATH_MAX * 2];
	struct mon *m;

	xsnprintf(wrapper, sizeof(wrapper), "%s/launcher-no-sys-admin.sh", root);
	xsnprintf(text, sizeof(text),
	          "#!/bin/sh\n"
	          "# rsession-launcher without CAP_SYS_ADMIN, as in an unprivileged container.\n"
	          "exec /usr/bin/setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin '%s' "
	          "\"$@\"\n",
	          launcher_exe);
	REQUIRE(write_text(wrapper, 0755, true, text) == 0);
	xsnprintf(kv, sizeof(kv), "rsession-launcher-path=%s", wrapper);
	next_conf_dir = sb_conf;
	m = mon_new(KV("session-sandbox-enabled=1", kv));
	next_conf_dir = NULL;
	REQUIRE(m);
	CHECK_LAUNCH_FAILS(m, a, "sbnocap", "sandbox",
	                   "session-sandbox-enabled=1, but the kernel refused the session a mount "
	                   "namespace of its own (unshare: Operation not permitted)");
	CHECK_LAUNCH_FAILS(m, a, "sbnocap2", "sandbox", "Set session-sandbox-enabled=0");

	/* The cookie key's directory holds the homes: masking it would
	 * hide them. */
	xsnprintf(kv, sizeof(kv), "secure-cookie-key-file=%s/key", sb_home);
	next_conf_dir = sb_conf;
	m = mon_new(KV("session-sandbox-enabled=1", kv));
	next_conf_dir = NULL;
	REQUIRE(m);
	xsnprintf(want, sizeof(want),
	          "session-sandbox-enabled=1 would hide the home directory of the user (%s): it "
	          "is inside %s (the directory of secure-cookie-key-file), which sandboxed sessions "
	          "do not see",
	          a->home, sb_home);
	CHECK_LAUNCH_FAILS(m, a, "sbhide", "sandbox", want);
	mon_stop(m, true);

	/* A supervisor in the host's /tmp (this run's scripts are there):
	 * the session's private /tmp replaces it. */
	xsnprintf(kv, sizeof(kv), "rsession-exec-command=%s", supervisor);
	next_conf_dir = sb_conf;
	m = mon_new(KV("session-sandbox-enabled=1", kv));
	next_conf_dir = NULL;
	REQUIRE(m);
	xsnprintf(want, sizeof(want),
	          "session-sandbox-enabled=1 would hide the supervisor (rsession-exec-command) (%s): "
	          "it is inside /tmp (the host's /tmp, which the session's private /tmp replaces)",
	          supervisor);
	CHECK_LAUNCH_FAILS(m, a, "sbhidetmp", "sandbox", want);
out:
	next_conf_dir = NULL;
}

/* ---- setup and cleanup ------------------------------------------------------------- */

/*
 * Whether name belongs to a live run: "rs_lt_<pid>_..." (users, groups)
 * or, with dashes, "rs-lt-<pid>-..." (PAM files, roots). Names that are
 * not of this shape count as alive: never touched.
 */
static bool run_alive(const char *name, bool dashes, long *ret)
{
	long pid;
	int n = 0;

	if ((dashes ? sscanf(name, "rs-lt-%ld-%n", &pid, &n)
	            : sscanf(name, "rs_lt_%ld_%n", &pid, &n)) < 1 ||
	    n == 0 || pid <= 0)
		return true;
	*ret = pid;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static char cg_prefix[64];
static unsigned cg_removed;

static int cg_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	if (flag == FTW_DP && strncmp(path + ftw->base, cg_prefix, strlen(cg_prefix)) == 0 &&
	    rmdir(path) == 0)
		cg_removed++;
	return 0;
}

/* Removes the cgroups named rserver-<prefix>* anywhere under /sys/fs/cgroup. */
static unsigned remove_cgroups(const char *sid_pre)
{
	xsnprintf(cg_prefix, sizeof(cg_prefix), "rserver-%s", sid_pre);
	cg_removed = 0;
	nftw("/sys/fs/cgroup", cg_cb, 32, FTW_DEPTH | FTW_PHYS);
	return cg_removed;
}

/*
 * Leftovers of earlier runs that died before their cleanup (SIGKILL, a
 * sanitizer abort): users, groups, PAM files, cgroups and roots named for
 * a pid that is gone. Names of live pids are never touched.
 */
static void sweep_stale(void)
{
	struct passwd *pw;
	struct group *gr;
	char names[64][64], gnames[64][64], buf[PATH_MAX];
	size_t n = 0, ng = 0;
	long pid;
	DIR *d;
	struct dirent *e;

	setpwent();
	while ((pw = getpwent()) && n < 64)
		if (!run_alive(pw->pw_name, false, &pid))
			xsnprintf(names[n++], sizeof(names[0]), "%s", pw->pw_name);
	endpwent();
	setgrent();
	while ((gr = getgrent()) && ng < 64)
		if (!run_alive(gr->gr_name, false, &pid))
			xsnprintf(gnames[ng++], sizeof(gnames[0]), "%s", gr->gr_name);
	endgrent();
	for (size_t i = 0; i < n; i++) {
		struct passwd *p = getpwnam(names[i]);
		if (p)
			kill_uid(p->pw_uid);
		printf("sweep: removing user %s of an earlier run\n", names[i]);
		run_cmd(ARGV("userdel", "-r", "-f", names[i]), NULL, NULL, 0);
	}
	for (size_t i = 0; i < ng; i++)
		if (getgrnam(gnames[i])) {
			printf("sweep: removing group %s of an earlier run\n", gnames[i]);
			run_cmd(ARGV("groupdel", gnames[i]), NULL, NULL, 0);
		}
	if ((d = opendir("/etc/pam.d"))) {
		while ((e = readdir(d)))
			if (!run_alive(e->d_name, true, &pid)) {
				xsnprintf(buf, sizeof(buf), "/etc/pam.d/%s", e->d_name);
				printf("sweep: removing %s of an earlier run\n", buf);
				unlink(buf);
			}
		closedir(d);
	}
	for (const char *const *dir = (const char *const[]){"/tmp", "/var/lib", NULL}; *dir; dir++) {
		if (!(d = opendir(*dir)))
			continue;
		while ((e = readdir(d)))
			if (!run_alive(e->d_name, true, &pid)) {
				char pre[32];
				xsnprintf(buf, sizeof(buf), "%s/%s", *dir, e->d_name);
				xsnprintf(pre, sizeof(pre), "lt%ld-", pid);
				printf("sweep: removing %s of an earlier run\n", buf);
				remove_cgroups(pre);
				rm_tree(buf);
			}
		closedir(d);
	}
}

static void cleanup(void)
{
	static bool done;
	sigset_t all, old;
	char out[1024];
	bool ok = true;

	if (done || getpid() != main_pid)
		return;
	done = true;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	fflush(stdout);

	/* Monitors first, so that nothing new is launched. */
	for (size_t i = 0; i < MAX_MONS; i++)
		if (mons[i].used) {
			if (mons[i].up) {
				kill(mons[i].pid, SIGKILL);
				waitpid(mons[i].pid, NULL, 0);
				mons[i].up = false;
			}
			mon_stop(&mons[i], false);
		}
	size_t killed = kill_ours(3000);
	unsigned cgroups = remove_cgroups(sid_prefix);
	for (size_t i = 0; i < U_N; i++)
		if (users[i].created &&
		    run_cmd(ARGV("userdel", "-r", "-f", users[i].name), NULL, out, sizeof(out)) !=
		        0 &&
		    getpwnam(users[i].name))
			fprintf(stderr, "cleanup: userdel %s: %s", users[i].name, out);
	if (server_user_created &&
	    run_cmd(ARGV("userdel", "-f", server_user), NULL, out, sizeof(out)) != 0 &&
	    getpwnam(server_user))
		fprintf(stderr, "cleanup: userdel %s: %s", server_user, out);
	if (group_created && run_cmd(ARGV("groupdel", group_name), NULL, out, sizeof(out)) != 0 &&
	    getgrnam(group_name))
		fprintf(stderr, "cleanup: groupdel %s: %s", group_name, out);
	for (size_t i = 0; i < sizeof(pam_files) / sizeof(pam_files[0]); i++)
		if (pam_files[i][0] && unlink(pam_files[i]) < 0 && errno != ENOENT)
			fprintf(stderr, "cleanup: unlink %s: %s\n", pam_files[i], strerror(errno));
	if (root[0])
		rm_tree(root);
	if (sb_root[0])
		rm_tree(sb_root);

	/* Verify: nothing of the run may stay on the machine. */
	for (size_t i = 0; i < U_N; i++)
		if (users[i].created && getpwnam(users[i].name)) {
			fprintf(stderr, "cleanup: user %s is still there\n", users[i].name);
			ok = false;
		}
	if ((server_user_created && getpwnam(server_user)) ||
	    (group_created && getgrnam(group_name))) {
		fprintf(stderr, "cleanup: %s or %s is still there\n", server_user, group_name);
		ok = false;
	}
	for (size_t i = 0; i < sizeof(pam_files) / sizeof(pam_files[0]); i++)
		if (pam_files[i][0] && exists(pam_files[i])) {
			fprintf(stderr, "cleanup: %s is still there\n", pam_files[i]);
			ok = false;
		}
	if (root[0] && exists(root)) {
		fprintf(stderr, "cleanup: %s is still there\n", root);
		ok = false;
	}
	if (sb_root[0] && exists(sb_root)) {
		fprintf(stderr, "cleanup: %s is still there\n", sb_root);
		ok = false;
	}
	{
		pid_t pids[16];
		size_t left = our_processes(true, true, pids, 16);
		if (left) {
			fprintf(stderr, "cleanup: %zu process(es) of the run survive (first %d)\n",
			        left, (int)pids[0]);
			ok = false;
		}
	}
	printf("cleanup: killed %zu process(es), removed %u cgroup(s), users, group, PAM files "
	       "and %s: %s\n",
	       killed, cgroups, root[0] ? root : "(no root)", ok ? "clean" : "NOT CLEAN");
	fflush(stdout);
	if (!ok && test_failed == 0)
		test_failed = 1; /* a dirty machine fails the run */
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void on_signal(int sig)
{
	/*
	 * Forked children (monitors, which never exec, and helpers before
	 * they exec) must not run the parent's cleanup. The cleanup is not
	 * async-signal-safe in theory; in practice this process spends its
	 * time blocked in poll() or waitpid(), and a test run that is being
	 * interrupted must still leave the machine clean.
	 */
	if (getpid() == main_pid) {
		static const char msg[] = "test-launch: interrupted; cleaning up\n";
		if (write(2, msg, sizeof(msg) - 1) < 0) {
		}
		cleanup();
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit(void)
{
	cleanup();
}

static bool write_file_owned(const char *path, mode_t mode, const char *text, uid_t uid, gid_t gid)
{
	return write_text(path, mode, true, text) == 0 && chown(path, uid, gid) == 0;
}

static bool make_r_alt(void)
{
	char bin[PATH_MAX + 8], src[PATH_MAX + 512], dst[PATH_MAX + 512];
	DIR *d;
	struct dirent *e;
	bool ok = true;

	xsnprintf(r_alt, sizeof(r_alt), "%s/R-alt", root);
	xsnprintf(bin, sizeof(bin), "%s/bin", r_alt);
	if (mkdir(r_alt, 0755) < 0 || mkdir(bin, 0755) < 0)
		return false;
	/* Everything of the real R home, by symlink; bin a directory of its
	 * own so that bin/R is a file of this tree too. */
	if (!(d = opendir(r_home)))
		return false;
	while ((e = readdir(d)) && ok) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "bin") == 0)
			continue;
		xsnprintf(src, sizeof(src), "%s/%s", r_home, e->d_name);
		xsnprintf(dst, sizeof(dst), "%s/%s", r_alt, e->d_name);
		ok = symlink(src, dst) == 0;
	}
	closedir(d);
	xsnprintf(src, sizeof(src), "%s/bin", r_home);
	if (!ok || !(d = opendir(src)))
		return false;
	while ((e = readdir(d)) && ok) {
		if (e->d_name[0] == '.')
			continue;
		xsnprintf(src, sizeof(src), "%s/bin/%s", r_home, e->d_name);
		xsnprintf(dst, sizeof(dst), "%s/%s", bin, e->d_name);
		ok = symlink(src, dst) == 0;
	}
	closedir(d);
	xsnprintf(dst, sizeof(dst), "%s/RS_LT_MARKER", r_alt);
	return ok && write_text(dst, 0644, false, "test-launch: an alternative R home\n") == 0;
}

static bool write_pam(size_t i, const char *svc, const char *text)
{
	xsnprintf(pam_files[i], sizeof(pam_files[i]), "/etc/pam.d/%s", svc);
	return write_text(pam_files[i], 0644, false, text) == 0;
}

/* Whether the file holds the marker of an ASan-instrumented binary. */
static bool binary_has(const char *path, const char *needle)
{
	char *buf;
	size_t len;
	bool has;

	if (file_read_all(path, 512 * 1024 * 1024, &buf, &len) < 0)
		return false;
	has = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return has;
}

static int count_online_cpus(void)
{
	char *s = read_text("/sys/devices/system/cpu/online"), *p, *end;
	int n = 0;

	if (!s)
		return (int)sysconf(_SC_NPROCESSORS_ONLN);
	for (p = s; *p && *p != '\n';) {
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		n += (int)(b - a + 1);
		p = *end == ',' ? end + 1 : end;
	}
	free(s);
	return n;
}

static bool setup(void)
{
	char path[PATH_MAX + 64], text[8192], tmpl[64];
	pid_t pid = getpid();
	int fd;

	xsnprintf(sid_prefix, sizeof(sid_prefix), "lt%d-", (int)pid);
	xsnprintf(name_prefix, sizeof(name_prefix), "rs_lt_%d_", (int)pid);
	xsnprintf(group_name, sizeof(group_name), "%sg", name_prefix);
	xsnprintf(server_user, sizeof(server_user), "%ssrv", name_prefix);
	xsnprintf(svc_auth, sizeof(svc_auth), "rs-lt-%d-auth", (int)pid);
	xsnprintf(svc_session, sizeof(svc_session), "rs-lt-%d-session", (int)pid);
	xsnprintf(svc_exec, sizeof(svc_exec), "rs-lt-%d-sessexec", (int)pid);
	xsnprintf(svc_pw, sizeof(svc_pw), "rs-lt-%d-sesspw", (int)pid);
	xsnprintf(svc_slow, sizeof(svc_slow), "rs-lt-%d-slow", (int)pid);
	xsnprintf(svc_krb, sizeof(svc_krb), "rs-lt-%d-sesskrb", (int)pid);
	xsnprintf(svc_cc, sizeof(svc_cc), "rs-lt-%d-sesscc", (int)pid);
	online_cpus = count_online_cpus();
	grp_core = online_cpus >= 2 ? 2 : 1;
	errno = 0;
	base_nice = getpriority(PRIO_PROCESS, 0);

	if (!realpath(rsession_path, rsession_exe) || !realpath(launcher_path, launcher_exe) ||
	    access(rsession_exe, X_OK) < 0 || access(launcher_exe, X_OK) < 0) {
		fprintf(stderr, "setup: $RSESSION (%s) or $LAUNCHER (%s) is not a program\n",
		        rsession_path, launcher_path);
		return false;
	}
	/* ASan reserves terabytes of address space: neither program can
	 * start (or keep allocating) under RLIMIT_AS. */
	asan_programs =
	    binary_has(rsession_exe, "__asan_init") || binary_has(launcher_exe, "__asan_init");
	if (run_cmd(ARGV("R", "RHOME"), NULL, r_home, sizeof(r_home)) != 0) {
		fprintf(stderr, "setup: R RHOME failed: %s\n", r_home);
		return false;
	}
	r_home[strcspn(r_home, "\n")] = '\0';

	/* The root: traversable by the users (their homes and the R home are
	 * in it), writable by root only. */
	xsnprintf(tmpl, sizeof(tmpl), "/tmp/rs-lt-%d-XXXXXX", (int)pid);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "setup: mkdtemp: %s\n", strerror(errno));
		return false;
	}
	xsnprintf(root, sizeof(root), "%s", tmpl);
	xsnprintf(conf_dir, sizeof(conf_dir), "%s/conf", root);
	xsnprintf(data_dir, sizeof(data_dir), "%s/data", root);
	xsnprintf(stmp_dir, sizeof(stmp_dir), "%s/session-tmp", root);
	xsnprintf(homes_dir, sizeof(homes_dir), "%s/home", root);
	xsnprintf(log_dir, sizeof(log_dir), "%s/logs", root);
	if (chmod(root, 0755) < 0 || mkdir(conf_dir, 0755) < 0 || mkdir(homes_dir, 0755) < 0 ||
	    mkdir(log_dir, 0700) < 0) {
		fprintf(stderr, "setup: directories under %s: %s\n", root, strerror(errno));
		return false;
	}
	/* A descriptor this process (so rserver) holds open without
	 * close-on-exec: no session may inherit it. */
	xsnprintf(canary_path, sizeof(canary_path), "%s/fd-canary", root);
	if (write_text(canary_path, 0644, false, "canary\n") < 0 ||
	    (fd = open(canary_path, O_RDONLY)) < 0 || fcntl(fd, F_DUPFD, 50) < 0)
		return false;
	close(fd);

	/* The second root, outside /tmp, for the sandbox: the homes of the
	 * sandbox users are in it, so it exists before they do. The state
	 * and database directories are world-searchable here (they are not
	 * in production) so that without the sandbox a user can stat the
	 * files in them: only the sandbox then explains their absence. */
	xsnprintf(tmpl, sizeof(tmpl), "/var/lib/rs-lt-%d-XXXXXX", (int)pid);
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "setup: mkdtemp %s: %s\n", tmpl, strerror(errno));
		return false;
	}
	xsnprintf(sb_root, sizeof(sb_root), "%s", tmpl);
	xsnprintf(sb_conf, sizeof(sb_conf), "%s/conf", sb_root);
	xsnprintf(sb_data, sizeof(sb_data), "%s/data", sb_root);
	xsnprintf(sb_db, sizeof(sb_db), "%s/db", sb_root);
	xsnprintf(sb_dbfile, sizeof(sb_dbfile), "%s/rstudio.sqlite", sb_db);
	xsnprintf(sb_state, sizeof(sb_state), "%s/state", sb_root);
	xsnprintf(sb_key, sizeof(sb_key), "%s/secure-cookie-key", sb_state);
	xsnprintf(sb_stmp, sizeof(sb_stmp), "%s/session-tmp", sb_root);
	xsnprintf(sb_home, sizeof(sb_home), "%s/home", sb_root);
	if (chmod(sb_root, 0755) < 0 || mkdir(sb_conf, 0755) < 0 || mkdir(sb_db, 0755) < 0 ||
	    mkdir(sb_state, 0755) < 0 || mkdir(sb_home, 0755) < 0 ||
	    write_text(sb_dbfile, 0600, false, "not a database: test-launch\n") < 0 ||
	    write_text(sb_key, 0600, false, "not a key: test-launch\n") < 0) {
		fprintf(stderr, "setup: directories under %s: %s\n", sb_root, strerror(errno));
		return false;
	}
	/* A sandboxed session cannot see the host's /tmp, where a checkout
	 * (and so the build tree's rsession) may well be: the sandbox's
	 * root runs a copy of rsession from outside it. */
	{
		char *bin = NULL;
		size_t len = 0;
		int bfd;
		xsnprintf(sb_rsession, sizeof(sb_rsession), "%s/rsession", sb_root);
		if (file_read_all(rsession_path, 1024u * 1024 * 1024, &bin, &len) < 0 ||
		    (bfd = open(sb_rsession, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755)) < 0 ||
		    write(bfd, bin, len) != (ssize_t)len || close(bfd) < 0) {
			fprintf(stderr, "setup: copying %s to %s: %s\n", rsession_path, sb_rsession,
			        strerror(errno));
			free(bin);
			return false;
		}
		free(bin);
	}

	/* Users and group. */
	if (!run_ok(ARGV("groupadd", group_name), NULL))
		return false;
	group_created = true;
	if (!run_ok(ARGV("useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
	                 server_user),
	            NULL))
		return false;
	server_user_created = true;
	text[0] = '\0';
	for (size_t i = 0; i < U_N; i++) {
		struct tuser *u = &users[i];
		struct passwd *pw;
		xsnprintf(u->name, sizeof(u->name), "%s%s", name_prefix, u->tag);
		xsnprintf(u->password, sizeof(u->password), "Lt-%d-%s-pw!", (int)pid, u->tag);
		xsnprintf(u->home, sizeof(u->home), "%s/%s", i == U_SB1 || i == U_SB2 ? sb_home : homes_dir,
		          u->name);
		bool ok =
		    i == U_GRP
		        ? run_ok(ARGV("useradd", "-m", "-d", u->home, "-s", "/bin/bash", "-G",
		                      group_name, u->name),
		                 NULL)
		        : run_ok(ARGV("useradd", "-m", "-d", u->home, "-s", "/bin/bash", u->name),
		                 NULL);
		if (!ok)
			return false;
		u->created = true;
		if (!(pw = getpwnam(u->name))) {
			fprintf(stderr, "setup: %s has no passwd entry after useradd\n", u->name);
			return false;
		}
		u->uid = pw->pw_uid;
		u->gid = pw->pw_gid;
		if (u->uid < 1000) {
			fprintf(stderr, "setup: useradd gave %s uid %u, below 1000\n", u->name,
			        (unsigned)u->uid);
			return false;
		}
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s:%s\n", u->name,
		         u->password);
	}
	if (!run_ok(ARGV("chpasswd"), text) ||
	    !run_ok(ARGV("usermod", "-e", "1", users[U_EXP].name), NULL) ||
	    !run_ok(ARGV("usermod", "-L", users[U_LOCK].name), NULL))
		return false;

	/* The pam_krb5 stand-in: the users' password hashes (root's only),
	 * a ticket directory the users can read, the script. */
	xsnprintf(pw_hashes, sizeof(pw_hashes), "%s/pw-sha256", root);
	xsnprintf(ticket_dir, sizeof(ticket_dir), "%s/tickets", root);
	xsnprintf(ticket_script, sizeof(ticket_script), "%s/pam-ticket.sh", root);
	text[0] = '\0';
	for (size_t i = 0; i < U_N; i++) {
		char hash[128];
		if (run_cmd(ARGV("sha256sum"), users[i].password, hash, sizeof(hash)) != 0)
			return false;
		hash[strcspn(hash, " \n")] = '\0';
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s %s\n", users[i].name,
		         hash);
	}
	if (write_text(pw_hashes, 0600, false, text) < 0 || mkdir(ticket_dir, 0755) < 0)
		return false;
	xsnprintf(text, sizeof(text),
	          "#!/bin/sh\n"
	          "# test-launch: stands in for pam_krb5 in an auth stack (pam_exec\n"
	          "# expose_authtok). Checks the password PAM was given against the user's\n"
	          "# SHA-256; when it matches, \"gets a ticket\": a file with a serial number\n"
	          "# that grows with every one. The password itself is never written.\n"
	          "want=$(sed -n \"s/^$PAM_USER //p\" '%s')\n"
	          "got=$(tr -d '\\000' | sha256sum | cut -d' ' -f1)\n"
	          "if [ -z \"$want\" ] || [ \"$got\" != \"$want\" ]; then\n"
	          "\techo \"refused $PAM_USER $PAM_SERVICE\" >> '%s/log'\n"
	          "\texit 1\n"
	          "fi\n"
	          "n=$(( $(cat '%s'/\"$PAM_USER.n\" 2>/dev/null || echo 0) + 1 ))\n"
	          "echo \"$n\" > '%s'/\"$PAM_USER.n\"\n"
	          "echo \"ticket $n\" > '%s'/\"$PAM_USER\"\n"
	          "chmod 0644 '%s'/\"$PAM_USER\"\n"
	          "echo \"ticket $n $PAM_USER $PAM_SERVICE\" >> '%s/log'\n",
	          pw_hashes, ticket_dir, ticket_dir, ticket_dir, ticket_dir, ticket_dir, ticket_dir);
	if (write_text(ticket_script, 0755, false, text) < 0)
		return false;

	/* Scripts. */
	xsnprintf(supervisor, sizeof(supervisor), "%s/supervisor.sh", root);
	xsnprintf(text, sizeof(text),
	          "#!/bin/bash\n"
	          "# rsession-exec-command of test-launch: records what it was given, then\n"
	          "# runs the session. The listing runs in a subshell whose redirection is\n"
	          "# its own, so this process opens nothing for it.\n"
	          "(\n"
	          "\techo \"uid $(id -u)\"\n"
	          "\tfor a in \"$0\" \"$@\"; do echo \"argv $a\"; done\n"
	          "\tcd /proc/$$/fd && for f in *; do echo \"fd $f $(readlink \"$f\")\"; done\n"
	          ") > \"$HOME/rs-lt-supervisor.txt\"\n"
	          "exec \"$@\"\n");
	if (write_text(supervisor, 0755, false, text) < 0)
		return false;
	xsnprintf(pam_exec_log, sizeof(pam_exec_log), "%s/pam-exec.log", root);
	xsnprintf(pam_exec_script, sizeof(pam_exec_script), "%s/pam-exec.sh", root);
	xsnprintf(text, sizeof(text),
	          "#!/bin/sh\n"
	          "# pam_exec of test-launch: logs each PAM session call.\n"
	          "echo \"$PAM_TYPE $PAM_USER $PAM_SERVICE\" >> '%s'\n",
	          pam_exec_log);
	if (write_text(pam_exec_script, 0755, false, text) < 0)
		return false;
	xsnprintf(pam_env_file, sizeof(pam_env_file), "%s/pam-env", root);
	if (write_text(pam_env_file, 0644, false, "RS_PAM_CANARY=frompam\n") < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/rsession-profile", conf_dir);
	if (write_text(path, 0644, false,
	               "# rsession-profile of test-launch, sourced as the user.\n"
	               "echo \"profile $$ $USER\" >> \"$HOME/rs-lt-profile.log\"\n"
	               "export RS_PROFILE_VAR=1\n") < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/.bash_profile", users[U_PLAIN].home);
	if (!write_file_owned(path, 0644, "echo \"login $$\" >> \"$HOME/rs-lt-login.log\"\n",
	                      users[U_PLAIN].uid, users[U_PLAIN].gid))
		return false;
	if (!make_r_alt()) {
		fprintf(stderr, "setup: cannot build %s: %s\n", r_alt, strerror(errno));
		return false;
	}
	if (exists("/opt/R/3.1.0")) {
		fprintf(stderr, "setup: /opt/R/3.1.0 exists here; test 9 needs it absent\n");
		return false;
	}

	/* The configuration. */
	xsnprintf(path, sizeof(path), "%s/rserver.conf", conf_dir);
	xsnprintf(text, sizeof(text),
	          "# test-launch %d\n"
	          "server-user=%s\n"
	          "server-data-dir=%s\n"
	          "session-temp-dir=%s\n"
	          "secure-cookie-key-file=%s/secure-cookie-key\n"
	          "rsession-path=%s\n"
	          "rsession-launcher-path=%s\n"
	          "auth-pam-service=%s\n"
	          "auth-pam-sessions-profile=%s\n",
	          (int)pid, server_user, data_dir, stmp_dir, root, rsession_path, launcher_path,
	          svc_auth, svc_session);
	if (write_text(path, 0644, false, text) < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/rsession.conf", conf_dir);
	if (write_text(path, 0644, false, "session-save-action-default=no\n") < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/database.conf", conf_dir);
	xsnprintf(text, sizeof(text), "provider=sqlite\ndirectory=%s/db\n", root);
	if (write_text(path, 0644, false, text) < 0)
		return false;
	/* Shaped like RStudio's example profiles. R needs much address space:
	 * 8 GiB (an ASan rsession cannot run under any RLIMIT_AS). */
	xsnprintf(path, sizeof(path), "%s/profiles", conf_dir);
	xsnprintf(text, sizeof(text),
	          "[*]\n"
	          "cpu-affinity = 1\n"
	          "max-processes = 800\n"
	          "%s"
	          "max-open-files = 1536\n"
	          "\n"
	          "[@%s]\n"
	          "nice = 5\n"
	          "cpu-affinity = %d\n"
	          "max-open-files = 2048\n"
	          "max-rss-mb = %d\n"
	          "\n"
	          "[%s]\n"
	          "cpu-affinity = 5-16\n"
	          "\n"
	          "[%s]\n"
	          "r-version = %s\n"
	          "\n"
	          "[%s]\n"
	          "r-version = /opt/R/3.1.0\n",
	          asan_programs ? "" : "max-memory-mb = 8192\n", group_name, grp_core, RSS_LIMIT,
	          users[U_AFF].name, users[U_RVER].name, r_alt, users[U_RBAD].name);
	if (write_text(path, 0644, false, text) < 0)
		return false;

	/* PAM services: sign-in; the session like Debian's su; the session
	 * with pam_exec; a session whose auth stack needs the password. */
	xsnprintf(text, sizeof(text),
	          "# test-launch %d: sign-in (removed when the run ends)\n"
	          "auth     required   pam_unix.so nodelay\n"
	          "account  required   pam_unix.so\n",
	          (int)pid);
	if (!write_pam(0, svc_auth, text))
		return false;
	xsnprintf(text, sizeof(text),
	          "# test-launch %d: R sessions, like Debian's su (removed when the run ends)\n"
	          "auth     sufficient pam_rootok.so\n"
	          "auth     required   pam_unix.so nodelay\n"
	          "account  required   pam_unix.so\n"
	          "session  required   pam_unix.so\n"
	          "session  required   pam_env.so readenv=1 envfile=%s user_readenv=0\n",
	          (int)pid, pam_env_file);
	if (!write_pam(1, svc_session, text))
		return false;
	xsnprintf(text, sizeof(text),
	          "# test-launch %d: R sessions with pam_exec (removed when the run ends)\n"
	          "auth     sufficient pam_rootok.so\n"
	          "account  required   pam_unix.so\n"
	          "session  required   pam_unix.so\n"
	          "session  optional   pam_exec.so %s\n",
	          (int)pid, pam_exec_script);
	if (!write_pam(2, svc_exec, text))
		return false;
	xsnprintf(text, sizeof(text),
	          "# test-launch %d: R sessions needing the password (removed when the run ends)\n"
	          "auth     optional   pam_exec.so %s\n"
	          "auth     required   pam_unix.so nodelay\n"
	          "account  required   pam_unix.so\n"
	          "session  required   pam_unix.so\n"
	          "session  required   pam_env.so readenv=1 envfile=%s user_readenv=0\n",
	          (int)pid, pam_exec_script, pam_env_file);
	if (!write_pam(3, svc_pw, text))
		return false;
	/* A sign-in stack that hangs, like one waiting on a dead LDAP server. */
	if (!write_pam(4, svc_slow,
	               "auth required pam_exec.so quiet /bin/sleep 300\n"
	               "account required pam_permit.so\n"))
		return false;
	/* R sessions whose auth stack "gets a Kerberos ticket" with the
	 * password: what auth-pam-sessions-use-password is for. */
	xsnprintf(text, sizeof(text),
	          "# test-launch %d: R sessions with a pam_krb5 stand-in (removed when the run "
	          "ends)\n"
	          "auth     required   pam_exec.so expose_authtok quiet %s\n"
	          "auth     required   pam_unix.so nodelay\n"
	          "account  required   pam_unix.so\n"
	          "session  required   pam_unix.so\n",
	          (int)pid, ticket_script);
	if (!write_pam(5, svc_krb, text))
		return false;
	/* R sessions whose session stack leaves a file ticket cache in the
	 * host's /tmp, as pam_krb5 does by default, and names it in
	 * KRB5CCNAME: the sandbox must carry it into the private /tmp. */
	xsnprintf(path, sizeof(path), "%s/pam-ccache.sh", root);
	xsnprintf(text, sizeof(text),
	          "#!/bin/sh\n"
	          "# test-launch: stands in for pam_krb5's ticket cache in /tmp.\n"
	          "[ \"$PAM_TYPE\" = open_session ] || exit 0\n"
	          "f=/tmp/rs-lt-%d-krb5cc_$PAM_USER\n"
	          "rm -f \"$f\"\n"
	          "echo \"ccache of $PAM_USER\" > \"$f\"\n"
	          "chown \"$PAM_USER\" \"$f\"\n"
	          "chmod 0600 \"$f\"\n",
	          (int)pid);
	if (write_text(path, 0755, false, text) < 0)
		return false;
	{
		char conf[PATH_MAX + 32];
		xsnprintf(conf, sizeof(conf), "%s/pam-env-ccache.conf", root);
		xsnprintf(text, sizeof(text), "KRB5CCNAME DEFAULT=FILE:/tmp/rs-lt-%d-krb5cc_@{PAM_USER}\n",
		          (int)pid);
		if (write_text(conf, 0644, false, text) < 0)
			return false;
		xsnprintf(text, sizeof(text),
		          "# test-launch %d: R sessions with a ticket cache in /tmp (removed when the "
		          "run ends)\n"
		          "auth     sufficient pam_rootok.so\n"
		          "account  required   pam_unix.so\n"
		          "session  required   pam_unix.so\n"
		          "session  required   pam_exec.so quiet %s\n"
		          "session  required   pam_env.so readenv=0 user_readenv=0 conffile=%s\n",
		          (int)pid, path, conf);
	}
	if (!write_pam(6, svc_cc, text))
		return false;

	/* The second root's configuration: like the first, with its own
	 * server directories; rsession.conf sets a key that only the file
	 * gives (r-libs-user), and rsession-profile a variable. */
	xsnprintf(path, sizeof(path), "%s/rserver.conf", sb_conf);
	xsnprintf(text, sizeof(text),
	          "# test-launch %d: the sandbox's root\n"
	          "server-user=%s\n"
	          "server-data-dir=%s\n"
	          "session-temp-dir=%s\n"
	          "secure-cookie-key-file=%s\n"
	          "rsession-path=%s\n"
	          "rsession-launcher-path=%s\n"
	          "auth-pam-service=%s\n"
	          "auth-pam-sessions-profile=%s\n",
	          (int)pid, server_user, sb_data, sb_stmp, sb_key, sb_rsession, launcher_path,
	          svc_auth, svc_session);
	if (write_text(path, 0644, false, text) < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/rsession.conf", sb_conf);
	if (write_text(path, 0644, false,
	               "session-save-action-default=no\nr-libs-user=~/rs-lt-sb-lib\n") < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/database.conf", sb_conf);
	xsnprintf(text, sizeof(text), "provider=sqlite\ndirectory=%s\n", sb_db);
	if (write_text(path, 0644, false, text) < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/rsession-profile", sb_conf);
	if (write_text(path, 0644, false,
	               "# rsession-profile of test-launch's sandbox root.\n"
	               "export RS_PROFILE_VAR=sb\n") < 0)
		return false;
	xsnprintf(path, sizeof(path), "%s/profiles", sb_conf);
	if (write_text(path, 0644, false, "[*]\nmax-processes = 800\n") < 0)
		return false;

	/* The whole configuration must load cleanly. */
	{
		struct settings s;
		struct diag d;
		diag_init(&d);
		if (settings_load(&s, conf_dir, "rserver", SETTINGS_LOGIN_DEFS, &d) < 0 ||
		    diag_errors(&d)) {
			fprintf(stderr, "setup: the configuration in %s has errors:\n", conf_dir);
			diag_print(&d, stderr);
			diag_free(&d);
			return false;
		}
		settings_free(&s);
		diag_free(&d);
	}
	printf("setup: roots %s and %s; users %s{plain,grp,aff,rver,rbad,exp,lock,sb1,sb2} (uid "
	       "%u..), group %s, server-user %s, PAM services %s, %s, %s, %s, %s; %d cores online; "
	       "R home %s%s\n",
	       root, sb_root, name_prefix, (unsigned)users[0].uid, group_name, server_user,
	       svc_auth, svc_session, svc_exec, svc_pw, svc_krb, online_cpus, r_home,
	       asan_programs ? "; ASan build: no max-memory-mb" : "");
	fflush(stdout);
	return true;
}

int main(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_handler = on_signal};
	int64_t t0 = now_ms();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP launch: these tests need root (real users, PAM, setuid, cgroups); "
		       "running as uid %u\n",
		       (unsigned)geteuid());
		return test_summary();
	}
	rsession_path = getenv("RSESSION");
	launcher_path = getenv("LAUNCHER");
	if (!rsession_path || !*rsession_path || !launcher_path || !*launcher_path) {
		fprintf(stderr, "test-launch: set RSESSION and LAUNCHER to the rsession and "
		                "rsession-launcher programs\n");
		return 1;
	}
	only = getenv("RS_TEST_ONLY");
	main_pid = getpid();

	/* Cleanup first, before anything exists to clean. */
	atexit(at_exit);
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* rserver's own environment: must not reach sessions. */
	setenv("RS_LAUNCH_CANARY", "secret", 1);

	sweep_stale();
	if (!setup()) {
		fprintf(stderr, "test-launch: setup failed\n");
		test_failed++;
		cleanup();
		return test_summary();
	}

	RUN_LAUNCH(auth);
	RUN_LAUNCH(auth_timeout);
	RUN_LAUNCH(reload);
	RUN_LAUNCH(launch_plain);
	RUN_LAUNCH(group_profile);
	RUN_LAUNCH(affinity_missing_core);
	RUN_LAUNCH(supervisor);
	RUN_LAUNCH(rsession_profile);
	RUN_LAUNCH(pam_session_close);
	RUN_LAUNCH(diagnostics);
	RUN_LAUNCH(r_version);
	RUN_LAUNCH(signal_and_stats);
	RUN_LAUNCH(use_password);
	RUN_LAUNCH(exit_record_and_nonroot);
	RUN_LAUNCH(quit_child_processes);
	RUN_LAUNCH(tmpdir_removed);
	RUN_LAUNCH(password_cache);
	RUN_LAUNCH(password_lifetime);
	RUN_LAUNCH(monitor_not_dumpable);
	RUN_LAUNCH(supervisor_contract);
	RUN_LAUNCH(sandbox);
	RUN_LAUNCH(sandbox_refused);

	cleanup();
	printf("total %.1f s\n", (double)(now_ms() - t0) / 1000.0);
	return test_summary();
}
