/*
 * Unit tests for profiles/profiles.c: the RStudio admin guide's example,
 * precedence by file order, every error class with its file:line, and the
 * system group lookup.
 */
#include "profiles.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

/* The example of the admin guide, section 5.3.1. */
static const char guide[] = "[*]\n"                       /* 1 */
                            "cpu-affinity = 1-4\n"        /* 2 */
                            "max-processes = 800\n"       /* 3 */
                            "max-memory-mb = 2048\n"      /* 4 */
                            "\n"                          /* 5 */
                            "[@powerusers]\n"             /* 6 */
                            "cpu-affinity = 5-16\n"       /* 7 */
                            "nice = -10\n"                /* 8 */
                            "max-memory-mb = 4096\n"      /* 9 */
                            "\n"                          /* 10 */
                            "[jsmith]\n"                  /* 11 */
                            "r-version = /opt/R/3.1.0\n"; /* 12 */

static void parse(const char *text, struct profiles *p, struct diag *d)
{
	diag_init(d);
	CHECK_INT(profiles_parse("/etc/rstudio/profiles", text, strlen(text), p, d), 0);
}

static void resolve(const struct profiles *p, const char *user, const char *g1, const char *g2,
                    struct profile_effective e[PROFILE_NKEYS])
{
	const char *groups[2];
	size_t n = 0;

	if (g1)
		groups[n++] = g1;
	if (g2)
		groups[n++] = g2;
	profiles_resolve(p, user, groups, n, e);
}

/* Parses text expecting exactly one problem, an error at line with want. */
static void expect_error(const char *text, unsigned line, const char *want)
{
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(diag_errors(&d), 1);
	CHECK_INT(d.n, 1);
	if (d.n >= 1) {
		CHECK_INT(d.entries[0].severity, DIAG_ERROR);
		CHECK_INT(d.entries[0].line, line);
		CHECK_STR(d.entries[0].file, "/etc/rstudio/profiles");
		CHECK_CONTAINS(d.entries[0].message, want);
	}
	profiles_free(&p);
	diag_free(&d);
}

TEST(table)
{
	static const char *const names[PROFILE_NKEYS] = {
	    "cpu-affinity",   "nice",      "max-memory-mb",           "max-processes",
	    "max-open-files", "r-version", "session-timeout-minutes", "session-timeout-kill-hours",
	    "max-rss-mb",
	};

	CHECK_STR(profiles_table.file, "profiles");
	CHECK_INT(profiles_table.nkeys, PROFILE_NKEYS);
	CHECK(!profiles_table.sections);
	for (int k = 0; k < PROFILE_NKEYS; k++) {
		const struct conf_key *key = &profiles_table.keys[k];
		CHECK_STR(key->name, names[k]);
		CHECK_STR(key->def, "");
		CHECK(key->reloadable);
		CHECK(key->description && *key->description);
		CHECK_INT(conf_key_index(&profiles_table, names[k]), k);
	}
	CHECK_INT(profiles_table.keys[PROFILE_CPU_AFFINITY].type, CONF_CPULIST);
	CHECK_INT(profiles_table.keys[PROFILE_R_VERSION].type, CONF_PATH);
	CHECK_INT(profiles_table.keys[PROFILE_SESSION_TIMEOUT_MINUTES].type, CONF_DECIMAL);
	CHECK(profiles_table.keys[PROFILE_NICE].min == -20);
	CHECK(profiles_table.keys[PROFILE_NICE].max == 19);
}

TEST(guide_structure)
{
	struct profiles p;
	struct diag d;

	parse(guide, &p, &d);
	CHECK_INT(d.n, 0);
	CHECK_STR(p.file, "/etc/rstudio/profiles");
	CHECK_INT(p.nsections, 3);
	if (p.nsections == 3) {
		CHECK_INT(p.sections[0].kind, PROFILE_SECTION_ALL);
		CHECK(p.sections[0].name == NULL);
		CHECK_INT(p.sections[0].line, 1);
		CHECK_INT(p.sections[0].nsettings, 3);
		CHECK_INT(p.sections[1].kind, PROFILE_SECTION_GROUP);
		CHECK_STR(p.sections[1].name, "powerusers");
		CHECK_INT(p.sections[1].line, 6);
		CHECK_INT(p.sections[1].nsettings, 3);
		CHECK_INT(p.sections[2].kind, PROFILE_SECTION_USER);
		CHECK_STR(p.sections[2].name, "jsmith");
		CHECK_INT(p.sections[2].line, 11);
		CHECK_INT(p.sections[2].nsettings, 1);
	}
	profiles_free(&p);
	diag_free(&d);
}

