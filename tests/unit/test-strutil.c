/*
 * Unit tests for common/strutil.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "strutil.h"
#include "test.h"

TEST(trim_and_blank)
{
	char a[] = "  \tkey = v \r\n";
	CHECK_STR(str_trim(a), "key = v");
	char b[] = "   ";
	CHECK_STR(str_trim(b), "");
	CHECK(str_blank(" \t "));
	CHECK(!str_blank(" x "));
}

TEST(llong)
{
	long long v = 7;
	CHECK_INT(str_to_llong("42", 0, 100, &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(str_to_llong("-20", -20, 19, &v), 0);
	CHECK_INT(v, -20);
	CHECK_INT(str_to_llong("+5", 0, 10, &v), 0);
	CHECK_INT(str_to_llong("101", 0, 100, &v), -ERANGE);
	CHECK_INT(str_to_llong("99999999999999999999", 0, 100, &v), -ERANGE);
	v = 7;
	CHECK_INT(str_to_llong("4x", 0, 100, &v), -EINVAL);
	CHECK_INT(v, 7); /* untouched on failure */
	CHECK_INT(str_to_llong("", 0, 100, &v), -EINVAL);
	CHECK_INT(str_to_llong(" 4", 0, 100, &v), -EINVAL);
	CHECK_INT(str_to_llong("0x10", 0, 100, &v), -EINVAL);
	CHECK_INT(str_to_llong("-", 0, 100, &v), -EINVAL);
}

TEST(decimal)
{
	double d = 0;
	CHECK_INT(str_to_double("0.05", 0, 10, &d), 0);
	CHECK(d == 0.05);
	CHECK_INT(str_to_double("120", 0, 1000, &d), 0);
	CHECK(d == 120);
	CHECK_INT(str_to_double(".5", 0, 1, &d), 0);
	CHECK(d == 0.5);
	CHECK_INT(str_to_double("5.", 0, 10, &d), 0);
	CHECK_INT(str_to_double("-1", 0, 10, &d), -ERANGE);
	CHECK_INT(str_to_double("1e3", 0, 1e6, &d), -EINVAL);
	CHECK_INT(str_to_double("nan", 0, 10, &d), -EINVAL);
	CHECK_INT(str_to_double("inf", 0, 10, &d), -EINVAL);
	CHECK_INT(str_to_double("0x1p3", 0, 10, &d), -EINVAL);
	CHECK_INT(str_to_double(".", 0, 10, &d), -EINVAL);
	CHECK_INT(str_to_double("", 0, 10, &d), -EINVAL);
}

TEST(edit_distance)
{
	CHECK_INT(str_edit_distance("www-port", "www-port"), 0);
	CHECK_INT(str_edit_distance("www-prot", "www-port"), 2);
	CHECK_INT(str_edit_distance("", "abc"), 3);
	CHECK_INT(str_edit_distance("nice", "nicer"), 1);
	char longname[100];
	memset(longname, 'a', 99);
	longname[99] = '\0';
	CHECK_INT(str_edit_distance(longname, "a"), 255);
}

TEST(lines)
{
	static const char buf[] = "one\r\ntwo\n\nfour\0x\nlast";
	struct line_iter it;
	const char *s;
	size_t n;
	bool nul;

	line_iter_init(&it, buf, sizeof(buf) - 1);
	CHECK(line_iter_next(&it, &s, &n, &nul));
	CHECK(n == 3 && memcmp(s, "one", 3) == 0 && !nul && it.lineno == 1);
	CHECK(line_iter_next(&it, &s, &n, &nul));
	CHECK(n == 3 && memcmp(s, "two", 3) == 0);
	CHECK(line_iter_next(&it, &s, &n, &nul));
	CHECK(n == 0 && it.lineno == 3);
	CHECK(line_iter_next(&it, &s, &n, &nul));
	CHECK(nul && it.lineno == 4);
	CHECK(line_iter_next(&it, &s, &n, &nul));
	CHECK(n == 4 && memcmp(s, "last", 4) == 0 && !nul && it.lineno == 5);
	CHECK(!line_iter_next(&it, &s, &n, &nul));
}

TEST(read_all)
{
	char path[] = "/tmp/rs-test-strutil-XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL;
	size_t len = 0;

	CHECK(fd >= 0);
	CHECK(write(fd, "hello", 5) == 5);
	close(fd);
	CHECK_INT(file_read_all(path, 16, &buf, &len), 0);
	CHECK_INT(len, 5);
	CHECK_STR(buf, "hello");
	free(buf);
	buf = NULL;
	CHECK_INT(file_read_all(path, 5, &buf, &len), 0);
	free(buf);
	buf = NULL;
	CHECK_INT(file_read_all(path, 4, &buf, &len), -EFBIG);
	CHECK(buf == NULL);
	unlink(path);
	CHECK_INT(file_read_all(path, 16, &buf, &len), -ENOENT);
	CHECK_INT(file_read_all("/tmp", 16, &buf, &len), -EISDIR);
}

int main(void)
{
	RUN(trim_and_blank);
	RUN(llong);
	RUN(decimal);
	RUN(edit_distance);
	RUN(lines);
	RUN(read_all);
	return test_summary();
}
