/*
 * The I/O thread; see server.h.
 *
 * One poll() loop over the listening socket, the clients, an eventfd the R
 * thread writes when it has queued events, and a self-pipe the signal
 * handlers write. Clients are non-blocking; each has its own output buffer
 * so that a slow client delays nobody and R never blocks on a socket. A
 * client that stops reading is dropped once its buffer passes a cap.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "children.h"
#include "console.h"
#include "log.h"
#include "options.h"
#include "sessproto.h"
#include "settings.h"
#include "strutil.h"

#define MAX_CLIENTS     64
#define CLIENT_OUT_MAX  (64u * 1024 * 1024) /* unread bytes before a client is dropped */
#define BACKLOG_MAX     (64 * 1024)         /* output kept while nobody is connected */
#define FORCE_TIMEOUT_S 30                  /* a forced suspend gives up after this */
#define INTERRUPT_EVERY 1                   /* seconds between repeated interrupts */

struct client {
	struct client *next;
	int fd;
	uint64_t id;
	uid_t uid;
	pid_t pid;
	struct frame_reader rd;
	char *out;
	size_t out_len, out_off, out_cap;
	bool dead;
};

static struct client *clients;
static size_t nclients;
static uint64_t next_client_id = 1;
static int listen_fd = -1;
static int sig_pipe[2] = {-1, -1};

/* Output produced while no client is connected (the R banner, or while
 * rserver restarts), as encoded frames, replayed to the next client. */
static char *backlog;
static size_t backlog_len;

/* The current plot's frame, for clients that connect later (a restarted
 * rserver); plots never go to the backlog. */
static char *latest_plot;
static size_t latest_plot_len;

/* Bytes of an incomplete UTF-8 sequence at the end of each stream. */
static char utf8_carry[2][4];
static size_t utf8_carry_len[2];

static struct timespec last_force_interrupt;

/* ---- sending ------------------------------------------------------------ */

static void client_drop(struct client *c, const char *why)
{
	if (c->dead)
		return;
	log_info("Dropping client %llu (uid %u, pid %d): %s", (unsigned long long)c->id,
	         (unsigned)c->uid, (int)c->pid, why);
	c->dead = true;
}

