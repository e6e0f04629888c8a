/*
 * Unit tests for pam/: secrets, the conversation driven by hand, the
 * status mapping, and, as root, real PAM against a throwaway user and
 * service files of our own.
 *
 * The real-PAM part changes the system, so it is careful to undo it:
 * main() creates the user and the files, then runs every test in a child
 * process and, whatever becomes of the child (failed checks, a sanitizer
 * abort, a crash, SIGTERM), deletes them in the parent. Leftovers of a run
 * that was itself killed (SIGKILL from a ctest timeout) are swept at the
 * next start: every name carries the pid of the run that made it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "pamauth.h"
#include "pamconv.h"
#include "pamsession.h"
#include "pwcache.h"
#include "secret.h"
#include "test.h"

#define PAMD        "/etc/pam.d"
#define TMPDIR      "/tmp"
#define USER_PREFIX "rs_pamtest_"
#define FILE_PREFIX "rs-pamtest-"

/* A password with a space and a colon, to prove it reaches PAM exactly. */
#define GOOD_PASSWORD "c0rrect horse:battery"
#define BAD_PASSWORD  "c0rrect horse:batterx"

static struct secret *secret_of(const char *s)
{
	struct secret *sec = NULL;

	if (secret_new(s, strlen(s), &sec) < 0) {
		fprintf(stderr, "secret_new failed\n");
		exit(2);
	}
	return sec;
}

/* ---- secrets ----------------------------------------------------------- */

TEST(secret_copies_exactly)
{
	const char pw[] = "pa ss\tword";
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	struct secret *s = NULL;

	CHECK_INT(secret_new(pw, strlen(pw), &s), 0);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_INT(s->len, strlen(pw));
	CHECK(memcmp(s->data, pw, strlen(pw)) == 0);
	CHECK(s->data[s->len] == '\0');
	CHECK_STR(s->data, pw);
	/* Whole pages, page-aligned, so mlock covers exactly the buffer. */
	CHECK(s->size >= s->len + 1);
	CHECK_INT(s->size % ps, 0);
	CHECK_INT((uintptr_t)s->data % ps, 0);
	secret_free(s);
}

TEST(secret_edges)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	struct secret *s = NULL, *keep = (struct secret *)&ps;
	char *big;

	/* Empty, with or without a source. */
	CHECK_INT(secret_new(NULL, 0, &s), 0);
	CHECK(s && s->len == 0 && s->data[0] == '\0');
	secret_free(s);
	s = NULL;
	CHECK_INT(secret_new("", 0, &s), 0);
	CHECK(s && s->len == 0);
	secret_free(s);

	/* Only len bytes, even from a longer string; embedded NULs kept. */
	s = NULL;
	CHECK_INT(secret_new("ab\0cd-not-this", 5, &s), 0);
	CHECK(s && s->len == 5 && memcmp(s->data, "ab\0cd", 5) == 0 && s->data[5] == '\0');
	secret_free(s);

	/* Exactly one page of content needs a second page for the NUL. */
	big = malloc(ps);
	CHECK(big != NULL);
	if (big) {
		memset(big, 'x', ps);
		s = NULL;
		CHECK_INT(secret_new(big, ps, &s), 0);
		CHECK(s && s->size == 2 * ps && s->data[ps] == '\0');
		secret_free(s);
		free(big);
	}

	/* Failures leave *ret alone. */
	s = keep;
	CHECK_INT(secret_new(NULL, 3, &s), -EINVAL);
	CHECK_INT(secret_new("x", SIZE_MAX, &s), -ENOMEM);
	CHECK(s == keep);
	CHECK_INT(secret_new("x", 1, NULL), -EINVAL);

	secret_free(NULL);
}

/* ---- the password cache ------------------------------------------------- */

/* A cached password comes back byte for byte, for its user only. */
TEST(pwcache_round_trip)
{
	struct pwcache *c = NULL;
	struct secret *pw = secret_of(GOOD_PASSWORD), *got = NULL, *empty = secret_of("");

	CHECK_INT(pwcache_new(&c), 0);
	if (!c)
		return;
	CHECK_INT(pwcache_get(c, "alice", 0, 1000, &got), -ENOENT);
	CHECK_INT(pwcache_put(c, "alice", pw, 0), 0);
	CHECK_INT(pwcache_count(c), 1);
	CHECK_INT(pwcache_get(c, "alice", 10, 1000, &got), 0);
	CHECK(got && got->len == strlen(GOOD_PASSWORD) && strcmp(got->data, GOOD_PASSWORD) == 0);
	secret_free(got);
	got = NULL;
	CHECK_INT(pwcache_get(c, "bob", 10, 1000, &got), -ENOENT);
	CHECK(got == NULL);
	/* Empty passwords (PAM refuses them at sign-in) still round-trip. */
	CHECK_INT(pwcache_put(c, "bob", empty, 0), 0);
	CHECK_INT(pwcache_get(c, "bob", 0, 1000, &got), 0);
	CHECK(got && got->len == 0);
	secret_free(got);
	/* Arguments. */
	CHECK_INT(pwcache_put(c, "", pw, 0), -EINVAL);
	CHECK_INT(pwcache_put(c, "carol", NULL, 0), -EINVAL);
	secret_free(pw);
	secret_free(empty);
	pwcache_free(c);
	pwcache_free(NULL);
}

/* The lifetime counts from the put; a new put restarts it; a shorter
 * lifetime (a reload) applies to passwords already kept. */
