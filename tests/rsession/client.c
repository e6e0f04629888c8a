/*
 * The rsession test client; see client.h.
 *
 * Children are recorded in a fixed table that is never compacted: a slot
 * stays reaped once reaped, so a pid is never signalled after its process
 * was waited for (when the pid could already belong to someone else), and
 * the fatal-signal path can walk the table without locks or allocation.
 */
#include "client.h"

#include "strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- buffers ---- */

void buf_append(struct buf *b, const char *s, size_t n)
{
	if (mem_reserve(&b->p, &b->cap, b->len + n + 1) < 0) {
		/* Test program: running out of memory is fatal. */
		fprintf(stderr, "out of memory\n");
		abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		buf_append(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		abort();
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_append(b, big, (size_t)n);
	free(big);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

const char *buf_str(const struct buf *b)
{
	return b->p ? b->p : "";
}

/* ---- processes ---- */

#define MAX_CHILDREN 1024

struct slot {
	pid_t pid;
	bool own_group; /* the child leads its own process group */
	volatile bool reaped;
	int wstatus;
	int pidfd;
};

static struct slot slots[MAX_CHILDREN];
static volatile int nslots;
static bool atexit_done;

static void kill_all_at_exit(void)
{
	child_kill_all();
}

static struct slot *slot_of(const struct child *ch)
{
	/* The newest slot first: a pid may come back after it was reaped. */
	for (int i = nslots - 1; i >= 0; i--)
		if (slots[i].pid == ch->pid)
			return &slots[i];
	return NULL;
}

static void track(struct child *ch, pid_t pid, bool own_group)
{
	if (!atexit_done) {
		atexit(kill_all_at_exit);
		atexit_done = true;
	}
	memset(ch, 0, sizeof(*ch));
	ch->pid = pid;
	if (nslots == MAX_CHILDREN) {
		fprintf(stderr, "too many children\n");
		kill(pid, SIGKILL);
		abort();
	}
	/* pidfd_open lets child_wait() poll with a deadline instead of
	 * sleeping in a loop; kernels before 5.3 lack it. */
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	slots[nslots] = (struct slot){.pid = pid, .own_group = own_group, .pidfd = fd};
	nslots++;
}

static void add_env(char ***env, size_t *n, const char *key, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", key, value) < 0)
		abort();
	*env = realloc(*env, (*n + 2) * sizeof(**env));
	if (!*env)
		abort();
	(*env)[(*n)++] = s;
	(*env)[*n] = NULL;
}

char **child_env_new(const char *home, const char *xdg_data_home, const char *tmpdir)
{
	static const char *const passthrough[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	struct passwd *pw = getpwuid(geteuid());
	const char *user = pw ? pw->pw_name : "unknown";
	char **env = NULL;
	size_t n = 0;

	add_env(&env, &n, "HOME", home);
	if (xdg_data_home)
		add_env(&env, &n, "XDG_DATA_HOME", xdg_data_home);
	if (tmpdir)
		add_env(&env, &n, "TMPDIR", tmpdir);
	add_env(&env, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
	add_env(&env, &n, "LANG", "C.UTF-8");
	add_env(&env, &n, "USER", user);
	add_env(&env, &n, "LOGNAME", user);
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++) {
		const char *v = getenv(passthrough[i]);
		if (v)
			add_env(&env, &n, passthrough[i], v);
	}
	return env;
}

void child_env_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}

int child_spawn(struct child *ch, char *const argv[], char *const envp[], const char *log_path,
                int fd3)
{
	int logfd = -1, nullfd, r;
	pid_t parent = getpid(), pid;

	if (log_path) {
		logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (logfd < 0)
			return -errno;
	}
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		sigset_t none;
		int high = -1;

		/* Own process group, so that cleanup can reach what the
		 * session forks too; death with the test program. The ppid
		 * check closes the race where the parent died before prctl. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* fd3 may itself be 0..3 or collide with logfd and nullfd:
		 * park it high before arranging the low descriptors. */
		if (fd3 >= 0 && (high = fcntl(fd3, F_DUPFD, 100)) < 0)
			_exit(127);
		dup2(nullfd, STDIN_FILENO);
		if (logfd >= 0) {
			dup2(logfd, STDOUT_FILENO);
			dup2(logfd, STDERR_FILENO);
		}
		if (high >= 0)
			dup2(high, 3); /* dup2 clears FD_CLOEXEC on 3 */
		unsigned first = high >= 0 ? 4U : 3U;
		if (syscall(SYS_close_range, first, ~0U, 0U) < 0)
			for (int fd = (int)first; fd < 1024; fd++)
				close(fd);
		/* Ignored signals stay ignored across exec: the test program
		 * ignores SIGPIPE, the session must not inherit that. */
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(argv[0], argv, envp);
		fprintf(stderr, "Failed to execute '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* Also in the parent, so that the group exists before we signal it. */
	setpgid(pid, pid);
	track(ch, pid, true);
	if (log_path)
		snprintf(ch->log_path, sizeof(ch->log_path), "%s", log_path);
	r = 0;
out:
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	return r;
}

void child_adopt(struct child *ch, pid_t pid)
{
	track(ch, pid, false);
}

static void slot_reaped(struct slot *s, int wstatus)
{
	s->wstatus = wstatus;
	s->reaped = true;
	if (s->pidfd >= 0) {
		close(s->pidfd);
		s->pidfd = -1;
	}
}

bool child_poll(struct child *ch)
{
	struct slot *s = slot_of(ch);
	int st;
	pid_t r;

	if (!s)
		return true;
	if (s->reaped)
		return true;
	do
		r = waitpid(s->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == s->pid) {
		slot_reaped(s, st);
		return true;
	}
	return false;
}

int child_wait(struct child *ch, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct slot *s = slot_of(ch);

	if (!s)
		return 0;
	while (!child_poll(ch)) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		if (s->pidfd >= 0) {
			struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
			poll(&p, 1, (int)left);
		} else {
			sleep_ms(left < 10 ? (int)left : 10);
		}
	}
	return 0;
}

int child_exit_code(const struct child *ch)
{
	const struct slot *s = slot_of(ch);

	if (!s || !s->reaped)
		return -1;
	if (WIFEXITED(s->wstatus))
		return WEXITSTATUS(s->wstatus);
	if (WIFSIGNALED(s->wstatus))
		return 1000 + WTERMSIG(s->wstatus);
	return -1;
}

const char *child_status_str(const struct child *ch, char *buf, size_t size)
{
	int code = child_exit_code(ch);

	if (code < 0)
		snprintf(buf, size, "running");
	else if (code >= 1000)
		snprintf(buf, size, "signal %d (%s)", code - 1000, strsignal(code - 1000));
	else
		snprintf(buf, size, "exit %d", code);
	return buf;
}

static void slot_kill(struct slot *s)
{
	int st;

	if (s->reaped)
		return;
	kill(s->pid, SIGKILL);
	/* The group is the child's own (see child_spawn); its id cannot
	 * belong to anyone else while the leader is not reaped. */
	if (s->own_group)
		kill(-s->pid, SIGKILL);
	while (waitpid(s->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0;
			break;
		}
	}
	slot_reaped(s, st);
}

void child_kill(struct child *ch)
{
	struct slot *s = slot_of(ch);

	if (s)
		slot_kill(s);
}

void child_kill_all(void)
{
	for (int i = 0; i < nslots; i++)
		slot_kill(&slots[i]);
}

void child_print_log(const struct child *ch, size_t max)
{
	char *data = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if (!ch->log_path[0])
		return;
	fd = open(ch->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap);
			if (!data)
				abort();
		}
		n = read(fd, data + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	fprintf(stderr, "---- %s (last %zu of %zu bytes) ----\n", ch->log_path,
	        len < max ? len : max, len);
	if (len)
		fwrite(len > max ? data + len - max : data, 1, len > max ? max : len, stderr);
	fprintf(stderr, "\n---- end of %s ----\n", ch->log_path);
	free(data);
}

/* ---- clients ---- */

#define TRACE_KEEP (256 * 1024)
#define TRACE_LINE 400

static void trace_add(struct client *c, const char *dir, const char *json, size_t len)
{
	/* Keep the newest half when the trace grows large. */
	if (c->trace.len > TRACE_KEEP) {
		size_t drop = c->trace.len - TRACE_KEEP / 2;
		memmove(c->trace.p, c->trace.p + drop, c->trace.len - drop + 1);
		c->trace.len -= drop;
	}
	buf_appendf(&c->trace, "%s %.*s%s\n", dir, (int)(len > TRACE_LINE ? TRACE_LINE : len), json,
	            len > TRACE_LINE ? "...(cut)" : "");
}

void client_init(struct client *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->fd = -1;
	frame_reader_init(&c->fr);
}

int client_connect(struct client *c, const char *path, struct child *ch, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		err = errno;
		close(fd);
		/* ENOENT: not bound yet; ECONNREFUSED: bound, not listening. */
		if (err != ENOENT && err != ECONNREFUSED) {
			fprintf(stderr, "[%s] Failed to connect to '%s': %s\n", c->name, path,
			        strerror(err));
			return -err;
		}
		if (ch && child_poll(ch)) {
			char st[64];
			fprintf(stderr, "[%s] rsession %d ended (%s) before '%s' accepted\n",
			        c->name, (int)ch->pid, child_status_str(ch, st, sizeof(st)), path);
			return -ECHILD;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "[%s] '%s' did not accept within %d ms: %s\n", c->name,
			        path, timeout_ms, strerror(err));
			return -ETIMEDOUT;
		}
		sleep_ms(20);
	}
	c->fd = fd;
	c->eof = false;
	buf_appendf(&c->trace, "-- connected to %s\n", path);
	return 0;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	frame_reader_free(&c->fr);
	buf_free(&c->out);
	buf_free(&c->err);
	buf_free(&c->trace);
	buf_free(&c->states);
	json_decref(c->hello);
	c->hello = NULL;
	json_decref(c->plot);
	c->plot = NULL;
	json_decref(c->help);
	c->help = NULL;
}

int client_send_raw(struct client *c, const void *data, size_t len)
{
	const char *p = data;

	if (c->fd < 0)
		return -ENOTCONN;
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int client_send_json(struct client *c, json_t *obj)
{
	char *frame;
	size_t len;
	int r;

	r = sessproto_encode(obj, &frame, &len);
	if (r < 0) {
		fprintf(stderr, "[%s] Failed to encode a message: %s\n", c->name, strerror(-r));
		return r;
	}
	trace_add(c, ">", frame + SESSPROTO_HEADER, len - SESSPROTO_HEADER);
	r = client_send_raw(c, frame, len);
	if (r < 0)
		fprintf(stderr, "[%s] Failed to send: %s\n", c->name, strerror(-r));
	free(frame);
	return r;
}

int client_send_pack(struct client *c, const char *fmt, ...)
{
	json_error_t jerr;
	json_t *obj;
	va_list ap;
	int r;

	va_start(ap, fmt);
	obj = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (!obj) {
		fprintf(stderr, "[%s] json_pack '%s': %s\n", c->name, fmt, jerr.text);
		return -EINVAL;
	}
	r = client_send_json(c, obj);
	json_decref(obj);
	return r;
}

int client_send_type(struct client *c, const char *type)
{
	return client_send_pack(c, "{s:s}", "type", type);
}

void client_clear(struct client *c)
{
	buf_reset(&c->out);
	buf_reset(&c->err);
}

int client_run(struct client *c, const char *text)
{
	client_clear(c);
	return client_send_pack(c, "{s:s, s:s}", "type", "input", "text", text);
}

/* Updates the client's view with a received message. */
static void note(struct client *c, const struct sessproto_msg *m)
{
	const char *s;

	c->nrecv++;
	c->nby_type[m->type]++;
	switch (m->type) {
	case SP_HELLO:
		json_decref(c->hello);
		c->hello = json_incref(m->json);
		break;
	case SP_OUTPUT:
		if (m->text_len > c->max_output)
			c->max_output = m->text_len;
		s = json_string_value(json_object_get(m->json, "stream"));
		if (s && strcmp(s, "stderr") == 0)
			buf_append(&c->err, m->text, m->text_len);
		else
			buf_append(&c->out, m->text, m->text_len);
		break;
	case SP_PROMPT:
		s = json_string_value(json_object_get(m->json, "prompt"));
		snprintf(c->prompt, sizeof(c->prompt), "%s", s ? s : "");
		c->busy = false;
		break;
	case SP_BUSY:
		c->busy = true;
		break;
	case SP_PLOT:
		json_decref(c->plot);
		c->plot = json_incref(m->json);
		break;
	case SP_HELP:
		json_decref(c->help);
		c->help = json_incref(m->json);
		break;
	case SP_STATE:
		s = json_string_value(json_object_get(m->json, "state"));
		snprintf(c->state, sizeof(c->state), "%s", s ? s : "");
		buf_appendf(&c->states, "%s%s", c->states.len ? " " : "", s ? s : "?");
		break;
	default:
		break;
	}
}

int client_recv(struct client *c, int timeout_ms, struct sessproto_msg *ret)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char data[65536];

	if (c->fd < 0)
		return -ENOTCONN;
	for (;;) {
		const char *json;
		size_t len;
		/* frame_reader_next() on a reader that never received a byte
		 * computes NULL + 0, which clang's UBSan reports: skip it. */
		int r = c->fr.buf ? frame_reader_next(&c->fr, &json, &len) : 0;

		if (r < 0) {
			buf_appendf(&c->trace, "!! invalid frame from rsession: %s\n",
			            strerror(-r));
			return r;
		}
		if (r == 1) {
			struct sessproto_msg m;
			char err[256];

			trace_add(c, "<", json, len);
			r = sessproto_decode(json, len, SESSPROTO_TO_CLIENT, &m, err, sizeof(err));
			if (r < 0) {
				buf_appendf(&c->trace, "!! undecodable message from rsession: %s\n",
				            err);
				fprintf(stderr, "[%s] rsession sent an invalid message: %s\n",
				        c->name, err);
				return r;
			}
			note(c, &m);
			if (ret)
				*ret = m;
			else
				sessproto_msg_free(&m);
			return 1;
		}
		if (c->eof)
			return -ECONNRESET;

		int64_t left = deadline - now_ms();
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return 0;
		ssize_t n = read(c->fd, data, sizeof(data));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != ECONNRESET)
				return -errno;
			n = 0;
		}
		if (n == 0) {
			c->eof = true;
			buf_appendf(&c->trace, "-- connection closed by rsession\n");
			continue;
		}
		if (frame_reader_push(&c->fr, data, (size_t)n) < 0)
			return -ENOMEM;
	}
}

