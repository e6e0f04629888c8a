/*
 * The monitor; see monitor.h.
 *
 * One thread, one poll() loop. Work that may block runs in child processes
 * the loop watches through pipes:
 *   - each authentication is a forked child running PAM; it writes its
 *     answer on a pipe and exits. A child that overruns the timeout is
 *     killed, which is the only reliable way to cancel a PAM stack stuck
 *     in LDAP or Kerberos.
 *   - each launch is rsession-launcher, which reports "ok <pid>" or
 *     "fail <step> <message>" on a status pipe and then stays as the
 *     session's parent.
 * A reload re-reads the configuration files exactly as rserver did at start
 * (config_load with the same command line) and takes only the reloadable
 * keys; a file with errors changes nothing.
 * Passwords live in locked, wiped memory (pam/secret.h) and, with
 * auth-pam-sessions-use-password, are kept per user, encrypted under a key
 * of this process (pam/pwcache.h), for
 * auth-pam-sessions-password-lifetime-minutes from the sign-in, so that a
 * launch can give the password to the session's PAM stack. The loop wakes
 * up when the next one expires and wipes it; a sign-out (MON_SIGNOUT_REQ)
 * wipes the user's at once. A launch that needs a password the monitor no
 * longer keeps is answered with the step MON_LAUNCH_STEP_SIGN_IN.
 */
#include "monitor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config-report.h"
#include "fsutil.h"
#include "launcher.h"
#include "log.h"
#include "monproto.h"
#include "pamauth.h"
#include "proc.h"
#include "profiles.h"
#include "pwcache.h"
#include "secret.h"
#include "strutil.h"

#define MAX_PENDING 256
/* A refused sign-in is answered no sooner than this after the request, so
 * an unknown user (refused at once) looks like a wrong password (which
 * pam_unix delays by about two seconds): timing must not tell which user
 * names exist. */
#define AUTH_FAIL_MIN_MS 2000

enum pending_kind { PENDING_AUTH, PENDING_LAUNCH, PENDING_REPLY };

/* A request waiting for a child process. */
struct pending {
	enum pending_kind kind;
	uint32_t id;
	pid_t pid;
	int fd; /* read end of the child's answer pipe */
	uint8_t buf[8192];
	size_t len;
	struct timespec deadline;
	char *user;
	char *session_id;
	char *socket_path;
	struct secret *password; /* auth: kept if it succeeds */
	struct timespec started;
	/* PENDING_REPLY: an auth answer held back until deadline. */
	enum mon_auth_result result;
	char *message;
};

static const struct monitor_config *cfg;
static int net_fd = -1;
static struct pending *pending[MAX_PENDING];
/* Sign-in passwords (auth-pam-sessions-use-password); NULL if the cache
 * could not be made, which makes every launch that needs one ask for a
 * sign-in. */
static struct pwcache *passwords;
static uint8_t rbuf[MONPROTO_MAX * 2];
static size_t rlen;

static const struct conf *rs(void)
{
	return cfg->settings->rserver;
}

/* ---- replies -------------------------------------------------------------- */

static void send_msg(struct monbuf *m)
{
	size_t off = 0;

	mon_finish(m);
	while (off < m->len) {
		ssize_t n = write(net_fd, m->data + off, m->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("Monitor: cannot write to the network process; exiting");
			_exit(1);
		}
		off += (size_t)n;
	}
	mon_free(m);
}

static void reply_auth(uint32_t id, enum mon_auth_result result, const char *user,
                       const char *message)
{
	struct monbuf m;

	if (mon_begin(&m, MON_AUTH_REP, id) < 0 || mon_put_u32(&m, (uint32_t)result) < 0 ||
	    mon_put_str(&m, user) < 0 || mon_put_str(&m, message) < 0) {
		mon_free(&m);
		return;
	}
	send_msg(&m);
}

static void reply_launch(uint32_t id, pid_t pid, const char *socket, const char *step,
                         const char *message)
{
	struct monbuf m;

	if (mon_begin(&m, MON_LAUNCH_REP, id) < 0 || mon_put_i32(&m, (int32_t)pid) < 0 ||
	    mon_put_str(&m, socket) < 0 || mon_put_str(&m, step) < 0 ||
	    mon_put_str(&m, message) < 0) {
		mon_free(&m);
		return;
	}
	send_msg(&m);
}

/* MON_SIGNAL_REP and MON_RELOAD_REP: a result and a message. */
static void reply_result(enum mon_type type, uint32_t id, int result, const char *message)
{
	struct monbuf m;

	if (mon_begin(&m, type, id) < 0 || mon_put_i32(&m, result) < 0 ||
	    mon_put_str(&m, message) < 0) {
		mon_free(&m);
		return;
	}
	send_msg(&m);
}

static void reply_signal(uint32_t id, int result, const char *message)
{
	reply_result(MON_SIGNAL_REP, id, result, message);
}

/* ---- users ---------------------------------------------------------------- */

/*
 * The rules that do not need PAM, checked before PAM (no password guessing
 * against root or system accounts) and again for a launch (a confused
 * network process must not start a session as root).
 */
static enum mon_auth_result user_allowed(const char *user, char *msg, size_t msgsize)
{
	long long min_uid = conf_int(rs(), RSERVER_AUTH_MINIMUM_USER_ID);
	const char *group = conf_str(rs(), RSERVER_AUTH_REQUIRED_USER_GROUP);
	struct passwd *pw;
	char **groups = NULL;
	size_t ngroups = 0;
	bool member = false;

