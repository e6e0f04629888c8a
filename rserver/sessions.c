/*
 * The session registry; see sessions.h.
 *
 * Each session keeps its registry row (struct db_session) in memory and
 * writes it back on every change of state, pid or input time, so that a
 * restarted rserver can pick up where this one stopped. Output does not
 * touch the database: it is far too frequent, and idleness is measured
 * from input and from R returning to its prompt.
 *
 * How an exit is learned: the connection to rsession reaches end-of-file;
 * the launcher (rsession's root parent) then writes
 * <server-data-dir>/sessions/<id>.exit with the exit status, a moment
 * later. We poll for that record for a few seconds and record the cause.
 * If the process turns out to be alive after all (rsession dropped us as a
 * slow reader), we reconnect instead.
 */
#include "sessions.h"

#include <errno.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "sessproto.h"
#include "strutil.h"

#define SCROLLBACK_MAX   (64 * 1024)   /* recent output replayed to a new viewer */
#define QUEUE_MAX        (1024 * 1024) /* input held while the session starts */
#define EXIT_POLL_FAST_MS  5             /* looking for the launcher's exit record: */
#define EXIT_POLL_FAST_FOR 250           /* ... this often for the first 250 ms, when it */
#define EXIT_POLL_MS       100           /* nearly always comes, then every 100 ms */
#define EXIT_POLL_FOR      5000          /* ... for up to 5 s */
#define RECONNECT_AFTER    2000          /* alive after 2 s without a record: reconnect */
#define RETRY_MIN_MS     2000          /* a refused idle suspend is retried after */
#define RETRY_MAX_MS     (5 * 60000)   /* the idle timeout, within these bounds */
#define EXITED_KEEP_DAYS 30            /* exited sessions are forgotten after */
#define STATS_EVERY_MS   5000          /* CPU and memory of running sessions */
#define HISTORY_SAMPLES  720           /* an hour of them */
#define INPUT_PERSIST_MS 15000         /* the last input reaches the registry within */

struct conn {
	uv_pipe_t pipe;
	uv_connect_t creq;
	struct session *s; /* NULL once the session let go of it */
	struct frame_reader rd;
};

struct request {
	bool active;
	bool internal; /* from the idle timer */
	session_done_fn done;
	void *arg;
};

struct sb_item {
	char *json;
	size_t len;
};

struct session {
	struct sessions *ss;
	struct session *next;
	struct db_session rec;
	uid_t uid;
	bool uid_known;

	struct conn *conn;
	bool greeted;    /* rsession's hello arrived on conn */
	bool recovering; /* connected by sessions_recover(): check the pid */
	bool busy;
	bool have_prompt;
	char prompt[128];

	struct session_viewer **viewers;
	size_t nviewers, viewers_cap;

	struct sb_item *sb;
	size_t nsb, sb_cap, sb_bytes;
	struct sb_item plot; /* the latest "plot" message, outside the scrollback */

	char *queue; /* encoded input frames waiting for the connection */
	size_t queue_len;

	bool launching, resuming;
	bool launch_queued;     /* launching, waiting for a start slot */
	bool launch_sent;       /* launching, holding a start slot (launch_over()) */
	char resume_detail[64]; /* "saved <time>" while resuming */
	uint32_t launch_req;
	pid_t child_pid; /* the launcher's child, as its exit record names it */
	uint64_t launch_began, suspend_began; /* uv_hrtime(), for the metrics */
	uint32_t signal_req;
	bool killing;

	bool paused;           /* not reading rsession: a viewer is full */
	uv_timer_t stall;      /* how long a full viewer may hold everyone */
	uv_timer_t timer;      /* idle and kill deadlines */
	uv_timer_t exit_timer; /* polling for the exit record */
	bool timers_open;
	bool exit_polling;
	bool exit_once;       /* look for the record once, then give up */
	int64_t exit_poll_t0; /* when the looking began */

	double timeout_min, kill_hours;
	bool refusal_logged;
	int64_t retry_at;
	int64_t persisted_input;             /* rec.last_input as the registry has it */
	char ending[DB_EXIT_REASON_MAX + 1]; /* why, when we ended it */

	struct request req_suspend, req_quit;

	/* CPU and memory, from the monitor's stats */
	bool have_stats;
	uint64_t cpu_ms, rss_bytes;
	int64_t stats_at;
	double cpu_percent;
	struct sample {
		int64_t at;
		float cpu_percent;
		uint64_t rss_bytes;
	} * history; /* ring of HISTORY_SAMPLES */
	size_t hist_next, hist_n;
};

struct sessions {
	struct sessions_deps d;
	struct sessions_hooks hooks;
	struct session *head, *tail;
	struct profiles *profiles;
	bool stopping;
	uv_timer_t stats_timer;
	bool stats_open;
	uint32_t stats_req;

	/* Starts in progress (asked of the monitor, R not yet at its first
	 * prompt) are bounded; the rest wait, first come first served. */
	unsigned starts, max_starts;
	struct session **start_queue;
	size_t nstart_queue, start_queue_cap;
};

static size_t most_queued(const struct session *s);
static void flow_resume(struct session *s);
static void launch_over(struct session *s);

static const struct conf *rs_conf(const struct sessions *ss)
{
	return ss->d.settings->rserver;
}

static void persist(struct session *s)
{
	if (db_session_put(s->ss->d.db, &s->rec) < 0)
		log_errorx("Cannot record session %s of %s: %s", s->rec.id, s->rec.user,
		           db_error(s->ss->d.db));
	else
		s->persisted_input = s->rec.last_input;
}

/* ---- viewers ------------------------------------------------------------------ */

static void broadcast_raw(struct session *s, const char *json, size_t len)
{
	for (size_t i = 0; i < s->nviewers; i++)
		s->viewers[i]->send(s->viewers[i], json, len);
}

static void send_obj(struct session_viewer *v, json_t *o)
{
	char *text;

	if (!o)
		return;
	text = json_dumps(o, JSON_COMPACT);
	if (text) {
		v->send(v, text, strlen(text));
		free(text);
	}
	json_decref(o);
}

static void broadcast_obj(struct session *s, json_t *o)
{
	char *text;

	if (!o)
		return;
	text = json_dumps(o, JSON_COMPACT);
	if (text) {
		broadcast_raw(s, text, strlen(text));
		free(text);
	}
	json_decref(o);
}

static json_t *state_msg(const char *state, const char *detail)
{
	return detail && detail[0]
	           ? json_pack("{s:s, s:s, s:s}", "type", "state", "state", state, "detail", detail)
	           : json_pack("{s:s, s:s}", "type", "state", "state", state);
}

static json_t *error_msg(const char *message)
{
	return json_pack("{s:s, s:s}", "type", "error", "message", message);
}

/* Recent output, for a viewer that arrives later (a reloaded tab). */
static void scrollback_add(struct session *s, const char *json, size_t len)
{
	char *copy;

	if (len > SCROLLBACK_MAX)
		return;
	while (s->nsb && s->sb_bytes + len > SCROLLBACK_MAX) {
		s->sb_bytes -= s->sb[0].len;
		free(s->sb[0].json);
		memmove(s->sb, s->sb + 1, (s->nsb - 1) * sizeof(*s->sb));
		s->nsb--;
	}
	if (s->nsb == s->sb_cap) {
		size_t ncap = s->sb_cap ? s->sb_cap * 2 : 64;
		struct sb_item *n = reallocarray(s->sb, ncap, sizeof(*n));
		if (!n)
			return;
		s->sb = n;
		s->sb_cap = ncap;
	}
	copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, json, len);
	s->sb[s->nsb].json = copy;
	s->sb[s->nsb].len = len;
	s->nsb++;
	s->sb_bytes += len;
}

static void scrollback_clear(struct session *s)
{
	for (size_t i = 0; i < s->nsb; i++)
		free(s->sb[i].json);
	s->nsb = 0;
	s->sb_bytes = 0;
	free(s->plot.json);
	s->plot.json = NULL;
}

/* Plots stay out of the output scrollback (one can be megabytes): only the
 * latest is kept for a viewer that arrives later; none after the device
 * was closed (a frame without an image). */
