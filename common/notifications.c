/*
 * notifications.conf parser; see notifications.h for the format.
 *
 * The file is read line by line into one pending entry at a time. Each line
 * is either a comment (ignored entirely), blank (ends the pending entry), a
 * continuation (indented: more Message text) or a "Name: value" field. A
 * problem on a line is reported at that line and marks the pending entry
 * bad; a bad entry is dropped when it ends, without the entry-level checks
 * (missing fields and so on), which would only repeat the same mistake in
 * other words. Entries that pass are appended in file order.
 *
 * Warnings quote the administrator's text, cut to a readable length and
 * with control characters replaced, so a stray escape sequence in the file
 * cannot reach a terminal or a log through us.
 */
#include "notifications.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "strutil.h"

#define NOTIFICATIONS_MAX_SIZE (1024 * 1024)

#define TIME_FORMAT "YYYY-MM-DD [hh:mm[:ss [zh:zm]]]"

/* Quoted excerpts: at most EXCERPT_BYTES of text, then "..." and a NUL. */
#define EXCERPT_BYTES 60
#define EXCERPT_SIZE  (EXCERPT_BYTES + 4)

#define TIME_ERR_SIZE 160

enum field {
	F_START,
	F_END,
	F_MESSAGE,
	F_COUNT,
	F_NONE, /* no field line yet in this entry */
	F_BAD,  /* the last field line was itself unusable */
};

static const char *const field_names[F_COUNT] = {"StartTime", "EndTime", "Message"};

/* The entry being read. */
struct pending {
	bool open;
	bool bad;
	unsigned first_line;
	enum field last;
	unsigned line[F_COUNT]; /* 0: field not given */
	time_t time[2];         /* F_START, F_END */
	char time_text[2][EXCERPT_SIZE];
	char *msg;
	size_t msg_len, msg_cap;
};

/*
 * Copies at most EXCERPT_BYTES of s[0..n) into out, control characters
 * replaced by '?', and marks a cut with "...". The cut backs off to a UTF-8
 * character boundary so the excerpt stays valid text when the input was.
 */
static const char *excerpt(char out[static EXCERPT_SIZE], const char *s, size_t n)
{
	size_t k = n > EXCERPT_BYTES ? EXCERPT_BYTES : n;

	if (k < n)
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	if (k < n) {
		memcpy(out + k, "...", 4);
	} else {
		out[k] = '\0';
	}
	return out;
}

