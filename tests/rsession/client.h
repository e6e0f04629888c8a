/*
 * A small client library for the rsession integration tests: start an
 * rsession child with a clean environment, connect to its unix socket, send
 * protocol messages and wait for expected ones with deadlines.
 *
 * Two nouns live here. A `struct child` is a process this program started
 * (rsession, or a forked helper); every child is also recorded in a
 * process-wide table so that child_kill_all() can SIGKILL and reap each one
 * by pid at the end of a test, whatever happened in between, and so that
 * the atexit and fatal-signal handlers can do the same.
 *
 * A `struct client` is one connection to a session. Every received message
 * updates the client's view (output text accumulated per stream since the
 * last client_clear(), last prompt, busy flag, last state, the hello, the
 * last plot and help messages) and
 * is appended, with every sent message, to a trace printed when an
 * expectation fails, so that a failing test shows what the session did.
 *
 * Functions return 0 (or a positive count) on success and negative errno
 * values on failure: -ETIMEDOUT when a deadline passed, -ECONNRESET when the
 * session closed the connection, -EBADMSG when it sent something that does
 * not decode. Expectation helpers print what they waited for, and the
 * trace, to stderr when they fail.
 */
#ifndef RSERVER_TESTS_CLIENT_H
#define RSERVER_TESTS_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sessproto.h"

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* When the running test started (now_ms()), for say(). */
extern int64_t test_t0;

/* snprintf that treats truncation as a bug in the test: every path and
 * snippet in the suites fits by construction. */
void xsnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A progress line with the time since the test started. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable NUL-terminated byte buffer. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

void buf_append(struct buf *b, const char *s, size_t n);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* The contents, "" when empty (never NULL). */
const char *buf_str(const struct buf *b);

/* ---- processes ---- */

struct child {
	pid_t pid;               /* 0 when none; the exit status is kept in client.c's table */
	char log_path[PATH_MAX]; /* the child's stdout and stderr, "" if inherited */
};

/*
 * Builds a clean environment for an rsession child from an allow-list:
 * HOME, XDG_DATA_HOME (left out when xdg_data_home is NULL), TMPDIR (left
 * out when NULL), PATH, LANG=C.UTF-8, USER and LOGNAME of the effective uid,
 * and the sanitizer option variables if this process has them.
 */
char **child_env_new(const char *home, const char *xdg_data_home, const char *tmpdir);
void child_env_free(char **env);

/*
 * Forks and execs argv[0] with exactly envp. The child gets /dev/null as
 * stdin, log_path (appended to, created 0600) as stdout and stderr, fd3 as
 * descriptor 3 when fd3 >= 0 (the inherited listening socket of rserver's
 * launch path), no other descriptors, its own process group, and SIGKILL
 * when this process dies.
 */
int child_spawn(struct child *ch, char *const argv[], char *const envp[], const char *log_path,
                int fd3);

/* Records an already forked pid (a helper process) as a child. */
void child_adopt(struct child *ch, pid_t pid);

/* Reaps ch if it has exited; true once reaped. */
bool child_poll(struct child *ch);

/* Waits up to timeout_ms for ch to exit and reaps it: 0 or -ETIMEDOUT. */
int child_wait(struct child *ch, int timeout_ms);

/*
 * The exit status in one number: the exit code (0..255) for a normal exit,
 * 1000 + signal number for a death by signal, -1 while not reaped.
 */
int child_exit_code(const struct child *ch);

/* "exit 90", "signal 9", "running" */
const char *child_status_str(const struct child *ch, char *buf, size_t size);

/* SIGKILLs ch (and its process group) unless reaped, and reaps it. */
void child_kill(struct child *ch);

/* child_kill() for every child not reaped yet, by pid. */
void child_kill_all(void);

/* Prints the last max bytes of the child's log to stderr. */
void child_print_log(const struct child *ch, size_t max);

/* ---- clients ---- */

struct client {
	char name[32];
	int fd; /* -1 when not connected */
	struct frame_reader fr;
	bool eof;                     /* the session closed the connection */
	struct buf out;               /* stdout text since client_clear() */
	struct buf err;               /* stderr text since client_clear() */
	struct buf trace;             /* messages sent and received, one per line */
	json_t *hello;                /* the hello message, once received */
	json_t *plot;                 /* the last plot message received */
	json_t *help;                 /* the last help message received */
	char prompt[256];             /* the last prompt received, "" if none yet */
	bool busy;                    /* busy came after the last prompt */
	char state[32];               /* the last state received, "" if none yet */
	struct buf states;            /* every state received, space-separated */
	unsigned nrecv;               /* messages received */
	unsigned nby_type[SP_NTYPES]; /* messages received, per type */
	size_t max_output;            /* the longest output text in one message */
};

void client_init(struct client *c, const char *name);

/*
 * Connects to path, retrying while it does not exist or refuses, until
 * timeout_ms. When ch is given and exits meanwhile, fails at once with
 * -ECHILD.
 */
int client_connect(struct client *c, const char *path, struct child *ch, int timeout_ms);

/* Closes the connection and frees everything; safe to call twice. */
void client_close(struct client *c);

/* Sends obj as one frame (borrowed). */
int client_send_json(struct client *c, json_t *obj);

/* Sends json_pack(fmt, ...) as one frame, e.g. ("{s:s}", "type", "status"). */
int client_send_pack(struct client *c, const char *fmt, ...);

/* Sends bytes as they are (for malformed frames). */
int client_send_raw(struct client *c, const void *data, size_t len);

/* Sends {"type": type}. */
int client_send_type(struct client *c, const char *type);

/* Forgets accumulated stdout and stderr text. */
void client_clear(struct client *c);

/* client_clear(), then sends {"type":"input","text":text}. */
int client_run(struct client *c, const char *text);

/*
 * Receives one message, waiting up to timeout_ms: 1 and *ret (to be freed
 * with sessproto_msg_free; ret may be NULL), 0 on timeout, -ECONNRESET when
 * the session closed the connection, -EBADMSG/-EPROTO/-EMSGSIZE when it sent
 * something invalid.
 */
int client_recv(struct client *c, int timeout_ms, struct sessproto_msg *ret);

/*
 * The expectations read messages until the one described arrives (0), the
 * deadline passes (-ETIMEDOUT), or the connection ends. ret, when not NULL,
 * receives a new reference to the matching message's JSON.
 */
int client_expect_type(struct client *c, const char *type, int timeout_ms, json_t **ret);
int client_expect_prompt(struct client *c, const char *prompt, int timeout_ms);
/* Succeeds at once if the text was already accumulated since client_clear(). */
int client_expect_output(struct client *c, const char *stream, const char *needle, int timeout_ms);
int client_expect_state(struct client *c, const char *state, int timeout_ms, json_t **ret);
int client_expect_result(struct client *c, const char *request, int timeout_ms, json_t **ret);
/* Reads (and accumulates) until the session closes the connection. */
int client_expect_closed(struct client *c, int timeout_ms);

/* Expects the hello first, then reads up to the top-level prompt "> ". */
int client_attach(struct client *c, int timeout_ms);

/* client_run(text), then waits for the next top-level prompt "> ". */
int client_run_wait(struct client *c, const char *text, int timeout_ms);

/* Sends {"type": type} and waits for the answer of type reply. */
int client_request(struct client *c, const char *type, const char *reply, int timeout_ms,
                   json_t **ret);

/* Prints the last max bytes of the trace to stderr. */
void client_dump_trace(const struct client *c, size_t max);

#endif