	if (!conf_name_valid(user)) {
		snprintf(msg, msgsize, "invalid user name");
		return MON_AUTH_UNKNOWN_USER;
	}
	pw = getpwnam(user);
	if (!pw) {
		snprintf(msg, msgsize, "no such user");
		return MON_AUTH_UNKNOWN_USER;
	}
	if (pw->pw_uid == 0 || (long long)pw->pw_uid < min_uid) {
		snprintf(msg, msgsize, "uid %u is below auth-minimum-user-id %lld",
		         (unsigned)pw->pw_uid, min_uid);
		return MON_AUTH_UID_TOO_LOW;
	}
	if (!group)
		return MON_AUTH_OK;
	if (profiles_user_groups(user, &groups, &ngroups) < 0) {
		snprintf(msg, msgsize, "cannot read the user's groups");
		return MON_AUTH_ERROR;
	}
	for (size_t i = 0; i < ngroups && !member; i++)
		member = strcmp(groups[i], group) == 0;
	profiles_groups_free(groups, ngroups);
	if (!member) {
		snprintf(msg, msgsize, "not a member of %s", group);
		return MON_AUTH_NOT_IN_GROUP;
	}
	return MON_AUTH_OK;
}

/* ---- sign-in passwords ------------------------------------------------------ */

/* The cache's clock: monotonic, and counting while the machine sleeps, so
 * that a lifetime is wall time since the sign-in. */
static int64_t boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double lifetime_minutes(void)
{
	return conf_decimal(rs(), RSERVER_AUTH_PAM_SESSIONS_PASSWORD_LIFETIME_MINUTES);
}

static int64_t lifetime_ms(void)
{
	return (int64_t)(lifetime_minutes() * 60000.0);
}

/* Keeps a signed-in user's password (a copy; pw stays the caller's). */
static void password_remember(const char *user, const struct secret *pw)
{
	int r = passwords ? pwcache_put(passwords, user, pw, boot_ms()) : -ENOMEM;

	if (r < 0)
		log_error_errno(-r, "Cannot keep the sign-in password of %s; their sessions will "
		                    "ask for a sign-in",
		                user);
	else
		log_info("Keeping the sign-in password of %s for %g minutes "
		         "(auth-pam-sessions-password-lifetime-minutes)",
		         user, lifetime_minutes());
}

static void log_expired(const char *user, void *arg)
{
	(void)arg;
	log_info("Wiped the sign-in password of %s: kept for "
	         "auth-pam-sessions-password-lifetime-minutes (%g)",
	         user, lifetime_minutes());
}

/*
 * Wipes the passwords whose lifetime has passed, or all of them once
 * auth-pam-sessions-use-password is off (a reload), and returns the
 * milliseconds until the next expiry (-1: none kept).
 */
static int64_t passwords_sweep(void)
{
	int64_t now = boot_ms();

	if (!passwords)
		return -1;
	if (!conf_bool(rs(), RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD)) {
		size_t n = pwcache_clear(passwords);
		if (n)
			log_info("Wiped %zu sign-in password%s: auth-pam-sessions-use-password is "
			         "off",
			         n, n == 1 ? "" : "s");
		return -1;
	}
	pwcache_expire(passwords, now, lifetime_ms(), log_expired, NULL);
	return pwcache_next_expiry(passwords, now, lifetime_ms());
}

/*
 * The password a launch for user needs, in *ret (NULL when the launch
 * needs none: PAM sessions off or auth-pam-sessions-use-password=0). When
 * it needs one the monitor does not keep, -ENOENT or -ETIME with msg the
 * words for the user, who must sign in again.
 */
static int password_for_launch(const char *user, struct secret **ret, char *msg, size_t msgsize)
{
	int r;

	*ret = NULL;
	if (!conf_bool(rs(), RSERVER_AUTH_PAM_SESSIONS_ENABLED) ||
	    !conf_bool(rs(), RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD))
		return 0;
	r = passwords ? pwcache_get(passwords, user, boot_ms(), lifetime_ms(), ret) : -ENOENT;
	if (r == -ETIME)
		snprintf(msg, msgsize,
		         "the password from your sign-in is kept for %g minutes to start sessions, "
		         "and that time has passed: sign in again",
		         lifetime_minutes());
	else if (r == -ENOMEM)
		snprintf(msg, msgsize, "out of memory");
	else if (r < 0)
		snprintf(msg, msgsize,
		         "no password from your sign-in is kept to start sessions (you signed "
		         "out, or the server restarted since): sign in again");
	return r;
}

/* ---- pending children ------------------------------------------------------ */

static struct pending **pending_slot(void)
{
	for (size_t i = 0; i < MAX_PENDING; i++)
		if (!pending[i])
			return &pending[i];
	return NULL;
}

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	explicit_bzero(p->buf, sizeof(p->buf));
	free(p->user);
	free(p->session_id);
	free(p->socket_path);
	free(p->message);
	secret_free(p->password);
	free(p);
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Kills a worker and everything it started (pam_exec helpers start their
 * own sessions, so a process group would not reach them). */
static void kill_tree(pid_t pid)
{
	pid_t pids[256];
	size_t n;

	kill(pid, SIGSTOP); /* no new children while we look */
	n = proc_descendants(pid, pids, sizeof(pids) / sizeof(pids[0]));
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	kill(pid, SIGKILL);
}

/* Sends a refusal no sooner than AUTH_FAIL_MIN_MS after started. */
static void reply_auth_refused(uint32_t id, const struct timespec *started,
                               enum mon_auth_result result, const char *user, const char *message)
{
	struct pending **slot = pending_slot(), *p;