static void latest_plot_set(struct session *s, const struct sessproto_msg *m, const char *json,
                            size_t len)
{
	free(s->plot.json);
	s->plot.json = NULL;
	if (m->width == 0 || !(s->plot.json = malloc(len)))
		return;
	memcpy(s->plot.json, json, len);
	s->plot.len = len;
}

/* The state a viewer should see now. */
static const char *visible_state(const struct session *s)
{
	if (s->launching)
		return s->resuming ? "resuming" : "starting";
	return db_session_state_name(s->rec.state);
}

void session_attach(struct session *s, struct session_viewer *v)
{
	if (s->nviewers == s->viewers_cap) {
		size_t ncap = s->viewers_cap ? s->viewers_cap * 2 : 4;
		struct session_viewer **n = reallocarray(s->viewers, ncap, sizeof(*n));
		if (!n) {
			send_obj(v, error_msg("out of memory"));
			return;
		}
		s->viewers = n;
		s->viewers_cap = ncap;
	}
	s->viewers[s->nviewers++] = v;
	v->session = s;
	send_obj(v, state_msg(visible_state(s),
	                      s->launching && s->resuming ? s->resume_detail : s->rec.exit_reason));
	for (size_t i = 0; i < s->nsb; i++)
		v->send(v, s->sb[i].json, s->sb[i].len);
	if (s->plot.json)
		v->send(v, s->plot.json, s->plot.len);
	if (s->greeted && s->busy)
		send_obj(v, json_pack("{s:s}", "type", "busy"));
	else if (s->greeted && s->have_prompt)
		send_obj(v, json_pack("{s:s, s:s}", "type", "prompt", "prompt", s->prompt));
	if (s->ss->hooks.attached)
		s->ss->hooks.attached(s->ss->hooks.arg, v, s->rec.user);
}

void sessions_set_hooks(struct sessions *ss, const struct sessions_hooks *hooks)
{
	ss->hooks = *hooks;
}

void sessions_each_viewer(struct sessions *ss, const char *user,
                          void (*fn)(struct session_viewer *v, const char *user, void *arg),
                          void *arg)
{
	for (struct session *s = ss->head; s; s = s->next)
		if (!user || strcmp(s->rec.user, user) == 0)
			for (size_t i = 0; i < s->nviewers; i++)
				fn(s->viewers[i], s->rec.user, arg);
}

void session_detach(struct session_viewer *v)
{
	struct session *s = v->session;

	if (!s)
		return;
	for (size_t i = 0; i < s->nviewers; i++)
		if (s->viewers[i] == v) {
			s->viewers[i] = s->viewers[--s->nviewers];
			break;
		}
	v->session = NULL;
	/* The viewer that held the output back may be the one leaving. */
	if (s->paused && most_queued(s) <= SESSION_VIEWER_LOW)
		flow_resume(s);
}

/* ---- state ---------------------------------------------------------------------- */

static void set_state(struct session *s, enum db_session_state state, const char *reason)
{
	s->rec.state = state;
	if (reason)
		DB_FIELD_SET(s->rec.exit_reason, reason);
	persist(s);
	broadcast_obj(s, state_msg(visible_state(s), reason));
}

static void request_finish(struct request *r, bool ok, const char *error)
{
	struct request copy = *r;

	memset(r, 0, sizeof(*r));
	if (copy.active && copy.done)
		copy.done(copy.arg, ok, error);
}

static void schedule(struct session *s);

/* ---- timeouts from the profile ---------------------------------------------------- */

/*
 * The profile that applies, for administrators: every key the profiles
 * file sets for this user (cores, nice, limits, R), then the timeouts
 * with where they come from.
 */
static void describe_profile(struct session *s, const struct profile_effective *eff,
                             const char *where_t, const char *where_k)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	for (int k = 0; eff && k < PROFILE_NKEYS; k++) {
		if (!eff[k].set || k == PROFILE_SESSION_TIMEOUT_MINUTES ||
		    k == PROFILE_SESSION_TIMEOUT_KILL_HOURS)
			continue;
		fprintf(f, "%s=", profiles_table.keys[k].name);
		conf_value_print(&profiles_table.keys[k], &eff[k].value, f);
		fputs("; ", f);
	}
	fprintf(f, "session-timeout-minutes=%g (%s); session-timeout-kill-hours=%g (%s)",
	        s->timeout_min, where_t, s->kill_hours, where_k);
	fclose(f);
	if (buf && len > DB_PROFILE_MAX) /* cut at the field's size, marked */
		memcpy(buf + DB_PROFILE_MAX - 3, "...", 4);
	if (buf)
		DB_FIELD_SET(s->rec.profile, buf);
	free(buf);
}

static void resolve_timeouts(struct session *s)
{
	const struct conf *rsc = s->ss->d.settings->rsession;
	struct profile_effective eff[PROFILE_NKEYS];
	char **groups = NULL;
	size_t ngroups = 0;
	char where_t[64] = "rsession.conf", where_k[64] = "rsession.conf";

	s->timeout_min = conf_decimal(rsc, RSESSION_SESSION_TIMEOUT_MINUTES);
	s->kill_hours = conf_decimal(rsc, RSESSION_SESSION_TIMEOUT_KILL_HOURS);
	bool eff_ok = false;

	if (s->ss->profiles && profiles_user_groups(s->rec.user, &groups, &ngroups) == 0) {
		profiles_resolve(s->ss->profiles, s->rec.user, (const char *const *)groups, ngroups,
		                 eff);
		eff_ok = true;
		if (eff[PROFILE_SESSION_TIMEOUT_MINUTES].set) {
			s->timeout_min = eff[PROFILE_SESSION_TIMEOUT_MINUTES].value.d;
			snprintf(where_t, sizeof(where_t), "profiles:%u",
			         eff[PROFILE_SESSION_TIMEOUT_MINUTES].line);
		}
		if (eff[PROFILE_SESSION_TIMEOUT_KILL_HOURS].set) {
			s->kill_hours = eff[PROFILE_SESSION_TIMEOUT_KILL_HOURS].value.d;
			snprintf(where_k, sizeof(where_k), "profiles:%u",
			         eff[PROFILE_SESSION_TIMEOUT_KILL_HOURS].line);
		}
		profiles_groups_free(groups, ngroups);
	}
	describe_profile(s, eff_ok ? eff : NULL, where_t, where_k);
}

static void lookup_uid(struct session *s)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(s->rec.user, &pw, buf, sizeof(buf), &res) == 0 && res) {
		s->uid = res->pw_uid;
		s->uid_known = true;
	}
}

/* Whether pid is still the process the registry knows: alive, the user's,
 * and started at the recorded time (so not a reused pid). */
static bool same_process(const struct session *s, pid_t pid, uint64_t start_time)
{
	struct proc_stat st;
	uid_t uid;

	if (pid <= 0 || proc_stat(pid, &st) < 0)
		return false;
	if (start_time && st.starttime != start_time)
		return false;
	return s->uid_known && proc_uid(pid, &uid) == 0 && uid == s->uid;
}

/* ---- the connection to rsession -------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	frame_reader_free(&c->rd);
	free(c);
}

static void conn_release(struct session *s)
{
	struct conn *c = s->conn;

	if (!c)
		return;
	s->conn = NULL;
	s->greeted = false;
	s->paused = false;
	if (s->timers_open)
		uv_timer_stop(&s->stall);
	c->s = NULL;
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void exit_poll_start(struct session *s, bool once);

/* The connection ended or failed: find out how the session ended. */
static void conn_lost(struct session *s, const char *why)
{
	log_debug("Session %s: connection closed: %s", s->rec.id, why);
	conn_release(s);
	s->busy = false;
	request_finish(&s->req_suspend, false, "the session ended");
	request_finish(&s->req_quit, false, "the session ended");
	uv_timer_stop(&s->timer);
	if (s->rec.state == DB_SESSION_SUSPENDED || s->rec.state == DB_SESSION_EXITED)
		return;
	exit_poll_start(s, false);
}