TEST(guide_plain_user)
{
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(guide, &p, &d);
	resolve(&p, "alice", "users", NULL, e);
	CHECK(e[PROFILE_CPU_AFFINITY].set);
	CHECK_STR(e[PROFILE_CPU_AFFINITY].value.s, "1-4");
	CHECK_INT(e[PROFILE_CPU_AFFINITY].line, 2);
	CHECK(e[PROFILE_CPU_AFFINITY].section == &p.sections[0]);
	CHECK(e[PROFILE_MAX_PROCESSES].set);
	CHECK_INT(e[PROFILE_MAX_PROCESSES].value.i, 800);
	CHECK_INT(e[PROFILE_MAX_PROCESSES].line, 3);
	CHECK(e[PROFILE_MAX_MEMORY_MB].set);
	CHECK_INT(e[PROFILE_MAX_MEMORY_MB].value.i, 2048);
	CHECK_INT(e[PROFILE_MAX_MEMORY_MB].line, 4);
	for (int k = 0; k < PROFILE_NKEYS; k++) {
		if (k == PROFILE_CPU_AFFINITY || k == PROFILE_MAX_PROCESSES ||
		    k == PROFILE_MAX_MEMORY_MB)
			continue;
		CHECK(!e[k].set);
		CHECK(e[k].section == NULL);
		CHECK_INT(e[k].line, 0);
	}
	profiles_free(&p);
	diag_free(&d);
}

TEST(guide_poweruser)
{
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(guide, &p, &d);
	resolve(&p, "bob", "users", "powerusers", e);
	CHECK_STR(e[PROFILE_CPU_AFFINITY].value.s, "5-16");
	CHECK_INT(e[PROFILE_CPU_AFFINITY].line, 7);
	CHECK(e[PROFILE_CPU_AFFINITY].section == &p.sections[1]);
	CHECK(e[PROFILE_NICE].set);
	CHECK_INT(e[PROFILE_NICE].value.i, -10);
	CHECK_INT(e[PROFILE_NICE].line, 8);
	CHECK_INT(e[PROFILE_MAX_MEMORY_MB].value.i, 4096);
	CHECK_INT(e[PROFILE_MAX_MEMORY_MB].line, 9);
	/* Not overridden: still from [*]. */
	CHECK(e[PROFILE_MAX_PROCESSES].set);
	CHECK_INT(e[PROFILE_MAX_PROCESSES].value.i, 800);
	CHECK(e[PROFILE_MAX_PROCESSES].section == &p.sections[0]);
	CHECK(!e[PROFILE_R_VERSION].set);
	profiles_free(&p);
	diag_free(&d);
}