	p = slot ? calloc(1, sizeof(*p)) : NULL;
	if (!p) {
		reply_auth(id, result, user, message);
		return;
	}
	p->kind = PENDING_REPLY;
	p->id = id;
	p->fd = -1;
	p->result = result;
	p->user = strdup(user);
	p->message = strdup(message);
	p->deadline = *started;
	p->deadline.tv_sec += AUTH_FAIL_MIN_MS / 1000;
	p->deadline.tv_nsec += (long)(AUTH_FAIL_MIN_MS % 1000) * 1000000L;
	if (p->deadline.tv_nsec >= 1000000000L) {
		p->deadline.tv_sec++;
		p->deadline.tv_nsec -= 1000000000L;
	}
	*slot = p;
}

/* ---- authenticate ------------------------------------------------------------ */

/* The PAM child: authenticates and writes result, user, message. */
static void auth_child(int wfd, const char *service, const char *user, struct secret *password)
{
	char msg[1024] = "", *canonical = NULL;
	enum pamauth_result r;
	enum mon_auth_result mr;
	struct monbuf m;

	r = pamauth_authenticate(service, user, password, &canonical, msg, sizeof(msg));
	secret_free(password);
	switch (r) {
	case PAMAUTH_OK:
		mr = MON_AUTH_OK;
		break;
	case PAMAUTH_BAD_PASSWORD:
		mr = MON_AUTH_BAD_PASSWORD;
		break;
	case PAMAUTH_UNKNOWN_USER:
		mr = MON_AUTH_UNKNOWN_USER;
		break;
	case PAMAUTH_ACCOUNT_EXPIRED:
		mr = MON_AUTH_ACCOUNT_EXPIRED;
		break;
	case PAMAUTH_PASSWORD_EXPIRED:
		mr = MON_AUTH_PASSWORD_EXPIRED;
		break;
	case PAMAUTH_DENIED:
		mr = MON_AUTH_DENIED;
		break;
	default:
		mr = MON_AUTH_ERROR;
		break;
	}
	if (mon_begin(&m, MON_AUTH_REP, 0) == 0 && mon_put_u32(&m, (uint32_t)mr) == 0 &&
	    mon_put_str(&m, canonical ? canonical : user) == 0 && mon_put_str(&m, msg) == 0) {
		mon_finish(&m);
		if (write(wfd, m.data, m.len) < 0) {
		}
	}
	_exit(0);
}

static void start_auth(uint32_t id, char *service, char *user, char *password_text)
{
	struct pending **slot, *p = NULL;
	struct secret *pw = NULL;
	char msg[256] = "";
	enum mon_auth_result allowed;
	int pfd[2] = {-1, -1};
	int timeout = cfg->auth_timeout_ms ? cfg->auth_timeout_ms : 30000;
	struct timespec started;

	clock_gettime(CLOCK_MONOTONIC, &started);
	if (secret_new(password_text, strlen(password_text), &pw) < 0) {
		reply_auth(id, MON_AUTH_ERROR, user, "out of memory");
		return;
	}
	allowed = user_allowed(user, msg, sizeof(msg));
	if (allowed != MON_AUTH_OK) {
		log_warnx("Sign-in of '%s' refused: %s (%s)", user, mon_auth_result_name(allowed),
		          msg);
		reply_auth_refused(id, &started, allowed, user, msg);
		secret_free(pw);
		return;
	}
	/* Only the configured service: the monitor runs PAM as root, and a
	 * service with pam_rootok (such as su) would accept any password. */
	if (strcmp(service, conf_str(rs(), RSERVER_AUTH_PAM_SERVICE)) != 0) {
		log_errorx("Sign-in of '%s' refused: PAM service '%s' is not auth-pam-service",
		           user, service);
		reply_auth(id, MON_AUTH_ERROR, user, "PAM service is not auth-pam-service");
		secret_free(pw);
		return;
	}
	slot = pending_slot();
	p = calloc(1, sizeof(*p));
	if (p)
		p->fd = -1;
	if (!slot || !p || pipe2(pfd, O_CLOEXEC) < 0) {
		reply_auth(id, MON_AUTH_ERROR, user, "monitor is overloaded");
		goto fail;
	}
	p->kind = PENDING_AUTH;
	p->id = id;
	p->fd = pfd[0];
	p->user = strdup(user);
	p->started = started;
	p->pid = fork();
	if (p->pid < 0) {
		reply_auth(id, MON_AUTH_ERROR, user, "fork failed");
		goto fail;
	}
	if (p->pid == 0) {
		close(pfd[0]);
		close(net_fd);
		auth_child(pfd[1], service, user, pw);
	}
	close(pfd[1]);
	/* Keep our copy only when a launch may need it. */
	if (conf_bool(rs(), RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD))
		p->password = pw;
	else
		secret_free(pw);
	deadline_in(&p->deadline, timeout);
	*slot = p;
	return;
fail:
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (p)
		p->fd = pfd[0];
	pending_free(p);
	secret_free(pw);
}