struct write_req {
	uv_write_t w;
	char *buf;
};

static void on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;

	(void)status; /* a failed write shows up as end-of-file on the read side */
	free(wr->buf);
	free(wr);
}

/* Writes a whole frame (taking buf) to the connected session. */
static int conn_write(struct session *s, char *buf, size_t len)
{
	struct write_req *wr = malloc(sizeof(*wr));
	uv_buf_t b = uv_buf_init(buf, (unsigned)len);
	int r;

	if (!wr || !s->conn) {
		free(wr);
		free(buf);
		return -ENOTCONN;
	}
	wr->buf = buf;
	r = uv_write(&wr->w, (uv_stream_t *)&s->conn->pipe, &b, 1, on_written);
	if (r < 0) {
		free(buf);
		free(wr);
	}
	return r;
}

/* Encodes o (taking it) as one frame. */
static int encode_frame(json_t *o, char **ret_buf, size_t *ret_len)
{
	int r;

	if (!o)
		return -ENOMEM;
	r = sessproto_encode(o, ret_buf, ret_len);
	json_decref(o);
	return r;
}

static int send_frame(struct session *s, json_t *o)
{
	char *buf;
	size_t len;
	int r = encode_frame(o, &buf, &len);

	return r < 0 ? r : conn_write(s, buf, len);
}

/* Input for a session that is not connected yet waits here, in order. */
static int queue_frame(struct session *s, json_t *o)
{
	char *buf, *n;
	size_t len;
	int r = encode_frame(o, &buf, &len);

	if (r < 0)
		return r;
	if (s->queue_len + len > QUEUE_MAX) {
		free(buf);
		return -ENOBUFS;
	}
	n = realloc(s->queue, s->queue_len + len);
	if (!n) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(n + s->queue_len, buf, len);
	free(buf);
	s->queue = n;
	s->queue_len += len;
	return 0;
}

static void queue_flush(struct session *s)
{
	char *q = s->queue;
	size_t len = s->queue_len;

	if (!q)
		return;
	s->queue = NULL;
	s->queue_len = 0;
	conn_write(s, q, len);
}

static void handle_hello(struct session *s, const struct sessproto_msg *m)
{
	const char *id = json_string_value(json_object_get(m->json, "session_id"));
	json_int_t pid = json_integer_value(json_object_get(m->json, "pid"));
	struct proc_stat st;

	if (!id || strcmp(id, s->rec.id) != 0 || pid <= 0) {
		log_errorx("Session %s: the process on its socket greets as session '%s'; "
		           "dropping it",
		           s->rec.id, id ? id : "?");
		conn_lost(s, "wrong greeting");
		return;
	}
	/* After a restart the registry's pid must be the one answering. */
	if (s->recovering && s->rec.pid > 0 && s->rec.pid_start_time &&
	    (pid_t)pid != s->rec.pid) {
		log_warnx("Session %s: registry had pid %d, the session answers as pid %lld",
		          s->rec.id, (int)s->rec.pid, (long long)pid);
	}
	if (!same_process(s, (pid_t)pid, 0)) {
		log_errorx("Session %s: pid %lld is not a process of %s; dropping it", s->rec.id,
		           (long long)pid, s->rec.user);
		conn_lost(s, "not the user's process");
		return;
	}
	if (proc_stat((pid_t)pid, &st) == 0)
		s->rec.pid_start_time = st.starttime;
	s->rec.pid = (pid_t)pid;
	s->greeted = true;
	if (s->recovering)
		log_info("Session %s of %s (pid %d) found again", s->rec.id, s->rec.user,
		         (int)s->rec.pid);
	s->recovering = false;
	persist(s);
	queue_flush(s);
}

static void handle_state(struct session *s, const struct sessproto_msg *m, const char *json,
                         size_t len)
{
	const char *state = json_string_value(json_object_get(m->json, "state"));

	if (state && strcmp(state, "running") == 0) {
		bool was_launching = s->launching;
		if (was_launching && s->launch_began)
			metrics_duration(s->resuming ? METRICS_RESUME : METRICS_LAUNCH,
			                 (double)(uv_hrtime() - s->launch_began) / 1e9);
		s->launch_began = 0;
		launch_over(s);
		if (s->rec.state != DB_SESSION_RUNNING || was_launching) {
			s->rec.state = DB_SESSION_RUNNING;
			s->rec.exit_reason[0] = '\0';
			persist(s);
		}
		schedule(s);
	} else if (state && strcmp(state, "suspending") == 0 &&
	           s->rec.state != DB_SESSION_SUSPENDING) {
		s->rec.state = DB_SESSION_SUSPENDING;
		persist(s);
	}
	broadcast_raw(s, json, len);
}

/* rsession answered a suspend or quit. */
static void handle_result(struct session *s, const struct sessproto_msg *m)
{
	const char *what = json_string_value(json_object_get(m->json, "request"));
	bool ok = json_is_true(json_object_get(m->json, "ok"));
	const char *error = json_string_value(json_object_get(m->json, "error"));
	struct request *r = NULL;

	if (what && strcmp(what, "suspend") == 0)
		r = &s->req_suspend;
	else if (what && strcmp(what, "quit") == 0)
		r = &s->req_quit;
	if (!r || !r->active)
		return;
	if (!ok && r->internal) {
		int64_t now = now_ms(), retry = (int64_t)(s->timeout_min * 60000);
		if (!s->refusal_logged)
			log_warnx("Session %s of %s is idle past session-timeout-minutes (%g) but "
			          "cannot be suspended: %s; trying again later",
			          s->rec.id, s->rec.user, s->timeout_min, error ? error : "refused");
		s->refusal_logged = true;
		if (retry < RETRY_MIN_MS)
			retry = RETRY_MIN_MS;
		if (retry > RETRY_MAX_MS)
			retry = RETRY_MAX_MS;
		s->retry_at = now + retry;
		s->ending[0] = '\0';
	}
	if (!ok && !r->internal)
		s->ending[0] = '\0';
	request_finish(r, ok, error ? error : (ok ? NULL : "refused"));
	schedule(s);
}

static void handle_frame(struct session *s, const char *json, size_t len)
{
	struct sessproto_msg m;
	char err[256];

	/* Output is nearly every byte a session sends: checked in one pass
	 * rather than decoded into a tree (benchmarks.md, throughput). */
	if (s->greeted && sessproto_is_output(json, len)) {
		scrollback_add(s, json, len);
		broadcast_raw(s, json, len);
		return;
	}
	if (sessproto_decode(json, len, SESSPROTO_TO_CLIENT, &m, err, sizeof(err)) < 0) {
		log_errorx("Session %s sent a malformed message (%s); dropping the connection",
		           s->rec.id, err);
		conn_lost(s, "malformed message");
		return;
	}
	if (!s->greeted && m.type != SP_HELLO) {
		log_errorx("Session %s spoke before its greeting; dropping the connection",
		           s->rec.id);
		sessproto_msg_free(&m);
		conn_lost(s, "no greeting");
		return;
	}
	switch (m.type) {
	case SP_HELLO:
		handle_hello(s, &m);
		break;
	case SP_STATE:
		handle_state(s, &m, json, len);
		break;
	case SP_OUTPUT:
		scrollback_add(s, json, len);
		broadcast_raw(s, json, len);
		break;
	case SP_PROMPT: {
		const char *p = json_string_value(json_object_get(m.json, "prompt"));
		bool was_busy = s->busy;
		s->busy = false;
		s->have_prompt = true;
		snprintf(s->prompt, sizeof(s->prompt), "%s", p ? p : "");
		/* R back at a prompt starts a new idle period. */
		if (was_busy) {
			s->rec.last_activity = now_ms();
			s->refusal_logged = false;
			s->retry_at = 0;
		}
		broadcast_raw(s, json, len);
		schedule(s);
		break;
	}
	case SP_BUSY:
		s->busy = true;
		broadcast_raw(s, json, len);
		break;
	case SP_ERROR:
	case SP_PLOT_EXPORT: /* for the page that asked: it knows the id */
	case SP_HELP:
		broadcast_raw(s, json, len);
		break;
	case SP_PLOT:
		latest_plot_set(s, &m, json, len);
		broadcast_raw(s, json, len);
		break;
	case SP_RESULT:
		handle_result(s, &m);
		break;
	default:
		break; /* status and history replies: not asked for */
	}
	sessproto_msg_free(&m);
}

