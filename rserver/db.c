/*
 * rserver's state in sqlite3; see db.h for the contract.
 *
 * Statements are prepared per call and finalized before returning, so no
 * statement outlives a call: an unfinished SELECT would hold a WAL read
 * snapshot open and stop checkpoints. Writes that touch two tables run in one
 * BEGIN IMMEDIATE transaction, taking the write lock up front so that the
 * busy timeout, not a mid-transaction SQLITE_BUSY, decides who waits.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(DB_SOCKET_PATH_MAX + 1 == sizeof(((struct sockaddr_un *)0)->sun_path),
               "a registered socket path must fit in sockaddr_un");

struct db {
	sqlite3 *conn;
	char err[512];
};

/*
 * The migrations: migrations[i] takes the schema from version i to i + 1.
 * Never edit one that has shipped; append a new one and bump
 * DB_SCHEMA_VERSION. Columns are NOT NULL so that reading back never has to
 * guess what NULL meant; the C side validates values before they get here.
 */
static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " user TEXT NOT NULL,"
    " state TEXT NOT NULL"
    "  CHECK (state IN ('starting', 'running', 'suspending', 'suspended', 'exited')),"
    " pid INTEGER NOT NULL,"
    " pid_start_time INTEGER NOT NULL,"
    " socket_path TEXT NOT NULL,"
    " launcher_pid INTEGER NOT NULL,"
    " started INTEGER NOT NULL,"
    " last_activity INTEGER NOT NULL,"
    " last_input INTEGER NOT NULL,"
    " exit_reason TEXT NOT NULL,"
    " profile TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX sessions_by_user ON sessions (user, created);"
    "CREATE TABLE revoked_cookies ("
    " token_hash TEXT PRIMARY KEY NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX revoked_cookies_by_expiry ON revoked_cookies (expires);"
    "CREATE TABLE signin_failures ("
    " user TEXT NOT NULL,"
    " time INTEGER NOT NULL);"
    "CREATE INDEX signin_failures_by_user ON signin_failures (user, time);"
    "CREATE INDEX signin_failures_by_time ON signin_failures (time);"
    "CREATE TABLE signin_last ("
    " user TEXT PRIMARY KEY NOT NULL,"
    " time INTEGER NOT NULL);"
    "CREATE TABLE notification_acks ("
    " user TEXT NOT NULL,"
    " notification_id TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " PRIMARY KEY (user, notification_id));"
    "CREATE TABLE audit_events ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX audit_events_by_time ON audit_events (time);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == DB_SCHEMA_VERSION,
               "DB_SCHEMA_VERSION must equal the number of migrations");

static const char *const state_names[] = {
    [DB_SESSION_STARTING] = "starting",     [DB_SESSION_RUNNING] = "running",
    [DB_SESSION_SUSPENDING] = "suspending", [DB_SESSION_SUSPENDED] = "suspended",
    [DB_SESSION_EXITED] = "exited",
};

#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))

/* ---- Errors ---- */

static void set_error(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct db *db, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
}

/* Records sqlite's message for the failed step what and maps its code. */
static int fail(struct db *db, const char *what)
{
	int code = sqlite3_errcode(db->conn);

	set_error(db, "%s: %s", what, sqlite3_errmsg(db->conn));
	return code == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

const char *db_error(const struct db *db)
{
	return db ? db->err : "";
}

/* ---- Small helpers ---- */

/* -EINVAL for NULL (or empty unless allowed), -ENAMETOOLONG beyond max. */
static int check_str(const char *s, size_t max, bool allow_empty)
{
	if (!s || (!allow_empty && !*s))
		return -EINVAL;
	if (strnlen(s, max + 1) > max)
		return -ENAMETOOLONG;
	return 0;
}

/* A fixed-size field must hold its NUL: else it is a string over its bound. */
static int check_field(const char *field, size_t size, bool allow_empty)
{
	if (!memchr(field, '\0', size))
		return -ENAMETOOLONG;
	if (!allow_empty && !*field)
		return -EINVAL;
	return 0;
}

/* Lowercase hex only, so one hash has one spelling (see db.h). */
static int check_token_hash(const char *h)
{
	int r = check_str(h, DB_TOKEN_HASH_MAX, false);

	if (r < 0)
		return r;
	for (const char *p = h; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EINVAL;
	return 0;
}

int db_field_set(char *dst, size_t dstsize, const char *src)
{
	size_t n;

	if (!dst || !src || dstsize == 0)
		return -EINVAL;
	n = strnlen(src, dstsize);
	if (n >= dstsize)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

static int prepare(struct db *db, const char *what, const char *sql, sqlite3_stmt **ret)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return fail(db, what);
	}
	*ret = st;
	return 0;
}

/* Binds a NUL-terminated string that stays alive until the statement is
 * finalized, so sqlite need not copy it. */
static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows. */
static int step_done(struct db *db, const char *what, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(db, what);
	return 0;
}

/* Runs fixed SQL without parameters (never user data). */
static int exec(struct db *db, const char *what, const char *sql)
{
	if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, what);
	return 0;
}

