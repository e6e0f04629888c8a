/*
 * Unit tests for common/fsutil.c: fs_sibling_program() in an installed
 * layout (sbin + lib/rserver), in the build tree (a directory per program),
 * and when nothing is there.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "test.h"

static char root[] = "/tmp/rs-test-fsutil-XXXXXX";

/* Creates root/rel with mode, and its parent directories. */
static void make_file(const char *rel, mode_t mode)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
}

static char *at(const char *rel)
{
	static char buf[4][4096];
	static int n;
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", root, rel);
	return b;
}

TEST(installed)
{
	char *p;

	make_file("usr/sbin/rserver", 0755);
	make_file("usr/sbin/rstudio-server", 0755);
	make_file("usr/lib/rserver/rsession-launcher", 0755);
	make_file("usr/lib/rserver/rsession", 0755);
	/* rserver -> the launcher in the helpers' directory. */
	p = fs_sibling_program(at("usr/sbin/rserver"), "rsession-launcher");
	CHECK_STR(p, at("usr/lib/rserver/rsession-launcher"));
	free(p);
	/* The launcher -> rsession beside it. */
	p = fs_sibling_program(at("usr/lib/rserver/rsession-launcher"), "rsession");
	CHECK_STR(p, at("usr/lib/rserver/rsession"));
	free(p);
	/* rstudio-server -> rserver beside it. */
	p = fs_sibling_program(at("usr/sbin/rstudio-server"), "rserver");
	CHECK_STR(p, at("usr/sbin/rserver"));
	free(p);
	/* A copy beside rserver wins over the helpers' directory. */
	make_file("usr/sbin/rsession-launcher", 0755);
	p = fs_sibling_program(at("usr/sbin/rserver"), "rsession-launcher");
	CHECK_STR(p, at("usr/sbin/rsession-launcher"));
	free(p);
}

TEST(build_tree)
{
	char *p;

	make_file("build/rserver/rserver", 0755);
	make_file("build/rsession-launcher/rsession-launcher", 0755);
	make_file("build/rsession/rsession", 0755);
	p = fs_sibling_program(at("build/rserver/rserver"), "rsession-launcher");
	CHECK_STR(p, at("build/rsession-launcher/rsession-launcher"));
	free(p);
	p = fs_sibling_program(at("build/rsession-launcher/rsession-launcher"), "rsession");
	CHECK_STR(p, at("build/rsession/rsession"));
	free(p);
}

TEST(not_found)
{
	char *p;

	/* Not executable, or a directory: not a program. */
	make_file("none/sbin/rserver", 0755);
	make_file("none/sbin/rsession-launcher", 0644);
	mkdir(at("none/lib"), 0755);
	mkdir(at("none/lib/rserver"), 0755);
	mkdir(at("none/lib/rserver/rsession-launcher"), 0755);
	p = fs_sibling_program(at("none/sbin/rserver"), "rsession-launcher");
	CHECK_STR(p, at("none/sbin/rsession-launcher"));
	free(p);
	/* A bare name has no directory to look in. */
	CHECK(fs_sibling_program("rserver", "rsession") == NULL);
	/* A relative directory with nothing left to take away keeps its "..". */
	p = fs_sibling_program("sbin/rserver", "rsession-launcher");
	CHECK_STR(p, "sbin/rsession-launcher");
	free(p);
	make_file("rel/lib/rserver/rsession", 0755);
	make_file("rel/sbin/rserver", 0755);
	if (chdir(at("rel/sbin")) == 0) {
		p = fs_sibling_program("./rserver", "rsession");
		CHECK_STR(p, "./../lib/rserver/rsession");
		free(p);
		CHECK(chdir("/") == 0);
	}
}

TEST(self)
{
	/* NULL: this test program's own directory, where it is. */
	char *p = fs_sibling_program(NULL, "test-fsutil");
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	CHECK(n > 0);
	if (n > 0) {
		self[n] = '\0';
		CHECK_STR(p, self);
	}
	free(p);
}

int main(void)
{
	char cmd[128];
	int r;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(installed);
	RUN(build_tree);
	RUN(not_found);
	RUN(self);
	r = test_summary();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return r;
}