static void finish_auth(struct pending *p)
{
	struct monbuf m;
	uint32_t result;
	char *user = NULL, *msg = NULL;
	size_t len = p->len;

	if (mon_take(p->buf, &len, &m) != 1 || mon_get_u32(&m, &result) < 0 ||
	    mon_get_str(&m, &user) < 0 || mon_get_str(&m, &msg) < 0 || mon_end(&m) < 0 ||
	    result >= MON_AUTH_RESULT_MAX) {
		reply_auth(p->id, MON_AUTH_ERROR, p->user, "the PAM worker failed");
		log_errorx("Sign-in of '%s': the PAM worker died without an answer", p->user);
		goto out;
	}
	if (result == MON_AUTH_OK && strcmp(user, p->user) != 0) {
		/* PAM mapped the name: the canonical user must pass too. */
		char why[256] = "";
		enum mon_auth_result again = user_allowed(user, why, sizeof(why));
		if (again != MON_AUTH_OK) {
			result = again;
			free(msg);
			msg = strdup(why);
		}
	}
	if (result == MON_AUTH_OK) {
		log_info("Sign-in of '%s' accepted%s%s", p->user,
		         strcmp(user, p->user) ? " as " : "", strcmp(user, p->user) ? user : "");
		if (p->password)
			password_remember(user, p->password);
		reply_auth(p->id, MON_AUTH_OK, user, msg ? msg : "");
	} else {
		log_warnx("Sign-in of '%s' refused: %s%s%s", p->user,
		          mon_auth_result_name((enum mon_auth_result)result),
		          msg && *msg ? ": " : "", msg ? msg : "");
		reply_auth_refused(p->id, &p->started, (enum mon_auth_result)result, user,
		                   msg ? msg : "");
	}
out:
	mon_free(&m);
	free(user);
	free(msg);
}

/* ---- launch ------------------------------------------------------------------ */

static bool session_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
			return false;
	return true;
}

/*
 * <server-data-dir>/sessions: root-owned, readable by the server user's
 * group only. The sockets in it are 0660 with that group, so the network
 * process can connect and the session's user (who holds the listening fd)
 * does not need to.
 */
static int sessions_dir(char **ret, gid_t *ret_gid, char *err, size_t errsize)
{
	const char *data = conf_str(rs(), RSERVER_SERVER_DATA_DIR);
	struct passwd *spw = getpwnam(conf_str(rs(), RSERVER_SERVER_USER));
	gid_t gid = spw ? spw->pw_gid : 0;
	char *dir;

	if (mkdir(data, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "cannot create server-data-dir %s: %s", data,
		         strerror(errno));
		return -errno;
	}
	if (asprintf(&dir, "%s/sessions", data) < 0)
		return -ENOMEM;
	if ((mkdir(dir, 0750) < 0 && errno != EEXIST) || chown(dir, 0, gid) < 0 ||
	    chmod(dir, 0750) < 0) {
		snprintf(err, errsize, "cannot prepare %s: %s", dir, strerror(errno));
		free(dir);
		return -EIO;
	}
	*ret = dir;
	*ret_gid = gid;
	return 0;
}

