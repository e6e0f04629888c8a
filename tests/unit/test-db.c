/*
 * Unit tests for rserver/db.c: creating and migrating the file, refusing
 * newer or corrupt ones, and every table's operations, including values at
 * and over their bounds and values that look like SQL.
 *
 * Each test works in its own temporary directory. A second, independent
 * sqlite connection inspects the file the way an administrator's sqlite3
 * shell would, so the checks do not rely on the code under test.
 */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
	char err[512];
};

/* Makes the test's directory; opens the database in it when open_db. */
static void setup(struct fixture *f, bool open_db)
{
	int r;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rs-test-db-XXXXXX");
	if (!mkdtemp(f->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(f->path, sizeof(f->path), "%s/rstudio.sqlite", f->dir);
	if (open_db) {
		r = db_open(f->path, &f->db, f->err, sizeof(f->err));
		CHECK_INT(r, 0);
		CHECK_STR(f->err, "");
		if (r < 0) {
			fprintf(stderr, "db_open: %s\n", f->err);
			exit(1);
		}
	}
}

static void teardown(struct fixture *f)
{
	char cmd[128];

	db_close(f->db);
	f->db = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	CHECK_INT(system(cmd), 0);
}

static void reopen(struct fixture *f)
{
	db_close(f->db);
	f->db = NULL;
	CHECK_INT(db_open(f->path, &f->db, f->err, sizeof(f->err)), 0);
	if (!f->db)
		exit(1);
}

/* Runs one query returning one value through an independent connection;
 * the text of the value, or "ERROR: ..." */
static void peek(const char *path, const char *sql, char *out, size_t outsize)
{
	sqlite3 *c = NULL;
	sqlite3_stmt *st = NULL;

	if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		snprintf(out, outsize, "ERROR: %s", sqlite3_errmsg(c));
	else
		snprintf(out, outsize, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(c);
}

/* Runs statements through an independent connection (sets up test files). */
static void poke(const char *path, const char *sql)
{
	sqlite3 *c = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "poke: %s\n", sqlite3_errmsg(c));
	CHECK_INT(rc, SQLITE_OK);
	sqlite3_close(c);
}

static unsigned file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 07777; /* never a mode we expect */
	return st.st_mode & 07777;
}

/* A string of n copies of c, in one of four static buffers used in turn,
 * so that one call can take two of them. */
static const char *repeat(char c, size_t n)
{
	static char bufs[4][2048];
	static unsigned next;
	char *buf = bufs[next++ % 4];

	if (n >= sizeof(bufs[0]))
		abort();
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static struct db_session make_session(const char *id, const char *user, int64_t created)
{
	struct db_session s;

	memset(&s, 0, sizeof(s));
	CHECK_INT(DB_FIELD_SET(s.id, id), 0);
	CHECK_INT(DB_FIELD_SET(s.user, user), 0);
	s.state = DB_SESSION_RUNNING;
	s.pid = 4242;
	s.pid_start_time = 987654321ULL;
	snprintf(s.socket_path, sizeof(s.socket_path), "/var/run/rstudio-server/s-%s", id);
	s.launcher_pid = 4240;
	s.started = created + 10;
	s.last_activity = created + 20;
	s.last_input = created + 30;
	CHECK_INT(DB_FIELD_SET(s.profile, "[*] session-timeout-minutes=30"), 0);
	s.created = created;
	return s;
}

#define CHECK_SESSION(got, want)                                                                   \
	do {                                                                                       \
		const struct db_session *g__ = (got), *w__ = (want);                               \
		CHECK_STR(g__->id, w__->id);                                                       \
		CHECK_STR(g__->user, w__->user);                                                   \
		CHECK_INT(g__->state, w__->state);                                                 \
		CHECK_INT(g__->pid, w__->pid);                                                     \
		CHECK_INT(g__->pid_start_time, w__->pid_start_time);                               \
		CHECK_STR(g__->socket_path, w__->socket_path);                                     \
		CHECK_INT(g__->launcher_pid, w__->launcher_pid);                                   \
		CHECK_INT(g__->started, w__->started);                                             \
		CHECK_INT(g__->last_activity, w__->last_activity);                                 \
		CHECK_INT(g__->last_input, w__->last_input);                                       \
		CHECK_STR(g__->exit_reason, w__->exit_reason);                                     \
		CHECK_STR(g__->profile, w__->profile);                                             \
		CHECK_INT(g__->created, w__->created);                                             \
	} while (0)

/* Overwrites len bytes of path at offset with a pattern sqlite cannot read. */
static void scribble(const char *path, off_t offset, size_t len)
{
	char *junk = malloc(len);
	int fd;

	if (!junk)
		abort();
	for (size_t i = 0; i < len; i++)
		junk[i] = (char)(0xa5 ^ (i * 131));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(pwrite(fd, junk, len, offset), (long long)len);
		close(fd);
	}
	free(junk);
}

/* ---- Opening ---- */

TEST(open_creates_private_wal_file)
{
	struct fixture f;
	char buf[128], wal[160];

	setup(&f, true);
	CHECK_STR(db_error(f.db), "");
	CHECK_INT(file_mode(f.path), 0600);
	/* The -wal and -shm files hold the same data, so the same mode. */
	snprintf(wal, sizeof(wal), "%s-wal", f.path);
	CHECK_INT(file_mode(wal), 0600);
	snprintf(wal, sizeof(wal), "%s-shm", f.path);
	CHECK_INT(file_mode(wal), 0600);
	peek(f.path, "PRAGMA journal_mode", buf, sizeof(buf));
	CHECK_STR(buf, "wal");
	peek(f.path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_INT(atoi(buf), DB_SCHEMA_VERSION);
	teardown(&f);
}

TEST(open_missing_directory)
{
	struct fixture f;
	struct db *db = (struct db *)&f; /* must stay untouched */
	char path[160];

	setup(&f, false);
	snprintf(path, sizeof(path), "%s/nope/rstudio.sqlite", f.dir);
	CHECK_INT(db_open(path, &db, f.err, sizeof(f.err)), -ENOENT);
	CHECK(db == (struct db *)&f);
	CHECK_CONTAINS(f.err, path);
	CHECK_CONTAINS(f.err, "No such file or directory");
	teardown(&f);
}

TEST(open_refuses_symlink)
{
	struct fixture f;
	struct db *db = NULL;
	char target[160];

	setup(&f, false);
	snprintf(target, sizeof(target), "%s/elsewhere", f.dir);
	CHECK_INT(symlink(target, f.path), 0);
	CHECK_INT(db_open(f.path, &db, f.err, sizeof(f.err)), -ELOOP);
	CHECK(db == NULL);
	CHECK_CONTAINS(f.err, "symbolic link");
	/* Nothing was created through the link. */
	CHECK(access(target, F_OK) < 0);
	teardown(&f);
}

TEST(open_refuses_directory)
{
	struct fixture f;
	struct db *db = NULL;

	setup(&f, false);
	CHECK_INT(mkdir(f.path, 0700), 0);
	CHECK(db_open(f.path, &db, f.err, sizeof(f.err)) < 0);
	CHECK(db == NULL);
	CHECK_CONTAINS(f.err, f.path);
	teardown(&f);
}

TEST(open_without_error_buffer)
{
	struct fixture f;
	struct db *db = NULL;
	char path[160];

	setup(&f, false);
	snprintf(path, sizeof(path), "%s/nope/x.sqlite", f.dir);
	CHECK_INT(db_open(path, &db, NULL, 0), -ENOENT);
	CHECK_INT(db_open(NULL, &db, NULL, 0), -EINVAL);
	CHECK(db == NULL);
	teardown(&f);
}

TEST(migrate_empty_file)
{
	struct fixture f;
	char buf[128];
	int fd;

	setup(&f, false);
	fd = open(f.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(db_open(f.path, &f.db, f.err, sizeof(f.err)), 0);
	peek(f.path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_INT(atoi(buf), DB_SCHEMA_VERSION);
	peek(f.path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", buf, sizeof(buf));
	CHECK_INT(atoi(buf), 6);
	/* An existing file keeps the mode its owner gave it. */
	CHECK_INT(file_mode(f.path), 0644);
	/* Opening again applies nothing twice. */
	reopen(&f);
	peek(f.path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_INT(atoi(buf), DB_SCHEMA_VERSION);
	teardown(&f);
}

TEST(newer_schema_refused)
{
	struct fixture f;
	struct db *db = NULL;
	char want[160], buf[128];

	setup(&f, false);
	poke(f.path, "CREATE TABLE future (x); PRAGMA user_version = 999;");
	CHECK_INT(db_open(f.path, &db, f.err, sizeof(f.err)), -ENOTSUP);
	CHECK(db == NULL);
	snprintf(want, sizeof(want),
	         "database schema version 999 is newer than this rserver (%d); "
	         "refusing to downgrade",
	         DB_SCHEMA_VERSION);
	CHECK_CONTAINS(f.err, want);
	CHECK_CONTAINS(f.err, f.path);
	/* The file is left exactly as the newer rserver wrote it. */
	peek(f.path, "PRAGMA user_version", buf, sizeof(buf));
	CHECK_STR(buf, "999");
	peek(f.path, "PRAGMA journal_mode", buf, sizeof(buf));
	CHECK_STR(buf, "delete");
	peek(f.path, "SELECT count(*) FROM sqlite_schema WHERE name = 'sessions'", buf,
	     sizeof(buf));
	CHECK_STR(buf, "0");
	teardown(&f);
}

TEST(corrupt_header_refused)
{
	struct fixture f;
	struct db_session s = make_session("s1", "alice", 1000);
	struct db *db = NULL;

	setup(&f, true);
	CHECK_INT(db_session_put(f.db, &s), 0);
	db_close(f.db);
	f.db = NULL;
	scribble(f.path, 0, 8192);
	CHECK_INT(db_open(f.path, &db, f.err, sizeof(f.err)), -EIO);
	CHECK(db == NULL);
	CHECK_CONTAINS(f.err, f.path);
	CHECK_CONTAINS(f.err, "not a database");
	teardown(&f);
}

/* Page 1 (the header and schema) intact, the pages after it garbage: only
 * reading the tables shows it, which quick_check does at open. */
TEST(corrupt_pages_refused)
{
	struct fixture f;
	struct db_session s = make_session("s1", "alice", 1000);
	struct db *db = NULL;
	struct stat st;

	setup(&f, true);
	CHECK_INT(db_session_put(f.db, &s), 0);
	db_close(f.db);
	f.db = NULL;
	CHECK_INT(stat(f.path, &st), 0);
	CHECK(st.st_size > 4096);
	scribble(f.path, 4096, (size_t)st.st_size - 4096);
	CHECK_INT(db_open(f.path, &db, f.err, sizeof(f.err)), -EIO);
	CHECK(db == NULL);
	CHECK_CONTAINS(f.err, f.path);
	CHECK_CONTAINS(f.err, "integrity check");
	teardown(&f);
}

/* ---- Sessions ---- */

TEST(sessions_survive_restart)
{
	struct fixture f;
	struct db_session a = make_session("a1", "alice", 1000);
	struct db_session b = make_session("b1", "bob", 2000);
	struct db_session got;

	setup(&f, true);
	b.state = DB_SESSION_SUSPENDED;
	b.pid = 0;
	b.pid_start_time = 0;
	CHECK_INT(DB_FIELD_SET(b.exit_reason, "suspended after 30 minutes idle"), 0);
	CHECK_INT(db_session_put(f.db, &a), 0);
	CHECK_INT(db_session_put(f.db, &b), 0);
	reopen(&f);
	CHECK_INT(db_session_get(f.db, "a1", &got), 0);
	CHECK_SESSION(&got, &a);
	CHECK_INT(db_session_get(f.db, "b1", &got), 0);
	CHECK_SESSION(&got, &b);
	teardown(&f);
}

TEST(session_put_get_update_delete)
{
	struct fixture f;
	struct db_session s = make_session("s1", "alice", 1000);
	struct db_session got, sentinel;

	setup(&f, true);
	memset(&sentinel, 'x', sizeof(sentinel));

	/* Missing: -ENOENT everywhere, output untouched. */
	got = sentinel;
	CHECK_INT(db_session_get(f.db, "s1", &got), -ENOENT);
	CHECK(memcmp(&got, &sentinel, sizeof(got)) == 0);
	CHECK_INT(db_session_delete(f.db, "s1"), -ENOENT);
	CHECK_INT(db_session_update_state(f.db, "s1", DB_SESSION_EXITED, 0, "gone"), -ENOENT);

	CHECK_INT(db_session_put(f.db, &s), 0);
	CHECK_INT(db_session_get(f.db, "s1", &got), 0);
	CHECK_SESSION(&got, &s);

	/* Put again replaces every column. */
	s.state = DB_SESSION_STARTING;
	s.pid = 5000;
	s.pid_start_time = 123;
	CHECK_INT(DB_FIELD_SET(s.user, "alice2"), 0);
	CHECK_INT(DB_FIELD_SET(s.socket_path, ""), 0);
	s.launcher_pid = 0;
	s.started = 7;
	s.last_activity = 8;
	s.last_input = 9;
	CHECK_INT(DB_FIELD_SET(s.exit_reason, "x"), 0);
	CHECK_INT(DB_FIELD_SET(s.profile, ""), 0);
	s.created = 6;
	CHECK_INT(db_session_put(f.db, &s), 0);
	CHECK_INT(db_session_get(f.db, "s1", &got), 0);
	CHECK_SESSION(&got, &s);

	/* Same pid: the start time stays. */
	CHECK_INT(db_session_update_state(f.db, "s1", DB_SESSION_SUSPENDING, 5000, NULL), 0);
	CHECK_INT(db_session_get(f.db, "s1", &got), 0);
	CHECK_INT(got.state, DB_SESSION_SUSPENDING);
	CHECK_INT(got.pid, 5000);
	CHECK_INT(got.pid_start_time, 123);
	CHECK_STR(got.exit_reason, "");
	CHECK_INT(got.created, 6);

	/* Another pid (here none): the start time no longer applies. */
	CHECK_INT(
	    db_session_update_state(f.db, "s1", DB_SESSION_EXITED, 0, "R exited with status 1"), 0);
	CHECK_INT(db_session_get(f.db, "s1", &got), 0);
	CHECK_INT(got.state, DB_SESSION_EXITED);
	CHECK_INT(got.pid, 0);
	CHECK_INT(got.pid_start_time, 0);
	CHECK_STR(got.exit_reason, "R exited with status 1");
	CHECK_STR(got.user, "alice2");

	CHECK_INT(db_session_delete(f.db, "s1"), 0);
	CHECK_INT(db_session_get(f.db, "s1", &got), -ENOENT);
	CHECK_INT(db_session_delete(f.db, "s1"), -ENOENT);
	teardown(&f);
}

TEST(session_list_order_and_filter)
{
	struct fixture f;
	struct db_session *items = (struct db_session *)&f;
	size_t n = 99;
	struct db_session s;

	setup(&f, true);
	/* Inserted out of order; two created in the same millisecond. */
	s = make_session("c", "alice", 3000);
	CHECK_INT(db_session_put(f.db, &s), 0);
	s = make_session("a", "bob", 1000);
	CHECK_INT(db_session_put(f.db, &s), 0);
	s = make_session("e", "alice", 2000);
	CHECK_INT(db_session_put(f.db, &s), 0);
	s = make_session("d", "alice", 2000);
	CHECK_INT(db_session_put(f.db, &s), 0);

	CHECK_INT(db_session_list(f.db, NULL, &items, &n), 0);
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_STR(items[0].id, "a");
		CHECK_STR(items[1].id, "d");
		CHECK_STR(items[2].id, "e");
		CHECK_STR(items[3].id, "c");
		CHECK_STR(items[3].user, "alice");
		CHECK_INT(items[3].pid, 4242);
	}
	db_session_list_free(items);

	CHECK_INT(db_session_list(f.db, "alice", &items, &n), 0);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(items[0].id, "d");
		CHECK_STR(items[1].id, "e");
		CHECK_STR(items[2].id, "c");
	}
	db_session_list_free(items);

	CHECK_INT(db_session_list(f.db, "carol", &items, &n), 0);
	CHECK_INT(n, 0);
	CHECK(items == NULL);

	/* Failure leaves the outputs alone. */
	items = (struct db_session *)&f;
	n = 99;
	CHECK_INT(db_session_list(f.db, repeat('u', DB_USER_MAX + 1), &items, &n), -ENAMETOOLONG);
	CHECK(items == (struct db_session *)&f);
	CHECK_INT(n, 99);
	db_session_list_free(NULL);
	teardown(&f);
}

TEST(session_bounds)
{
	struct fixture f;
	struct db_session s = make_session("s", "u", 1), got;
	char before[sizeof(s.id)];

	setup(&f, true);
	/* Every string exactly at its bound round-trips. */
	CHECK_INT(DB_FIELD_SET(s.id, repeat('i', DB_SESSION_ID_MAX)), 0);
	CHECK_INT(DB_FIELD_SET(s.user, repeat('u', DB_USER_MAX)), 0);
	CHECK_INT(DB_FIELD_SET(s.socket_path, repeat('p', DB_SOCKET_PATH_MAX)), 0);
	CHECK_INT(DB_FIELD_SET(s.exit_reason, repeat('e', DB_EXIT_REASON_MAX)), 0);
	CHECK_INT(DB_FIELD_SET(s.profile, repeat('f', DB_PROFILE_MAX)), 0);
	CHECK_INT(db_session_put(f.db, &s), 0);
	CHECK_INT(db_session_get(f.db, repeat('i', DB_SESSION_ID_MAX), &got), 0);
	CHECK_SESSION(&got, &s);
	CHECK_INT(strlen(got.exit_reason), DB_EXIT_REASON_MAX);

	/* One over: refused, not truncated, the field left as it was. */
	memcpy(before, s.id, sizeof(before));
	CHECK_INT(DB_FIELD_SET(s.id, repeat('j', DB_SESSION_ID_MAX + 1)), -ENAMETOOLONG);
	CHECK(memcmp(before, s.id, sizeof(before)) == 0);
	CHECK_INT(DB_FIELD_SET(s.user, repeat('u', DB_USER_MAX + 1)), -ENAMETOOLONG);
	CHECK_INT(DB_FIELD_SET(s.socket_path, repeat('p', DB_SOCKET_PATH_MAX + 1)), -ENAMETOOLONG);

	/* A field filled without its NUL is a string over the bound. */
	s = make_session("s2", "u", 1);
	memset(s.profile, 'f', sizeof(s.profile));
	CHECK_INT(db_session_put(f.db, &s), -ENAMETOOLONG);
	s = make_session("s2", "u", 1);
	memset(s.id, 'i', sizeof(s.id));
	CHECK_INT(db_session_put(f.db, &s), -ENAMETOOLONG);
	CHECK_INT(db_session_get(f.db, "s2", &got), -ENOENT);

	/* Arguments over their bounds. */
	CHECK_INT(db_session_get(f.db, repeat('i', DB_SESSION_ID_MAX + 1), &got), -ENAMETOOLONG);
	CHECK_INT(db_session_delete(f.db, repeat('i', DB_SESSION_ID_MAX + 1)), -ENAMETOOLONG);
	CHECK_INT(db_session_update_state(f.db, repeat('i', DB_SESSION_ID_MAX), DB_SESSION_EXITED,
	                                  0, repeat('e', DB_EXIT_REASON_MAX + 1)),
	          -ENAMETOOLONG);
	CHECK_INT(db_session_update_state(f.db, repeat('i', DB_SESSION_ID_MAX), DB_SESSION_EXITED,
	                                  0, repeat('e', DB_EXIT_REASON_MAX)),
	          0);

	/* Malformed values. */
	s = make_session("", "u", 1);
	CHECK_INT(db_session_put(f.db, &s), -EINVAL);
	s = make_session("s3", "", 1);
	CHECK_INT(db_session_put(f.db, &s), -EINVAL);
	s = make_session("s3", "u", 1);
	s.state = (enum db_session_state)42;
	CHECK_INT(db_session_put(f.db, &s), -EINVAL);
	s = make_session("s3", "u", 1);
	s.pid = -1;
	CHECK_INT(db_session_put(f.db, &s), -EINVAL);
	s = make_session("s3", "u", 1);
	s.pid_start_time = UINT64_MAX;
	CHECK_INT(db_session_put(f.db, &s), -EINVAL);
	CHECK_INT(db_session_update_state(f.db, "s", (enum db_session_state) - 1, 0, NULL),
	          -EINVAL);
	CHECK_INT(db_session_get(f.db, "", &got), -EINVAL);
	teardown(&f);
}

TEST(session_state_names)
{
	enum db_session_state st = DB_SESSION_EXITED;

	CHECK_STR(db_session_state_name(DB_SESSION_STARTING), "starting");
	CHECK_STR(db_session_state_name(DB_SESSION_RUNNING), "running");
	CHECK_STR(db_session_state_name(DB_SESSION_SUSPENDING), "suspending");
	CHECK_STR(db_session_state_name(DB_SESSION_SUSPENDED), "suspended");
	CHECK_STR(db_session_state_name(DB_SESSION_EXITED), "exited");
	CHECK(db_session_state_name((enum db_session_state)5) == NULL);
	CHECK_INT(db_session_state_parse("suspending", &st), 0);
	CHECK_INT(st, DB_SESSION_SUSPENDING);
	CHECK_INT(db_session_state_parse("resuming", &st), -EINVAL);
	CHECK_INT(db_session_state_parse("Running", &st), -EINVAL);
	CHECK_INT(st, DB_SESSION_SUSPENDING);
}

#define EVIL "'; DROP TABLE sessions; --"

TEST(sql_looking_values_verbatim)
{
	struct fixture f;
	struct db_session s = make_session(EVIL, "robert'); DROP TABLE sessions;--", 5), got;
	struct db_session *items = NULL;
	struct db_audit_event *ev = NULL;
	struct db_ack *acks = NULL;
	size_t n = 0;
	bool has = false;
	int fails = -1;

	setup(&f, true);
	CHECK_INT(DB_FIELD_SET(s.exit_reason, "\" OR 1=1 -- %s %n \\"), 0);
	CHECK_INT(DB_FIELD_SET(s.profile, "?1 ?2 :x @y $z"), 0);
	CHECK_INT(db_session_put(f.db, &s), 0);
	CHECK_INT(db_session_get(f.db, EVIL, &got), 0);
	CHECK_SESSION(&got, &s);
	CHECK_INT(db_session_list(f.db, "robert'); DROP TABLE sessions;--", &items, &n), 0);
	CHECK_INT(n, 1);
	db_session_list_free(items);
	CHECK_INT(db_session_update_state(f.db, EVIL, DB_SESSION_EXITED, 0, EVIL), 0);
	CHECK_INT(db_session_get(f.db, EVIL, &got), 0);
	CHECK_STR(got.exit_reason, EVIL);
	/* A pattern is not a wildcard. */
	CHECK_INT(db_session_get(f.db, "%", &got), -ENOENT);

	CHECK_INT(db_signin_record(f.db, EVIL, 10, false), 0);
	CHECK_INT(db_signin_state(f.db, EVIL, 0, &fails, NULL), 0);
	CHECK_INT(fails, 1);
	CHECK_INT(db_ack_add(f.db, EVIL, EVIL, 10), 0);
	CHECK_INT(db_ack_has(f.db, EVIL, EVIL, &has), 0);
	CHECK(has);
	CHECK_INT(db_ack_list(f.db, EVIL, &acks, &n), 0);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(acks[0].notification_id, EVIL);
	db_ack_list_free(acks);
	CHECK_INT(db_audit_add(f.db, 10, EVIL, EVIL, EVIL, EVIL), 0);
	CHECK_INT(db_audit_list(f.db, 0, 0, &ev, &n), 0);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(ev[0].actor, EVIL);
		CHECK_STR(ev[0].detail, EVIL);
	}
	db_audit_list_free(ev);

	/* And the table is still there after a restart. */
	reopen(&f);
	CHECK_INT(db_session_get(f.db, EVIL, &got), 0);
	teardown(&f);
}

/* ---- Revoked cookies ---- */

TEST(cookies)
{
	struct fixture f;
	const char *h1 = "0123456789abcdef", *h2 = "fedcba9876543210", *h3 = "00ff";
	bool revoked = true;

	setup(&f, true);
	CHECK_INT(db_cookie_is_revoked(f.db, h1, &revoked), 0);
	CHECK(!revoked);
	CHECK_INT(db_cookie_revoke(f.db, h1, 1000), 0);
	CHECK_INT(db_cookie_revoke(f.db, h2, 2000), 0);
	/* Revoking again with an earlier expiry keeps the later one. */
	CHECK_INT(db_cookie_revoke(f.db, h2, 500), 0);
	CHECK_INT(db_cookie_is_revoked(f.db, h1, &revoked), 0);
	CHECK(revoked);
	CHECK_INT(db_cookie_is_revoked(f.db, h3, &revoked), 0);
	CHECK(!revoked);

	CHECK_INT(db_cookie_prune(f.db, 1500), 0);
	CHECK_INT(db_cookie_is_revoked(f.db, h1, &revoked), 0);
	CHECK(!revoked);
	/* Still revoked at its expiry millisecond, gone after it. */
	CHECK_INT(db_cookie_prune(f.db, 2000), 0);
	CHECK_INT(db_cookie_is_revoked(f.db, h2, &revoked), 0);
	CHECK(revoked);
	CHECK_INT(db_cookie_prune(f.db, 2001), 0);
	CHECK_INT(db_cookie_is_revoked(f.db, h2, &revoked), 0);
	CHECK(!revoked);

	/* Revocations survive a restart. */
	CHECK_INT(db_cookie_revoke(f.db, h3, 9000), 0);
	reopen(&f);
	CHECK_INT(db_cookie_is_revoked(f.db, h3, &revoked), 0);
	CHECK(revoked);

	/* One spelling per hash, bounded. */
	revoked = false;
	CHECK_INT(db_cookie_revoke(f.db, "00FF", 9000), -EINVAL);
	CHECK_INT(db_cookie_is_revoked(f.db, "00FF", &revoked), -EINVAL);
	CHECK(!revoked);
	CHECK_INT(db_cookie_revoke(f.db, "", 9000), -EINVAL);
	CHECK_INT(db_cookie_revoke(f.db, "00 ff", 9000), -EINVAL);
	CHECK_INT(db_cookie_revoke(f.db, EVIL, 9000), -EINVAL);
	CHECK_INT(db_cookie_revoke(f.db, repeat('a', DB_TOKEN_HASH_MAX), 9000), 0);
	CHECK_INT(db_cookie_is_revoked(f.db, repeat('a', DB_TOKEN_HASH_MAX), &revoked), 0);
	CHECK(revoked);
	CHECK_INT(db_cookie_revoke(f.db, repeat('a', DB_TOKEN_HASH_MAX + 1), 9000), -ENAMETOOLONG);
	teardown(&f);
}

/* ---- Sign-in attempts ---- */

TEST(signin_failures_window_and_clear)
{
	struct fixture f;
	int fails = -1;
	int64_t last = -1;

	setup(&f, true);
	CHECK_INT(db_signin_state(f.db, "alice", 0, &fails, &last), 0);
	CHECK_INT(fails, 0);
	CHECK_INT(last, 0);

	CHECK_INT(db_signin_record(f.db, "alice", 100, false), 0);
	CHECK_INT(db_signin_record(f.db, "alice", 200, false), 0);
	CHECK_INT(db_signin_record(f.db, "alice", 300, false), 0);
	CHECK_INT(db_signin_record(f.db, "bob", 250, false), 0);

	CHECK_INT(db_signin_state(f.db, "alice", 0, &fails, &last), 0);
	CHECK_INT(fails, 3);
	CHECK_INT(last, 300);
	/* The window starts at since_ms inclusive. */
	CHECK_INT(db_signin_state(f.db, "alice", 200, &fails, &last), 0);
	CHECK_INT(fails, 2);
	CHECK_INT(db_signin_state(f.db, "alice", 301, &fails, NULL), 0);
	CHECK_INT(fails, 0);
	CHECK_INT(db_signin_state(f.db, "bob", 0, NULL, &last), 0);
	CHECK_INT(last, 250);

	/* A success clears the failures but is itself the last attempt. */
	CHECK_INT(db_signin_record(f.db, "alice", 400, true), 0);
	CHECK_INT(db_signin_state(f.db, "alice", 0, &fails, &last), 0);
	CHECK_INT(fails, 0);
	CHECK_INT(last, 400);
	CHECK_INT(db_signin_state(f.db, "bob", 0, &fails, NULL), 0);
	CHECK_INT(fails, 1);

	/* Prune forgets what is older than the cut, and keeps the rest. */
	CHECK_INT(db_signin_record(f.db, "carol", 500, false), 0);
	CHECK_INT(db_signin_prune(f.db, 300), 0);
	CHECK_INT(db_signin_state(f.db, "bob", 0, &fails, &last), 0);
	CHECK_INT(fails, 0);
	CHECK_INT(last, 0);
	CHECK_INT(db_signin_state(f.db, "alice", 0, &fails, &last), 0);
	CHECK_INT(last, 400);
	CHECK_INT(db_signin_state(f.db, "carol", 0, &fails, &last), 0);
	CHECK_INT(fails, 1);
	CHECK_INT(last, 500);

	/* Failures persist across a restart: a restart must not reset lockout. */
	reopen(&f);
	CHECK_INT(db_signin_state(f.db, "carol", 0, &fails, &last), 0);
	CHECK_INT(fails, 1);

	fails = 77;
	CHECK_INT(db_signin_record(f.db, repeat('u', DB_USER_MAX + 1), 1, false), -ENAMETOOLONG);
	CHECK_INT(db_signin_state(f.db, repeat('u', DB_USER_MAX + 1), 0, &fails, NULL),
	          -ENAMETOOLONG);
	CHECK_INT(fails, 77);
	CHECK_INT(db_signin_record(f.db, "", 1, false), -EINVAL);
	CHECK_INT(db_signin_record(f.db, repeat('u', DB_USER_MAX), 1, false), 0);
	teardown(&f);
}

/* ---- Notification acknowledgements ---- */

TEST(acks_per_user_idempotent)
{
	struct fixture f;
	struct db_ack *items = NULL;
	size_t n = 99;
	bool has = true;

	setup(&f, true);
	CHECK_INT(db_ack_has(f.db, "alice", "n1", &has), 0);
	CHECK(!has);
	CHECK_INT(db_ack_add(f.db, "alice", "n2", 200), 0);
	CHECK_INT(db_ack_add(f.db, "alice", "n1", 100), 0);
	/* Again, later: still one acknowledgement, at the first time. */
	CHECK_INT(db_ack_add(f.db, "alice", "n1", 300), 0);
	CHECK_INT(db_ack_has(f.db, "alice", "n1", &has), 0);
	CHECK(has);
	/* Alice's acknowledgement is not Bob's. */
	CHECK_INT(db_ack_has(f.db, "bob", "n1", &has), 0);
	CHECK(!has);

	CHECK_INT(db_ack_list(f.db, "alice", &items, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(items[0].notification_id, "n1");
		CHECK_INT(items[0].when_ms, 100);
		CHECK_STR(items[1].notification_id, "n2");
		CHECK_INT(items[1].when_ms, 200);
	}
	db_ack_list_free(items);
	CHECK_INT(db_ack_list(f.db, "bob", &items, &n), 0);
	CHECK_INT(n, 0);
	CHECK(items == NULL);

	CHECK_INT(db_ack_add(f.db, "bob", "n1", 400), 0);
	CHECK_INT(db_ack_has(f.db, "bob", "n1", &has), 0);
	CHECK(has);

	CHECK_INT(db_ack_add(f.db, "alice", repeat('n', DB_NOTIFICATION_ID_MAX), 1), 0);
	CHECK_INT(db_ack_add(f.db, "alice", repeat('n', DB_NOTIFICATION_ID_MAX + 1), 1),
	          -ENAMETOOLONG);
	CHECK_INT(db_ack_add(f.db, "alice", "", 1), -EINVAL);
	teardown(&f);
}

/* ---- Audit trail ---- */

TEST(audit_newest_first)
{
	struct fixture f;
	struct db_audit_event *ev = NULL;
	size_t n = 0;

	setup(&f, true);
	CHECK_INT(db_audit_add(f.db, 100, "alice", "sign-in", "", NULL), 0);
	CHECK_INT(db_audit_add(f.db, 200, "admin-cli", "kill-session", "s1", "by root"), 0);
	CHECK_INT(db_audit_add(f.db, 200, "admin-cli", "kill-session", "s2", NULL), 0);
	CHECK_INT(db_audit_add(f.db, 300, "bob", "sign-out", NULL, NULL), 0);
	CHECK_INT(db_audit_add(f.db, 50, "rserver", "start", NULL, "clock was behind"), 0);

	CHECK_INT(db_audit_list(f.db, 0, 0, &ev, &n), 0);
	CHECK_INT(n, 5);
	if (n == 5) {
		CHECK_INT(ev[0].when_ms, 300);
		CHECK_STR(ev[0].actor, "bob");
		CHECK_STR(ev[0].target, "");
		CHECK_STR(ev[1].target, "s2"); /* same millisecond: last added first */
		CHECK_STR(ev[2].target, "s1");
		CHECK_STR(ev[2].detail, "by root");
		CHECK_STR(ev[2].action, "kill-session");
		CHECK_INT(ev[3].when_ms, 100);
		CHECK_INT(ev[4].when_ms, 50);
	}
	db_audit_list_free(ev);

	CHECK_INT(db_audit_list(f.db, 0, 2, &ev, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(ev[0].when_ms, 300);
		CHECK_STR(ev[1].target, "s2");
	}
	db_audit_list_free(ev);

	CHECK_INT(db_audit_list(f.db, 200, 0, &ev, &n), 0);
	CHECK_INT(n, 3);
	db_audit_list_free(ev);
	CHECK_INT(db_audit_list(f.db, 301, 10, &ev, &n), 0);
	CHECK_INT(n, 0);
	CHECK(ev == NULL);

	CHECK_INT(db_audit_prune(f.db, 200), 0);
	CHECK_INT(db_audit_list(f.db, 0, 0, &ev, &n), 0);
	CHECK_INT(n, 3);
	db_audit_list_free(ev);

	CHECK_INT(db_audit_add(f.db, 1, "", "x", NULL, NULL), -EINVAL);
	CHECK_INT(db_audit_add(f.db, 1, "a", "", NULL, NULL), -EINVAL);
	CHECK_INT(db_audit_add(f.db, 1, "a", repeat('x', DB_AUDIT_ACTION_MAX + 1), NULL, NULL),
	          -ENAMETOOLONG);
	CHECK_INT(db_audit_add(f.db, 1, "a", "x", NULL, repeat('d', DB_AUDIT_DETAIL_MAX)), 0);
	CHECK_INT(db_audit_add(f.db, 1, "a", "x", NULL, repeat('d', DB_AUDIT_DETAIL_MAX + 1)),
	          -ENAMETOOLONG);
	teardown(&f);
}

/* A row this program could not have written is reported, not truncated. */
TEST(foreign_row_reported)
{
	struct fixture f;
	struct db_session got;
	char sql[1024];

	setup(&f, true);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO sessions VALUES ('long', 'u', 'running', 1, 1, '%s', 0, 0, 0, 0, "
	         "'', '', 0)",
	         repeat('p', DB_SOCKET_PATH_MAX + 1));
	poke(f.path, sql);
	CHECK_INT(db_session_get(f.db, "long", &got), -EIO);
	CHECK_CONTAINS(db_error(f.db), "socket_path");
	teardown(&f);
}

TEST(close_null)
{
	db_close(NULL);
	db_ack_list_free(NULL);
	db_audit_list_free(NULL);
	CHECK_STR(db_error(NULL), "");
}

int main(void)
{
	/* The modes checked below assume nothing masks the owner's bits. */
	umask(022);
	RUN(open_creates_private_wal_file);
	RUN(open_missing_directory);
	RUN(open_refuses_symlink);
	RUN(open_refuses_directory);
	RUN(open_without_error_buffer);
	RUN(migrate_empty_file);
	RUN(newer_schema_refused);
	RUN(corrupt_header_refused);
	RUN(corrupt_pages_refused);
	RUN(sessions_survive_restart);
	RUN(session_put_get_update_delete);
	RUN(session_list_order_and_filter);
	RUN(session_bounds);
	RUN(session_state_names);
	RUN(sql_looking_values_verbatim);
	RUN(cookies);
	RUN(signin_failures_window_and_clear);
	RUN(acks_per_user_idempotent);
	RUN(audit_newest_first);
	RUN(foreign_row_reported);
	RUN(close_null);
	return test_summary();
}
