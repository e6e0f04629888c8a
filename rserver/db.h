/*
 * rserver's persistent state in one sqlite3 file (database.conf
 * "directory"/rstudio.sqlite): the session registry that lets a restarted
 * rserver find its running sessions again, revoked sign-in cookies, sign-in
 * failures for throttling and lockout, notification acknowledgements per
 * user, and the audit trail.
 *
 * The schema is versioned with PRAGMA user_version and brought up to date by
 * db_open(); a file written by a newer rserver is refused rather than
 * guessed at. Every statement binds its values as parameters, so user names,
 * session ids or reasons that look like SQL are stored verbatim.
 *
 * Strings have fixed bounds (the *_MAX constants, in bytes, without the
 * NUL). A longer string is refused with -ENAMETOOLONG, never truncated: a
 * truncated user name or cookie hash would silently name something else.
 * Times are Unix milliseconds (int64_t); 0 means "never".
 *
 * Errors are negative errno values: -ENOENT when the row asked for does not
 * exist, -EINVAL for a malformed argument, -ENAMETOOLONG as above, -ENOMEM,
 * and -EIO for anything sqlite reports (busy beyond the timeout, disk full,
 * corruption) or for a row this program cannot read back; after -EIO,
 * db_error() says what happened, for the caller's log. Output parameters
 * are untouched on failure.
 *
 * Thread-safety: a struct db is one sqlite connection, opened in sqlite's
 * multi-thread mode (no per-connection mutex). Use it from one thread only
 * (the network process's event loop) and do not carry it across fork().
 * Calls block on disk I/O, and for up to DB_BUSY_TIMEOUT_MS if another
 * process holds the write lock; the statements are all small.
 */
#ifndef RSERVER_DB_H
#define RSERVER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The schema version this program writes; older files are migrated up to it. */
#define DB_SCHEMA_VERSION 1

/* How long a statement waits for another connection's lock before -EIO. */
#define DB_BUSY_TIMEOUT_MS 5000

#define DB_SESSION_ID_MAX      64
#define DB_USER_MAX            255 /* LOGIN_NAME_MAX less the NUL */
#define DB_SOCKET_PATH_MAX     107 /* sizeof(sockaddr_un.sun_path) less the NUL */
#define DB_EXIT_REASON_MAX     511
#define DB_PROFILE_MAX         255
#define DB_TOKEN_HASH_MAX      128 /* lowercase hex digits: a SHA-512 at most */
#define DB_NOTIFICATION_ID_MAX 64
#define DB_AUDIT_ACTION_MAX    63
#define DB_AUDIT_TARGET_MAX    255
#define DB_AUDIT_DETAIL_MAX    1023

struct db;

/*
 * Opens or creates the database file at path, whose directory must exist.
 * A new file is created with mode 0600 (sqlite gives its -wal and -shm files
 * the same mode); a symbolic link at path is refused. Sets WAL journaling,
 * synchronous=NORMAL, foreign keys and the busy timeout, checks the file is
 * not corrupt (PRAGMA quick_check), then applies any pending migrations,
 * each in its own transaction.
 *
 * On failure writes a message naming path into err (if errsize > 0) and
 * returns -ENOENT (no such directory), -ELOOP (path is a symbolic link),
 * -EINVAL (not a regular file), another negative errno from creating the
 * file (-EACCES, -EISDIR), -ENOTSUP (the schema is newer than
 * DB_SCHEMA_VERSION; the file is left untouched), -ENOMEM or -EIO (not a
 * database, corrupt, unreadable, no WAL).
 */
int db_open(const char *path, struct db **ret, char *err, size_t errsize);

/* Closes the connection; accepts NULL. */
void db_close(struct db *db);

/* The message of the last -EIO failure on db ("" if none yet). */
const char *db_error(const struct db *db);

/*
 * Copies src into the char array dst of size dstsize (such as a struct
 * db_session field). -ENAMETOOLONG, leaving dst untouched, if src does not
 * fit with its NUL. Use DB_FIELD_SET for arrays.
 */
int db_field_set(char *dst, size_t dstsize, const char *src);
#define DB_FIELD_SET(array, src) db_field_set((array), sizeof(array), (src))

/* ---- Sessions: the registry ---- */

enum db_session_state {
	DB_SESSION_STARTING,
	DB_SESSION_RUNNING,
	DB_SESSION_SUSPENDING,
	DB_SESSION_SUSPENDED,
	DB_SESSION_EXITED,
};

/* "starting", "running", ...; NULL for a value outside the enum. */
const char *db_session_state_name(enum db_session_state state);

/* The inverse of db_session_state_name(); -EINVAL for any other text. */
int db_session_state_parse(const char *name, enum db_session_state *ret);

struct db_session {
	char id[DB_SESSION_ID_MAX + 1]; /* not empty */
	char user[DB_USER_MAX + 1];     /* not empty */
	enum db_session_state state;
	pid_t pid;               /* rsession; 0 when not running */
	uint64_t pid_start_time; /* /proc/<pid>/stat field 22, clock ticks
	                            since boot, so a reused pid is told
	                            apart; 0 when unknown */
	char socket_path[DB_SOCKET_PATH_MAX + 1];
	pid_t launcher_pid;                       /* 0 when none */
	int64_t started;                          /* the current rsession started */
	int64_t last_activity;                    /* last console output or input */
	int64_t last_input;                       /* last console input from the user */
	char exit_reason[DB_EXIT_REASON_MAX + 1]; /* "" if none */
	char profile[DB_PROFILE_MAX + 1];         /* short description of its settings */
	int64_t created;                          /* the session was first created */
};