TEST(pwcache_lifetime)
{
	struct pwcache *c = NULL;
	struct secret *pw = secret_of(GOOD_PASSWORD), *got = NULL;

	CHECK_INT(pwcache_new(&c), 0);
	if (!c)
		return;
	CHECK_INT(pwcache_put(c, "alice", pw, 1000), 0);
	CHECK_INT(pwcache_next_expiry(c, 1000, 500), 500);
	CHECK_INT(pwcache_get(c, "alice", 1499, 500, &got), 0);
	secret_free(got);
	got = NULL;
	/* Signing in again at 1400 restarts the clock. */
	CHECK_INT(pwcache_put(c, "alice", pw, 1400), 0);
	CHECK_INT(pwcache_get(c, "alice", 1600, 500, &got), 0);
	secret_free(got);
	got = NULL;
	CHECK_INT(pwcache_get(c, "alice", 1900, 500, &got), -ETIME);
	CHECK(got == NULL);
	CHECK_INT(pwcache_count(c), 0);
	/* It stays "expired", not "unknown", until the next sign-in. */
	CHECK_INT(pwcache_get(c, "alice", 1901, 500, &got), -ETIME);
	CHECK_INT(pwcache_next_expiry(c, 1901, 500), -1);
	CHECK_INT(pwcache_put(c, "alice", pw, 2000), 0);
	CHECK_INT(pwcache_get(c, "alice", 2000, 500, &got), 0);
	secret_free(got);
	got = NULL;
	/* A reload to 100 ms: already too old. */
	CHECK_INT(pwcache_get(c, "alice", 2100, 100, &got), -ETIME);
	/* Lifetime 0: never usable. */
	CHECK_INT(pwcache_put(c, "alice", pw, 3000), 0);
	CHECK_INT(pwcache_get(c, "alice", 3000, 0, &got), -ETIME);
	secret_free(pw);
	pwcache_free(c);
}

static char expired_names[256];

static void note_expired(const char *user, void *arg)
{
	(void)arg;
	snprintf(expired_names + strlen(expired_names),
	         sizeof(expired_names) - strlen(expired_names), "%s ", user);
}

/* The timer's sweep, sign-out, and clearing. */
TEST(pwcache_expire_forget)
{
	struct pwcache *c = NULL;
	struct secret *pw = secret_of(GOOD_PASSWORD), *got = NULL;

	CHECK_INT(pwcache_new(&c), 0);
	if (!c)
		return;
	CHECK_INT(pwcache_put(c, "alice", pw, 0), 0);
	CHECK_INT(pwcache_put(c, "bob", pw, 300), 0);
	CHECK_INT(pwcache_put(c, "carol", pw, 600), 0);
	CHECK_INT(pwcache_next_expiry(c, 100, 1000), 900);
	expired_names[0] = '\0';
	CHECK_INT(pwcache_expire(c, 1000, 1000, note_expired, NULL), 1);
	CHECK_STR(expired_names, "alice ");
	CHECK_INT(pwcache_count(c), 2);
	CHECK_INT(pwcache_next_expiry(c, 1000, 1000), 300);
	CHECK_INT(pwcache_expire(c, 1000, 1000, note_expired, NULL), 0);
	/* Sign-out: gone at once, and no longer "expired" either. */
	CHECK(pwcache_forget(c, "bob"));
	CHECK(!pwcache_forget(c, "bob"));
	CHECK_INT(pwcache_get(c, "bob", 1000, 1000, &got), -ENOENT);
	CHECK(!pwcache_forget(c, "alice")); /* expired: nothing left to wipe */
	CHECK_INT(pwcache_get(c, "alice", 1000, 1000, &got), -ENOENT);
	CHECK_INT(pwcache_count(c), 1);
	CHECK_INT(pwcache_clear(c), 1);
	CHECK_INT(pwcache_count(c), 0);
	CHECK_INT(pwcache_get(c, "carol", 1000, 1000, &got), -ENOENT);
	CHECK(got == NULL);
	secret_free(pw);
	pwcache_free(c);
}

#define RH_BASE 1099511628211ULL

/* A polynomial hash of len bytes, the same as the rolling one below. */
static uint64_t rolling_hash(const unsigned char *p, size_t len)
{
	uint64_t h = 0;

	for (size_t i = 0; i < len; i++)
		h = h * RH_BASE + p[i];
	return h;
}

/*
 * Whether a window of len bytes with this hash occurs in any private
 * writable mapping of this process (heap, stack, anonymous pages). Only
 * the hash is searched for: any copy of the bytes themselves, kept to
 * search with, would be found.
 */
static bool in_own_memory(uint64_t hash, size_t len)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	uint64_t top = 1; /* RH_BASE^(len-1) */
	char line[512];
	bool found = false;

	for (size_t i = 1; i < len; i++)
		top *= RH_BASE;
	while (maps && mem >= 0 && !found && fgets(line, sizeof(line), maps)) {
		unsigned long long a, b;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) != 3 || perms[0] != 'r' ||
		    perms[1] != 'w' || perms[3] != 'p' || b - a > (1ULL << 30))
			continue;
		unsigned char *buf = malloc(b - a);
		if (!buf)
			continue;
		ssize_t n = pread(mem, buf, b - a, (off_t)a);
		if (n >= (ssize_t)len) {
			uint64_t h = rolling_hash(buf, len);
			for (size_t i = len;; i++) {
				if (h == hash) {
					found = true;
					break;
				}
				if (i == (size_t)n)
					break;
				h = (h - buf[i - len] * top) * RH_BASE + buf[i];
			}
		}
		explicit_bzero(buf, b - a);
		free(buf);
	}
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	return found;
}