TEST(guide_jsmith)
{
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(guide, &p, &d);
	resolve(&p, "jsmith", "users", NULL, e);
	CHECK(e[PROFILE_R_VERSION].set);
	CHECK_STR(e[PROFILE_R_VERSION].value.s, "/opt/R/3.1.0");
	CHECK_INT(e[PROFILE_R_VERSION].line, 12);
	CHECK(e[PROFILE_R_VERSION].section == &p.sections[2]);
	CHECK_STR(e[PROFILE_R_VERSION].section->name, "jsmith");
	CHECK_STR(e[PROFILE_CPU_AFFINITY].value.s, "1-4");
	CHECK_INT(e[PROFILE_MAX_PROCESSES].value.i, 800);
	CHECK_INT(e[PROFILE_MAX_MEMORY_MB].value.i, 2048);
	CHECK(!e[PROFILE_NICE].set);

	/* jsmith in powerusers gets both. */
	resolve(&p, "jsmith", "powerusers", NULL, e);
	CHECK_STR(e[PROFILE_R_VERSION].value.s, "/opt/R/3.1.0");
	CHECK_STR(e[PROFILE_CPU_AFFINITY].value.s, "5-16");
	CHECK_INT(e[PROFILE_NICE].value.i, -10);
	CHECK_INT(e[PROFILE_MAX_MEMORY_MB].value.i, 4096);
	CHECK_INT(e[PROFILE_MAX_PROCESSES].value.i, 800);

	/* User names match exactly. */
	resolve(&p, "JSmith", NULL, NULL, e);
	CHECK(!e[PROFILE_R_VERSION].set);
	resolve(&p, "jsmit", NULL, NULL, e);
	CHECK(!e[PROFILE_R_VERSION].set);
	profiles_free(&p);
	diag_free(&d);
}

TEST(later_group_section_wins)
{
	static const char text[] = "[@alpha]\n"
	                           "nice = 5\n"
	                           "[@beta]\n"
	                           "nice = 10\n";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(d.n, 0);
	/* File order decides, not the order of the user's groups. */
	resolve(&p, "u", "alpha", "beta", e);
	CHECK_INT(e[PROFILE_NICE].value.i, 10);
	CHECK_INT(e[PROFILE_NICE].line, 4);
	resolve(&p, "u", "beta", "alpha", e);
	CHECK_INT(e[PROFILE_NICE].value.i, 10);
	CHECK_STR(e[PROFILE_NICE].section->name, "beta");
	resolve(&p, "u", "alpha", NULL, e);
	CHECK_INT(e[PROFILE_NICE].value.i, 5);
	profiles_free(&p);
	diag_free(&d);
}

TEST(user_before_group)
{
	static const char text[] = "[jsmith]\n"
	                           "nice = 5\n"
	                           "max-open-files = 4096\n"
	                           "[@powerusers]\n"
	                           "nice = -5\n"
	                           "[*]\n"
	                           "session-timeout-minutes = 90.5\n";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(d.n, 0);
	/* The group section comes later, so it overrides the user's own. */
	resolve(&p, "jsmith", "powerusers", NULL, e);
	CHECK_INT(e[PROFILE_NICE].value.i, -5);
	CHECK_INT(e[PROFILE_NICE].line, 5);
	CHECK_INT(e[PROFILE_NICE].section->kind, PROFILE_SECTION_GROUP);
	CHECK_INT(e[PROFILE_MAX_OPEN_FILES].value.i, 4096);
	CHECK(e[PROFILE_SESSION_TIMEOUT_MINUTES].set);
	CHECK(e[PROFILE_SESSION_TIMEOUT_MINUTES].value.d == 90.5);
	resolve(&p, "jsmith", NULL, NULL, e);
	CHECK_INT(e[PROFILE_NICE].value.i, 5);
	profiles_free(&p);
	diag_free(&d);
}

TEST(repeated_section_applies_twice)
{
	static const char text[] = "[*]\n"
	                           "nice = 1\n"
	                           "max-rss-mb = 1024\n"
	                           "[bob]\n"
	                           "nice = 2\n"
	                           "[*]\n"
	                           "nice = 3\n"
	                           "session-timeout-kill-hours = 48\n";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(p.nsections, 3);
	resolve(&p, "bob", NULL, NULL, e);
	CHECK_INT(e[PROFILE_NICE].value.i, 3);
	CHECK_INT(e[PROFILE_NICE].line, 7);
	CHECK(e[PROFILE_NICE].section == &p.sections[2]);
	CHECK_INT(e[PROFILE_MAX_RSS_MB].value.i, 1024);
	CHECK(e[PROFILE_SESSION_TIMEOUT_KILL_HOURS].value.d == 48);
	profiles_free(&p);
	diag_free(&d);
}

