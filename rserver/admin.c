/*
 * The admin socket; see admin.h.
 *
 * A connection carries one command at a time: while a command runs, the
 * connection is not read, so a client cannot queue work faster than it is
 * done. Commands that wait for sessions (suspend, kill, verify) are jobs:
 * a job owns a 100 ms timer that polls the sessions it acts on through the
 * registry's public API (state and pid), never through callbacks alone, so
 * a session that ends in an unexpected way is still noticed. Jobs refer to
 * sessions by id and look them up on every tick; a *-all job keeps at most
 * ADMIN_MAX_IN_FLIGHT sessions under way at once.
 *
 * A job outlives its connection when the client goes away (the action
 * still finishes and is audited; the answer is dropped), and is cancelled
 * at admin_stop(): pending suspend requests are withdrawn with
 * session_request_cancel() and the sessions left as they are.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "adminproto.h"
#include "audit.h"
#include "log.h"
#include "profiles.h"
#include "strutil.h"

#define TICK_MS        100
#define OUTPUT_MAX     (64 * 1024) /* verify-session keeps this much output */
#define PERMISSION_MSG "permission denied: run as root or as a member of admin-group"

struct conn;
struct job;

enum op_kind { OP_SUSPEND, OP_FORCE_SUSPEND, OP_KILL };

/* One session a job acts on. */
struct op {
	struct job *job;
	enum op_kind kind;
	char id[DB_SESSION_ID_MAX + 1];
	char user[DB_USER_MAX + 1];
	pid_t pid;         /* when selected; 0 if not running then */
	uint64_t deadline; /* uv_now() */
	bool started, done, ok;
	bool requested; /* suspend asked for / kill sent */
	bool pending;   /* a suspend request whose answer has not come */
	bool refused;   /* rsession said no: error */
	char error[256];
	char message[DB_AUDIT_DETAIL_MAX + 1];
};

enum verify_phase { V_WAIT_PROMPT, V_WAIT_RESULT, V_WAIT_EXIT };

/* verify-session: a viewer of the session it starts. */
struct verify {
	struct session_viewer viewer;
	char id[DB_SESSION_ID_MAX + 1];
	char user[DB_USER_MAX + 1];
	bool attached;
	enum verify_phase phase;
	bool prompt_seen; /* a prompt arrived since the last input */
	char *out;        /* console output, NUL-terminated */
	size_t out_len, out_cap, input_mark;
	pid_t pid;
	uint64_t deadline;
};

struct job {
	struct admin *a;
	struct job *next;
	struct conn *c; /* NULL once the client has gone */
	enum admin_command cmd;
	char who[DB_USER_MAX + 1];
	uv_timer_t timer;
	struct op *ops;
	size_t nops, nstarted, nrunning, ndone;
	struct verify *v;
	bool ok;
	char message[DB_AUDIT_DETAIL_MAX + 1];
	bool finished;
};

struct conn {
	uv_pipe_t pipe;
	struct admin *a;
	struct conn *next;
	struct frame_reader rd;
	uid_t uid;
	char who[DB_USER_MAX + 1];
	struct job *job;
	bool reading, closing;
};

struct admin {
	struct admin_deps d;
	uv_pipe_t listener;
	bool listener_open;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int64_t started_ms;
	struct conn *conns;
	struct job *jobs;
	bool stopping;
};

struct wreq {
	uv_write_t w;
	char *buf;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct conf *rs(const struct admin *a)
{
	return a->d.settings->rserver;
}

/* "alice/3f2a... (pid 4242)" or "alice/3f2a... (not running)". */
static void label(char *out, size_t size, const char *user, const char *id, pid_t pid)
{
	if (pid > 0)
		snprintf(out, size, "%s/%s (pid %d)", user, id, (int)pid);
	else
		snprintf(out, size, "%s/%s (not running)", user, id);
}

/*
 * The audit trail (audit.h) in the dashboard's vocabulary, so that an
 * action reads the same whichever way an administrator took it; the
 * detail names the CLI command and its outcome.
 */
static void audit(struct admin *a, const char *who, enum admin_command cmd, const char *target,
                  const char *detail)
{
	static const char *const actions[ADMIN_NCOMMANDS] = {
	    [ADMIN_SUSPEND_SESSION] = "admin-suspend",
	    [ADMIN_FORCE_SUSPEND_SESSION] = "admin-force-suspend",
	    [ADMIN_KILL_SESSION] = "admin-kill",
	    [ADMIN_SUSPEND_ALL] = "admin-suspend",
	    [ADMIN_FORCE_SUSPEND_ALL] = "admin-force-suspend",
	    [ADMIN_KILL_ALL] = "admin-kill",
	    [ADMIN_OFFLINE] = "admin-offline",
	    [ADMIN_ONLINE] = "admin-online",
	    [ADMIN_RELOAD] = "admin-reload",
	    [ADMIN_VERIFY_SESSION] = "admin-verify-session",
	};
	const char *action =
	    (unsigned)cmd < ADMIN_NCOMMANDS && actions[cmd] ? actions[cmd] : "admin";

	audit_event(a->d.db, who, action, target, "rstudio-server %s: %s", admin_command_name(cmd),
	            detail);
}

/* ---- connections ------------------------------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct conn **pp;

	for (pp = &c->a->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	frame_reader_free(&c->rd);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->job)
		c->job->c = NULL;
	c->job = NULL;
	c->closing = true;
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct wreq *q = (struct wreq *)w;

	(void)status; /* a client that went away: its close comes by read or shutdown */
	free(q->buf);
	free(q);
}

