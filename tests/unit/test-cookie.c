/*
 * Unit tests for the sign-in cookies (rserver/cookie.c): the key file, the
 * signed user-id value, token hashes, CSRF tokens and the two header
 * syntaxes.
 *
 * The forging helpers below encode and MAC independently of cookie.c, so a
 * test can build a value that is correctly signed yet malformed, and show
 * that the format check, not the MAC, refuses it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cookie.h"
#include "test.h"

#define NOW    INT64_C(1700000000)
#define FUTURE INT64_C(4102444800) /* 2100-01-01 */

static char tmpdir[] = "/tmp/test-cookie.XXXXXX";

static void key_fill(struct cookie_key *k, unsigned char byte)
{
	memset(k, 0, sizeof(*k));
	k->len = 32;
	memset(k->data, byte, k->len);
}

static void b64u(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = a[v >> 10];
		out[o++] = a[(v >> 4) & 63];
		out[o++] = a[(v & 15) << 2];
	}
	out[o] = '\0';
}

/* Builds user_field "." exp "." flag "." base64url(HMAC(key, mac_input)). */
static void forge(const struct cookie_key *k, const char *user_field, const char *exp,
                  const char *flag, const char *mac_input, char *out, size_t outsize)
{
	unsigned char mac[32];
	unsigned int maclen = 0;
	char m[64];

	HMAC(EVP_sha256(), k->data, (int)k->len, (const unsigned char *)mac_input,
	     strlen(mac_input), mac, &maclen);
	b64u(mac, maclen, m);
	/* A forged cookie cut short would test something else: stop. */
	if ((size_t)snprintf(out, outsize, "%s.%s.%s.%s", user_field, exp, flag, m) >= outsize) {
		fprintf(stderr, "forge: %zu bytes are not enough\n", outsize);
		abort();
	}
}

/* forge() for a raw user of n bytes, signed over the same text. */
static void forge_user(const struct cookie_key *k, const char *user, size_t n, char *out,
                       size_t outsize)
{
	char field[1024], input[1024];

	b64u((const unsigned char *)user, n, field);
	snprintf(input, sizeof(input), "v1|%.*s|%" PRId64 "|1", (int)n, user, FUTURE);
	forge(k, field, "4102444800", "1", input, out, outsize);
}

static int verify(const struct cookie_key *k, const char *v)
{
	char user[COOKIE_USER_MAX + 1];

	return cookie_verify(k, v, NOW, user, sizeof(user), NULL, NULL);
}

static void path_in_tmp(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, size_t n, mode_t mode)
{
	unsigned char buf[512];
	int fd;

	memset(buf, 'k', sizeof(buf));
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, buf, n) == (ssize_t)n);
	close(fd);
	CHECK(chmod(path, mode) == 0);
}

/* Counts the entries of dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- the key file ---- */

TEST(key_created)
{
	char dir[256], path[300], err[512] = "", v1[COOKIE_VALUE_SIZE], v2[COOKIE_VALUE_SIZE];
	struct cookie_key k, k2;
	struct stat st;

	path_in_tmp(dir, sizeof(dir), "created");
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/secure-cookie-key", dir);

	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(k.len, 32);
	CHECK(lstat(path, &st) == 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_size, 32);
	CHECK_INT(st.st_uid, geteuid());
	/* The temporary file is gone. */
	CHECK_INT(count_entries(dir), 1);

	/* Reloading gives the same key: the same MAC. */
	CHECK_INT(cookie_key_load(path, &k2, err, sizeof(err)), 0);
	CHECK_INT(k2.len, 32);
	CHECK(memcmp(k.data, k2.data, 32) == 0);
	CHECK_INT(cookie_sign(&k, "alice", FUTURE, true, v1, sizeof(v1)), 0);
	CHECK_INT(cookie_sign(&k2, "alice", FUTURE, true, v2, sizeof(v2)), 0);
	CHECK_STR(v1, v2);
	CHECK_INT(verify(&k2, v1), 0);

	cookie_key_clear(&k);
	CHECK_INT(k.len, 0);
	for (size_t i = 0; i < sizeof(k.data); i++)
		if (k.data[i] != 0)
			CHECK(!"key not wiped");
	cookie_key_clear(&k2);
	cookie_key_clear(NULL);
}

TEST(key_umask)
{
	char path[300], err[512] = "";
	struct cookie_key k;
	struct stat st;
	mode_t old = umask(0277);

	/* A umask that would leave the owner unable to read the key. */
	path_in_tmp(path, sizeof(path), "umask-key");
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), 0);
	umask(old);
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	cookie_key_clear(&k);
}

