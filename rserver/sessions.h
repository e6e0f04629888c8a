/*
 * The session registry of the network process: every user's sessions, the
 * connection to each running rsession, the browsers watching it, and the
 * idle and kill deadlines.
 *
 * The registry is kept in sqlite (db.h) so that a restarted rserver finds
 * its sessions again; in memory each session also has what only a live
 * process knows: its socket to rsession, whether R is busy, its viewers.
 *
 * A session moves through
 *
 *   starting ──► running ──► suspending ──► suspended ──► (starting) ...
 *       │           │                                         
 *       └───────────┴──────► exited ──► (starting: opened again)
 *
 * Launches go through the root monitor (monitor-client.h); replies come
 * back to sessions_monitor_reply(). The network process relays console
 * messages between viewers (browser WebSockets, behind the small
 * session_viewer interface so this module knows nothing of lws) and
 * rsession, and watches rsession's prompt and busy messages only to know
 * when R is idle; it never interprets R.
 *
 * Everything runs on the network process's libuv loop, single-threaded.
 */
#ifndef RSERVER_SESSIONS_H
#define RSERVER_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "db.h"
#include "monitor-client.h"
#include "profiles.h"
#include "settings.h"

struct sessions;
struct session;

/* A browser tab (or any console client) watching one session. */
struct session_viewer {
	/* Queues one JSON text message for the client. */
	void (*send)(struct session_viewer *v, const char *json, size_t len);
	/* Bytes queued and not yet sent (for flow control; may be NULL). */
	size_t (*queued)(struct session_viewer *v);
	/* Disconnects a viewer that has stopped reading (may be NULL). */
	void (*drop)(struct session_viewer *v);
	struct session *session; /* set by session_attach() */
};

struct sessions_deps {
	uv_loop_t *loop;
	const struct settings *settings; /* live: reloads change its values */
	struct db *db;
	struct monitor_client *mc; /* requests go out through it */
};

int sessions_new(const struct sessions_deps *deps, struct sessions **ret);

/* What other modules hear from consoles (notices.h). */
struct sessions_hooks {
	/* A viewer attached (after the session's own greeting). */
	void (*attached)(void *arg, struct session_viewer *v, const char *user);
	/* The user acknowledged a notice: 0, -ENOENT (no such notice), -EIO. */
	int (*ack)(void *arg, const char *user, const char *id);
	void *arg;
};
void sessions_set_hooks(struct sessions *ss, const struct sessions_hooks *hooks);

/* Calls fn for every viewer of every session of user (of everyone for
 * NULL). fn must not attach or detach viewers. */
void sessions_each_viewer(struct sessions *ss, const char *user,
                          void (*fn)(struct session_viewer *v, const char *user, void *arg),
                          void *arg);

/*
 * Reads the registry and reconnects to every session that is still
 * running: the pid must still be the same process (start time from /proc)
 * of the same user, and rsession's greeting must name the session. The
 * others are marked from their launcher's exit record, or as ended.
 */
int sessions_recover(struct sessions *ss);

/* Start slots (sessions.c): starts in flight, starts waiting for a slot,
 * and the number of slots. */
struct sessions_starts {
	unsigned in_flight, queued, slots;
};
void sessions_starts(const struct sessions *ss, struct sessions_starts *ret);

/*
 * Takes ownership of a new profiles table (at start and on reload) and
 * recomputes every session's timeouts and deadlines.
 */
void sessions_set_profiles(struct sessions *ss, struct profiles *p);

/* Settings or profiles changed: timeouts are looked up again. */
void sessions_reload(struct sessions *ss);

/* Closes every connection and timer; the loop then drains and
 * sessions_free() releases the rest. */
void sessions_stop(struct sessions *ss);
void sessions_free(struct sessions *ss);

/* A reply from the monitor to one of this module's requests: returns
 * true when it was one (and has been handled). */
bool sessions_monitor_reply(struct sessions *ss, const struct mon_reply *r);