static int session_socket(const char *path, gid_t gid, char *err, size_t errsize)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errsize, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ? -errno : 0;
	umask(old);
	if (r == 0 && (chown(path, 0, gid) < 0 || chmod(path, 0660) < 0))
		r = -errno;
	if (r < 0) {
		snprintf(err, errsize, "cannot create %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

static char *launcher_path(void)
{
	const char *conf = conf_str(rs(), RSERVER_RSESSION_LAUNCHER_PATH);

	if (cfg->launcher_path)
		return strdup(cfg->launcher_path);
	if (conf)
		return strdup(conf);
	return fs_sibling_program(NULL, "rsession-launcher");
}

static char *realpath_launcher(void)
{
	char *p = launcher_path(), *r;

	if (!p)
		return NULL;
	r = realpath(p, NULL);
	free(p);
	return r;
}

static void start_launch(uint32_t id, char *user, char *session_id, uint32_t flags)
{
	struct pending **slot = pending_slot(), *p = NULL;
	char msg[512] = "", *dir = NULL, *launcher = NULL, start_ms[32];
	struct secret *pw = NULL;
	int sock = -1, status[2] = {-1, -1}, pwpipe[2] = {-1, -1};
	int timeout = cfg->launch_timeout_ms ? cfg->launch_timeout_ms : 60000;
	gid_t gid = 0;

	/* The launcher's own bound for the session's process to become
	 * rsession, well inside ours, so that its precise reason (a
	 * supervisor that never execs) arrives rather than our timeout. */
	snprintf(start_ms, sizeof(start_ms), "%d", timeout / 2 < 100 ? 100 : timeout / 2);

	if (user_allowed(user, msg, sizeof(msg)) != MON_AUTH_OK) {
		log_warnx("Launch for '%s' refused: %s", user, msg);
		reply_launch(id, 0, "", "user", msg);
		return;
	}
	if (!session_id_valid(session_id)) {
		reply_launch(id, 0, "", "arguments", "invalid session id");
		return;
	}
	/* Before anything is made: a launch that needs the sign-in password
	 * the monitor no longer keeps sends the user to sign in again. */
	if (password_for_launch(user, &pw, msg, sizeof(msg)) < 0) {
		log_warnx("Session %s of %s not started: no sign-in password is kept for them "
		          "(auth-pam-sessions-use-password); asking them to sign in again",
		          session_id, user);
		reply_launch(id, 0, "", MON_LAUNCH_STEP_SIGN_IN, msg);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->fd = -1;
	if (!slot || !p) {
		reply_launch(id, 0, "", "monitor", "too many launches in progress");
		goto out;
	}
	if (sessions_dir(&dir, &gid, msg, sizeof(msg)) < 0) {
		reply_launch(id, 0, "", "socket", msg);
		goto out;
	}
	if (asprintf(&p->socket_path, "%s/%s.sock", dir, session_id) < 0)
		goto oom;
	{
		/* The last run's exit record goes: the network process learns
		 * how this run ends from a record of this run only. */
		char *rec;
		if (asprintf(&rec, "%s/%s.exit", dir, session_id) < 0)
			goto oom;
		unlink(rec);
		free(rec);
	}
	sock = session_socket(p->socket_path, gid, msg, sizeof(msg));
	if (sock < 0) {
		reply_launch(id, 0, "", "socket", msg);
		goto out;
	}
	launcher = launcher_path();
	if (!launcher)
		goto oom;
	if (pipe2(status, O_CLOEXEC) < 0 || (pw && pipe2(pwpipe, O_CLOEXEC) < 0)) {
		reply_launch(id, 0, "", "monitor", strerror(errno));
		goto out;
	}
	p->kind = PENDING_LAUNCH;
	p->id = id;
	p->user = strdup(user);
	p->session_id = strdup(session_id);
	p->pid = fork();
	if (p->pid < 0) {
		reply_launch(id, 0, "", "monitor", "fork failed");
		goto out;
	}
	if (p->pid == 0) {
		/* The launcher's fds: 3 the socket, 4 the status pipe, 5 the
		 * password. dup2 clears close-on-exec on the copies. */
		char *argv[16 + 2 * 128];
		size_t n = 0;
		/* Move every source above the targets first: the socket may
		 * itself be fd 4, and dup2(3, 3) would keep close-on-exec. */
		int s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
		int st = fcntl(status[1], F_DUPFD_CLOEXEC, 10);
		int pwr = pw ? fcntl(pwpipe[0], F_DUPFD_CLOEXEC, 10) : -1;
		if (s < 0 || st < 0 || (pw && pwr < 0) || dup2(s, LAUNCHER_SOCKET_FD) < 0 ||
		    dup2(st, LAUNCHER_STATUS_FD) < 0 || (pw && dup2(pwr, 5) < 0))
			_exit(126);
		argv[n++] = launcher;
		argv[n++] = "--user";
		argv[n++] = user;
		argv[n++] = "--session-id";
		argv[n++] = session_id;
		argv[n++] = "--config-dir";
		argv[n++] = cfg->settings->config_dir;
		if (flags & MON_LAUNCH_RESUME)
			argv[n++] = "--resume";
		argv[n++] = "--start-timeout-ms";
		argv[n++] = start_ms;
		if (pw) {
			argv[n++] = "--password-fd";
			argv[n++] = "5";
		}
		for (size_t i = 0; i < cfg->noverrides && i < 128; i++)
			argv[n++] = cfg->overrides[i];
		argv[n] = NULL;
		execv(launcher, argv);
		_exit(127);
	}
	close(status[1]);
	status[1] = -1;
	p->fd = status[0];
	status[0] = -1;
	if (pw) {
		/* The pipe holds far more than any password: never blocks. */
		if (write(pwpipe[1], pw->data, pw->len) < 0)
			log_warn("Cannot pass the password to the launcher");
	}
	deadline_in(&p->deadline, timeout);
	*slot = p;
	p = NULL;
	goto out;
oom:
	reply_launch(id, 0, "", "monitor", "out of memory");
out:
	for (int i = 0; i < 2; i++) {
		if (status[i] >= 0)
			close(status[i]);
		if (pwpipe[i] >= 0)
			close(pwpipe[i]);
	}
	if (sock >= 0)
		close(sock);
	secret_free(pw);
	pending_free(p);
	free(launcher);
	free(dir);
}

static void finish_launch(struct pending *p)
{
	char line[sizeof(p->buf) + 1], *sp;
	long pid;

	memcpy(line, p->buf, p->len);
	line[p->len] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, "ok ", 3) == 0 && (pid = strtol(line + 3, NULL, 10)) > 0) {
		log_info("Session %s of %s launched as pid %ld", p->session_id, p->user, pid);
		reply_launch(p->id, (pid_t)pid, p->socket_path, "", "");
		return;
	}
	if (strncmp(line, "fail ", 5) == 0 && (sp = strchr(line + 5, ' '))) {
		*sp = '\0';
		log_warnx("Session %s of %s failed to launch: %s: %s", p->session_id, p->user,
		          line + 5, sp + 1);
		reply_launch(p->id, 0, "", line + 5, sp + 1);
	} else {
		log_errorx("Session %s of %s: the launcher ended without a report", p->session_id,
		           p->user);
		reply_launch(p->id, 0, "", "launcher", "rsession-launcher ended without a report");
	}
	unlink(p->socket_path);
}

/* ---- signal and stats -------------------------------------------------------- */

/* Reads /proc/<pid>/cmdline into a NUL-separated buffer. */
static ssize_t proc_cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Realpaths of the rsession binaries sessions run: one, and one more for
 * each reload that changed rsession-path, since the sessions started before
 * it keep running the old binary and must still be recognised. */
static char **rsession_exes;
static size_t nrsession_exes;

/* Adds the rsession binary new sessions run: rsession-path, or beside the
 * launcher as the launcher finds it. False when there is none. */
static bool find_rsession_exe(void)
{
	const char *conf = conf_str(rs(), RSERVER_RSESSION_PATH);
	char *launcher = NULL, *p = NULL, *exe = NULL, **n;

	if (conf) {
		exe = realpath(conf, NULL);
	} else {
		/* The launcher runs the rsession beside it: look where it will. */
		launcher = realpath_launcher();
		p = launcher ? fs_sibling_program(launcher, "rsession") : NULL;
		exe = p ? realpath(p, NULL) : NULL;
		free(p);
		free(launcher);
	}
	if (!exe)
		return false;
	for (size_t i = 0; i < nrsession_exes; i++)
		if (strcmp(rsession_exes[i], exe) == 0) {
			free(exe);
			return true;
		}
	n = reallocarray(rsession_exes, nrsession_exes + 1, sizeof(*n));
	if (!n) {
		free(exe);
		return false;
	}
	rsession_exes = n;
	rsession_exes[nrsession_exes++] = exe;
	return true;
}

/*
 * Whether pid runs the rsession binary (by /proc/<pid>/exe, which the user
 * cannot fake the way they can argv) and, when asked, for which session id
 * (from argv: only the owner's own processes get this far).
 */
static bool is_rsession(pid_t pid, const char *session_id)
{
	char buf[8192], exe[4096], path[64];
	bool known = false;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	/* After a package upgrade replaced the binary, a running session's
	 * exe reads "<path> (deleted)". Only root can put a file at our
	 * path, so such a process did exec the real rsession. */
	{
		static const char deleted[] = " (deleted)";
		size_t dl = sizeof(deleted) - 1;
		if ((size_t)n > dl && strcmp(exe + n - dl, deleted) == 0)
			exe[n - dl] = '\0';
	}
	for (size_t i = 0; i < nrsession_exes && !known; i++)
		known = strcmp(exe, rsession_exes[i]) == 0;
	if (!known)
		return false;
	if (!session_id)
		return true;
	n = proc_cmdline(pid, buf, sizeof(buf));
	if (n <= 0)
		return false;
	for (const char *a = buf; a < buf + n; a += strlen(a) + 1)
		if (strcmp(a, "--session-id") == 0 && a + strlen(a) + 1 < buf + n)
			return strcmp(a + strlen(a) + 1, session_id) == 0;
	return false;
}

static void do_signal(uint32_t id, const char *user, const char *session_id, int32_t pid,
                      int32_t sig)
{
	static const int allowed[] = {SIGINT, SIGTERM, SIGKILL, SIGUSR1, SIGUSR2};
	struct passwd *pw = getpwnam(user);
	bool ok = false;
	uid_t uid;

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		ok |= sig == allowed[i];
	if (!ok) {
		reply_signal(id, -EINVAL, "signal not allowed");
		return;
	}
	/* The pid must still be this user's rsession for this session: pids
	 * are reused, and the network process is not trusted with kill(). */
	if (pid <= 1 || !pw || proc_uid(pid, &uid) < 0 || uid != pw->pw_uid ||
	    !is_rsession(pid, session_id)) {
		log_warnx("Refused signal %d to pid %d: not the rsession of %s for session %s", sig,
		          pid, user, session_id);
		reply_signal(id, -ESRCH, "no such session process");
		return;
	}
	if (kill(pid, sig) < 0) {
		reply_signal(id, -errno, strerror(errno));
		return;
	}
	log_info("Sent signal %d to session %s of %s (pid %d)", sig, session_id, user, pid);
	reply_signal(id, 0, "");
}

static void do_stats(uint32_t id, const int32_t *pids, size_t n)
{
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct monbuf m;

	if (mon_begin(&m, MON_STATS_REP, id) < 0 || mon_put_u32(&m, (uint32_t)n) < 0)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		int32_t pid = pids[i];
		unsigned long long utime = 0, stime = 0, resident = 0;
		char path[64], *buf;
		size_t len;

		/* Only rsession processes: this is not a general /proc oracle. */
		if (pid > 1 && is_rsession(pid, NULL)) {
			struct proc_stat ps;
			if (proc_stat(pid, &ps) == 0) {
				utime = ps.utime;
				stime = ps.stime;
			}
			snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
			if (file_read_all(path, 4096, &buf, &len) == 0) {
				if (sscanf(buf, "%*u %llu", &resident) != 1)
					resident = 0;
				free(buf);
			}
		}
		if (mon_put_i32(&m, pid) < 0 ||
		    mon_put_u64(&m, (utime + stime) * 1000 / (unsigned long long)ticks) < 0 ||
		    mon_put_u64(&m, resident * (unsigned long long)page) < 0)
			goto oom;
	}
	send_msg(&m);
	return;
oom:
	mon_free(&m);
	log_errorx("Monitor: out of memory answering stats");
}

