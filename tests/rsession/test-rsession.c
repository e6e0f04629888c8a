/*
 * Integration tests for rsession: each test starts its own rsession
 * processes (the binary named by $RSESSION) with a private HOME,
 * XDG_DATA_HOME, TMPDIR, config dir and socket under one mkdtemp root, and
 * drives them through the unix-socket protocol of common/sessproto.h.
 *
 * Everything waits on events with deadlines (T_MS per expectation); nothing
 * sleeps for a fixed long time. Whatever happens, each test's end kills and
 * reaps the processes it started (by pid) and unmounts what it mounted; the
 * root is removed at exit (kept when RS_TEST_KEEP is set). When a test fails
 * the rsession logs of that test are printed, and failed expectations print
 * the message trace of the connection.
 *
 * Root-only tests (tmpfs for disk full, peer uid checks) skip with a printed
 * reason otherwise. The tests numbered 1-20 follow the rsession contract
 * item by item; those marked "Extra" probe further promises of the same
 * contract (SPEC.md "Sessions", sessproto.h). An rsession built with
 * RSERVER_SANITIZE that reports a memory error or leak in its log fails the
 * test that started it.
 *
 *   RSESSION=build/rsession/rsession [RS_TEST_ONLY=name,name] [RS_TEST_KEEP=1]
 *   build/tests/rsession/test-rsession
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "sessproto.h"
#include "strutil.h"
#include "test.h"

#define T_MS 20000 /* per expectation: R starts in about a second */

#define ARGS(...) ((const char *[]){__VA_ARGS__, NULL})

static const char *rsession_path;
static char root[PATH_MAX];    /* mkdtemp root of the whole run */
static char mounted[PATH_MAX]; /* a tmpfs a test mounted, "" if none */

/* Text on one line for progress output: newlines shown as " | ". */
static const char *flat(const char *s, char *buf, size_t size)
{
	size_t j = 0;

	for (; *s && j + 4 < size; s++) {
		if (*s == '\n') {
			if (s[1])
				j += (size_t)sprintf(buf + j, " | ");
		} else {
			buf[j++] = *s;
		}
	}
	buf[j] = '\0';
	return buf;
}

/* ---- files ---- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];

	xsnprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* nftw has no user pointer: the walkers below use these. */
static unsigned walk_files;
static uint64_t walk_hash;
static bool walk_mtime;
static size_t walk_root_len;

static void fnv(const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		walk_hash ^= p[i];
		walk_hash *= 1099511628211ULL;
	}
}

static int count_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F && S_ISREG(st->st_mode))
		walk_files++;
	return 0;
}

/* Regular files under dir, recursively; 0 when dir is missing. */
static unsigned count_files(const char *dir)
{
	walk_files = 0;
	if (nftw(dir, count_cb, 16, FTW_PHYS) < 0)
		return 0;
	return walk_files;
}

static int file_hash(const char *path, uint64_t *ret);

static int hash_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	uint64_t h;

	fnv(path + walk_root_len, strlen(path + walk_root_len) + 1);
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	walk_files++;
	fnv(&st->st_size, sizeof(st->st_size));
	if (walk_mtime) {
		fnv(&st->st_mtim.tv_sec, sizeof(st->st_mtim.tv_sec));
		fnv(&st->st_mtim.tv_nsec, sizeof(st->st_mtim.tv_nsec));
	}
	if (file_hash(path, &h) < 0)
		return -1;
	fnv(&h, sizeof(h));
	return 0;
}

/*
 * A checksum over the names (relative to dir), sizes, contents and, when
 * with_mtime, modification times of everything under dir. Entries come in
 * readdir order, which is stable for an unchanged directory.
 */
static uint64_t tree_hash(const char *dir, bool with_mtime, unsigned *ret_files)
{
	walk_hash = 14695981039346656037ULL;
	walk_files = 0;
	walk_mtime = with_mtime;
	walk_root_len = strlen(dir);
	if (nftw(dir, hash_cb, 16, FTW_PHYS) < 0)
		return 0;
	if (ret_files)
		*ret_files = walk_files;
	return walk_hash;
}

/* Contents of the regular files under a directory, by relative path. */
#define MAX_SIGS 64
struct file_sig {
	char rel[256];
	uint64_t hash;
};
static struct file_sig *walk_sigs;
static unsigned walk_nsigs;

static int file_hash(const char *path, uint64_t *ret)
{
	char data[65536];
	uint64_t save = walk_hash;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	walk_hash = 14695981039346656037ULL;
	while ((n = read(fd, data, sizeof(data))) > 0)
		fnv(data, (size_t)n);
	close(fd);
	*ret = walk_hash;
	walk_hash = save;
	return n < 0 ? -EIO : 0;
}

static int sig_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag != FTW_F || !S_ISREG(st->st_mode) || walk_nsigs == MAX_SIGS)
		return 0;
	xsnprintf(walk_sigs[walk_nsigs].rel, sizeof(walk_sigs[0].rel), "%s", path + walk_root_len);
	if (file_hash(path, &walk_sigs[walk_nsigs].hash) == 0)
		walk_nsigs++;
	return 0;
}

/* Records the regular files under dir (at most MAX_SIGS); returns how many. */
static unsigned tree_sigs(const char *dir, struct file_sig *sigs)
{
	walk_sigs = sigs;
	walk_nsigs = 0;
	walk_root_len = strlen(dir);
	if (nftw(dir, sig_cb, 16, FTW_PHYS) < 0)
		return 0;
	return walk_nsigs;
}

/* True when every recorded file is under dir with the same contents. */
static bool tree_has_sigs(const char *dir, const struct file_sig *sigs, unsigned n)
{
	char path[PATH_MAX + 256];
	bool ok = true;

	for (unsigned i = 0; i < n; i++) {
		uint64_t h;

		xsnprintf(path, sizeof(path), "%s%s", dir, sigs[i].rel);
		if (file_hash(path, &h) < 0 || h != sigs[i].hash) {
			fprintf(stderr, "%s: '%s' is missing or changed\n", test_current, path);
			ok = false;
		}
	}
	return ok;
}

static int corrupt_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	unsigned char junk[200];
	int fd;

	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	memcpy(junk, "\x1f\x8b garbage \xff\xfe RDX3 \0 not R data", 31);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk)) {
		close(fd);
		return -1;
	}
	close(fd);
	walk_files++;
	return 0;
}

/* Overwrites every regular file under dir with garbage; returns how many. */
static int corrupt_tree(const char *dir)
{
	walk_files = 0;
	if (nftw(dir, corrupt_cb, 16, FTW_PHYS) < 0)
		return -errno;
	return (int)walk_files;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	/* FTW_MOUNT: never reach into a file system that failed to unmount. */
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void list_dir(const char *dir)
{
	char cmd[PATH_MAX + 32];

	xsnprintf(cmd, sizeof(cmd), "ls -la '%s' 1>&2", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(could not list %s)\n", dir);
}

/* ---- fixture: one directory per test ---- */

struct fx {
	char dir[PATH_MAX];
	char home[PATH_MAX];
	char xdg[PATH_MAX];
	char conf[PATH_MAX];
	char tmp[PATH_MAX];
	bool no_xdg; /* start sessions without XDG_DATA_HOME */
	unsigned nstarted;
	char logs[16][PATH_MAX];
	unsigned nlogs;
};

struct sess {
	struct child ch;
	char id[128]; /* room for the invalid ids the tests try */
	char sock[PATH_MAX];
};

static int fx_init(struct fx *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	xsnprintf(f->dir, sizeof(f->dir), "%s/%s", root, name);
	xsnprintf(f->home, sizeof(f->home), "%s/home", f->dir);
	xsnprintf(f->xdg, sizeof(f->xdg), "%s/xdg", f->dir);
	xsnprintf(f->conf, sizeof(f->conf), "%s/conf", f->dir);
	xsnprintf(f->tmp, sizeof(f->tmp), "%s/tmp", f->dir);
	if (mkdir_p(f->home, 0700) < 0 || mkdir_p(f->xdg, 0700) < 0 || mkdir_p(f->conf, 0700) < 0 ||
	    mkdir_p(f->tmp, 0700) < 0) {
		fprintf(stderr, "Failed to create the directories under '%s': %m\n", f->dir);
		return -1;
	}
	return 0;
}

static void unmount_test_fs(void)
{
	if (!mounted[0])
		return;
	if (umount2(mounted, 0) < 0) {
		fprintf(stderr, "Failed to unmount '%s': %m; detaching it\n", mounted);
		if (umount2(mounted, MNT_DETACH) < 0)
			fprintf(stderr, "Failed to detach '%s': %m\n", mounted);
	}
	mounted[0] = '\0';
}

/* The end of every test: kill and reap what it started, unmount, and on
 * failure show what the sessions logged. */
static void fx_done(struct fx *f)
{
	child_kill_all();
	unmount_test_fs();
	/* An rsession built with RSERVER_SANITIZE reports memory errors and
	 * leaks into its log: any such report fails the test. */
	for (unsigned i = 0; i < f->nlogs; i++) {
		static const char *const markers[] = {"ERROR: AddressSanitizer",
		                                      "ERROR: LeakSanitizer", "runtime error:"};
		char *data = NULL;
		size_t len;

		if (file_read_all(f->logs[i], 16 << 20, &data, &len) < 0)
			continue;
		for (size_t k = 0; k < sizeof(markers) / sizeof(markers[0]); k++) {
			if (strstr(data, markers[k])) {
				fprintf(stderr, "%s: '%s' reports \"%s\"\n", test_current,
				        f->logs[i], markers[k]);
				test_current_failed = 1;
				break;
			}
		}
		free(data);
	}
	if (test_current_failed)
		for (unsigned i = 0; i < f->nlogs; i++) {
			struct child fake = {0};
			xsnprintf(fake.log_path, sizeof(fake.log_path), "%s", f->logs[i]);
			child_print_log(&fake, 4000);
		}
}

static void state_dir(const struct fx *f, const char *id, char *buf, size_t size)
{
	if (f->no_xdg)
		xsnprintf(buf, size, "%s/.local/share/rstudio/sessions/%s", f->home, id);
	else
		xsnprintf(buf, size, "%s/rstudio/sessions/%s", f->xdg, id);
}

/* Starts rsession --session-id id --socket <new path> --config-dir <empty>
 * plus extra (NULL-terminated, may be NULL). */
static int sess_start(struct fx *f, struct sess *s, const char *id, const char *const *extra)
{
	const char *argv[32];
	char log[PATH_MAX];
	char **env;
	int n = 0, r;

	memset(s, 0, sizeof(*s));
	xsnprintf(s->id, sizeof(s->id), "%s", id);
	f->nstarted++;
	xsnprintf(s->sock, sizeof(s->sock), "%s/s%u.sock", f->dir, f->nstarted);
	/* The id may be a deliberately invalid one: keep the file name tame. */
	char tame[41];
	size_t k;
	for (k = 0; id[k] && k < sizeof(tame) - 1; k++)
		tame[k] = (isalnum((unsigned char)id[k]) || id[k] == '-') ? id[k] : '_';
	tame[k] = '\0';
	xsnprintf(log, sizeof(log), "%s/rsession-%u-%s.log", f->dir, f->nstarted, tame);
	argv[n++] = rsession_path;
	argv[n++] = "--session-id";
	argv[n++] = id;
	argv[n++] = "--socket";
	argv[n++] = s->sock;
	argv[n++] = "--config-dir";
	argv[n++] = f->conf;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	env = child_env_new(f->home, f->no_xdg ? NULL : f->xdg, f->tmp);
	r = child_spawn(&s->ch, (char *const *)argv, env, log, -1);
	child_env_free(env);
	if (r < 0) {
		fprintf(stderr, "Failed to start '%s': %s\n", rsession_path, strerror(-r));
		return r;
	}
	if (f->nlogs < 16)
		xsnprintf(f->logs[f->nlogs++], PATH_MAX, "%s", log);
	say("started rsession pid %d, id %s%s%s", (int)s->ch.pid, id, extra && extra[0] ? " " : "",
	    extra && extra[0] ? extra[0] : "");
	return 0;
}

/* Starts a session, connects c and reads up to the first "> ". */
static int sess_start_attach(struct fx *f, struct sess *s, const char *id, const char *const *extra,
                             struct client *c)
{
	int64_t t0 = now_ms();

	if (sess_start(f, s, id, extra) < 0)
		return -1;
	if (client_connect(c, s->sock, &s->ch, T_MS) < 0)
		return -1;
	if (client_attach(c, T_MS) < 0)
		return -1;
	say("attached %s to pid %d: first prompt after %.2f s", c->name, (int)s->ch.pid,
	    (double)(now_ms() - t0) / 1000.0);
	return 0;
}

/* Waits for the session to exit and compares its exit code. */
static bool sess_exit_is(struct sess *s, int want)
{
	char st[80];

	if (child_wait(&s->ch, T_MS) < 0) {
		fprintf(stderr, "%s: rsession %d did not exit within %d ms (want exit %d)\n",
		        test_current, (int)s->ch.pid, T_MS, want);
		return false;
	}
	say("rsession pid %d: %s", (int)s->ch.pid, child_status_str(&s->ch, st, sizeof(st)));
	if (child_exit_code(&s->ch) != want) {
		fprintf(stderr, "%s: rsession %d ended with %s, want exit %d\n", test_current,
		        (int)s->ch.pid, st, want);
		return false;
	}
	return true;
}

/* ---- protocol helpers ---- */

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* 1 true, 0 false, -1 missing or not a boolean */
static int jbool(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_boolean(v) ? json_is_true(v) : -1;
}

static long long jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/*
 * Runs one line of code and waits for its busy and the next "> ", then
 * checks that the stream's text accumulated meanwhile contains needle.
 * Output precedes the prompt, so nothing later can still belong to it.
 */
static bool eval_has(struct client *c, const char *code, const char *stream, const char *needle)
{
	const struct buf *b;

	if (client_run_wait(c, code, T_MS) < 0)
		return false;
	b = strcmp(stream, "stderr") == 0 ? &c->err : &c->out;
	if (!strstr(buf_str(b), needle)) {
		fprintf(stderr, "[%s] %s output of `%.*s` lacks \"%s\"\n", c->name, stream,
		        (int)strcspn(code, "\n"), code, needle);
		client_dump_trace(c, 3000);
		return false;
	}
	return true;
}

static bool eval_out(struct client *c, const char *code, const char *needle)
{
	return eval_has(c, code, "stdout", needle);
}

static int send_suspend(struct client *c, bool force)
{
	return client_send_pack(c, "{s:s, s:b}", "type", "suspend", "force", force);
}

/*
 * Reads until the session closes the connection, recording each message as
 * a token ("state:suspending", "result:suspend:ok", "output", ...) in seq.
 */
static int read_until_closed(struct client *c, int timeout_ms, struct buf *seq)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		struct sessproto_msg m;
		int64_t left = deadline - now_ms();
		int r = client_recv(c, left > 0 ? (int)left : 0, &m);

		if (r == -ECONNRESET)
			return 0;
		if (r <= 0) {
			fprintf(stderr, "[%s] expected the connection to close within %d ms: %s\n",
			        c->name, timeout_ms, r == 0 ? "timed out" : strerror(-r));
			client_dump_trace(c, 4000);
			return r == 0 ? -ETIMEDOUT : r;
		}
		if (m.type == SP_STATE)
			buf_appendf(seq, "state:%s ", jstr(m.json, "state"));
		else if (m.type == SP_RESULT)
			buf_appendf(seq, "result:%s:%s ", jstr(m.json, "request"),
			            jbool(m.json, "ok") == 1 ? "ok" : "fail");
		else
			buf_appendf(seq, "%s ", sessproto_type_name(m.type));
		sessproto_msg_free(&m);
	}
}

