/*
 * rserver's start-up and loop; see server.h.
 *
 * The order is deliberate:
 *  1. as root: read and check every configuration file; refuse to start on
 *     any error (file:line on stderr);
 *  2. find server-user (refuse, saying how to create it, when missing);
 *  3. fork the monitor, which stays root;
 *  4. bind the HTTP port (a privileged port needs root), open the database
 *     (its directory and files then belong to server-user, so sqlite can
 *     reopen them after the drop), and read the cookie key (root's file,
 *     0600, created on first start; kept in memory only);
 *  5. drop to server-user for good and prove it;
 *  6. serve until SIGTERM. Sessions are not children of this process (the
 *     launchers made them their own process sessions), so stopping rserver
 *     leaves them running.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "admin.h"
#include "audit.h"
#include "clock.h"
#include "config-report.h"
#include "cookie.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "monitor-client.h"
#include "monitor.h"
#include "notices.h"
#include "privdrop.h"
#include "profiles.h"
#include "sessions.h"

static struct {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sighup;
	struct http *http;
	struct admin *admin;
	struct sessions *sessions;
	struct notices *notices;
	struct settings *settings;
	const struct cmdline *cl;
	struct db *db;
	struct cookie_key key;
	pid_t monitor_pid;
	int monitor_fd;
	int status;
} S;

/*
 * Opens <database directory>/rstudio.sqlite. The directory and the files
 * become server-user's (0711/0600): the network process keeps using them
 * after it drops privileges, and nobody else may read sessions or sign-in
 * records. The directory is searchable, not listable, by others:
 * session-temp-dir defaults to a directory inside it
 * (/var/lib/rstudio-server/session-tmp/<id>, the user's own), which every
 * session's user must be able to reach.
 */
static int open_database(const struct settings *s, const struct passwd *pw, char *err,
                         size_t errsize)
{
	const char *dir = conf_str(s->database, DATABASE_DIRECTORY);
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char *path = NULL;
	int r;

	if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "cannot create the database directory %s: %s", dir,
		         strerror(errno));
		return -errno;
	}
	if (chown(dir, pw->pw_uid, pw->pw_gid) < 0 || chmod(dir, 0711) < 0) {
		snprintf(err, errsize, "cannot give %s to %s: %s", dir, pw->pw_name,
		         strerror(errno));
		return -errno;
	}
	if (asprintf(&path, "%s/rstudio.sqlite", dir) < 0)
		return -ENOMEM;
	r = db_open(path, &S.db, err, errsize);
	for (size_t i = 0; r == 0 && i < 3; i++) {
		char *f;
		if (asprintf(&f, "%s%s", path, suffixes[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		if (lchown(f, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT) {
			snprintf(err, errsize, "cannot give %s to %s: %s", f, pw->pw_name,
			         strerror(errno));
			r = -errno;
		}
		free(f);
	}
	free(path);
	return r;
}

/* Reads (or creates) the key that signs sign-in cookies. Its directory is
 * made if missing; the file itself is checked by cookie_key_load(). */
static int load_cookie_key(const struct settings *s, char *err, size_t errsize)
{
	const char *path = conf_str(s->rserver, RSERVER_SECURE_COOKIE_KEY_FILE);
	char *dir = strdup(path), *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(dir, 0755);
				*p = '/';
			}
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
			free(dir);
			return -errno;
		}
	}
	free(dir);
	return cookie_key_load(path, &S.key, err, errsize);
}

static bool is_loopback(const char *addr)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcmp(addr, "::1") == 0;
}

static void stop_serving(void)
{
	static bool stopped;

	if (stopped)
		return;
	stopped = true;
	/* The admin socket before the sessions: its commands under way let
	 * go of them. */
	admin_stop(S.admin);
	/* Sessions first: their pending API answers still have connections
	 * to go to. Their rsessions keep running. */
	sessions_stop(S.sessions);
	notices_stop(S.notices);
	metrics_stop();
	http_stop(S.http);
	/* The monitor exits when its socket closes. */
	if (S.monitor_fd >= 0) {
		close(S.monitor_fd);
		S.monitor_fd = -1;
	}
	uv_signal_stop(&S.sigterm);
	uv_signal_stop(&S.sigint);
	uv_signal_stop(&S.sighup);
	uv_close((uv_handle_t *)&S.sigterm, NULL);
	uv_close((uv_handle_t *)&S.sigint, NULL);
	uv_close((uv_handle_t *)&S.sighup, NULL);
}