/* ---- reload -------------------------------------------------------------------- */

struct reload_count {
	unsigned applied, fixed;
};

static void log_reloaded(const char *file, const struct conf_key *k, bool applied, void *arg)
{
	struct reload_count *c = arg;
	const struct conf *files[] = {cfg->settings->rserver, cfg->settings->rsession,
	                              cfg->settings->database, cfg->settings->logging};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!applied) {
		c->fixed++;
		log_warnx("%s: %s changed; takes effect after a restart", file, k->name);
		return;
	}
	c->applied++;
	/* The value now live: k points into its file's key table. */
	f = open_memstream(&text, &len);
	for (size_t i = 0; f && i < sizeof(files) / sizeof(files[0]); i++) {
		const struct conf_table *t = files[i]->table;
		if (k >= t->keys && k < t->keys + t->nkeys)
			conf_value_print(k, &files[i]->values[k - t->keys].v, f);
	}
	if (f)
		fclose(f);
	log_info("Reloaded %s: now %s", k->name, text && *text ? text : "(unset)");
	free(text);
}

/*
 * Re-reads the configuration as rserver did at start: the same directory,
 * the same --key=value overrides, the same checks. A configuration with
 * errors changes nothing; otherwise the reloadable keys take their new
 * values and the others are reported as needing a restart.
 */