void client_dump_trace(const struct client *c, size_t max)
{
	const char *t = buf_str(&c->trace);
	size_t len = c->trace.len;

	fprintf(stderr, "---- [%s] message trace (last %zu of %zu bytes) ----\n", c->name,
	        len < max ? len : max, len);
	fputs(len > max ? t + len - max : t, stderr);
	fprintf(stderr, "---- [%s] accumulated stdout: %zu bytes, stderr: %zu bytes ----\n",
	        c->name, c->out.len, c->err.len);
}

typedef bool (*match_fn)(const struct client *c, const struct sessproto_msg *m, const void *arg);

static int expect(struct client *c, match_fn fn, const void *arg, int timeout_ms, const char *what,
                  json_t **ret)
{
	int64_t deadline = now_ms() + timeout_ms;
	int r;

	for (;;) {
		struct sessproto_msg m;
		int64_t left = deadline - now_ms();

		r = client_recv(c, left > 0 ? (int)left : 0, &m);
		if (r == 1) {
			bool hit = fn(c, &m, arg);
			if (hit && ret)
				*ret = json_incref(m.json);
			sessproto_msg_free(&m);
			if (hit)
				return 0;
			continue;
		}
		if (r == 0)
			r = -ETIMEDOUT;
		break;
	}
	fprintf(stderr, "[%s] expected %s within %d ms: %s\n", c->name, what, timeout_ms,
	        r == -ETIMEDOUT    ? "timed out"
	        : r == -ECONNRESET ? "connection closed by rsession"
	                           : strerror(-r));
	client_dump_trace(c, 6000);
	return r;
}

