/*
 * The rserver <-> rsession protocol: one header for the frame format, the
 * message types, their fields and the limits.
 *
 * A frame on the session's unix socket is
 *
 *   u32 length (big-endian, of everything after these 4 bytes)
 *   u16 version (big-endian, SESSPROTO_VERSION)
 *   a JSON object, UTF-8
 *
 * The JSON is the console protocol of SPEC.md ("Console WebSocket"), which
 * the network process relays to browsers unchanged, plus control messages
 * only rserver sends (status, suspend, quit, history). Decoding is strict:
 * a wrong version, an oversized frame, malformed JSON, an unknown type, a
 * missing or mistyped field, or a field the type does not have is an error,
 * and the peer that sent it is dropped.
 */
#ifndef RSERVER_SESSPROTO_H
#define RSERVER_SESSPROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSPROTO_VERSION   1
#define SESSPROTO_HEADER    6                 /* length + version */
#define SESSPROTO_MAX_FRAME (4 * 1024 * 1024) /* bytes after the length */
/* Output text is cut into pieces of at most this many bytes per frame, so
 * that escaping (at most 6 bytes per byte) stays under SESSPROTO_MAX_FRAME. */
#define SESSPROTO_MAX_TEXT (512 * 1024)

/*
 * rsession's exit codes, read by rsession-launcher and rserver. q(status=N)
 * exits with N as in plain R, so these sit above the range R code uses.
 */
#define RSESSION_EXIT_OK              0  /* q() */
#define RSESSION_EXIT_FAILURE         1  /* could not start: arguments, socket, R */
#define RSESSION_EXIT_SUSPENDED       90 /* suspended to disk */
#define RSESSION_EXIT_FORCE_SUSPENDED 91 /* force-suspended: close the PAM session */
#define RSESSION_EXIT_TERMINATED      92 /* SIGTERM: clients told, nothing saved */

/* Who sends a message: the decoder accepts only the other side's types. */
enum sessproto_dir {
	SESSPROTO_TO_SESSION, /* from rserver (or a test client) */
	SESSPROTO_TO_CLIENT,  /* from rsession */
};

enum sessproto_type {
	/* to the session */
	SP_INPUT,           /* {"text": string}: console input, may hold several lines */
	SP_INTERRUPT,       /* {}: interrupt R if busy; cancel a "+" or readline prompt */
	SP_STATUS,          /* {}: answered by a "status" message */
	SP_SUSPEND,         /* {"force": bool}: answered by "result"; on success the
	                     * session exits with RSESSION_EXIT_SUSPENDED (or _FORCED) */
	SP_QUIT,            /* {"save": "default"|"yes"|"no"}: answered by "result",
	                     * then the session quits as q() would */
	SP_HISTORY,         /* {}: answered by a "history" message */
	SP_PLOT_SIZE,       /* "plot-size": {"width", "height", "dpr"}: the browser's
	                     * plot area in CSS pixels and its device pixel ratio;
	                     * plots render at width*dpr x height*dpr pixels and the
	                     * current plot is rendered again at the new size */
	SP_PLOT_EXPORT_REQ, /* "plot-export": {"id", "width", "height", "dpr"}:
	                     * render the current plot at this size once, for a
	                     * download; answered by a "plot-export" message */

	/* to the client */
	SP_HELLO,         /* {"version", "pid", "session_id", "r_version"} first */
	SP_OUTPUT,        /* {"stream": "stdout"|"stderr", "text"} */
	SP_PROMPT,        /* {"prompt": string}: R waits for input */
	SP_BUSY,          /* {}: input started running */
	SP_STATE,         /* {"state", "detail"?} */
	SP_ERROR,         /* {"message"} */
	SP_STATUS_REPLY,  /* "status": {"busy", "prompt", "prompt_kind",
	                   * "last_input", "pid", "r_version", "rss_bytes",
	                   * "session_id", "clients"} */
	SP_RESULT,        /* {"request", "ok", "error"?} */
	SP_HISTORY_REPLY, /* "history": {"lines": [string]} */
	SP_PLOT,          /* {"png", "width", "height", "dpr", "seq", "page"}: the
	                   * current plot as base64 PNG of width x height pixels;
	                   * "png" is "" when the plot device was closed. seq
	                   * counts frames, page counts pages (a frame of the
	                   * same page replaces the previous one) */
	SP_PLOT_EXPORT,   /* "plot-export": {"id", "png"?, "width"?, "height"?,
	                   * "error"?}: the answer to a plot-export request */
	SP_HELP,          /* {"title", "text"}: a help page or file.show() text
	                   * for the pager panel */

	SP_NTYPES
};

/* Limits of the plot requests, checked by the decoder: the plot area in
 * CSS pixels, the device pixel ratio, and the rendered image in pixels. */