TEST(key_existing)
{
	char path[300], err[512] = "";
	struct cookie_key k;

	/* An administrator's key: longer than 32 bytes, mode 0400. */
	path_in_tmp(path, sizeof(path), "admin-key");
	write_file(path, 100, 0400);
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), 0);
	CHECK_INT(k.len, 100);
	CHECK(k.data[0] == 'k' && k.data[99] == 'k');

	/* At most COOKIE_KEY_MAX bytes are the key. */
	write_file(path, 300, 0600);
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), 0);
	CHECK_INT(k.len, COOKIE_KEY_MAX);
	cookie_key_clear(&k);
}

TEST(key_mode_refused)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0660, 0606, 0610, 0601};
	char path[300], err[512], want[64];
	struct cookie_key k, before;

	path_in_tmp(path, sizeof(path), "mode-key");
	key_fill(&before, 0x5A);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(path, 32, modes[i]);
		k = before;
		err[0] = '\0';
		CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -EPERM);
		CHECK_CONTAINS(err, path);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)modes[i]);
		CHECK_CONTAINS(err, want);
		CHECK_CONTAINS(err, "group or others");
		/* Untouched on failure. */
		CHECK(memcmp(&k, &before, sizeof(k)) == 0);
	}
}

TEST(key_symlink_refused)
{
	char target[300], link_path[300], dangling[300], missing[300], err[512] = "";
	struct cookie_key k;
	struct stat st;

	path_in_tmp(target, sizeof(target), "real-key");
	path_in_tmp(link_path, sizeof(link_path), "link-key");
	write_file(target, 32, 0600);
	CHECK(symlink(target, link_path) == 0);
	CHECK_INT(cookie_key_load(link_path, &k, err, sizeof(err)), -ELOOP);
	CHECK_CONTAINS(err, link_path);
	CHECK_CONTAINS(err, "symbolic link");

	/* A dangling link is not created through either. */
	path_in_tmp(dangling, sizeof(dangling), "dangling-key");
	path_in_tmp(missing, sizeof(missing), "not-there");
	CHECK(symlink(missing, dangling) == 0);
	err[0] = '\0';
	CHECK_INT(cookie_key_load(dangling, &k, err, sizeof(err)), -ELOOP);
	CHECK_CONTAINS(err, "symbolic link");
	CHECK(lstat(missing, &st) < 0 && errno == ENOENT);
}

TEST(key_short_refused)
{
	char path[300], err[512] = "";
	struct cookie_key k;

	path_in_tmp(path, sizeof(path), "short-key");
	write_file(path, 31, 0600);
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "31 bytes");

	write_file(path, 0, 0600);
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "0 bytes");
}

TEST(key_not_regular_refused)
{
	char path[300], err[512] = "";
	struct cookie_key k;

	path_in_tmp(path, sizeof(path), "dir-key");
	CHECK(mkdir(path, 0700) == 0);
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "not a regular file");

	/* A FIFO must be refused, not block the start waiting for a writer. */
	path_in_tmp(path, sizeof(path), "fifo-key");
	CHECK(mkfifo(path, 0600) == 0);
	err[0] = '\0';
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not a regular file");
}

TEST(key_owner_refused)
{
	char path[300], err[512] = "";
	struct cookie_key k;

	if (geteuid() != 0) {
		printf("skip key_owner_refused: chown needs root\n");
		return;
	}
	path_in_tmp(path, sizeof(path), "owner-key");
	write_file(path, 32, 0600);
	CHECK(chown(path, 65534, 65534) == 0);
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "owned by uid 65534");
}

TEST(key_create_fails)
{
	char path[300], err[512] = "";
	struct cookie_key k;

	path_in_tmp(path, sizeof(path), "no-such-dir/key");
	CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "Failed to create");
	CHECK_CONTAINS(err, path);
	CHECK_INT(cookie_key_load("", &k, err, sizeof(err)), -EINVAL);
	CHECK_INT(cookie_key_load(NULL, &k, NULL, 0), -EINVAL);
}

/*
 * Many processes start at once on a missing key: all must end up with the
 * same key, and one file with no temporaries left behind. Repeated so that
 * the creators really overlap in some rounds.
 */
