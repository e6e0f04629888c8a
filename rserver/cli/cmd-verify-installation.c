/*
 * rstudio-server verify-installation [--user U]: checks, one line each as
 * "ok   item: detail" or "FAIL item: detail", what rserver needs:
 *
 *  - rserver, rsession-launcher and rsession exist, are executable, owned
 *    by root and writable by nobody else (nor is their directory): the
 *    launcher runs as root;
 *  - server-user exists and is not root;
 *  - the PAM services (auth-pam-service, auth-pam-sessions-profile) exist;
 *  - the libwebsockets libuv plugin is installed (lws loads it at run
 *    time, so a missing one is only noticed at start);
 *  - R is found as sessions find it (rsession-which-r, else PATH) and
 *    answers "R --version";
 *  - the configuration is valid (test-config);
 *  - the cookie key is root's, mode 0600;
 *  - server-data-dir and the database directory have the owners and modes
 *    rserver gives them (a directory not created yet is fine: rserver
 *    creates it at start).
 *
 * With --user U the running rserver starts a real session as U, runs 1+1
 * in it and quits it (admin command verify-session). Exit 1 if any check
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config-report.h"
#include "fsutil.h"
#include "rinstall.h"
#include "strutil.h"

#define SESSION_PATH "/usr/local/bin:/usr/bin:/bin" /* as the launcher gives sessions */

struct check {
	int failed;
};