/* rsession's bytes are read straight into the frame reader, in large
 * reads: output arrives in frames of up to half a megabyte. */
#define READ_WANT (256 * 1024)

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	char *p;
	size_t n;

	(void)suggested;
	if (frame_reader_space(&c->rd, READ_WANT, &p, &n) < 0) {
		*buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init(p, (unsigned)n);
}

/* ---- flow control ---------------------------------------------------------------- */

static size_t most_queued(const struct session *s)
{
	size_t most = 0;

	for (size_t i = 0; i < s->nviewers; i++) {
		struct session_viewer *v = s->viewers[i];
		size_t q = v->queued ? v->queued(v) : 0;
		if (q > most)
			most = q;
	}
	return most;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void flow_resume(struct session *s)
{
	s->paused = false;
	if (s->timers_open)
		uv_timer_stop(&s->stall);
	if (s->conn)
		uv_read_start((uv_stream_t *)&s->conn->pipe, on_alloc, on_read);
}

/* A viewer has held everyone's output for SESSION_VIEWER_STALL_MS: drop the
 * full ones (their pages reconnect and get recent output) and go on. */
static void on_stall(uv_timer_t *t)
{
	struct session *s = t->data;

	if (!s->paused)
		return;
	for (size_t i = s->nviewers; i-- > 0;) {
		struct session_viewer *v = s->viewers[i];
		if (v->queued && v->queued(v) > SESSION_VIEWER_LOW && v->drop) {
			log_warnx("Session %s: a console has not read its output for %d s; "
			          "disconnecting it",
			          s->rec.id, SESSION_VIEWER_STALL_MS / 1000);
			session_detach(v);
			v->drop(v);
		}
	}
	flow_resume(s);
}

/* After output went out: stop reading rsession while a viewer is full. */
static void flow_check(struct session *s)
{
	if (s->paused || !s->conn || most_queued(s) <= SESSION_VIEWER_HIGH)
		return;
	s->paused = true;
	uv_read_stop((uv_stream_t *)&s->conn->pipe);
	if (s->timers_open)
		uv_timer_start(&s->stall, on_stall, SESSION_VIEWER_STALL_MS, 0);
}

void session_viewer_drained(struct session_viewer *v)
{
	struct session *s = v->session;

	if (s && s->paused && most_queued(s) <= SESSION_VIEWER_LOW)
		flow_resume(s);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	const char *json;
	size_t len;
	int r = 0;

	(void)buf; /* the frame reader's own space (on_alloc) */
	if (!c->s)
		return;
	if (nread < 0) {
		conn_lost(c->s, nread == UV_EOF       ? "end of file"
		                : nread == UV_ENOBUFS ? "out of memory, or frames over the limit"
		                                      : uv_strerror((int)nread));
		return;
	}
	frame_reader_commit(&c->rd, (size_t)nread);
	/* A frame may end the connection (c->s becomes NULL); stop then. */
	while (c->s && (r = frame_reader_next(&c->rd, &json, &len)) == 1)
		handle_frame(c->s, json, len);
	if (c->s && r < 0) {
		log_errorx("Session %s sent %s; dropping the connection", c->s->rec.id,
		           r == -EMSGSIZE ? "an oversized frame" : "a frame of another version");
		conn_lost(c->s, "bad frame");
	}
	if (c->s)
		flow_check(c->s);
	/* Most sessions sit idle: keep large read buffers only while output
	 * streams (a quarter megabyte each over 200 sessions showed in
	 * rserver's memory). */
	frame_reader_trim(&c->rd, 16 * 1024);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct session *s = c->s;
	int r;

	if (!s)
		return;
	if (status < 0) {
		log_debug("Session %s: cannot connect to %s: %s", s->rec.id, s->rec.socket_path,
		          uv_strerror(status));
		conn_lost(s, uv_strerror(status));
		return;
	}
	r = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	if (r < 0)
		conn_lost(s, uv_strerror(r));
}

static int conn_open(struct session *s)
{
	struct conn *c;
	int r;

	if (s->conn)
		return 0;
	if (!s->rec.socket_path[0]) {
		const char *data = conf_str(rs_conf(s->ss), RSERVER_SERVER_DATA_DIR);
		char path[sizeof(s->rec.socket_path) + 1];
		if ((size_t)snprintf(path, sizeof(path), "%s/sessions/%s.sock", data, s->rec.id) >=
		        sizeof(s->rec.socket_path) ||
		    DB_FIELD_SET(s->rec.socket_path, path) < 0)
			return -ENAMETOOLONG;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = uv_pipe_init(s->ss->d.loop, &c->pipe, 0);
	if (r < 0) {
		free(c);
		return r;
	}
	c->pipe.data = c;
	c->creq.data = c;
	c->s = s;
	frame_reader_init(&c->rd);
	s->conn = c;
	s->greeted = false;
	s->busy = false;
	s->have_prompt = false;
	uv_pipe_connect(&c->creq, &c->pipe, s->rec.socket_path, on_connect);
	return 0;
}

/* ---- how a session ended ------------------------------------------------------------ */

/* The launcher's record of this session's last exit, if it is about the
 * current run (not an older one left from before). */
static json_t *exit_record(struct session *s)
{
	const char *data = conf_str(rs_conf(s->ss), RSERVER_SERVER_DATA_DIR);
	char path[4096], *text = NULL;
	size_t len;
	json_t *o;
	json_int_t when;

	snprintf(path, sizeof(path), "%s/sessions/%s.exit", data, s->rec.id);
	if (file_read_all(path, 65536, &text, &len) < 0)
		return NULL;
	o = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(o))
		goto stale;
	when = json_integer_value(json_object_get(o, "time"));
	if (!json_string_value(json_object_get(o, "session_id")) ||
	    strcmp(json_string_value(json_object_get(o, "session_id")), s->rec.id) != 0)
		goto stale;
	/* Written after the run began (whole seconds; a second's slack), by
	 * the launcher of this run when we know which that was. */
	if (s->rec.started && when < s->rec.started / 1000 - 1)
		goto stale;
	if (s->child_pid && json_integer_value(json_object_get(o, "pid")) != s->child_pid)
		goto stale;
	return o;
stale:
	json_decref(o);
	return NULL;
}

static void finish_exit(struct session *s, json_t *record)
{
	enum db_session_state state = DB_SESSION_EXITED;
	char reason[DB_EXIT_REASON_MAX + 1];

	if (record) {
		json_int_t code = json_integer_value(json_object_get(record, "exit_code"));
		json_int_t sig = json_integer_value(json_object_get(record, "signal"));
		bool oom = json_is_true(json_object_get(record, "oom"));
		const char *cause = json_string_value(json_object_get(record, "cause"));

		if (!cause)
			cause = "ended";
		if (sig == 0 && code == RSESSION_EXIT_SUSPENDED) {
			state = DB_SESSION_SUSPENDED;
			snprintf(reason, sizeof(reason), "%s", s->ending[0] ? s->ending : "suspended");
		} else if (sig == 0 && code == RSESSION_EXIT_FORCE_SUSPENDED) {
			state = DB_SESSION_SUSPENDED;
			snprintf(reason, sizeof(reason), "%s",
			         s->ending[0] ? s->ending : "force-suspended");
		} else if (sig == 0 && code == RSESSION_EXIT_OK) {
			snprintf(reason, sizeof(reason), "%s",
			         strncmp(s->ending, "quit", 4) == 0 ? s->ending : "quit");
		} else if (sig == 0 && code == RSESSION_EXIT_TERMINATED) {
			snprintf(reason, sizeof(reason), "terminated");
		} else if (sig != 0 && oom) {
			snprintf(reason, sizeof(reason), "%s", cause);
		} else if (sig != 0 && s->killing && s->ending[0]) {
			snprintf(reason, sizeof(reason), "%s", s->ending);
		} else if (sig != 0) {
			snprintf(reason, sizeof(reason), "crashed: %s", cause);
		} else {
			snprintf(reason, sizeof(reason), "%s", cause);
		}
	} else if (s->ending[0] && s->killing) {
		snprintf(reason, sizeof(reason), "%s", s->ending);
	} else {
		snprintf(reason, sizeof(reason),
		         "ended without an exit record (its launcher was killed?)");
	}
	audit_event(s->ss->d.db, s->rec.user,
	            state == DB_SESSION_SUSPENDED ? "session-suspend" : "session-exit", s->rec.id,
	            "pid %d: %s", (int)s->rec.pid, reason);
	if (state == DB_SESSION_SUSPENDED && s->suspend_began)
		metrics_duration(METRICS_SUSPEND, (double)(uv_hrtime() - s->suspend_began) / 1e9);
	s->suspend_began = 0;
	s->rec.pid = 0;
	s->rec.pid_start_time = 0;
	s->rec.launcher_pid = 0;
	if (state == DB_SESSION_SUSPENDED)
		s->rec.last_activity = now_ms(); /* when the work was saved */
	s->ending[0] = '\0';
	s->killing = false;
	launch_over(s);
	s->have_prompt = false;
	s->busy = false;
	scrollback_clear(s);
	set_state(s, state, reason);
}

static void exit_poll_stop(struct session *s)
{
	if (s->exit_polling)
		uv_timer_stop(&s->exit_timer);
	s->exit_polling = false;
}

static void on_exit_poll(uv_timer_t *t)
{
	struct session *s = t->data;
	json_t *record = exit_record(s);
	int64_t waited = now_ms() - s->exit_poll_t0;

	if (record) {
		exit_poll_stop(s);
		finish_exit(s, record);
		json_decref(record);
		return;
	}
	/* No record, and the process is still there: rsession dropped our
	 * connection (we read too slowly) but runs on. Connect again. */
	if (!s->exit_once && waited >= RECONNECT_AFTER && !s->launching &&
	    same_process(s, s->rec.pid, s->rec.pid_start_time)) {
		exit_poll_stop(s);
		log_info("Session %s (pid %d) is still running; reconnecting", s->rec.id,
		         (int)s->rec.pid);
		if (conn_open(s) < 0)
			exit_poll_start(s, false);
		return;
	}
	if (s->exit_once || waited >= EXIT_POLL_FOR) {
		exit_poll_stop(s);
		finish_exit(s, NULL);
		return;
	}
	/* The launcher writes the record right after rsession's exit and
	 * its PAM close: look often at first, so that a suspend or a quit
	 * shows without a polling delay (benchmarks.md), then less often. */
	uv_timer_start(&s->exit_timer, on_exit_poll,
	               waited < EXIT_POLL_FAST_FOR ? EXIT_POLL_FAST_MS : EXIT_POLL_MS, 0);
}

/* once: the process is known to be gone; one look at its record. */
static void exit_poll_start(struct session *s, bool once)
{
	if (s->ss->stopping || !s->timers_open)
		return;
	s->exit_once = once;
	s->exit_poll_t0 = now_ms();
	s->exit_polling = true;
	uv_timer_start(&s->exit_timer, on_exit_poll, 0, 0);
}

/* "saved <RFC 3339 UTC>", the detail of a "resuming" state. */
static void format_saved(int64_t ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms > 0 && gmtime_r(&t, &tm))
		strftime(out, size, "saved %Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, size, "saved earlier");
}

/* ---- launching ---------------------------------------------------------------------- */

/*
 * Start slots. Two hundred sessions asked for at once (a class at nine
 * o'clock) would otherwise start two hundred R processes on the same
 * cores: every one of them ready only at the end, and rserver's own event
 * loop starved for seconds (benchmarks.md, scale). With a bounded number
 * of starts in flight the first sessions are ready in a second, the total
 * is the same, and rserver stays responsive. A session holds a slot from
 * the monitor request until R reaches its first prompt, or the start
 * fails.
 */
static int launch_send(struct session *s);

static void launch_next(struct sessions *ss)
{
	size_t i = 0;

	while (i < ss->nstart_queue && ss->starts < ss->max_starts) {
		struct session *s = ss->start_queue[i++];
		if (!s->launch_queued)
			continue; /* ended while it waited */
		s->launch_queued = false;
		launch_send(s);
	}
	if (!i)
		return; /* nothing taken (also: no queue allocated yet) */
	memmove(ss->start_queue, ss->start_queue + i,
	        (ss->nstart_queue - i) * sizeof(*ss->start_queue));
	ss->nstart_queue -= i;
}

void sessions_starts(const struct sessions *ss, struct sessions_starts *ret)
{
	ret->in_flight = ss->starts;
	ret->queued = 0;
	for (size_t i = 0; i < ss->nstart_queue; i++)
		if (ss->start_queue[i]->launch_queued)
			ret->queued++;
	ret->slots = ss->max_starts;
}

/* The start of s is over, one way or the other (the only place launching
 * is cleared): its slot, if it held one, goes to the next in the queue. */
static void launch_over(struct session *s)
{
	struct sessions *ss = s->ss;

	s->launching = false;
	s->launch_queued = false; /* launch_next skips it if still listed */
	if (!s->launch_sent)
		return;
	s->launch_sent = false;
	ss->starts--;
	launch_next(ss);
}

static int launch_send(struct session *s)
{
	struct sessions *ss = s->ss;
	struct monbuf req;
	int r;

	r = monitor_client_request_launch(ss->d.mc, s->rec.user, s->rec.id, s->resuming, &req);
	if (r == 0) {
		s->launch_req = req.id;
		r = monitor_client_send(ss->d.mc, &req);
	}
	if (r < 0) {
		log_errorx("Cannot ask the monitor to start session %s of %s: %s", s->rec.id,
		           s->rec.user, strerror(-r));
		launch_over(s);
		set_state(s, DB_SESSION_EXITED, "failed to start: the monitor is unreachable");
		return -EAGAIN;
	}
	s->launch_sent = true;
	ss->starts++;
	return 0;
}

static int launch(struct session *s, bool resume)
{
	struct sessions *ss = s->ss;
	int64_t now = now_ms();
	int r;

	if (s->launching || s->conn)
		return 0;
	int64_t saved = s->rec.last_activity;

	exit_poll_stop(s);
	resolve_timeouts(s);
	s->resuming = resume;
	s->launch_req = 0;
	if (ss->starts < ss->max_starts) {
		r = launch_send(s);
		if (r < 0)
			return r;
	} else {
		if (ss->nstart_queue == ss->start_queue_cap) {
			size_t ncap = ss->start_queue_cap ? ss->start_queue_cap * 2 : 64;
			struct session **n = reallocarray(ss->start_queue, ncap, sizeof(*n));
			if (!n)
				return -ENOMEM;
			ss->start_queue = n;
			ss->start_queue_cap = ncap;
		}
		ss->start_queue[ss->nstart_queue++] = s;
		s->launch_queued = true;
	}
	s->launching = true;
	s->launch_began = uv_hrtime();
	s->suspend_began = 0;
	s->child_pid = 0;
	s->rec.pid = 0;
	s->rec.pid_start_time = 0;
	s->rec.started = now;
	s->rec.last_activity = now;
	s->rec.last_input = now; /* opening a session is the user's doing */
	s->refusal_logged = false;
	s->retry_at = 0;
	s->ending[0] = '\0';
	s->killing = false;
	scrollback_clear(s);
	audit_event(ss->d.db, s->rec.user, resume ? "session-resume" : "session-start", s->rec.id,
	            NULL);
	/* Viewers of a resume are told when the work they get back was
	 * saved. */
	s->resume_detail[0] = '\0';
	if (resume)
		format_saved(saved, s->resume_detail, sizeof(s->resume_detail));
	s->rec.state = DB_SESSION_STARTING;
	s->rec.exit_reason[0] = '\0';
	persist(s);
	broadcast_obj(s, state_msg(visible_state(s), s->resume_detail));
	return 0;
}

static void launched(struct session *s, const struct mon_launch_reply *a)
{
	int r;

	if (a->pid <= 0 && strcmp(a->step, MON_LAUNCH_STEP_SIGN_IN) == 0) {
		/* The password the session's PAM stack needs is no longer
		 * kept: the browser must sign in again, and the session stays
		 * as it was (suspended work is not lost). */
		bool resume = s->resuming;
		launch_over(s);
		log_info("Session %s of %s cannot start until %s signs in again: %s", s->rec.id,
		         s->rec.user, s->rec.user, a->message);
		broadcast_obj(s, json_pack("{s:s, s:s, s:b}", "type", "error", "message", a->message,
		                           "sign_in", 1));
		set_state(s, resume ? DB_SESSION_SUSPENDED : DB_SESSION_EXITED,
		          resume ? "suspended (sign in again to resume)" : "sign in again to start");
		return;
	}
	if (a->pid <= 0) {
		char reason[DB_EXIT_REASON_MAX + 1];
		snprintf(reason, sizeof(reason), "failed to start: %s: %s", a->step, a->message);
		launch_over(s);
		log_warnx("Session %s of %s %s", s->rec.id, s->rec.user, reason);
		broadcast_obj(s, error_msg(reason));
		set_state(s, DB_SESSION_EXITED, reason);
		return;
	}
	s->rec.pid = a->pid; /* until rsession's greeting names its own pid */
	s->child_pid = a->pid;
	if (DB_FIELD_SET(s->rec.socket_path, a->socket_path) < 0)
		s->rec.socket_path[0] = '\0';
	persist(s);
	r = conn_open(s);
	if (r < 0) {
		log_errorx("Session %s: cannot connect: %s", s->rec.id, strerror(-r));
		exit_poll_start(s, false);
	}
}

static void stats_answered(struct sessions *ss, const struct mon_stat *st, size_t n)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < n; i++) {
		struct session *s = sessions_find_pid(ss, st[i].pid);
		if (!s || (st[i].cpu_ms == 0 && st[i].rss_bytes == 0))
			continue; /* gone, or not an rsession any more */
		s->cpu_percent = s->have_stats && now > s->stats_at && st[i].cpu_ms >= s->cpu_ms
		                     ? 100.0 * (double)(st[i].cpu_ms - s->cpu_ms) /
		                           (double)(now - s->stats_at)
		                     : 0;
		s->cpu_ms = st[i].cpu_ms;
		s->rss_bytes = st[i].rss_bytes;
		s->stats_at = now;
		s->have_stats = true;
		if (!s->history)
			s->history = calloc(HISTORY_SAMPLES, sizeof(*s->history));
		if (s->history) {
			s->history[s->hist_next] =
			    (struct sample){now, (float)s->cpu_percent, s->rss_bytes};
			s->hist_next = (s->hist_next + 1) % HISTORY_SAMPLES;
			if (s->hist_n < HISTORY_SAMPLES)
				s->hist_n++;
		}
	}
}

