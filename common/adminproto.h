/*
 * The admin protocol between the rstudio-server CLI and rserver's network
 * process, over the unix socket <server-data-dir>/admin.sock: one header
 * for the frame format, the commands, their arguments, their answers and
 * the limits.
 *
 * A frame is
 *
 *   u32 length (big-endian, of everything after these 4 bytes)
 *   u16 version (big-endian, ADMINPROTO_VERSION)
 *   a JSON object, UTF-8
 *
 * The client sends one request and reads one answer; it may send another
 * after that. A request is
 *
 *   {"command": "<name>", "args": {...}}     ("args" may be left out)
 *
 * and its answer
 *
 *   {"ok": bool, "error"?: string, "message"?: string, ...}
 *
 * with the fields each command lists below. The *-all commands answer one
 * result per session they acted on:
 *
 *   {"ok": bool, "results": [{"session": id, "user": name, "pid": int|null,
 *                             "ok": bool, "message": string}, ...]}
 *
 * Decoding is strict on both sides: a wrong version, an oversized frame,
 * malformed JSON, a duplicate key, an unknown command, an argument the
 * command does not take, a missing or mistyped argument, or a string over
 * its cap is an error. The server answers {"ok": false, "error": ...} and
 * then closes the connection (fail closed).
 */
#ifndef RSERVER_ADMINPROTO_H
#define RSERVER_ADMINPROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sessproto.h"

#define ADMINPROTO_VERSION   1
#define ADMINPROTO_HEADER    6             /* length + version */
#define ADMINPROTO_MAX_FRAME (1024 * 1024) /* bytes after the length */
#define ADMINPROTO_MAX_ARG   4096          /* bytes in one string argument */
#define ADMINPROTO_MAX_NAME  255           /* a user name or a session id/pid */

enum admin_command {
	ADMIN_STATUS,                /* {} -> pid, version, uptime_seconds, address, port,
	                              * sessions {state: count}, offline */
	ADMIN_LIST_SESSIONS,         /* {} -> sessions: [session JSON (SPEC.md, admin)] */
	ADMIN_SUSPEND_SESSION,       /* {session: id or pid} -> message, session? */
	ADMIN_FORCE_SUSPEND_SESSION, /* {session} -> message, session? */
	ADMIN_KILL_SESSION,          /* {session} -> message, session? */
	ADMIN_SUSPEND_ALL,           /* {user?} -> results */
	ADMIN_FORCE_SUSPEND_ALL,     /* {user?} -> results */
	ADMIN_KILL_ALL,              /* {user?} -> results */
	ADMIN_OFFLINE,               /* {message?} -> message */
	ADMIN_ONLINE,                /* {} -> message */
	ADMIN_RELOAD,                /* {} -> message */
	ADMIN_VERIFY_SESSION,        /* {user}: start a session as user, run 1+1, quit
	                              * -> message, session?, output? */
	ADMIN_NCOMMANDS
};

/* The wire name ("status", "suspend-session", ...); NULL outside the enum. */
const char *admin_command_name(enum admin_command c);

/* A decoded request. json owns everything; the typed fields borrow from it
 * (NULL when the command does not take them or they were left out). */
struct admin_request {
	enum admin_command command;
	json_t *json;
	const char *session; /* *_SESSION: a session id, or a pid in decimal */
	const char *user;    /* *_ALL (optional), VERIFY_SESSION */
	const char *message; /* OFFLINE (optional) */
};

/*
 * Decodes one request frame's JSON (after the header). On error writes the
 * reason into err and returns -EBADMSG (or -ENOMEM).
 */
int adminproto_decode_request(const char *json, size_t len, struct admin_request *ret, char *err,
                              size_t errsize);
void admin_request_free(struct admin_request *r);

/*
 * A new request object {"command": name, "args": {}}; add arguments to
 * json_object_get(req, "args"). NULL on OOM.
 */
json_t *adminproto_request_new(enum admin_command c);

/*
 * Decodes the answer to a command of type c: an object with a boolean
 * "ok", only the fields that command answers with, each of its type; a
 * failed answer ("ok": false) must carry "error". *ret is the decoded
 * object (the caller's reference). -EBADMSG with err, or -ENOMEM.
 */
int adminproto_decode_answer(enum admin_command c, const char *json, size_t len, json_t **ret,
                             char *err, size_t errsize);

/* The admin socket's frames are the frame format of sessproto.h with
 * ADMINPROTO_VERSION and ADMINPROTO_MAX_FRAME. */
static inline int adminproto_encode(const json_t *obj, char **ret_buf, size_t *ret_len)
{
	return frame_encode(obj, ADMINPROTO_VERSION, ADMINPROTO_MAX_FRAME, ret_buf, ret_len);
}

static inline void adminproto_reader_init(struct frame_reader *r)
{
	frame_reader_init_for(r, ADMINPROTO_VERSION, ADMINPROTO_MAX_FRAME);
}

#endif