static void do_reload(uint32_t id)
{
	struct settings fresh = {0};
	struct reload_count count = {0, 0};
	char msg[512];
	struct diag d;
	int r;

	if (!cfg->cmdline) {
		reply_result(MON_RELOAD_REP, id, -ENOTSUP, "reload not available");
		return;
	}
	diag_init(&d);
	r = config_load(cfg->cmdline, &fresh, &d);
	if (r < 0) {
		log_error_errno(-r, "Reload: cannot read the configuration");
		reply_result(MON_RELOAD_REP, id, r, "cannot read the configuration");
		goto out;
	}
	config_log_problems(&d, "Reload: ");
	if (diag_errors(&d)) {
		const struct diag_entry *first = NULL;

		for (size_t i = 0; i < d.n && !first; i++)
			if (d.entries[i].severity == DIAG_ERROR)
				first = &d.entries[i];
		if (first && first->line)
			snprintf(msg, sizeof(msg), "%zu error%s, settings unchanged: %s:%u: %s",
			         diag_errors(&d), diag_errors(&d) == 1 ? "" : "s", first->file,
			         first->line, first->message);
		else if (first)
			snprintf(msg, sizeof(msg), "%zu error%s, settings unchanged: %s: %s",
			         diag_errors(&d), diag_errors(&d) == 1 ? "" : "s", first->file,
			         first->message);
		else
			snprintf(msg, sizeof(msg), "out of memory (settings unchanged)");
		log_errorx("Reload refused: configuration errors in %s; keeping the old settings",
		           cfg->cmdline->config_dir);
		reply_result(MON_RELOAD_REP, id, -EINVAL, msg);
		goto out;
	}
	r = settings_take_reloadable(cfg->settings, &fresh, log_reloaded, &count);
	if (r < 0) {
		reply_result(MON_RELOAD_REP, id, r, strerror(-r));
		goto out;
	}
	if (settings_apply_logging(cfg->settings) < 0)
		log_warn("Cannot open the log file in %s; logging to stderr",
		         conf_str(cfg->settings->logging, LOGGING_LOG_DIR));
	/* New sessions may run another rsession; the old ones keep theirs. */
	if (!find_rsession_exe())
		log_warnx("Monitor: rsession not found; signals and stats will miss new sessions");
	if (count.applied + count.fixed == 0)
		snprintf(msg, sizeof(msg), "no settings changed");
	else
		snprintf(msg, sizeof(msg), "%u setting%s reloaded, %u need%s a restart",
		         count.applied, count.applied == 1 ? "" : "s", count.fixed,
		         count.fixed == 1 ? "s" : "");
	log_info("Configuration reloaded from %s: %s", cfg->cmdline->config_dir, msg);
	reply_result(MON_RELOAD_REP, id, 0, msg);
out:
	settings_free(&fresh);
	diag_free(&d);
}

/* ---- sign-out -------------------------------------------------------------------- */

/* The user signed out: their sign-in password goes at once. Any user name
 * is accepted: forgetting is all this can do. */
static void do_signout(uint32_t id, const char *user)
{
	bool had = passwords && pwcache_forget(passwords, user);
	char msg[256];

	if (had)
		log_info("Wiped the sign-in password of %s: they signed out", user);
	snprintf(msg, sizeof(msg), had ? "the sign-in password of %s is wiped"
	                               : "no sign-in password was kept for %s",
	         user);
	reply_result(MON_SIGNOUT_REP, id, 0, msg);
}

/* ---- dispatch ------------------------------------------------------------------ */

static void protocol_error(const char *what)
{
	log_errorx("Monitor: %s from the network process; exiting", what);
	_exit(1);
}

/*
 * The permission table (OpenSSH's MON_PERMIT): the requests the network
 * process may make, each with its handler. Anything else ends the monitor.
 */
static void handle_auth(struct mon_request *q)
{
	start_auth(q->id, q->service, q->user, q->password);
}

static void handle_launch(struct mon_request *q)
{
	start_launch(q->id, q->user, q->session_id, q->flags);
}

static void handle_signal(struct mon_request *q)
{
	do_signal(q->id, q->user, q->session_id, q->pid, q->sig);
}

static void handle_stats(struct mon_request *q)
{
	do_stats(q->id, q->pids, q->npids);
}

static void handle_reload(struct mon_request *q)
{
	do_reload(q->id);
}

static void handle_signout(struct mon_request *q)
{
	do_signout(q->id, q->user);
}

static const struct {
	enum mon_type type;
	void (*handler)(struct mon_request *q);
} permitted[] = {
    /* clang-format off: one request a line */
    {MON_AUTH_REQ, handle_auth},
    {MON_LAUNCH_REQ, handle_launch},
    {MON_SIGNAL_REQ, handle_signal},
    {MON_STATS_REQ, handle_stats},
    {MON_RELOAD_REQ, handle_reload},
    {MON_SIGNOUT_REQ, handle_signout},
    /* clang-format on */
};

static void dispatch(struct monbuf *m)
{
	struct mon_request q;

	for (size_t i = 0; i < sizeof(permitted) / sizeof(permitted[0]); i++) {
		if (permitted[i].type != m->type)
			continue;
		if (mon_decode_request(m, &q) < 0)
			protocol_error("a malformed request");
		permitted[i].handler(&q);
		mon_request_free(&q);
		return;
	}
	protocol_error("a request it may not make");
}