/* Ends a transaction that failed. The message of the failure is already
 * recorded; a ROLLBACK error (sqlite may have rolled back by itself, on a
 * full disk for instance) would only overwrite it. */
static void rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->conn))
		sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Copies text column col into dst. A value too long for dst cannot have
 * been written by this program: -EIO rather than truncating it.
 */
static int column_text(struct db *db, const char *what, sqlite3_stmt *st, int col, char *dst,
                       size_t dstsize)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!t) {
		if (sqlite3_errcode(db->conn) == SQLITE_NOMEM)
			return -ENOMEM;
		t = (const unsigned char *)"";
		n = 0;
	}
	if (n < 0 || (size_t)n >= dstsize) {
		set_error(db, "%s: column %s holds %d bytes, more than %zu", what,
		          sqlite3_column_name(st, col), n, dstsize - 1);
		return -EIO;
	}
	memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/* Reads one row of a list's statement into the element at dst. */
typedef int (*row_reader)(struct db *db, const char *what, sqlite3_stmt *st, void *dst);

/*
 * Steps st to the end, reading each row with read into a growing array of
 * elements of elemsize bytes. On success hands over the array (NULL if
 * empty) and its length.
 */
static int collect(struct db *db, const char *what, sqlite3_stmt *st, size_t elemsize,
                   row_reader read, void **ret_items, size_t *ret_n)
{
	char *items = NULL;
	size_t n = 0, cap = 0;
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			char *p = reallocarray(items, ncap, elemsize);

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			items = p;
			cap = ncap;
		}
		r = read(db, what, st, items + n * elemsize);
		if (r < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = fail(db, what);
		goto out;
	}
	*ret_items = items;
	*ret_n = n;
	items = NULL;
	r = 0;
out:
	free(items);
	return r;
}

/*
 * Runs sql, with text parameter ?1 bound to p1 unless it is NULL, and
 * collects its rows as collect() does. The list queries share this shape.
 */
static int list_rows(struct db *db, const char *what, const char *sql, const char *p1,
                     size_t elemsize, row_reader read, void **ret_items, size_t *ret_n)
{
	sqlite3_stmt *st = NULL;
	int r = prepare(db, what, sql, &st);

	if (r < 0)
		goto out;
	if (p1 && bind_text(st, 1, p1) != SQLITE_OK) {
		r = fail(db, what);
		goto out;
	}
	r = collect(db, what, st, elemsize, read, ret_items, ret_n);
out:
	sqlite3_finalize(st);
	return r;
}

/* ---- Opening and migrations ---- */

/* Reads PRAGMA name, a single integer. */
static int pragma_int(struct db *db, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db, sql, sql, &st);
	if (r < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = fail(db, sql);
		goto out;
	}
	*ret = sqlite3_column_int64(st, 0);
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

/* Refuses a schema this program does not know: guessing at a newer
 * rserver's tables could lose its data. */
