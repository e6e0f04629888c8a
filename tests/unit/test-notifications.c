/*
 * Unit tests for common/notifications.c: the notifications.conf examples
 * from RStudio's admin guide, every time format, every class of bad entry,
 * and the stability of notification ids.
 *
 * Local-time cases set TZ explicitly, so the results do not depend on the
 * machine running the tests.
 */
#include "notifications.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define FILE_NAME "notifications.conf"

#define T_MSG1 "Please remember to shut down your computers at the end of the day."
#define T_MSG2 "Remember to drop off any borrowed equipment at Grace's office today only."

struct parsed {
	struct notification_list l;
	struct diag d;
	int r;
};

static void use_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void parse_len(struct parsed *p, const char *text, size_t len)
{
	diag_init(&p->d);
	p->l.items = (void *)1; /* must be overwritten */
	p->l.n = 99;
	p->r = notifications_parse(FILE_NAME, text, len, &p->l, &p->d);
}

static void parse(struct parsed *p, const char *text)
{
	parse_len(p, text, strlen(text));
}

static void done(struct parsed *p)
{
	notification_list_free(&p->l);
	diag_free(&p->d);
}

/* Checks problem i: a warning at line, in our file, containing want. */
static void check_warning(const struct parsed *p, size_t i, unsigned line, const char *want)
{
	CHECK(i < p->d.n);
	if (i >= p->d.n)
		return;
	CHECK_INT(p->d.entries[i].severity, DIAG_WARNING);
	CHECK_STR(p->d.entries[i].file, FILE_NAME);
	CHECK_INT(p->d.entries[i].line, line);
	CHECK_CONTAINS(p->d.entries[i].message, want);
}

/* Parses a file of one entry that must be refused with one warning. */
static void check_entry_refused(const char *text, unsigned line, const char *want)
{
	struct parsed p;

	parse(&p, text);
	CHECK_INT(p.r, 0);
	CHECK_INT(p.l.n, 0);
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, line, want);
	CHECK_INT(diag_errors(&p.d), 0);
	done(&p);
}

