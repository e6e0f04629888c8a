/*
 * The network process's side of the monitor protocol (and the tests').
 *
 * Requests are built with monitor_client_request_*(), sent, and answered in
 * order of completion (not of sending: a slow PAM answer does not hold up a
 * launch); replies carry the request id. monitor_client_call() does one
 * request synchronously, for tests and simple callers; an event loop feeds
 * received bytes to monitor_client_feed() and takes replies with
 * monitor_client_next().
 */
#ifndef RSERVER_MONITOR_CLIENT_H
#define RSERVER_MONITOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "monproto.h"

struct monitor_client {
	int fd;
	uint32_t next_id;
	uint8_t *rbuf;
	size_t rlen, rcap;
};

struct mon_auth_reply {
	enum mon_auth_result result;
	char *user;    /* canonical name on success */
	char *message; /* for the log, never for the browser */
};

struct mon_launch_reply {
	pid_t pid; /* 0: failed */
	char *socket_path;
	char *step; /* the launcher step that failed */
	char *message;
};

/* MON_SIGNAL_REP, MON_RELOAD_REP and MON_SIGNOUT_REP. */
struct mon_signal_reply {
	int result; /* 0 or -errno */
	char *message;
};

struct mon_stat {
	pid_t pid;
	uint64_t cpu_ms;
	uint64_t rss_bytes;
};

struct mon_reply {
	enum mon_type type;
	uint32_t id;
	union {
		struct mon_auth_reply auth;
		struct mon_launch_reply launch;
		struct mon_signal_reply signal;
		struct mon_signal_reply reload;
		struct mon_signal_reply signout;
		struct {
			struct mon_stat *stats;
			size_t n;
		} stats;
	};
};

void monitor_client_init(struct monitor_client *mc, int fd);
void monitor_client_free(struct monitor_client *mc);

/* Build a request (and its id) in *req; send with monitor_client_send(). */
int monitor_client_request_auth(struct monitor_client *mc, const char *service, const char *user,
                                const char *password, struct monbuf *req);
int monitor_client_request_launch(struct monitor_client *mc, const char *user,
                                  const char *session_id, bool resume, struct monbuf *req);
int monitor_client_request_signal(struct monitor_client *mc, const char *user,
                                  const char *session_id, pid_t pid, int sig, struct monbuf *req);
int monitor_client_request_stats(struct monitor_client *mc, const pid_t *pids, size_t n,
                                 struct monbuf *req);
/* Asks the monitor to re-read the configuration files (on SIGHUP). */
int monitor_client_request_reload(struct monitor_client *mc, struct monbuf *req);
/* Tells the monitor that user signed out, so that it wipes the sign-in
 * password it keeps for them (auth-pam-sessions-use-password). The reply
 * (MON_SIGNOUT_REP) has result 0 and says whether one was kept. */
int monitor_client_request_signout(struct monitor_client *mc, const char *user,
                                   struct monbuf *req);

/* Writes the whole request (blocking) and frees it. */
int monitor_client_send(struct monitor_client *mc, struct monbuf *req);

/* Received bytes; then take complete replies. 1 = a reply, 0 = need more,
 * negative = protocol error (drop the monitor). */
int monitor_client_feed(struct monitor_client *mc, const void *data, size_t len);
int monitor_client_next(struct monitor_client *mc, struct mon_reply *ret);
void mon_reply_free(struct mon_reply *r);

/*
 * Sends req and waits up to timeout_ms for its reply (other replies that
 * arrive meanwhile are discarded). -ETIMEDOUT, -EPIPE (monitor gone).
 */
int monitor_client_call(struct monitor_client *mc, struct monbuf *req, int timeout_ms,
                        struct mon_reply *ret);

#endif