static int check_version(struct db *db, int64_t version)
{
	if (version > DB_SCHEMA_VERSION) {
		set_error(db,
		          "database schema version %lld is newer than this rserver (%d); "
		          "refusing to downgrade",
		          (long long)version, DB_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	if (version < 0) {
		set_error(db, "database schema version %lld is invalid", (long long)version);
		return -EIO;
	}
	return 0;
}

/*
 * Reads the first line of PRAGMA quick_check: "ok", or the first problem.
 * Corruption found here stops the server at start with a message, instead
 * of failing some later request.
 */
static int quick_check(struct db *db)
{
	sqlite3_stmt *st = NULL;
	const char *text;
	char result[256];
	int r;

	r = prepare(db, "integrity check", "PRAGMA quick_check(1)", &st);
	if (r < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = fail(db, "integrity check");
		goto out;
	}
	text = (const char *)sqlite3_column_text(st, 0);
	/* A long report is cut short: it only goes to the log. */
	snprintf(result, sizeof(result), "%s", text ? text : "(no answer)");
	/* sqlite's report spans lines; a log entry must not. */
	for (char *p = result; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (strcmp(result, "ok") != 0) {
		set_error(db, "integrity check failed: %s", result);
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

/* WAL lets readers and the writer proceed together; a filesystem that cannot
 * do it (no shared memory) answers with the mode it kept, which we refuse
 * rather than run differently from every other installation. */
static int enable_wal(struct db *db)
{
	sqlite3_stmt *st = NULL;
	const char *mode;
	int r;

	r = prepare(db, "journal_mode=WAL", "PRAGMA journal_mode=WAL", &st);
	if (r < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = fail(db, "journal_mode=WAL");
		goto out;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		set_error(db, "could not enable WAL journaling (journal mode is '%s')",
		          mode ? mode : "?");
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * Applies pending migrations, one transaction each. The version is read
 * again inside each write transaction, so two rservers started at once on
 * the same file cannot both apply the same step.
 */
static int migrate(struct db *db)
{
	char sql[64];
	int64_t version;
	int r;

	for (;;) {
		r = exec(db, "begin migration", "BEGIN IMMEDIATE");
		if (r < 0)
			goto out;
		r = pragma_int(db, "PRAGMA user_version", &version);
		if (r < 0)
			goto out;
		r = check_version(db, version);
		if (r < 0)
			goto out;
		if (version == DB_SCHEMA_VERSION)
			break;
		r = exec(db, "migration", migrations[version]);
		if (r < 0) {
			set_error(db, "migration to schema version %lld: %s",
			          (long long)version + 1, sqlite3_errmsg(db->conn));
			goto out;
		}
		/* PRAGMA takes no parameters; the number is ours. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)version + 1);
		r = exec(db, "set schema version", sql);
		if (r < 0)
			goto out;
		r = exec(db, "commit migration", "COMMIT");
		if (r < 0)
			goto out;
	}
	r = exec(db, "end migration", "COMMIT");
out:
	if (r < 0)
		rollback(db);
	return r;
}

/*
 * Creates the file ourselves before sqlite opens it: sqlite would create it
 * with 0644 less the umask, and its -wal and -shm files copy the main
 * file's mode. O_NOFOLLOW: rserver opens its database as root, in a
 * directory an administrator may have made writable by others.
 */
static int create_file(const char *path, char *err, size_t errsize)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			snprintf(err, errsize,
			         "Failed to open database '%s': it is a symbolic link, "
			         "which is not followed",
			         path);
		else
			snprintf(err, errsize, "Failed to open database '%s': %s", path,
			         strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errsize, "Failed to open database '%s': %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errsize, "Failed to open database '%s': not a regular file", path);
		goto out;
	}
	r = 0;
out:
	close(fd);
	return r;
}

int db_open(const char *path, struct db **ret, char *err, size_t errsize)
{
	struct db *db = NULL;
	char dummy[1];
	int64_t version;
	int rc, r;

	/* Spare every error path a test for a missing buffer. */
	if (!err || errsize == 0) {
		err = dummy;
		errsize = sizeof(dummy);
	}
	err[0] = '\0';
	if (!path || !*path || !ret) {
		snprintf(err, errsize, "Failed to open database: no path given");
		return -EINVAL;
	}

	r = create_file(path, err, errsize);
	if (r < 0)
		return r;

	db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, errsize, "Failed to open database '%s': %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	/* The file exists now, so no SQLITE_OPEN_CREATE: if it vanished in
	 * between, something is wrong and we should say so. NOMUTEX: one
	 * thread per connection, see db.h. */
	rc = sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (db->conn)
			r = fail(db, "open");
		else {
			set_error(db, "open: %s", sqlite3_errstr(rc));
			r = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
		}
		goto out;
	}
	rc = sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK) {
		r = fail(db, "busy timeout");
		goto out;
	}

	/*
	 * Read-only checks first: a file that is corrupt, or that a newer
	 * rserver wrote, must be left exactly as it is, and switching to WAL
	 * writes the header.
	 */
	r = quick_check(db);
	if (r < 0)
		goto out;
	r = pragma_int(db, "PRAGMA user_version", &version);
	if (r < 0)
		goto out;
	r = check_version(db, version);
	if (r < 0)
		goto out;

	r = enable_wal(db);
	if (r < 0)
		goto out;
	/* NORMAL in WAL mode: a power loss may lose the last commits but never
	 * corrupts the file; fsync on every commit would cost each sign-in. */
	r = exec(db, "synchronous=NORMAL", "PRAGMA synchronous=NORMAL");
	if (r < 0)
		goto out;
	/* Per connection and a no-op inside a transaction: set it here. */
	r = exec(db, "foreign_keys=ON", "PRAGMA foreign_keys=ON");
	if (r < 0)
		goto out;

	r = migrate(db);
	if (r < 0)
		goto out;

	db->err[0] = '\0';
	*ret = db;
	db = NULL;
out:
	if (r < 0 && db)
		snprintf(err, errsize, "Failed to open database '%s': %s", path, db->err);
	db_close(db);
	return r;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	/* Every statement is finalized by the call that prepared it, so this
	 * closes for real (and checkpoints and removes the WAL file). */
	sqlite3_close(db->conn);
	free(db);
}

/* ---- Sessions ---- */

const char *db_session_state_name(enum db_session_state state)
{
	if ((unsigned)state >= N_STATES)
		return NULL;
	return state_names[state];
}

int db_session_state_parse(const char *name, enum db_session_state *ret)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < N_STATES; i++)
		if (strcmp(name, state_names[i]) == 0) {
			*ret = (enum db_session_state)i;
			return 0;
		}
	return -EINVAL;
}

#define SESSION_COLUMNS                                                                            \
	"id, user, state, pid, pid_start_time, socket_path, launcher_pid, started, "               \
	"last_activity, last_input, exit_reason, profile, created"

/* Reads a row selected with SESSION_COLUMNS. */
static int read_session(struct db *db, const char *what, sqlite3_stmt *st, void *dst)
{
	struct db_session s = {0};
	char state[16];
	int64_t pid, launcher_pid, start_time;
	int r;

	r = column_text(db, what, st, 0, s.id, sizeof(s.id));
	if (r < 0)
		return r;
	r = column_text(db, what, st, 1, s.user, sizeof(s.user));
	if (r < 0)
		return r;
	r = column_text(db, what, st, 2, state, sizeof(state));
	if (r < 0)
		return r;
	if (db_session_state_parse(state, &s.state) < 0) {
		set_error(db, "%s: session '%s' has unknown state '%s'", what, s.id, state);
		return -EIO;
	}
	pid = sqlite3_column_int64(st, 3);
	start_time = sqlite3_column_int64(st, 4);
	launcher_pid = sqlite3_column_int64(st, 6);
	if (pid < 0 || pid > INT_MAX || launcher_pid < 0 || launcher_pid > INT_MAX ||
	    start_time < 0) {
		set_error(db, "%s: session '%s' has an invalid pid or start time", what, s.id);
		return -EIO;
	}
	s.pid = (pid_t)pid;
	s.pid_start_time = (uint64_t)start_time;
	s.launcher_pid = (pid_t)launcher_pid;
	r = column_text(db, what, st, 5, s.socket_path, sizeof(s.socket_path));
	if (r < 0)
		return r;
	s.started = sqlite3_column_int64(st, 7);
	s.last_activity = sqlite3_column_int64(st, 8);
	s.last_input = sqlite3_column_int64(st, 9);
	r = column_text(db, what, st, 10, s.exit_reason, sizeof(s.exit_reason));
	if (r < 0)
		return r;
	r = column_text(db, what, st, 11, s.profile, sizeof(s.profile));
	if (r < 0)
		return r;
	s.created = sqlite3_column_int64(st, 12);
	memcpy(dst, &s, sizeof(s));
	return 0;
}

int db_session_put(struct db *db, const struct db_session *s)
{
	static const char sql[] =
	    "INSERT INTO sessions (" SESSION_COLUMNS ")"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
	    " ON CONFLICT (id) DO UPDATE SET user = excluded.user, state = excluded.state,"
	    " pid = excluded.pid, pid_start_time = excluded.pid_start_time,"
	    " socket_path = excluded.socket_path, launcher_pid = excluded.launcher_pid,"
	    " started = excluded.started, last_activity = excluded.last_activity,"
	    " last_input = excluded.last_input, exit_reason = excluded.exit_reason,"
	    " profile = excluded.profile, created = excluded.created";
	sqlite3_stmt *st = NULL;
	const char *state;
	int r;

	if (!db || !s)
		return -EINVAL;
	if ((r = check_field(s->id, sizeof(s->id), false)) < 0 ||
	    (r = check_field(s->user, sizeof(s->user), false)) < 0 ||
	    (r = check_field(s->socket_path, sizeof(s->socket_path), true)) < 0 ||
	    (r = check_field(s->exit_reason, sizeof(s->exit_reason), true)) < 0 ||
	    (r = check_field(s->profile, sizeof(s->profile), true)) < 0)
		return r;
	state = db_session_state_name(s->state);
	if (!state || s->pid < 0 || s->launcher_pid < 0 || s->pid_start_time > INT64_MAX)
		return -EINVAL;

	r = prepare(db, "session put", sql, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, s->id) != SQLITE_OK || bind_text(st, 2, s->user) != SQLITE_OK ||
	    bind_text(st, 3, state) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, s->pid) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (int64_t)s->pid_start_time) != SQLITE_OK ||
	    bind_text(st, 6, s->socket_path) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 7, s->launcher_pid) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 8, s->started) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 9, s->last_activity) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 10, s->last_input) != SQLITE_OK ||
	    bind_text(st, 11, s->exit_reason) != SQLITE_OK ||
	    bind_text(st, 12, s->profile) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 13, s->created) != SQLITE_OK) {
		r = fail(db, "session put");
		goto out;
	}
	r = step_done(db, "session put", st);
