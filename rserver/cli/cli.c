/*
 * What the rstudio-server commands share; see cli.h.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config-report.h"
#include "fsutil.h"
#include "strutil.h"

/* The server bounds every command (a minute per session at most, 16 at a
 * time); this only keeps a wedged server from holding the CLI forever. */
#define ANSWER_TIMEOUT_MS (60 * 60 * 1000)

int cli_usage(const struct cli *c, const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s [--config-dir DIR] %s%s%s\n", c->program, cmd->name,
	        cmd->args[0] ? " " : "", cmd->args);
	return CLI_USAGE;
}

int cli_fail(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

const struct settings *cli_settings(struct cli *c, bool quiet)
{
	struct diag d;
	int r;

	if (c->loaded)
		return &c->settings;
	diag_init(&d);
	r = config_load(&c->cl, &c->settings, &d);
	if (r < 0) {
		diag_free(&d);
		settings_free(&c->settings);
		cli_fail(c, "cannot read the configuration in %s: %s", c->cl.config_dir,
		         strerror(-r));
		return NULL;
	}
	if (diag_errors(&d) && !quiet)
		fprintf(stderr,
		        "%s: note: the configuration in %s has errors (see '%s test-config'); "
		        "using what could be read\n",
		        c->program, c->cl.config_dir, c->program);
	diag_free(&d);
	c->loaded = true;
	return &c->settings;
}

char *cli_data_path(struct cli *c, const char *name)
{
	const struct settings *s = cli_settings(c, true);
	char *p;

	if (!s)
		return NULL;
	if (asprintf(&p, "%s/%s", conf_str(s->rserver, RSERVER_SERVER_DATA_DIR), name) < 0)
		return NULL;
	return p;
}

/* ---- the admin socket -------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_admin(struct cli *c, const char *path, bool quiet)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -cli_fail(c, "admin socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -cli_fail(c, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == EACCES || e == EPERM)
		return -cli_fail(c, "%s (cannot connect to %s)", CLI_PERMISSION_MSG, path);
	if (e == ENOENT || e == ECONNREFUSED) {
		if (!quiet)
			cli_fail(c, "rserver is not running (nothing listens on %s)", path);
		return -CLI_FAIL;
	}
	return -cli_fail(c, "cannot connect to %s: %s", path, strerror(e));
}

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

int cli_request(struct cli *c, enum admin_command cmd, json_t *args, json_t **ret_answer,
                bool quiet)
{
	struct frame_reader rd;
	json_t *req = adminproto_request_new(cmd);
	char *path = cli_data_path(c, "admin.sock"), *frame = NULL, err[256];
	int64_t deadline = mono_ms() + ANSWER_TIMEOUT_MS;
	size_t flen;
	int fd = -1, r, status = CLI_FAIL, send_errno = 0;

	adminproto_reader_init(&rd);
	if (!req || !path) {
		json_decref(args);
		cli_fail(c, "%s", strerror(ENOMEM));
		goto out;
	}
	if (args && json_object_update(json_object_get(req, "args"), args) < 0) {
		json_decref(args);
		cli_fail(c, "%s", strerror(ENOMEM));
		goto out;
	}
	json_decref(args);
	r = adminproto_encode(req, &frame, &flen);
	if (r < 0) {
		cli_fail(c, "cannot encode the request: %s", strerror(-r));
		goto out;
	}
	fd = connect_admin(c, path, quiet);
	if (fd < 0)
		goto out;
	/* A refused peer is answered and dropped at once, maybe before the
	 * request is out: still read what the server said. */
	if (!write_all(fd, frame, flen))
		send_errno = errno ? errno : EPIPE;
	for (;;) {
		const char *json;
		size_t len;
		char buf[65536];
		ssize_t n;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();

		r = frame_reader_next(&rd, &json, &len);
		if (r < 0) {
			cli_fail(c, "malformed answer from rserver: %s",
			         r == -EMSGSIZE ? "frame over the size limit"
			                        : "wrong protocol version");
			goto out;
		}
		if (r == 1) {
			json_t *answer;
			r = adminproto_decode_answer(cmd, json, len, &answer, err, sizeof(err));
			if (r < 0) {
				cli_fail(c, "malformed answer from rserver: %s",
				         r == -ENOMEM ? strerror(ENOMEM) : err);
				goto out;
			}
			/* The server answers a refused peer with this before
			 * closing: say it as for a refused connect. */
			if (!json_is_true(json_object_get(answer, "ok")) &&
			    strcmp(json_string_value(json_object_get(answer, "error")),
			           CLI_PERMISSION_MSG) == 0) {
				json_decref(answer);
				cli_fail(c, "%s", CLI_PERMISSION_MSG);
				goto out;
			}
			*ret_answer = answer;
			status = CLI_OK;
			goto out;
		}
		if (left <= 0) {
			cli_fail(c, "no answer from rserver in %d minutes",
			         ANSWER_TIMEOUT_MS / 60000);
			goto out;
		}
		r = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 && send_errno) {
			cli_fail(c, "cannot send to rserver: %s", strerror(send_errno));
			goto out;
		}
		if (n <= 0) {
			cli_fail(c, "rserver closed the connection without an answer%s%s",
			         n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			goto out;
		}
		if (frame_reader_push(&rd, buf, (size_t)n) < 0) {
			cli_fail(c, "answer from rserver too large");
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	frame_reader_free(&rd);
	free(frame);
	free(path);
	json_decref(req);
	return status;
}

int cli_print_answer(struct cli *c, json_t *answer)
{
	bool ok = json_is_true(json_object_get(answer, "ok"));
	const char *msg = json_string_value(json_object_get(answer, "message"));
	const char *error = json_string_value(json_object_get(answer, "error"));

	if (ok) {
		if (msg)
			printf("%s\n", msg);
	} else {
		cli_fail(c, "%s", error ? error : msg ? msg : "failed");
	}
	json_decref(answer);
	return ok ? CLI_OK : CLI_FAIL;
}

int cli_simple(struct cli *c, enum admin_command cmd, json_t *args)
{
	json_t *answer;
	int r = cli_request(c, cmd, args, &answer, false);

	return r == CLI_OK ? cli_print_answer(c, answer) : r;
}

int cli_session_command(struct cli *c, const struct cli_command *self, enum admin_command cmd,
                        int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(c, self, "%s needs a session id or pid", self->name);
	if (argc > 2)
		return cli_usage(c, self, "unexpected argument '%s'", argv[2]);
	if (!argv[1][0] || strlen(argv[1]) > ADMINPROTO_MAX_NAME)
		return cli_usage(c, self, "'%s' is not a session id or pid", argv[1]);
	return cli_simple(c, cmd, json_pack("{s:s}", "session", argv[1]));
}

int cli_parse_user(struct cli *c, const struct cli_command *self, int argc, char **argv,
                   const char **ret_user)
{
	const char *user = NULL;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		if (strcmp(argv[i], "--user") == 0) {
			if (i + 1 >= argc)
				return cli_usage(c, self, "--user needs a user name");
			v = argv[++i];
		} else if (strncmp(argv[i], "--user=", 7) == 0) {
			v = argv[i] + 7;
		} else {
			return cli_usage(c, self, "unexpected argument '%s'", argv[i]);
		}
		if (!*v || strlen(v) > ADMINPROTO_MAX_NAME)
			return cli_usage(c, self, "'%s' is not a user name", v);
		if (user)
			return cli_usage(c, self, "--user given twice");
		user = v;
	}
	*ret_user = user;
	return CLI_OK;
}

int cli_all_command(struct cli *c, const struct cli_command *self, enum admin_command cmd, int argc,
                    char **argv)
{
	const char *user;
	json_t *answer, *results, *item;
	size_t i, failed = 0;
	int r = cli_parse_user(c, self, argc, argv, &user);

	if (r != CLI_OK)
		return r;
	r = cli_request(c, cmd, user ? json_pack("{s:s}", "user", user) : NULL, &answer, false);
	if (r != CLI_OK)
		return r;
	results = json_object_get(answer, "results");
	if (!results)
		return cli_print_answer(c, answer);
	json_array_foreach(results, i, item)
	{
		bool ok = json_is_true(json_object_get(item, "ok"));
		printf("%s\n", json_string_value(json_object_get(item, "message")));
		if (!ok)
			failed++;
	}
	if (json_array_size(results) == 0)
		printf("no running sessions%s%s\n", user ? " of " : "", user ? user : "");
	fflush(stdout);
	if (failed)
		cli_fail(c, "%zu of %zu sessions failed", failed, json_array_size(results));
	r = json_is_true(json_object_get(answer, "ok")) && !failed ? CLI_OK : CLI_FAIL;
	json_decref(answer);
	return r;
}

/* ---- the service ------------------------------------------------------------------------- */

bool cli_systemd(void)
{
	char *comm = NULL;
	size_t len = 0;
	bool yes;

	if (file_read_all("/proc/1/comm", 256, &comm, &len) < 0)
		return false;
	yes = len >= 7 && strncmp(comm, "systemd", 7) == 0 && (len == 7 || comm[7] == '\n');
	free(comm);
	return yes;
}

int cli_systemctl(struct cli *c, const char *verb)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return cli_fail(c, "fork: %s", strerror(errno));
	if (pid == 0) {
		execlp("systemctl", "systemctl", verb, "rstudio-server", (char *)NULL);
		fprintf(stderr, "%s: cannot run systemctl: %s\n", c->program, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cli_fail(c, "waitpid: %s", strerror(errno));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? CLI_OK : CLI_FAIL;
}

/* Whether pid runs a program named rserver (not a reused pid). */
static bool is_rserver(pid_t pid)
{
	char link[64], exe[4096];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	/* " (deleted)" after an upgrade replaced the binary. */
	return strcmp(base, "rserver") == 0 || strcmp(base, "rserver (deleted)") == 0;
}

/* Alive and not a zombie (a zombie has no /proc/<pid>/exe link either). */
static bool alive(pid_t pid)
{
	char path[64], *stat = NULL, *p;
	size_t len;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (file_read_all(path, 4096, &stat, &len) < 0)
		return false;
	p = strrchr(stat, ')');
	yes = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return yes;
}

pid_t cli_running_pid(struct cli *c)
{
	char *path = cli_data_path(c, "rserver.pid"), *text = NULL;
	size_t len;
	long long pid = 0;

	if (path && file_read_all(path, 64, &text, &len) == 0) {
		char *t = str_trim(text);
		if (str_to_llong(t, 1, INT32_MAX, &pid) < 0)
			pid = 0;
	}
	free(text);
	free(path);
	if (pid > 0 && (!alive((pid_t)pid) || !is_rserver((pid_t)pid)))
		pid = 0;
	return (pid_t)pid;
}

int cli_start_direct(struct cli *c)
{
	const struct settings *s = cli_settings(c, true);
	char *rserver = NULL;
	pid_t pid, running;
	int status;
	int64_t deadline;

	if (!s)
		return CLI_FAIL;
	running = cli_running_pid(c);
	if (running) {
		printf("rserver is already running (pid %d)\n", (int)running);
		return CLI_OK;
	}
	if (geteuid() != 0)
		return cli_fail(c, "start: must be run as root");
	rserver = fs_sibling_program(NULL, "rserver");
	if (!rserver || access(rserver, X_OK) < 0) {
		cli_fail(c, "cannot find rserver beside this program (%s)",
		         rserver ? rserver : "?");
		free(rserver);
		return CLI_FAIL;
	}
	/* rserver refuses to start with any configuration error: say which
	 * here, where someone reads it. */
	if (config_test(&c->cl, stderr) != 0) {
		free(rserver);
		return cli_fail(c, "not starting rserver: the configuration in %s has errors",
		                c->cl.config_dir);
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		free(rserver);
		return cli_fail(c, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Its own session, no terminal, standard streams on /dev/null:
		 * not a pipe to this short-lived process, whose end would close
		 * under rserver, its monitor and their children. Logs go where
		 * logging.conf says. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		setsid();
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
		    dup2(null, STDERR_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl(rserver, "rserver", "--config-dir", c->cl.config_dir, (char *)NULL);
		_exit(127);
	}
	free(rserver);
	deadline = mono_ms() + 60000;
	for (;;) {
		json_t *answer = NULL;
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			if (WIFEXITED(status))
				cli_fail(c, "rserver exited with status %d while starting",
				         WEXITSTATUS(status));
			else
				cli_fail(c, "rserver was killed by signal %d while starting",
				         WTERMSIG(status));
			fprintf(
			    stderr,
			    "%s: its log says why (logging.conf), or run 'rserver --config-dir %s' "
			    "in the foreground\n",
			    c->program, c->cl.config_dir);
			return CLI_FAIL;
		}
		if (cli_running_pid(c) == pid &&
		    cli_request(c, ADMIN_STATUS, NULL, &answer, true) == CLI_OK) {
			const char *type = conf_str(s->logging, LOGGING_LOGGER_TYPE);
			json_decref(answer);
			printf("rserver started (pid %d)\n", (int)pid);
			if (!type || strcmp(type, "stderr") == 0)
				printf("note: logger-type=stderr: rserver's log is discarded when "
				       "it is "
				       "started this way; set logger-type=file or syslog in "
				       "logging.conf\n");
			return CLI_OK;
		}
		if (mono_ms() > deadline)
			return cli_fail(
			    c,
			    "rserver (pid %d) did not answer on its admin socket within "
			    "60 s; it may still be starting",
			    (int)pid);
		usleep(100000);
	}
}

int cli_stop_direct(struct cli *c)
{
	pid_t pid = cli_running_pid(c);
	char *path;
	int64_t deadline;

	if (!pid) {
		printf("rserver is not running\n");
		return CLI_OK;
	}
	if (kill(pid, SIGTERM) < 0) {
		if (errno == EPERM)
			return cli_fail(c, "stop: must be run as root");
		return cli_fail(c, "cannot signal rserver (pid %d): %s", (int)pid, strerror(errno));
	}
	deadline = mono_ms() + 30000;
	while (alive(pid)) {
		if (mono_ms() > deadline)
			return cli_fail(c, "rserver (pid %d) is still running 30 s after SIGTERM",
			                (int)pid);
		usleep(50000);
	}
	/* The pid file is root's, in root's directory: the server could not
	 * remove it itself. */
	path = cli_data_path(c, "rserver.pid");
	if (path)
		unlink(path);
	free(path);
	printf("rserver stopped (pid %d); sessions keep running\n", (int)pid);
	return CLI_OK;
}
