/*
 * Unit tests for rsession-launcher's helpers: supervisor command splitting
 * and checking (command.c) and finding R (rinstall.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "rinstall.h"
#include "test.h"

static const char *split_join(const char *text, char *out, size_t size)
{
	char **argv = NULL, err[128];
	size_t n = 0;

	if (command_split(text, &argv, &n, err, sizeof(err)) < 0) {
		snprintf(out, size, "error: %s", err);
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strncat(out, "[", size - strlen(out) - 1);
		strncat(out, argv[i], size - strlen(out) - 1);
		strncat(out, "]", size - strlen(out) - 1);
	}
	CHECK(argv[n] == NULL);
	command_free(argv);
	return out;
}

TEST(split)
{
	char out[512];

	CHECK_STR(split_join("nice -n 10", out, sizeof(out)), "[nice][-n][10]");
	CHECK_STR(split_join("  /opt/sup.sh   --flag\t", out, sizeof(out)),
	          "[/opt/sup.sh][--flag]");
	CHECK_STR(split_join("run 'a b' \"c d\" e\\ f", out, sizeof(out)), "[run][a b][c d][e f]");
	CHECK_STR(split_join("echo \"q\\\"uote\" '$HOME'", out, sizeof(out)),
	          "[echo][q\"uote][$HOME]");
	CHECK_STR(split_join("a''b \"\"", out, sizeof(out)), "[ab][]");
	CHECK_STR(split_join("", out, sizeof(out)), "");
	CHECK_STR(split_join("x 'open", out, sizeof(out)), "error: unterminated single quote");
	CHECK_STR(split_join("x \"open", out, sizeof(out)), "error: unterminated double quote");
	CHECK_STR(split_join("x \\", out, sizeof(out)), "error: trailing backslash");
	CHECK_STR(split_join("1 2 3 4 5 6 7 8 9", out, sizeof(out)), "[1][2][3][4][5][6][7][8][9]");
}

static const char *check_sup(const char *text, char *err, size_t size)
{
	err[0] = '\0';
	if (command_check_supervisor(text, err, size) == 0)
		snprintf(err, size, "ok");
	return err;
}

/* The supervisor's first word: an absolute path to an executable file. */
TEST(check_supervisor)
{
	char tmp[] = "/tmp/rs-test-supervisor-XXXXXX", path[256], cmd[512], err[512];
	FILE *f;

	CHECK_STR(check_sup("", err, sizeof(err)), "ok");
	CHECK_STR(check_sup("   ", err, sizeof(err)), "ok");
	CHECK_STR(check_sup("/bin/sh -c 'exec \"$@\"' sup", err, sizeof(err)), "ok");
	CHECK_STR(check_sup("nice -n 10", err, sizeof(err)),
	          "rsession-exec-command: 'nice' is not an absolute path; the supervisor's first "
	          "word must be the full path of a program (such as /usr/bin/nice)");
	CHECK_STR(check_sup("./sup.sh", err, sizeof(err)),
	          "rsession-exec-command: './sup.sh' is not an absolute path; the supervisor's "
	          "first word must be the full path of a program (such as /usr/bin/sup.sh)");
	CHECK_STR(check_sup("/x 'open", err, sizeof(err)),
	          "rsession-exec-command: unterminated single quote");
	CHECK(mkdtemp(tmp) != NULL);
	snprintf(path, sizeof(path), "%s/missing", tmp);
	CHECK_CONTAINS(check_sup(path, err, sizeof(err)), "missing: No such file or directory");
	CHECK_CONTAINS(check_sup(tmp, err, sizeof(err)), " is not a regular file");
	snprintf(path, sizeof(path), "%s/sup.sh", tmp);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("#!/bin/sh\nexec \"$@\"\n", f);
		fclose(f);
	}
	chmod(path, 0644);
	snprintf(cmd, sizeof(cmd), "'%s' --flag", path);
	CHECK_CONTAINS(check_sup(cmd, err, sizeof(err)), "sup.sh is not executable (mode 0644)");
	chmod(path, 0755);
	CHECK_STR(check_sup(cmd, err, sizeof(err)), "ok");
	unlink(path);
	rmdir(tmp);
}

TEST(find_r)
{
	char tmp[] = "/tmp/rs-test-rinstall-XXXXXX", path[256], err[256], *home = NULL;
	FILE *f;

	CHECK(mkdtemp(tmp) != NULL);
	/* A profile r-version must be an R home with bin/R. */
	CHECK_INT(rinstall_find("/opt/R/3.1.0", NULL, "/usr/bin", &home, err, sizeof(err)),
	          -ENOENT);
	CHECK_STR(err, "r-version /opt/R/3.1.0: no R installation there");
	snprintf(path, sizeof(path), "%s/bin", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bin/R", tmp);
	f = fopen(path, "w");
	fputs("#!/bin/sh\n# comment\nR_HOME_DIR='/opt/R/9.9'\nexec foo\n", f);
	fclose(f);
	chmod(path, 0755);
	CHECK_INT(rinstall_find(tmp, NULL, "/usr/bin", &home, err, sizeof(err)), 0);
	CHECK_STR(home, tmp);
	free(home);
	/* rsession-which-r names the R script, whose R_HOME_DIR is read. */
	CHECK_INT(rinstall_find(NULL, path, "/usr/bin", &home, err, sizeof(err)), 0);
	CHECK_STR(home, "/opt/R/9.9");
	free(home);
	/* R on PATH. */
	snprintf(path, sizeof(path), "/nonexistent:%s/bin", tmp);
	CHECK_INT(rinstall_find(NULL, NULL, path, &home, err, sizeof(err)), 0);
	CHECK_STR(home, "/opt/R/9.9");
	free(home);
	CHECK_INT(rinstall_find(NULL, NULL, "/nonexistent", &home, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "no R on PATH");
	/* A script that computes its home is not trusted. */
	snprintf(path, sizeof(path), "%s/bin/R", tmp);
	f = fopen(path, "w");
	fputs("#!/bin/sh\nR_HOME_DIR=$(dirname $0)\n", f);
	fclose(f);
	CHECK_INT(rinstall_find(NULL, path, "/usr/bin", &home, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "not an R launcher script");
	/* The system R is found. */
	if (access("/usr/bin/R", X_OK) == 0) {
		CHECK_INT(rinstall_find(NULL, NULL, "/usr/bin", &home, err, sizeof(err)), 0);
		CHECK_STR(home, "/usr/lib/R");
		free(home);
	}
	snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
	CHECK(system(path) == 0);
}

int main(void)
{
	RUN(split);
	RUN(check_supervisor);
	RUN(find_r);
	return test_summary();
}