out:
	sqlite3_finalize(st);
	return r;
}

int db_session_get(struct db *db, const char *id, struct db_session *ret)
{
	sqlite3_stmt *st = NULL;
	struct db_session s;
	int rc, r;

	if (!db || !ret)
		return -EINVAL;
	r = check_str(id, DB_SESSION_ID_MAX, false);
	if (r < 0)
		return r;

	r = prepare(db, "session get", "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?1",
	            &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, id) != SQLITE_OK) {
		r = fail(db, "session get");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = fail(db, "session get");
		goto out;
	}
	r = read_session(db, "session get", st, &s);
	if (r < 0)
		goto out;
	*ret = s;
out:
	sqlite3_finalize(st);
	return r;
}

int db_session_list(struct db *db, const char *user, struct db_session **ret_items, size_t *ret_n)
{
	void *items;
	size_t n;
	int r;

	if (!db || !ret_items || !ret_n)
		return -EINVAL;
	if (user) {
		r = check_str(user, DB_USER_MAX, false);
		if (r < 0)
			return r;
	}
	r = list_rows(db, "session list",
	              user ? "SELECT " SESSION_COLUMNS " FROM sessions WHERE user = ?1"
	                     " ORDER BY created, id"
	                   : "SELECT " SESSION_COLUMNS " FROM sessions ORDER BY created, id",
	              user, sizeof(struct db_session), read_session, &items, &n);
	if (r < 0)
		return r;
	*ret_items = items;
	*ret_n = n;
	return 0;
}