TEST(key_concurrent_creators)
{
	enum { ROUNDS = 20, PROCS = 8 };

	for (int round = 0; round < ROUNDS; round++) {
		char dir[256], path[300], name[32], mine[COOKIE_VALUE_SIZE];
		char got[PROCS][COOKIE_VALUE_SIZE];
		int go[2], res[2];
		pid_t pids[PROCS];
		struct cookie_key k;
		char err[512];

		snprintf(name, sizeof(name), "race-%d", round);
		path_in_tmp(dir, sizeof(dir), name);
		CHECK(mkdir(dir, 0700) == 0);
		snprintf(path, sizeof(path), "%s/key", dir);
		CHECK(pipe(go) == 0 && pipe(res) == 0);

		for (int i = 0; i < PROCS; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				char buf[COOKIE_VALUE_SIZE] = "", c;
				struct cookie_key ck;

				close(go[1]);
				/* Wait for the start signal: EOF on the pipe. */
				while (read(go[0], &c, 1) > 0)
					;
				if (cookie_key_load(path, &ck, err, sizeof(err)) < 0 ||
				    cookie_sign(&ck, "alice", FUTURE, false, buf, sizeof(buf)) < 0)
					_exit(1);
				/* One write below PIPE_BUF is atomic. */
				if (write(res[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
					_exit(1);
				_exit(0);
			}
			CHECK(pids[i] > 0);
		}
		close(go[0]);
		close(go[1]); /* go */
		close(res[1]);
		for (int i = 0; i < PROCS; i++) {
			int status = -1;
			CHECK(waitpid(pids[i], &status, 0) == pids[i]);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		for (int i = 0; i < PROCS; i++)
			CHECK(read(res[0], got[i], sizeof(got[i])) == (ssize_t)sizeof(got[i]));
		close(res[0]);

		CHECK_INT(cookie_key_load(path, &k, err, sizeof(err)), 0);
		CHECK_INT(cookie_sign(&k, "alice", FUTURE, false, mine, sizeof(mine)), 0);
		for (int i = 0; i < PROCS; i++)
			CHECK_STR(got[i], mine);
		CHECK_INT(count_entries(dir), 1);
		cookie_key_clear(&k);
	}
}

/* ---- the signed value ---- */

TEST(sign_verify_round_trip)
{
	struct cookie_key k;
	char v[COOKIE_VALUE_SIZE], user[COOKIE_USER_MAX + 1], again[COOKIE_VALUE_SIZE];
	int64_t exp = 0;
	bool pers = false;

	key_fill(&k, 1);
	CHECK_INT(cookie_sign(&k, "alice", NOW + 3600, true, v, sizeof(v)), 0);
	/* base64url("alice") = "YWxpY2U" */
	CHECK(strncmp(v, "YWxpY2U.1700003600.1.", 21) == 0);
	CHECK_INT(strlen(v), 21 + 43);
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), &exp, &pers), 0);
	CHECK_STR(user, "alice");
	CHECK_INT(exp, NOW + 3600);
	CHECK(pers);

	CHECK_INT(cookie_sign(&k, "bob.smith-2", NOW + 60, false, v, sizeof(v)), 0);
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), &exp, &pers), 0);
	CHECK_STR(user, "bob.smith-2");
	CHECK_INT(exp, NOW + 60);
	CHECK(!pers);
	/* The only accepted spelling is the one cookie_sign() writes. */
	CHECK_INT(cookie_sign(&k, user, exp, pers, again, sizeof(again)), 0);
	CHECK_STR(again, v);
	/* The optional outputs may be NULL. */
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), NULL, NULL), 0);

	/* A Samba machine account. */
	CHECK_INT(cookie_sign(&k, "host$", FUTURE, false, v, sizeof(v)), 0);
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), NULL, NULL), 0);
	CHECK_STR(user, "host$");

	/* The persistent flag is covered by the MAC. */
	CHECK_INT(cookie_sign(&k, "alice", FUTURE, false, v, sizeof(v)), 0);
	v[19] = '1';
	CHECK(strncmp(v, "YWxpY2U.4102444800.1.", 21) == 0);
	CHECK_INT(verify(&k, v), -EKEYREJECTED);
}

TEST(sign_refuses)
{
	struct cookie_key k, shortk;
	char v[COOKIE_VALUE_SIZE] = "untouched";

	key_fill(&k, 1);
	key_fill(&shortk, 1);
	shortk.len = 31;
	CHECK_INT(cookie_sign(&k, "", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "-alice", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "$alice", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "al$ice", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "al ice", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "al|ice", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "\xc3\xa9lise", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, NULL, FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "alice", 0, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&k, "alice", -1, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(&shortk, "alice", FUTURE, false, v, sizeof(v)), -EINVAL);
	CHECK_INT(cookie_sign(NULL, "alice", FUTURE, false, v, sizeof(v)), -EINVAL);
	/* "YWxpY2U.4102444800.0." + 43 = 64 characters: 64 bytes is one short. */
	CHECK_INT(cookie_sign(&k, "alice", FUTURE, false, v, 64), -E2BIG);
	CHECK_STR(v, "untouched");
	CHECK_INT(cookie_sign(&k, "alice", FUTURE, false, v, 65), 0);
	/* INT64_MAX is a valid, if silly, expiry. */
	CHECK_INT(cookie_sign(&k, "alice", INT64_MAX, false, v, sizeof(v)), 0);
	CHECK_INT(verify(&k, v), 0);
}

TEST(user_length)
{
	struct cookie_key k;
	char name[COOKIE_USER_MAX + 2], v[COOKIE_VALUE_SIZE], user[COOKIE_USER_MAX + 1];

	key_fill(&k, 2);
	memset(name, 'a', sizeof(name));
	name[256] = '\0';
	CHECK_INT(cookie_sign(&k, name, FUTURE, true, v, sizeof(v)), 0);
	CHECK_INT(strlen(v), 342 + 1 + 10 + 1 + 1 + 1 + 43);
	/* The longest value there is: 256 bytes of user, a 19-digit expiry. */
	CHECK_INT(cookie_sign(&k, name, INT64_MAX, true, v, sizeof(v)), 0);
	CHECK_INT(strlen(v), 408);
	CHECK(strlen(v) < COOKIE_VALUE_SIZE);
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), NULL, NULL), 0);
	CHECK_INT(cookie_sign(&k, name, FUTURE, true, v, sizeof(v)), 0);
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), NULL, NULL), 0);
	CHECK_STR(user, name);
	/* The user must fit the caller's buffer; untouched otherwise. */
	strcpy(user, "untouched");
	CHECK_INT(cookie_verify(&k, v, NOW, user, 256, NULL, NULL), -E2BIG);
	CHECK_STR(user, "untouched");

	name[256] = 'a';
	name[257] = '\0';
	CHECK_INT(cookie_sign(&k, name, FUTURE, true, v, sizeof(v)), -EINVAL);
	/* Correctly signed but 257 bytes long: the format check refuses it. */
	forge_user(&k, name, 257, v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	/* The forger agrees with cookie_sign() where both apply. */
	forge_user(&k, "alice", 5, v, sizeof(v));
	CHECK_INT(verify(&k, v), 0);
}