TEST(headers)
{
	static const char text[] = "[ * ]\n"
	                           "nice = 1\n"
	                           "[ @ops.team ]\n"
	                           "nice = 2\n"
	                           "[host01$]\n"
	                           "nice = 3\n"
	                           "[j_smith-2]\n"
	                           "nice = 4\n";
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(p.nsections, 4);
	if (p.nsections == 4) {
		CHECK_INT(p.sections[0].kind, PROFILE_SECTION_ALL);
		CHECK_STR(p.sections[1].name, "ops.team");
		CHECK_INT(p.sections[1].kind, PROFILE_SECTION_GROUP);
		CHECK_STR(p.sections[2].name, "host01$");
		CHECK_STR(p.sections[3].name, "j_smith-2");
	}
	profiles_free(&p);
	diag_free(&d);
}

TEST(error_unknown_key)
{
	expect_error("[*]\ncpu-afinity = 1\n", 2,
	             "unknown key 'cpu-afinity' (did you mean 'cpu-affinity'?)");
	expect_error("[*]\nmax_memory_mb = 1\n", 2, "did you mean 'max-memory-mb'?");
	expect_error("[*]\n\nfrobnicate = 1\n", 3, "unknown key 'frobnicate'");
	expect_error("[*]\n= 1\n", 2, "missing key before '='");
}

TEST(error_nice_range)
{
	expect_error("[*]\nnice = 20\n", 2, "nice: 20 is out of range (allowed -20..19)");
	expect_error("[*]\nnice = -21\n", 2, "nice: -21 is out of range (allowed -20..19)");
	expect_error("[*]\nnice = high\n", 2, "nice: 'high' is not a whole number");
	expect_error("[*]\nnice =\n", 2, "nice");
}

TEST(error_cpu_affinity)
{
	expect_error("[*]\ncpu-affinity = 0\n", 2,
	             "cpu-affinity: '0': item 1 ('0'): core 0 does not exist: cores are "
	             "numbered from 1");
	expect_error("[*]\ncpu-affinity = 16-15\n", 2, "item 1 ('16-15') is a reversed range");
	expect_error("[*]\ncpu-affinity = 1,,2\n", 2, "item 2 is empty");
	expect_error("[*]\ncpu-affinity = 1,a\n", 2, "item 2 ('a') is not a core number");
	expect_error("[*]\ncpu-affinity = 1-2-3\n", 2, "item 1 ('1-2-3')");
	expect_error("[*]\ncpu-affinity =\n", 2, "the list is empty");
	expect_error("[*]\ncpu-affinity = 2000\n", 2, "above 1024");
}

TEST(cpu_affinity_normalised)
{
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse("[*]\ncpu-affinity = 4, 3, 1-2, 15 ,16\n", &p, &d);
	CHECK_INT(d.n, 0);
	resolve(&p, "u", NULL, NULL, e);
	CHECK_STR(e[PROFILE_CPU_AFFINITY].value.s, "1-4,15-16");
	profiles_free(&p);
	diag_free(&d);
}

TEST(error_numbers)
{
	expect_error("[*]\nmax-memory-mb = -1\n", 2,
	             "max-memory-mb: -1 is out of range (allowed 0..16777216)");
	expect_error("[*]\nmax-processes = 4194305\n", 2, "max-processes: 4194305 is out of range");
	expect_error("[*]\nmax-open-files = 1e6\n", 2,
	             "max-open-files: '1e6' is not a whole number");
	expect_error("[*]\nsession-timeout-minutes = -1\n", 2,
	             "session-timeout-minutes: -1 is out of range");
	expect_error("[*]\nsession-timeout-kill-hours = nan\n", 2,
	             "session-timeout-kill-hours: 'nan' is not a number");
	expect_error("[*]\nmax-rss-mb = 2GB\n", 2, "max-rss-mb: '2GB' is not a whole number");
}

TEST(error_r_version)
{
	expect_error("[jsmith]\nr-version = opt/R/3.1.0\n", 2,
	             "r-version: 'opt/R/3.1.0' is not an absolute path");
}