/* True when a occurs in s, and before b when b is given. */
static bool in_order(const char *s, const char *a, const char *b)
{
	const char *pa = strstr(s, a), *pb = b ? strstr(s, b) : NULL;
	return pa && (!b || (pb && pa < pb));
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00)" */
static bool is_rfc3339_utc(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	if (!s)
		return false;
	for (i = 0; pat[i]; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	}
	if (s[i] == '.') {
		i++;
		if (s[i] < '0' || s[i] > '9')
			return false;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return strcmp(s + i, "Z") == 0 || strcmp(s + i, "+00:00") == 0;
}

static bool history_has(const json_t *hist, const char *line, size_t *ret_index)
{
	json_t *lines = json_object_get(hist, "lines"), *v;
	size_t i;

	json_array_foreach(lines, i, v)
	{
		const char *s = json_string_value(v);
		size_t n = s ? strcspn(s, "\n") : 0;
		if (s && strlen(line) == n && strncmp(s, line, n) == 0) {
			if (ret_index)
				*ret_index = i;
			return true;
		}
	}
	return false;
}

/* Builds a frame by hand: length, version, payload (for malformed frames). */
static size_t raw_frame(char *out, size_t size, uint32_t length, unsigned version,
                        const char *payload)
{
	size_t plen = strlen(payload);

	if (plen + SESSPROTO_HEADER > size)
		abort();
	out[0] = (char)(length >> 24);
	out[1] = (char)(length >> 16);
	out[2] = (char)(length >> 8);
	out[3] = (char)length;
	out[4] = (char)(version >> 8);
	out[5] = (char)version;
	memcpy(out + SESSPROTO_HEADER, payload, plen);
	return SESSPROTO_HEADER + plen;
}

/* ---- tests ---- */

/* 1: 1+1, the hello, the kept banner. */
TEST(eval_basic)
{
	struct fx f;
	struct sess s;
	struct client c;
	unsigned a, b, d;
	int n = 0;
	char want[128];

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "eval_basic") == 0);
	REQUIRE(sess_start_attach(&f, &s, "basic", NULL, &c) == 0);

	json_t *h = c.hello;
	REQUIRE(h != NULL);
	CHECK_INT(jint(h, "version"), SESSPROTO_VERSION);
	CHECK_INT(jint(h, "pid"), s.ch.pid);
	CHECK_STR(jstr(h, "session_id"), "basic");
	const char *rv = jstr(h, "r_version");
	CHECK(rv && sscanf(rv, "%u.%u.%u%n", &a, &b, &d, &n) == 3 && (size_t)n == strlen(rv));
	say("hello: %s", rv ? rv : "(no r_version)");
	CHECK(c.nby_type[SP_STATE] >= 1);
	CHECK_STR(c.state, "running");
	struct stat sst;
	CHECK(stat(s.sock, &sst) == 0 && S_ISSOCK(sst.st_mode));
	CHECK_INT(sst.st_mode & 0777, 0600);
	/* The banner was printed before anyone connected: kept for the first. */
	CHECK_CONTAINS(buf_str(&c.out), "R version");

	REQUIRE(client_run(&c, "1+1\n") == 0);
	REQUIRE(client_expect_output(&c, "stdout", "[1] 2", T_MS) == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(!strstr(buf_str(&c.err), "[1] 2"));

	xsnprintf(want, sizeof(want), "RV=%s\n", rv ? rv : "?");
	CHECK(eval_out(&c, "cat(\"RV=\", as.character(getRversion()), \"\\n\", sep=\"\")\n", want));
out:
	client_close(&c);
	fx_done(&f);
}

/* 2: continuation prompt. */
TEST(continuation)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *st = NULL;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "continuation") == 0);
	REQUIRE(sess_start_attach(&f, &s, "cont", NULL, &c) == 0);
	REQUIRE(client_run(&c, "1 +\n") == 0);
	REQUIRE(client_expect_prompt(&c, "+ ", T_MS) == 0);
	REQUIRE(client_request(&c, "status", "status", T_MS, &st) == 0);
	CHECK_STR(jstr(st, "prompt_kind"), "continuation");
	CHECK_STR(jstr(st, "prompt"), "+ ");
	CHECK_INT(jbool(st, "busy"), 0);
	REQUIRE(client_run(&c, "1\n") == 0);
	REQUIRE(client_expect_output(&c, "stdout", "[1] 2", T_MS) == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
out:
	json_decref(st);
	client_close(&c);
	fx_done(&f);
}

/* 3: debugger prompt, left with c and with Q. */
TEST(browser)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *st = NULL;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "browser") == 0);
	REQUIRE(sess_start_attach(&f, &s, "browser", NULL, &c) == 0);
	REQUIRE(client_run(&c, "f <- function() { browser(); 1 }\nf()\n") == 0);
	REQUIRE(client_expect_prompt(&c, "Browse[1]> ", T_MS) == 0);
	REQUIRE(client_request(&c, "status", "status", T_MS, &st) == 0);
	CHECK_STR(jstr(st, "prompt_kind"), "browser");
	REQUIRE(client_run(&c, "c\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK_CONTAINS(buf_str(&c.out), "[1] 1");

	REQUIRE(client_run(&c, "f()\n") == 0);
	REQUIRE(client_expect_prompt(&c, "Browse[1]> ", T_MS) == 0);
	REQUIRE(client_run(&c, "Q\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(!strstr(buf_str(&c.out), "[1] 1"));
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	json_decref(st);
	client_close(&c);
	fx_done(&f);
}

/* 4: warning, error and message text on stderr; cat on stdout. */
TEST(streams)
{
	static const struct {
		const char *code, *stream, *text;
	} cases[] = {
	    {"warning(\"w-text\")\n", "stderr", "w-text"},
	    {"stop(\"e-text\")\n", "stderr", "e-text"},
	    {"message(\"m-text\")\n", "stderr", "m-text"},
	    {"cat(\"o-text\\n\")\n", "stdout", "o-text"},
	};
	struct fx f;
	struct sess s;
	struct client c;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "streams") == 0);
	REQUIRE(sess_start_attach(&f, &s, "streams", NULL, &c) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool to_err = strcmp(cases[i].stream, "stderr") == 0;

		CHECK(eval_has(&c, cases[i].code, cases[i].stream, cases[i].text));
		/* The other stream must not carry it. */
		CHECK(!strstr(buf_str(to_err ? &c.out : &c.err), cases[i].text));
		say("%-26.*s stdout=%-24.*s stderr=%.*s", (int)strcspn(cases[i].code, "\n"),
		    cases[i].code, (int)strcspn(buf_str(&c.out), "\n"), buf_str(&c.out),
		    (int)strcspn(buf_str(&c.err), "\n"), buf_str(&c.err));
	}
out:
	client_close(&c);
	fx_done(&f);
}

/* 5: interrupting Sys.sleep and a busy loop. */
TEST(interrupt_busy)
{
	static const char *const codes[] = {"Sys.sleep(60)\n", "while(TRUE){}\n"};
	struct fx f;
	struct sess s;
	struct client c;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "interrupt_busy") == 0);
	REQUIRE(sess_start_attach(&f, &s, "intr", NULL, &c) == 0);
	for (size_t i = 0; i < 2; i++) {
		REQUIRE(client_run(&c, codes[i]) == 0);
		REQUIRE(client_expect_type(&c, "busy", T_MS, NULL) == 0);
		int64_t t0 = now_ms();
		REQUIRE(client_send_type(&c, "interrupt") == 0);
		int r = client_expect_prompt(&c, "> ", 5000);
		say("interrupt of %.*s: prompt after %.3f s", (int)strcspn(codes[i], "\n"),
		    codes[i], (double)(now_ms() - t0) / 1000.0);
		REQUIRE(r == 0);
	}
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	client_close(&c);
	fx_done(&f);
}

/* 6: input sent while busy runs afterwards, in order. */
TEST(input_queue)
{
	struct fx f;
	struct sess s;
	struct client c;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "input_queue") == 0);
	REQUIRE(sess_start_attach(&f, &s, "queue", NULL, &c) == 0);
	REQUIRE(client_run(&c, "Sys.sleep(1); cat(\"Q-A\\n\")\n") == 0);
	REQUIRE(client_run(&c, "cat(\"Q-B\\n\")\n") == 0);
	REQUIRE(client_run(&c, "cat(\"Q-C\\n\")\n") == 0);
	REQUIRE(client_expect_output(&c, "stdout", "Q-C\n", T_MS) == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	const char *o = buf_str(&c.out);
	CHECK(in_order(o, "Q-A\n", "Q-B\n"));
	CHECK(in_order(o, "Q-B\n", "Q-C\n"));
	if (!in_order(o, "Q-A\n", "Q-B\n") || !in_order(o, "Q-B\n", "Q-C\n"))
		client_dump_trace(&c, 3000);
out:
	client_close(&c);
	fx_done(&f);
}

/* 7: several clients see the same console. */
TEST(two_clients)
{
	struct fx f;
	struct sess s;
	struct client a, b, c, d;
	json_t *st = NULL;

	client_init(&a, "A");
	client_init(&b, "B");
	client_init(&c, "C");
	client_init(&d, "D");
	REQUIRE(fx_init(&f, "two_clients") == 0);
	REQUIRE(sess_start_attach(&f, &s, "two", NULL, &a) == 0);
	REQUIRE(client_connect(&b, s.sock, &s.ch, T_MS) == 0);
	REQUIRE(client_attach(&b, T_MS) == 0);
	/* The kept start-up output goes to the first client only. */
	CHECK_CONTAINS(buf_str(&a.out), "R version");
	CHECK(!strstr(buf_str(&b.out), "R version"));

	REQUIRE(client_run(&a, "cat(\"from-A\\n\")\n") == 0);
	client_clear(&b);
	REQUIRE(client_expect_output(&a, "stdout", "from-A", T_MS) == 0);
	REQUIRE(client_expect_prompt(&a, "> ", T_MS) == 0);
	REQUIRE(client_expect_output(&b, "stdout", "from-A", T_MS) == 0);
	REQUIRE(client_expect_prompt(&b, "> ", T_MS) == 0);
	say("both clients saw the output of A's command");

	client_close(&a);
	CHECK(eval_out(&b, "1+1\n", "[1] 2"));
	say("B still works after A left");

	REQUIRE(client_connect(&c, s.sock, &s.ch, T_MS) == 0);
	REQUIRE(client_attach(&c, T_MS) == 0);
	say("C got hello and prompt");
	REQUIRE(client_request(&c, "status", "status", T_MS, &st) == 0);
	CHECK_INT(jint(st, "clients"), 2);
	CHECK(eval_out(&c, "cat(\"from-C\\n\")\n", "from-C"));
	CHECK(client_expect_output(&b, "stdout", "from-C", T_MS) == 0);
	REQUIRE(client_expect_prompt(&b, "> ", T_MS) == 0);

	/* A client arriving while R runs gets busy, not a prompt, after its
	 * hello and state; then the prompt when the command ends. */
	REQUIRE(client_run(&b, "Sys.sleep(1); cat(\"slept\\n\")\n") == 0);
	REQUIRE(client_expect_type(&b, "busy", T_MS, NULL) == 0);
	REQUIRE(client_connect(&d, s.sock, &s.ch, T_MS) == 0);
	for (;;) {
		struct sessproto_msg m;
		int r = client_recv(&d, T_MS, &m);
		if (r != 1) {
			CHECK(r == 1);
			client_dump_trace(&d, 2000);
			break;
		}
		enum sessproto_type t = m.type;
		sessproto_msg_free(&m);
		if (t == SP_BUSY || t == SP_PROMPT) {
			CHECK(t == SP_BUSY);
			break;
		}
	}
	CHECK(d.nby_type[SP_HELLO] == 1 && d.nby_type[SP_STATE] >= 1);
	say("D, connected during Sys.sleep(1), got: %s%s",
	    d.nby_type[SP_BUSY] ? "hello, state, busy" : "no busy first",
	    d.nby_type[SP_PROMPT] ? " (and a prompt)" : "");
	CHECK(client_expect_output(&d, "stdout", "slept", T_MS) == 0);
	CHECK(client_expect_prompt(&d, "> ", T_MS) == 0);
out:
	json_decref(st);
	client_close(&a);
	client_close(&b);
	client_close(&c);
	client_close(&d);
	fx_done(&f);
}