bool sessions_monitor_reply(struct sessions *ss, const struct mon_reply *r)
{
	if (r->type == MON_STATS_REP && r->id == ss->stats_req) {
		stats_answered(ss, r->stats.stats, r->stats.n);
		return true;
	}
	for (struct session *s = ss->head; s; s = s->next) {
		if (r->type == MON_LAUNCH_REP && s->launch_sent && s->launch_req == r->id) {
			launched(s, &r->launch);
			return true;
		}
		if (r->type == MON_SIGNAL_REP && s->signal_req == r->id) {
			s->signal_req = 0;
			if (r->signal.result < 0)
				log_warnx("Session %s of %s: the monitor could not signal pid %d: %s",
				          s->rec.id, s->rec.user, (int)s->rec.pid, r->signal.message);
			return true;
		}
	}
	return false;
}

/* ---- idle and kill deadlines ---------------------------------------------------------- */

static void send_signal(struct session *s, int sig)
{
	struct monbuf req;

	if (monitor_client_request_signal(s->ss->d.mc, s->rec.user, s->rec.id, s->rec.pid, sig,
	                                  &req) < 0)
		return;
	s->signal_req = req.id;
	if (monitor_client_send(s->ss->d.mc, &req) < 0)
		log_errorx("Cannot ask the monitor to signal session %s", s->rec.id);
}