TEST(empty_r_version_resets)
{
	static const char text[] = "[*]\n"
	                           "r-version = /opt/R/4.3.0\n"
	                           "[jsmith]\n"
	                           "r-version =\n";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	/* Empty means unset, as in every other file: jsmith is back on the
	 * system default R. */
	parse(text, &p, &d);
	CHECK_INT(d.n, 0);
	resolve(&p, "jsmith", NULL, NULL, e);
	CHECK(!e[PROFILE_R_VERSION].set);
	CHECK(e[PROFILE_R_VERSION].value.s == NULL);
	CHECK_INT(e[PROFILE_R_VERSION].line, 4);
	resolve(&p, "alice", NULL, NULL, e);
	CHECK(e[PROFILE_R_VERSION].set);
	CHECK_STR(e[PROFILE_R_VERSION].value.s, "/opt/R/4.3.0");
	profiles_free(&p);
	diag_free(&d);
}

TEST(error_outside_section)
{
	expect_error("# limits\nnice = 5\n[*]\n", 2,
	             "setting 'nice' outside any section (start with [*], [@group] or [user])");

	/* The value is still checked. */
	{
		struct profiles p;
		struct diag d;
		parse("nice = 50\n", &p, &d);
		CHECK_INT(diag_errors(&d), 2);
		CHECK_INT(p.nsections, 0);
		profiles_free(&p);
		diag_free(&d);
	}
}

TEST(error_bad_headers)
{
	expect_error("[@]\n", 1, "section '[@]' has no group name");
	expect_error("[*]\n[bad name]\n", 2, "invalid user name 'bad name' in section header");
	expect_error("[@bad group]\n", 1, "invalid group name 'bad group'");
	expect_error("[-x]\n", 1, "invalid user name '-x'");
	expect_error("[a$b]\n", 1, "invalid user name 'a$b'");
	expect_error("[$]\n", 1, "invalid user name '$'");
	expect_error("[]\n", 1, "empty section header '[]'");
	expect_error("[*\n", 1, "malformed section header '[*'");
	expect_error("[*] # all\n", 1, "malformed section header '[*] # all'");
	expect_error("[@*]\n", 1, "invalid group name '*'");
}

TEST(bad_header_swallows_its_settings)
{
	static const char text[] = "[*]\n"
	                           "nice = 1\n"
	                           "[bad name]\n"
	                           "nice = 2\n"
	                           "nice = 99\n";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	/* Settings after a refused header are checked (line 5 is an error)
	 * but neither kept nor reported as outside any section. */
	parse(text, &p, &d);
	CHECK_INT(diag_errors(&d), 2);
	if (d.n == 2) {
		CHECK_INT(d.entries[0].line, 3);
		CHECK_INT(d.entries[1].line, 5);
		CHECK_CONTAINS(d.entries[1].message, "nice: 99 is out of range");
	}
	CHECK_INT(p.nsections, 1);
	resolve(&p, "u", NULL, NULL, e);
	CHECK_INT(e[PROFILE_NICE].value.i, 1);
	profiles_free(&p);
	diag_free(&d);
}

TEST(error_no_equals)
{
	expect_error("[*]\nnice 5\n", 2,
	             "expected 'key = value' or a section header, got 'nice 5'");
	expect_error("[*]\n  ; comment\n", 2, "got '; comment'");
}

TEST(error_nul_byte)
{
	static const char text[] = "[*]\nnice = 1\0 2\nmax-processes = 5\n";
	struct profiles p;
	struct diag d;

	diag_init(&d);
	CHECK_INT(profiles_parse("profiles", text, sizeof(text) - 1, &p, &d), 0);
	CHECK_INT(diag_errors(&d), 1);
	if (d.n == 1) {
		CHECK_INT(d.entries[0].line, 2);
		CHECK_CONTAINS(d.entries[0].message, "NUL byte");
	}
	/* The other lines still count. */
	CHECK_INT(p.nsections, 1);
	if (p.nsections == 1)
		CHECK_INT(p.sections[0].nsettings, 1);
	profiles_free(&p);
	diag_free(&d);
}