/*
 * Every change of one character, every truncation and every extension of a
 * signed value is refused; none is taken for a valid cookie.
 */
TEST(tamper_every_position)
{
	struct cookie_key k;
	char v[COOKIE_VALUE_SIZE], t[COOKIE_VALUE_SIZE + 2];
	size_t n;
	int accepted = 0, odd = 0;

	key_fill(&k, 3);
	CHECK_INT(cookie_sign(&k, "ab", FUTURE, true, v, sizeof(v)), 0);
	n = strlen(v);
	for (size_t i = 0; i < n; i++) {
		for (int c = 1; c < 256; c++) {
			int r;
			if (c == (unsigned char)v[i])
				continue;
			memcpy(t, v, n + 1);
			t[i] = (char)c;
			r = verify(&k, t);
			accepted += r == 0;
			odd += r != -EBADMSG && r != -EKEYREJECTED;
		}
		/* Cut at i (a NUL inside the value ends the C string). */
		memcpy(t, v, n + 1);
		t[i] = '\0';
		accepted += verify(&k, t) == 0;
	}
	for (int c = 1; c < 256; c++) {
		memcpy(t, v, n);
		t[n] = (char)c;
		t[n + 1] = '\0';
		accepted += verify(&k, t) == 0;
	}
	CHECK_INT(accepted, 0);
	CHECK_INT(odd, 0);
	CHECK_INT(verify(&k, v), 0);
}

TEST(other_key_rejected)
{
	struct cookie_key k1, k2;
	char v[COOKIE_VALUE_SIZE], user[COOKIE_USER_MAX + 1] = "untouched";
	int64_t exp = 7;
	bool pers = false;

	key_fill(&k1, 4);
	key_fill(&k2, 4);
	k2.data[31] ^= 1;
	CHECK_INT(cookie_sign(&k1, "alice", FUTURE, true, v, sizeof(v)), 0);
	CHECK_INT(cookie_verify(&k2, v, NOW, user, sizeof(user), &exp, &pers), -EKEYREJECTED);
	CHECK_STR(user, "untouched");
	CHECK_INT(exp, 7);
	CHECK(!pers);
	/* One more byte: a different key. (Not a NUL byte: HMAC pads short
	 * keys with zeros, so "k" and "k\0" are the same HMAC key.) */
	k2 = k1;
	k2.data[32] = 1;
	k2.len = 33;
	CHECK_INT(verify(&k2, v), -EKEYREJECTED);
}

TEST(expired)
{
	struct cookie_key k, other;
	char v[COOKIE_VALUE_SIZE], user[COOKIE_USER_MAX + 1];

	key_fill(&k, 5);
	key_fill(&other, 6);
	CHECK_INT(cookie_sign(&k, "alice", NOW, false, v, sizeof(v)), 0);
	CHECK_INT(cookie_verify(&k, v, NOW, user, sizeof(user), NULL, NULL), -EKEYEXPIRED);
	CHECK_INT(cookie_verify(&k, v, NOW + 1, user, sizeof(user), NULL, NULL), -EKEYEXPIRED);
	CHECK_INT(cookie_verify(&k, v, NOW - 1, user, sizeof(user), NULL, NULL), 0);
	/* Only a genuine cookie can say it has expired. */
	CHECK_INT(cookie_verify(&other, v, NOW, user, sizeof(user), NULL, NULL), -EKEYREJECTED);
	CHECK_INT(cookie_sign(&k, "alice", 1, false, v, sizeof(v)), 0);
	CHECK_INT(verify(&k, v), -EKEYEXPIRED);
}

