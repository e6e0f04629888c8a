/*
 * The console: shared state and R's console callbacks; see console.h.
 */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define R_INTERFACE_PTRS 1
#include <R.h>
#include <R_ext/RStartup.h>
#include <Rembedded.h>
#include <Rinterface.h>
#include <Rinternals.h>

/* Exported by libR; its header is R_ext/GraphicsDevice.h, which needs the
 * whole graphics engine. */
extern int R_interrupts_pending;

#include "children.h"
#include "log.h"
#include "options.h"
#include "plot.h"
#include "reval.h"
#include "sessproto.h"
#include "settings.h"
#include "strutil.h"
#include "suspend.h"

struct console console = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
    .wake_fd = -1,
    .stdio_fd = {-1, -1},
    /* 7 x 5 inches at 96 dpi until a browser says */
    .plot_size = {.width = 672, .height = 480, .dpr = 1.0},
};

#if defined(__SANITIZE_ADDRESS__)
#define RSESSION_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define RSESSION_SANITIZED 1
#endif
#endif
#ifdef RSESSION_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

/* Set once the exit announcement has been made, so exit() after q() and
 * our own exits do not announce twice. R thread only. */
static bool exit_announced;

static const char *const kind_names[] = {"none", "toplevel", "continuation", "browser", "input"};
static const char *const state_names[] = {"starting",   "resuming",  "running",
                                          "suspending", "suspended", "exited"};

const char *prompt_kind_name(enum prompt_kind k)
{
	return kind_names[k];
}

const char *session_state_name(enum session_state s)
{
	return state_names[s];
}

int console_init(const char *session_id)
{
	console.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (console.wake_fd < 0)
		return -errno;
	snprintf(console.session_id, sizeof(console.session_id), "%s", session_id);
	console.state = STATE_STARTING;
	console.busy = true; /* until the first prompt */
	console.r_thread = pthread_self();
	clock_gettime(CLOCK_REALTIME, &console.last_input);
	return 0;
}

int console_capture_stdio(void)
{
	int p[2][2] = {{-1, -1}, {-1, -1}}, keep, r;
	FILE *log_stream;

	keep = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (keep < 0)
		return -errno;
	log_stream = fdopen(keep, "a");
	if (!log_stream) {
		r = -errno;
		close(keep);
		return r;
	}
	setvbuf(log_stream, NULL, _IOLBF, 0);
	for (int i = 0; i < 2; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0 ||
		    fcntl(p[i][0], F_SETFL, fcntl(p[i][0], F_GETFL) | O_NONBLOCK) < 0)
			goto fail;
	fflush(stdout);
	fflush(stderr);
	/* dup2 clears close-on-exec: children inherit the write ends. */
	if (dup2(p[0][1], 1) < 0 || dup2(p[1][1], 2) < 0)
		goto fail;
	close(p[0][1]);
	close(p[1][1]);
	/* glibc's standard streams are ordinary variables (its manual shows
	 * exactly this); libR's fprintf(stderr, ...) follows too. */
	stderr = log_stream;
	setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef RSESSION_SANITIZED
	__sanitizer_set_report_fd((void *)(intptr_t)keep);
#endif
	console.stdio_fd[0] = p[0][0];
	console.stdio_fd[1] = p[1][0];
	return 0;

fail:
	r = -errno;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (p[i][j] >= 0)
				close(p[i][j]);
	fclose(log_stream);
	return r;
}

void console_drain_stdio(void)
{
	char buf[16384];

	for (int s = 0; s < 2; s++) {
		while (console.stdio_fd[s] >= 0) {
			ssize_t n = read(console.stdio_fd[s], buf, sizeof(buf));
			if (n > 0) {
				if (console_push_output(s, buf, (size_t)n) < 0)
					log_errorx("Out of memory: console output lost");
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				/* Nobody can write any more (fd 1 or 2 was
				 * closed): stop watching. */
				close(console.stdio_fd[s]);
				console.stdio_fd[s] = -1;
			}
			break;
		}
	}
}

