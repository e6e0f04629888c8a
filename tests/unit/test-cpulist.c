/*
 * Unit tests for common/cpulist.c: 1-based CPU lists as profiles spell them.
 */
#include "cpulist.h"

#include <errno.h>
#include <sched.h>

#include "test.h"

/* Parses text and formats the result; returns the parse status. */
static int roundtrip(const char *text, char *out, size_t size)
{
	char err[160];
	cpu_set_t set;
	int r;

	out[0] = '\0';
	r = cpulist_parse(text, &set, err, sizeof(err));
	if (r < 0)
		return r;
	return cpulist_format(&set, out, size);
}

/* Expects text to be refused with a message containing want. */
static void check_refused(const char *text, const char *want)
{
	char err[160] = "";
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(41, &set);
	CHECK_INT(cpulist_parse(text, &set, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, want);
	/* The output is untouched on failure. */
	CHECK_INT(CPU_COUNT(&set), 1);
	CHECK(CPU_ISSET(41, &set));
}

TEST(parse_guide_examples)
{
	char err[160], out[64];
	cpu_set_t set;

	CHECK_INT(cpulist_parse("1,2,15-16", &set, err, sizeof(err)), 0);
	CHECK_INT(CPU_COUNT(&set), 4);
	/* Kernel numbering is one less. */
	CHECK(CPU_ISSET(0, &set));
	CHECK(CPU_ISSET(1, &set));
	CHECK(CPU_ISSET(14, &set));
	CHECK(CPU_ISSET(15, &set));
	CHECK(!CPU_ISSET(2, &set));

	CHECK_INT(roundtrip("1,2,3,4", out, sizeof(out)), 0);
	CHECK_STR(out, "1-4");
	CHECK_INT(roundtrip("1-4", out, sizeof(out)), 0);
	CHECK_STR(out, "1-4");
	CHECK_INT(roundtrip("1,2,15-16", out, sizeof(out)), 0);
	CHECK_STR(out, "1-2,15-16");
	CHECK_INT(roundtrip("5-16", out, sizeof(out)), 0);
	CHECK_STR(out, "5-16");
}

TEST(parse_spaces)
{
	char out[64];

	CHECK_INT(roundtrip("1, 2 ,15-16", out, sizeof(out)), 0);
	CHECK_STR(out, "1-2,15-16");
	CHECK_INT(roundtrip("  7  ", out, sizeof(out)), 0);
	CHECK_STR(out, "7");
	CHECK_INT(roundtrip("\t3 - 5 ,9", out, sizeof(out)), 0);
	CHECK_STR(out, "3-5,9");
}

TEST(parse_union)
{
	char out[64];

	/* Overlaps and duplicates are a union, not an error. */
	CHECK_INT(roundtrip("1-4,3-6,2,2", out, sizeof(out)), 0);
	CHECK_STR(out, "1-6");
	CHECK_INT(roundtrip("9,1,5,3", out, sizeof(out)), 0);
	CHECK_STR(out, "1,3,5,9");
	CHECK_INT(roundtrip("4-4", out, sizeof(out)), 0);
	CHECK_STR(out, "4");
}

TEST(parse_limits)
{
	char out[64];

	CHECK_INT(roundtrip("1024", out, sizeof(out)), 0);
	CHECK_STR(out, "1024");
	CHECK_INT(roundtrip("1-1024", out, sizeof(out)), 0);
	CHECK_STR(out, "1-1024");
	CHECK_INT(roundtrip("0001", out, sizeof(out)), 0);
	CHECK_STR(out, "1");
	check_refused("1025", "item 1 ('1025') names a core above 1024");
	check_refused("1-1025", "item 1 ('1-1025') names a core above 1024");
	check_refused("2,99999999999999999999999",
	              "item 2 ('99999999999999999999999') names a core above");
}

TEST(parse_core_zero)
{
	check_refused("0", "item 1 ('0'): core 0 does not exist: cores are numbered from 1");
	check_refused("1,0-3", "item 2 ('0-3'): core 0 does not exist");
	check_refused("00", "core 0 does not exist");
}

TEST(parse_reversed)
{
	check_refused("16-15", "item 1 ('16-15') is a reversed range");
	check_refused("1, 9-2", "item 2 ('9-2') is a reversed range");
}

TEST(parse_empty_items)
{
	check_refused("", "the list is empty");
	check_refused("   ", "the list is empty");
	check_refused("1,,2", "item 2 is empty");
	check_refused("1, ,2", "item 2 is empty");
	check_refused("1,", "item 2 is empty (trailing comma)");
	check_refused(",1", "item 1 is empty");
}

TEST(parse_garbage)
{
	check_refused("a", "item 1 ('a') is not a core number or a range");
	check_refused("1-", "item 1 ('1-') is not a core number");
	check_refused("-3", "item 1 ('-3') is not a core number");
	check_refused("1-2-3", "item 1 ('1-2-3') is not a core number");
	check_refused("+1", "item 1 ('+1') is not a core number");
	check_refused("2,1 2", "item 2 ('1 2') is not a core number");
	check_refused("0x1", "item 1 ('0x1')");
	check_refused("1.5", "item 1 ('1.5')");
	check_refused("1;2", "item 1 ('1;2')");
	check_refused("1--2", "item 1 ('1--2')");
}

TEST(parse_without_err)
{
	cpu_set_t set;

	/* err is optional. */
	CHECK_INT(cpulist_parse("0", &set, NULL, 0), -EINVAL);
	CHECK_INT(cpulist_parse("1", &set, NULL, 0), 0);
}

TEST(format)
{
	cpu_set_t set;
	char out[64];

	CPU_ZERO(&set);
	CHECK_INT(cpulist_format(&set, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CPU_SET(0, &set);
	CHECK_INT(cpulist_format(&set, out, sizeof(out)), 0);
	CHECK_STR(out, "1");
	CPU_SET(2, &set);
	CPU_SET(3, &set);
	CPU_SET(CPULIST_MAX - 1, &set);
	CHECK_INT(cpulist_format(&set, out, sizeof(out)), 0);
	CHECK_STR(out, "1,3-4,1024");

	/* A short buffer is refused and left as it was; an exact fit works. */
	strcpy(out, "keep");
	CHECK_INT(cpulist_format(&set, out, 10), -ENOBUFS);
	CHECK_STR(out, "keep");
	CHECK_INT(cpulist_format(&set, out, 11), 0);
	CHECK_STR(out, "1,3-4,1024");
	CPU_ZERO(&set);
	CHECK_INT(cpulist_format(&set, out, 0), -ENOBUFS);
}

TEST(format_worst_case_fits_conf)
{
	/* conf.c formats into 4 KiB: the longest canonical lists must fit.
	 * Pairs with gaps ("1-2,4-5,...") and alternate cores are the worst. */
	static char out[8192];
	cpu_set_t pairs, alternate;

	CPU_ZERO(&pairs);
	CPU_ZERO(&alternate);
	for (unsigned c = 0; c < CPULIST_MAX; c++) {
		if (c % 3 != 2)
			CPU_SET(c, &pairs);
		if (c % 2 == 0)
			CPU_SET(c, &alternate);
	}
	CHECK_INT(cpulist_format(&pairs, out, sizeof(out)), 0);
	CHECK(strlen(out) < 4096);
	CHECK_INT(cpulist_format(&alternate, out, sizeof(out)), 0);
	CHECK(strlen(out) < 4096);

	/* And they parse back to the same set. */
	{
		char err[160];
		cpu_set_t back;
		CHECK_INT(cpulist_parse(out, &back, err, sizeof(err)), 0);
		CHECK(CPU_EQUAL(&back, &alternate));
	}
}

TEST(check_online_synthetic)
{
	cpu_set_t online, set;
	char err[160] = "";

	CPU_ZERO(&online);
	CPU_SET(0, &online);
	CPU_SET(1, &online);

	CPU_ZERO(&set);
	CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), 0);
	CPU_SET(0, &set);
	CPU_SET(1, &set);
	CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), 0);

	CPU_ZERO(&set);
	CPU_SET(4, &set);
	CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), -ENODEV);
	CHECK_STR(err, "core 5 does not exist (2 online)");

	/* The first missing core is the one named. */
	CPU_ZERO(&set);
	CPU_SET(1, &set);
	CPU_SET(7, &set);
	CPU_SET(9, &set);
	CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), -ENODEV);
	CHECK_STR(err, "core 8 does not exist (2 online)");

	/* Online sets with holes (offlined cores) are honoured. */
	CPU_ZERO(&online);
	CPU_SET(0, &online);
	CPU_SET(2, &online);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CPU_SET(1, &set);
	CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), -ENODEV);
	CHECK_STR(err, "core 2 does not exist (2 online)");
	CHECK_INT(cpulist_check_online(&set, &online, NULL, 0), -ENODEV);
}