/*
 * The cache holds ciphertext only: once the caller's copy is wiped, the
 * password's bytes are nowhere in this process's memory; a decrypted copy
 * is, until it is freed. The password is made at run time (so it is not
 * in the binary), and only its hash is kept to search with.
 */
TEST(pwcache_holds_no_plaintext)
{
	struct pwcache *c = NULL;
	struct secret *pw = NULL, *got = NULL;
	char plain[40];
	unsigned char rnd[16];
	uint64_t hash;
	size_t len;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		plain[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		plain[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	len = 2 * sizeof(rnd);
	hash = rolling_hash((const unsigned char *)plain, len);
	CHECK_INT(secret_new(plain, len, &pw), 0);
	explicit_bzero(plain, sizeof(plain));
	explicit_bzero(rnd, sizeof(rnd));
	CHECK_INT(pwcache_new(&c), 0);
	if (!c || !pw)
		return;
	CHECK(in_own_memory(hash, len)); /* the search itself works */
	CHECK_INT(pwcache_put(c, "alice", pw, 0), 0);
	secret_free(pw);
	CHECK(!in_own_memory(hash, len));
	CHECK_INT(pwcache_get(c, "alice", 0, 1000, &got), 0);
	CHECK(in_own_memory(hash, len));
	secret_free(got);
	CHECK(!in_own_memory(hash, len));
	pwcache_free(c);
}

/* ---- the conversation -------------------------------------------------- */

/* Runs the conversation over n messages given as (style, text) pairs. */
static int converse(struct pamconv *c, int n, const int *styles, const char *const *texts,
                    struct pam_response **resp)
{
	struct pam_message m[PAM_MAX_NUM_MSG + 1];
	const struct pam_message *mp[PAM_MAX_NUM_MSG + 1];
	int i;

	for (i = 0; i < n && i <= PAM_MAX_NUM_MSG; i++) {
		m[i].msg_style = styles[i];
		m[i].msg = texts[i];
		mp[i] = &m[i];
	}
	return pamconv_password(n, mp, resp, c);
}

static void responses_free(struct pam_response *r, int n)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
}

TEST(conv_answers)
{
	struct secret *pw = secret_of(GOOD_PASSWORD);
	char text[256];
	struct pamconv c;
	struct pam_response *r = NULL;
	const int styles[] = {PAM_TEXT_INFO, PAM_PROMPT_ECHO_OFF, PAM_ERROR_MSG, PAM_PROMPT_ECHO_ON,
	                      PAM_TEXT_INFO};
	const char *const texts[] = {"Welcome\n", "Password: ", "  Warning:\tline\rbreak \n",
	                             "login: ", ""};

	pamconv_init(&c, "alice", pw, text, sizeof(text));
	CHECK_INT(converse(&c, 5, styles, texts, &r), PAM_SUCCESS);
	CHECK(r != NULL);
	if (r) {
		CHECK(r[0].resp == NULL);
		CHECK_STR(r[1].resp, GOOD_PASSWORD);
		CHECK(r[2].resp == NULL);
		CHECK_STR(r[3].resp, "alice");
		CHECK(r[4].resp == NULL);
		CHECK_INT(r[1].resp_retcode, 0);
	}
	/* One line, trimmed, control characters blanked, never the password. */
	CHECK_STR(text, "Welcome; Warning: line break");
	responses_free(r, 5);

	/* Messages accumulate across calls. */
	{
		const int st[] = {PAM_ERROR_MSG};
		const char *const tx[] = {"again"};

		r = NULL;
		CHECK_INT(converse(&c, 1, st, tx, &r), PAM_SUCCESS);
		CHECK_STR(text, "Welcome; Warning: line break; again");
		responses_free(r, 1);
	}
	secret_free(pw);
}

TEST(conv_text_truncates)
{
	char text[8];
	struct pamconv c;
	struct pam_response *r = NULL;
	const int styles[] = {PAM_TEXT_INFO, PAM_TEXT_INFO};
	const char *const texts[] = {"abcdef", "ghijkl"};

	pamconv_init(&c, "alice", NULL, text, sizeof(text));
	CHECK_INT(converse(&c, 2, styles, texts, &r), PAM_SUCCESS);
	CHECK_STR(text, "abcdef;");
	responses_free(r, 2);

	/* No buffer at all is fine too. */
	pamconv_init(&c, "alice", NULL, NULL, 0);
	r = NULL;
	CHECK_INT(converse(&c, 2, styles, texts, &r), PAM_SUCCESS);
	responses_free(r, 2);
}

TEST(conv_refusals)
{
	struct secret *pw = secret_of(GOOD_PASSWORD), *nul = NULL;
	char text[64];
	struct pamconv c;
	struct pam_response *r, dummy;
	const int unknown[] = {PAM_PROMPT_ECHO_OFF, PAM_BINARY_PROMPT};
	const int radio[] = {PAM_RADIO_TYPE};
	const int off[] = {PAM_PROMPT_ECHO_OFF};
	const char *const texts[] = {"Password: ", "?"};
	const char *many_texts[PAM_MAX_NUM_MSG + 1];
	int i;

	for (i = 0; i <= PAM_MAX_NUM_MSG; i++)
		many_texts[i] = "x";
	pamconv_init(&c, "alice", pw, text, sizeof(text));

	/* An unknown style after a password answer: the answer is wiped
	 * and freed (ASan would see a leak otherwise), *resp stays NULL. */
	r = &dummy;
	CHECK_INT(converse(&c, 2, unknown, texts, &r), PAM_CONV_ERR);
	CHECK(r == NULL);
	r = &dummy;
	CHECK_INT(converse(&c, 1, radio, texts, &r), PAM_CONV_ERR);
	CHECK(r == NULL);

	/* Counts out of range. */
	{
		int styles[PAM_MAX_NUM_MSG + 1];

		for (i = 0; i <= PAM_MAX_NUM_MSG; i++)
			styles[i] = PAM_TEXT_INFO;
		r = &dummy;
		CHECK_INT(converse(&c, 0, styles, many_texts, &r), PAM_CONV_ERR);
		CHECK(r == NULL);
		r = &dummy;
		CHECK_INT(converse(&c, -1, styles, many_texts, &r), PAM_CONV_ERR);
		CHECK(r == NULL);
		r = &dummy;
		CHECK_INT(converse(&c, PAM_MAX_NUM_MSG + 1, styles, many_texts, &r), PAM_CONV_ERR);
		CHECK(r == NULL);
		r = NULL;
		CHECK_INT(converse(&c, PAM_MAX_NUM_MSG, styles, many_texts, &r), PAM_SUCCESS);
		responses_free(r, PAM_MAX_NUM_MSG);
	}

	/* No place for the answers. */
	CHECK_INT(converse(&c, 1, off, texts, NULL), PAM_CONV_ERR);

	/* No appdata, no message array, a NULL message. */
	{
		const struct pam_message *none[1] = {NULL};

		r = &dummy;
		CHECK_INT(pamconv_password(1, none, &r, &c), PAM_CONV_ERR);
		CHECK(r == NULL);
		r = &dummy;
		CHECK_INT(pamconv_password(1, NULL, &r, &c), PAM_CONV_ERR);
		CHECK(r == NULL);
		r = &dummy;
		CHECK_INT(converse(NULL, 1, off, texts, &r), PAM_CONV_ERR);
		CHECK(r == NULL);
	}

	/* Without a password, echo-off prompts are refused. */
	pamconv_init(&c, "alice", NULL, text, sizeof(text));
	r = &dummy;
	CHECK_INT(converse(&c, 1, off, texts, &r), PAM_CONV_ERR);
	CHECK(r == NULL);

	/* A password with a NUL is refused rather than cut short. */
	CHECK_INT(secret_new("ab\0cd", 5, &nul), 0);
	pamconv_init(&c, "alice", nul, text, sizeof(text));
	r = &dummy;
	CHECK_INT(converse(&c, 1, off, texts, &r), PAM_CONV_ERR);
	CHECK(r == NULL);

	secret_free(nul);
	secret_free(pw);
}

/* ---- status mapping and argument checks -------------------------------- */

TEST(classify)
{
	CHECK_INT(pamauth_classify(PAM_SUCCESS, false), PAMAUTH_OK);
	CHECK_INT(pamauth_classify(PAM_AUTH_ERR, false), PAMAUTH_BAD_PASSWORD);
	CHECK_INT(pamauth_classify(PAM_CRED_INSUFFICIENT, false), PAMAUTH_BAD_PASSWORD);
	CHECK_INT(pamauth_classify(PAM_MAXTRIES, false), PAMAUTH_BAD_PASSWORD);
	CHECK_INT(pamauth_classify(PAM_USER_UNKNOWN, false), PAMAUTH_UNKNOWN_USER);
	CHECK_INT(pamauth_classify(PAM_AUTHINFO_UNAVAIL, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_SERVICE_ERR, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_SYSTEM_ERR, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_BUF_ERR, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_ABORT, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_MODULE_UNKNOWN, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_CONV_ERR, false), PAMAUTH_ERROR);
	CHECK_INT(pamauth_classify(PAM_ACCT_EXPIRED, true), PAMAUTH_ACCOUNT_EXPIRED);
	CHECK_INT(pamauth_classify(PAM_NEW_AUTHTOK_REQD, true), PAMAUTH_PASSWORD_EXPIRED);
	CHECK_INT(pamauth_classify(PAM_PERM_DENIED, true), PAMAUTH_DENIED);
	CHECK_INT(pamauth_classify(PAM_AUTH_ERR, true), PAMAUTH_DENIED);
	CHECK_INT(pamauth_classify(PAM_USER_UNKNOWN, true), PAMAUTH_UNKNOWN_USER);
	CHECK_INT(pamauth_classify(PAM_SESSION_ERR, true), PAMAUTH_DENIED);
	CHECK_INT(pamauth_classify(PAM_SYSTEM_ERR, true), PAMAUTH_ERROR);

	CHECK_STR(pamauth_result_name(PAMAUTH_OK), "ok");
	CHECK_STR(pamauth_result_name(PAMAUTH_BAD_PASSWORD), "bad password");
	CHECK_STR(pamauth_result_name(PAMAUTH_ERROR), "error");
	CHECK_STR(pamauth_result_name((enum pamauth_result)99), "unknown result");
}

TEST(arguments)
{
	struct secret *pw = secret_of(GOOD_PASSWORD), *nul = NULL;
	struct pamsession *s = (struct pamsession *)&pw;
	char msg[256], *user = (char *)"untouched";
	char nobody[64];

	snprintf(nobody, sizeof(nobody), USER_PREFIX "nobody_%ld", (long)getpid());

	CHECK_INT(pamauth_authenticate(NULL, "root", pw, &user, msg, sizeof(msg)), PAMAUTH_ERROR);
	CHECK_CONTAINS(msg, "invalid argument");
	CHECK_INT(pamauth_authenticate("login", "", pw, &user, msg, sizeof(msg)), PAMAUTH_ERROR);
	CHECK_INT(pamauth_authenticate("login", "root", NULL, &user, msg, sizeof(msg)),
	          PAMAUTH_ERROR);
	/* Decided before PAM, so these run as any user. */
	CHECK_INT(secret_new("ab\0cd", 5, &nul), 0);
	CHECK_INT(pamauth_authenticate("login", "root", nul, &user, msg, sizeof(msg)),
	          PAMAUTH_BAD_PASSWORD);
	CHECK_CONTAINS(msg, "NUL");
	CHECK_INT(pamauth_authenticate("login", nobody, pw, &user, msg, sizeof(msg)),
	          PAMAUTH_UNKNOWN_USER);
	CHECK_STR(msg, "getpwnam_r: no such user");
	/* No message buffer is fine. */
	CHECK_INT(pamauth_authenticate("login", nobody, pw, &user, NULL, 0), PAMAUTH_UNKNOWN_USER);
	CHECK_STR(user, "untouched");

	CHECK_INT(pamsession_open(NULL, "root", NULL, &s, msg, sizeof(msg)), -EINVAL);
	CHECK_INT(pamsession_open("su", "root", NULL, NULL, msg, sizeof(msg)), -EINVAL);
	CHECK(s == (struct pamsession *)&pw);
	pamsession_close(NULL, true);
	pamsession_close(NULL, false);
	CHECK(pamsession_env(NULL) == NULL);
	pamsession_env_free(NULL);

	secret_free(nul);
	secret_free(pw);
}

/* ---- the real-PAM fixture (root only) ---------------------------------- */

static struct {
	bool active;
	char skip[128]; /* why not active */
	char user[64];
	char nobody[64];
	bool user_created;
	char envfile[128];
	char svc_plain[64], svc_su[64], svc_broken_auth[64], svc_broken_session[64];
	char paths[8][PATH_MAX]; /* every file we created */
	int npaths;
} fx;

/*
 * Runs argv[0] (an absolute path) with input on stdin, stdout discarded.
 * Returns its exit status, or -1 if it could not run or was killed.
 */
static int run(const char *const argv[], const char *input)
{
	int in[2] = {-1, -1}, status;
	pid_t pid;

	if (input && pipe2(in, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		if (input) {
			close(in[0]);
			close(in[1]);
		}
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		sigset_t none;

		/* main() blocks the termination signals; the tools need not. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);

		if (input)
			dup2(in[0], 0);
		else if (devnull >= 0)
			dup2(devnull, 0);
		if (devnull >= 0)
			dup2(devnull, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (input) {
		size_t len = strlen(input), off = 0;

		close(in[0]);
		while (off < len) {
			ssize_t w = write(in[1], input + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		close(in[1]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * run() again while it fails, for up to ~5 s: other test runs on this
 * machine may hold the lock on /etc/passwd or /etc/shadow for a moment.
 * ok_too is an extra exit status that counts as done (-1 for none).
 */
static int run_retry(const char *const argv[], const char *input, int ok_too)
{
	int rc = -1, i;

	for (i = 0; i < 25; i++) {
		rc = run(argv, input);
		if (rc == 0 || rc == ok_too || rc == 127)
			return rc == ok_too ? 0 : rc;
		usleep(200 * 1000);
	}
	return rc;
}

static bool user_del(const char *user)
{
	/* 6: no such user, which is what we want. */
	const char *argv[] = {"/usr/sbin/userdel", user, NULL};

	return run_retry(argv, NULL, 6) == 0;
}

static bool add_path(const char *path)
{
	if (fx.npaths >= (int)(sizeof(fx.paths) / sizeof(fx.paths[0])))
		return false;
	snprintf(fx.paths[fx.npaths++], PATH_MAX, "%s", path);
	return true;
}

/* Creates path (which must not exist) holding text; records it first. */
static bool write_new(const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return false;
	if (!add_path(path) || write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return false;
	}
	return close(fd) == 0;
}

/* True when name is prefix + the pid of a process that no longer runs. */
static bool stale(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long pid;

	if (strncmp(name, prefix, n) != 0)
		return false;
	errno = 0;
	pid = strtol(name + n, &end, 10);
	if (errno || end == name + n || pid <= 0 || pid > INT_MAX)
		return false;
	if (*end != '\0' && *end != '-')
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Removes what killed runs left: their users, service files, env files. */
static void sweep_stale(void)
{
	const char *dirs[] = {PAMD, TMPDIR};
	char users[16][64];
	int nusers = 0, i;
	struct passwd *pw;
	FILE *f;

	f = fopen("/etc/passwd", "re");
	if (f) {
		while ((pw = fgetpwent(f)) && nusers < 16)
			if (stale(pw->pw_name, USER_PREFIX))
				snprintf(users[nusers++], sizeof(users[0]), "%s", pw->pw_name);
		fclose(f);
	}
	for (i = 0; i < nusers; i++) {
		fprintf(stderr, "removing stale test user %s\n", users[i]);
		user_del(users[i]);
	}
	for (i = 0; i < 2; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d))) {
			char path[PATH_MAX];
			struct stat st;

			if (!stale(e->d_name, FILE_PREFIX))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name);
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0) {
				fprintf(stderr, "removing stale test file %s\n", path);
				unlink(path);
			}
		}
		closedir(d);
	}
}