/*
 * Creates a session for user and starts it. With server-multiple-sessions=0
 * a user who has a session that has not exited gets that one, and
 * *ret_existing is set. -EIO (registry), -EAGAIN (the monitor is
 * unreachable), -ENOMEM.
 */
int sessions_create(struct sessions *ss, const char *user, struct session **ret,
                    bool *ret_existing);

struct session *sessions_find(struct sessions *ss, const char *id);

/* The sessions of user (every user's for NULL) as a JSON array of the
 * shape in SPEC.md; admin adds cpu/rss/profile fields. NULL on OOM. */
json_t *sessions_list_json(struct sessions *ss, const char *user, bool admin);

const char *session_id(const struct session *s);
const char *session_user(const struct session *s);
enum db_session_state session_state(const struct session *s);
/* rsession's pid while starting, running or suspending; 0 otherwise. */
pid_t session_pid(const struct session *s);

/* Every session, oldest first: for (s = sessions_first(ss); s; s = session_next(s)). */
struct session *sessions_first(struct sessions *ss);
struct session *session_next(const struct session *s);

/* The session whose rsession has this pid, or NULL. */
struct session *sessions_find_pid(struct sessions *ss, pid_t pid);
json_t *session_json(const struct session *s, bool admin);
/* The latest CPU use and resident memory of a running session; false when
 * not running or not measured yet. */
bool session_stats(const struct session *s, double *ret_cpu_percent,
                   unsigned long long *ret_rss_bytes);
/* CPU and memory samples of the last hour: [{"t": unix seconds,
 * "cpu_percent", "rss_bytes"}], oldest first. */
json_t *session_history_json(const struct session *s);

/*
 * Opening a session: a suspended one resumes, an exited one (or one that
 * never started) starts afresh; a starting or running one is left alone.
 */
int session_open(struct session *s);

/* Viewers: attach sends the current state (and recent output, and the
 * prompt) to v; detach must be called before v goes away. */
void session_attach(struct session *s, struct session_viewer *v);
void session_detach(struct session_viewer *v);

/*
 * Flow control: while a viewer has more than SESSION_VIEWER_HIGH bytes
 * queued, the session's output is not read from rsession (which buffers
 * it, and R never blocks on it); the viewer calls session_viewer_drained()
 * when its queue has gone below SESSION_VIEWER_LOW. A viewer that stays
 * full for SESSION_VIEWER_STALL_MS is dropped so that the others go on.
 */
#define SESSION_VIEWER_HIGH     (4u * 1024 * 1024)
#define SESSION_VIEWER_LOW      (1u * 1024 * 1024)
#define SESSION_VIEWER_STALL_MS 15000
void session_viewer_drained(struct session_viewer *v);

/*
 * A message from a viewer (browser JSON text): "input", "interrupt" or
 * "ack". Anything else, or malformed JSON, is answered on v with an
 * "error" message and otherwise ignored.
 */
void session_viewer_message(struct session_viewer *v, const char *json, size_t len);

/*
 * Asks the session to suspend (force: interrupt R first) or quit. done is
 * called once with ok and, when refused, rsession's reason; it may be
 * called before this returns (not running). At most one request of each
 * kind may be outstanding: a second gets -EBUSY. cancel is for a caller
 * that goes away before the answer (an HTTP connection closed).
 */
typedef void (*session_done_fn)(void *arg, bool ok, const char *error);
int session_suspend(struct session *s, bool force, session_done_fn done, void *arg);
int session_quit(struct session *s, session_done_fn done, void *arg);
void session_request_cancel(struct session *s, void *arg);

/*
 * Kills the session's rsession (SIGKILL, through the monitor, which checks
 * the pid is that user's rsession); reason becomes its exit_reason
 * ("killed by an administrator"). -ESRCH when it is not running. The exit
 * itself is learned as for any exit.
 */
int session_kill(struct session *s, const char *reason);

#endif