static void send_answer(struct conn *c, json_t *answer)
{
	struct wreq *q;
	uv_buf_t b;
	size_t len;
	int r;

	if (!c || c->closing) {
		json_decref(answer);
		return;
	}
	if (!answer)
		answer = json_pack("{s:b, s:s}", "ok", false, "error", strerror(ENOMEM));
	q = calloc(1, sizeof(*q));
	r = q ? adminproto_encode(answer, &q->buf, &len) : -ENOMEM;
	json_decref(answer);
	if (r == -EMSGSIZE) {
		json_t *e =
		    json_pack("{s:b, s:s}", "ok", false, "error", "the answer is too large");
		r = e ? adminproto_encode(e, &q->buf, &len) : -ENOMEM;
		json_decref(e);
	}
	if (r < 0) {
		free(q);
		log_warnx("Cannot encode an admin answer: %s", strerror(-r));
		conn_close(c);
		return;
	}
	b = uv_buf_init(q->buf, (unsigned)len);
	r = uv_write(&q->w, (uv_stream_t *)&c->pipe, &b, 1, on_written);
	if (r < 0) {
		free(q->buf);
		free(q);
		conn_close(c);
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	uv_handle_t *h = (uv_handle_t *)req->handle;

	(void)status;
	free(req);
	if (!uv_is_closing(h))
		uv_close(h, conn_closed);
}

/* Answers with an error and ends the connection once it is written. */
static void fail_closed(struct conn *c, const char *error)
{
	uv_shutdown_t *req;

	send_answer(c, json_pack("{s:b, s:s}", "ok", false, "error", error));
	if (c->closing)
		return;
	c->closing = true;
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = false;
	req = calloc(1, sizeof(*req));
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown) < 0) {
		free(req);
		c->closing = false;
		conn_close(c);
	}
}

static json_t *answer_ok(const char *message)
{
	return json_pack("{s:b, s:s}", "ok", true, "message", message);
}

static json_t *answer_error(const char *error)
{
	return json_pack("{s:b, s:s}", "ok", false, "error", error);
}

/* ---- jobs: suspend, force-suspend, kill ------------------------------------------------ */

static void job_closed(uv_handle_t *h)
{
	struct job *j = h->data;

	if (j->v) {
		free(j->v->out);
		free(j->v);
	}
	free(j->ops);
	free(j);
}

static void conn_process(struct conn *c);