/* Removes the user and every file we made; false if something remains. */
static bool fixture_cleanup(void)
{
	bool ok = true;
	int i;

	if (fx.user_created) {
		if (user_del(fx.user)) {
			fx.user_created = false;
		} else {
			fprintf(stderr, "cannot remove user %s\n", fx.user);
			ok = false;
		}
	}
	for (i = 0; i < fx.npaths; i++) {
		if (unlink(fx.paths[i]) < 0 && errno != ENOENT) {
			fprintf(stderr, "cannot remove %s: %s\n", fx.paths[i], strerror(errno));
			ok = false;
		}
	}
	fx.npaths = 0;
	return ok;
}

static bool service_file(char *name, size_t size, const char *kind, const char *text)
{
	char path[PATH_MAX];

	/* Lower case: Linux-PAM lowercases service names. */
	snprintf(name, size, FILE_PREFIX "%ld-%s", (long)getpid(), kind);
	snprintf(path, sizeof(path), PAMD "/%s", name);
	return write_new(path, text, 0644);
}

static bool set_password(const char *password)
{
	const char *argv[] = {"/usr/sbin/chpasswd", NULL};
	char line[256];

	snprintf(line, sizeof(line), "%s:%s\n", fx.user, password);
	return run_retry(argv, line, -1) == 0;
}