TEST(duplicate_key_warning)
{
	static const char text[] = "[*]\n"
	                           "nice = 1\n"
	                           "max-processes = 10\n"
	                           "nice = 2\n";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(diag_errors(&d), 0);
	CHECK_INT(d.n, 1);
	if (d.n == 1) {
		CHECK_INT(d.entries[0].severity, DIAG_WARNING);
		CHECK_INT(d.entries[0].line, 4);
		CHECK_CONTAINS(d.entries[0].message,
		               "'nice' is also set on line 2; this later value wins");
	}
	CHECK_INT(p.sections[0].nsettings, 2);
	resolve(&p, "u", NULL, NULL, e);
	CHECK_INT(e[PROFILE_NICE].value.i, 2);
	CHECK_INT(e[PROFILE_NICE].line, 4);
	profiles_free(&p);
	diag_free(&d);
}

TEST(crlf_and_comments)
{
	static const char text[] = "\xef\xbb\xbf# profiles for the lab\r\n"
	                           "\r\n"
	                           "   # indented comment\r\n"
	                           "[*]\r\n"
	                           "cpu-affinity=1-4\r\n"
	                           "\t\r\n"
	                           "[@powerusers]\r\n"
	                           "# nice = 19\r\n"
	                           "nice=-10\r\n"
	                           "r-version = /opt/R/#4\r\n"
	                           "[jsmith]";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(p.nsections, 3);
	resolve(&p, "jsmith", "powerusers", NULL, e);
	CHECK_STR(e[PROFILE_CPU_AFFINITY].value.s, "1-4");
	CHECK_INT(e[PROFILE_CPU_AFFINITY].line, 5);
	CHECK_INT(e[PROFILE_NICE].value.i, -10);
	CHECK_INT(e[PROFILE_NICE].line, 9);
	/* "#" is a comment only at the start of a line. */
	CHECK_STR(e[PROFILE_R_VERSION].value.s, "/opt/R/#4");
	profiles_free(&p);
	diag_free(&d);
}