static void client_append(struct client *c, const char *buf, size_t len)
{
	if (c->dead)
		return;
	if (c->out_len - c->out_off + len > CLIENT_OUT_MAX) {
		client_drop(c, "not reading its output");
		return;
	}
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_off && c->out_len + len > c->out_cap) {
		/* Reuse the space already sent before growing. */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (mem_reserve(&c->out, &c->out_cap, c->out_len + len) < 0) {
		client_drop(c, "out of memory");
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

/* Keeps the newest output: the oldest whole frames go to make room. */
static void backlog_add(const char *frame, size_t len)
{
	if (len > BACKLOG_MAX)
		return;
	if (!backlog && !(backlog = malloc(BACKLOG_MAX)))
		return;
	while (backlog_len + len > BACKLOG_MAX) {
		const unsigned char *p = (const unsigned char *)backlog;
		size_t first =
		    4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
		memmove(backlog, backlog + first, backlog_len - first);
		backlog_len -= first;
	}
	memcpy(backlog + backlog_len, frame, len);
	backlog_len += len;
}

/* Encodes obj (consumed) and queues it for one client, or all when c is
 * NULL; with no clients at all, output frames go to the backlog. */
static void send_json(struct client *c, json_t *obj, bool keep_if_nobody)
{
	char *frame;
	size_t len;
	int r;

	if (!obj) {
		log_errorx("Out of memory building a message");
		return;
	}
	r = sessproto_encode(obj, &frame, &len);
	json_decref(obj);
	if (r < 0) {
		log_error_errno(-r, "Failed to encode a message");
		return;
	}
	if (c) {
		client_append(c, frame, len);
	} else if (nclients == 0 && keep_if_nobody) {
		backlog_add(frame, len);
	} else {
		for (struct client *k = clients; k; k = k->next)
			client_append(k, frame, len);
	}
	free(frame);
}

static void send_output(int stream, const char *text, size_t len)
{
	const char *name = stream ? "stderr" : "stdout";
	size_t carry = utf8_carry_len[stream];
	char *joined, *clean;
	size_t n, cleaned, pending;

	joined = malloc(carry + len);
	clean = malloc(3 * (carry + len) + 1);
	if (!joined || !clean) {
		free(joined);
		free(clean);
		log_errorx("Out of memory: console output lost");
		return;
	}
	memcpy(joined, utf8_carry[stream], carry);
	memcpy(joined + carry, text, len);
	n = carry + len;
	cleaned = utf8_sanitize(joined, n, clean, &pending);
	/* At most 3 bytes of an unfinished character wait for the next write. */
	if (pending > 3) {
		cleaned +=
		    utf8_sanitize(joined + n - pending, pending - 3, clean + cleaned, &(size_t){0});
		pending = 3;
	}
	memcpy(utf8_carry[stream], joined + n - pending, pending);
	utf8_carry_len[stream] = pending;

	/* With nobody connected only the newest output is kept: the tail of
	 * this write that fits the backlog once encoded. Escaping can make a
	 * frame larger than its text, so shrink until it fits. */
	size_t off = 0;
	if (nclients == 0 && cleaned > BACKLOG_MAX - 512) {
		for (size_t budget = BACKLOG_MAX - 512; budget >= 1024; budget /= 2) {
			size_t start = cleaned - budget;
			char *frame;
			size_t flen;
			json_t *o;

			while (start < cleaned && ((unsigned char)clean[start] & 0xc0) == 0x80)
				start++;
			o = json_pack("{s:s, s:s, s:s%}", "type", "output", "stream", name, "text",
			              clean + start, cleaned - start);
			if (!o || sessproto_encode(o, &frame, &flen) < 0) {
				json_decref(o);
				break;
			}
			json_decref(o);
			if (flen <= BACKLOG_MAX) {
				backlog_add(frame, flen);
				free(frame);
				break;
			}
			free(frame);
		}
		off = cleaned; /* done */
	}
	/* Frames stay under the size cap; cut only between characters. */
	while (off < cleaned) {
		size_t k = cleaned - off;
		if (k > SESSPROTO_MAX_TEXT) {
			k = SESSPROTO_MAX_TEXT;
			while (k > 0 && ((unsigned char)clean[off + k] & 0xc0) == 0x80)
				k--;
		}
		send_json(NULL,
		          json_pack("{s:s, s:s, s:s%}", "type", "output", "stream", name, "text",
		                    clean + off, k),
		          true);
		off += k;
	}
	free(joined);
	free(clean);
}

/* A message the R thread built (plot, help): to its client or all; the
 * current plot is also kept for clients that connect later. */
static void send_message(struct client *target, const struct event *e)
{
	char *frame;
	size_t len;
	int r = sessproto_encode(e->json, &frame, &len);

	if (r < 0) {
		log_error_errno(-r, "Failed to encode a %s message",
		                json_string_value(json_object_get(e->json, "type")));
		return;
	}
	if (target) {
		client_append(target, frame, len);
	} else {
		for (struct client *k = clients; k; k = k->next)
			client_append(k, frame, len);
	}
	if (e->latest) {
		free(latest_plot);
		latest_plot = frame;
		latest_plot_len = len;
	} else {
		free(frame);
	}
}

/* Sends the events and frees them. */
static void send_events(struct event *list)
{
	for (struct event *e = list; e; e = e->next) {
		struct client *target = NULL;

		if (e->client) {
			for (struct client *c = clients; c; c = c->next)
				if (c->id == e->client)
					target = c;
			if (!target)
				continue; /* the requester has gone */
		}
		switch (e->type) {
		case EV_OUTPUT:
			send_output(e->stream, e->text, e->len);
			break;
		case EV_PROMPT:
			send_json(target,
			          json_pack("{s:s, s:s}", "type", "prompt", "prompt", e->text),
			          false);
			break;
		case EV_BUSY:
			send_json(target, json_pack("{s:s}", "type", "busy"), false);
			break;
		case EV_STATE:
			send_json(target,
			          e->text
			              ? json_pack("{s:s, s:s, s:s}", "type", "state", "state",
			                          e->name, "detail", e->text)
			              : json_pack("{s:s, s:s}", "type", "state", "state", e->name),
			          false);
			break;
		case EV_MESSAGE:
			send_message(target, e);
			break;
		case EV_RESULT:
			send_json(target,
			          e->text
			              ? json_pack("{s:s, s:s, s:b, s:s}", "type", "result",
			                          "request", e->name, "ok", e->ok, "error", e->text)
			              : json_pack("{s:s, s:s, s:b}", "type", "result", "request",
			                          e->name, "ok", e->ok),
			          false);
			break;
		}
	}
	event_free_list(list);
}

static void send_result(struct client *c, const char *request, bool ok, const char *error)
{
	if (!c) {
		if (!ok)
			log_warnx("Refused %s: %s", request, error);
		return;
	}
	send_json(
	    c,
	    error ? json_pack("{s:s, s:s, s:b, s:s}", "type", "result", "request", request, "ok",
	                      ok, "error", error)
	          : json_pack("{s:s, s:s, s:b}", "type", "result", "request", request, "ok", ok),
	    false);
}

/* ---- requests ----------------------------------------------------------- */

static long rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * sysconf(_SC_PAGESIZE);
}

static void format_time(const struct timespec *ts, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Why R cannot be suspended now, or NULL if it can. Lock held. */
static const char *suspend_blocker(void)
{
	if (console.state == STATE_STARTING || console.state == STATE_RESUMING)
		return "the session is still starting";
	if (console.state != STATE_RUNNING)
		return "the session is already suspending or exiting";
	if (console.job != JOB_NONE || console.force_pending)
		return "a suspend or quit is already in progress";
	if (console.busy || console.in_head || console.kind == PROMPT_NONE)
		return "R is busy running a command";
	switch (console.kind) {
	case PROMPT_CONTINUATION:
		return "R is waiting for the rest of an incomplete command (continuation "
		       "prompt '+')";
	case PROMPT_BROWSER:
		return "R is in the debugger (Browse prompt)";
	case PROMPT_INPUT:
		return "R is waiting for an answer to a question (readline or menu)";
	default:
		return NULL;
	}
}

static void interrupt_r(void)
{
	clock_gettime(CLOCK_MONOTONIC, &last_force_interrupt);
	pthread_kill(console.r_thread, SIGINT);
}

/* Lock held. */
static void request_suspend(struct client *c, bool force)
{
	uint64_t id = c ? c->id : 0;
	const char *why;

	if (!force) {
		why = suspend_blocker();
		if (why) {
			send_result(c, "suspend", false, why);
			return;
		}
		console.job = JOB_SUSPEND;
		console.job_client = id;
		pthread_cond_signal(&console.cond);
		return;
	}
	if (console.force_pending || console.job == JOB_SUSPEND ||
	    (console.state != STATE_RUNNING && console.state != STATE_STARTING &&
	     console.state != STATE_RESUMING)) {
		send_result(c, "suspend", false, "a suspend is already in progress");
		return;
	}
	/* Whatever was queued will not run: the session is going away. */
	console_clear_input();
	console.force_pending = true;
	console.force_client = id;
	clock_gettime(CLOCK_MONOTONIC, &console.force_deadline);
	console.force_deadline.tv_sec += FORCE_TIMEOUT_S;
	if (console.busy) {
		console.force_interrupting = true;
		interrupt_r();
	} else if (console.kind == PROMPT_NONE) {
		/* R took a line and is about to run it: interrupt it at once. */
		console.force_interrupting = true;
		console.interrupt_requested = true;
	} else if (console.kind == PROMPT_BROWSER)
		console_queue_input("Q\n", 2);
	pthread_cond_signal(&console.cond);
}

/* Gives up a forced suspend R did not yield to; lock held. */
static void check_force_deadline(void)
{
	struct timespec now;

	if (!console.force_pending)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > console.force_deadline.tv_sec) {
		struct client *target = NULL;
		console.force_pending = false;
		for (struct client *c = clients; c; c = c->next)
			if (c->id == console.force_client)
				target = c;
		log_warnx("Forced suspend of session %s gave up: R did not return to its "
		          "prompt within %d s",
		          console.session_id, FORCE_TIMEOUT_S);
		if (target || !console.force_client)
			send_result(target, "suspend", false,
			            "R did not stop running within 30 seconds");
		return;
	}
	/* Code that swallows one interrupt (a tryCatch in a loop) gets
	 * another every second. */
	if (console.force_interrupting && console.busy &&
	    now.tv_sec - last_force_interrupt.tv_sec >= INTERRUPT_EVERY)
		interrupt_r();
}

static void reply_status(struct client *c)
{
	char last[32];

	format_time(&console.last_input, last, sizeof(last));
	send_json(c,
	          json_pack("{s:s, s:b, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:I}", "type", "status",
	                    "busy", console.busy, "prompt", console.busy ? "" : console.prompt,
	                    "prompt_kind", prompt_kind_name(console.kind), "last_input", last,
	                    "pid", (json_int_t)getpid(), "r_version", console.r_version,
	                    "rss_bytes", (json_int_t)rss_bytes(), "session_id", console.session_id,
	                    "clients", (json_int_t)nclients),
	          false);
}

static void reply_history(struct client *c)
{
	json_t *lines = json_array();

	for (size_t i = 0; lines && i < console.nhistory; i++) {
		size_t n = strlen(console.history[i]), pending;
		char *clean = malloc(3 * n + 1);
		if (!clean)
			break;
		n = utf8_sanitize(console.history[i], n, clean, &pending);
		json_array_append_new(lines, json_stringn(clean, n));
		free(clean);
	}
	send_json(c, json_pack("{s:s, s:o}", "type", "history", "lines", lines), false);
}

static void dispatch(struct client *c, const struct sessproto_msg *m)
{
	pthread_mutex_lock(&console.lock);
	switch (m->type) {
	case SP_INPUT:
		if (console_queue_input(m->text, m->text_len) < 0)
			client_drop(c, "out of memory queueing input");
		pthread_cond_signal(&console.cond);
		break;
	case SP_INTERRUPT:
		/* An interrupt stops what is running and what is queued. */
		console_clear_input();
		if (console.busy && console.state == STATE_RUNNING) {
			interrupt_r();
		} else if (!console.busy && console.kind == PROMPT_NONE) {
			console.interrupt_requested = true; /* R is about to run a line */
		} else if (!console.busy &&
		           (console.kind == PROMPT_CONTINUATION || console.kind == PROMPT_INPUT) &&
		           console.job == JOB_NONE) {
			console.job = JOB_CANCEL;
			pthread_cond_signal(&console.cond);
		}
		break;
	case SP_STATUS:
		reply_status(c);
		break;
	case SP_HISTORY:
		reply_history(c);
		break;
	case SP_SUSPEND:
		request_suspend(c, m->force);
		break;
	case SP_PLOT_SIZE:
		/* Applied by the R thread at its next prompt. */
		console.plot_size.width = m->width;
		console.plot_size.height = m->height;
		console.plot_size.dpr = m->dpr;
		console.plot_size_changed = true;
		pthread_cond_signal(&console.cond);
		break;
	case SP_PLOT_EXPORT_REQ:
		/* One at a time: a newer request replaces one not served yet. */
		console.plot_export.width = m->width;
		console.plot_export.height = m->height;
		console.plot_export.dpr = m->dpr;
		snprintf(console.plot_export.id, sizeof(console.plot_export.id), "%s", m->id);
		console.plot_export.client = c->id;
		console.plot_export_pending = true;
		pthread_cond_signal(&console.cond);
		break;
	case SP_QUIT: {
		const char *why = suspend_blocker();
		if (why) {
			send_result(c, "quit", false, why);
			break;
		}
		console.job = JOB_QUIT;
		console.job_client = c->id;
		snprintf(console.job_arg, sizeof(console.job_arg), "%s", m->save);
		pthread_cond_signal(&console.cond);
		break;
	}
	default:
		break; /* the decoder accepts nothing else from a client */
	}
	pthread_mutex_unlock(&console.lock);
}

/* ---- clients ------------------------------------------------------------ */

static void greet(struct client *c)
{
	pthread_mutex_lock(&console.lock);
	send_json(c,
	          json_pack("{s:s, s:i, s:I, s:s, s:s}", "type", "hello", "version",
	                    SESSPROTO_VERSION, "pid", (json_int_t)getpid(), "session_id",
	                    console.session_id, "r_version", console.r_version),
	          false);
	send_json(
	    c, json_pack("{s:s, s:s}", "type", "state", "state", session_state_name(console.state)),
	    false);
	if (backlog_len) {
		client_append(c, backlog, backlog_len);
		backlog_len = 0;
	}
	if (latest_plot)
		client_append(c, latest_plot, latest_plot_len);
	if (console.busy)
		send_json(c, json_pack("{s:s}", "type", "busy"), false);
	else
		send_json(c, json_pack("{s:s, s:s}", "type", "prompt", "prompt", console.prompt),
		          false);
	pthread_mutex_unlock(&console.lock);
}

static bool peer_allowed(uid_t uid)
{
	return uid == getuid() || uid == 0 || (opts.has_allow_uid && uid == opts.allow_uid);
}

static void accept_clients(void)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *c;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("Failed to accept a connection");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("Failed to read the peer credentials of a connection");
			close(fd);
			continue;
		}
		if (!peer_allowed(cred.uid)) {
			log_warnx("Refused a connection from uid %u (pid %d): only uid %u, root "
			          "and the server user may connect",
			          (unsigned)cred.uid, (int)cred.pid, (unsigned)getuid());
			close(fd);
			continue;
		}
		if (nclients >= MAX_CLIENTS) {
			log_warnx("Refused a connection from pid %d: %d clients already",
			          (int)cred.pid, MAX_CLIENTS);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->id = next_client_id++;
		c->uid = cred.uid;
		c->pid = cred.pid;
		frame_reader_init(&c->rd);
		greet(c);
		c->next = clients;
		clients = c;
		nclients++;
		log_debug("Client %llu connected (uid %u, pid %d)", (unsigned long long)c->id,
		          (unsigned)c->uid, (int)c->pid);
	}
}