static bool fixture_setup(void)
{
	const char *useradd[] = {"/usr/sbin/useradd", "-M",    "-N", "-s", "/bin/false", "-d",
	                         "/nonexistent",      fx.user, NULL};
	char tmpl[128], text[1024], common[512];
	int fd;

	if (geteuid() != 0) {
		snprintf(fx.skip, sizeof(fx.skip), "real PAM needs root (euid %ld)",
		         (long)geteuid());
		return false;
	}
	if (access("/usr/sbin/useradd", X_OK) < 0 || access("/usr/sbin/chpasswd", X_OK) < 0) {
		snprintf(fx.skip, sizeof(fx.skip), "no useradd/chpasswd");
		return false;
	}
	sweep_stale();

	snprintf(fx.user, sizeof(fx.user), USER_PREFIX "%ld", (long)getpid());
	snprintf(fx.nobody, sizeof(fx.nobody), USER_PREFIX "nobody_%ld", (long)getpid());

	/* The env file pam_env reads: KEY=VALUE lines. */
	snprintf(tmpl, sizeof(tmpl), TMPDIR "/" FILE_PREFIX "%ld-env-XXXXXX", (long)getpid());
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		goto fail;
	snprintf(fx.envfile, sizeof(fx.envfile), "%s", tmpl);
	if (!add_path(tmpl)) {
		close(fd);
		goto fail;
	}
	if (write(fd, "RS_PAM_CANARY=hello\n", 20) != 20) {
		close(fd);
		goto fail;
	}
	close(fd);

	/* nodelay: no 2 s pam_unix fail delay per wrong password in tests. */
	snprintf(common, sizeof(common),
	         "account required pam_unix.so\n"
	         "session required pam_unix.so\n"
	         "session optional pam_env.so readenv=1 envfile=%s\n",
	         fx.envfile);
	snprintf(text, sizeof(text), "auth required pam_unix.so nodelay\n%s", common);
	if (!service_file(fx.svc_plain, sizeof(fx.svc_plain), "plain", text))
		goto fail;
	snprintf(text, sizeof(text),
	         "auth sufficient pam_rootok.so\n"
	         "auth required pam_unix.so nodelay\n%s",
	         common);
	if (!service_file(fx.svc_su, sizeof(fx.svc_su), "su", text))
		goto fail;
	if (!service_file(fx.svc_broken_auth, sizeof(fx.svc_broken_auth), "broken-auth",
	                  "auth required pam_does_not_exist.so\n"
	                  "account required pam_unix.so\n"
	                  "session required pam_unix.so\n"))
		goto fail;
	if (!service_file(fx.svc_broken_session, sizeof(fx.svc_broken_session), "broken-session",
	                  "auth required pam_unix.so nodelay\n"
	                  "account required pam_unix.so\n"
	                  "session required pam_does_not_exist.so\n"))
		goto fail;

	/* Mark the user ours before creating it, so a half-done useradd is
	 * still removed. */
	fx.user_created = true;
	if (run_retry(useradd, NULL, -1) != 0)
		goto fail;
	if (!set_password(GOOD_PASSWORD))
		goto fail;
	fx.active = true;
	return true;

fail:
	snprintf(fx.skip, sizeof(fx.skip), "fixture setup failed: %s", strerror(errno));
	return false;
}