TEST(empty_file)
{
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;

	parse("", &p, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(p.nsections, 0);
	CHECK_STR(p.file, "/etc/rstudio/profiles");
	resolve(&p, "u", "g", NULL, e);
	for (int k = 0; k < PROFILE_NKEYS; k++)
		CHECK(!e[k].set);
	profiles_free(&p);
	diag_free(&d);

	parse("\n  \n# nothing\n", &p, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(p.nsections, 0);
	profiles_free(&p);
	diag_free(&d);

	/* NULL profiles resolve to nothing; free accepts NULL. */
	profiles_resolve(NULL, "u", NULL, 0, e);
	CHECK(!e[PROFILE_NICE].set);
	profiles_free(NULL);
}

TEST(all_problems_in_one_pass)
{
	static const char text[] = "[*]\n"
	                           "nice = 20\n"
	                           "cpu-affinity = 4-1\n"
	                           "max-processes = 100\n"
	                           "r-versoin = /opt/R\n";
	struct profiles p;
	struct diag d;

	parse(text, &p, &d);
	CHECK_INT(diag_errors(&d), 3);
	CHECK_INT(d.n, 3);
	if (d.n == 3) {
		CHECK_INT(d.entries[0].line, 2);
		CHECK_CONTAINS(d.entries[0].message, "nice");
		CHECK_INT(d.entries[1].line, 3);
		CHECK_CONTAINS(d.entries[1].message, "reversed");
		CHECK_INT(d.entries[2].line, 5);
		CHECK_CONTAINS(d.entries[2].message, "did you mean 'r-version'?");
	}
	profiles_free(&p);
	diag_free(&d);
}

TEST(null_file_name)
{
	struct profiles p;
	struct diag d;

	diag_init(&d);
	CHECK_INT(profiles_parse(NULL, "x\n", 2, &p, &d), 0);
	CHECK_INT(d.n, 1);
	if (d.n == 1)
		CHECK_STR(d.entries[0].file, "profiles");
	CHECK_STR(p.file, "profiles");
	profiles_free(&p);
	diag_free(&d);
}

TEST(load)
{
	char path[] = "/tmp/test-profiles-XXXXXX";
	struct profile_effective e[PROFILE_NKEYS];
	struct profiles p;
	struct diag d;
	int fd;

	/* Missing: an empty set, no problem. */
	diag_init(&d);
	CHECK_INT(profiles_load("/nonexistent/rserver/profiles", &p, &d), 0);
	CHECK_INT(d.n, 0);
	CHECK_INT(p.nsections, 0);
	profiles_free(&p);

	/* Present: parsed, problems named after the path. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(write(fd, guide, sizeof(guide) - 1), (long long)(sizeof(guide) - 1));
		CHECK_INT(write(fd, "nice = 99\n", 10), 10);
		close(fd);
		CHECK_INT(profiles_load(path, &p, &d), 0);
		CHECK_INT(diag_errors(&d), 1);
		if (d.n == 1) {
			CHECK_STR(d.entries[0].file, path);
			CHECK_INT(d.entries[0].line, 13);
		}
		resolve(&p, "jsmith", NULL, NULL, e);
		CHECK_STR(e[PROFILE_R_VERSION].value.s, "/opt/R/3.1.0");
		profiles_free(&p);
		unlink(path);
	}
	diag_free(&d);

	/* Unreadable (a directory): an error for the file as a whole. */
	diag_init(&d);
	CHECK_INT(profiles_load("/tmp", &p, &d), 0);
	CHECK_INT(diag_errors(&d), 1);
	if (d.n == 1) {
		CHECK_INT(d.entries[0].line, 0);
		CHECK_CONTAINS(d.entries[0].message, "cannot read");
	}
	CHECK_INT(p.nsections, 0);
	profiles_free(&p);
	diag_free(&d);
}

static bool contains(char **groups, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(groups[i], name) == 0)
			return true;
	return false;
}

TEST(user_groups_root)
{
	char **groups = NULL;
	size_t n = 0;

	CHECK_INT(profiles_user_groups("root", &groups, &n), 0);
	CHECK(n >= 1);
	CHECK(contains(groups, n, "root"));
	if (groups)
		CHECK(groups[n] == NULL);
	/* No duplicates. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			CHECK(strcmp(groups[i], groups[j]) != 0);
	profiles_groups_free(groups, n);
	profiles_groups_free(NULL, 0);
}

TEST(user_groups_current_user)
{
	struct passwd *pw = getpwuid(getuid());
	char **groups = NULL;
	size_t n = 0;

	if (!pw)
		return; /* an anonymous uid in a container: nothing to look up */
	CHECK_INT(profiles_user_groups(pw->pw_name, &groups, &n), 0);
	CHECK(n >= 1);
	profiles_groups_free(groups, n);
}

TEST(user_groups_unknown)
{
	char **groups = (char **)0x1;
	size_t n = 42;

	CHECK_INT(profiles_user_groups("rserver-no-such-user-3141", &groups, &n), -ENOENT);
	/* Untouched on failure. */
	CHECK(groups == (char **)0x1);
	CHECK_INT(n, 42);
	CHECK_INT(profiles_user_groups("", &groups, &n), -ENOENT);
}

int main(void)
{
	RUN(table);
	RUN(guide_structure);
	RUN(guide_plain_user);
	RUN(guide_poweruser);
	RUN(guide_jsmith);
	RUN(later_group_section_wins);
	RUN(user_before_group);
	RUN(repeated_section_applies_twice);
	RUN(headers);
	RUN(error_unknown_key);
	RUN(error_nice_range);
	RUN(error_cpu_affinity);
	RUN(cpu_affinity_normalised);
	RUN(error_numbers);
	RUN(error_r_version);
	RUN(empty_r_version_resets);
	RUN(error_outside_section);
	RUN(error_bad_headers);
	RUN(bad_header_swallows_its_settings);
	RUN(error_no_equals);
	RUN(error_nul_byte);
	RUN(duplicate_key_warning);
	RUN(crlf_and_comments);
	RUN(empty_file);
	RUN(all_problems_in_one_pass);
	RUN(null_file_name);
	RUN(load);
	RUN(user_groups_root);
	RUN(user_groups_current_user);
	RUN(user_groups_unknown);
	return test_summary();
}