/* 8: several lines in one input message. */
TEST(multiline_input)
{
	struct fx f;
	struct sess s;
	struct client c;

	json_t *hist = NULL;
	size_t i1 = 0, i2 = 0, i3 = 0;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "multiline_input") == 0);
	REQUIRE(sess_start_attach(&f, &s, "multi", NULL, &c) == 0);
	REQUIRE(client_run(&c, "x <- 1\ny <- x + 1\ny\n") == 0);
	REQUIRE(client_expect_output(&c, "stdout", "[1] 2", T_MS) == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	/* Fed line by line: each is a console input line of its own. */
	REQUIRE(client_request(&c, "history", "history", T_MS, &hist) == 0);
	CHECK(history_has(hist, "x <- 1", &i1));
	CHECK(history_has(hist, "y <- x + 1", &i2));
	CHECK(history_has(hist, "y", &i3));
	CHECK(i1 < i2 && i2 < i3);
	if (!(i1 < i2 && i2 < i3)) {
		char *d = json_dumps(hist, JSON_COMPACT);
		fprintf(stderr, "history: %s\n", d ? d : "?");
		free(d);
	}
out:
	json_decref(hist);
	client_close(&c);
	fx_done(&f);
}

/* 9: the status request. */
TEST(status)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *st1 = NULL, *st2 = NULL, *st3 = NULL;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "status") == 0);
	REQUIRE(sess_start_attach(&f, &s, "status", NULL, &c) == 0);
	REQUIRE(client_request(&c, "status", "status", T_MS, &st1) == 0);
	CHECK_INT(jbool(st1, "busy"), 0);
	CHECK_STR(jstr(st1, "prompt"), "> ");
	CHECK_STR(jstr(st1, "prompt_kind"), "toplevel");
	CHECK_INT(jint(st1, "pid"), s.ch.pid);
	CHECK_STR(jstr(st1, "session_id"), "status");
	CHECK_STR(jstr(st1, "r_version"), jstr(c.hello, "r_version"));
	CHECK(jint(st1, "rss_bytes") > 1000000);
	CHECK_INT(jint(st1, "clients"), 1);
	const char *l1 = jstr(st1, "last_input");
	CHECK(is_rfc3339_utc(l1));
	say("idle: rss_bytes=%lld last_input=%s", jint(st1, "rss_bytes"), l1 ? l1 : "(null)");

	REQUIRE(client_run(&c, "Sys.sleep(2)\n") == 0);
	REQUIRE(client_expect_type(&c, "busy", T_MS, NULL) == 0);
	REQUIRE(client_request(&c, "status", "status", T_MS, &st2) == 0);
	CHECK_INT(jbool(st2, "busy"), 1);
	CHECK_STR(jstr(st2, "prompt_kind"), "none");
	say("busy: busy=%d prompt_kind=%s prompt=\"%s\"", jbool(st2, "busy"),
	    jstr(st2, "prompt_kind"), jstr(st2, "prompt"));
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);

	/* Two seconds after the sleep's input: later even at 1 s resolution. */
	CHECK(eval_out(&c, "1\n", "[1] 1"));
	REQUIRE(client_request(&c, "status", "status", T_MS, &st3) == 0);
	const char *l3 = jstr(st3, "last_input");
	CHECK(is_rfc3339_utc(l3));
	CHECK(l1 && l3 && strcmp(l3, l1) > 0);
	say("after input: last_input=%s", l3 ? l3 : "(null)");
out:
	json_decref(st1);
	json_decref(st2);
	json_decref(st3);
	client_close(&c);
	fx_done(&f);
}

/* Sends a non-forced or forced suspend and checks the reply sequence up to
 * the connection's end: state suspending, result ok, state suspended. */
static bool suspend_ok(struct client *c, bool force)
{
	struct buf seq = {0};
	bool ok;

	if (send_suspend(c, force) < 0)
		return false;
	ok = read_until_closed(c, T_MS, &seq) == 0;
	say("after suspend%s: %s", force ? " (force)" : "", buf_str(&seq));
	if (ok && (!in_order(buf_str(&seq), "state:suspending", "result:suspend:ok") ||
	           !in_order(buf_str(&seq), "result:suspend:ok", "state:suspended"))) {
		fprintf(stderr,
		        "[%s] want state:suspending, result:suspend:ok, state:suspended in "
		        "that order; got: %s\n",
		        c->name, buf_str(&seq));
		client_dump_trace(c, 3000);
		ok = false;
	}
	buf_free(&seq);
	return ok;
}

/* Entries of dir whose names start with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* 10: suspend at idle and resume everything. */
TEST(suspend_resume)
{
	struct fx f;
	struct sess s1, s2;
	struct client c1, c2;
	json_t *hist = NULL;
	char wd[PATH_MAX], real[PATH_MAX], code[PATH_MAX + 64], want[PATH_MAX + 64], sd[PATH_MAX];
	const char *pkg = "MASS";
	size_t ix = 0, iy = 0;
	int64_t t0;

	client_init(&c1, "first");
	client_init(&c2, "resumed");
	REQUIRE(fx_init(&f, "suspend_resume") == 0);
	xsnprintf(wd, sizeof(wd), "%s/work dir", f.dir);
	REQUIRE(mkdir_p(wd, 0700) == 0);
	REQUIRE(realpath(wd, real) != NULL);
	state_dir(&f, "resume", sd, sizeof(sd));

	REQUIRE(sess_start_attach(&f, &s1, "resume", NULL, &c1) == 0);
	REQUIRE(client_run_wait(&c1,
	                        "cat(\"HAVE_MASS=\", requireNamespace(\"MASS\", quietly=TRUE), "
	                        "\"\\n\", sep=\"\")\n",
	                        T_MS) == 0);
	if (!strstr(buf_str(&c1.out), "HAVE_MASS=TRUE")) {
		pkg = "splines";
		say("NOTE: MASS is not installed (package r-cran-mass); using splines instead");
	}
	CHECK(eval_out(&c1, "x <- 42\n", ""));
	CHECK(eval_out(&c1, "library(tools)\n", ""));
	xsnprintf(code, sizeof(code), "library(%s)\n", pkg);
	CHECK(eval_out(&c1, code, ""));
	xsnprintf(code, sizeof(code), "setwd(\"%s\")\n", real);
	CHECK(eval_out(&c1, code, ""));
	CHECK(eval_out(&c1, "options(digits=3)\n", ""));
	CHECK(eval_out(&c1, "Sys.setenv(RS_TEST_VAR=\"hello\")\n", ""));

	t0 = now_ms();
	REQUIRE(suspend_ok(&c1, false));
	REQUIRE(sess_exit_is(&s1, RSESSION_EXIT_SUSPENDED));
	say("suspended in %.2f s; state dir holds %u files", (double)(now_ms() - t0) / 1000.0,
	    count_files(sd));
	REQUIRE(is_dir(sd));
	CHECK(count_files(sd) >= 1);

	/* A new launch with a different TMPDIR: variables the user did not
	 * set come from the new launch, not from the saved state. */
	xsnprintf(f.tmp, sizeof(f.tmp), "%s/tmp2", f.dir);
	REQUIRE(mkdir_p(f.tmp, 0700) == 0);
	t0 = now_ms();
	REQUIRE(sess_start_attach(&f, &s2, "resume", NULL, &c2) == 0);
	say("resumed in %.2f s; states seen: %s", (double)(now_ms() - t0) / 1000.0,
	    buf_str(&c2.states));
	CHECK(client_expect_output(&c2, "stdout", "Session restored from your saved work on", 0) ==
	      0);
	CHECK(eval_out(&c2, "x\n", "[1] 42"));
	xsnprintf(want, sizeof(want), "S2=package:%s\n", pkg);
	CHECK(eval_out(&c2, "cat(\"S2=\", search()[2], \"\\n\", sep=\"\")\n", want));
	CHECK(
	    eval_out(&c2, "cat(\"S3=\", search()[3], \"\\n\", sep=\"\")\n", "S3=package:tools\n"));
	xsnprintf(want, sizeof(want), "TMP=%s\n", f.tmp);
	CHECK(eval_out(&c2, "cat(\"TMP=\", Sys.getenv(\"TMPDIR\"), \"\\n\", sep=\"\")\n", want));
	xsnprintf(want, sizeof(want), "WD=%s\n", real);
	CHECK(eval_out(&c2, "cat(\"WD=\", getwd(), \"\\n\", sep=\"\")\n", want));
	CHECK(
	    eval_out(&c2, "cat(\"DIG=\", getOption(\"digits\"), \"\\n\", sep=\"\")\n", "DIG=3\n"));
	CHECK(eval_out(&c2, "cat(\"ENV=\", Sys.getenv(\"RS_TEST_VAR\"), \"\\n\", sep=\"\")\n",
	               "ENV=hello\n"));
	REQUIRE(client_request(&c2, "history", "history", T_MS, &hist) == 0);
	CHECK(history_has(hist, "x <- 42", &ix));
	CHECK(history_has(hist, "Sys.setenv(RS_TEST_VAR=\"hello\")", &iy));
	CHECK(ix < iy);
	if (!history_has(hist, "x <- 42", NULL)) {
		char *d = json_dumps(hist, JSON_COMPACT);
		fprintf(stderr, "history: %s\n", d ? d : "?");
		free(d);
	}
	CHECK(!exists(sd));
	/* The restored state is retired at once (renamed) and removed in the
	 * background: nothing of it is left a little later. */
	{
		char state_root[PATH_MAX];
		int64_t until = now_ms() + 10000;
		int left;

		xsnprintf(state_root, sizeof(state_root), "%s", sd);
		*strrchr(state_root, '/') = '\0';
		while ((left = count_prefixed(state_root, ".resume.tmp-")) > 0 && now_ms() < until)
			usleep(20000);
		CHECK(left == 0);
	}
out:
	json_decref(hist);
	client_close(&c1);
	client_close(&c2);
	fx_done(&f);
}

/* Sends a plain suspend and expects a refusal whose error contains why. */
static bool suspend_refused(struct client *c, const char *why)
{
	json_t *res = NULL;
	bool ok = false;

	if (send_suspend(c, false) < 0 || client_expect_result(c, "suspend", T_MS, &res) < 0)
		return false;
	const char *err = jstr(res, "error");
	say("suspend refused? ok=%d error=\"%s\"", jbool(res, "ok"), err ? err : "(none)");
	ok = jbool(res, "ok") == 0 && err && strstr(err, why);
	if (!ok)
		fprintf(stderr, "[%s] want ok:false and an error containing \"%s\"\n", c->name,
		        why);
	json_decref(res);
	return ok;
}