static bool str_field_is(const json_t *obj, const char *key, const char *want)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && strcmp(s, want) == 0;
}

static bool match_type(const struct client *c, const struct sessproto_msg *m, const void *arg)
{
	return strcmp(sessproto_type_name(m->type), arg) == 0;
}

int client_expect_type(struct client *c, const char *type, int timeout_ms, json_t **ret)
{
	char what[96];

	snprintf(what, sizeof(what), "a '%s' message", type);
	return expect(c, match_type, type, timeout_ms, what, ret);
}

static bool match_prompt(const struct client *c, const struct sessproto_msg *m, const void *arg)
{
	return m->type == SP_PROMPT && str_field_is(m->json, "prompt", arg);
}

int client_expect_prompt(struct client *c, const char *prompt, int timeout_ms)
{
	char what[300];

	snprintf(what, sizeof(what), "prompt \"%s\"", prompt);
	return expect(c, match_prompt, prompt, timeout_ms, what, NULL);
}

struct output_want {
	const char *stream;
	const char *needle;
};

static bool match_output(const struct client *c, const struct sessproto_msg *m, const void *arg)
{
	const struct output_want *w = arg;
	const struct buf *b = strcmp(w->stream, "stderr") == 0 ? &c->err : &c->out;

	return m->type == SP_OUTPUT && str_field_is(m->json, "stream", w->stream) &&
	       strstr(buf_str(b), w->needle);
}

