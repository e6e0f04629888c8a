/*
 * The protocol between rserver's network process and its root monitor,
 * over a socketpair: one header declares the messages, the version and the
 * limits (after OpenSSH's monitor.h and OpenSMTPD's imsg).
 *
 * A message is
 *   u32 length (big-endian, of everything after these 4 bytes)
 *   u16 version (MONPROTO_VERSION)
 *   u16 type
 *   u32 request id (echoed in the answer)
 *   payload: fields in a fixed order per type, written and read with the
 *            typed mon_put_* / mon_get_* helpers
 * Decoding is strict: a short field, a string over its cap or containing a
 * NUL, an unknown type, a wrong version, or bytes left after the last field
 * (mon_end) is an error, and the peer is dropped.
 */
#ifndef RSERVER_MONPROTO_H
#define RSERVER_MONPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: MON_RELOAD_REQ and MON_RELOAD_REP, which renumbered the replies.
 * 3: MON_SIGNOUT_REQ and MON_SIGNOUT_REP, renumbering them again. */
#define MONPROTO_VERSION  3
#define MONPROTO_HEADER   12 /* length, version, type, id */
#define MONPROTO_MAX      (64 * 1024)
#define MONPROTO_MAX_STR  4096
#define MONPROTO_MAX_PIDS 4096

enum mon_type {
	/* network -> monitor */
	MON_AUTH_REQ = 1, /* str service, str user, str password */
	MON_LAUNCH_REQ,   /* str user, str session_id, u32 flags (MON_LAUNCH_RESUME) */
	MON_SIGNAL_REQ,   /* str user, str session_id, i32 pid, i32 signal */
	MON_STATS_REQ,    /* u32 n, n x i32 pid */
	MON_RELOAD_REQ,   /* (nothing): re-read the configuration files */
	MON_SIGNOUT_REQ,  /* str user: the user signed out; forget their password */
	/* monitor -> network */
	MON_AUTH_REP,    /* u32 result (enum mon_auth_result), str user, str message */
	MON_LAUNCH_REP,  /* i32 pid (0: failed), str socket path, str step, str message */
	MON_SIGNAL_REP,  /* i32 result (0 or -errno), str message */
	MON_STATS_REP,   /* u32 n, n x (i32 pid, u64 cpu_ms, u64 rss_bytes) */
	MON_RELOAD_REP,  /* i32 result (0 or -errno), str message */
	MON_SIGNOUT_REP, /* i32 result (0 or -errno), str message */
	MON_TYPE_MAX
};

#define MON_LAUNCH_RESUME 0x1u

/*
 * The step of a MON_LAUNCH_REP (pid 0) that means "sign in again": the
 * launch needs the user's sign-in password (auth-pam-sessions-use-password
 * with PAM sessions on) and the monitor keeps none for them, because its
 * lifetime (auth-pam-sessions-password-lifetime-minutes, counted from the
 * sign-in) has passed, the user signed out, or rserver restarted since.
 * The message says which, in words for the user. Nothing was started; the
 * same launch succeeds after a sign-in (MON_AUTH_REQ) of that user.
 */
#define MON_LAUNCH_STEP_SIGN_IN "sign-in"

/* Sign-in outcomes; every refusal has its own logged reason. */
enum mon_auth_result {
	MON_AUTH_OK,
	MON_AUTH_BAD_PASSWORD,
	MON_AUTH_UNKNOWN_USER,
	MON_AUTH_ACCOUNT_EXPIRED,
	MON_AUTH_PASSWORD_EXPIRED,
	MON_AUTH_DENIED,       /* pam_acct_mgmt refused: locked, time, access */
	MON_AUTH_ERROR,        /* PAM failed */
	MON_AUTH_UID_TOO_LOW,  /* below auth-minimum-user-id (or root) */
	MON_AUTH_NOT_IN_GROUP, /* not in auth-required-user-group */
	MON_AUTH_TIMEOUT,      /* PAM did not answer in time */
	MON_AUTH_RESULT_MAX
};

const char *mon_auth_result_name(enum mon_auth_result r);
const char *mon_type_name(enum mon_type t);

/* A message being built or read. */
struct monbuf {
	uint8_t *data;
	size_t len, cap;
	size_t pos; /* read position */
	uint16_t type;
	uint32_t id;
	bool secret; /* holds a password: wiped when freed */
};

/* Starts a message; the header is filled in by mon_finish(). */
int mon_begin(struct monbuf *b, enum mon_type type, uint32_t id);
int mon_put_u32(struct monbuf *b, uint32_t v);
int mon_put_i32(struct monbuf *b, int32_t v);
int mon_put_u64(struct monbuf *b, uint64_t v);
int mon_put_str(struct monbuf *b, const char *s);
/* Writes the length into the header; the message is b->data, b->len. */
int mon_finish(struct monbuf *b);

/* Frees (wiping first when b->secret). */
void mon_free(struct monbuf *b);

/*
 * Takes one complete message off the front of a receive buffer. Returns 1
 * with *ret filled (payload copied, header parsed, pos at the payload),
 * 0 when more bytes are needed, -EMSGSIZE, -EPROTO (version, unknown type)
 * or -ENOMEM. The consumed bytes are removed from buf.
 */
int mon_take(uint8_t *buf, size_t *len, struct monbuf *ret);

/* Readers: -EBADMSG on a short field or bad string. *ret untouched then. */
int mon_get_u32(struct monbuf *b, uint32_t *ret);
int mon_get_i32(struct monbuf *b, int32_t *ret);
int mon_get_u64(struct monbuf *b, uint64_t *ret);
/* A malloc'd NUL-terminated copy; strings may not contain NUL bytes. */
int mon_get_str(struct monbuf *b, char **ret);
/* -EBADMSG if bytes remain after the last field. */
int mon_end(const struct monbuf *b);

/* A decoded request (network -> monitor). */
struct mon_request {
	enum mon_type type;
	uint32_t id;
	char *service, *user, *password, *session_id;
	uint32_t flags;
	int32_t pid, sig;
	int32_t *pids;
	size_t npids;
};

/*
 * Decodes a request taken with mon_take(): exactly the fields of its type,
 * nothing after them, flags only MON_LAUNCH_RESUME, at most
 * MONPROTO_MAX_PIDS pids. -EBADMSG otherwise (-ENOMEM). A reply type is
 * not a request.
 */
int mon_decode_request(struct monbuf *m, struct mon_request *ret);

/* Frees a request, wiping the password. Accepts NULL. */
void mon_request_free(struct mon_request *r);

#endif