/* 11: suspend refusals, then a forced suspend of a busy session. */
TEST(suspend_refused_and_forced)
{
	struct fx f;
	struct sess s, s2;
	struct client c, c2;
	char sd[PATH_MAX];
	int64_t t0;

	client_init(&c, "c");
	client_init(&c2, "resumed");
	REQUIRE(fx_init(&f, "suspend_refused_and_forced") == 0);
	state_dir(&f, "force", sd, sizeof(sd));
	REQUIRE(sess_start_attach(&f, &s, "force", NULL, &c) == 0);

	REQUIRE(client_run(&c, "Sys.sleep(3)\n") == 0);
	REQUIRE(client_expect_type(&c, "busy", T_MS, NULL) == 0);
	CHECK(suspend_refused(&c, "busy"));
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(!child_poll(&s.ch));

	REQUIRE(client_run(&c, "1 +\n") == 0);
	REQUIRE(client_expect_prompt(&c, "+ ", T_MS) == 0);
	CHECK(suspend_refused(&c, "continuation"));
	REQUIRE(client_run(&c, "1\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK_CONTAINS(buf_str(&c.out), "[1] 2");

	REQUIRE(client_run(&c, "f <- function() { browser(); 1 }\nf()\n") == 0);
	REQUIRE(client_expect_prompt(&c, "Browse[1]> ", T_MS) == 0);
	CHECK(suspend_refused(&c, "debugger"));
	REQUIRE(client_run(&c, "Q\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);

	CHECK(eval_out(&c, "1+1\n", "[1] 2"));

	CHECK(eval_out(&c, "keep <- 99\n", ""));
	REQUIRE(client_run(&c, "Sys.sleep(60)\n") == 0);
	REQUIRE(client_expect_type(&c, "busy", T_MS, NULL) == 0);
	t0 = now_ms();
	CHECK(suspend_ok(&c, true));
	REQUIRE(sess_exit_is(&s, RSESSION_EXIT_FORCE_SUSPENDED));
	say("force-suspended a busy session in %.2f s; %u files saved",
	    (double)(now_ms() - t0) / 1000.0, count_files(sd));
	REQUIRE(is_dir(sd));
	CHECK(count_files(sd) >= 1);

	REQUIRE(sess_start_attach(&f, &s2, "force", ARGS("--resume"), &c2) == 0);
	CHECK(client_expect_output(&c2, "stdout", "Session restored from your saved work on", 0) ==
	      0);
	CHECK(eval_out(&c2, "keep\n", "[1] 99"));
	CHECK(!exists(sd));
out:
	client_close(&c);
	client_close(&c2);
	fx_done(&f);
}

/* 12: SIGUSR1 suspends an idle session, SIGUSR2 force-suspends a busy one. */
TEST(signals_suspend)
{
	struct fx f;
	struct sess s, s2;
	struct client c, c2;
	struct buf seq = {0};
	char sd[PATH_MAX];

	client_init(&c, "usr1");
	client_init(&c2, "usr2");
	REQUIRE(fx_init(&f, "signals_suspend") == 0);

	state_dir(&f, "usr1", sd, sizeof(sd));
	REQUIRE(sess_start_attach(&f, &s, "usr1", NULL, &c) == 0);

	/* Like a plain suspend request, SIGUSR1 does not suspend a busy R. */
	REQUIRE(client_run(&c, "Sys.sleep(1); cat(\"woke\\n\")\n") == 0);
	REQUIRE(client_expect_type(&c, "busy", T_MS, NULL) == 0);
	REQUIRE(kill(s.ch.pid, SIGUSR1) == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK_CONTAINS(buf_str(&c.out), "woke");
	CHECK(!child_poll(&s.ch));
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
	say("SIGUSR1 while busy: still running, last state \"%s\"", c.state);
	CHECK_STR(c.state, "running");

	CHECK(eval_out(&c, "z <- 5\n", ""));
	REQUIRE(kill(s.ch.pid, SIGUSR1) == 0);
	CHECK(read_until_closed(&c, T_MS, &seq) == 0);
	say("after SIGUSR1: %s", buf_str(&seq));
	CHECK(!strstr(buf_str(&seq), "result:"));
	REQUIRE(sess_exit_is(&s, RSESSION_EXIT_SUSPENDED));
	CHECK(is_dir(sd));
	CHECK(count_files(sd) >= 1);

	buf_reset(&seq);
	state_dir(&f, "usr2", sd, sizeof(sd));
	REQUIRE(sess_start_attach(&f, &s2, "usr2", NULL, &c2) == 0);
	REQUIRE(client_run(&c2, "Sys.sleep(60)\n") == 0);
	REQUIRE(client_expect_type(&c2, "busy", T_MS, NULL) == 0);
	REQUIRE(kill(s2.ch.pid, SIGUSR2) == 0);
	CHECK(read_until_closed(&c2, T_MS, &seq) == 0);
	say("after SIGUSR2: %s", buf_str(&seq));
	REQUIRE(sess_exit_is(&s2, RSESSION_EXIT_FORCE_SUSPENDED));
	CHECK(is_dir(sd));
	CHECK(count_files(sd) >= 1);
out:
	buf_free(&seq);
	client_close(&c);
	client_close(&c2);
	fx_done(&f);
}

/* 13: a suspend that does not fit on the disk. */
TEST(disk_full)
{
	struct fx f;
	struct sess s1, s2, s3;
	struct client c1, c2, c3;
	json_t *res = NULL;
	char sd1[PATH_MAX], sd2[PATH_MAX], parent[PATH_MAX];
	uint64_t h1, h2;
	unsigned n1 = 0, n2 = 0;

	client_init(&c1, "S1");
	client_init(&c2, "S2");
	client_init(&c3, "S2-again");
	REQUIRE(fx_init(&f, "disk_full") == 0);
	if (geteuid() != 0) {
		say("SKIP: mounting a tmpfs needs root");
		goto out;
	}
	if (mount("tmpfs", f.xdg, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") < 0) {
		say("SKIP: cannot mount a tmpfs on '%s': %s", f.xdg, strerror(errno));
		goto out;
	}
	xsnprintf(mounted, sizeof(mounted), "%s", f.xdg);
	say("mounted a 2 MiB tmpfs as XDG_DATA_HOME");
	state_dir(&f, "S1", sd1, sizeof(sd1));
	state_dir(&f, "S2", sd2, sizeof(sd2));
	xsnprintf(parent, sizeof(parent), "%s/rstudio/sessions", f.xdg);

	REQUIRE(sess_start_attach(&f, &s1, "S1", NULL, &c1) == 0);
	CHECK(eval_out(&c1, "y <- 7\n", ""));
	REQUIRE(suspend_ok(&c1, false));
	REQUIRE(sess_exit_is(&s1, RSESSION_EXIT_SUSPENDED));
	REQUIRE(is_dir(sd1));
	h1 = tree_hash(sd1, true, &n1);
	say("S1 saved %u files on the tmpfs", n1);
	CHECK(n1 >= 1);

	REQUIRE(sess_start_attach(&f, &s2, "S2", NULL, &c2) == 0);
	CHECK(eval_out(&c2, "big <- runif(2e6)\n", ""));
	REQUIRE(send_suspend(&c2, false) == 0);
	REQUIRE(client_expect_result(&c2, "suspend", T_MS, &res) == 0);
	const char *err = jstr(res, "error");
	say("suspend of 16 MB on 2 MiB: ok=%d error=\"%s\"", jbool(res, "ok"),
	    err ? err : "(none)");
	CHECK_INT(jbool(res, "ok"), 0);
	CHECK(err && strcasestr(err, "space"));
	CHECK(eval_out(&c2, "1+1\n", "[1] 2"));
	CHECK(eval_out(&c2, "cat(\"BIG=\", length(big), \"\\n\", sep=\"\")\n", "BIG=2000000\n"));
	CHECK(!child_poll(&s2.ch));

	h2 = tree_hash(sd1, true, &n2);
	CHECK(h1 == h2 && n1 == n2);
	say("S1's state after S2's failed suspend: %s (%u files)",
	    h1 == h2 ? "unchanged" : "CHANGED", n2);
	if (h1 != h2)
		list_dir(sd1);
	say("sessions dir after the failed suspend:");
	list_dir(parent);

	/* With the big object gone the same session suspends: the failed
	 * attempt left no partial files eating the space. */
	CHECK(eval_out(&c2, "rm(big); invisible(gc())\n", ""));
	CHECK(suspend_ok(&c2, false));
	CHECK(sess_exit_is(&s2, RSESSION_EXIT_SUSPENDED));
	CHECK(count_files(sd2) >= 1);

	/* And S1 still resumes from its untouched state. */
	REQUIRE(sess_start_attach(&f, &s3, "S1", NULL, &c3) == 0);
	CHECK(eval_out(&c3, "y\n", "[1] 7"));
out:
	json_decref(res);
	client_close(&c1);
	client_close(&c2);
	client_close(&c3);
	fx_done(&f);
}

/* 14: a corrupt saved state: fresh start, state kept aside. */
TEST(corrupt_state)
{
	struct fx f;
	struct sess s[4];
	struct client c[4];
	char sd[PATH_MAX], aside[PATH_MAX];
	struct file_sig sigs[MAX_SIGS];
	unsigned nsigs;

	for (int i = 0; i < 4; i++)
		client_init(&c[i], i % 2 ? "restart" : "first");
	REQUIRE(fx_init(&f, "corrupt_state") == 0);
	state_dir(&f, "corrupt", sd, sizeof(sd));

	for (int round = 1; round <= 2; round++) {
		struct client *a = &c[2 * round - 2], *b = &c[2 * round - 1];
		char code[64];

		xsnprintf(code, sizeof(code), "x <- %d\n", round);
		REQUIRE(sess_start_attach(&f, &s[2 * round - 2], "corrupt", NULL, a) == 0);
		if (round == 2)
			CHECK(eval_out(a, "cat(\"EX=\", exists(\"x\"), \"\\n\", sep=\"\")\n",
			               "EX=FALSE\n"));
		CHECK(eval_out(a, code, ""));
		REQUIRE(suspend_ok(a, false));
		REQUIRE(sess_exit_is(&s[2 * round - 2], RSESSION_EXIT_SUSPENDED));
		REQUIRE(is_dir(sd));
		int n = corrupt_tree(sd);
		say("round %d: overwrote %d saved files with garbage", round, n);
		CHECK(n >= 1);
		nsigs = tree_sigs(sd, sigs);

		REQUIRE(sess_start_attach(&f, &s[2 * round - 1], "corrupt", NULL, b) == 0);
		char fl[600];
		say("stderr at start: %s", flat(buf_str(&b->err), fl, sizeof(fl)));
		CHECK(strcasestr(buf_str(&b->err), "restor") != NULL);
		CHECK(!strstr(buf_str(&b->out), "Session restored from your saved work on"));
		xsnprintf(aside, sizeof(aside), "%s.suspended-unrestored-%d", sd, round);
		CHECK(is_dir(aside));
		CHECK(!exists(sd));
		/* Nothing deleted: every garbage file is still there. */
		CHECK(tree_has_sigs(aside, sigs, nsigs));
		CHECK(eval_out(b, "exists(\"x\")\n", "[1] FALSE"));
		if (round == 1) {
			/* Shut this one down without saving for round 2. */
			child_kill(&s[1].ch);
		}
	}
	xsnprintf(aside, sizeof(aside), "%s.suspended-unrestored-1", sd);
	CHECK(is_dir(aside));
out:
	for (int i = 0; i < 4; i++)
		client_close(&c[i]);
	fx_done(&f);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* Extra: r-libs-user is honoured, and a state that needs a package that has
 * gone is not restored but kept aside. */
TEST(missing_package)
{
	struct fx f;
	struct sess s1, s2;
	struct client c1, c2;
	char src[PATH_MAX], lib[PATH_MAX], reallib[PATH_MAX], path[PATH_MAX + 32];
	char arg[PATH_MAX + 32], code[2 * PATH_MAX + 128], want[PATH_MAX + 16], sd[PATH_MAX];
	char aside[PATH_MAX + 32], fl[800];
	int64_t t0;

	client_init(&c1, "first");
	client_init(&c2, "restart");
	REQUIRE(fx_init(&f, "missing_package") == 0);
	state_dir(&f, "pkg", sd, sizeof(sd));
	xsnprintf(src, sizeof(src), "%s/src/rstinypkg", f.dir);
	xsnprintf(lib, sizeof(lib), "%s/lib", f.dir);
	xsnprintf(path, sizeof(path), "%s/R", src);
	REQUIRE(mkdir_p(path, 0755) == 0);
	REQUIRE(mkdir_p(lib, 0755) == 0);
	REQUIRE(realpath(lib, reallib) != NULL);
	xsnprintf(path, sizeof(path), "%s/DESCRIPTION", src);
	REQUIRE(write_file(path, "Package: rstinypkg\nVersion: 0.1\nTitle: Test Package\n"
	                         "Description: A package for the rsession tests.\n"
	                         "License: MIT\nAuthor: test\n"
	                         "Maintainer: test <test@example.com>\n") == 0);
	xsnprintf(path, sizeof(path), "%s/NAMESPACE", src);
	REQUIRE(write_file(path, "export(tiny)\n") == 0);
	xsnprintf(path, sizeof(path), "%s/R/tiny.R", src);
	REQUIRE(write_file(path, "tiny <- function() 7L\n") == 0);

	xsnprintf(arg, sizeof(arg), "--r-libs-user=%s", reallib);
	REQUIRE(sess_start_attach(&f, &s1, "pkg", ARGS(arg), &c1) == 0);
	xsnprintf(want, sizeof(want), "LIB1=%s\n", reallib);
	CHECK(eval_out(&c1, "cat(\"LIB1=\", .libPaths()[1], \"\\n\", sep=\"\")\n", want));
	t0 = now_ms();
	xsnprintf(code, sizeof(code),
	          "install.packages(\"%s\", lib=\"%s\", repos=NULL, type=\"source\", "
	          "quiet=TRUE)\n",
	          src, reallib);
	REQUIRE(client_run(&c1, code) == 0);
	REQUIRE(client_expect_type(&c1, "busy", T_MS, NULL) == 0);
	REQUIRE(client_expect_prompt(&c1, "> ", 3 * T_MS) == 0);
	say("installed a tiny package into r-libs-user in %.2f s",
	    (double)(now_ms() - t0) / 1000.0);
	/* No lib.loc: found through r-libs-user. */
	REQUIRE(eval_out(&c1, "library(rstinypkg); x <- tiny(); x\n", "[1] 7"));
	CHECK(eval_out(&c1, "cat(\"S2=\", search()[2], \"\\n\", sep=\"\")\n",
	               "S2=package:rstinypkg\n"));
	REQUIRE(suspend_ok(&c1, false));
	REQUIRE(sess_exit_is(&s1, RSESSION_EXIT_SUSPENDED));
	REQUIRE(is_dir(sd));

	xsnprintf(path, sizeof(path), "%s/rstinypkg", reallib);
	rm_tree(path);
	REQUIRE(!exists(path));
	REQUIRE(sess_start_attach(&f, &s2, "pkg", ARGS(arg), &c2) == 0);
	say("stderr at start: %s", flat(buf_str(&c2.err), fl, sizeof(fl)));
	CHECK_CONTAINS(buf_str(&c2.err), "rstinypkg");
	CHECK(strcasestr(buf_str(&c2.err), "restor") != NULL);
	CHECK(!strstr(buf_str(&c2.out), "Session restored from your saved work on"));
	xsnprintf(aside, sizeof(aside), "%s.suspended-unrestored-1", sd);
	CHECK(is_dir(aside));
	CHECK(count_files(aside) >= 1);
	CHECK(!exists(sd));
	CHECK(eval_out(&c2, "exists(\"x\")\n", "[1] FALSE"));
out:
	client_close(&c1);
	client_close(&c2);
	fx_done(&f);
}

/* 15: bad frames drop that client only. */
TEST(protocol_robustness)
{
	struct {
		const char *what;
		char frame[256];
		size_t len;
	} bad[11];
	struct fx f;
	struct sess s;
	struct client good, b;
	char payload[200];

	client_init(&good, "good");
	client_init(&b, "bad");
	REQUIRE(fx_init(&f, "protocol_robustness") == 0);

	xsnprintf(payload, sizeof(payload),
	          "{\"type\":\"input\",\"text\":\"cat('V2-RAN\\\\n')\\n\"}");
	bad[0].what = "version 2";
	bad[0].len = raw_frame(bad[0].frame, sizeof(bad[0].frame), (uint32_t)strlen(payload) + 2, 2,
	                       payload);
	bad[1].what = "length 0x7fffffff";
	bad[1].len =
	    raw_frame(bad[1].frame, sizeof(bad[1].frame), 0x7fffffffu, 1, "{\"type\":\"status\"}");
	xsnprintf(payload, sizeof(payload), "{\"type\":\"input\",\"text\":");
	bad[2].what = "invalid JSON";
	bad[2].len = raw_frame(bad[2].frame, sizeof(bad[2].frame), (uint32_t)strlen(payload) + 2, 1,
	                       payload);
	xsnprintf(payload, sizeof(payload), "{\"type\":\"launch-missiles\"}");
	bad[3].what = "unknown type";
	bad[3].len = raw_frame(bad[3].frame, sizeof(bad[3].frame), (uint32_t)strlen(payload) + 2, 1,
	                       payload);
	xsnprintf(payload, sizeof(payload),
	          "{\"type\":\"input\",\"text\":\"cat('EXTRA-RAN\\\\n')\\n\",\"extra\":1}");
	bad[4].what = "input with an extra field";
	bad[4].len = raw_frame(bad[4].frame, sizeof(bad[4].frame), (uint32_t)strlen(payload) + 2, 1,
	                       payload);
	/* Beyond the list in the brief, from sessproto.h's strictness rules. */
	static const struct {
		const char *what, *payload;
	} more[] = {
	    {"a message only rsession sends", "{\"type\":\"prompt\",\"prompt\":\"> \"}"},
	    {"trailing bytes after the JSON", "{\"type\":\"status\"} x"},
	    {"JSON that is not an object", "[\"status\"]"},
	    {"a NUL escape in the text",
	     "{\"type\":\"input\",\"text\":\"cat('NUL-RAN')\\u0000\\n\"}"},
	    {"a duplicate field", "{\"type\":\"status\",\"type\":\"status\"}"},
	};
	for (size_t i = 0; i < 5; i++) {
		bad[5 + i].what = more[i].what;
		bad[5 + i].len =
		    raw_frame(bad[5 + i].frame, sizeof(bad[5 + i].frame),
		              (uint32_t)strlen(more[i].payload) + 2, 1, more[i].payload);
	}
	bad[10].what = "a frame length below the version's 2 bytes";
	bad[10].len = raw_frame(bad[10].frame, sizeof(bad[10].frame), 1, 1, "");

	REQUIRE(sess_start_attach(&f, &s, "proto", NULL, &good) == 0);
	for (size_t i = 0; i < 11; i++) {
		unsigned nstatus;

		client_init(&b, "bad");
		REQUIRE(client_connect(&b, s.sock, &s.ch, T_MS) == 0);
		REQUIRE(client_attach(&b, T_MS) == 0);
		nstatus = b.nby_type[SP_STATUS_REPLY];
		REQUIRE(client_send_raw(&b, bad[i].frame, bad[i].len) == 0);
		int64_t t0 = now_ms();
		int r = client_expect_closed(&b, T_MS);
		say("(%c) %s: %s after %.3f s", (int)('a' + i), bad[i].what,
		    r == 0 ? "closed" : "NOT closed", (double)(now_ms() - t0) / 1000.0);
		CHECK(r == 0);
		CHECK(b.nby_type[SP_STATUS_REPLY] == nstatus);
		client_close(&b);
		CHECK(!child_poll(&s.ch));
	}
	/* A client that leaves in the middle of a frame. */
	client_init(&b, "half");
	REQUIRE(client_connect(&b, s.sock, &s.ch, T_MS) == 0);
	REQUIRE(client_attach(&b, T_MS) == 0);
	REQUIRE(client_send_raw(&b, bad[0].frame, 9) == 0);
	client_close(&b);

	CHECK(!good.eof);
	CHECK(eval_out(&good, "1+1\n", "[1] 2"));
	CHECK(!strstr(buf_str(&good.out), "V2-RAN"));
	CHECK(!strstr(buf_str(&good.out), "EXTRA-RAN"));
	CHECK(!strstr(buf_str(&good.out), "NUL-RAN"));
out:
	client_close(&b);
	client_close(&good);
	fx_done(&f);
}

enum {
	PEER_HELLO = 10,
	PEER_OTHER_FIRST = 11,
	PEER_CLOSED = 20,
	PEER_TIMEOUT = 21,
	PEER_ERROR = 22,
	PEER_CONNECT_FAILED = 23,
	PEER_SETUID_FAILED = 24,
};

static const char *peer_result(int code)
{
	switch (code) {
	case PEER_HELLO:
		return "got hello";
	case PEER_OTHER_FIRST:
		return "got a message other than hello";
	case PEER_CLOSED:
		return "closed without hello";
	case PEER_TIMEOUT:
		return "nothing within 10 s";
	case PEER_ERROR:
		return "read error";
	case PEER_CONNECT_FAILED:
		return "connect failed";
	case PEER_SETUID_FAILED:
		return "could not change uid";
	default:
		return "?";
	}
}

/* Forks a helper that becomes uid/gid, connects, and reports by exit code
 * what it saw first. */
static int peer_as(const char *sock, uid_t uid, gid_t gid)
{
	struct child ch;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct client c;
		struct sessproto_msg m;
		int r;

		/* _exit everywhere: the parent's atexit handlers (which
		 * kill every child) must not run here. */
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0 ||
		    getuid() != uid || geteuid() != uid)
			_exit(PEER_SETUID_FAILED);
		client_init(&c, "peer");
		if (client_connect(&c, sock, NULL, 5000) < 0)
			_exit(PEER_CONNECT_FAILED);
		r = client_recv(&c, 10000, &m);
		if (r == 1)
			_exit(m.type == SP_HELLO ? PEER_HELLO : PEER_OTHER_FIRST);
		_exit(r == -ECONNRESET ? PEER_CLOSED : r == 0 ? PEER_TIMEOUT : PEER_ERROR);
	}
	child_adopt(&ch, pid);
	if (child_wait(&ch, T_MS) < 0) {
		child_kill(&ch);
		return -1;
	}
	return child_exit_code(&ch);
}

/* 16: SO_PEERCRED check with --allow-uid. */
TEST(peer_uid)
{
	struct fx f;
	struct sess s;
	struct client c;
	struct stat st;
	int r;

	client_init(&c, "owner");
	REQUIRE(fx_init(&f, "peer_uid") == 0);
	if (geteuid() != 0) {
		say("SKIP: changing uid needs root");
		goto out;
	}
	/* Others must reach the socket for the check to be the one tested. */
	REQUIRE(chmod(root, 0711) == 0);
	REQUIRE(chmod(f.dir, 0711) == 0);
	REQUIRE(sess_start_attach(&f, &s, "peer", ARGS("--allow-uid", "12345"), &c) == 0);
	REQUIRE(stat(s.sock, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0666);

	r = peer_as(s.sock, 65534, 65534);
	say("uid 65534 (nobody): %s", peer_result(r));
	CHECK_INT(r, PEER_CLOSED);
	r = peer_as(s.sock, 12345, 12345);
	say("uid 12345 (--allow-uid): %s", peer_result(r));
	CHECK_INT(r, PEER_HELLO);
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	chmod(root, 0700);
	client_close(&c);
	fx_done(&f);
}

/* 17: quit request and q("no"). */
TEST(quit)
{
	struct fx f;
	struct sess s, s2;
	struct client c, c2;
	json_t *res = NULL;
	char sd[PATH_MAX];

	struct sess s3;
	struct client c3;

	client_init(&c, "quit-msg");
	client_init(&c2, "q-input");
	client_init(&c3, "q-status");
	REQUIRE(fx_init(&f, "quit") == 0);
	REQUIRE(sess_start_attach(&f, &s, "quit1", NULL, &c) == 0);
	CHECK(eval_out(&c, "x <- 1\n", ""));
	REQUIRE(client_send_pack(&c, "{s:s, s:s}", "type", "quit", "save", "no") == 0);
	REQUIRE(client_expect_result(&c, "quit", T_MS, &res) == 0);
	CHECK_INT(jbool(res, "ok"), 1);
	CHECK(client_expect_closed(&c, T_MS) == 0);
	CHECK(sess_exit_is(&s, RSESSION_EXIT_OK));
	state_dir(&f, "quit1", sd, sizeof(sd));
	CHECK_INT(count_files(sd), 0); /* nothing saved */

	REQUIRE(sess_start_attach(&f, &s2, "quit2", NULL, &c2) == 0);
	REQUIRE(client_run(&c2, "q(\"no\")\n") == 0);
	CHECK(client_expect_closed(&c2, T_MS) == 0);
	say("last state before close: \"%s\"", c2.state);
	CHECK(sess_exit_is(&s2, RSESSION_EXIT_OK));
	state_dir(&f, "quit2", sd, sizeof(sd));
	CHECK_INT(count_files(sd), 0);

	/* q(status=N) exits with N, as plain R does. */
	REQUIRE(sess_start_attach(&f, &s3, "quit3", NULL, &c3) == 0);
	REQUIRE(client_run(&c3, "q(\"no\", status=3)\n") == 0);
	CHECK(client_expect_closed(&c3, T_MS) == 0);
	CHECK(sess_exit_is(&s3, 3));
out:
	json_decref(res);
	client_close(&c);
	client_close(&c2);
	client_close(&c3);
	fx_done(&f);
}

/* 18: SIGTERM. */
TEST(sigterm)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *st = NULL;
	char sd[PATH_MAX];

	struct sess s2;
	struct client c2;

	client_init(&c, "c");
	client_init(&c2, "busy");
	REQUIRE(fx_init(&f, "sigterm") == 0);
	REQUIRE(sess_start_attach(&f, &s, "term", NULL, &c) == 0);
	CHECK(eval_out(&c, "x <- 1\n", ""));
	REQUIRE(kill(s.ch.pid, SIGTERM) == 0);
	CHECK(client_expect_state(&c, "exited", T_MS, &st) == 0);
	const char *detail = jstr(st, "detail");
	say("state exited, detail \"%s\"", detail ? detail : "(none)");
	CHECK(detail && detail[0]);
	CHECK(client_expect_closed(&c, T_MS) == 0);
	CHECK(sess_exit_is(&s, RSESSION_EXIT_TERMINATED));
	state_dir(&f, "term", sd, sizeof(sd));
	CHECK_INT(count_files(sd), 0); /* nothing saved */

	/* The same while R is busy. */
	json_decref(st);
	st = NULL;
	REQUIRE(sess_start_attach(&f, &s2, "term-busy", NULL, &c2) == 0);
	REQUIRE(client_run(&c2, "Sys.sleep(60)\n") == 0);
	REQUIRE(client_expect_type(&c2, "busy", T_MS, NULL) == 0);
	REQUIRE(kill(s2.ch.pid, SIGTERM) == 0);
	CHECK(client_expect_state(&c2, "exited", T_MS, &st) == 0);
	CHECK(client_expect_closed(&c2, T_MS) == 0);
	CHECK(sess_exit_is(&s2, RSESSION_EXIT_TERMINATED));
	state_dir(&f, "term-busy", sd, sizeof(sd));
	CHECK_INT(count_files(sd), 0);
out:
	json_decref(st);
	client_close(&c);
	client_close(&c2);
	fx_done(&f);
}

/* 19: --session-default-working-dir. */
TEST(default_working_dir)
{
	struct fx f;
	struct sess s;
	struct client c;
	char wd[PATH_MAX], real[PATH_MAX], arg[PATH_MAX + 40], want[PATH_MAX + 8];

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "default_working_dir") == 0);
	xsnprintf(wd, sizeof(wd), "%s/start-here", f.dir);
	REQUIRE(mkdir_p(wd, 0700) == 0);
	REQUIRE(realpath(wd, real) != NULL);
	xsnprintf(arg, sizeof(arg), "--session-default-working-dir=%s", real);
	REQUIRE(sess_start_attach(&f, &s, "wd", ARGS(arg), &c) == 0);
	xsnprintf(want, sizeof(want), "WD=%s\n", real);
	CHECK(eval_out(&c, "cat(\"WD=\", getwd(), \"\\n\", sep=\"\")\n", want));
out:
	client_close(&c);
	fx_done(&f);
}

/* 20: --limit-cpu-time-minutes stops a runaway computation. */
TEST(cpu_time_limit)
{
	struct fx f;
	struct sess s;
	struct client c;
	int64_t t0;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "cpu_time_limit") == 0);
	REQUIRE(sess_start_attach(&f, &s, "cpu", ARGS("--limit-cpu-time-minutes=0.02"), &c) == 0);
	REQUIRE(client_run(&c, "while(TRUE){}\n") == 0);
	REQUIRE(client_expect_type(&c, "busy", T_MS, NULL) == 0);
	t0 = now_ms();
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	char fl[600];
	say("loop ended after %.2f s; stderr: %s", (double)(now_ms() - t0) / 1000.0,
	    flat(buf_str(&c.err), fl, sizeof(fl)));
	CHECK(strcasestr(buf_str(&c.err), "time limit") != NULL);
	CHECK(!child_poll(&s.ch));
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	client_close(&c);
	fx_done(&f);
}

/* Extra: interrupt at "+ " discards the partial input; at "> " is a no-op. */
TEST(interrupt_prompts)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *st = NULL;
	unsigned nbusy, nprompt;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "interrupt_prompts") == 0);
	REQUIRE(sess_start_attach(&f, &s, "intp", NULL, &c) == 0);
	REQUIRE(client_run(&c, "1 +\n") == 0);
	REQUIRE(client_expect_prompt(&c, "+ ", T_MS) == 0);
	REQUIRE(client_send_type(&c, "interrupt") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "5\n", "[1] 5"));
	CHECK(!strstr(buf_str(&c.out), "[1] 6"));

	client_clear(&c);
	nbusy = c.nby_type[SP_BUSY];
	nprompt = c.nby_type[SP_PROMPT];
	REQUIRE(client_send_type(&c, "interrupt") == 0);
	/* The status answer comes after the interrupt was handled. */
	REQUIRE(client_request(&c, "status", "status", T_MS, &st) == 0);
	CHECK_STR(jstr(st, "prompt_kind"), "toplevel");
	CHECK_INT(c.nby_type[SP_BUSY], nbusy);
	say("interrupt at \"> \": %u new prompt message(s), stdout \"%s\", stderr \"%s\"",
	    c.nby_type[SP_PROMPT] - nprompt, buf_str(&c.out), buf_str(&c.err));
	CHECK_STR(buf_str(&c.err), "");
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	json_decref(st);
	client_close(&c);
	fx_done(&f);
}