/*
 * Inserts s, or replaces every column of the session with the same id.
 * -EINVAL for an empty id or user, a state outside the enum, a negative pid
 * or launcher_pid, or a pid_start_time beyond INT64_MAX; -ENAMETOOLONG if a
 * field has no NUL within its array.
 */
int db_session_put(struct db *db, const struct db_session *s);

/* Reads session id into *ret; -ENOENT if there is none. */
int db_session_get(struct db *db, const char *id, struct db_session *ret);

/*
 * Lists the sessions of user, or every session if user is NULL, ordered by
 * created (then id). *ret_items is a malloc'd array (NULL when *ret_n is 0)
 * to free with db_session_list_free().
 */
int db_session_list(struct db *db, const char *user, struct db_session **ret_items, size_t *ret_n);
void db_session_list_free(struct db_session *items);

/* Deletes session id; -ENOENT if there is none. */
int db_session_delete(struct db *db, const char *id);

/*
 * Sets the state, pid and exit reason (NULL means "") of session id, the
 * common transition. The pid's start time is kept when pid is unchanged and
 * reset to 0 (unknown) otherwise: a new rsession must be recorded with
 * db_session_put() to carry its start time. -ENOENT if there is no such
 * session.
 */
int db_session_update_state(struct db *db, const char *id, enum db_session_state state, pid_t pid,
                            const char *exit_reason);

/* ---- Revoked cookies ---- */

/*
 * token_hash is the caller's hash of the cookie as lowercase hex, at most
 * DB_TOKEN_HASH_MAX digits; anything else is -EINVAL, so that one cookie can
 * never be stored under two spellings and missed by the lookup.
 */

/* Records the cookie as revoked until expires_ms (the cookie's own expiry;
 * revoking again keeps the later one). */
int db_cookie_revoke(struct db *db, const char *token_hash, int64_t expires_ms);

/* *ret = whether token_hash is recorded as revoked (pruned or not yet). */
int db_cookie_is_revoked(struct db *db, const char *token_hash, bool *ret);

/* Forgets revocations that expired before now_ms: such cookies are refused
 * for their age anyway. */
int db_cookie_prune(struct db *db, int64_t now_ms);

/* ---- Sign-in attempts, for throttling and lockout ---- */

/* Records an attempt by user at now_ms: a failure is added, a success
 * clears the user's failures. Both update the last attempt time. */
int db_signin_record(struct db *db, const char *user, int64_t now_ms, bool success);

/* *ret_failures_since = the user's failures at or after since_ms;
 * *ret_last_attempt_ms = the time of the last attempt of either kind, 0 if
 * none is recorded. Either output may be NULL. */
int db_signin_state(struct db *db, const char *user, int64_t since_ms, int *ret_failures_since,
                    int64_t *ret_last_attempt_ms);

/* Forgets failures and last attempts before before_ms. */
int db_signin_prune(struct db *db, int64_t before_ms);

/* ---- Notification acknowledgements ---- */

struct db_ack {
	char notification_id[DB_NOTIFICATION_ID_MAX + 1];
	int64_t when_ms;
};

/* Records that user acknowledged notification_id. Acknowledging again is a
 * no-op that keeps the first time. */
int db_ack_add(struct db *db, const char *user, const char *notification_id, int64_t when_ms);

/* *ret = whether this user (only) acknowledged notification_id. */
int db_ack_has(struct db *db, const char *user, const char *notification_id, bool *ret);

/* *ret = how many users acknowledged notification_id. */
int db_ack_count(struct db *db, const char *notification_id, size_t *ret);

/* The user's acknowledgements, oldest first; free with db_ack_list_free(). */
int db_ack_list(struct db *db, const char *user, struct db_ack **ret_items, size_t *ret_n);
void db_ack_list_free(struct db_ack *items);

/* ---- Audit trail ---- */

struct db_audit_event {
	int64_t when_ms;
	char actor[DB_USER_MAX + 1];          /* who: a user, "admin-cli", "rserver" */
	char action[DB_AUDIT_ACTION_MAX + 1]; /* what: "sign-in", "kill-session" */
	char target[DB_AUDIT_TARGET_MAX + 1]; /* to what: a session id, a user; may be "" */
	char detail[DB_AUDIT_DETAIL_MAX + 1]; /* free text; may be "" */
};

/* Appends an event; actor and action must not be empty, target and detail
 * may be NULL (stored as ""). */
int db_audit_add(struct db *db, int64_t when_ms, const char *actor, const char *action,
                 const char *target, const char *detail);

/*
 * Lists events at or after since_ms, newest first (events of the same
 * millisecond: last added first), at most limit of them (0 = no limit).
 * Free with db_audit_list_free().
 */
int db_audit_list(struct db *db, int64_t since_ms, size_t limit, struct db_audit_event **ret_items,
                  size_t *ret_n);
void db_audit_list_free(struct db_audit_event *items);

/* Forgets events before before_ms, so that the trail does not grow without
 * end; how long to keep it is the caller's policy. */
int db_audit_prune(struct db *db, int64_t before_ms);

#endif