int client_expect_output(struct client *c, const char *stream, const char *needle, int timeout_ms)
{
	struct output_want w = {stream, needle};
	const struct buf *b = strcmp(stream, "stderr") == 0 ? &c->err : &c->out;
	char what[400];

	if (strstr(buf_str(b), needle))
		return 0;
	snprintf(what, sizeof(what), "%s output containing \"%s\"", stream, needle);
	return expect(c, match_output, &w, timeout_ms, what, NULL);
}

static bool match_state(const struct client *c, const struct sessproto_msg *m, const void *arg)
{
	return m->type == SP_STATE && str_field_is(m->json, "state", arg);
}

int client_expect_state(struct client *c, const char *state, int timeout_ms, json_t **ret)
{
	char what[96];

	snprintf(what, sizeof(what), "state \"%s\"", state);
	return expect(c, match_state, state, timeout_ms, what, ret);
}

static bool match_result(const struct client *c, const struct sessproto_msg *m, const void *arg)
{
	return m->type == SP_RESULT && str_field_is(m->json, "request", arg);
}

int client_expect_result(struct client *c, const char *request, int timeout_ms, json_t **ret)
{
	char what[96];

	snprintf(what, sizeof(what), "a result for \"%s\"", request);
	return expect(c, match_result, request, timeout_ms, what, ret);
}