/* Extra: readline()'s own prompt, answered and interrupted. */
TEST(readline_prompt)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *st = NULL;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "readline_prompt") == 0);
	REQUIRE(sess_start_attach(&f, &s, "readline", NULL, &c) == 0);
	REQUIRE(client_run(&c, "v <- readline(\"name? \")\n") == 0);
	REQUIRE(client_expect_prompt(&c, "name? ", T_MS) == 0);
	REQUIRE(client_request(&c, "status", "status", T_MS, &st) == 0);
	CHECK_STR(jstr(st, "prompt_kind"), "input");
	REQUIRE(client_run(&c, "bob\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "cat(\"V=\", v, \"\\n\", sep=\"\")\n", "V=bob\n"));

	REQUIRE(client_run(&c, "w <- readline(\"again? \")\n") == 0);
	REQUIRE(client_expect_prompt(&c, "again? ", T_MS) == 0);
	REQUIRE(client_send_type(&c, "interrupt") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "exists(\"w\")\n", "[1] FALSE"));
out:
	json_decref(st);
	client_close(&c);
	fx_done(&f);
}

/* Extra: without XDG_DATA_HOME the state goes under ~/.local/share. */
TEST(default_state_dir)
{
	struct fx f;
	struct sess s;
	struct client c;
	struct buf seq = {0};
	char sd[PATH_MAX];

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "default_state_dir") == 0);
	f.no_xdg = true;
	state_dir(&f, "noxdg", sd, sizeof(sd));
	REQUIRE(sess_start_attach(&f, &s, "noxdg", NULL, &c) == 0);
	CHECK(eval_out(&c, "z <- 3\n", ""));
	REQUIRE(kill(s.ch.pid, SIGUSR1) == 0);
	CHECK(read_until_closed(&c, T_MS, &seq) == 0);
	REQUIRE(sess_exit_is(&s, RSESSION_EXIT_SUSPENDED));
	CHECK(is_dir(sd));
	CHECK(count_files(sd) >= 1);