static void set_err(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (!err || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

static void warn(struct diag *d, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Records a warning. A failure to record sets d->oom, which the caller sees
 * through diag_errors(); it is no reason to withhold the good entries.
 */
static void warn(struct diag *d, const char *file, unsigned line, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	if (!d)
		return;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		d->oom = true;
		return;
	}
	(void)diag_add(d, DIAG_WARNING, file, line, "%s", msg);
	free(msg);
}

/* ---- times ---- */

/* Reads exactly n decimal digits at *p (not past end). */
static bool take_digits(const char **p, const char *end, int n, int *ret)
{
	int v = 0;

	if (end - *p < n)
		return false;
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)(*p)[i];
		if (!isdigit(c))
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

static bool take_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

/* Skips a run of spaces and tabs; true if there was at least one. */
static bool take_blanks(const char **p, const char *end)
{
	const char *s = *p;

	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	return *p > s;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Parses "[+-]H:MM" or "[+-]HH:MM" spanning exactly [p, end). */
static int parse_zone(const char *p, const char *end, long *ret_offset, char *err, size_t errsize)
{
	char q[EXCERPT_SIZE];
	int sign, zh, zm;

	excerpt(q, p, (size_t)(end - p));
	if (take_char(&p, end, '+'))
		sign = 1;
	else if (take_char(&p, end, '-'))
		sign = -1;
	else
		goto bad;
	/* One or two hour digits: try two first, then one. */
	if (!take_digits(&p, end, 2, &zh) && !take_digits(&p, end, 1, &zh))
		goto bad;
	if (!take_char(&p, end, ':') || !take_digits(&p, end, 2, &zm) || p != end)
		goto bad;
	if (zh > 14) {
		set_err(err, errsize, "time zone '%s': hours %d out of range (0..14)", q, zh);
		return -EINVAL;
	}
	if (zm > 59) {
		set_err(err, errsize, "time zone '%s': minutes %02d out of range (00..59)", q, zm);
		return -EINVAL;
	}
	*ret_offset = sign * ((long)zh * 3600 + (long)zm * 60);
	return 0;
bad:
	set_err(err, errsize, "bad time zone '%s' (expected zh:zm, e.g. -05:00)", q);
	return -EINVAL;
}

int notification_time_parse(const char *text, bool is_end, time_t *ret, char *err, size_t errsize)
{
	const char *p = text, *end = text + strlen(text);
	struct tm tm = {0};
	int year, mon, day, hour = 0, min = 0, sec = 0;
	bool has_zone = false;
	long offset = 0;
	time_t t;
	int r;

	/* Surrounding whitespace is not part of the value. */
	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;

	if (!take_digits(&p, end, 4, &year) || !take_char(&p, end, '-') ||
	    !take_digits(&p, end, 2, &mon) || !take_char(&p, end, '-') ||
	    !take_digits(&p, end, 2, &day))
		goto format;
	/* Years before 1970 are almost surely typos ("0217"), and a notice
	 * that ended then could never be shown anyway. */
	if (year < 1970) {
		set_err(err, errsize, "year %04d out of range (1970..9999)", year);
		return -EINVAL;
	}
	if (mon < 1 || mon > 12) {
		set_err(err, errsize, "month %02d out of range (01..12)", mon);
		return -EINVAL;
	}
	if (day < 1 || day > days_in_month(year, mon)) {
		set_err(err, errsize, "day %02d out of range (01..%02d for %04d-%02d)", day,
		        days_in_month(year, mon), year, mon);
		return -EINVAL;
	}

	if (p == end) {
		/* Date only: the whole day, in local time. */
		if (is_end) {
			hour = 23;
			min = 59;
			sec = 59;
		}
	} else {
		if (!take_blanks(&p, end) || !take_digits(&p, end, 2, &hour) ||
		    !take_char(&p, end, ':') || !take_digits(&p, end, 2, &min))
			goto format;
		if (hour > 23) {
			set_err(err, errsize, "hour %02d out of range (00..23)", hour);
			return -EINVAL;
		}
		if (min > 59) {
			set_err(err, errsize, "minute %02d out of range (00..59)", min);
			return -EINVAL;
		}
		if (take_char(&p, end, ':')) {
			if (!take_digits(&p, end, 2, &sec))
				goto format;
			/* No leap second: neither mktime nor timegm would keep it. */
			if (sec > 59) {
				set_err(err, errsize, "second %02d out of range (00..59)", sec);
				return -EINVAL;
			}
			if (p != end) {
				if (!take_blanks(&p, end)) {
					goto format;
				}
				r = parse_zone(p, end, &offset, err, errsize);
				if (r < 0)
					return r;
				has_zone = true;
			}
		} else if (p != end) {
			/* The format only has a zone after seconds; say so
			 * rather than calling it garbage. */
			if (take_blanks(&p, end) && p < end && (*p == '+' || *p == '-')) {
				set_err(err, errsize,
				        "a time zone needs seconds before it (hh:mm:ss zh:zm)");
				return -EINVAL;
			}
			goto format;
		}
	}

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	/* (time_t)-1 is also a valid instant; an untouched tm_wday is how we
	 * tell a real failure (a time_t too narrow for the year) apart. */
	tm.tm_wday = 7;
	if (has_zone) {
		t = timegm(&tm);
	} else {
		tm.tm_isdst = -1; /* let the zone rules decide summer time */
		t = mktime(&tm);
	}
	if (t == (time_t)-1 && tm.tm_wday == 7) {
		set_err(err, errsize, "time cannot be represented on this system");
		return -EINVAL;
	}
	*ret = t - (time_t)offset;
	return 0;

format:
	set_err(err, errsize, "expected " TIME_FORMAT);
	return -EINVAL;
}

/* ---- entries ---- */

static int msg_append(struct pending *e, const char *s, size_t n)
{
	if (mem_reserve(&e->msg, &e->msg_cap, e->msg_len + n + 1) < 0)
		return -ENOMEM;
	memcpy(e->msg + e->msg_len, s, n);
	e->msg_len += n;
	e->msg[e->msg_len] = '\0';
	return 0;
}

static void pending_reset(struct pending *e)
{
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

/* First 16 hex digits of SHA-256 over the entry's normalised content. */
static int compute_id(const struct notification *n, char id[static NOTIFICATION_ID_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char head[96];
	size_t hlen, mlen = strlen(n->message);
	char *buf;
	int k;

	if (n->has_start)
		k = snprintf(head, sizeof(head),
		             "start=%lld\nend=%lld\nmessage=", (long long)n->start,
		             (long long)n->end);
	else
		k = snprintf(head, sizeof(head), "start=-\nend=%lld\nmessage=", (long long)n->end);
	hlen = (size_t)k;
	buf = malloc(hlen + mlen);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, head, hlen);
	memcpy(buf + hlen, n->message, mlen);
	/* SHA-256 is built in; the only way for this to fail is OpenSSL
	 * failing to allocate its digest context. */
	k = EVP_Digest(buf, hlen + mlen, md, &mdlen, EVP_sha256(), NULL);
	free(buf);
	if (k != 1 || mdlen < NOTIFICATION_ID_LEN / 2)
		return -ENOMEM;
	for (size_t i = 0; i < NOTIFICATION_ID_LEN / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int list_append(struct notification_list *l, size_t *cap, struct notification *n)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct notification *v = reallocarray(l->items, ncap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->items = v;
		*cap = ncap;
	}
	l->items[l->n++] = *n;
	return 0;
}

/* Ends the pending entry: checks it as a whole and keeps it if good. */
static int pending_finish(struct pending *e, const char *file, struct notification_list *l,
                          size_t *cap, struct diag *d)
{
	struct notification n = {0};
	int r = 0;

	if (!e->open || e->bad)
		goto out;
	if (!e->line[F_END] || !e->line[F_MESSAGE]) {
		warn(d, file, e->first_line, "entry has no %s (a blank line ends an entry)",
		     !e->line[F_END] && !e->line[F_MESSAGE] ? "EndTime and no Message"
		     : !e->line[F_END]                      ? "EndTime"
		                                            : "Message");
		goto out;
	}
	if (e->msg_len == 0) {
		warn(d, file, e->line[F_MESSAGE], "Message is empty");
		goto out;
	}
	if (e->line[F_START] && e->time[F_END] < e->time[F_START]) {
		warn(d, file, e->first_line,
		     "EndTime '%s' (line %u) is before StartTime '%s' (line %u)",
		     e->time_text[F_END], e->line[F_END], e->time_text[F_START], e->line[F_START]);
		goto out;
	}

	n.has_start = e->line[F_START] != 0;
	n.start = n.has_start ? e->time[F_START] : 0;
	n.end = e->time[F_END];
	n.message = e->msg;
	n.line = e->first_line;
	r = compute_id(&n, n.id);
	if (r < 0)
		goto out;
	r = list_append(l, cap, &n);
	if (r < 0)
		goto out;
	e->msg = NULL; /* now owned by the list */
out:
	pending_reset(e);
	return r;
}

static enum field field_lookup(const char *name)
{
	for (int f = 0; f < F_COUNT; f++)
		if (strcasecmp(name, field_names[f]) == 0)
			return (enum field)f;
	return F_NONE;
}

/* The known field closest to name, or NULL when none is near. */
static const char *field_suggest(const char *name)
{
	char lower[64];
	size_t n = strlen(name);
	unsigned best = 4;
	const char *hint = NULL;

	if (n >= sizeof(lower))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	for (int f = 0; f < F_COUNT; f++) {
		char known[16];
		size_t k = strlen(field_names[f]);
		unsigned dist;

		for (size_t i = 0; i <= k; i++)
			known[i] = (char)tolower((unsigned char)field_names[f][i]);
		dist = str_edit_distance(lower, known);
		if (dist < best) {
			best = dist;
			hint = field_names[f];
		}
	}
	return hint;
}

/* Handles one "Name: value" line (line is NUL-terminated and writable). */
static int field_line(struct pending *e, char *line, size_t len, unsigned lineno, const char *file,
                      struct diag *d)
{
	char q[EXCERPT_SIZE], qv[EXCERPT_SIZE], err[TIME_ERR_SIZE];
	char *colon = strchr(line, ':');
	char *name, *value;
	enum field f;

	if (!colon) {
		warn(d, file, lineno, "line '%s' is not a field (expected 'Name: value')",
		     excerpt(q, line, len));
		goto bad;
	}
	*colon = '\0';
	name = str_trim(line);
	value = str_trim(colon + 1);
	if (!*name) {
		warn(d, file, lineno, "no field name before ':' in ': %s'",
		     excerpt(qv, value, strlen(value)));
		goto bad;
	}
	f = field_lookup(name);
	if (f == F_NONE) {
		const char *hint = field_suggest(name);

		excerpt(q, name, strlen(name));
		if (hint)
			warn(d, file, lineno, "unknown field '%s' (did you mean '%s'?)", q, hint);
		else
			warn(d, file, lineno,
			     "unknown field '%s' (expected StartTime, EndTime or Message)", q);
		goto bad;
	}
	e->last = f;
	if (e->line[f]) {
		warn(d, file, lineno, "%s given twice (lines %u and %u)", field_names[f],
		     e->line[f], lineno);
		e->bad = true;
		return 0;
	}
	e->line[f] = lineno;

	if (f == F_MESSAGE) {
		/* Allocate even for an empty first line so the message exists. */
		return msg_append(e, value, strlen(value));
	}
	excerpt(e->time_text[f], value, strlen(value));
	if (notification_time_parse(value, f == F_END, &e->time[f], err, sizeof(err)) < 0) {
		warn(d, file, lineno, "%s '%s': %s", field_names[f], e->time_text[f], err);
		e->bad = true;
	}
	return 0;
bad:
	e->last = F_BAD;
	e->bad = true;
	return 0;
}

/* Handles an indented line: more text for the Message just above. */
static int continuation_line(struct pending *e, char *line, unsigned lineno, const char *file,
                             struct diag *d)
{
	char q[EXCERPT_SIZE];
	char *text;

	if (e->last == F_BAD)
		return 0; /* already reported with the field line above */
	text = str_trim(line);
	if (e->last != F_MESSAGE) {
		excerpt(q, text, strlen(text));
		if (e->last == F_NONE)
			warn(d, file, lineno,
			     "indented line '%s' continues a Message, but no field comes "
			     "before it",
			     q);
		else
			warn(d, file, lineno,
			     "indented line '%s' continues a Message, but the field before it "
			     "is %s",
			     q, field_names[e->last]);
		e->bad = true;
		return 0;
	}
	if (e->bad)
		return 0; /* the message will be dropped; no need to build it */
	/* "Message:" with its text starting on the next line reads naturally;
	 * do not begin such a message with an empty line. */
	if (e->msg_len > 0 && msg_append(e, "\n", 1) < 0)
		return -ENOMEM;
	return msg_append(e, text, strlen(text));
}

int notifications_parse(const char *file, const char *buf, size_t len,
                        struct notification_list *ret, struct diag *d)
{
	struct notification_list l = {0};
	struct pending e = {0};
	struct line_iter it;
	const char *start;
	char *copy = NULL;
	size_t n, cap = 0;
	bool has_nul, seen_entry = false;
	unsigned blank_run = 0, second_blank = 0;
	int r = 0;

	ret->items = NULL;
	ret->n = 0;

	/* Lines are cut in place, so work on a copy with room for a NUL. */
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, buf, len);
	copy[len] = '\0';

	/* line_iter skips a UTF-8 byte order mark. */
	line_iter_init(&it, copy, len);

	while (line_iter_next(&it, &start, &n, &has_nul)) {
		char *line = (char *)start;
		unsigned lineno = it.lineno;

		/* The iterator has moved past this line's end, so its "\r" or
		 * "\n" (or the spare byte at the end) can become the NUL. */
		line[n] = '\0';

		if (!has_nul) {
			const char *p = line;

			while (isspace((unsigned char)*p))
				p++;
			if (*p == '#')
				continue; /* comments are neither blank nor fields */
			if (*p == '\0') {
				r = pending_finish(&e, file, &l, &cap, d);
				if (r < 0)
					goto out;
				if (++blank_run == 2)
					second_blank = lineno;
				continue;
			}
		}

		if (!e.open) {
			/* Warned only now, when another entry follows: blank
			 * lines at the end of the file are harmless. */
			if (seen_entry && blank_run >= 2)
				warn(d, file, second_blank,
				     "more than one blank line between entries; entries are "
				     "separated by exactly one");
			e.open = true;
			e.first_line = lineno;
			e.last = F_NONE;
			seen_entry = true;
		}
		blank_run = 0;

		if (has_nul) {
			warn(d, file, lineno, "line contains a NUL byte");
			e.last = F_BAD;
			e.bad = true;
		} else if (isspace((unsigned char)line[0])) {
			r = continuation_line(&e, line, lineno, file, d);
		} else {
			r = field_line(&e, line, n, lineno, file, d);
		}
		if (r < 0)
			goto out;
	}
	r = pending_finish(&e, file, &l, &cap, d);
	if (r < 0)
		goto out;

	*ret = l;
	l.items = NULL;
	l.n = 0;
out:
	pending_reset(&e);
	notification_list_free(&l);
	free(copy);
	return r;
}

int notifications_load(const char *path, struct notification_list *ret, struct diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	ret->items = NULL;
	ret->n = 0;
	r = file_read_all(path, NOTIFICATIONS_MAX_SIZE, &buf, &len);
	if (r == -ENOENT)
		return 0; /* no notices is the normal state */
	if (r < 0)
		return r; /* the caller reports it, e.g. -EFBIG */
	r = notifications_parse(path, buf, len, ret, d);
	free(buf);
	return r;
}

void notification_list_free(struct notification_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].message);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

bool notification_active(const struct notification *n, time_t now)
{
	return (!n->has_start || n->start <= now) && now <= n->end;
}