void db_session_list_free(struct db_session *items)
{
	free(items);
}

int db_session_delete(struct db *db, const char *id)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!db)
		return -EINVAL;
	r = check_str(id, DB_SESSION_ID_MAX, false);
	if (r < 0)
		return r;

	r = prepare(db, "session delete", "DELETE FROM sessions WHERE id = ?1", &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, id) != SQLITE_OK) {
		r = fail(db, "session delete");
		goto out;
	}
	r = step_done(db, "session delete", st);
	if (r < 0)
		goto out;
	if (sqlite3_changes(db->conn) == 0)
		r = -ENOENT;
out:
	sqlite3_finalize(st);
	return r;
}

int db_session_update_state(struct db *db, const char *id, enum db_session_state state, pid_t pid,
                            const char *exit_reason)
{
	/* Every right-hand side sees the row as it was, so the CASE compares
	 * against the old pid. */
	static const char sql[] =
	    "UPDATE sessions SET state = ?2,"
	    " pid_start_time = CASE WHEN pid = ?3 THEN pid_start_time ELSE 0 END,"
	    " pid = ?3, exit_reason = ?4 WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	const char *name = db_session_state_name(state);
	int r;

	if (!db || !name || pid < 0)
		return -EINVAL;
	if (!exit_reason)
		exit_reason = "";
	if ((r = check_str(id, DB_SESSION_ID_MAX, false)) < 0 ||
	    (r = check_str(exit_reason, DB_EXIT_REASON_MAX, true)) < 0)
		return r;

	r = prepare(db, "session update", sql, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, id) != SQLITE_OK || bind_text(st, 2, name) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, pid) != SQLITE_OK ||
	    bind_text(st, 4, exit_reason) != SQLITE_OK) {
		r = fail(db, "session update");
		goto out;
	}
	r = step_done(db, "session update", st);
	if (r < 0)
		goto out;
	if (sqlite3_changes(db->conn) == 0)
		r = -ENOENT;