static void on_stop(uv_signal_t *h, int sig)
{
	(void)h;
	log_info("Received %s: stopping; sessions keep running", strsignal(sig));
	stop_serving();
}

static void stop_serving(void);

/* Without its monitor rserver can neither sign anyone in nor start a
 * session: stop, and let the service manager restart it. */
static void on_monitor_lost(void)
{
	S.status = 1;
	stop_serving();
}

/*
 * Reads the profiles file for the session timeouts. NULL (with the
 * problems logged as file:line) when it has errors: the caller keeps what
 * it had.
 */
static struct profiles *load_profiles(const struct settings *s)
{
	struct profiles *p = calloc(1, sizeof(*p));
	char *path = settings_path(s, "profiles");
	struct diag d;
	int r;

	diag_init(&d);
	r = p && path ? profiles_load(path, p, &d) : -ENOMEM;
	config_log_problems(&d, "");
	if (r < 0 || diag_errors(&d)) {
		if (p)
			profiles_free(p);
		free(p);
		p = NULL;
	}
	diag_free(&d);
	free(path);
	return p;
}

static void log_change(const char *file, const struct conf_key *k, bool applied, void *arg)
{
	int *fixed = arg;

	if (applied) {
		log_info("Reload: %s %s changed", file, k->name);
	} else {
		log_warnx("Reload: %s %s changed, but takes effect only after a restart", file,
		          k->name);
		(*fixed)++;
	}
}

/*
 * Reload (SIGHUP, or the admin socket's "reload"; who says which): read
 * every file again and apply what can change while running (the
 * "reloadable" keys, profiles), without dropping a connection. A file with
 * errors changes nothing. The monitor, which keeps its own copy as root,
 * re-reads the files itself when asked: this process is not trusted to
 * hand it settings. A one-line outcome goes into msg (may be NULL).
 */
int server_reload(const char *who, char *msg, size_t msgsize)
{
	struct settings fresh = {0};
	struct profiles *p;
	struct diag d;
	struct monbuf req;
	int r, changed, fixed = 0;

	if (msg && msgsize)
		msg[0] = '\0';
	log_info("Reloading the configuration in %s (%s)", S.cl->config_dir, who);
	diag_init(&d);
	r = config_load(S.cl, &fresh, &d);
	if (r < 0 || diag_errors(&d)) {
		config_log_problems(&d, "Reload: ");
		log_errorx("Reload refused: the configuration has errors; nothing changed");
		if (msg && msgsize)
			snprintf(msg, msgsize, "reload refused: the configuration has errors (see "
			                       "rstudio-server test-config); nothing changed");
		diag_free(&d);
		settings_free(&fresh);
		return -EINVAL;
	}
	diag_free(&d);
	p = load_profiles(&fresh);
	if (!p) {
		log_errorx("Reload refused: the profiles file has errors; nothing changed");
		if (msg && msgsize)
			snprintf(msg, msgsize,
			         "reload refused: the profiles file has errors; nothing changed");
		settings_free(&fresh);
		return -EINVAL;
	}
	changed = settings_take_reloadable(S.settings, &fresh, log_change, &fixed);
	settings_free(&fresh);
	{
		/* Level and format only: the log file stays open as it was
		 * (this process could not reopen root's file). */
		enum log_level level;
		if (log_level_from_string(conf_str(S.settings->logging, LOGGING_LOG_LEVEL), &level) ==
		    0)
			log_set_level(level);
		log_set_format(
		    strcmp(conf_str(S.settings->logging, LOGGING_LOG_MESSAGE_FORMAT), "json") == 0
		        ? LOG_FORMAT_JSON
		        : LOG_FORMAT_PRETTY);
	}
	sessions_set_profiles(S.sessions, p);
	notices_reload(S.notices);
	if (monitor_client_request_reload(http_monitor_client(S.http), &req) == 0 &&
	    monitor_client_send(http_monitor_client(S.http), &req) < 0)
		log_errorx("Reload: cannot reach the monitor");
	log_info("Reloaded the configuration: %d setting(s) changed, %d of them need a restart; "
	         "profiles read again",
	         changed, fixed);
	if (msg && msgsize)
		snprintf(msg, msgsize,
		         "reloaded: %d setting(s) changed, %d of them need a restart; profiles "
		         "read again",
		         changed, fixed);
	return 0;
}