TEST(malformed)
{
	struct cookie_key k;
	char good[COOKIE_VALUE_SIZE], v[COOKIE_VALUE_SIZE + 100], mac[64];
	char user[COOKIE_USER_MAX + 1] = "untouched", big[1024];

	key_fill(&k, 7);
	CHECK_INT(cookie_sign(&k, "alice", FUTURE, true, good, sizeof(good)), 0);
	strcpy(mac, good + strlen("YWxpY2U.4102444800.1."));

	static const char *const plain[] = {
	    "",
	    "abc",
	    ".",
	    "...",
	    "YWxpY2U",
	    "YWxpY2U.4102444800.1",
	    "YWxpY2U.4102444800",
	    ".4102444800.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		CHECK_INT(verify(&k, plain[i]), -EBADMSG);
	CHECK_INT(verify(&k, NULL), -EBADMSG);

	/* Extra fields, before and after. */
	snprintf(v, sizeof(v), "%s.", good);
	CHECK_INT(verify(&k, v), -EBADMSG);
	snprintf(v, sizeof(v), "%s.%s", good, mac);
	CHECK_INT(verify(&k, v), -EBADMSG);
	snprintf(v, sizeof(v), ".%s", good);
	CHECK_INT(verify(&k, v), -EBADMSG);
	snprintf(v, sizeof(v), "YWxpY2U..4102444800.1.%s", mac);
	CHECK_INT(verify(&k, v), -EBADMSG);
	/* Whitespace around it. */
	snprintf(v, sizeof(v), " %s", good);
	CHECK_INT(verify(&k, v), -EBADMSG);
	snprintf(v, sizeof(v), "%s\n", good);
	CHECK_INT(verify(&k, v), -EBADMSG);

	/* Expiry spellings, each correctly signed over the number it means:
	 * only the format check stands between them and acceptance. */
	static const char *const exps[] = {
	    "+4102444800", "04102444800", " 4102444800", "4102444800 ",
	    "4102444800x", "0x0f488280",  "4.1e9",       ""};
	for (size_t i = 0; i < sizeof(exps) / sizeof(exps[0]); i++) {
		forge(&k, "YWxpY2U", exps[i], "1", "v1|alice|4102444800|1", v, sizeof(v));
		CHECK_INT(verify(&k, v), -EBADMSG);
	}
	forge(&k, "YWxpY2U", "-5", "1", "v1|alice|-5|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	forge(&k, "YWxpY2U", "0", "1", "v1|alice|0|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	forge(&k, "YWxpY2U", "abc", "1", "v1|alice|abc|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	/* Past INT64_MAX, and far past it. */
	forge(&k, "YWxpY2U", "9223372036854775808", "1", "v1|alice|9223372036854775808|1", v,
	      sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	forge(&k, "YWxpY2U", "99999999999999999999999", "1", "v1|alice|99999999999999999999999|1",
	      v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	forge(&k, "YWxpY2U", "9223372036854775807", "1", "v1|alice|9223372036854775807|1", v,
	      sizeof(v));
	CHECK_INT(verify(&k, v), 0);

	/* Flags: only "0" and "1". */
	static const char *const flags[] = {"2", "01", "", "10", "+1", "true"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char input[128];
		snprintf(input, sizeof(input), "v1|alice|4102444800|%s", flags[i]);
		forge(&k, "YWxpY2U", "4102444800", flags[i], input, v, sizeof(v));
		CHECK_INT(verify(&k, v), -EBADMSG);
	}

	/* Bad base64url in the user field: other alphabets, padding, a lone
	 * last character, and bits left over ("YWJ" and "YWI" both decode
	 * to "ab" if the unused bits are ignored). */
	static const char *const users[] = {
	    "YWxp*2U", "YWxpY2U=", "YWxpY2U+", "YWxpY2U/", "YWxpY2UA" /* "alice" + 1 char */,
	    "YWxpY2"};
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		forge(&k, users[i], "4102444800", "1", "v1|alice|4102444800|1", v, sizeof(v));
		CHECK_INT(verify(&k, v), -EBADMSG);
	}
	forge(&k, "YWI", "4102444800", "1", "v1|ab|4102444800|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), 0);
	forge(&k, "YWJ", "4102444800", "1", "v1|ab|4102444800|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	forge(&k, "YR", "4102444800", "1", "v1|a|4102444800|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);
	/* A lone fifth character carries no whole byte, even when zero. */
	forge(&k, "YWJj", "4102444800", "1", "v1|abc|4102444800|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), 0);
	forge(&k, "YWJjA", "4102444800", "1", "v1|abc|4102444800|1", v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);

	/* Users the name rule refuses, correctly signed. */
	static const char *const bad_users[] = {"-alice", "$alice", "al ice",       "al|ice",
	                                        "al$ice", "al/ice", "\xc3\xa9lise", "al\nice"};
	for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++) {
		forge_user(&k, bad_users[i], strlen(bad_users[i]), v, sizeof(v));
		CHECK_INT(verify(&k, v), -EBADMSG);
	}
	forge_user(&k, "al\0ice", 6, v, sizeof(v));
	CHECK_INT(verify(&k, v), -EBADMSG);

	/* The MAC field: wrong length, wrong alphabet, non-canonical end. */
	snprintf(v, sizeof(v), "YWxpY2U.4102444800.1.%.42s", mac);
	CHECK_INT(verify(&k, v), -EBADMSG);
	snprintf(v, sizeof(v), "YWxpY2U.4102444800.1.%sA", mac);
	CHECK_INT(verify(&k, v), -EBADMSG);
	snprintf(v, sizeof(v), "YWxpY2U.4102444800.1.%s", mac);
	v[strlen(v) - 1] = '=';
	CHECK_INT(verify(&k, v), -EBADMSG);
	{
		/* The last of 43 characters carries 4 bits and 2 unused ones. */
		static const char a[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		size_t last = strlen(good) - 1;
		int val = (int)(strchr(a, good[last]) - a);
		for (int bit = 0; bit < 2; bit++) {
			strcpy(v, good);
			v[last] = a[val ^ (1 << bit)];
			CHECK_INT(verify(&k, v), -EBADMSG);
		}
	}

	/* Longer than any value we sign: refused before parsing. */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(verify(&k, big), -EBADMSG);

	/* Nothing written on any failure. */
	CHECK_INT(cookie_verify(&k, "x", NOW, user, sizeof(user), NULL, NULL), -EBADMSG);
	CHECK_STR(user, "untouched");
	CHECK_INT(cookie_verify(&k, good, NOW, NULL, 0, NULL, NULL), -EINVAL);
}

TEST(token_hash)
{
	char h1[COOKIE_HASH_SIZE], h2[COOKIE_HASH_SIZE];

	CHECK_INT(cookie_token_hash("abc", h1), 0);
	CHECK_STR(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_INT(cookie_token_hash("YWxpY2U.4102444800.1.x", h1), 0);
	CHECK_INT(cookie_token_hash("YWxpY2U.4102444800.1.x", h2), 0);
	CHECK_STR(h1, h2);
	CHECK_INT(strlen(h1), 64);
	CHECK_INT(strspn(h1, "0123456789abcdef"), 64);
	CHECK_INT(cookie_token_hash("YWxpY2U.4102444800.1.y", h2), 0);
	CHECK(strcmp(h1, h2) != 0);
	CHECK_INT(cookie_token_hash(NULL, h2), -EINVAL);
}

TEST(csrf)
{
	char a[COOKIE_CSRF_SIZE], b[COOKIE_CSRF_SIZE], c[COOKIE_CSRF_SIZE], small[43] = "x";

	CHECK_INT(cookie_csrf_new(a, sizeof(a)), 0);
	CHECK_INT(cookie_csrf_new(b, sizeof(b)), 0);
	CHECK_INT(strlen(a), 43);
	CHECK_INT(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	          43);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(cookie_csrf_new(small, sizeof(small)), -E2BIG);
	CHECK_STR(small, "x");

	strcpy(c, a);
	CHECK(cookie_csrf_equal(a, c));
	CHECK(!cookie_csrf_equal(a, b));
	c[42] = c[42] == 'A' ? 'B' : 'A';
	CHECK(!cookie_csrf_equal(a, c));
	c[42] = '\0';
	CHECK(!cookie_csrf_equal(a, c));
	CHECK(!cookie_csrf_equal(c, a));
	CHECK(!cookie_csrf_equal(a, NULL));
	CHECK(!cookie_csrf_equal(NULL, a));
	CHECK(!cookie_csrf_equal(NULL, NULL));
	CHECK(!cookie_csrf_equal("", ""));
	CHECK(!cookie_csrf_equal(a, ""));
	CHECK(!cookie_csrf_equal("", a));
}

/* ---- Cookie: ---- */

static const char *get(const char *header, const char *name)
{
	static char out[256];
	int r = cookie_header_get(header, name, out, sizeof(out));

	if (r == -ENOENT)
		return "<ENOENT>";
	if (r == -EBADMSG)
		return "<EBADMSG>";
	if (r < 0)
		return "<error>";
	return out;
}

TEST(header_positions)
{
	CHECK_STR(get("user-id=A1", "user-id"), "A1");
	CHECK_STR(get("user-id=A1; b=2; c=3", "user-id"), "A1");
	CHECK_STR(get("a=1; user-id=A1; c=3", "user-id"), "A1");
	CHECK_STR(get("a=1; b=2; user-id=A1", "user-id"), "A1");
	CHECK_STR(get("a=1; b=2; user-id=A1", "b"), "2");
	/* Whitespace around ';' and '=', tabs, none at all, empty items. */
	CHECK_STR(get("a=1;user-id=A1;c=3", "user-id"), "A1");
	CHECK_STR(get("  a=1 ;\tuser-id = A1\t; c=3  ", "user-id"), "A1");
	CHECK_STR(get("a=1; user-id=A1;", "user-id"), "A1");
	CHECK_STR(get(";; user-id=A1 ;;", "user-id"), "A1");
	/* Values may contain '='. */
	CHECK_STR(get("a=b=c; user-id=x=y", "user-id"), "x=y");
	CHECK_STR(get("a=b=c; user-id=x=y", "a"), "b=c");
	/* Empty value. */
	CHECK_STR(get("user-id=; a=1", "user-id"), "");
	/* A real value. */
	CHECK_STR(get("rs-csrf-token=abc-_1; user-id=YWxpY2U.4102444800.1.Zm9v", "user-id"),
	          "YWxpY2U.4102444800.1.Zm9v");
}

TEST(header_names)
{
	/* Exact names only: suffixes, prefixes and case do not match. */
	CHECK_STR(get("xuser-id=1; user-id=2", "user-id"), "2");
	CHECK_STR(get("user-id=2; xuser-id=1", "user-id"), "2");
	CHECK_STR(get("xuser-id=1", "user-id"), "<ENOENT>");
	CHECK_STR(get("user-idx=1", "user-id"), "<ENOENT>");
	CHECK_STR(get("user-id2=1; user=3", "user-id"), "<ENOENT>");
	CHECK_STR(get("User-Id=1", "user-id"), "<ENOENT>");
	CHECK_STR(get("a=user-id=1", "user-id"), "<ENOENT>");
	/* A nameless cookie ("user-id" alone is a value, not a name). */
	CHECK_STR(get("user-id; a=1", "user-id"), "<ENOENT>");
	CHECK_STR(get("=user-id", "user-id"), "<ENOENT>");
	CHECK_STR(get("", "user-id"), "<ENOENT>");
	CHECK_STR(get("   ", "user-id"), "<ENOENT>");
	CHECK_STR(get(NULL, "user-id"), "<ENOENT>");
	/* The name asked for must be a token. */
	CHECK_STR(get("a=1", "user id"), "<error>");
	CHECK_STR(get("a=1", ""), "<error>");
	CHECK_STR(get("a=1", "a;b"), "<error>");
	CHECK_STR(get("a=1", NULL), "<error>");
}

TEST(header_duplicates)
{
	CHECK_STR(get("user-id=1; user-id=2", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=1; a=3; user-id=1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=1; user-id=", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=1;user-id =2", "user-id"), "<EBADMSG>");
	/* A duplicate of some other cookie is not our business. */
	CHECK_STR(get("a=1; a=2; user-id=3", "user-id"), "3");
}

TEST(header_quotes_and_octets)
{
	/* One pair of quotes around the value is grammar and is removed. */
	CHECK_STR(get("user-id=\"A1\"", "user-id"), "A1");
	CHECK_STR(get("a=1; user-id=\"A1\"; b=2", "user-id"), "A1");
	CHECK_STR(get("user-id=\"\"", "user-id"), "");
	CHECK_STR(get("user-id=\"", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=\"A1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=A1\"", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=\"\"A1\"\"", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=A\"1", "user-id"), "<EBADMSG>");
	/* Our value must be cookie-octets. */
	CHECK_STR(get("user-id=A 1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=A,1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=A\\1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=A\t1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=\xc3\xa9", "user-id"), "<EBADMSG>");
	CHECK_STR(get("user-id=\"A 1\"", "user-id"), "<EBADMSG>");
	/* Comma-joined headers (RFC 2965 style, or a folding proxy): our value
	 * is then malformed, never silently cut. */
	CHECK_STR(get("user-id=A1, b=2", "user-id"), "<EBADMSG>");
	CHECK_STR(get("b=2, user-id=A1", "user-id"), "<ENOENT>");
	/* Other cookies' sloppiness is tolerated. */
	CHECK_STR(get("pref={\"a\": [1, 2]}; user-id=A1", "user-id"), "A1");
	CHECK_STR(get("name=J\xc3\xa9r\xc3\xb4me; user-id=A1", "user-id"), "A1");
	CHECK_STR(get("odd name=x y; user-id=A1", "user-id"), "A1");
	/* Control characters anywhere are refused. */
	CHECK_STR(get("user-id=A1\r\nX-Evil: 1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("a=\x01; user-id=A1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("a=\x7f; user-id=A1", "user-id"), "<EBADMSG>");
	CHECK_STR(get("a=1\n; user-id=A1", "user-id"), "<EBADMSG>");
}

TEST(header_sizes)
{
	char out[4] = "xyz";

	CHECK_INT(cookie_header_get("user-id=abcd", "user-id", out, sizeof(out)), -E2BIG);
	CHECK_STR(out, "xyz");
	CHECK_INT(cookie_header_get("user-id=abc", "user-id", out, sizeof(out)), 0);
	CHECK_STR(out, "abc");
	CHECK_INT(cookie_header_get("user-id=\"abc\"", "user-id", out, sizeof(out)), 0);
	CHECK_STR(out, "abc");
	CHECK_INT(cookie_header_get("user-id=", "user-id", out, 1), 0);
	CHECK_STR(out, "");
	CHECK_INT(cookie_header_get("user-id=a", "user-id", out, 0), -E2BIG);
	CHECK_INT(cookie_header_get("a=1", "user-id", out, sizeof(out)), -ENOENT);
}

/* ---- Set-Cookie: ---- */

TEST(set_cookie)
{
	char out[256], small[20] = "untouched";

	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "v1", -1, true, false, "/"), 0);
	CHECK_STR(out, "user-id=v1; Path=/; HttpOnly; SameSite=Lax");
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "v1", 2592000, true, true, "/"),
	          0);
	CHECK_STR(out, "user-id=v1; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax; Secure");
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "", 0, true, true, "/"), 0);
	CHECK_STR(out, "user-id=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
	CHECK_INT(cookie_set_header(out, sizeof(out), "rs-csrf-token", "abc", -1, false, false,
	                            "/rstudio/"),
	          0);
	CHECK_STR(out, "rs-csrf-token=abc; Path=/rstudio/; SameSite=Lax");
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "v1", -1, true, true, "/"), 0);
	CHECK_STR(out, "user-id=v1; Path=/; HttpOnly; SameSite=Lax; Secure");

	/* What we set reads back through the Cookie parser. */
	{
		struct cookie_key k;
		char v[COOKIE_VALUE_SIZE], hdr[COOKIE_VALUE_SIZE + 100], back[COOKIE_VALUE_SIZE];
		key_fill(&k, 9);
		CHECK_INT(cookie_sign(&k, "alice", FUTURE, true, v, sizeof(v)), 0);
		CHECK_INT(
		    cookie_set_header(hdr, sizeof(hdr), COOKIE_USER_ID, v, 86400, true, true, "/"),
		    0);
		*strchr(hdr, ';') = '\0';
		CHECK_INT(cookie_header_get(hdr, COOKIE_USER_ID, back, sizeof(back)), 0);
		CHECK_STR(back, v);
	}

	/* Refused: header injection, bad names, values, paths, ages. */
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a;b", -1, true, false, "/"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a b", -1, true, false, "/"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a\r\nX: y", -1, true, false, "/"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "\"a\"", -1, true, false, "/"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user=id", "a", -1, true, false, "/"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "", "a", -1, true, false, "/"), -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a", -1, true, false, "x"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a", -1, true, false, "/a;b"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a", -1, true, false, "/a\nb"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a", -1, true, false, ""),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a", -1, true, false, NULL),
	          -EINVAL);
	CHECK_INT(cookie_set_header(out, sizeof(out), "user-id", "a", -2, true, false, "/"),
	          -EINVAL);
	CHECK_INT(cookie_set_header(small, sizeof(small), "user-id", "a", -1, true, false, "/"),
	          -E2BIG);
	CHECK_STR(small, "untouched");
	/* Exactly fitting: "a=b; Path=/; SameSite=Lax" is 25 characters. */
	CHECK_INT(cookie_set_header(out, 25, "a", "b", -1, false, false, "/"), -E2BIG);
	CHECK_INT(cookie_set_header(out, 26, "a", "b", -1, false, false, "/"), 0);
	CHECK_STR(out, "a=b; Path=/; SameSite=Lax");
}

static void remove_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(key_created);
	RUN(key_umask);
	RUN(key_existing);
	RUN(key_mode_refused);
	RUN(key_symlink_refused);
	RUN(key_short_refused);
	RUN(key_not_regular_refused);
	RUN(key_owner_refused);
	RUN(key_create_fails);
	RUN(key_concurrent_creators);
	RUN(sign_verify_round_trip);
	RUN(sign_refuses);
	RUN(user_length);
	RUN(tamper_every_position);
	RUN(other_key_rejected);
	RUN(expired);
	RUN(malformed);
	RUN(token_hash);
	RUN(csrf);
	RUN(header_positions);
	RUN(header_names);
	RUN(header_duplicates);
	RUN(header_quotes_and_octets);
	RUN(header_sizes);
	RUN(set_cookie);
	remove_tree(tmpdir);
	return test_summary();
}
