/*
 * notifications.conf: administrator notices for every session.
 *
 * Format (RStudio's): entries separated by one blank line, each made of
 * "StartTime: <time>" (optional), "EndTime: <time>" (required) and
 * "Message: <text>" (required), one field per line; a Message continues on
 * following lines that start with whitespace, each becoming a new line of
 * the message. Lines starting with "#" are comments. Times:
 *   YYYY-MM-DD                      start 00:00:00 / end 23:59:59 local time
 *   YYYY-MM-DD hh:mm                local time, seconds 00
 *   YYYY-MM-DD hh:mm:ss             local time
 *   YYYY-MM-DD hh:mm:ss zh:zm       that UTC offset; "-5:00" and "-05:00"
 *
 * A bad entry is skipped with a file:line warning naming the problem; the
 * good entries are kept. Each entry gets an id derived from its normalised
 * content (instants and message), so editing an entry makes a new id while
 * re-saving it unchanged, or re-spelling a zone, keeps the old one.
 */
#ifndef RSERVER_NOTIFICATIONS_H
#define RSERVER_NOTIFICATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "diag.h"

#define NOTIFICATION_ID_LEN 16 /* hex characters */

struct notification {
	char id[NOTIFICATION_ID_LEN + 1];
	bool has_start;
	time_t start; /* valid when has_start */
	time_t end;
	char *message; /* lines joined with "\n" */
	unsigned line; /* first line of the entry in the file */
};

struct notification_list {
	struct notification *items;
	size_t n;
};

/*
 * Parses text. Bad entries go to d as warnings (never errors: a broken
 * notice must not stop the server) and are left out of *ret. Returns 0 or
 * -ENOMEM. *ret is always initialised, possibly empty.
 */
int notifications_parse(const char *file, const char *buf, size_t len,
                        struct notification_list *ret, struct diag *d);

/* Reads path; a missing file is an empty list and no problem. */
int notifications_load(const char *path, struct notification_list *ret, struct diag *d);

void notification_list_free(struct notification_list *l);

/* True when now lies within [start, end] (start absent = always started). */
bool notification_active(const struct notification *n, time_t now);

/*
 * Parses one time field as it appears after "StartTime:" / "EndTime:".
 * is_end selects the date-only default (23:59:59 instead of 00:00:00).
 * Local times use the process's time zone (TZ). On error writes a message
 * into err and returns -EINVAL.
 */
int notification_time_parse(const char *text, bool is_end, time_t *ret, char *err, size_t errsize);

#endif