TEST(check_online_real)
{
	cpu_set_t online, set;
	char err[160] = "", text[4096];
	int highest = -1;

	CHECK_INT(sched_getaffinity(0, sizeof(online), &online), 0);
	CHECK(CPU_COUNT(&online) >= 1);
	CHECK_INT(cpulist_check_online(&online, &online, err, sizeof(err)), 0);

	/* The real set formats, parses back to itself and checks clean. */
	CHECK_INT(cpulist_format(&online, text, sizeof(text)), 0);
	CHECK_INT(cpulist_parse(text, &set, err, sizeof(err)), 0);
	CHECK(CPU_EQUAL(&set, &online));
	CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), 0);

	/* One core past the highest online one does not exist. */
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &online))
			highest = c;
	if (highest + 1 < CPU_SETSIZE) {
		char want[80];
		CPU_ZERO(&set);
		CPU_SET(highest + 1, &set);
		CHECK_INT(cpulist_check_online(&set, &online, err, sizeof(err)), -ENODEV);
		snprintf(want, sizeof(want), "core %d does not exist (%d online)", highest + 2,
		         CPU_COUNT(&online));
		CHECK_STR(err, want);
	}
}

int main(void)
{
	RUN(parse_guide_examples);
	RUN(parse_spaces);
	RUN(parse_union);
	RUN(parse_limits);
	RUN(parse_core_zero);
	RUN(parse_reversed);
	RUN(parse_empty_items);
	RUN(parse_garbage);
	RUN(parse_without_err);
	RUN(format);
	RUN(format_worst_case_fits_conf);
	RUN(check_online_synthetic);
	RUN(check_online_real);
	return test_summary();
}