int client_expect_closed(struct client *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int r;

	for (;;) {
		int64_t left = deadline - now_ms();

		r = client_recv(c, left > 0 ? (int)left : 0, NULL);
		if (r == 1)
			continue;
		if (r == -ECONNRESET)
			return 0;
		if (r == 0)
			r = -ETIMEDOUT;
		break;
	}
	fprintf(stderr, "[%s] expected the connection to close within %d ms: %s\n", c->name,
	        timeout_ms, r == -ETIMEDOUT ? "timed out" : strerror(-r));
	client_dump_trace(c, 6000);
	return r;
}

int client_attach(struct client *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct sessproto_msg m;
	int r;

	r = client_recv(c, timeout_ms, &m);
	if (r != 1) {
		fprintf(stderr, "[%s] expected a hello within %d ms: %s\n", c->name, timeout_ms,
		        r == 0 ? "timed out" : strerror(-r));
		client_dump_trace(c, 6000);
		return r == 0 ? -ETIMEDOUT : r;
	}
	if (m.type != SP_HELLO) {
		fprintf(stderr, "[%s] the first message is '%s', not 'hello'\n", c->name,
		        sessproto_type_name(m.type));
		client_dump_trace(c, 6000);
		sessproto_msg_free(&m);
		return -EPROTO;
	}
	sessproto_msg_free(&m);
	int64_t left = deadline - now_ms();
	return client_expect_prompt(c, "> ", left > 0 ? (int)left : 0);
}

int client_run_wait(struct client *c, const char *text, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int r;

	r = client_run(c, text);
	if (r < 0)
		return r;
	/* busy first: the prompt that follows is the answer to this input,
	 * not one that was still on its way. */
	r = client_expect_type(c, "busy", timeout_ms, NULL);
	if (r < 0)
		return r;
	int64_t left = deadline - now_ms();
	return client_expect_prompt(c, "> ", left > 0 ? (int)left : 0);
}

int client_request(struct client *c, const char *type, const char *reply, int timeout_ms,
                   json_t **ret)
{
	int r = client_send_type(c, type);

	if (r < 0)
		return r;
	return client_expect_type(c, reply, timeout_ms, ret);
}

int64_t test_t0;

void xsnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "xsnprintf: '%s' does not fit in %zu bytes\n", fmt, size);
		abort();
	}
}

void say(const char *fmt, ...)
{
	va_list ap;

	printf("   [%5.2fs] ", (double)(now_ms() - test_t0) / 1000.0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}