static int64_t idle_deadline(const struct session *s)
{
	int64_t at;

	if (s->timeout_min <= 0 || s->req_suspend.active || s->req_quit.active)
		return INT64_MAX;
	at = s->rec.last_activity + (int64_t)(s->timeout_min * 60000);
	return s->retry_at > at ? s->retry_at : at;
}

static int64_t kill_deadline(const struct session *s)
{
	int64_t from = s->rec.last_input ? s->rec.last_input : s->rec.started;

	if (s->kill_hours <= 0 || s->killing)
		return INT64_MAX;
	return from + (int64_t)(s->kill_hours * 3600000);
}

static void on_deadline(uv_timer_t *t)
{
	struct session *s = t->data;
	int64_t now = now_ms();

	if (!s->greeted || s->rec.state != DB_SESSION_RUNNING)
		return;
	if (now >= kill_deadline(s)) {
		snprintf(s->ending, sizeof(s->ending),
		         "killed: no input for %g hours (session-timeout-kill-hours)", s->kill_hours);
		log_warnx("Session %s of %s (pid %d): no input for %g hours; killing it", s->rec.id,
		          s->rec.user, (int)s->rec.pid, s->kill_hours);
		s->killing = true;
		send_signal(s, SIGKILL);
	} else if (now >= idle_deadline(s)) {
		bool suspend = conf_bool(s->ss->d.settings->rsession, RSESSION_SESSION_TIMEOUT_SUSPEND);
		struct request *r = suspend ? &s->req_suspend : &s->req_quit;
		json_t *o = suspend ? json_pack("{s:s, s:b}", "type", "suspend", "force", 0)
		                    : json_pack("{s:s, s:s}", "type", "quit", "save", "default");
		snprintf(s->ending, sizeof(s->ending),
		         suspend ? "suspended after %g minutes idle (session-timeout-minutes)"
		                 : "quit after %g minutes idle (session-timeout-suspend=0)",
		         s->timeout_min);
		if (send_frame(s, o) == 0) {
			log_info("Session %s of %s: idle for %g minutes; %s", s->rec.id, s->rec.user,
			         s->timeout_min, suspend ? "suspending" : "quitting");
			r->active = true;
			r->internal = true;
			if (suspend)
				s->suspend_began = uv_hrtime();
		} else {
			s->ending[0] = '\0';
		}
	}
	schedule(s);
}

static void schedule(struct session *s)
{
	int64_t next, now;

	if (!s->timers_open)
		return;
	if (!s->greeted || s->rec.state != DB_SESSION_RUNNING) {
		uv_timer_stop(&s->timer);
		return;
	}
	next = idle_deadline(s);
	if (kill_deadline(s) < next)
		next = kill_deadline(s);
	if (next == INT64_MAX) {
		uv_timer_stop(&s->timer);
		return;
	}
	now = now_ms();
	uv_timer_start(&s->timer, on_deadline, next > now ? (uint64_t)(next - now) : 0, 0);
}

int session_kill(struct session *s, const char *reason)
{
	if (!session_pid(s) || s->launching)
		return -ESRCH;
	snprintf(s->ending, sizeof(s->ending), "%s", reason);
	s->killing = true;
	log_warnx("Killing session %s of %s (pid %d): %s", s->rec.id, s->rec.user,
	          (int)s->rec.pid, reason);
	send_signal(s, SIGKILL);
	schedule(s);
	return 0;
}

/* ---- requests --------------------------------------------------------------------------- */