static void item(struct check *k, bool ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void item(struct check *k, bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s: ", ok ? "ok  " : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		k->failed++;
}

/* A root-owned file writable by root only. "" when fine, else why not. */
static const char *root_only(const struct stat *st)
{
	if (st->st_uid != 0)
		return "not owned by root";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	return "";
}

static void check_binary(struct check *k, const char *name, const char *path)
{
	struct stat st, dst;
	char *dir, *slash;
	const char *why;

	if (!path) {
		item(k, false, name, "cannot tell where it is installed");
		return;
	}
	if (stat(path, &st) < 0) {
		item(k, false, name, "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR)) {
		item(k, false, name, "%s: not an executable file", path);
		return;
	}
	why = root_only(&st);
	if (*why) {
		item(k, false, name, "%s: %s (uid %u, mode %04o)", path, why, (unsigned)st.st_uid,
		     (unsigned)(st.st_mode & 07777));
		return;
	}
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		if (stat(*dir ? dir : "/", &dst) == 0 && *(why = root_only(&dst)) &&
		    !(dst.st_mode & S_ISVTX)) {
			item(k, false, name, "%s: its directory %s is %s", path, dir, why);
			free(dir);
			return;
		}
	}
	free(dir);
	item(k, true, name, "%s (root, %04o)", path, (unsigned)(st.st_mode & 07777));
}

static void check_pam(struct check *k, const char *key, const char *service)
{
	char path[512], name[128];
	struct stat st;

	snprintf(name, sizeof(name), "PAM service %s", key);
	if (!service || !*service) {
		item(k, false, name, "not set");
		return;
	}
	snprintf(path, sizeof(path), "/etc/pam.d/%s", service);
	if (stat(path, &st) < 0)
		item(k, false, name, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		item(k, false, name, "%s: not a regular file", path);
	else if (*root_only(&st))
		item(k, false, name, "%s: %s", path, root_only(&st));
	else
		item(k, true, name, "%s", path);
}

static void check_lws_plugin(struct check *k)
{
	static const char *const patterns[] = {
	    "/usr/lib/*/libwebsockets-evlib_uv.so*",
	    "/usr/lib/libwebsockets-evlib_uv.so*",
	    "/usr/lib64/libwebsockets-evlib_uv.so*",
	    "/usr/local/lib/libwebsockets-evlib_uv.so*",
	    "/usr/local/lib/*/libwebsockets-evlib_uv.so*",
	};

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		glob_t g;
		if (glob(patterns[i], 0, NULL, &g) == 0 && g.gl_pathc > 0) {
			item(k, true, "libwebsockets libuv plugin", "%s", g.gl_pathv[0]);
			globfree(&g);
			return;
		}
		globfree(&g);
	}
	item(k, false, "libwebsockets libuv plugin",
	     "libwebsockets-evlib_uv.so not found (Debian: apt-get install "
	     "libwebsockets-evlib-uv)");
}

/* The first line "R --version" prints, within 30 s. */
static int r_version(const char *r, char *out, size_t size)
{
	int p[2], status;
	pid_t pid;
	size_t len = 0;
	time_t deadline = time(NULL) + 30;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0 ||
		    dup2(null, STDERR_FILENO) < 0)
			_exit(127);
		execl(r, r, "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	out[0] = '\0';
	while (len + 1 < size && time(NULL) < deadline) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		ssize_t n;
		if (poll(&pf, 1, 1000) <= 0)
			continue;
		n = read(p[0], out + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
		if (strchr(out, '\n'))
			break;
	}
	close(p[0]);
	if (time(NULL) >= deadline)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[strcspn(out, "\n")] = '\0';
	if (!out[0])
		return -ENOEXEC;
	return 0;
}

static void check_r(struct check *k, const struct settings *s)
{
	const char *which = conf_str(s->rserver, RSERVER_RSESSION_WHICH_R);
	char *home = NULL, err[512], bin[4096], version[256], lib[4096];
	struct stat st;
	int r;

	r = rinstall_find(NULL, which, SESSION_PATH, &home, err, sizeof(err));
	if (r < 0) {
		item(k, false, "R", "%s", err);
		return;
	}
	snprintf(bin, sizeof(bin), "%s/bin/R", home);
	snprintf(lib, sizeof(lib), "%s/lib/libR.so", home);
	r = r_version(bin, version, sizeof(version));
	if (r < 0)
		item(k, false, "R", "%s: '%s --version' printed nothing", home, bin);
	else if (stat(lib, &st) < 0)
		item(k, false, "R", "%s (%s): no %s; rsession needs R built as a shared library",
		     home, version, lib);
	else
		item(k, true, "R", "%s (%s)", home, version);
	free(home);
}

static void check_config(struct check *k, struct cli *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (!f) {
		item(k, false, "configuration", "%s", strerror(errno));
		return;
	}
	r = config_test(&c->cl, f);
	fclose(f);
	if (r == 0) {
		item(k, true, "configuration", "%s is valid", c->cl.config_dir);
	} else {
		item(k, false, "configuration", "%s has errors:", c->cl.config_dir);
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			printf("       %s\n", line);
	}
	free(text);
}

static void check_cookie_key(struct check *k, const struct settings *s)
{
	const char *path = conf_str(s->rserver, RSERVER_SECURE_COOKIE_KEY_FILE);
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			item(k, true, "cookie key",
			     "%s not created yet (rserver creates it at its "
			     "first start)",
			     path);
		else
			item(k, false, "cookie key", "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode))
		item(k, false, "cookie key", "%s: not a regular file", path);
	else if (st.st_uid != 0 || (st.st_mode & 077))
		item(k, false, "cookie key",
		     "%s: must be root's with mode 0600 (uid %u, mode %04o)", path,
		     (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	else
		item(k, true, "cookie key", "%s (root, %04o)", path,
		     (unsigned)(st.st_mode & 07777));
}

/* A directory rserver makes: owner uid (and gid unless -1), exactly mode. */
static void check_dir(struct check *k, const char *name, const char *path, uid_t uid, gid_t gid,
                      mode_t mode, const char *owner)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			item(k, true, name, "%s not created yet (rserver creates it at start)",
			     path);
		else
			item(k, false, name, "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode))
		item(k, false, name, "%s: not a directory", path);
	else if (st.st_uid != uid || (gid != (gid_t)-1 && st.st_gid != gid) ||
	         (st.st_mode & 07777) != mode)
		item(k, false, name, "%s: should be %s, mode %04o (is uid %u gid %u, mode %04o)",
		     path, owner, (unsigned)mode, (unsigned)st.st_uid, (unsigned)st.st_gid,
		     (unsigned)(st.st_mode & 07777));
	else
		item(k, true, name, "%s (%s, %04o)", path, owner, (unsigned)mode);
}

static void check_session(struct check *k, struct cli *c, const char *user)
{
	json_t *a;
	char name[300];

	snprintf(name, sizeof(name), "session as %s", user);
	fprintf(stderr, "%s: %s: starting a session, running 1+1 and quitting (up to 2 minutes)\n",
	        c->program, name);
	if (cli_request(c, ADMIN_VERIFY_SESSION, json_pack("{s:s}", "user", user), &a, false) !=
	    CLI_OK) {
		item(k, false, name, "no answer from rserver");
		return;
	}
	if (json_is_true(json_object_get(a, "ok")))
		item(k, true, name, "%s", json_string_value(json_object_get(a, "message")));
	else
		item(k, false, name, "%s", json_string_value(json_object_get(a, "error")));
	json_decref(a);
}

static int exec_verify_installation(struct cli *c, const struct cli_command *self, int argc,
                                    char **argv)
{
	struct check k = {0};
	const struct settings *s;
	const char *user, *su, *launcher_conf, *rsession_conf;
	char *rserver, *launcher, *rsession, *sessions_dir;
	struct passwd *pw;
	int r = cli_parse_user(c, self, argc, argv, &user);

	if (r != CLI_OK)
		return r;
	s = cli_settings(c, true);
	if (!s)
		return CLI_FAIL;

	rserver = fs_sibling_program(NULL, "rserver");
	launcher_conf = conf_str(s->rserver, RSERVER_RSESSION_LAUNCHER_PATH);
	launcher = launcher_conf ? strdup(launcher_conf)
	           : rserver     ? fs_sibling_program(rserver, "rsession-launcher")
	                         : NULL;
	rsession_conf = conf_str(s->rserver, RSERVER_RSESSION_PATH);
	rsession = rsession_conf ? strdup(rsession_conf)
	           : launcher    ? fs_sibling_program(launcher, "rsession")
	                         : NULL;
	check_binary(&k, "rserver", rserver);
	check_binary(&k, "rsession-launcher", launcher);
	check_binary(&k, "rsession", rsession);
	free(rserver);
	free(launcher);
	free(rsession);

	su = conf_str(s->rserver, RSERVER_SERVER_USER);
	pw = getpwnam(su);
	if (!pw)
		item(&k, false, "server-user",
		     "%s does not exist; create it with: useradd --system "
		     "--no-create-home --shell /usr/sbin/nologin %s",
		     su, su);
	else if (pw->pw_uid == 0)
		item(&k, false, "server-user", "%s is root; it must be an unprivileged user", su);
	else
		item(&k, true, "server-user", "%s (uid %u)", su, (unsigned)pw->pw_uid);

	check_pam(&k, "auth-pam-service", conf_str(s->rserver, RSERVER_AUTH_PAM_SERVICE));
	if (conf_bool(s->rserver, RSERVER_AUTH_PAM_SESSIONS_ENABLED))
		check_pam(&k, "auth-pam-sessions-profile",
		          conf_str(s->rserver, RSERVER_AUTH_PAM_SESSIONS_PROFILE));
	check_lws_plugin(&k);
	check_r(&k, s);
	check_config(&k, c);
	check_cookie_key(&k, s);

	check_dir(&k, "server-data-dir", conf_str(s->rserver, RSERVER_SERVER_DATA_DIR), 0,
	          (gid_t)-1, 0755, "root");
	if (pw && (sessions_dir = cli_data_path(c, "sessions"))) {
		char owner[300];
		snprintf(owner, sizeof(owner), "root, group of %s", su);
		check_dir(&k, "session sockets directory", sessions_dir, 0, pw->pw_gid, 0750,
		          owner);
		free(sessions_dir);
	}
	if (pw)
		check_dir(&k, "database directory", conf_str(s->database, DATABASE_DIRECTORY),
		          pw->pw_uid, (gid_t)-1, 0711, su);

	if (user)
		check_session(&k, c, user);
	if (k.failed)
		fprintf(stderr, "%s: %d check(s) failed\n", c->program, k.failed);
	return k.failed ? CLI_FAIL : CLI_OK;
}

const struct cli_command cmd_verify_installation_entry = {
    .name = "verify-installation",
    .args = "[--user U]",
    .help = "check binaries, users, PAM, R, configuration and permissions (U: run a session)",
    .exec = exec_verify_installation,
};