out:
	buf_free(&seq);
	client_close(&c);
	fx_done(&f);
}

/* Extra: the listening socket inherited as fd 3 (how rserver starts it). */
TEST(inherited_socket)
{
	struct fx f;
	struct child ch;
	struct client c;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char sock[PATH_MAX], log[PATH_MAX];
	char **env = NULL;
	int lfd = -1, r;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "inherited_socket") == 0);
	xsnprintf(sock, sizeof(sock), "%s/fd3.sock", f.dir);
	xsnprintf(log, sizeof(log), "%s/rsession-fd3.log", f.dir);
	REQUIRE(strlen(sock) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(lfd >= 0);
	REQUIRE(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	REQUIRE(listen(lfd, 16) == 0);

	env = child_env_new(f.home, f.xdg, f.tmp);
	r = child_spawn(
	    &ch, (char *const *)ARGS(rsession_path, "--session-id", "fd3", "--config-dir", f.conf),
	    env, log, lfd);
	REQUIRE(r == 0);
	xsnprintf(f.logs[f.nlogs++], PATH_MAX, "%s", log);
	say("started rsession pid %d with the listening socket as fd 3", (int)ch.pid);
	close(lfd);
	lfd = -1;
	REQUIRE(client_connect(&c, sock, &ch, T_MS) == 0);
	REQUIRE(client_attach(&c, T_MS) == 0);
	CHECK_INT(jint(c.hello, "pid"), ch.pid);
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	if (lfd >= 0)
		close(lfd);
	child_env_free(env);
	client_close(&c);
	fx_done(&f);
}

/* Extra: a forced suspend also leaves "+ ", the debugger and readline. */
TEST(force_suspend_prompts)
{
	static const struct {
		const char *id, *code, *prompt;
	} cases[] = {
	    {"fs-cont", "1 +\n", "+ "},
	    {"fs-browser", "f <- function() { browser(); 1 }\nf()\n", "Browse[1]> "},
	    {"fs-readline", "v <- readline(\"q? \")\n", "q? "},
	};
	struct fx f;
	struct sess s[6];
	struct client c[6];
	char sd[PATH_MAX], code[64], want[64];

	for (int i = 0; i < 6; i++)
		client_init(&c[i], cases[i / 2].id);
	REQUIRE(fx_init(&f, "force_suspend_prompts") == 0);
	for (int i = 0; i < 3; i++) {
		struct client *a = &c[2 * i], *b = &c[2 * i + 1];

		state_dir(&f, cases[i].id, sd, sizeof(sd));
		REQUIRE(sess_start_attach(&f, &s[2 * i], cases[i].id, NULL, a) == 0);
		xsnprintf(code, sizeof(code), "keep <- %d\n", 100 + i);
		CHECK(eval_out(a, code, ""));
		REQUIRE(client_run(a, cases[i].code) == 0);
		REQUIRE(client_expect_prompt(a, cases[i].prompt, T_MS) == 0);
		CHECK(suspend_ok(a, true));
		REQUIRE(sess_exit_is(&s[2 * i], RSESSION_EXIT_FORCE_SUSPENDED));
		CHECK(count_files(sd) >= 1);
		REQUIRE(sess_start_attach(&f, &s[2 * i + 1], cases[i].id, NULL, b) == 0);
		xsnprintf(want, sizeof(want), "[1] %d", 100 + i);
		CHECK(eval_out(b, "keep\n", want));
	}
out:
	for (int i = 0; i < 6; i++)
		client_close(&c[i]);
	fx_done(&f);
}

static bool log_contains(const struct sess *s, const char *needle)
{
	char *data = NULL;
	size_t len;
	bool hit;

	if (file_read_all(s->ch.log_path, 1 << 20, &data, &len) < 0)
		return false;
	hit = strstr(data, needle) != NULL;
	free(data);
	return hit;
}

/* Extra: rsession.conf in --config-dir, and what refuses to start. */
TEST(config_and_arguments)
{
	struct fx f;
	struct sess s, bad;
	struct client c;
	char wd[PATH_MAX], real[PATH_MAX], path[PATH_MAX + 32], text[PATH_MAX + 64];
	char want[PATH_MAX + 8], id65[66];
	char fl[600];

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "config_and_arguments") == 0);
	xsnprintf(wd, sizeof(wd), "%s/from-conf", f.dir);
	REQUIRE(mkdir_p(wd, 0700) == 0);
	REQUIRE(realpath(wd, real) != NULL);
	xsnprintf(path, sizeof(path), "%s/rsession.conf", f.conf);
	xsnprintf(text, sizeof(text), "# test\nsession-default-working-dir=%s\n", real);
	REQUIRE(write_file(path, text) == 0);
	REQUIRE(sess_start_attach(&f, &s, "conf", NULL, &c) == 0);
	xsnprintf(want, sizeof(want), "WD=%s\n", real);
	CHECK(eval_out(&c, "cat(\"WD=\", getwd(), \"\\n\", sep=\"\")\n", want));

	/* An unknown key in the file: a file:line error and no session. */
	REQUIRE(write_file(path, "# test\nno-such-key=1\n") == 0);
	REQUIRE(sess_start(&f, &bad, "conf-bad", NULL) == 0);
	CHECK(sess_exit_is(&bad, RSESSION_EXIT_FAILURE));
	CHECK(log_contains(&bad, "rsession.conf:2"));
	{
		char *data = NULL;
		size_t len;
		if (file_read_all(bad.ch.log_path, 1 << 20, &data, &len) == 0)
			say("unknown key in rsession.conf: %s", flat(data, fl, sizeof(fl)));
		free(data);
	}
	REQUIRE(write_file(path, "") == 0);

	static const char *const bad_args[][2] = {
	    {"--no-such-key=1", NULL},
	    {"--limit-cpu-time-minutes=abc", NULL},
	    {"--session-timeout-minutes=-5", NULL},
	};
	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		REQUIRE(sess_start(&f, &bad, "args-bad", bad_args[i]) == 0);
		CHECK(sess_exit_is(&bad, RSESSION_EXIT_FAILURE));
	}
	memset(id65, 'a', 65);
	id65[65] = '\0';
	const char *bad_ids[] = {"../escape", "a b", "", id65, "dot.ted"};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		REQUIRE(sess_start(&f, &bad, bad_ids[i], NULL) == 0);
		if (!sess_exit_is(&bad, RSESSION_EXIT_FAILURE))
			CHECK(!"session id refused");
	}
	CHECK(!child_poll(&s.ch));
out:
	client_close(&c);
	fx_done(&f);
}

/* Extra: output larger than one frame's text arrives whole, in pieces. */
TEST(large_output)
{
	struct fx f;
	struct sess s;
	struct client c;
	size_t ys = 0;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "large_output") == 0);
	REQUIRE(sess_start_attach(&f, &s, "large", NULL, &c) == 0);
	REQUIRE(client_run_wait(&c, "cat(strrep(\"y\", 3e6), \"\\n\", sep=\"\")\n", T_MS) == 0);
	for (const char *p = buf_str(&c.out); *p; p++)
		ys += *p == 'y';
	say("3e6 bytes of output: %zu received, longest piece %zu bytes", ys, c.max_output);
	CHECK_INT(ys, 3000000);
	CHECK(c.max_output <= SESSPROTO_MAX_TEXT);
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	client_close(&c);
	fx_done(&f);
}

/* Extra: a line longer than R's console buffer (4096 bytes). */
TEST(long_line)
{
	struct fx f;
	struct sess s;
	struct client c;
	struct buf code = {0};
	unsigned prompts;
	json_t *hist = NULL;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "long_line") == 0);
	REQUIRE(sess_start_attach(&f, &s, "long", NULL, &c) == 0);
	buf_appendf(&code, "x <- \"");
	for (int i = 0; i < 10000; i++)
		buf_append(&code, "a", 1);
	buf_appendf(&code, "\"; cat(\"N=\", nchar(x), \"\\n\", sep=\"\")\n");
	prompts = c.nby_type[SP_PROMPT];
	CHECK(eval_out(&c, buf_str(&code), "N=10000\n"));
	say("10 kB line: %u prompt message(s) until \"> \"", c.nby_type[SP_PROMPT] - prompts);
	/* The history holds the line as it was typed. */
	REQUIRE(client_request(&c, "history", "history", T_MS, &hist) == 0);
	code.p[--code.len] = '\0'; /* without its newline */
	CHECK(history_has(hist, buf_str(&code), NULL));
	{
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(hist, "lines"), i, v)
		    say("history line %zu: %zu bytes, starts \"%.12s\"", i,
		        strlen(json_string_value(v) ? json_string_value(v) : ""),
		        json_string_value(v) ? json_string_value(v) : "");
	}
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
out:
	json_decref(hist);
	buf_free(&code);
	client_close(&c);
	fx_done(&f);
}

/* Extra: a client that stops reading must not stall R or the others. */
TEST(stalled_client)
{
	struct fx f;
	struct sess s;
	struct client good, stalled;
	int64_t t0;

	client_init(&good, "good");
	client_init(&stalled, "stalled");
	REQUIRE(fx_init(&f, "stalled_client") == 0);
	REQUIRE(sess_start_attach(&f, &s, "stall", NULL, &good) == 0);
	REQUIRE(client_connect(&stalled, s.sock, &s.ch, T_MS) == 0);
	/* stalled never reads from here on: its socket buffer fills up. */
	t0 = now_ms();
	REQUIRE(client_run(&good, "for (i in 1:80) cat(strrep(\"z\", 1e5), \"\\n\", sep=\"\"); "
	                          "cat(\"DONE\\n\")\n") == 0);
	CHECK(client_expect_output(&good, "stdout", "DONE\n", T_MS) == 0);
	CHECK(client_expect_prompt(&good, "> ", T_MS) == 0);
	say("8 MB of output with a stalled client: good client done after %.2f s",
	    (double)(now_ms() - t0) / 1000.0);
	CHECK(eval_out(&good, "1+1\n", "[1] 2"));
	CHECK(!child_poll(&s.ch));
out:
	client_close(&stalled);
	client_close(&good);
	fx_done(&f);
}

/* Extra: ~/.Rprofile runs on a fresh start, and on resume only with
 * session-rprofile-on-resume-default=1 (default 0). */
TEST(rprofile_on_resume)
{
	struct fx f;
	struct sess s[4];
	struct client c[4];
	char path[PATH_MAX + 32];

	for (int i = 0; i < 4; i++)
		client_init(&c[i], i == 0 ? "fresh" : i == 2 ? "resume-default" : "before-suspend");
	REQUIRE(fx_init(&f, "rprofile_on_resume") == 0);
	xsnprintf(path, sizeof(path), "%s/.Rprofile", f.home);
	REQUIRE(write_file(path, "cat(\"PROFILE-RAN\\n\")\n") == 0);

	REQUIRE(sess_start_attach(&f, &s[0], "prof", NULL, &c[0]) == 0);
	CHECK_CONTAINS(buf_str(&c[0].out), "PROFILE-RAN");
	CHECK(eval_out(&c[0], "x <- 1\n", ""));
	REQUIRE(suspend_ok(&c[0], false));
	REQUIRE(sess_exit_is(&s[0], RSESSION_EXIT_SUSPENDED));

	REQUIRE(sess_start_attach(&f, &s[1], "prof", NULL, &c[2]) == 0);
	CHECK(client_expect_output(&c[2], "stdout", "Session restored from your saved work on",
	                           0) == 0);
	CHECK(!strstr(buf_str(&c[2].out), "PROFILE-RAN"));
	say("resume with the default: .Rprofile %s",
	    strstr(buf_str(&c[2].out), "PROFILE-RAN") ? "ran" : "did not run");
	REQUIRE(suspend_ok(&c[2], false));
	REQUIRE(sess_exit_is(&s[1], RSESSION_EXIT_SUSPENDED));

	REQUIRE(sess_start_attach(&f, &s[2], "prof", ARGS("--session-rprofile-on-resume-default=1"),
	                          &c[3]) == 0);
	CHECK(client_expect_output(&c[3], "stdout", "Session restored from your saved work on",
	                           0) == 0);
	CHECK_CONTAINS(buf_str(&c[3].out), "PROFILE-RAN");
	CHECK(eval_out(&c[3], "x\n", "[1] 1"));
out:
	for (int i = 0; i < 4; i++)
		client_close(&c[i]);
	fx_done(&f);
}

/*
 * Extra: output from before any client connected (banner, ~/.Rprofile) is
 * kept for the first client: all of it when small, 64 KiB of it when not.
 */
