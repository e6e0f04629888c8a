/*
 * A minimal unit-test harness: each tests/unit/test-<module>.c is one
 * program registered with ctest. Checks record failures and carry on; the
 * program prints "N passed, N failed" and exits non-zero on any failure.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(got, "want"); }
 *   int main(void) { RUN(name); return test_summary(); }
 */
#ifndef RSERVER_TEST_H
#define RSERVER_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_current_failed;
static const char *test_current;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                  \
	do {                                                                                       \
		test_current = #name;                                                              \
		test_current_failed = 0;                                                           \
		test_##name();                                                                     \
		if (test_current_failed)                                                           \
			test_failed++;                                                             \
		else                                                                               \
			test_passed++;                                                             \
		printf("%s %s\n", test_current_failed ? "FAIL" : "ok  ", #name);                   \
	} while (0)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,       \
			        test_current, #cond);                                              \
			test_current_failed = 1;                                                   \
		}                                                                                  \
	} while (0)

/* Checks cond once; on failure records it and jumps to the test's
 * cleanup, a label "out" in the test function. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s: required check failed: %s\n", __FILE__,        \
			        __LINE__, test_current, #cond);                                    \
			test_current_failed = 1;                                                   \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_INT(got, want)                                                                       \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_) {                                                                    \
			fprintf(stderr, "%s:%d: %s: %s = %lld, want %lld\n", __FILE__, __LINE__,   \
			        test_current, #got, g_, w_);                                       \
			test_current_failed = 1;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (!g_ || !w_ || strcmp(g_, w_) != 0) {                                           \
			fprintf(stderr, "%s:%d: %s: %s = \"%s\", want \"%s\"\n", __FILE__,         \
			        __LINE__, test_current, #got, g_ ? g_ : "(null)",                  \
			        w_ ? w_ : "(null)");                                               \
			test_current_failed = 1;                                                   \
		}                                                                                  \
	} while (0)

/* Checks that haystack contains needle. */
#define CHECK_CONTAINS(haystack, needle)                                                           \
	do {                                                                                       \
		const char *h_ = (haystack), *n_ = (needle);                                       \
		if (!h_ || !strstr(h_, n_)) {                                                      \
			fprintf(stderr, "%s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__,   \
			        __LINE__, test_current, h_ ? h_ : "(null)", n_);                   \
			test_current_failed = 1;                                                   \
		}                                                                                  \
	} while (0)

static inline int test_summary(void)
{
	printf("%d passed, %d failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