static void client_read(struct client *c)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			c->dead = true; /* closed: not worth a log line */
			return;
		}
		if (frame_reader_push(&c->rd, buf, (size_t)n) < 0) {
			client_drop(c, "out of memory");
			return;
		}
		if ((size_t)n < sizeof(buf))
			break;
	}
	for (;;) {
		struct sessproto_msg m;
		const char *json;
		size_t len;
		char err[256];
		int r = frame_reader_next(&c->rd, &json, &len);

		if (r == 0)
			return;
		if (r == -EMSGSIZE) {
			client_drop(c, "frame larger than the protocol allows");
			return;
		}
		if (r < 0) {
			client_drop(c, "wrong protocol version");
			return;
		}
		if (sessproto_decode(json, len, SESSPROTO_TO_SESSION, &m, err, sizeof(err)) < 0) {
			client_drop(c, err);
			return;
		}
		dispatch(c, &m);
		sessproto_msg_free(&m);
		if (c->dead)
			return;
	}
}

static void client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = true;
			return;
		}
		c->out_off += (size_t)n;
	}
}

static void reap_clients(void)
{
	struct client **pp = &clients;

	while (*pp) {
		struct client *c = *pp;
		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		close(c->fd);
		frame_reader_free(&c->rd);
		free(c->out);
		free(c);
		nclients--;
	}
}