static void read_network(void)
{
	ssize_t n = read(net_fd, rbuf + rlen, sizeof(rbuf) - rlen);
	struct monbuf m;
	int r;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		log_info("Monitor: the network process has gone; exiting");
		_exit(0);
	}
	rlen += (size_t)n;
	while ((r = mon_take(rbuf, &rlen, &m)) == 1) {
		dispatch(&m);
		mon_free(&m);
	}
	if (r < 0)
		protocol_error(r == -EMSGSIZE ? "an oversized message"
		                              : "a message of another "
		                                "version or type");
}

/* ---- the loop ------------------------------------------------------------------ */

static void reap(void)
{
	int status;

	/* Launchers outlive their launch (they are the sessions' parents);
	 * collect any that ended, and the PAM children. */
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
}

static void on_sigchld(int sig)
{
	(void)sig;
}

static void check_pending(struct pollfd *pfd, size_t np, struct pending **map)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < np; i++) {
		struct pending *p = map[i];
		bool done = false;

		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
			if (n > 0)
				p->len += (size_t)n;
			/* A launch is answered by its first line; an auth child
			 * by its whole message and end-of-file. */
			done = n <= 0 || p->len == sizeof(p->buf) ||
			       (p->kind == PENDING_LAUNCH && memchr(p->buf, '\n', p->len));
		}
		if (done) {
			if (p->kind == PENDING_AUTH)
				finish_auth(p);
			else
				finish_launch(p);
		} else if (now.tv_sec > p->deadline.tv_sec ||
		           (now.tv_sec == p->deadline.tv_sec &&
		            now.tv_nsec >= p->deadline.tv_nsec)) {
			if (p->kind == PENDING_REPLY) {
				reply_auth(p->id, p->result, p->user, p->message ? p->message : "");
			} else if (p->kind == PENDING_AUTH) {
				log_warnx("Sign-in of '%s': PAM did not answer in time; killed "
				          "worker %d",
				          p->user, (int)p->pid);
				kill_tree(p->pid);
				reply_auth(p->id, MON_AUTH_TIMEOUT, p->user, "PAM timed out");
			} else {
				log_warnx("Session %s of %s: the launcher did not report in time",
				          p->session_id, p->user);
				kill(p->pid, SIGKILL);
				reply_launch(p->id, 0, "", "timeout",
				             "the session did not start in time");
			}
			done = true;
		}
		if (done) {
			for (size_t k = 0; k < MAX_PENDING; k++)
				if (pending[k] == p)
					pending[k] = NULL;
			pending_free(p);
		}
	}
}

void monitor_main(int fd, const struct monitor_config *config)
{
	struct sigaction sa = {.sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP};

	cfg = config;
	net_fd = fd;
	/* Forked: keep rserver's logging.conf settings, change the name. */
	log_set_program("rserver-monitor");
	/* No core dumps and no ptrace from the network process: this
	 * process holds passwords. Not dumpable is what forbids the dump
	 * (with fs.suid_dumpable=0, the default); a core limit of 0 also
	 * stops the kernel writing one to a file where suid_dumpable=2
	 * would, and the key and passwords are MADV_DONTDUMP besides. Only
	 * the soft limit: raising it again takes root, and the tests raise it
	 * to show that non-dumpability alone stops the dump. */
	prctl(PR_SET_DUMPABLE, 0);
	{
		struct rlimit core;
		if (getrlimit(RLIMIT_CORE, &core) == 0) {
			core.rlim_cur = 0;
			setrlimit(RLIMIT_CORE, &core);
		}
	}
	if (pwcache_new(&passwords) < 0)
		log_error("Monitor: cannot make the password cache; sessions that need the "
		          "sign-in password will ask for a sign-in");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	if (!find_rsession_exe())
		log_warnx("Monitor: rsession not found; signals and stats will find no session");

	for (;;) {
		struct pollfd pfd[1 + MAX_PENDING];
		struct pending *map[MAX_PENDING];
		size_t np = 0;
		/* Wake up when the next kept password expires, to wipe it. */
		int64_t next = passwords_sweep();
		int timeout = next < 0 ? -1 : next > 60000 ? 60000 : (int)next + 1;

		for (size_t i = 0; i < MAX_PENDING; i++)
			if (pending[i]) {
				/* A negative fd (a held-back reply) is only a deadline. */
				pfd[1 + np] =
				    (struct pollfd){.fd = pending[i]->fd, .events = POLLIN};
				map[np++] = pending[i];
				if (timeout < 0 || timeout > 50)
					timeout = 50; /* deadlines are checked this often */
			}
		pfd[0] = (struct pollfd){.fd = net_fd, .events = POLLIN};
		if (poll(pfd, 1 + np, timeout) < 0 && errno != EINTR)
			log_warn("Monitor: poll failed");
		reap();
		check_pending(pfd + 1, np, map);
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			read_network();
	}
}

int monitor_spawn(const struct monitor_config *config, pid_t *ret_pid, int *ret_fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		/* Nothing of the parent's but the socketpair: fd 3, all others
		 * closed. */
		int fd = sv[1] == 3 ? 3 : dup2(sv[1], 3);
		if (fd < 0)
			_exit(1);
		fcntl(3, F_SETFD, FD_CLOEXEC);
		close_range(4, ~0U, 0);
		monitor_main(3, config);
	}
	close(sv[1]);
	*ret_pid = pid;
	*ret_fd = sv[0];
	return 0;
}