void console_wake(void)
{
	uint64_t one = 1;

	/* A full eventfd counter (impossible in practice) still wakes. */
	if (write(console.wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("Failed to wake the I/O thread");
}

static void event_append(struct event *e)
{
	if (console.ev_tail)
		console.ev_tail->next = e;
	else
		console.ev_head = e;
	console.ev_tail = e;
}

int console_push_output(int stream, const char *text, size_t len)
{
	struct event *t = console.ev_tail;
	struct event *e;

	/* Consecutive writes to one stream travel as one message: printing a
	 * data frame is many small writes. */
	if (t && t->type == EV_OUTPUT && t->stream == stream &&
	    t->len + len <= SESSPROTO_MAX_TEXT) {
		if (mem_reserve(&t->text, &t->cap, t->len + len) < 0)
			return -ENOMEM;
		memcpy(t->text + t->len, text, len);
		t->len += len;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->type = EV_OUTPUT;
	e->stream = stream;
	e->cap = len < 256 ? 256 : len;
	e->text = malloc(e->cap);
	if (!e->text) {
		free(e);
		return -ENOMEM;
	}
	memcpy(e->text, text, len);
	e->len = len;
	event_append(e);
	return 0;
}

int console_push_event(enum event_type type, uint64_t client, const char *name, bool ok,
                       const char *text)
{
	struct event *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->type = type;
	e->client = client;
	e->ok = ok;
	if (name && !(e->name = strdup(name)))
		goto oom;
	if (text) {
		e->text = strdup(text);
		if (!e->text)
			goto oom;
		e->len = strlen(text);
	}
	event_append(e);
	return 0;
oom:
	free(e->name);
	free(e);
	return -ENOMEM;
}

int console_push_state(enum session_state s, const char *detail)
{
	console.state = s;
	return console_push_event(EV_STATE, 0, state_names[s], true, detail);
}

int console_push_result(uint64_t client, const char *request, bool ok, const char *error)
{
	return console_push_event(EV_RESULT, client, request, ok, error);
}

int console_push_message(uint64_t client, json_t *msg, bool latest)
{
	struct event *e;

	if (!msg)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_decref(msg);
		return -ENOMEM;
	}
	e->type = EV_MESSAGE;
	e->client = client;
	e->json = msg;
	e->latest = latest;
	event_append(e);
	return 0;
}

struct event *console_take_events(void)
{
	struct event *e = console.ev_head;

	console.ev_head = console.ev_tail = NULL;
	return e;
}

void event_free_list(struct event *e)
{
	while (e) {
		struct event *next = e->next;
		free(e->text);
		free(e->name);
		json_decref(e->json);
		free(e);
		e = next;
	}
}

int console_queue_input(const char *text, size_t len)
{
	size_t start = 0;

	/* Each line is fed to R separately, exactly as its own console reads
	 * them; a final line without "\n" is completed. */
	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t n = nl ? (size_t)(nl - (text + start)) : len - start;
		struct input_line *l = malloc(sizeof(*l) + n + 2);

		if (!l)
			return -ENOMEM;
		memcpy(l->text, text + start, n);
		l->text[n] = '\n';
		l->text[n + 1] = '\0';
		l->len = n + 1;
		l->next = NULL;
		l->continued = false;
		if (console.in_tail)
			console.in_tail->next = l;
		else
			console.in_head = l;
		console.in_tail = l;
		console.in_count++;
		start += n + 1;
	}
	return 0;
}

/* Puts the rest of a line longer than R's buffer at the front of the queue. */
static int queue_front(const char *text, size_t len)
{
	struct input_line *l = malloc(sizeof(*l) + len + 1);

	if (!l)
		return -ENOMEM;
	l->continued = true;
	memcpy(l->text, text, len);
	l->text[len] = '\0';
	l->len = len;
	l->next = console.in_head;
	console.in_head = l;
	if (!console.in_tail)
		console.in_tail = l;
	console.in_count++;
	return 0;
}

void console_clear_input(void)
{
	while (console.in_head) {
		struct input_line *next = console.in_head->next;
		free(console.in_head);
		console.in_head = next;
	}
	console.in_tail = NULL;
	console.in_count = 0;
}

int console_add_history(const char *line, size_t len)
{
	char *copy;

	if (len == 0)
		return 0;
	if (console.nhistory == console.history_cap) {
		size_t ncap = console.history_cap ? console.history_cap * 2 : 64;
		char **nh = reallocarray(console.history, ncap, sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		console.history = nh;
		console.history_cap = ncap;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, line, len);
	copy[len] = '\0';
	console.history[console.nhistory++] = copy;
	return 0;
}

/* ---- R thread ---------------------------------------------------------- */

static bool option_equals(const char *name, const char *prompt)
{
	SEXP v = Rf_GetOption1(Rf_install(name));

	return Rf_isString(v) && LENGTH(v) > 0 && strcmp(CHAR(STRING_ELT(v, 0)), prompt) == 0;
}

/*
 * R passes addhistory=1 for its console (top level, continuation, browser)
 * and 0 for readline(), menu() and friends. The prompt text tells the
 * console prompts apart; both options are read each time because the user
 * may change them.
 */
static enum prompt_kind classify(const char *prompt, int addhistory)
{
	if (!addhistory)
		return PROMPT_INPUT;
	if (option_equals("prompt", prompt))
		return PROMPT_TOPLEVEL;
	if (option_equals("continue", prompt))
		return PROMPT_CONTINUATION;
	if (strncmp(prompt, "Browse[", 7) == 0)
		return PROMPT_BROWSER;
	return PROMPT_INPUT;
}

/* Jumps back to R's top level, as Ctrl-C at a terminal prompt would. Never
 * returns. Must be called without console.lock held. */
static void cancel_to_toplevel(void)
{
	R_interrupts_pending = 1;
	R_CheckUserInterrupt();
	/* Only reached if interrupts are suspended; R will see the flag at
	 * its next check. */
}

static void apply_cpu_limit(void)
{
	double minutes = conf_decimal(opts.conf, RSESSION_LIMIT_CPU_TIME_MINUTES);
	char expr[128];

	if (minutes <= 0)
		return;
	/* Persistent (transient = FALSE): R resets its clock before each
	 * top-level expression, so this limits every command; set again
	 * before each one so that user code cannot lift it for good. */
	snprintf(expr, sizeof(expr), "setTimeLimit(cpu = %.3f, elapsed = Inf, transient = FALSE)",
	         minutes * 60);
	if (reval_string(expr, NULL, 0) < 0)
		log_warnx("Failed to apply limit-cpu-time-minutes");
}

/* Runs the pending job of the top-level prompt; with the lock held on
 * entry and exit. */
static void run_toplevel_job(void)
{
	enum job job = console.job;
	uint64_t client = console.job_client;
	char arg[sizeof(console.job_arg)];

	memcpy(arg, console.job_arg, sizeof(arg));
	console.job = JOB_NONE;
	pthread_mutex_unlock(&console.lock);

	R_interrupts_pending = 0; /* stale, as in read_console() */
	if (job == JOB_SUSPEND)
		suspend_run(false, client);
	else if (job == JOB_QUIT)
		suspend_quit(arg, client);
	pthread_mutex_lock(&console.lock);
}

static int read_console(const char *prompt, unsigned char *buf, int len, int addhistory)
{
	enum prompt_kind kind = classify(prompt, addhistory);
	struct input_line *line = NULL;

	pthread_mutex_lock(&console.lock);
	console.busy = false;
	console.kind = kind;
	/* R yielded: the command a forced suspend was interrupting is over,
	 * and whatever runs next (such as "Q" to leave the debugger) must not
	 * be interrupted. */
	console.force_interrupting = false;
	snprintf(console.prompt, sizeof(console.prompt), "%s", prompt);

	if (kind == PROMPT_TOPLEVEL &&
	    (console.state == STATE_STARTING || console.state == STATE_RESUMING)) {
		if (console.state == STATE_RESUMING) {
			pthread_mutex_unlock(&console.lock);
			suspend_restore();
			pthread_mutex_lock(&console.lock);
		}
		console_push_state(STATE_RUNNING, NULL);
	}
	/* R asking for the rest of a long line is not a prompt anyone sees. */
	bool reading_rest = console.in_head && console.in_head->continued;
	if (!reading_rest) {
		/* The command that just ended may have drawn: its plot goes
		 * out before the prompt. */
		pthread_mutex_unlock(&console.lock);
		plot_at_prompt();
		pthread_mutex_lock(&console.lock);
		console_drain_stdio();
		console_push_event(EV_PROMPT, 0, NULL, true, prompt);
		console_wake();
	}

	for (;;) {
		if (console.force_pending) {
			if (kind == PROMPT_TOPLEVEL) {
				uint64_t client = console.force_client;
				console.force_pending = false;
				pthread_mutex_unlock(&console.lock);
				/* An interrupt that landed as R yielded is stale
				 * and must not abort the save. */
				R_interrupts_pending = 0;
				suspend_run(true, client);
				pthread_mutex_lock(&console.lock);
				continue;
			}
			if (kind == PROMPT_CONTINUATION || kind == PROMPT_INPUT) {
				pthread_mutex_unlock(&console.lock);
				cancel_to_toplevel();
				pthread_mutex_lock(&console.lock);
			}
			/* In the debugger, "Q" (queued by the I/O thread)
			 * leaves it. */
		}
		if (console.job == JOB_CANCEL) {
			console.job = JOB_NONE;
			if (kind == PROMPT_CONTINUATION || kind == PROMPT_INPUT) {
				console_clear_input();
				pthread_mutex_unlock(&console.lock);
				cancel_to_toplevel();
				pthread_mutex_lock(&console.lock);
			}
			continue;
		}
		if (console.job != JOB_NONE) {
			if (kind == PROMPT_TOPLEVEL)
				run_toplevel_job();
			else
				console.job = JOB_NONE; /* checked by the requester */
			continue;
		}
		/* The browser's plot area changed, or it wants a download. */
		if ((console.plot_size_changed || console.plot_export_pending) &&
		    !console.force_pending) {
			pthread_mutex_unlock(&console.lock);
			plot_at_prompt();
			pthread_mutex_lock(&console.lock);
			continue;
		}
		if (console.in_head) {
			line = console.in_head;
			console.in_head = line->next;
			if (!console.in_head)
				console.in_tail = NULL;
			console.in_count--;
			break;
		}
		pthread_cond_wait(&console.cond, &console.lock);
	}

	/* A long line goes in pieces that fit R's buffer; the rest stays at
	 * the front of the queue. */
	size_t n = line->len;
	if (n > (size_t)len - 1) {
		n = (size_t)len - 1;
		queue_front(line->text + n, line->len - n);
	}
	memcpy(buf, line->text, n);
	buf[n] = '\0';
	/* History records whole lines, once, when their first piece goes. */
	if (addhistory && !line->continued)
		console_add_history(line->text, line->len - 1);
	/* No longer at a prompt: nothing may be started at this one. */
	console.kind = PROMPT_NONE;
	pthread_mutex_unlock(&console.lock);

	/* R code of our own runs before anyone can see R busy, so that an
	 * interrupt can only ever reach the user's command. */
	if (kind == PROMPT_TOPLEVEL && !line->continued)
		apply_cpu_limit();

	pthread_mutex_lock(&console.lock);
	/* An interrupt meant for the previous command may have landed as it
	 * finished; it must not abort this one. Cleared under the lock before
	 * busy is set: the I/O thread only interrupts after seeing busy, so
	 * every later SIGINT is meant for this command. */
	R_interrupts_pending = console.interrupt_requested ? 1 : 0;
	console.interrupt_requested = false;
	console.busy = true;
	clock_gettime(CLOCK_REALTIME, &console.last_input);
	clock_gettime(CLOCK_MONOTONIC, &console.busy_since);
	if (!line->continued)
		console_push_event(EV_BUSY, 0, NULL, true, NULL);
	pthread_mutex_unlock(&console.lock);
	console_wake();
	free(line);
	return 1;
}

static void write_console(const char *buf, int len, int otype)
{
	if (len <= 0)
		return;
	pthread_mutex_lock(&console.lock);
	console_drain_stdio();
	if (console_push_output(otype ? 1 : 0, buf, (size_t)len) < 0)
		log_errorx("Out of memory: console output lost");
	pthread_mutex_unlock(&console.lock);
	console_wake();
}

static void console_noop(void)
{
}

/* Tells clients the session is over and waits (bounded) until they have
 * been sent everything. R thread. */
static void announce_exit(enum session_state final, const char *detail)
{
	struct timespec deadline;

	if (exit_announced)
		return;
	exit_announced = true;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;

	pthread_mutex_lock(&console.lock);
	console_drain_stdio();
	console_push_state(final, detail);
	console.exit_requested = true;
	console.flushed = false;
	console_wake();
	while (!console.flushed)
		if (pthread_cond_timedwait(&console.cond, &console.lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&console.lock);
}

static void at_exit(void)
{
	/* q() ends in exit(); only the R thread announces. */
	if (!pthread_equal(pthread_self(), console.r_thread))
		return;
	if (conf_bool(opts.conf, RSESSION_SESSION_QUIT_CHILD_PROCESSES_ON_EXIT))
		children_stop();
	announce_exit(STATE_EXITED, "quit");
}

void console_exit(enum session_state final, const char *detail, int code)
{
	if (conf_bool(opts.conf, RSESSION_SESSION_QUIT_CHILD_PROCESSES_ON_EXIT))
		children_stop();
	announce_exit(final, detail);
	R_CleanTempDir();
	fflush(stdout);
	fflush(stderr);
	_exit(code);
}

void console_r_callbacks(void)
{
	ptr_R_ReadConsole = read_console;
	ptr_R_WriteConsole = NULL;
	ptr_R_WriteConsoleEx = write_console;
	ptr_R_ResetConsole = console_noop;
	ptr_R_FlushConsole = console_noop;
	ptr_R_ClearerrConsole = console_noop;
	R_Outputfile = NULL;
	R_Consolefile = NULL;
	atexit(at_exit);
}