out:
	sqlite3_finalize(st);
	return r;
}

/* ---- Revoked cookies ---- */

int db_cookie_revoke(struct db *db, const char *token_hash, int64_t expires_ms)
{
	static const char sql[] =
	    "INSERT INTO revoked_cookies (token_hash, expires) VALUES (?1, ?2)"
	    " ON CONFLICT (token_hash)"
	    " DO UPDATE SET expires = max(expires, excluded.expires)";
	sqlite3_stmt *st = NULL;
	int r;

	if (!db)
		return -EINVAL;
	r = check_token_hash(token_hash);
	if (r < 0)
		return r;

	r = prepare(db, "cookie revoke", sql, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, token_hash) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, expires_ms) != SQLITE_OK) {
		r = fail(db, "cookie revoke");
		goto out;
	}
	r = step_done(db, "cookie revoke", st);
out:
	sqlite3_finalize(st);
	return r;
}

/* Runs a "SELECT 1 ... " query with text parameters and reports whether it
 * found a row. */
static int exists(struct db *db, const char *what, const char *sql, const char *p1, const char *p2,
                  bool *ret)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = prepare(db, what, sql, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, p1) != SQLITE_OK || (p2 && bind_text(st, 2, p2) != SQLITE_OK)) {
		r = fail(db, what);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = fail(db, what);
		goto out;
	}
	*ret = rc == SQLITE_ROW;
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

int db_cookie_is_revoked(struct db *db, const char *token_hash, bool *ret)
{
	int r;

	if (!db || !ret)
		return -EINVAL;
	r = check_token_hash(token_hash);
	if (r < 0)
		return r;
	return exists(db, "cookie lookup", "SELECT 1 FROM revoked_cookies WHERE token_hash = ?1",
	              token_hash, NULL, ret);
}

/* Runs a DELETE whose only parameter is a time. */
static int delete_before(struct db *db, const char *what, const char *sql, int64_t t)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db, what, sql, &st);
	if (r < 0)
		goto out;
	if (sqlite3_bind_int64(st, 1, t) != SQLITE_OK) {
		r = fail(db, what);
		goto out;
	}
	r = step_done(db, what, st);
out:
	sqlite3_finalize(st);
	return r;
}

int db_cookie_prune(struct db *db, int64_t now_ms)
{
	if (!db)
		return -EINVAL;
	/* "<", not "<=": a cookie is still good at its expiry millisecond, so
	 * its revocation must be too. */
	return delete_before(db, "cookie prune", "DELETE FROM revoked_cookies WHERE expires < ?1",
	                     now_ms);
}

/* ---- Sign-in attempts ---- */

int db_signin_record(struct db *db, const char *user, int64_t now_ms, bool success)
{
	static const char sql_last[] = "INSERT INTO signin_last (user, time) VALUES (?1, ?2)"
	                               " ON CONFLICT (user) DO UPDATE SET time = excluded.time";
	sqlite3_stmt *st = NULL;
	int r;

	if (!db)
		return -EINVAL;
	r = check_str(user, DB_USER_MAX, false);
	if (r < 0)
		return r;

	r = exec(db, "sign-in record", "BEGIN IMMEDIATE");
	if (r < 0)
		goto out;
	r = prepare(db, "sign-in record",
	            success ? "DELETE FROM signin_failures WHERE user = ?1"
	                    : "INSERT INTO signin_failures (user, time) VALUES (?1, ?2)",
	            &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, user) != SQLITE_OK ||
	    (!success && sqlite3_bind_int64(st, 2, now_ms) != SQLITE_OK)) {
		r = fail(db, "sign-in record");
		goto out;
	}
	r = step_done(db, "sign-in record", st);
	if (r < 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;

	r = prepare(db, "sign-in record", sql_last, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, user) != SQLITE_OK || sqlite3_bind_int64(st, 2, now_ms) != SQLITE_OK) {
		r = fail(db, "sign-in record");
		goto out;
	}
	r = step_done(db, "sign-in record", st);
	if (r < 0)
		goto out;
	r = exec(db, "sign-in record", "COMMIT");