TEST(startup_output_kept)
{
	static const size_t sizes[] = {30000, 200000};
	struct fx f;
	struct sess s[2];
	struct client c[2];
	char path[PATH_MAX + 32], done[PATH_MAX + 32], text[PATH_MAX + 128], id[16];
	int64_t deadline;

	client_init(&c[0], "small");
	client_init(&c[1], "large");
	REQUIRE(fx_init(&f, "startup_output_kept") == 0);
	for (int i = 0; i < 2; i++) {
		size_t ps = 0;

		xsnprintf(path, sizeof(path), "%s/.Rprofile", f.home);
		xsnprintf(done, sizeof(done), "%s/profile-done-%d", f.dir, i);
		/* invisible(): R prints visible values of profile code. */
		xsnprintf(text, sizeof(text),
		          "cat(strrep(\"p\", %zu), \"\\n\", sep=\"\")\n"
		          "invisible(file.create(\"%s\"))\n",
		          sizes[i], done);
		REQUIRE(write_file(path, text) == 0);
		xsnprintf(id, sizeof(id), "kept%d", i);
		REQUIRE(sess_start(&f, &s[i], id, NULL) == 0);
		/* Connect only once the profile has printed everything: what
		 * is tested is the output kept while nobody was connected. */
		deadline = now_ms() + T_MS;
		while (!exists(done) && now_ms() < deadline && !child_poll(&s[i].ch)) {
			struct timespec ts = {0, 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
		REQUIRE(exists(done));
		REQUIRE(client_connect(&c[i], s[i].sock, &s[i].ch, T_MS) == 0);
		REQUIRE(client_attach(&c[i], T_MS) == 0);
		for (const char *p = strstr(buf_str(&c[i].out), "ppp"); p && *p; p++)
			ps += *p == 'p';
		say("%zu bytes printed before connecting: the first client got %zu bytes, %zu "
		    "of the p's%s",
		    sizes[i], c[i].out.len, ps,
		    strstr(buf_str(&c[i].out), "R version") ? ", and the banner" : "");
		if (sizes[i] < 64 * 1024) {
			CHECK_INT(ps, sizes[i]);
			CHECK_CONTAINS(buf_str(&c[i].out), "R version");
		} else {
			CHECK(c[i].out.len <= 64 * 1024);
			CHECK(c[i].out.len >= 60 * 1024);
			if (c[i].out.len < 60 * 1024)
				client_dump_trace(&c[i], 1500);
		}
		CHECK(eval_out(&c[i], "1+1\n", "[1] 2"));
	}
out:
	client_close(&c[0]);
	client_close(&c[1]);
	fx_done(&f);
}

/*
 * What programs run from R print reaches the console, on the right stream
 * and before what R prints after them; rsession's own log stays in its
 * log file.
 */
TEST(child_output)
{
	struct fx f;
	struct sess s;
	struct client c;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "child_output") == 0);
	REQUIRE(sess_start_attach(&f, &s, "childout", NULL, &c) == 0);
	CHECK(eval_has(&c, "system(\"echo child-out-text\")\n", "stdout", "child-out-text"));
	CHECK(!strstr(buf_str(&c.err), "child-out-text"));
	CHECK(eval_has(&c, "system(\"echo child-err-text >&2\")\n", "stderr", "child-err-text"));
	CHECK(!strstr(buf_str(&c.out), "child-err-text"));
	/* The program ended before R's cat(): its line comes first (each
	 * run starts with empty buffers). */
	for (int i = 0; i < 20; i++) {
		CHECK(eval_out(&c, "system(\"echo order-first\"); cat(\"order-second\\n\")\n",
		               "order-second"));
		if (!in_order(buf_str(&c.out), "order-first", "order-second")) {
			say("round %d: %s", i, buf_str(&c.out));
			CHECK(false);
			break;
		}
	}
	/* Bigger than a pipe's buffer, while R waits for the program. */
	CHECK(eval_out(&c, "system(\"head -c 300000 /dev/zero | tr '\\\\0' x; echo; echo big-done\")\n",
	               "big-done"));
	{
		size_t xs = 0;
		for (const char *p = buf_str(&c.out); *p; p++)
			xs += *p == 'x';
		CHECK_INT(xs, 300000);
	}
	CHECK(log_contains(&s, "started"));
	CHECK(!log_contains(&s, "child-out-text"));
	CHECK(!log_contains(&s, "child-err-text"));
out:
	client_close(&c);
	fx_done(&f);
}

/*
 * A suspend killed mid-write leaves its temporary directory; the next
 * rsession of that session removes it, and nothing else.
 */
TEST(stale_temp_removed)
{
	struct fx f;
	struct sess s;
	struct client c;
	char sd[PATH_MAX], root_dir[PATH_MAX], p[PATH_MAX + 64], outside[PATH_MAX + 64];

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "stale_temp_removed") == 0);
	state_dir(&f, "stale", sd, sizeof(sd));
	xsnprintf(root_dir, sizeof(root_dir), "%s", sd);
	*strrchr(root_dir, '/') = '\0';
	REQUIRE(mkdir_p(root_dir, 0700) == 0);
	/* Left by a killed suspend: removed, contents and all. */
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Ab12Cd", root_dir);
	REQUIRE(mkdir(p, 0700) == 0);
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Ab12Cd/environment.RData", root_dir);
	REQUIRE(write_file(p, "half") == 0);
	/* Not ours: another session's, a name mkdtemp never makes, a link. */
	xsnprintf(p, sizeof(p), "%s/.other.tmp-Ab12Cd", root_dir);
	REQUIRE(mkdir(p, 0700) == 0);
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Ab12C", root_dir);
	REQUIRE(mkdir(p, 0700) == 0);
	xsnprintf(outside, sizeof(outside), "%s/outside", f.dir);
	REQUIRE(mkdir(outside, 0700) == 0);
	xsnprintf(p, sizeof(p), "%s/outside/keep", f.dir);
	REQUIRE(write_file(p, "keep") == 0);
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Zz99Yy", root_dir);
	REQUIRE(symlink(outside, p) == 0);

	REQUIRE(sess_start_attach(&f, &s, "stale", NULL, &c) == 0);
	CHECK(eval_out(&c, "1+1\n", "[1] 2"));
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Ab12Cd", root_dir);
	CHECK(!exists(p));
	xsnprintf(p, sizeof(p), "%s/.other.tmp-Ab12Cd", root_dir);
	CHECK(is_dir(p));
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Ab12C", root_dir);
	CHECK(is_dir(p));
	xsnprintf(p, sizeof(p), "%s/.stale.tmp-Zz99Yy", root_dir);
	CHECK(access(p, F_OK) == 0);
	xsnprintf(p, sizeof(p), "%s/outside/keep", f.dir);
	CHECK(exists(p));
	CHECK(log_contains(&s, "that did not finish"));
	/* No state was there: a fresh start, not a resume. */
	CHECK(!is_dir(sd));
out:
	client_close(&c);
	fx_done(&f);
}

/* ---- main ---- */

/* ---- plots, help, questions ---- */

/* Decodes base64 the protocol decoder already checked. */
static unsigned char *b64_decode(const char *s, size_t *ret_len)
{
	size_t n = strlen(s), o = 0;
	unsigned char *out = malloc(n / 4 * 3 + 1);
	uint32_t acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *k = strchr(
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", s[i]);
		if (!k) {
			free(out);
			return NULL;
		}
		acc =
		    acc << 6 | (uint32_t)(k - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                              "0123456789+/");
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*ret_len = o;
	return out;
}

/* True when the plot (or plot-export) message holds a PNG of w x h pixels
 * (its IHDR chunk) and says so in its width and height. */
static bool plot_png_is(const json_t *msg, unsigned w, unsigned h)
{
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	const char *png = jstr(msg, "png");
	unsigned char *b;
	size_t n = 0;
	unsigned pw = 0, ph = 0;
	bool ok;

	if (!png || !png[0]) {
		fprintf(stderr, "%s: the message carries no image\n", test_current);
		return false;
	}
	b = b64_decode(png, &n);
	ok = b && n > 33 && memcmp(b, sig, 8) == 0 && memcmp(b + 12, "IHDR", 4) == 0;
	if (ok) {
		pw = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
		ph = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
	}
	free(b);
	if (!ok) {
		fprintf(stderr, "%s: the image is not a PNG\n", test_current);
		return false;
	}
	say("PNG %u x %u, %zu bytes", pw, ph, n);
	if (pw != w || ph != h || jint(msg, "width") != w || jint(msg, "height") != h) {
		fprintf(stderr,
		        "%s: want a PNG of %u x %u; the PNG is %u x %u, the message says "
		        "%lld x %lld\n",
		        test_current, w, h, pw, ph, jint(msg, "width"), jint(msg, "height"));
		return false;
	}
	return true;
}

static int send_plot_size(struct client *c, int w, int h, double dpr)
{
	return client_send_pack(c, "{s:s, s:i, s:i, s:f}", "type", "plot-size", "width", w,
	                        "height", h, "dpr", dpr);
}

/* Runs code to the next "> " and says how many plot messages came. */
static int run_plots(struct client *c, const char *code, unsigned *ret_n)
{
	unsigned before = c->nby_type[SP_PLOT];
	int r = client_run_wait(c, code, T_MS);

	*ret_n = c->nby_type[SP_PLOT] - before;
	return r;
}

/* Extra (issue 13): plots reach the client as PNGs of the size it asked. */
TEST(plots)
{
	struct fx f;
	struct sess s;
	struct client c;
	unsigned n;
	long long page, seq;
	char code[PATH_MAX + 128], path[PATH_MAX];

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "plots") == 0);
	REQUIRE(sess_start_attach(&f, &s, "plots", NULL, &c) == 0);
	CHECK_INT(c.nby_type[SP_PLOT], 0);
	/* The marker that told rsession nobody chose a device is gone. */
	CHECK(eval_out(&c, "cat(\"RID=\", Sys.getenv(\"R_INTERACTIVE_DEVICE\"), \"|\\n\", sep=\"\")\n",
	               "RID=|"));
	REQUIRE(send_plot_size(&c, 640, 480, 1.0) == 0);

	/* One frame per command that draws, before its prompt. */
	REQUIRE(run_plots(&c, "plot(1:10)\n", &n) == 0);
	CHECK_INT(n, 1);
	REQUIRE(c.plot != NULL);
	CHECK(plot_png_is(c.plot, 640, 480));
	page = jint(c.plot, "page");
	seq = jint(c.plot, "seq");
	REQUIRE(run_plots(&c, "lines(1:10, sqrt(1:10) * 3)\n", &n) == 0);
	CHECK_INT(n, 1);
	CHECK(plot_png_is(c.plot, 640, 480));
	CHECK_INT(jint(c.plot, "page"), page); /* the same page, more on it */
	CHECK(jint(c.plot, "seq") > seq);
	REQUIRE(run_plots(&c, "x <- 1\n", &n) == 0);
	CHECK_INT(n, 0);

	/* A new size renders the current plot again, without a command. */
	seq = jint(c.plot, "seq");
	REQUIRE(send_plot_size(&c, 400, 300, 1.5) == 0);
	REQUIRE(client_expect_type(&c, "plot", T_MS, NULL) == 0);
	CHECK(plot_png_is(c.plot, 600, 450));
	CHECK(jint(c.plot, "seq") > seq);
	CHECK_INT(jint(c.plot, "page"), page);

	/* Files stay files, as in plain R: written, and no frame. */
	xsnprintf(path, sizeof(path), "%s/out.png", f.dir);
	xsnprintf(
	    code, sizeof(code),
	    "png(\"%s\"); plot(1); invisible(dev.off()); cat(\"PNGSIZE\", file.size(\"%s\") > "
	    "100, \"\\n\")\n",
	    path, path);
	REQUIRE(run_plots(&c, code, &n) == 0);
	CHECK_INT(n, 0);
	CHECK_CONTAINS(buf_str(&c.out), "PNGSIZE TRUE");
	CHECK(exists(path));
	xsnprintf(path, sizeof(path), "%s/out.pdf", f.dir);
	xsnprintf(
	    code, sizeof(code),
	    "pdf(\"%s\"); plot(1); invisible(dev.off()); cat(\"PDFSIZE\", file.size(\"%s\") > "
	    "100, \"\\n\")\n",
	    path, path);
	REQUIRE(run_plots(&c, code, &n) == 0);
	CHECK_INT(n, 0);
	CHECK_CONTAINS(buf_str(&c.out), "PDFSIZE TRUE");

	/* Closing the device says so: a frame without an image. */
	REQUIRE(run_plots(&c, "dev.off()\n", &n) == 0);
	CHECK_INT(n, 1);
	CHECK_STR(jstr(c.plot, "png"), "");
	CHECK_INT(jint(c.plot, "width"), 0);

	/* grid graphics (ggplot2's) on a new device, at the new size. */
	REQUIRE(run_plots(&c, "grid::grid.newpage(); grid::grid.rect(); grid::grid.text(\"hi\")\n",
	                  &n) == 0);
	CHECK_INT(n, 1);
	CHECK(plot_png_is(c.plot, 600, 450));
	CHECK(jint(c.plot, "page") > page);

	/* options(device=) set by the user wins: no frames. */
	REQUIRE(run_plots(&c, "invisible(dev.off())\n", &n) == 0);
	xsnprintf(path, sizeof(path), "%s/mine.pdf", f.dir);
	xsnprintf(code, sizeof(code), "options(device = function(...) pdf(\"%s\"))\n", path);
	REQUIRE(run_plots(&c, code, &n) == 0);
	REQUIRE(run_plots(&c, "plot(1:3)\n", &n) == 0);
	CHECK_INT(n, 0);
	REQUIRE(run_plots(&c, "invisible(dev.off())\n", &n) == 0);
	CHECK_INT(n, 0);
	CHECK(exists(path));

	/* So does one set in the user's .Rprofile, before R picks its own. */
	client_close(&c);
	child_kill(&s.ch);
	client_init(&c, "profile");
	xsnprintf(path, sizeof(path), "%s/.Rprofile", f.home);
	REQUIRE(write_file(path, "options(device = \"pdf\")\n") == 0);
	REQUIRE(sess_start_attach(&f, &s, "plots2", NULL, &c) == 0);
	CHECK(eval_out(&c, "getOption(\"device\")\n", "[1] \"pdf\""));
	REQUIRE(run_plots(&c, "plot(1:3); invisible(dev.off())\n", &n) == 0);
	CHECK_INT(n, 0);
out:
	client_close(&c);
	fx_done(&f);
}

/* Extra (issue 13): a loop of 100 plots sends a few frames a second, the
 * last one the final plot. */