static void on_reload(uv_signal_t *h, int sig)
{
	(void)h;
	(void)sig;
	server_reload("SIGHUP", NULL, 0);
}

/*
 * <server-data-dir>/rserver.pid, for "rstudio-server stop" without
 * systemd. Written as root into root's directory (0644): the network
 * process, once it is server-user, can neither rewrite it (to aim root's
 * SIGTERM elsewhere) nor remove it; "stop" removes it, and checks before
 * signalling that the pid is still an rserver.
 */
static int write_pid_file(const struct settings *s, char *err, size_t errsize)
{
	const char *data = conf_str(s->rserver, RSERVER_SERVER_DATA_DIR);
	char *path, line[32];
	int fd, n, r = 0;

	if (asprintf(&path, "%s/rserver.pid", data) < 0)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (fd < 0 || write(fd, line, (size_t)n) != n || fchmod(fd, 0644) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		snprintf(err, errsize, "cannot write %s: %s", path, strerror(-r));
	free(path);
	return r;
}

/* Consoles and notices meet here (sessions.h hooks). */
static void greet_viewer(void *arg, struct session_viewer *v, const char *user)
{
	notices_greet(arg, v, user);
}

static int ack_notice(void *arg, const char *user, const char *id)
{
	return notices_ack(arg, user, id);
}

int server_run(const struct cmdline *cl)
{
	struct settings s = {0};
	struct monitor_config mcfg = {0};
	struct diag d;
	struct passwd *pw;
	const char *user;
	char err[512];
	int r;

	log_init("rserver");
	if (geteuid() != 0) {
		fprintf(stderr, "rserver: must start as root: it authenticates users with PAM and "
		                "starts their sessions\n");
		return 1;
	}
	/* 1 */
	diag_init(&d);
	r = config_load(cl, &s, &d);
	diag_print(&d, stderr);
	if (r < 0 || diag_errors(&d)) {
		fprintf(stderr, "rserver: refusing to start with configuration errors in %s\n",
		        cl->config_dir);
		diag_free(&d);
		settings_free(&s);
		return 1;
	}
	diag_free(&d);
	if (settings_apply_logging(&s) < 0)
		log_warn("Cannot open the log file in %s; logging to stderr",
		         conf_str(s.logging, LOGGING_LOG_DIR));

	/* 2 */
	user = conf_str(s.rserver, RSERVER_SERVER_USER);
	pw = getpwnam(user);
	if (!pw) {
		log_errorx("server-user '%s' does not exist; create it with: useradd --system "
		           "--no-create-home --shell /usr/sbin/nologin %s",
		           user, user);
		settings_free(&s);
		return 1;
	}
	if (pw->pw_uid == 0) {
		log_errorx("server-user '%s' is root; the network process must not run as root",
		           user);
		settings_free(&s);
		return 1;
	}

	/* 3 */
	mcfg.settings = &s;
	mcfg.cmdline = cl; /* a reload re-reads the files as at start */
	for (size_t i = 0; i < cl->noverrides; i++) {
		/* The launcher takes the same --key=value overrides. */
		char **nv = reallocarray(mcfg.overrides, mcfg.noverrides + 1, sizeof(char *));
		if (!nv || asprintf(&nv[mcfg.noverrides], "--%s=%s", cl->overrides[i].key,
		                    cl->overrides[i].value) < 0) {
			free(nv);
			log_errorx("Out of memory");
			return 1;
		}
		mcfg.overrides = nv;
		mcfg.noverrides++;
	}
	r = monitor_spawn(&mcfg, &S.monitor_pid, &S.monitor_fd);
	if (r < 0) {
		log_error_errno(-r, "Failed to start the monitor");
		return 1;
	}

	/* 4 */
	uv_loop_init(&S.loop);
	r = http_start(&S.loop, &s, &S.http, err, sizeof(err));
	if (r < 0) {
		log_errorx("%s", err);
		return 1;
	}
	r = open_database(&s, pw, err, sizeof(err));
	if (r < 0) {
		log_errorx("Database: %s", err);
		return 1;
	}
	r = load_cookie_key(&s, err, sizeof(err));
	if (r < 0) {
		log_errorx("secure-cookie-key-file: %s", err);
		return 1;
	}
	{
		struct http_deps deps = {.settings = &s,
		                         .db = S.db,
		                         .key = &S.key,
		                         .monitor_fd = S.monitor_fd,
		                         .on_monitor_lost = on_monitor_lost};
		r = http_serve(S.http, &deps);
		if (r < 0) {
			log_errorx("Cannot watch the monitor socket: %s", uv_strerror(r));
			return 1;
		}
	}
	{
		struct sessions_deps sd = {.loop = &S.loop,
		                           .settings = &s,
		                           .db = S.db,
		                           .mc = http_monitor_client(S.http)};
		struct profiles *p = load_profiles(&s);
		if (!p) {
			log_errorx("Refusing to start with errors in the profiles file");
			return 1;
		}
		if (sessions_new(&sd, &S.sessions) < 0) {
			log_errorx("Out of memory");
			return 1;
		}
		sessions_set_profiles(S.sessions, p);
		struct notices_deps nd = {
		    .loop = &S.loop, .settings = &s, .db = S.db, .sessions = S.sessions};
		if (notices_start(&nd, &S.notices) < 0) {
			log_errorx("Out of memory");
			return 1;
		}
		struct sessions_hooks hooks = {
		    .attached = greet_viewer, .ack = ack_notice, .arg = S.notices};
		sessions_set_hooks(S.sessions, &hooks);
		http_set_sessions(S.http, S.sessions, S.notices);
	}
	S.settings = &s;
	S.cl = cl;
	{
		/* The admin socket and the pid file go into root's data
		 * directory: created now, used after the drop. */
		struct admin_deps ad = {.loop = &S.loop,
		                        .settings = &s,
		                        .db = S.db,
		                        .sessions = S.sessions,
		                        .reload = server_reload};
		r = admin_start(&ad, &S.admin, err, sizeof(err));
		if (r < 0 || write_pid_file(&s, err, sizeof(err)) < 0) {
			log_errorx("%s", err);
			return 1;
		}
	}

	/* 5: for good. prctl: the dropped process must not be ptrace-able by
	 * the server user's other processes, nor dump memory. */
	r = privdrop_permanently(NULL, pw->pw_uid, pw->pw_gid, false, err, sizeof(err));
	if (r < 0) {
		log_errorx("Failed to drop privileges to %s: %s", user, err);
		_exit(1);
	}
	prctl(PR_SET_DUMPABLE, 0);
	log_info("rserver %s serving http://%s:%lld as %s (uid %u); monitor pid %d",
	         RSERVER_VERSION, conf_str(s.rserver, RSERVER_WWW_ADDRESS),
	         conf_int(s.rserver, RSERVER_WWW_PORT), user, (unsigned)pw->pw_uid,
	         (int)S.monitor_pid);
	if (!conf_bool(s.rserver, RSERVER_SSL_ENABLED) &&
	    !is_loopback(conf_str(s.rserver, RSERVER_WWW_ADDRESS)))
		log_warnx("Serving plain HTTP on %s: passwords cross the network unencrypted; "
		          "set ssl-enabled=1 or put rserver behind a TLS proxy",
		          conf_str(s.rserver, RSERVER_WWW_ADDRESS));

	/* The audit trail and sign-in records do not grow without end. */
	{
		int64_t now = now_ms();
		db_audit_prune(S.db, now - (int64_t)AUDIT_KEEP_DAYS * 86400000);
		db_cookie_prune(S.db, now);
	}
	if (metrics_start(&S.loop) < 0)
		log_warnx("Cannot measure the event loop's lag");

	/* 6: find the sessions that ran before this start. */
	r = sessions_recover(S.sessions);
	if (r < 0)
		log_errorx("Cannot read the session registry: %s", strerror(-r));

	uv_signal_init(&S.loop, &S.sigterm);
	uv_signal_init(&S.loop, &S.sigint);
	uv_signal_init(&S.loop, &S.sighup);
	uv_signal_start(&S.sigterm, on_stop, SIGTERM);
	uv_signal_start(&S.sigint, on_stop, SIGINT);
	uv_signal_start(&S.sighup, on_reload, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	uv_run(&S.loop, UV_RUN_DEFAULT);
	http_free(S.http);
	admin_free(S.admin);
	sessions_free(S.sessions);
	notices_free(S.notices);
	cookie_key_clear(&S.key);
	if (uv_loop_close(&S.loop) != 0)
		log_warnx("Event loop closed with handles still open");
	db_close(S.db);
	log_info("rserver stopped");
	for (size_t i = 0; i < mcfg.noverrides; i++)
		free(mcfg.overrides[i]);
	free(mcfg.overrides);
	settings_free(&s);
	return S.status;
}