out:
	sqlite3_finalize(st);
	if (r < 0)
		rollback(db);
	return r;
}

int db_signin_state(struct db *db, const char *user, int64_t since_ms, int *ret_failures_since,
                    int64_t *ret_last_attempt_ms)
{
	/* One statement, so both answers come from the same snapshot. */
	static const char sql[] =
	    "SELECT (SELECT count(*) FROM signin_failures WHERE user = ?1 AND time >= ?2),"
	    " (SELECT time FROM signin_last WHERE user = ?1)";
	sqlite3_stmt *st = NULL;
	int64_t failures;
	int r;

	if (!db)
		return -EINVAL;
	r = check_str(user, DB_USER_MAX, false);
	if (r < 0)
		return r;

	r = prepare(db, "sign-in state", sql, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, user) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, since_ms) != SQLITE_OK) {
		r = fail(db, "sign-in state");
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = fail(db, "sign-in state");
		goto out;
	}
	failures = sqlite3_column_int64(st, 0);
	if (ret_failures_since)
		*ret_failures_since = failures > INT_MAX ? INT_MAX : (int)failures;
	/* NULL (no attempt recorded) reads as 0. */
	if (ret_last_attempt_ms)
		*ret_last_attempt_ms = sqlite3_column_int64(st, 1);
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

int db_signin_prune(struct db *db, int64_t before_ms)
{
	int r;

	if (!db)
		return -EINVAL;
	r = exec(db, "sign-in prune", "BEGIN IMMEDIATE");
	if (r < 0)
		goto out;
	r = delete_before(db, "sign-in prune", "DELETE FROM signin_failures WHERE time < ?1",
	                  before_ms);
	if (r < 0)
		goto out;
	r = delete_before(db, "sign-in prune", "DELETE FROM signin_last WHERE time < ?1",
	                  before_ms);
	if (r < 0)
		goto out;
	r = exec(db, "sign-in prune", "COMMIT");
out:
	if (r < 0)
		rollback(db);
	return r;
}

/* ---- Notification acknowledgements ---- */

int db_ack_add(struct db *db, const char *user, const char *notification_id, int64_t when_ms)
{
	static const char sql[] = "INSERT INTO notification_acks (user, notification_id, time)"
	                          " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
	sqlite3_stmt *st = NULL;
	int r;

	if (!db)
		return -EINVAL;
	if ((r = check_str(user, DB_USER_MAX, false)) < 0 ||
	    (r = check_str(notification_id, DB_NOTIFICATION_ID_MAX, false)) < 0)
		return r;

	r = prepare(db, "ack add", sql, &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, user) != SQLITE_OK || bind_text(st, 2, notification_id) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, when_ms) != SQLITE_OK) {
		r = fail(db, "ack add");
		goto out;
	}
	r = step_done(db, "ack add", st);
out:
	sqlite3_finalize(st);
	return r;
}

int db_ack_has(struct db *db, const char *user, const char *notification_id, bool *ret)
{
	int r;

	if (!db || !ret)
		return -EINVAL;
	if ((r = check_str(user, DB_USER_MAX, false)) < 0 ||
	    (r = check_str(notification_id, DB_NOTIFICATION_ID_MAX, false)) < 0)
		return r;
	return exists(db, "ack lookup",
	              "SELECT 1 FROM notification_acks WHERE user = ?1 AND notification_id = ?2",
	              user, notification_id, ret);
}