static bool all_flushed(void)
{
	for (struct client *c = clients; c; c = c->next)
		if (!c->dead && c->out_off < c->out_len)
			return false;
	return true;
}

/* ---- signals ------------------------------------------------------------ */

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	/* write() is async-signal-safe; a full pipe loses a repeat signal,
	 * which is harmless. */
	if (write(sig_pipe[1], &b, 1) < 0) {
	}
	errno = saved;
}

int server_install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0 ||
	    sigaction(SIGTERM, &sa, NULL) < 0)
		return -errno;
	return 0;
}

static void terminate(void)
{
	log_info("Session %s terminated by SIGTERM", console.session_id);
	pthread_mutex_lock(&console.lock);
	console_push_state(STATE_EXITED, "terminated");
	send_events(console_take_events());
	pthread_mutex_unlock(&console.lock);
	/* Best effort, bounded: clients that do not read in a second miss it. */
	for (int i = 0; i < 20 && !all_flushed(); i++) {
		for (struct client *c = clients; c; c = c->next)
			client_write(c);
		if (!all_flushed())
			poll(NULL, 0, 50);
	}
	if (conf_bool(opts.conf, RSESSION_SESSION_QUIT_CHILD_PROCESSES_ON_EXIT))
		children_stop();
	_exit(RSESSION_EXIT_TERMINATED);
}