TEST(plot_loop)
{
	struct fx f;
	struct sess s;
	struct client c;
	json_t *exp = NULL, *last = NULL;
	unsigned n;
	int64_t t0, ms;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "plot_loop") == 0);
	REQUIRE(sess_start_attach(&f, &s, "loop", NULL, &c) == 0);
	REQUIRE(send_plot_size(&c, 320, 240, 1.0) == 0);
	t0 = now_ms();
	REQUIRE(run_plots(&c, "for (i in 1:100) { plot(i, main = i); Sys.sleep(0.01) }\n", &n) ==
	        0);
	ms = now_ms() - t0;
	say("100 plots in %lld ms: %u frames", (long long)ms, n);
	/* At most one frame per 300 ms while it runs (rsession/plot.h), and
	 * the one at the prompt; the sleeps alone take a second, so some
	 * came while it ran. */
	CHECK(n >= 2);
	CHECK(n <= 2 + (unsigned)(ms / 250));
	REQUIRE(c.plot != NULL);
	CHECK(plot_png_is(c.plot, 320, 240));
	last = json_incref(c.plot);

	/* The last frame is plot 100: rendering the current plot again at
	 * the same size gives the same bytes. */
	REQUIRE(client_send_pack(&c, "{s:s, s:s, s:i, s:i, s:f}", "type", "plot-export", "id",
	                         "again", "width", 320, "height", 240, "dpr", 1.0) == 0);
	REQUIRE(client_expect_type(&c, "plot-export", T_MS, &exp) == 0);
	CHECK_STR(jstr(exp, "id"), "again");
	CHECK(plot_png_is(exp, 320, 240));
	CHECK(jstr(exp, "png") && jstr(last, "png") &&
	      strcmp(jstr(exp, "png"), jstr(last, "png")) == 0);
	json_decref(exp);
	exp = NULL;

	/* A larger export is its own size; nothing is sent as a frame. */
	unsigned frames = c.nby_type[SP_PLOT];
	REQUIRE(client_send_pack(&c, "{s:s, s:s, s:i, s:i, s:f}", "type", "plot-export", "id",
	                         "big", "width", 800, "height", 600, "dpr", 2.0) == 0);
	REQUIRE(client_expect_type(&c, "plot-export", T_MS, &exp) == 0);
	CHECK(plot_png_is(exp, 1600, 1200));
	CHECK_INT(c.nby_type[SP_PLOT], frames);
	json_decref(exp);
	exp = NULL;

	/* Without a plot, an export is refused with a reason. */
	REQUIRE(run_plots(&c, "graphics.off()\n", &n) == 0);
	REQUIRE(client_send_pack(&c, "{s:s, s:s, s:i, s:i, s:f}", "type", "plot-export", "id",
	                         "none", "width", 100, "height", 100, "dpr", 1.0) == 0);
	REQUIRE(client_expect_type(&c, "plot-export", T_MS, &exp) == 0);
	CHECK_CONTAINS(jstr(exp, "error") ? jstr(exp, "error") : "", "no plot");

	/* An interrupt during a loop of plots stops it, not the rendering. */
	REQUIRE(client_run(&c, "for (i in 1:100000) { plot(i); Sys.sleep(0.05) }\n") == 0);
	REQUIRE(client_expect_type(&c, "plot", T_MS, NULL) == 0);
	REQUIRE(client_send_type(&c, "interrupt") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "cat(\"I=\", i < 100000, \"\\n\", sep=\"\")\n", "I=TRUE"));
out:
	json_decref(exp);
	json_decref(last);
	client_close(&c);
	fx_done(&f);
}

/* Extra (issue 13): the plot survives a suspend, or the console says why
 * not, and the session resumes either way. */
TEST(plot_suspend)
{
	struct fx f;
	struct sess s[3];
	struct client c[3];
	char sd[PATH_MAX], rds[PATH_MAX + 16];

	client_init(&c[0], "first");
	client_init(&c[1], "resumed");
	client_init(&c[2], "unrestorable");
	REQUIRE(fx_init(&f, "plot_suspend") == 0);
	state_dir(&f, "plotsus", sd, sizeof(sd));
	xsnprintf(rds, sizeof(rds), "%s/plot.rds", sd);

	REQUIRE(sess_start_attach(&f, &s[0], "plotsus", NULL, &c[0]) == 0);
	REQUIRE(send_plot_size(&c[0], 400, 300, 1.0) == 0);
	CHECK(eval_out(&c[0], "x <- 7; plot(1:10, main = \"kept\")\n", ""));
	REQUIRE(c[0].plot != NULL);
	REQUIRE(suspend_ok(&c[0], false));
	REQUIRE(sess_exit_is(&s[0], RSESSION_EXIT_SUSPENDED));
	CHECK(exists(rds));

	/* The restored plot comes before the first prompt. */
	REQUIRE(sess_start_attach(&f, &s[1], "plotsus", NULL, &c[1]) == 0);
	REQUIRE(c[1].plot != NULL);
	CHECK(plot_png_is(c[1].plot, 672, 480)); /* the default until a client says */
	CHECK(!strstr(buf_str(&c[1].err), "plot could not be restored"));
	REQUIRE(send_plot_size(&c[1], 400, 300, 1.0) == 0);
	REQUIRE(client_expect_type(&c[1], "plot", T_MS, NULL) == 0);
	CHECK(plot_png_is(c[1].plot, 400, 300));
	CHECK(eval_out(&c[1], "x\n", "[1] 7"));

	/* A saved plot that does not load: said, and the rest restores. */
	REQUIRE(suspend_ok(&c[1], false));
	REQUIRE(sess_exit_is(&s[1], RSESSION_EXIT_SUSPENDED));
	REQUIRE(exists(rds));
	REQUIRE(write_file(rds, "not a plot\n") == 0);
	REQUIRE(sess_start_attach(&f, &s[2], "plotsus", NULL, &c[2]) == 0);
	CHECK(client_expect_output(&c[2], "stderr", "your last plot could not be restored", 0) ==
	      0);
	CHECK(client_expect_output(&c[2], "stdout", "Session restored from your saved work on",
	                           0) == 0);
	CHECK(eval_out(&c[2], "x\n", "[1] 7"));
out:
	for (int i = 0; i < 3; i++)
		client_close(&c[i]);
	fx_done(&f);
}

/* Help text without R's overstrikes ("_\bX", "X\bX"). */
static void strip_overstrike(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 1 < size; in++) {
		if (in[1] == '\b' && in[2]) {
			continue; /* the next character replaces this one */
		}
		if (*in == '\b')
			continue;
		out[o++] = *in;
	}
	out[o] = '\0';
}

/* Extra (issue 13): ?mean and file.show() go to the client as help. */
TEST(help_pager)
{
	struct fx f;
	struct sess s;
	struct client c;
	char *plain = NULL, code[PATH_MAX + 64], path[PATH_MAX];
	unsigned before;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "help_pager") == 0);
	REQUIRE(sess_start_attach(&f, &s, "help", NULL, &c) == 0);
	before = c.nby_type[SP_HELP];
	REQUIRE(client_run_wait(&c, "?mean\n", T_MS) == 0);
	CHECK_INT(c.nby_type[SP_HELP], before + 1);
	REQUIRE(c.help != NULL);
	CHECK_CONTAINS(jstr(c.help, "title"), "mean");
	const char *text = jstr(c.help, "text");
	REQUIRE(text != NULL);
	plain = malloc(strlen(text) + 1);
	REQUIRE(plain != NULL);
	strip_overstrike(text, plain, strlen(text) + 1);
	CHECK_CONTAINS(plain, "Arithmetic Mean");
	CHECK_CONTAINS(plain, "Description:");
	/* Not in the console. */
	CHECK(!strstr(buf_str(&c.out), "Arithmetic"));

	xsnprintf(path, sizeof(path), "%s/notes.txt", f.dir);
	REQUIRE(write_file(path, "hello from the pager\n") == 0);
	xsnprintf(code, sizeof(code), "file.show(\"%s\", title = \"My notes\")\n", path);
	REQUIRE(client_run_wait(&c, code, T_MS) == 0);
	CHECK_STR(jstr(c.help, "title"), "My notes");
	CHECK_CONTAINS(jstr(c.help, "text"), "hello from the pager");
	CHECK(exists(path)); /* file.show() deletes nothing it was not told to */
	REQUIRE(client_run_wait(&c, "page(c(alpha = 1))\n", T_MS) == 0);
	CHECK_CONTAINS(jstr(c.help, "text"), "alpha");
	CHECK_INT(c.nby_type[SP_HELP], before + 3);
out:
	free(plain);
	client_close(&c);
	fx_done(&f);
}

/* Extra (issue 13): menu() and scan() ask, take the next line, and an
 * interrupt cancels them. */
TEST(menu_scan)
{
	struct fx f;
	struct sess s;
	struct client c;

	client_init(&c, "c");
	REQUIRE(fx_init(&f, "menu_scan") == 0);
	REQUIRE(sess_start_attach(&f, &s, "menu", NULL, &c) == 0);

	REQUIRE(client_run(&c, "m <- menu(c(\"apple\", \"banana\"))\n") == 0);
	REQUIRE(client_expect_prompt(&c, "Selection: ", T_MS) == 0);
	CHECK_CONTAINS(buf_str(&c.out), "2: banana");
	REQUIRE(client_run(&c, "2\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "m\n", "[1] 2"));

	REQUIRE(client_run(&c, "v <- scan()\n") == 0);
	REQUIRE(client_expect_prompt(&c, "1: ", T_MS) == 0);
	REQUIRE(client_run(&c, "3 4\n") == 0);
	REQUIRE(client_expect_prompt(&c, "3: ", T_MS) == 0);
	REQUIRE(client_run(&c, "\n") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "v\n", "[1] 3 4"));

	REQUIRE(client_run(&c, "m2 <- menu(c(\"a\", \"b\"))\n") == 0);
	REQUIRE(client_expect_prompt(&c, "Selection: ", T_MS) == 0);
	REQUIRE(client_send_type(&c, "interrupt") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "exists(\"m2\")\n", "[1] FALSE"));

	REQUIRE(client_run(&c, "v2 <- scan()\n") == 0);
	REQUIRE(client_expect_prompt(&c, "1: ", T_MS) == 0);
	REQUIRE(client_send_type(&c, "interrupt") == 0);
	REQUIRE(client_expect_prompt(&c, "> ", T_MS) == 0);
	CHECK(eval_out(&c, "exists(\"v2\")\n", "[1] FALSE"));
out:
	client_close(&c);
	fx_done(&f);
}

static bool keep_root;

static void on_fatal_signal(int sig)
{
	/* Only async-signal-safe work: kill() and waitpid() by pid, umount2,
	 * and fork+execve for the removal (nftw allocates). */
	child_kill_all();
	if (mounted[0])
		umount2(mounted, MNT_DETACH);
	if (root[0] && !keep_root) {
		pid_t pid = fork();
		if (pid == 0) {
			char *const argv[] = {"rm", "-rf", "--one-file-system", root, NULL};
			char *const envp[] = {NULL};
			execve("/bin/rm", argv, envp);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void remove_root(void)
{
	unmount_test_fs();
	if (!root[0])
		return;
	if (keep_root) {
		printf("kept %s\n", root);
		return;
	}
	rm_tree(root);
}

/* RS_TEST_ONLY=name,name runs only those tests (for working on one). */
static bool selected(const char *name)
{
	const char *only = getenv("RS_TEST_ONLY");
	size_t n = strlen(name);

	if (!only || !only[0])
		return true;
	for (const char *p = only; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

#define RUN_TIMED(name)                                                                            \
	do {                                                                                       \
		if (!selected(#name))                                                              \
			break;                                                                     \
		printf("== %s\n", #name);                                                          \
		fflush(stdout);                                                                    \
		test_t0 = now_ms();                                                                \
		RUN(name);                                                                         \
		printf("   (%.1f s)\n", (double)(now_ms() - test_t0) / 1000.0);                    \
		fflush(stdout);                                                                    \
	} while (0)

int main(void)
{
	int64_t t0 = now_ms();
	struct sigaction sa = {.sa_handler = on_fatal_signal};
	const char *tmp = getenv("TMPDIR");

	setvbuf(stdout, NULL, _IOLBF, 0);
	rsession_path = getenv("RSESSION");
	if (!rsession_path || !rsession_path[0]) {
		fprintf(stderr, "Set RSESSION to the rsession binary to test\n");
		return 1;
	}
	if (access(rsession_path, X_OK) < 0) {
		fprintf(stderr, "Failed to access '%s': %m\n", rsession_path);
		return 1;
	}
	keep_root = getenv("RS_TEST_KEEP") != NULL;
	/* Writes to a socket the session closed must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);

	/* Short: socket paths must fit in sun_path. */
	xsnprintf(root, sizeof(root), "%s/rsession-test-XXXXXX",
	          tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		fprintf(stderr, "Failed to create a directory under /tmp: %m\n");
		return 1;
	}
	atexit(remove_root);
	printf("rsession: %s\ntest root: %s\n", rsession_path, root);

	RUN_TIMED(eval_basic);
	RUN_TIMED(continuation);
	RUN_TIMED(browser);
	RUN_TIMED(streams);
	RUN_TIMED(interrupt_busy);
	RUN_TIMED(input_queue);
	RUN_TIMED(two_clients);
	RUN_TIMED(multiline_input);
	RUN_TIMED(status);
	RUN_TIMED(suspend_resume);
	RUN_TIMED(suspend_refused_and_forced);
	RUN_TIMED(signals_suspend);
	RUN_TIMED(disk_full);
	RUN_TIMED(corrupt_state);
	RUN_TIMED(missing_package);
	RUN_TIMED(protocol_robustness);
	RUN_TIMED(peer_uid);
	RUN_TIMED(quit);
	RUN_TIMED(sigterm);
	RUN_TIMED(default_working_dir);
	RUN_TIMED(cpu_time_limit);
	RUN_TIMED(interrupt_prompts);
	RUN_TIMED(readline_prompt);
	RUN_TIMED(default_state_dir);
	RUN_TIMED(inherited_socket);
	RUN_TIMED(force_suspend_prompts);
	RUN_TIMED(config_and_arguments);
	RUN_TIMED(large_output);
	RUN_TIMED(long_line);
	RUN_TIMED(stalled_client);
	RUN_TIMED(rprofile_on_resume);
	RUN_TIMED(startup_output_kept);
	RUN_TIMED(child_output);
	RUN_TIMED(stale_temp_removed);
	RUN_TIMED(plots);
	RUN_TIMED(plot_loop);
	RUN_TIMED(plot_suspend);
	RUN_TIMED(help_pager);
	RUN_TIMED(menu_scan);

	printf("total %.1f s\n", (double)(now_ms() - t0) / 1000.0);
	return test_summary();
}