static int start_request(struct session *s, struct request *r, json_t *o, session_done_fn done,
                         void *arg)
{
	if (r->active) {
		json_decref(o);
		return -EBUSY;
	}
	if (!s->greeted || s->rec.state != DB_SESSION_RUNNING) {
		json_decref(o);
		done(arg, false, s->rec.state == DB_SESSION_SUSPENDED ? "the session is suspended"
		                 : s->rec.state == DB_SESSION_EXITED  ? "the session has exited"
		                                                      : "the session is not running");
		return 0;
	}
	if (send_frame(s, o) < 0) {
		done(arg, false, "cannot reach the session");
		return 0;
	}
	r->active = true;
	r->internal = false;
	r->done = done;
	r->arg = arg;
	schedule(s);
	return 0;
}

int session_suspend(struct session *s, bool force, session_done_fn done, void *arg)
{
	int r = start_request(s, &s->req_suspend,
	                      json_pack("{s:s, s:b}", "type", "suspend", "force", force), done, arg);

	if (r == 0 && s->req_suspend.active)
		s->suspend_began = uv_hrtime();
	return r;
}

int session_quit(struct session *s, session_done_fn done, void *arg)
{
	return start_request(s, &s->req_quit,
	                     json_pack("{s:s, s:s}", "type", "quit", "save", "default"), done, arg);
}

void session_request_cancel(struct session *s, void *arg)
{
	if (s->req_suspend.active && s->req_suspend.arg == arg)
		s->req_suspend.done = NULL;
	if (s->req_quit.active && s->req_quit.arg == arg)
		s->req_quit.done = NULL;
}

/* ---- viewers' messages -------------------------------------------------------------------- */

int session_open(struct session *s)
{
	switch (s->rec.state) {
	case DB_SESSION_SUSPENDED:
		return launch(s, true);
	case DB_SESSION_EXITED:
		return launch(s, false);
	default:
		return 0; /* starting, running or suspending: it is on its way */
	}
}

void session_viewer_message(struct session_viewer *v, const char *json, size_t len)
{
	struct session *s = v->session;
	json_error_t jerr;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type = json_string_value(json_object_get(o, "type"));
	char msg[256];

	if (!s)
		goto out;
	if (!json_is_object(o) || !type) {
		send_obj(v, error_msg("expected a JSON object with a \"type\""));
		goto out;
	}
	if (strcmp(type, "input") == 0) {
		json_t *text = json_object_get(o, "text");
		size_t n = json_string_length(text);
		int r;
		if (!json_is_string(text) || json_object_size(o) != 2 || n > SESSPROTO_MAX_TEXT ||
		    memchr(json_string_value(text), '\0', n)) {
			send_obj(v, error_msg("\"input\" takes one string \"text\""));
			goto out;
		}
		s->rec.last_input = s->rec.last_activity = now_ms();
		s->refusal_logged = false;
		s->retry_at = 0;
		/* The registry needs the last input only for the kill timer
		 * after a restart (hours): writing it on every line typed cost
		 * a database transaction per round trip (benchmarks.md).
		 * sessions_stop() writes what is newer. */
		if (s->rec.last_input - s->persisted_input >= INPUT_PERSIST_MS)
			persist(s);
		/* Re-encoded from the checked fields: nothing else goes on. */
		json_t *frame =
		    json_pack("{s:s, s:s%}", "type", "input", "text", json_string_value(text), n);
		if (s->greeted) {
			r = send_frame(s, frame);
		} else {
			r = queue_frame(s, frame);
			if (r == 0 && (s->rec.state == DB_SESSION_SUSPENDED ||
			               s->rec.state == DB_SESSION_EXITED))
				session_open(s);
		}
		if (r < 0)
			send_obj(v, error_msg(r == -ENOBUFS ? "too much input waiting for the session"
			                                    : "cannot reach the session"));
		schedule(s);
	} else if (strcmp(type, "interrupt") == 0) {
		/* An interrupt also drops input still waiting to be sent. */
		free(s->queue);
		s->queue = NULL;
		s->queue_len = 0;
		if (s->greeted)
			send_frame(s, json_pack("{s:s}", "type", "interrupt"));
	} else if (strcmp(type, "plot-size") == 0 || strcmp(type, "plot-export") == 0) {
		/* Checked by the protocol's own decoder (types, ranges, id) and
		 * re-encoded from its fields. Before rsession's hello there is
		 * no plot to size: the page sends its size again on "running". */
		struct sessproto_msg m;
		if (sessproto_decode(json, len, SESSPROTO_TO_SESSION, &m, msg, sizeof(msg)) < 0) {
			send_obj(v, error_msg(msg));
			goto out;
		}
		if (s->greeted)
			send_frame(s, m.type == SP_PLOT_SIZE
			                  ? json_pack("{s:s, s:i, s:i, s:f}", "type", "plot-size",
			                              "width", m.width, "height", m.height, "dpr", m.dpr)
			                  : json_pack("{s:s, s:s, s:i, s:i, s:f}", "type", "plot-export",
			                              "id", m.id, "width", m.width, "height", m.height,
			                              "dpr", m.dpr));
		sessproto_msg_free(&m);
	} else if (strcmp(type, "ack") == 0) {
		const char *id = json_string_value(json_object_get(o, "notification"));
		int r;
		if (!id || !id[0] || strlen(id) > DB_NOTIFICATION_ID_MAX) {
			send_obj(v, error_msg("\"ack\" takes a string \"notification\""));
			goto out;
		}
		r = s->ss->hooks.ack ? s->ss->hooks.ack(s->ss->hooks.arg, s->rec.user, id) : -ENOENT;
		if (r == -ENOENT)
			send_obj(v, error_msg("no such notification"));
		else if (r < 0)
			send_obj(v, error_msg("cannot record the acknowledgement now"));
	} else {
		snprintf(msg, sizeof(msg), "unknown message type '%.64s'", type);
		send_obj(v, error_msg(msg));
	}
out:
	json_decref(o);
}

/* ---- the registry -------------------------------------------------------------------------- */

static struct session *session_new(struct sessions *ss)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ss = ss;
	if (uv_timer_init(ss->d.loop, &s->timer) < 0 ||
	    uv_timer_init(ss->d.loop, &s->exit_timer) < 0 ||
	    uv_timer_init(ss->d.loop, &s->stall) < 0) {
		free(s);
		return NULL;
	}
	s->timer.data = s;
	s->exit_timer.data = s;
	s->stall.data = s;
	s->timers_open = true;
	if (ss->tail)
		ss->tail->next = s;
	else
		ss->head = s;
	ss->tail = s;
	return s;
}

/* Every few seconds: the CPU time and memory of running sessions, from
 * the monitor (this process may not read other users' /proc entries
 * fully), for the API, the dashboard and the metrics. */
static void on_stats_timer(uv_timer_t *t)
{
	struct sessions *ss = t->data;
	pid_t pids[256];
	size_t n = 0;
	struct monbuf req;

	for (struct session *s = ss->head; s && n < 256; s = s->next)
		if (session_pid(s) && s->greeted)
			pids[n++] = session_pid(s);
	if (n == 0)
		return;
	if (monitor_client_request_stats(ss->d.mc, pids, n, &req) < 0)
		return;
	ss->stats_req = req.id;
	monitor_client_send(ss->d.mc, &req);
}

/* Twice the CPUs this process may run on (R's start is mostly CPU, with
 * some reading of libraries), and at least 4. */
static unsigned start_slots(void)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	return n > 2 ? 2 * (unsigned)n : 4;
}

int sessions_new(const struct sessions_deps *deps, struct sessions **ret)
{
	struct sessions *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return -ENOMEM;
	ss->d = *deps;
	ss->max_starts = start_slots();
	if (uv_timer_init(deps->loop, &ss->stats_timer) == 0) {
		ss->stats_timer.data = ss;
		ss->stats_open = true;
		uv_timer_start(&ss->stats_timer, on_stats_timer, STATS_EVERY_MS, STATS_EVERY_MS);
	}
	*ret = ss;
	return 0;
}

struct session *sessions_find(struct sessions *ss, const char *id)
{
	for (struct session *s = ss->head; s; s = s->next)
		if (strcmp(s->rec.id, id) == 0)
			return s;
	return NULL;
}