/* Runs an account tool on the test user: argv[0], options, then the user. */
static bool modify(const char *tool, const char *opt, const char *arg)
{
	const char *with_arg[] = {tool, opt, arg, fx.user, NULL};
	const char *without[] = {tool, opt, fx.user, NULL};
	bool ok = run_retry(arg ? with_arg : without, NULL, -1) == 0;

	if (!ok)
		fprintf(stderr, "%s %s %s %s failed\n", tool, opt, arg ? arg : "", fx.user);
	return ok;
}

static bool env_has(char **env, const char *entry)
{
	for (; env && *env; env++)
		if (strcmp(*env, entry) == 0)
			return true;
	return false;
}

/* ---- real PAM: authentication ------------------------------------------ */

static enum pamauth_result auth(const char *svc, const char *user, const char *password,
                                char **ret_user, char *msg, size_t msgsize)
{
	struct secret *pw = secret_of(password);
	enum pamauth_result r = pamauth_authenticate(svc, user, pw, ret_user, msg, msgsize);

	secret_free(pw);
	/* Whatever happened, the password is not in the log message. */
	CHECK(!strstr(msg, "horse"));
	return r;
}

TEST(auth_good_password)
{
	char msg[512], *user = NULL;

	CHECK_INT(auth(fx.svc_plain, fx.user, GOOD_PASSWORD, &user, msg, sizeof(msg)), PAMAUTH_OK);
	CHECK_STR(user, fx.user);
	free(user);
}