int db_ack_count(struct db *db, const char *notification_id, size_t *ret)
{
	const char *what = "ack count";
	sqlite3_stmt *st = NULL;
	int r;

	if (!db || !ret)
		return -EINVAL;
	if ((r = check_str(notification_id, DB_NOTIFICATION_ID_MAX, false)) < 0)
		return r;
	r = prepare(db, what, "SELECT count(*) FROM notification_acks WHERE notification_id = ?1",
	            &st);
	if (r < 0)
		goto out;
	if (bind_text(st, 1, notification_id) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		r = fail(db, what);
		goto out;
	}
	*ret = (size_t)sqlite3_column_int64(st, 0);
	r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

static int read_ack(struct db *db, const char *what, sqlite3_stmt *st, void *dst)
{
	struct db_ack a;
	int r;

	r = column_text(db, what, st, 0, a.notification_id, sizeof(a.notification_id));
	if (r < 0)
		return r;
	a.when_ms = sqlite3_column_int64(st, 1);
	memcpy(dst, &a, sizeof(a));
	return 0;
}

int db_ack_list(struct db *db, const char *user, struct db_ack **ret_items, size_t *ret_n)
{
	void *items;
	size_t n;
	int r;

	if (!db || !ret_items || !ret_n)
		return -EINVAL;
	r = check_str(user, DB_USER_MAX, false);
	if (r < 0)
		return r;
	r = list_rows(db, "ack list",
	              "SELECT notification_id, time FROM notification_acks WHERE user = ?1"
	              " ORDER BY time, notification_id",
	              user, sizeof(struct db_ack), read_ack, &items, &n);
	if (r < 0)
		return r;
	*ret_items = items;
	*ret_n = n;
	return 0;
}

void db_ack_list_free(struct db_ack *items)
{
	free(items);
}

/* ---- Audit trail ---- */

int db_audit_add(struct db *db, int64_t when_ms, const char *actor, const char *action,
                 const char *target, const char *detail)
{
	static const char sql[] = "INSERT INTO audit_events (time, actor, action, target, detail)"
	                          " VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *st = NULL;
	int r;

	if (!db)
		return -EINVAL;
	if (!target)
		target = "";
	if (!detail)
		detail = "";
	if ((r = check_str(actor, DB_USER_MAX, false)) < 0 ||
	    (r = check_str(action, DB_AUDIT_ACTION_MAX, false)) < 0 ||
	    (r = check_str(target, DB_AUDIT_TARGET_MAX, true)) < 0 ||
	    (r = check_str(detail, DB_AUDIT_DETAIL_MAX, true)) < 0)
		return r;

	r = prepare(db, "audit add", sql, &st);
	if (r < 0)
		goto out;
	if (sqlite3_bind_int64(st, 1, when_ms) != SQLITE_OK ||
	    bind_text(st, 2, actor) != SQLITE_OK || bind_text(st, 3, action) != SQLITE_OK ||
	    bind_text(st, 4, target) != SQLITE_OK || bind_text(st, 5, detail) != SQLITE_OK) {
		r = fail(db, "audit add");
		goto out;
	}
	r = step_done(db, "audit add", st);
out:
	sqlite3_finalize(st);
	return r;
}

static int read_audit(struct db *db, const char *what, sqlite3_stmt *st, void *dst)
{
	struct db_audit_event e;
	int r;

	e.when_ms = sqlite3_column_int64(st, 0);
	if ((r = column_text(db, what, st, 1, e.actor, sizeof(e.actor))) < 0 ||
	    (r = column_text(db, what, st, 2, e.action, sizeof(e.action))) < 0 ||
	    (r = column_text(db, what, st, 3, e.target, sizeof(e.target))) < 0 ||
	    (r = column_text(db, what, st, 4, e.detail, sizeof(e.detail))) < 0)
		return r;
	memcpy(dst, &e, sizeof(e));
	return 0;
}

int db_audit_list(struct db *db, int64_t since_ms, size_t limit, struct db_audit_event **ret_items,
                  size_t *ret_n)
{
	/* id breaks ties: it grows with every insert, so within a millisecond
	 * the last added comes first. A negative LIMIT means none. */
	static const char sql[] = "SELECT time, actor, action, target, detail FROM audit_events"
	                          " WHERE time >= ?1 ORDER BY time DESC, id DESC LIMIT ?2";
	sqlite3_stmt *st = NULL;
	void *items;
	size_t n;
	int r;

	if (!db || !ret_items || !ret_n)
		return -EINVAL;

	r = prepare(db, "audit list", sql, &st);
	if (r < 0)
		goto out;
	if (sqlite3_bind_int64(st, 1, since_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2,
	                       limit == 0          ? -1
	                       : limit > INT64_MAX ? INT64_MAX
	                                           : (int64_t)limit) != SQLITE_OK) {
		r = fail(db, "audit list");
		goto out;
	}
	r = collect(db, "audit list", st, sizeof(struct db_audit_event), read_audit, &items, &n);
	if (r < 0)
		goto out;
	*ret_items = items;
	*ret_n = n;
out:
	sqlite3_finalize(st);
	return r;
}

void db_audit_list_free(struct db_audit_event *items)
{
	free(items);
}

int db_audit_prune(struct db *db, int64_t before_ms)
{
	if (!db)
		return -EINVAL;
	return delete_before(db, "audit prune", "DELETE FROM audit_events WHERE time < ?1",
	                     before_ms);
}