static void check_time(const char *text, bool is_end, long long want)
{
	char err[160] = "";
	time_t t = 0;

	CHECK_INT(notification_time_parse(text, is_end, &t, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(t, want);
}

static void check_time_refused(const char *text, const char *want)
{
	char err[160] = "";
	time_t t = 12345;

	CHECK_INT(notification_time_parse(text, false, &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, want);
	CHECK_INT(t, 12345); /* untouched on failure */
}

static bool is_lower_hex_id(const char *id)
{
	if (strlen(id) != NOTIFICATION_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* The id of a file's only entry, copied out. */
static void id_of(const char *text, char id[NOTIFICATION_ID_LEN + 1])
{
	struct parsed p;

	parse(&p, text);
	CHECK_INT(p.r, 0);
	CHECK_INT(p.l.n, 1);
	CHECK_INT(p.d.n, 0);
	strcpy(id, p.l.n == 1 ? p.l.items[0].id : "");
	done(&p);
}

TEST(guide_example)
{
	struct parsed p;

	use_tz("America/New_York");
	parse(&p, "StartTime: 2017-08-30 09:00:00 -5:00\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "Message: " T_MSG1 "\n"
	          "\n"
	          "StartTime: 2017-05-30 05:55\n"
	          "EndTime: 2017-06-13\n"
	          "Message: This is a test notification. Notifications can span\n"
	          "   multiple lines by indenting the next line's message text.\n"
	          "   Empty lines are not supported!\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 2);
	if (p.l.n == 2) {
		const struct notification *a = &p.l.items[0], *b = &p.l.items[1];

		CHECK(a->has_start);
		CHECK_INT(a->start, 1504101600); /* 2017-08-30 14:00:00 UTC */
		CHECK_INT(a->end, 1504141200);   /* 2017-08-31 01:00:00 UTC */
		CHECK_STR(a->message, T_MSG1);
		CHECK_INT(a->line, 1);
		CHECK(is_lower_hex_id(a->id));

		/* Local times in New York, summer time (UTC-4). */
		CHECK(b->has_start);
		CHECK_INT(b->start, 1496138100); /* 2017-05-30 09:55:00 UTC */
		CHECK_INT(b->end, 1497412799);   /* 2017-06-14 03:59:59 UTC */
		CHECK_STR(b->message, "This is a test notification. Notifications can span\n"
		                      "multiple lines by indenting the next line's message text.\n"
		                      "Empty lines are not supported!");
		CHECK_INT(b->line, 5);
		CHECK(is_lower_hex_id(b->id));
		CHECK(strcmp(a->id, b->id) != 0);
	}
	done(&p);
}

TEST(guide_okay_one_entry)
{
	struct parsed p;

	parse(&p, "StartTime: 2017-08-30 12:00:00 -5:00\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "Message: " T_MSG1 "\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1) {
		CHECK_INT(p.l.items[0].start, 1504112400); /* 17:00 UTC */
		CHECK_INT(p.l.items[0].end, 1504141200);
	}
	done(&p);
}

TEST(guide_okay_two_entries)
{
	struct parsed p;

	parse(&p, "StartTime: 2017-08-30 08:00:00 -5:00\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "Message: " T_MSG1 "\n"
	          "\n"
	          "StartTime: 2017-08-30 08:00:00 -5:00\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "Message: " T_MSG2 "\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 2);
	if (p.l.n == 2) {
		CHECK_STR(p.l.items[0].message, T_MSG1);
		CHECK_INT(p.l.items[0].line, 1);
		CHECK_STR(p.l.items[1].message, T_MSG2);
		CHECK_INT(p.l.items[1].line, 5);
		CHECK_INT(p.l.items[1].start, 1504098000); /* 13:00 UTC */
	}
	done(&p);
}

/* The guide's first "not okay": blank lines between one entry's fields. */
TEST(guide_refused_blank_lines_inside_entry)
{
	struct parsed p;

	parse(&p, "StartTime: 2017-08-30 12:00:00 -5:00\n"
	          "\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "\n"
	          "Message: " T_MSG1 "\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.l.n, 0);
	CHECK_INT(p.d.n, 3);
	check_warning(&p, 0, 1, "entry has no EndTime and no Message");
	check_warning(&p, 1, 3, "entry has no Message");
	check_warning(&p, 2, 5, "entry has no EndTime");
	CHECK_INT(diag_errors(&p.d), 0);
	done(&p);
}

/* The guide's second "not okay": entries two blank lines apart. */
TEST(guide_refused_two_blank_lines_between)
{
	struct parsed p;

	parse(&p, "StartTime: 2017-08-30 12:00:00 -5:00\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "Message: " T_MSG1 "\n"
	          "\n"
	          "\n"
	          "StartTime: 2017-08-30 12:00:00 -5:00\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "Message: " T_MSG2 "\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 5,
	              "more than one blank line between entries; entries are separated by "
	              "exactly one");
	/* Both are still delivered. */
	CHECK_INT(p.l.n, 2);
	if (p.l.n == 2) {
		CHECK_STR(p.l.items[0].message, T_MSG1);
		CHECK_INT(p.l.items[0].line, 1);
		CHECK_STR(p.l.items[1].message, T_MSG2);
		CHECK_INT(p.l.items[1].line, 6);
	}
	done(&p);
}

TEST(blank_lines_at_edges_and_runs)
{
	struct parsed p;

	/* Leading and trailing blank (and whitespace-only) lines are fine. */
	parse(&p, "\n \n\t\nEndTime: 2030-01-01\nMessage: a\n\n\n  \n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1)
		CHECK_INT(p.l.items[0].line, 4);
	done(&p);

	/* A run of three blank lines gives one warning, at the second. */
	parse(&p, "EndTime: 2030-01-01\nMessage: a\n\n  \n\nEndTime: 2030-01-01\nMessage: b\n");
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 4, "more than one blank line");
	CHECK_INT(p.l.n, 2);
	done(&p);

	/* Empty input and a file of blank lines: nothing, quietly. */
	parse(&p, "");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.l.n, 0);
	CHECK(p.l.items == NULL);
	CHECK_INT(p.d.n, 0);
	done(&p);
	parse(&p, "\n\n\n");
	CHECK_INT(p.l.n, 0);
	CHECK_INT(p.d.n, 0);
	done(&p);
}

TEST(time_formats_utc)
{
	use_tz("UTC");
	check_time("2020-01-01", false, 1577836800);
	check_time("2020-01-01", true, 1577923199);
	check_time("2020-01-01 18:00", false, 1577901600);
	check_time("2020-01-01 18:00", true, 1577901600); /* a time: no end default */
	check_time("2020-01-01 18:00:30", false, 1577901630);
	check_time("2020-11-30 09:14:12 -08:00", false, 1606756452);
	check_time("1970-01-01 00:00:00", false, 0);
	check_time("9999-12-31 23:59:59 +00:00", false, 253402300799);
}

TEST(time_formats_new_york)
{
	use_tz("America/New_York");
	/* Winter: EST, UTC-5. */
	check_time("2020-01-01 18:00", false, 1577919600);
	check_time("2024-01-15 12:00:00", false, 1705338000);
	/* Summer: EDT, UTC-4. */
	check_time("2024-07-01 12:00", false, 1719849600);
	/* The day summer time starts is 23 hours long: midnight is EST,
	 * 23:59:59 is EDT. */
	check_time("2024-03-10", false, 1710046800);
	check_time("2024-03-10", true, 1710129599);
	/* An explicit zone ignores TZ. */
	check_time("2020-11-30 09:14:12 -08:00", false, 1606756452);
	use_tz("UTC");
}

/* The guide's table of example times, in a UTC server. */
TEST(guide_time_table)
{
	use_tz("UTC");
	check_time("2020-01-01 18:00", false, 1577901600);
	check_time("2018-07-31", false, 1532995200);
	check_time("2019-09-23", true, 1569283199);
	check_time("2020-11-30 09:14:12 -08:00", false, 1606756452);
}

TEST(time_zone_spellings_and_spacing)
{
	char a[NOTIFICATION_ID_LEN + 1], b[NOTIFICATION_ID_LEN + 1];

	use_tz("America/New_York");
	check_time("2017-08-30 09:00:00 -5:00", false, 1504101600);
	check_time("2017-08-30 09:00:00 -05:00", false, 1504101600);
	check_time("2020-11-30 09:14:12 +05:30", false, 1606707852);
	check_time("2020-11-30 09:14:12 +5:30", false, 1606707852);
	check_time("2020-11-30 09:14:12 +00:00", false, 1606727652);
	check_time("2020-11-30 09:14:12 -00:00", false, 1606727652);
	check_time("2020-11-30 09:14:12 +14:00", false, 1606677252);
	/* Runs of spaces and tabs between parts, and around the value. */
	check_time("  2017-08-30 \t 09:00:00\t\t-5:00 ", false, 1504101600);

	/* Same instant, same id. */
	id_of("StartTime: 2017-08-30 09:00:00 -5:00\nEndTime: 2017-08-30 20:00:00 -05:00\n"
	      "Message: hi\n",
	      a);
	id_of("StartTime: 2017-08-30 09:00:00 -05:00\nEndTime: 2017-08-30 20:00:00 -5:00\n"
	      "Message: hi\n",
	      b);
	CHECK_STR(a, b);
	/* And the same instant written in another zone. */
	id_of("StartTime: 2017-08-30 10:00:00 -04:00\nEndTime: 2017-08-31 01:00:00 +0:00\n"
	      "Message: hi\n",
	      b);
	CHECK_STR(a, b);
	use_tz("UTC");
}

TEST(time_errors)
{
	use_tz("UTC");
	check_time_refused("2017-13-01", "month 13 out of range (01..12)");
	check_time_refused("2017-00-10", "month 00 out of range (01..12)");
	check_time_refused("2023-02-29", "day 29 out of range (01..28 for 2023-02)");
	check_time("2024-02-29", false, 1709164800);
	check_time("2000-02-29", false, 951782400); /* divisible by 400: leap */
	check_time_refused("1900-02-29", "year 1900 out of range");
	check_time_refused("2100-02-29", "day 29 out of range (01..28 for 2100-02)");
	check_time_refused("2017-04-31", "day 31 out of range (01..30 for 2017-04)");
	check_time_refused("2017-01-00", "day 00 out of range");
	check_time_refused("0217-08-30", "year 0217 out of range (1970..9999)");
	check_time_refused("2017-08-30 24:00", "hour 24 out of range (00..23)");
	check_time_refused("2017-08-30 25:00", "hour 25 out of range (00..23)");
	check_time_refused("2017-08-30 12:60", "minute 60 out of range (00..59)");
	check_time_refused("2017-08-30 23:59:60", "second 60 out of range (00..59)");
	check_time_refused("tomorrow", "expected YYYY-MM-DD [hh:mm[:ss [zh:zm]]]");
	check_time_refused("", "expected YYYY-MM-DD");
	check_time_refused("2017-8-30", "expected YYYY-MM-DD");
	check_time_refused("17-08-30", "expected YYYY-MM-DD");
	check_time_refused("2017/08/30", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30x", "expected YYYY-MM-DD");
	check_time_refused("2017-08-300", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30 9:00", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30 09:00:0", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30 09:00 pm", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30T09:00:00", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30 09:00:00-05:00", "expected YYYY-MM-DD");
	check_time_refused("2017-08-30 09:00 -05:00", "a time zone needs seconds");
	check_time_refused("2017-08-30 09:00:00 -5",
	                   "bad time zone '-5' (expected zh:zm, e.g. -05:00)");
	check_time_refused("2017-08-30 09:00:00 05:00", "bad time zone '05:00'");
	check_time_refused("2017-08-30 09:00:00 -0500", "bad time zone '-0500'");
	check_time_refused("2017-08-30 09:00:00 -05:0", "bad time zone '-05:0'");
	check_time_refused("2017-08-30 09:00:00 -005:00", "bad time zone '-005:00'");
	check_time_refused("2017-08-30 09:00:00 PST", "bad time zone 'PST'");
	check_time_refused("2017-08-30 09:00:00 -05:00 x", "bad time zone '-05:00 x'");
	check_time_refused("2017-08-30 09:00:00 +15:00", "hours 15 out of range (0..14)");
	check_time_refused("2017-08-30 09:00:00 +05:60", "minutes 60 out of range (00..59)");
	/* Control characters are not copied into the message. */
	check_time_refused("2017-08-30 09:00:00 \033[2J", "bad time zone '?[2J'");
}

/* The same errors as warnings in a file: field, value and line. */
TEST(time_errors_in_file)
{
	use_tz("UTC");
	check_entry_refused("StartTime: 2017-13-01\nEndTime: 2017-12-01\nMessage: m\n", 1,
	                    "StartTime '2017-13-01': month 13 out of range (01..12)");
	check_entry_refused("StartTime: 2017-08-30\nEndTime: 2017-08-30 25:00\nMessage: m\n", 2,
	                    "EndTime '2017-08-30 25:00': hour 25 out of range (00..23)");
	check_entry_refused("EndTime: 2017-08-30 20:00:00 -5\nMessage: m\n", 1,
	                    "EndTime '2017-08-30 20:00:00 -5': bad time zone '-5' (expected "
	                    "zh:zm, e.g. -05:00)");
	check_entry_refused("Message: m\nEndTime: tomorrow\n", 2,
	                    "EndTime 'tomorrow': expected YYYY-MM-DD [hh:mm[:ss [zh:zm]]]");
	check_entry_refused("EndTime: 2023-02-29\nMessage: m\n", 1,
	                    "EndTime '2023-02-29': day 29 out of range");
	check_entry_refused("EndTime: 2017-08-30 12:60\nMessage: m\n", 1,
	                    "EndTime '2017-08-30 12:60': minute 60 out of range (00..59)");
	check_entry_refused("EndTime: 2017-08-30 24:00\nMessage: m\n", 1,
	                    "EndTime '2017-08-30 24:00': hour 24 out of range (00..23)");
	check_entry_refused("EndTime:\nMessage: m\n", 1, "EndTime '': expected YYYY-MM-DD");

	/* Both bad times of one entry are reported, each at its line. */
	{
		struct parsed p;

		parse(&p, "StartTime: 2017-02-30\nEndTime: 2017-02-31\nMessage: m\n");
		CHECK_INT(p.l.n, 0);
		CHECK_INT(p.d.n, 2);
		check_warning(&p, 0, 1, "StartTime '2017-02-30': day 30");
		check_warning(&p, 1, 2, "EndTime '2017-02-31': day 31");
		done(&p);
	}
}

TEST(date_only_defaults)
{
	struct parsed p;

	use_tz("UTC");
	parse(&p, "StartTime: 2018-07-31\nEndTime: 2018-07-31\nMessage: one day\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1) {
		CHECK_INT(p.l.items[0].start, 1532995200);       /* 00:00:00 */
		CHECK_INT(p.l.items[0].end, 1532995200 + 86399); /* 23:59:59 */
	}
	done(&p);

	use_tz("America/New_York");
	parse(&p, "StartTime: 2018-07-31\nEndTime: 2018-07-31\nMessage: one day\n");
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1) {
		CHECK_INT(p.l.items[0].start, 1532995200 + 4 * 3600);
		CHECK_INT(p.l.items[0].end, 1532995200 + 4 * 3600 + 86399);
	}
	done(&p);
	use_tz("UTC");
}

TEST(optional_start)
{
	struct parsed p;

	use_tz("UTC");
	parse(&p, "EndTime: 2020-01-01\nMessage: no start\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1) {
		CHECK(!p.l.items[0].has_start);
		CHECK_INT(p.l.items[0].end, 1577923199);
	}
	done(&p);
}

TEST(missing_fields)
{
	check_entry_refused("StartTime: 2017-08-30\nMessage: m\n", 1, "entry has no EndTime");
	check_entry_refused("StartTime: 2017-08-30\nEndTime: 2017-08-31\n", 1,
	                    "entry has no Message");
	/* At the entry's first line, not the file's. */
	{
		struct parsed p;

		parse(&p, "EndTime: 2030-01-01\nMessage: ok\n\nMessage: m\n");
		CHECK_INT(p.l.n, 1);
		CHECK_INT(p.d.n, 1);
		check_warning(&p, 0, 4, "entry has no EndTime");
		done(&p);
	}
}

TEST(empty_message)
{
	struct parsed p;

	check_entry_refused("EndTime: 2030-01-01\nMessage:\n", 2, "Message is empty");
	check_entry_refused("EndTime: 2030-01-01\nMessage:   \t\n", 2, "Message is empty");

	/* Text starting on the line after "Message:" is not empty, and does
	 * not begin with an empty line. */
	parse(&p, "EndTime: 2030-01-01\nMessage:\n  first\n  second\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1)
		CHECK_STR(p.l.items[0].message, "first\nsecond");
	done(&p);
}

TEST(duplicate_field)
{
	check_entry_refused("EndTime: 2030-01-01\nEndTime: 2030-01-02\nMessage: m\n", 2,
	                    "EndTime given twice (lines 1 and 2)");
	check_entry_refused("Message: a\nEndTime: 2030-01-01\nmessage: b\n", 3,
	                    "Message given twice (lines 1 and 3)");
	check_entry_refused("StartTime: 2020-01-01\nEndTime: 2030-01-01\nStartTime: 2020-01-01\n"
	                    "Message: m\n",
	                    3, "StartTime given twice (lines 1 and 3)");
}

TEST(unknown_field)
{
	struct parsed p;

	check_entry_refused("EndTme: 2030-01-01\nMessage: m\n", 1,
	                    "unknown field 'EndTme' (did you mean 'EndTime'?)");
	check_entry_refused("EndTime: 2030-01-01\nMesage: m\n", 2,
	                    "unknown field 'Mesage' (did you mean 'Message'?)");
	check_entry_refused("Start_Time: 2020-01-01\nEndTime: 2030-01-01\nMessage: m\n", 1,
	                    "unknown field 'Start_Time' (did you mean 'StartTime'?)");
	check_entry_refused("END TIME: 2030-01-01\nMessage: m\n", 1,
	                    "unknown field 'END TIME' (did you mean 'EndTime'?)");
	check_entry_refused("EndTime: 2030-01-01\nMessage: m\nColour: red\n", 3,
	                    "unknown field 'Colour' (expected StartTime, EndTime or Message)");
	/* An unindented line that was meant to continue the message. */
	check_entry_refused("EndTime: 2030-01-01\nMessage: m\nNote: more text\n", 3,
	                    "unknown field 'Note'");
	check_entry_refused("EndTime: 2030-01-01\nMessage: m\n: x\n", 3, "no field name");

	/* Names are case-insensitive; spaces around the colon are fine. */
	parse(&p, "starttime: 2020-01-01\nENDTIME : 2030-01-01\nmEsSaGe:m\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1)
		CHECK_STR(p.l.items[0].message, "m");
	done(&p);
}

TEST(continuation_errors)
{
	struct parsed p;

	check_entry_refused("Message: m\nEndTime: 2030-01-01\n  more\n", 3,
	                    "indented line 'more' continues a Message, but the field before it "
	                    "is EndTime");
	check_entry_refused("  EndTime: 2030-01-01\nMessage: m\n", 1,
	                    "continues a Message, but no field comes before it");
	/* After an unknown field, only that field is reported. */
	check_entry_refused("EndTime: 2030-01-01\nMesage: m\n  more\n", 2, "unknown field");
	check_entry_refused("EndTime: 2030-01-01\nMessage m\n", 2,
	                    "line 'Message m' is not a field (expected 'Name: value')");

	/* Continuation lines are trimmed; tabs indent too. */
	parse(&p, "EndTime: 2030-01-01\nMessage:   a  \n\t b \t\n      c\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1)
		CHECK_STR(p.l.items[0].message, "a\nb\nc");
	done(&p);
}

TEST(end_before_start)
{
	struct parsed p;

	use_tz("UTC");
	check_entry_refused("StartTime: 2017-08-31\nEndTime: 2017-08-30\nMessage: m\n", 1,
	                    "EndTime '2017-08-30' (line 2) is before StartTime '2017-08-31' "
	                    "(line 1)");
	/* The same instant twice is a notice of one second's length. */
	parse(&p, "StartTime: 2017-08-30 09:00:00 -5:00\nEndTime: 2017-08-30 14:00:00 +00:00\n"
	          "Message: m\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	done(&p);
}

TEST(nul_byte)
{
	static const char text[] = "EndTime: 2030-01-01\nMessage: bad\0byte\n"
	                           "\n"
	                           "EndTime: 2030-01-01\nMessage: good\n";
	static const char text2[] = "\0\nEndTime: 2030-01-01\nMessage: m\n";
	struct parsed p;

	parse_len(&p, text, sizeof(text) - 1);
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 2, "NUL byte");
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1) {
		CHECK_STR(p.l.items[0].message, "good");
		CHECK_INT(p.l.items[0].line, 4);
	}
	done(&p);

	/* A NUL on an otherwise blank line belongs to an entry. */
	parse_len(&p, text2, sizeof(text2) - 1);
	CHECK_INT(p.l.n, 0);
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 1, "NUL byte");
	done(&p);
}

TEST(crlf_file)
{
	struct parsed p;

	use_tz("America/New_York");
	parse(&p, "StartTime: 2017-08-30 09:00:00 -5:00\r\n"
	          "EndTime: 2017-08-30 20:00:00 -05:00\r\n"
	          "Message: " T_MSG1 "\r\n"
	          "\r\n"
	          "StartTime: 2017-05-30 05:55\r\n"
	          "EndTime: 2017-06-13\r\n"
	          "Message: line one\r\n"
	          "   line two\r\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 2);
	if (p.l.n == 2) {
		CHECK_STR(p.l.items[0].message, T_MSG1);
		CHECK_INT(p.l.items[0].end, 1504141200);
		CHECK_STR(p.l.items[1].message, "line one\nline two");
		CHECK_INT(p.l.items[1].end, 1497412799);
		CHECK_INT(p.l.items[1].line, 5);
	}
	done(&p);
	use_tz("UTC");
}

TEST(byte_order_mark)
{
	struct parsed p;

	parse(&p, "\xEF\xBB\xBF"
	          "EndTime: 2030-01-01\nMessage: m\n");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	done(&p);
}

TEST(no_final_newline)
{
	struct parsed p;

	parse(&p, "EndTime: 2030-01-01\nMessage: last");
	CHECK_INT(p.d.n, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1)
		CHECK_STR(p.l.items[0].message, "last");
	done(&p);
}

TEST(id_stability)
{
	char a[NOTIFICATION_ID_LEN + 1], b[NOTIFICATION_ID_LEN + 1];
	const char *base = "StartTime: 2017-08-30 09:00:00 -5:00\n"
	                   "EndTime: 2017-08-30 20:00:00 -05:00\n"
	                   "Message: " T_MSG1 "\n";

	use_tz("UTC");
	id_of(base, a);
	CHECK(is_lower_hex_id(a));
	/* The serialisation is fixed: SHA-256 of "start=1504101600\nend=
	 * 1504141200\nmessage=..." (no newlines inside the numbers). */
	CHECK_STR(a, "893b7d14b94f6335");
	id_of(base, b);
	CHECK_STR(a, b);

	/* Whitespace and spelling changes keep the id. */
	id_of("starttime:2017-08-30   09:00:00\t-05:00  \r\n"
	      "ENDTIME :  2017-08-30 20:00:00 -5:00\r\n"
	      "Message:    " T_MSG1 "   \r\n",
	      b);
	CHECK_STR(a, b);
	/* Field order does not matter either. */
	id_of("Message: " T_MSG1 "\n"
	      "EndTime: 2017-08-30 20:00:00 -05:00\n"
	      "StartTime: 2017-08-30 09:00:00 -5:00\n",
	      b);
	CHECK_STR(a, b);

	/* Editing the message or a time makes a new notification. */
	id_of("StartTime: 2017-08-30 09:00:00 -5:00\n"
	      "EndTime: 2017-08-30 20:00:00 -05:00\n"
	      "Message: Please remember to shut down your computers at the end of the day!\n",
	      b);
	CHECK(strcmp(a, b) != 0);
	id_of("StartTime: 2017-08-30 09:00:01 -5:00\n"
	      "EndTime: 2017-08-30 20:00:00 -05:00\n"
	      "Message: " T_MSG1 "\n",
	      b);
	CHECK(strcmp(a, b) != 0);
	id_of("EndTime: 2017-08-30 20:00:00 -05:00\n"
	      "Message: " T_MSG1 "\n",
	      b);
	CHECK(strcmp(a, b) != 0);

	/* Continuation indentation is whitespace; the line breaks are not. */
	id_of("EndTime: 2020-01-01\nMessage: Hello\n  world\n", a);
	CHECK_STR(a, "ea74f8fb7a67b3e0");
	id_of("EndTime: 2020-01-01\nMessage: Hello  \n\t\t world\n", b);
	CHECK_STR(a, b);
	id_of("EndTime: 2020-01-01\nMessage: Hello world\n", b);
	CHECK(strcmp(a, b) != 0);
}

TEST(comments_ignored)
{
	struct parsed p;

	use_tz("UTC");
	parse(&p, "# notifications.conf\n"
	          "#StartTime: 2017-08-30 09:00:00 -5:00\n"
	          "#EndTime: 2017-08-30 20:00:00 -05:00\n"
	          "#Message: commented out\n"
	          "\n"
	          "EndTime: 2030-01-01\n"
	          "# between fields: does not end the entry\n"
	          "Message: first\n"
	          "   # an indented comment inside the message\n"
	          "   second\n"
	          "\n"
	          "  # before the next entry\n"
	          "Bogus comment-like line: no\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.l.n, 1);
	if (p.l.n == 1) {
		CHECK_STR(p.l.items[0].message, "first\nsecond");
		CHECK_INT(p.l.items[0].line, 6);
	}
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 13, "unknown field 'Bogus comment-like line'");
	done(&p);

	/* A comment between two blank lines does not separate them. */
	parse(&p, "EndTime: 2030-01-01\nMessage: a\n\n# x\n\nEndTime: 2030-01-01\nMessage: b\n");
	CHECK_INT(p.l.n, 2);
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 5, "more than one blank line");
	done(&p);
}

TEST(active_boundaries)
{
	struct notification n = {.has_start = true, .start = 100, .end = 200};

	CHECK(!notification_active(&n, 99));
	CHECK(notification_active(&n, 100));
	CHECK(notification_active(&n, 150));
	CHECK(notification_active(&n, 200));
	CHECK(!notification_active(&n, 201));
	n.has_start = false;
	CHECK(notification_active(&n, -1000000));
	CHECK(notification_active(&n, 200));
	CHECK(!notification_active(&n, 201));
	n.has_start = true;
	n.start = n.end = 300;
	CHECK(notification_active(&n, 300));
	CHECK(!notification_active(&n, 299));
	CHECK(!notification_active(&n, 301));
}

TEST(bad_entry_among_good)
{
	struct parsed p;

	use_tz("UTC");
	parse(&p, "StartTime: 2020-01-01\n"
	          "EndTime: 2020-01-02\n"
	          "Message: first\n"
	          "\n"
	          "StartTime: 2020-01-01\n"
	          "EndTime: 2020-02-30\n"
	          "Message: broken\n"
	          "\n"
	          "EndTime: 2020-01-03\n"
	          "Message: third\n"
	          "  continued\n");
	CHECK_INT(p.r, 0);
	CHECK_INT(p.d.n, 1);
	check_warning(&p, 0, 6, "EndTime '2020-02-30': day 30 out of range");
	CHECK_INT(p.l.n, 2);
	if (p.l.n == 2) {
		CHECK_STR(p.l.items[0].message, "first");
		CHECK_INT(p.l.items[0].line, 1);
		CHECK_INT(p.l.items[0].start, 1577836800);
		CHECK_INT(p.l.items[0].end, 1577836800 + 2 * 86400 - 1);
		CHECK_STR(p.l.items[1].message, "third\ncontinued");
		CHECK_INT(p.l.items[1].line, 9);
		CHECK(!p.l.items[1].has_start);
	}
	done(&p);
}

TEST(long_and_odd_text_is_quoted_safely)
{
	char text[512];
	struct parsed p;

	/* A long unknown name is cut in the warning. */
	memset(text, 'x', 300);
	strcpy(text + 300, ": 1\nEndTime: 2030-01-01\nMessage: m\n");
	parse(&p, text);
	CHECK_INT(p.l.n, 0);
	CHECK_INT(p.d.n, 1);
	if (p.d.n == 1) {
		CHECK_CONTAINS(p.d.entries[0].message, "xxx...'");
		CHECK(strlen(p.d.entries[0].message) < 140);
	}
	done(&p);

	/* Escape sequences do not reach the message. */
	parse(&p, "EndTime: 2030-01-01\nMessage: m\n\033[31mred: x\n");
	CHECK_INT(p.d.n, 1);
	if (p.d.n == 1) {
		CHECK(strchr(p.d.entries[0].message, '\033') == NULL);
		CHECK_CONTAINS(p.d.entries[0].message, "'?[31mred'");
	}
	done(&p);
}

TEST(load)
{
	char dir[] = "/tmp/test-notifications-XXXXXX", path[128];
	struct notification_list l = {0};
	struct diag d;
	FILE *f;

	diag_init(&d);
	CHECK(mkdtemp(dir) != NULL);

	/* Missing: empty, no problem. */
	snprintf(path, sizeof(path), "%s/notifications.conf", dir);
	CHECK_INT(notifications_load(path, &l, &d), 0);
	CHECK_INT(l.n, 0);
	CHECK_INT(d.n, 0);

	/* Present: parsed, with the path as the file name. */
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("EndTime: 2030-01-01\nMessage: hi\n\nEndTime: soon\nMessage: x\n", f);
		fclose(f);
	}
	CHECK_INT(notifications_load(path, &l, &d), 0);
	CHECK_INT(l.n, 1);
	CHECK_INT(d.n, 1);
	if (d.n == 1) {
		CHECK_STR(d.entries[0].file, path);
		CHECK_INT(d.entries[0].line, 4);
	}
	notification_list_free(&l);
	CHECK(l.items == NULL && l.n == 0);
	notification_list_free(&l); /* twice is fine */
	notification_list_free(NULL);
	diag_free(&d);
	diag_init(&d);

	/* Larger than 1 MiB: refused as a whole, nothing recorded. */
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		for (int i = 0; i < 1024 * 1024 + 1; i++)
			fputc('#', f);
		fclose(f);
	}
	CHECK_INT(notifications_load(path, &l, &d), -EFBIG);
	CHECK_INT(l.n, 0);
	CHECK_INT(d.n, 0);
	unlink(path);

	/* Other read errors are returned for the caller to report. */
	CHECK_INT(notifications_load(dir, &l, &d), -EISDIR);
	CHECK_INT(l.n, 0);
	CHECK_INT(d.n, 0);

	rmdir(dir);
	diag_free(&d);
}

int main(void)
{
	RUN(guide_example);
	RUN(guide_okay_one_entry);
	RUN(guide_okay_two_entries);
	RUN(guide_refused_blank_lines_inside_entry);
	RUN(guide_refused_two_blank_lines_between);
	RUN(blank_lines_at_edges_and_runs);
	RUN(time_formats_utc);
	RUN(time_formats_new_york);
	RUN(guide_time_table);
	RUN(time_zone_spellings_and_spacing);
	RUN(time_errors);
	RUN(time_errors_in_file);
	RUN(date_only_defaults);
	RUN(optional_start);
	RUN(missing_fields);
	RUN(empty_message);
	RUN(duplicate_field);
	RUN(unknown_field);
	RUN(continuation_errors);
	RUN(end_before_start);
	RUN(nul_byte);
	RUN(crlf_file);
	RUN(byte_order_mark);
	RUN(no_final_newline);
	RUN(id_stability);
	RUN(comments_ignored);
	RUN(active_boundaries);
	RUN(bad_entry_among_good);
	RUN(long_and_odd_text_is_quoted_safely);
	RUN(load);
	return test_summary();
}