TEST(auth_bad_password)
{
	char msg[512], *user = (char *)"untouched";

	CHECK_INT(auth(fx.svc_plain, fx.user, BAD_PASSWORD, &user, msg, sizeof(msg)),
	          PAMAUTH_BAD_PASSWORD);
	CHECK_STR(msg, "pam_authenticate: Authentication failure");
	/* A prefix of the password is not the password. */
	CHECK_INT(auth(fx.svc_plain, fx.user, "c0rrect horse", &user, msg, sizeof(msg)),
	          PAMAUTH_BAD_PASSWORD);
	/* An empty one neither, whatever the stack's nullok. */
	CHECK_INT(auth(fx.svc_plain, fx.user, "", &user, msg, sizeof(msg)), PAMAUTH_BAD_PASSWORD);
	CHECK_STR(user, "untouched");
}

TEST(auth_unknown_user)
{
	char msg[512], *user = (char *)"untouched";

	CHECK_INT(auth(fx.svc_plain, fx.nobody, GOOD_PASSWORD, &user, msg, sizeof(msg)),
	          PAMAUTH_UNKNOWN_USER);
	CHECK_STR(user, "untouched");
}

TEST(auth_broken_service)
{
	char msg[512], *user = (char *)"untouched";

	/* A service without a file is not an error on Debian: Linux-PAM
	 * falls back to /etc/pam.d/other. A missing module is. */
	CHECK_INT(auth(fx.svc_broken_auth, fx.user, GOOD_PASSWORD, &user, msg, sizeof(msg)),
	          PAMAUTH_ERROR);
	CHECK_CONTAINS(msg, "pam_authenticate: ");
	CHECK_STR(user, "untouched");
}

TEST(auth_account_expired)
{
	char msg[512], *user = (char *)"untouched";
	struct pamsession *s = NULL;

	/* Expired on 1970-01-02. */
	if (!modify("/usr/sbin/usermod", "-e", "1")) {
		CHECK(!"usermod -e 1");
		return;
	}
	CHECK_INT(auth(fx.svc_plain, fx.user, GOOD_PASSWORD, &user, msg, sizeof(msg)),
	          PAMAUTH_ACCOUNT_EXPIRED);
	CHECK_CONTAINS(msg, "pam_acct_mgmt: ");
	/* The launcher is refused too. */
	CHECK_INT(pamsession_open(fx.svc_su, fx.user, NULL, &s, msg, sizeof(msg)), -EACCES);
	CHECK_CONTAINS(msg, "pam_acct_mgmt: ");
	CHECK(s == NULL);
	CHECK(modify("/usr/sbin/usermod", "-e", ""));
	CHECK_STR(user, "untouched");
}

TEST(auth_password_expired)
{
	char msg[512], today[32], *user = (char *)"untouched";

	if (!modify("/usr/bin/chage", "-d", "0")) {
		CHECK(!"chage -d 0");
		return;
	}
	CHECK_INT(auth(fx.svc_plain, fx.user, GOOD_PASSWORD, &user, msg, sizeof(msg)),
	          PAMAUTH_PASSWORD_EXPIRED);
	CHECK_CONTAINS(msg, "pam_acct_mgmt: ");
	/* pam_unix's own message reaches the log through the conversation. */
	CHECK_CONTAINS(msg, "change your password");
	snprintf(today, sizeof(today), "%lld", (long long)(time(NULL) / 86400));
	CHECK(modify("/usr/bin/chage", "-d", today));
	CHECK_STR(user, "untouched");
}

TEST(auth_locked_password)
{
	char msg[512], *user = (char *)"untouched", *again = NULL;

	if (!modify("/usr/sbin/usermod", "-L", NULL)) {
		CHECK(!"usermod -L");
		return;
	}
	/*
	 * usermod -L puts "!" before the hash: pam_unix's authenticate can no
	 * longer match any password and says PAM_AUTH_ERR, so a locked
	 * password reads as BAD_PASSWORD (pam_acct_mgmt is never reached).
	 */
	CHECK_INT(auth(fx.svc_plain, fx.user, GOOD_PASSWORD, &user, msg, sizeof(msg)),
	          PAMAUTH_BAD_PASSWORD);
	CHECK_STR(user, "untouched");
	CHECK(modify("/usr/sbin/usermod", "-U", NULL));
	/* And back to normal. */
	CHECK_INT(auth(fx.svc_plain, fx.user, GOOD_PASSWORD, &again, msg, sizeof(msg)), PAMAUTH_OK);
	free(again);
}

/* ---- real PAM: sessions ------------------------------------------------ */