static void handle_signals(void)
{
	unsigned char sigs[16];
	ssize_t n = read(sig_pipe[0], sigs, sizeof(sigs));

	for (ssize_t i = 0; i < n; i++) {
		if (sigs[i] == SIGTERM)
			terminate();
		pthread_mutex_lock(&console.lock);
		request_suspend(NULL, sigs[i] == SIGUSR2);
		pthread_mutex_unlock(&console.lock);
	}
}

/* ---- the loop ----------------------------------------------------------- */

static void *io_main(void *arg)
{
	(void)arg;
	sigset_t set;

	/* SIGINT must reach the R thread, never this one. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	for (;;) {
		struct pollfd pfd[5 + MAX_CLIENTS];
		struct client *polled[MAX_CLIENTS];
		size_t n = 0;
		int timeout = -1;
		uint64_t count;

		pfd[0] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = console.wake_fd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		for (struct client *c = clients; c && n < MAX_CLIENTS; c = c->next) {
			short ev = POLLIN | (c->out_off < c->out_len ? POLLOUT : 0);
			pfd[5 + n] = (struct pollfd){.fd = c->fd, .events = ev};
			polled[n++] = c;
		}

		pthread_mutex_lock(&console.lock);
		if (console.force_pending)
			timeout = 250;
		/* What child processes print (negative fds are skipped). */
		pfd[3] = (struct pollfd){.fd = console.stdio_fd[0], .events = POLLIN};
		pfd[4] = (struct pollfd){.fd = console.stdio_fd[1], .events = POLLIN};
		pthread_mutex_unlock(&console.lock);

		if (poll(pfd, 5 + n, timeout) < 0 && errno != EINTR) {
			log_warn("poll failed");
			continue;
		}
		if (pfd[0].revents & POLLIN)
			accept_clients(); /* new clients are not in polled[] */
		if (pfd[2].revents & POLLIN)
			handle_signals();
		if ((pfd[3].revents | pfd[4].revents) & (POLLIN | POLLHUP | POLLERR)) {
			pthread_mutex_lock(&console.lock);
			console_drain_stdio();
			pthread_mutex_unlock(&console.lock);
		}
		for (size_t i = 0; i < n; i++) {
			short re = pfd[5 + i].revents;
			if (re & (POLLIN | POLLHUP | POLLERR))
				client_read(polled[i]);
			if (!polled[i]->dead && (re & POLLOUT))
				client_write(polled[i]);
		}

		/* Reset the counter before taking events: a push after this
		 * wakes the next poll. */
		if (read(console.wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			log_warn("Failed to read the wake-up counter");
		pthread_mutex_lock(&console.lock);
		send_events(console_take_events());
		check_force_deadline();
		pthread_mutex_unlock(&console.lock);

		/* Write what was queued now rather than after the next poll:
		 * console latency is one round trip, not two. */
		for (struct client *c = clients; c; c = c->next)
			client_write(c);
		reap_clients();

		pthread_mutex_lock(&console.lock);
		if (console.exit_requested && !console.flushed && all_flushed()) {
			console.flushed = true;
			pthread_cond_broadcast(&console.cond);
		}
		pthread_mutex_unlock(&console.lock);
	}
	return NULL;
}

int server_start(int fd)
{
	pthread_attr_t attr;
	pthread_t thread;
	int r;

	listen_fd = fd;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&thread, &attr, io_main, NULL);
	pthread_attr_destroy(&attr);
	return -r;
}