static int new_id(char out[DB_SESSION_ID_MAX + 1])
{
	unsigned char b[8];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int sessions_create(struct sessions *ss, const char *user, struct session **ret,
                    bool *ret_existing)
{
	struct session *s;
	int r;

	*ret_existing = false;
	if (!conf_bool(rs_conf(ss), RSERVER_SERVER_MULTIPLE_SESSIONS)) {
		for (s = ss->head; s; s = s->next)
			if (strcmp(s->rec.user, user) == 0 && s->rec.state != DB_SESSION_EXITED) {
				*ret = s;
				*ret_existing = true;
				return 0;
			}
	}
	s = session_new(ss);
	if (!s)
		return -ENOMEM;
	do
		r = new_id(s->rec.id);
	while (r == 0 && sessions_find(ss, s->rec.id) != s);
	if (r < 0 || DB_FIELD_SET(s->rec.user, user) < 0)
		return r < 0 ? r : -EINVAL;
	s->rec.created = now_ms();
	s->rec.state = DB_SESSION_EXITED;
	lookup_uid(s);
	r = launch(s, false);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}

int sessions_recover(struct sessions *ss)
{
	struct db_session *rows = NULL;
	size_t n = 0;
	int64_t forget_before = now_ms() - (int64_t)EXITED_KEEP_DAYS * 86400000;
	int r = db_session_list(ss->d.db, NULL, &rows, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct db_session *row = &rows[i];
		struct session *s;
		int64_t last = row->last_activity > row->started ? row->last_activity : row->started;

		if (row->state == DB_SESSION_EXITED && last < forget_before) {
			db_session_delete(ss->d.db, row->id);
			continue;
		}
		s = session_new(ss);
		if (!s) {
			r = -ENOMEM;
			break;
		}
		s->rec = *row;
		lookup_uid(s);
		resolve_timeouts(s);
		if (row->state == DB_SESSION_SUSPENDED || row->state == DB_SESSION_EXITED)
			continue;
		/* Starting, running or suspending when the last rserver stopped. */
		if (row->pid > 0 && row->pid_start_time &&
		    !same_process(s, row->pid, row->pid_start_time)) {
			/* Gone while we were away: its launcher's record says how. */
			exit_poll_start(s, true);
			continue;
		}
		s->recovering = true;
		if (conn_open(s) < 0)
			exit_poll_start(s, true);
	}
	db_session_list_free(rows);
	return r;
}

void sessions_set_profiles(struct sessions *ss, struct profiles *p)
{
	if (ss->profiles) {
		profiles_free(ss->profiles);
		free(ss->profiles);
	}
	ss->profiles = p;
	sessions_reload(ss);
}

void sessions_reload(struct sessions *ss)
{
	for (struct session *s = ss->head; s; s = s->next) {
		char before[DB_PROFILE_MAX + 1];
		snprintf(before, sizeof(before), "%s", s->rec.profile);
		resolve_timeouts(s);
		if (strcmp(before, s->rec.profile) != 0) {
			log_info("Session %s of %s: now %s", s->rec.id, s->rec.user, s->rec.profile);
			persist(s);
		}
		schedule(s);
	}
}

void sessions_stop(struct sessions *ss)
{
	if (!ss || ss->stopping)
		return;
	ss->stopping = true;
	if (ss->stats_open) {
		uv_close((uv_handle_t *)&ss->stats_timer, NULL);
		ss->stats_open = false;
	}
	for (struct session *s = ss->head; s; s = s->next) {
		/* A session still waiting for a start slot was never started:
		 * the registry gets back what it was, so that the next rserver
		 * offers a suspended session's work again. */
		if (s->launch_queued) {
			s->rec.state = s->resuming ? DB_SESSION_SUSPENDED : DB_SESSION_EXITED;
			snprintf(s->rec.exit_reason, sizeof(s->rec.exit_reason), "%s",
			         s->resuming ? "suspended (rserver stopped before the resume)"
			                     : "not started: rserver stopped first");
			persist(s);
		}
		/* The row is current but for the last input (written at most
		 * every INPUT_PERSIST_MS). */
		if (s->rec.last_input != s->persisted_input)
			persist(s);
		request_finish(&s->req_suspend, false, "rserver is stopping");
		request_finish(&s->req_quit, false, "rserver is stopping");
		conn_release(s);
		if (s->timers_open) {
			uv_close((uv_handle_t *)&s->timer, NULL);
			uv_close((uv_handle_t *)&s->exit_timer, NULL);
			uv_close((uv_handle_t *)&s->stall, NULL);
			s->timers_open = false;
		}
	}
}

void sessions_free(struct sessions *ss)
{
	struct session *s, *next;

	if (!ss)
		return;
	for (s = ss->head; s; s = next) {
		next = s->next;
		for (size_t i = 0; i < s->nviewers; i++)
			s->viewers[i]->session = NULL;
		free(s->viewers);
		scrollback_clear(s);
		free(s->sb);
		free(s->queue);
		free(s->history);
		free(s);
	}
	if (ss->profiles) {
		profiles_free(ss->profiles);
		free(ss->profiles);
	}
	free(ss->start_queue);
	free(ss);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *time_json(int64_t ms)
{
	char buf[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

bool session_stats(const struct session *s, double *ret_cpu_percent,
                   unsigned long long *ret_rss_bytes)
{
	if (!s->have_stats || !session_pid(s))
		return false;
	*ret_cpu_percent = s->cpu_percent;
	*ret_rss_bytes = s->rss_bytes;
	return true;
}

json_t *session_history_json(const struct session *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && s->history && i < s->hist_n; i++) {
		size_t k = (s->hist_next + HISTORY_SAMPLES - s->hist_n + i) % HISTORY_SAMPLES;
		json_array_append_new(a, json_pack("{s:I, s:f, s:I}", "t",
		                                   (json_int_t)(s->history[k].at / 1000),
		                                   "cpu_percent", (double)s->history[k].cpu_percent,
		                                   "rss_bytes", (json_int_t)s->history[k].rss_bytes));
	}
	return a;
}

const char *session_id(const struct session *s)
{
	return s->rec.id;
}

const char *session_user(const struct session *s)
{
	return s->rec.user;
}

enum db_session_state session_state(const struct session *s)
{
	return s->rec.state;
}

pid_t session_pid(const struct session *s)
{
	bool live = s->rec.state != DB_SESSION_SUSPENDED && s->rec.state != DB_SESSION_EXITED;

	return live && s->rec.pid > 0 ? s->rec.pid : 0;
}

struct session *sessions_first(struct sessions *ss)
{
	return ss->head;
}

struct session *session_next(const struct session *s)
{
	return s->next;
}

struct session *sessions_find_pid(struct sessions *ss, pid_t pid)
{
	for (struct session *s = ss->head; s; s = s->next)
		if (pid > 0 && session_pid(s) == pid)
			return s;
	return NULL;
}

json_t *session_json(const struct session *s, bool admin)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o}", "id", s->rec.id, "user",
	                      s->rec.user, "pid",
	                      session_pid(s) ? json_integer(session_pid(s)) : json_null(),
	                      "state", db_session_state_name(s->rec.state), "started",
	                      time_json(s->rec.started), "last_activity",
	                      time_json(s->rec.last_activity), "exit_reason",
	                      s->rec.exit_reason[0] ? json_string(s->rec.exit_reason) : json_null());

	bool stats = s->have_stats && session_pid(s);

	if (o)
		json_object_set_new(o, "rss_bytes",
		                    stats ? json_integer((json_int_t)s->rss_bytes) : json_null());
	if (o && admin) {
		json_object_set_new(o, "cpu_percent",
		                    stats ? json_real(s->cpu_percent) : json_null());
		json_object_set_new(o, "profile", json_string(s->rec.profile));
		json_object_set_new(o, "last_input", time_json(s->rec.last_input));
	}
	return o;
}

json_t *sessions_list_json(struct sessions *ss, const char *user, bool admin)
{
	json_t *a = json_array();

	for (struct session *s = ss->head; a && s; s = s->next)
		if (!user || strcmp(s->rec.user, user) == 0)
			if (json_array_append_new(a, session_json(s, admin)) < 0) {
				json_decref(a);
				return NULL;
			}
	return a;
}