static json_t *results_json(struct job *j)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < j->nops; i++) {
		struct op *op = &j->ops[i];
		json_t *o =
		    json_pack("{s:s, s:s, s:o, s:b, s:s}", "session", op->id, "user", op->user,
		              "pid", op->pid > 0 ? json_integer(op->pid) : json_null(), "ok",
		              op->ok, "message", op->message);
		if (json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *job_answer(struct job *j)
{
	struct admin *a = j->a;
	json_t *o;

	switch (j->cmd) {
	case ADMIN_SUSPEND_SESSION:
	case ADMIN_FORCE_SUSPEND_SESSION:
	case ADMIN_KILL_SESSION: {
		struct op *op = &j->ops[0];
		struct session *s = sessions_find(a->d.sessions, op->id);
		o = op->ok ? answer_ok(op->message) : answer_error(op->message);
		if (o && !op->ok)
			json_object_set_new(o, "message", json_string(op->message));
		if (o && s)
			json_object_set_new(o, "session", session_json(s, true));
		return o;
	}
	case ADMIN_SUSPEND_ALL:
	case ADMIN_FORCE_SUSPEND_ALL:
	case ADMIN_KILL_ALL: {
		bool ok = true;
		for (size_t i = 0; i < j->nops; i++)
			ok = ok && j->ops[i].ok;
		return json_pack("{s:b, s:o}", "ok", ok, "results", results_json(j));
	}
	case ADMIN_VERIFY_SESSION:
		o = j->ok ? answer_ok(j->message) : answer_error(j->message);
		if (o && !j->ok)
			json_object_set_new(o, "message", json_string(j->message));
		if (o && j->v->id[0])
			json_object_set_new(o, "session", json_string(j->v->id));
		if (o && j->v->out_len)
			json_object_set_new(o, "output", json_stringn(j->v->out, j->v->out_len));
		return o;
	default:
		return answer_error("internal error: not a job");
	}
}

/* Ends a job: answers its client (if still there) and lets the
 * connection read its next request. */
static void job_finish(struct job *j)
{
	struct conn *c = j->c;
	struct job **pp;

	if (j->finished)
		return;
	j->finished = true;
	for (pp = &j->a->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (j->v && j->v->attached) {
		session_detach(&j->v->viewer);
		j->v->attached = false;
	}
	uv_timer_stop(&j->timer);
	uv_close((uv_handle_t *)&j->timer, job_closed);
	if (c) {
		send_answer(c, job_answer(j));
		c->job = NULL;
		j->c = NULL;
		conn_process(c);
	}
}

static void op_done(void *arg, bool ok, const char *error)
{
	struct op *op = arg;

	op->pending = false;
	if (!ok) {
		op->refused = true;
		snprintf(op->error, sizeof(op->error), "%s", error ? error : "refused");
	}
}

static void op_finish(struct op *op, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void op_finish(struct op *op, bool ok, const char *fmt, ...)
{
	struct job *j = op->job;
	char who[DB_USER_MAX + DB_SESSION_ID_MAX + 64], what[512];
	struct session *s = sessions_find(j->a->d.sessions, op->id);
	va_list ap;

	if (op->pending && s)
		session_request_cancel(s, op);
	op->pending = false;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	label(who, sizeof(who), op->user, op->id, op->pid);
	snprintf(op->message, sizeof(op->message), "%s: %s", who, what);
	op->ok = ok;
	op->done = true;
	j->nrunning--;
	j->ndone++;
	audit(j->a, j->who, j->cmd, op->id, op->message);
}

static const char *exit_reason(const struct session *s, char *buf, size_t size)
{
	json_t *o = session_json(s, false);
	const char *r = json_string_value(json_object_get(o, "exit_reason"));

	snprintf(buf, size, "%s", r ? r : "no reason recorded");
	json_decref(o);
	return buf;
}

static void op_step(struct op *op, uint64_t now)
{
	struct admin *a = op->job->a;
	struct session *s = sessions_find(a->d.sessions, op->id);
	bool force = op->kind == OP_FORCE_SUSPEND;
	enum db_session_state st;
	char reason[DB_EXIT_REASON_MAX + 1];
	int r;

	if (!s) {
		op_finish(op, false, "the session no longer exists");
		return;
	}
	st = session_state(s);
	if (op->kind == OP_KILL) {
		if (op->requested && !session_pid(s)) {
			if (st == DB_SESSION_EXITED)
				op_finish(op, true, "killed");
			else
				op_finish(op, true, "no longer running (%s)",
				          db_session_state_name(st));
			return;
		}
		if (!op->requested && session_pid(s)) {
			char why[DB_EXIT_REASON_MAX + 1];
			snprintf(why, sizeof(why), "killed by an administrator (%s)", op->job->who);
			r = session_kill(s, why);
			if (r == 0) {
				op->requested = true;
				op->pid = session_pid(s) ? session_pid(s) : op->pid;
			}
			/* -ESRCH: still launching; try again next tick. */
		} else if (!op->requested && st != DB_SESSION_STARTING) {
			op_finish(op, true, "not running (%s)", db_session_state_name(st));
			return;
		}
	} else {
		if (op->refused) {
			op_finish(op, false, "not %s: %s", force ? "force-suspended" : "suspended",
			          op->error);
			return;
		}
		if (st == DB_SESSION_SUSPENDED) {
			if (op->requested)
				op_finish(op, true, "%s", force ? "force-suspended" : "suspended");
			else
				op_finish(op, true, "already suspended");
			return;
		}
		if (st == DB_SESSION_EXITED) {
			if (op->requested)
				op_finish(op, false, "exited instead of suspending: %s",
				          exit_reason(s, reason, sizeof(reason)));
			else
				op_finish(op, false, "not running (exited); nothing to suspend");
			return;
		}
		if (!op->requested && st == DB_SESSION_RUNNING) {
			op->pid = session_pid(s) ? session_pid(s) : op->pid;
			op->pending = true;
			op->requested = true;
			r = session_suspend(s, force, op_done, op);
			if (r == -EBUSY) {
				/* Someone else's suspend is under way (the idle
				 * timer, a browser): ask again when it is done. */
				op->pending = false;
				op->requested = false;
			}
			if (op->refused) {
				/* Answered at once: not running after all. */
				op_finish(op, false, "not %s: %s",
				          force ? "force-suspended" : "suspended", op->error);
				return;
			}
		}
	}
	if (now >= op->deadline)
		op_finish(op, false, "still %s after %llu s", db_session_state_name(st),
		          (unsigned long long)((op->kind == OP_KILL ? ADMIN_KILL_WAIT_MS
		                                : force             ? ADMIN_FORCE_SUSPEND_WAIT_MS
		                                                    : ADMIN_SUSPEND_WAIT_MS) /
		                               1000));
}

static void verify_step(struct job *j, uint64_t now);

static void on_tick(uv_timer_t *t)
{
	struct job *j = t->data;
	uint64_t now = uv_now(j->a->d.loop);

	if (j->v) {
		verify_step(j, now);
		return;
	}
	for (size_t i = 0; i < j->nops; i++)
		if (j->ops[i].started && !j->ops[i].done)
			op_step(&j->ops[i], now);
	while (j->nstarted < j->nops && j->nrunning < ADMIN_MAX_IN_FLIGHT) {
		struct op *op = &j->ops[j->nstarted++];
		op->started = true;
		op->deadline = now + (op->kind == OP_KILL            ? ADMIN_KILL_WAIT_MS
		                      : op->kind == OP_FORCE_SUSPEND ? ADMIN_FORCE_SUSPEND_WAIT_MS
		                                                     : ADMIN_SUSPEND_WAIT_MS);
		j->nrunning++;
		op_step(op, now);
	}
	if (j->ndone == j->nops)
		job_finish(j);
}

static struct job *job_new(struct conn *c, enum admin_command cmd, size_t nops)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	if (nops) {
		j->ops = calloc(nops, sizeof(*j->ops));
		if (!j->ops) {
			free(j);
			return NULL;
		}
	}
	j->a = c->a;
	j->c = c;
	j->cmd = cmd;
	snprintf(j->who, sizeof(j->who), "%s", c->who);
	uv_timer_init(c->a->d.loop, &j->timer);
	j->timer.data = j;
	return j;
}

/* Starts a job: its first tick runs from the loop, never inside the
 * request handler, so a job that finishes at once does not re-enter the
 * connection's reading. */
static void job_start(struct job *j)
{
	j->next = j->a->jobs;
	j->a->jobs = j;
	j->c->job = j;
	uv_timer_start(&j->timer, on_tick, 0, TICK_MS);
}

static void op_init(struct job *j, struct op *op, enum op_kind kind, struct session *s)
{
	op->job = j;
	op->kind = kind;
	snprintf(op->id, sizeof(op->id), "%s", session_id(s));
	snprintf(op->user, sizeof(op->user), "%s", session_user(s));
	op->pid = session_pid(s);
}

static enum op_kind kind_of(enum admin_command cmd)
{
	switch (cmd) {
	case ADMIN_KILL_SESSION:
	case ADMIN_KILL_ALL:
		return OP_KILL;
	case ADMIN_FORCE_SUSPEND_SESSION:
	case ADMIN_FORCE_SUSPEND_ALL:
		return OP_FORCE_SUSPEND;
	default:
		return OP_SUSPEND;
	}
}

/* A session named by its id, or else by the pid of its rsession. */
static struct session *find_target(struct sessions *ss, const char *target)
{
	struct session *s = sessions_find(ss, target);
	long long pid;

	if (s)
		return s;
	if (str_to_llong(target, 1, INT32_MAX, &pid) == 0 && target[0] != '+')
		return sessions_find_pid(ss, (pid_t)pid);
	return NULL;
}

static void start_session_job(struct conn *c, const struct admin_request *req)
{
	struct session *s = find_target(c->a->d.sessions, req->session);
	struct job *j;
	char msg[ADMINPROTO_MAX_NAME + 64];

	if (!s) {
		snprintf(msg, sizeof(msg), "no session with id or pid '%s'", req->session);
		send_answer(c, answer_error(msg));
		return;
	}
	j = job_new(c, req->command, 1);
	if (!j) {
		send_answer(c, answer_error(strerror(ENOMEM)));
		return;
	}
	op_init(j, &j->ops[0], kind_of(req->command), s);
	j->nops = 1;
	job_start(j);
}

/* Live sessions: the ones with (or about to have) an rsession. */
static bool is_live(const struct session *s)
{
	enum db_session_state st = session_state(s);

	return st == DB_SESSION_STARTING || st == DB_SESSION_RUNNING || st == DB_SESSION_SUSPENDING;
}

static void start_all_job(struct conn *c, const struct admin_request *req)
{
	struct sessions *ss = c->a->d.sessions;
	size_t n = 0;
	struct job *j;

	for (struct session *s = sessions_first(ss); s; s = session_next(s))
		if (is_live(s) && (!req->user || strcmp(session_user(s), req->user) == 0))
			n++;
	j = job_new(c, req->command, n);
	if (!j) {
		send_answer(c, answer_error(strerror(ENOMEM)));
		return;
	}
	for (struct session *s = sessions_first(ss); s && j->nops < n; s = session_next(s))
		if (is_live(s) && (!req->user || strcmp(session_user(s), req->user) == 0))
			op_init(j, &j->ops[j->nops++], kind_of(req->command), s);
	job_start(j);
}

/* ---- verify-session: a real session as a user, 1+1, quit -------------------------------- */

static void verify_send(struct session_viewer *viewer, const char *json, size_t len)
{
	struct verify *v = (struct verify *)viewer; /* viewer is the first member */
	json_t *o = json_loadb(json, len, 0, NULL);
	const char *type = json_string_value(json_object_get(o, "type"));

	if (type && strcmp(type, "output") == 0) {
		json_t *text = json_object_get(o, "text");
		size_t n = json_string_length(text);
		/* Whole messages only, so the text stays valid UTF-8. */
		if (json_is_string(text) && v->out_len + n < OUTPUT_MAX &&
		    mem_reserve(&v->out, &v->out_cap, v->out_len + n + 1) == 0) {
			memcpy(v->out + v->out_len, json_string_value(text), n);
			v->out_len += n;
			v->out[v->out_len] = '\0';
		}
	} else if (type && strcmp(type, "prompt") == 0) {
		v->prompt_seen = true;
	}
	json_decref(o);
}

static void verify_input(struct verify *v, const char *text)
{
	json_t *o = json_pack("{s:s, s:s}", "type", "input", "text", text);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	v->prompt_seen = false;
	v->input_mark = v->out_len;
	if (s)
		session_viewer_message(&v->viewer, s, strlen(s));
	free(s);
	json_decref(o);
}

/* "R version 4.2.2 (2022-10-31)" from R's banner, if it printed one. */
static void r_version(const struct verify *v, char *out, size_t size)
{
	const char *p = v->out ? strstr(v->out, "R version ") : NULL;
	size_t n = p ? strcspn(p, "\r\n") : 0;
	const char *nick = p ? strstr(p, " -- ") : NULL;

	/* Without the release's nickname: "... (2022-10-31) -- \"Innocent..." */
	if (nick && (size_t)(nick - p) < n)
		n = (size_t)(nick - p);
	if (n > 80)
		n = 80;
	snprintf(out, size, "%.*s", (int)n, p ? p : "");
}

static void verify_finish(struct job *j, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verify_finish(struct job *j, bool ok, const char *fmt, ...)
{
	va_list ap;
	char what[512];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (j->v->id[0]) {
		char who[DB_USER_MAX + DB_SESSION_ID_MAX + 64];
		label(who, sizeof(who), j->v->user, j->v->id, j->v->pid);
		snprintf(j->message, sizeof(j->message), "%s: %s", who, what);
	} else {
		snprintf(j->message, sizeof(j->message), "%s: %s", j->v->user, what);
	}
	j->ok = ok;
	audit(j->a, j->who, j->cmd, j->v->id[0] ? j->v->id : j->v->user, j->message);
	job_finish(j);
}

static void verify_step(struct job *j, uint64_t now)
{
	struct verify *v = j->v;
	struct session *s = sessions_find(j->a->d.sessions, v->id);
	enum db_session_state st;
	char reason[DB_EXIT_REASON_MAX + 1], rv[96];

	if (!s) {
		verify_finish(j, false, "the session no longer exists");
		return;
	}
	st = session_state(s);
	if (session_pid(s))
		v->pid = session_pid(s);
	switch (v->phase) {
	case V_WAIT_PROMPT:
		if (st == DB_SESSION_EXITED || st == DB_SESSION_SUSPENDED) {
			verify_finish(j, false, "the session ended before R was ready: %s",
			              exit_reason(s, reason, sizeof(reason)));
			return;
		}
		if (v->prompt_seen && st == DB_SESSION_RUNNING) {
			verify_input(v, "1+1\n");
			v->phase = V_WAIT_RESULT;
		}
		break;
	case V_WAIT_RESULT:
		if (st == DB_SESSION_EXITED || st == DB_SESSION_SUSPENDED) {
			verify_finish(j, false, "the session ended while running 1+1: %s",
			              exit_reason(s, reason, sizeof(reason)));
			return;
		}
		if (v->prompt_seen && strstr(v->out + v->input_mark, "[1] 2")) {
			/* q() from the console, as a user would: save="no" so
			 * that no .RData is left in the user's home. */
			verify_input(v, "q(save = \"no\")\n");
			v->phase = V_WAIT_EXIT;
		}
		break;
	case V_WAIT_EXIT:
		if (st == DB_SESSION_EXITED) {
			r_version(v, rv, sizeof(rv));
			exit_reason(s, reason, sizeof(reason));
			verify_finish(j, true, "ran 1+1 and got [1] 2%s%s, then quit%s%s%s",
			              rv[0] ? " with " : "", rv, strcmp(reason, "quit") ? " (" : "",
			              strcmp(reason, "quit") ? reason : "",
			              strcmp(reason, "quit") ? ")" : "");
			return;
		}
		break;
	}
	if (now >= v->deadline) {
		static const char *const phases[] = {"waiting for R's prompt",
		                                     "waiting for the result of 1+1",
		                                     "waiting for the session to quit"};
		if (session_pid(s))
			session_kill(s, "verify-installation: the session did not answer in time");
		verify_finish(j, false, "no progress in %d s (%s); the session was killed",
		              ADMIN_VERIFY_WAIT_MS / 1000, phases[v->phase]);
	}
}

static void start_verify_job(struct conn *c, const struct admin_request *req)
{
	struct job *j = job_new(c, req->command, 0);
	struct session *s = NULL;
	bool existing = false;
	char msg[DB_USER_MAX + 256];
	int r;

	if (!j || !(j->v = calloc(1, sizeof(*j->v)))) {
		if (j) {
			uv_close((uv_handle_t *)&j->timer, job_closed);
		}
		send_answer(c, answer_error(strerror(ENOMEM)));
		return;
	}
	snprintf(j->v->user, sizeof(j->v->user), "%s", req->user);
	if (!getpwnam(req->user)) {
		snprintf(msg, sizeof(msg), "%s: no such user", req->user);
		uv_close((uv_handle_t *)&j->timer, job_closed);
		send_answer(c, answer_error(msg));
		return;
	}
	r = sessions_create(c->a->d.sessions, req->user, &s, &existing);
	if (r == 0 && existing) {
		/* server-multiple-sessions=0: the user's own session must
		 * not be typed into, nor quit. */
		snprintf(msg, sizeof(msg),
		         "%s already has a session and server-multiple-sessions=0; "
		         "verify with another user",
		         req->user);
		uv_close((uv_handle_t *)&j->timer, job_closed);
		send_answer(c, answer_error(msg));
		return;
	}
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s: cannot start a session: %s", req->user,
		         r == -EAGAIN ? "the monitor is unreachable" : strerror(-r));
		uv_close((uv_handle_t *)&j->timer, job_closed);
		send_answer(c, answer_error(msg));
		audit(c->a, c->who, req->command, req->user, msg);
		return;
	}
	snprintf(j->v->id, sizeof(j->v->id), "%s", session_id(s));
	j->v->viewer.send = verify_send;
	j->v->deadline = uv_now(c->a->d.loop) + ADMIN_VERIFY_WAIT_MS;
	session_attach(s, &j->v->viewer);
	j->v->attached = true;
	log_info("Admin %s: verify-session: started session %s as %s", c->who, j->v->id, req->user);
	job_start(j);
}

/* ---- the immediate commands -------------------------------------------------------------- */

static char *offline_path(const struct admin *a)
{
	char *p;

	return asprintf(&p, "%s/offline", conf_str(a->d.settings->database, DATABASE_DIRECTORY)) < 0
	           ? NULL
	           : p;
}

static json_t *do_status(struct admin *a)
{
	json_t *counts = json_object(), *o;
	char *path = offline_path(a);
	struct stat st;
	int64_t up = (wall_ms() - a->started_ms) / 1000;

	for (int i = DB_SESSION_STARTING; counts && i <= DB_SESSION_EXITED; i++)
		json_object_set_new(counts, db_session_state_name((enum db_session_state)i),
		                    json_integer(0));
	for (struct session *s = sessions_first(a->d.sessions); counts && s; s = session_next(s)) {
		const char *name = db_session_state_name(session_state(s));
		json_t *n = json_object_get(counts, name);
		json_object_set_new(counts, name, json_integer(json_integer_value(n) + 1));
	}
	o = json_pack("{s:b, s:I, s:s, s:I, s:s, s:I, s:o, s:b}", "ok", true, "pid",
	              (json_int_t)getpid(), "version", RSERVER_VERSION, "uptime_seconds",
	              (json_int_t)(up > 0 ? up : 0), "address",
	              conf_str(rs(a), RSERVER_WWW_ADDRESS), "port",
	              (json_int_t)conf_int(rs(a), RSERVER_WWW_PORT), "sessions", counts, "offline",
	              path && stat(path, &st) == 0);
	free(path);
	return o;
}

static json_t *do_offline(struct admin *a, const char *who, const char *message)
{
	char *path = offline_path(a), *tmp = NULL, msg[512];
	struct stat st;
	bool was = false;
	int fd = -1, e = 0;

	if (!path || asprintf(&tmp, "%s.tmp", path) < 0) {
		free(path);
		return answer_error(strerror(ENOMEM));
	}
	was = stat(path, &st) == 0;
	/* Written whole, then renamed into place: a request never sees half a
	 * message. The directory is this process's (0700). */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		e = errno;
	else {
		size_t n = message ? strlen(message) : 0;
		if ((n && write(fd, message, n) != (ssize_t)n) ||
		    (n && message[n - 1] != '\n' && write(fd, "\n", 1) != 1))
			e = errno ? errno : EIO;
		if (close(fd) < 0 && !e)
			e = errno;
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
	}
	if (e)
		snprintf(msg, sizeof(msg), "cannot create %s: %s", path, strerror(e));
	else
		snprintf(msg, sizeof(msg),
		         "%s: user pages and the session API answer 503 until 'online'",
		         was ? "still offline (message replaced)" : "offline");
	free(tmp);
	free(path);
	audit(a, who, ADMIN_OFFLINE, "", msg);
	return e ? answer_error(msg) : answer_ok(msg);
}

static json_t *do_online(struct admin *a, const char *who)
{
	char *path = offline_path(a), msg[512];
	int e = 0;

	if (!path)
		return answer_error(strerror(ENOMEM));
	if (unlink(path) < 0)
		e = errno;
	if (e == ENOENT)
		snprintf(msg, sizeof(msg), "already online");
	else if (e)
		snprintf(msg, sizeof(msg), "cannot remove %s: %s", path, strerror(e));
	else
		snprintf(msg, sizeof(msg), "online");
	free(path);
	audit(a, who, ADMIN_ONLINE, "", msg);
	return e && e != ENOENT ? answer_error(msg) : answer_ok(msg);
}

static json_t *do_reload(struct admin *a, const char *who)
{
	char msg[512] = "";
	char by[DB_USER_MAX + 32];
	int r;

	snprintf(by, sizeof(by), "admin %s", who);
	r = a->d.reload ? a->d.reload(by, msg, sizeof(msg)) : -ENOSYS;
	if (!msg[0])
		snprintf(msg, sizeof(msg), "%s", r < 0 ? strerror(-r) : "reloaded");
	audit(a, who, ADMIN_RELOAD, "", msg);
	return r < 0 ? answer_error(msg) : answer_ok(msg);
}

/* ---- requests ---------------------------------------------------------------------------- */

static void handle_request(struct conn *c, const char *json, size_t len)
{
	struct admin *a = c->a;
	struct admin_request req;
	char err[256];
	int r;

	r = adminproto_decode_request(json, len, &req, err, sizeof(err));
	if (r < 0) {
		log_warnx("Admin %s (uid %u) sent a malformed request: %s; closing", c->who,
		          (unsigned)c->uid, r == -ENOMEM ? strerror(ENOMEM) : err);
		fail_closed(c, r == -ENOMEM ? strerror(ENOMEM) : err);
		return;
	}
	log_debug("Admin %s: %s", c->who, admin_command_name(req.command));
	switch (req.command) {
	case ADMIN_STATUS:
		send_answer(c, do_status(a));
		break;
	case ADMIN_LIST_SESSIONS:
		send_answer(c, json_pack("{s:b, s:o}", "ok", true, "sessions",
		                         sessions_list_json(a->d.sessions, NULL, true)));
		break;
	case ADMIN_SUSPEND_SESSION:
	case ADMIN_FORCE_SUSPEND_SESSION:
	case ADMIN_KILL_SESSION:
		start_session_job(c, &req);
		break;
	case ADMIN_SUSPEND_ALL:
	case ADMIN_FORCE_SUSPEND_ALL:
	case ADMIN_KILL_ALL:
		start_all_job(c, &req);
		break;
	case ADMIN_OFFLINE:
		send_answer(c, do_offline(a, c->who, req.message));
		break;
	case ADMIN_ONLINE:
		send_answer(c, do_online(a, c->who));
		break;
	case ADMIN_RELOAD:
		send_answer(c, do_reload(a, c->who));
		break;
	case ADMIN_VERIFY_SESSION:
		start_verify_job(c, &req);
		break;
	default:
		fail_closed(c, "unknown command");
		break;
	}
	admin_request_free(&req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = malloc(65536);
	buf->len = buf->base ? 65536 : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;

	if (nread < 0) {
		free(buf->base);
		conn_close(c);
		return;
	}
	if (nread > 0 && frame_reader_push(&c->rd, buf->base, (size_t)nread) < 0) {
		free(buf->base);
		fail_closed(c, "request too large");
		return;
	}
	free(buf->base);
	conn_process(c);
}

/* Runs the requests buffered on c, one at a time: reading pauses while a
 * job runs and resumes when it is answered. */
static void conn_process(struct conn *c)
{
	const char *json;
	size_t len;
	int r;

	while (!c->closing && !c->job) {
		r = frame_reader_next(&c->rd, &json, &len);
		if (r == 0)
			break;
		if (r < 0) {
			log_warnx("Admin %s (uid %u): %s; closing", c->who, (unsigned)c->uid,
			          r == -EMSGSIZE ? "frame over the size limit"
			                         : "wrong protocol version or malformed frame");
			fail_closed(c, r == -EMSGSIZE
			                   ? "frame over the size limit"
			                   : "wrong protocol version or malformed frame");
			return;
		}
		handle_request(c, json, len);
	}
	if (c->closing)
		return;
	if (c->job && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	} else if (!c->job && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
			c->reading = true;
		else
			conn_close(c);
	}
}

/* ---- accepting, and who may ------------------------------------------------------------- */

/*
 * Root always; anyone else only as a member (primary or supplementary) of
 * admin-group, read from the live settings so that a reload applies to
 * the next connection. who gets the peer's user name.
 */
static bool peer_allowed(struct admin *a, uid_t uid, char *who, size_t whosize)
{
	const char *group = conf_str(rs(a), RSERVER_ADMIN_GROUP);
	struct passwd *pw = getpwuid(uid);
	char **groups = NULL;
	size_t ngroups = 0;
	bool ok = false;

	if (pw)
		snprintf(who, whosize, "%s", pw->pw_name);
	else
		snprintf(who, whosize, "uid %u", (unsigned)uid);
	if (uid == 0)
		return true;
	if (!pw || !group || !*group)
		return false;
	if (profiles_user_groups(who, &groups, &ngroups) < 0)
		return false;
	for (size_t i = 0; i < ngroups && !ok; i++)
		ok = strcmp(groups[i], group) == 0;
	profiles_groups_free(groups, ngroups);
	return ok;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct admin *a = server->data;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct conn *c;
	uv_os_fd_t fd;

	if (status < 0) {
		log_warnx("Admin socket: accept failed: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return; /* the connection waits in the backlog */
	c->a = a;
	if (uv_pipe_init(a->d.loop, &c->pipe, 0) < 0) {
		free(c);
		return;
	}
	c->pipe.data = c;
	c->next = a->conns;
	a->conns = c;
	adminproto_reader_init(&c->rd);
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		log_warn("Admin socket: cannot identify the peer; closing");
		conn_close(c);
		return;
	}
	c->uid = cred.uid;
	if (!peer_allowed(a, cred.uid, c->who, sizeof(c->who))) {
		log_warnx("Admin socket: refused %s (uid %u, pid %d): not root and not in "
		          "admin-group%s%s",
		          c->who, (unsigned)cred.uid, (int)cred.pid,
		          conf_str(rs(a), RSERVER_ADMIN_GROUP) ? " " : " (unset)",
		          conf_str(rs(a), RSERVER_ADMIN_GROUP)
		              ? conf_str(rs(a), RSERVER_ADMIN_GROUP)
		              : "");
		fail_closed(c, PERMISSION_MSG);
		return;
	}
	log_debug("Admin socket: %s (uid %u, pid %d) connected", c->who, (unsigned)cred.uid,
	          (int)cred.pid);
	conn_process(c);
}

/* ---- start and stop ---------------------------------------------------------------------- */

static void listener_closed(uv_handle_t *h)
{
	free(h->data);
}

int admin_start(const struct admin_deps *deps, struct admin **ret, char *err, size_t errsize)
{
	const char *data = conf_str(deps->settings->rserver, RSERVER_SERVER_DATA_DIR);
	const char *group = conf_str(deps->settings->rserver, RSERVER_ADMIN_GROUP);
	struct admin *a;
	struct stat st;
	gid_t gid = 0;
	mode_t old;
	int r;

	if (group && *group) {
		struct group *g = getgrnam(group);
		if (g)
			gid = g->gr_gid;
		else
			log_warnx(
			    "admin-group '%s' does not exist: the admin socket is for root only",
			    group);
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = *deps;
	a->started_ms = wall_ms();
	if (snprintf(a->path, sizeof(a->path), "%s/admin.sock", data) >= (int)sizeof(a->path)) {
		snprintf(err, errsize, "admin socket path too long: %s/admin.sock", data);
		free(a);
		return -ENAMETOOLONG;
	}
	/* The data directory is root's, as the monitor makes it: only root
	 * can put a socket (or anything else) at this path. One that others
	 * may write to (/tmp) would let them swap the socket for a symbolic
	 * link between bind() and chown(), or plant a pid file: refused. */
	if (mkdir(data, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errsize, "cannot create server-data-dir %s: %s", data,
		         strerror(errno));
		free(a);
		return r;
	}
	if (stat(data, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errsize,
		         "server-data-dir %s must be a directory owned by root and writable by "
		         "root only",
		         data);
		free(a);
		return -EPERM;
	}
	if (lstat(a->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errsize,
			         "%s exists and is not a socket; refusing to replace it", a->path);
			free(a);
			return -EEXIST;
		}
		unlink(a->path); /* left by an earlier rserver */
	}
	r = uv_pipe_init(deps->loop, &a->listener, 0);
	if (r < 0) {
		snprintf(err, errsize, "admin socket: %s", uv_strerror(r));
		free(a);
		return r;
	}
	a->listener.data = a;
	a->listener_open = true;
	/* Born 0600 under the umask, so nobody can connect before the mode
	 * and group below are set. */
	old = umask(0177);
	r = uv_pipe_bind(&a->listener, a->path);
	umask(old);
	if (r == 0 && (chown(a->path, 0, gid) < 0 || chmod(a->path, gid ? 0660 : 0600) < 0))
		r = -errno;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&a->listener, 16, on_connection);
	if (r < 0) {
		snprintf(err, errsize, "cannot listen on %s: %s", a->path, uv_strerror(r));
		/* The handle's memory goes when the loop delivers its close. */
		uv_close((uv_handle_t *)&a->listener, listener_closed);
		return r;
	}
	*ret = a;
	return 0;
}

void admin_stop(struct admin *a)
{
	if (!a || a->stopping)
		return;
	a->stopping = true;
	if (a->listener_open)
		uv_close((uv_handle_t *)&a->listener, NULL);
	a->listener_open = false;
	/* Jobs first: each withdraws its pending requests and detaches its
	 * viewer; their answers go nowhere. */
	while (a->jobs) {
		struct job *j = a->jobs;
		for (size_t i = 0; i < j->nops; i++) {
			struct op *op = &j->ops[i];
			struct session *s = sessions_find(a->d.sessions, op->id);
			if (op->pending && s)
				session_request_cancel(s, op);
			op->pending = false;
		}
		if (j->c)
			j->c->job = NULL;
		j->c = NULL;
		job_finish(j);
	}
	for (struct conn *c = a->conns; c; c = c->next)
		conn_close(c);
}

void admin_free(struct admin *a)
{
	free(a);
}