TEST(session_without_password)
{
	char err[512] = "x";
	struct pamsession *s = NULL;
	char **env;

	/* su-like service, no authentication step: acct, setcred, open. */
	CHECK_INT(pamsession_open(fx.svc_su, fx.user, NULL, &s, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK(s != NULL);
	env = pamsession_env(s);
	CHECK(env != NULL);
	CHECK(env_has(env, "RS_PAM_CANARY=hello"));
	pamsession_env_free(env);
	pamsession_close(s, true);

	/* The plain service too: its auth stack is never used. */
	s = NULL;
	CHECK_INT(pamsession_open(fx.svc_plain, fx.user, NULL, &s, err, sizeof(err)), 0);
	CHECK(s != NULL);
	pamsession_close(s, false);
}

TEST(session_with_password)
{
	struct secret *good = secret_of(GOOD_PASSWORD), *bad = secret_of(BAD_PASSWORD);
	char err[512];
	struct pamsession *s = NULL, *keep = (struct pamsession *)&err;
	char **env;

	/* pam_rootok is sufficient for root: the password is not asked. */
	CHECK_INT(pamsession_open(fx.svc_su, fx.user, good, &s, err, sizeof(err)), 0);
	pamsession_close(s, true);

	/* pam_unix checks it for real. */
	s = NULL;
	CHECK_INT(pamsession_open(fx.svc_plain, fx.user, good, &s, err, sizeof(err)), 0);
	env = pamsession_env(s);
	CHECK(env_has(env, "RS_PAM_CANARY=hello"));
	pamsession_env_free(env);
	/* The session keeps its own copy of the password. */
	secret_free(good);
	good = NULL;
	pamsession_close(s, false);

	s = keep;
	CHECK_INT(pamsession_open(fx.svc_plain, fx.user, bad, &s, err, sizeof(err)), -EACCES);
	CHECK_STR(err, "pam_authenticate: Authentication failure");
	CHECK(s == keep);

	/* The user is unknown to pam_unix's account stack. */
	CHECK_INT(pamsession_open(fx.svc_plain, fx.nobody, NULL, &s, err, sizeof(err)), -EACCES);
	CHECK_CONTAINS(err, "pam_acct_mgmt: ");
	CHECK(s == keep);
	secret_free(bad);
}

TEST(session_broken_service)
{
	struct secret *good = secret_of(GOOD_PASSWORD);
	char err[512];
	struct pamsession *s = NULL;

	/* Authentication through a missing module: a PAM error. */
	CHECK_INT(pamsession_open(fx.svc_broken_auth, fx.user, good, &s, err, sizeof(err)), -EIO);
	CHECK_CONTAINS(err, "pam_authenticate: ");
	/* pam_setcred runs the auth stack, missing module included. */
	CHECK_INT(pamsession_open(fx.svc_broken_auth, fx.user, NULL, &s, err, sizeof(err)), -EIO);
	CHECK_CONTAINS(err, "pam_setcred: ");
	/* Credentials were established, then the session failed: undone. */
	CHECK_INT(pamsession_open(fx.svc_broken_session, fx.user, good, &s, err, sizeof(err)),
	          -EIO);
	CHECK_CONTAINS(err, "pam_open_session: ");
	CHECK(s == NULL);
	secret_free(good);
}

/* ---- main -------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, SIGKILL);
}

static int run_tests(void)
{
	RUN(secret_copies_exactly);
	RUN(secret_edges);
	RUN(pwcache_round_trip);
	RUN(pwcache_lifetime);
	RUN(pwcache_expire_forget);
	RUN(pwcache_holds_no_plaintext);
	RUN(conv_answers);
	RUN(conv_text_truncates);
	RUN(conv_refusals);
	RUN(classify);
	RUN(arguments);
	if (fx.active) {
		RUN(auth_good_password);
		RUN(auth_bad_password);
		RUN(auth_unknown_user);
		RUN(auth_broken_service);
		RUN(auth_account_expired);
		RUN(auth_password_expired);
		RUN(auth_locked_password);
		RUN(session_without_password);
		RUN(session_with_password);
		RUN(session_broken_service);
	} else {
		printf("skip real PAM tests: %s\n", fx.skip);
	}
	return test_summary();
}

int main(void)
{
	struct sigaction sa = {.sa_handler = forward_signal};
	sigset_t term, old;
	int status, rc;
	bool cleaned;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * Hold SIGINT, SIGTERM and SIGHUP while the system is being changed;
	 * once the tests run in a child, such a signal kills the child and
	 * the parent goes on to clean up.
	 */
	sigemptyset(&term);
	sigaddset(&term, SIGINT);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigprocmask(SIG_BLOCK, &term, &old);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (!fixture_setup() && geteuid() == 0 && fx.npaths + fx.user_created > 0) {
		/* Root, but setting up failed half-way: undo and fail. */
		fprintf(stderr, "%s\n", fx.skip);
		fixture_cleanup();
		return 1;
	}
	if (!fx.active) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return run_tests();
	}

	/* From here on, the system is changed: the parent only waits and
	 * cleans up, whatever happens to the child running the tests. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		fixture_cleanup();
		return 1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		exit(run_tests());
	}
	child_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	child_pid = 0;
	cleaned = fixture_cleanup();
	if (status != -1 && WIFEXITED(status)) {
		rc = WEXITSTATUS(status);
	} else {
		fprintf(stderr, "test process %s\n",
		        status != -1 && WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "lost");
		rc = 1;
	}
	if (!cleaned)
		rc = 1;
	return rc;
}