#define SESSPROTO_PLOT_MIN_SIZE   16
#define SESSPROTO_PLOT_MAX_SIZE   8192
#define SESSPROTO_PLOT_MIN_DPR    0.25
#define SESSPROTO_PLOT_MAX_DPR    8.0
#define SESSPROTO_PLOT_MAX_PIXELS (4096 * 4096)
#define SESSPROTO_PLOT_ID_MAX     64 /* letters, digits, '-', '_' */

/* A decoded message. json owns everything; the typed fields borrow from it. */
struct sessproto_msg {
	enum sessproto_type type;
	json_t *json;
	const char *text; /* SP_INPUT, SP_OUTPUT, SP_HELP */
	size_t text_len;
	bool force;       /* SP_SUSPEND */
	const char *save; /* SP_QUIT */
	int width;        /* SP_PLOT_SIZE, SP_PLOT_EXPORT_REQ (CSS pixels) */
	int height;
	double dpr;
	const char *id; /* SP_PLOT_EXPORT_REQ, SP_PLOT_EXPORT */
};

/* Whether s is valid base64 (RFC 4648, padded; "" is valid). */
bool sessproto_base64_valid(const char *s, size_t len);

/* Encodes len bytes as padded base64 into a malloc'd NUL-terminated
 * string; NULL when out of memory. */
char *sessproto_base64(const unsigned char *data, size_t len, size_t *ret_len);

/* The wire name of a type ("input", "status", ...). */
const char *sessproto_type_name(enum sessproto_type t);

/*
 * Decodes one frame's JSON payload (after the header). On error writes the
 * reason into err and returns -EBADMSG (or -ENOMEM).
 */
int sessproto_decode(const char *json, size_t len, enum sessproto_dir dir,
                     struct sessproto_msg *ret, char *err, size_t errsize);
void sessproto_msg_free(struct sessproto_msg *m);

/*
 * Encodes obj (which must carry a valid "type") as a whole frame, header
 * included, into a malloc'd buffer. -EMSGSIZE if it would exceed the limit.
 */
int sessproto_encode(const json_t *obj, char **ret_buf, size_t *ret_len);

/*
 * True when json is an "output" message exactly as rsession writes it
 * (compact, keys type, stream, text in that order, stream "stdout" or
 * "stderr") and its text is a valid JSON string without NUL. Checked in
 * one pass without building the message: output is nearly all the bytes a
 * session sends, and rserver relays it unchanged. False says only "not in
 * that form": sessproto_decode() then decides. Never true for a message
 * sessproto_decode() refuses (tests/fuzz/fuzz-sessproto.c checks this).
 */
bool sessproto_is_output(const char *json, size_t len);

/*
 * The frame format (u32 length | u16 version | JSON), shared by the
 * session protocol and the admin socket's (adminproto.h), each with its
 * own version and size limit.
 */

/* Encodes obj as one frame of that version; -EMSGSIZE when the frame would
 * exceed max_frame bytes after the length, -EINVAL, -ENOMEM. */
int frame_encode(const json_t *obj, uint16_t version, size_t max_frame, char **ret_buf,
                 size_t *ret_len);

/* Accumulates bytes from a stream socket and cuts them into frames. */
struct frame_reader {
	char *buf;
	size_t len;
	size_t cap;
	size_t consumed; /* bytes of buf already returned as frames */
	uint16_t version;
	size_t max_frame;
};

/* A reader of the session protocol's frames. */
void frame_reader_init(struct frame_reader *r);
/* A reader of frames of another version and limit. */
void frame_reader_init_for(struct frame_reader *r, uint16_t version, size_t max_frame);
void frame_reader_free(struct frame_reader *r);

/* Appends received bytes. -ENOMEM, or -EMSGSIZE when more than two whole
 * frames' worth of bytes would be buffered (a peer cannot make us hold
 * more than one frame ahead of what we have read). */
int frame_reader_push(struct frame_reader *r, const void *data, size_t len);

/*
 * For reading straight into the reader, without a copy: frame_reader_space
 * returns room for at least want bytes at the end of the buffer (less only
 * if the two-frame bound above allows less; -EMSGSIZE if it allows none);
 * after the read, frame_reader_commit adds the n bytes that arrived there.
 */
int frame_reader_space(struct frame_reader *r, size_t want, char **ret_p, size_t *ret_n);
void frame_reader_commit(struct frame_reader *r, size_t n);
/* Gives back a buffer over keep bytes when no bytes are pending: an idle
 * peer then holds no large read buffer. */
void frame_reader_trim(struct frame_reader *r, size_t keep);

/*
 * Returns 1 and the next frame's JSON payload (valid until the next call),
 * 0 when more bytes are needed, -EMSGSIZE for a frame over the limit,
 * -EPROTO for a version other than the reader's.
 */
int frame_reader_next(struct frame_reader *r, const char **ret_json, size_t *ret_len);

#endif
