/*
 * CPU lists; see cpulist.h.
 *
 * Administrators number cores from 1 (as the RStudio profiles do) while the
 * kernel numbers them from 0, so the only place the two meet is here: the
 * parser subtracts one and the formatter adds it back. Everything is checked
 * when the list is read, so that a typo in a profile refuses the file instead
 * of silently pinning a session to the wrong cores.
 */
#include "cpulist.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Writes a message into err when the caller gave room for one. */
#define ERR(...)                                                                                   \
	do {                                                                                       \
		if (err && errsize)                                                                \
			snprintf(err, errsize, __VA_ARGS__);                                       \
	} while (0)

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p;
}

/*
 * Reads one core number (digits only: no sign, no space) at *p. Returns 1 on
 * success, 0 when there are no digits, -ERANGE when above CPULIST_MAX.
 */
static int read_core(const char **p, const char *end, unsigned *ret)
{
	const char *q = *p;
	unsigned long v = 0;

	if (q == end || !isdigit((unsigned char)*q))
		return 0;
	for (; q < end && isdigit((unsigned char)*q); q++) {
		/* Stop growing once past the limit so that a long run of
		 * digits cannot overflow; the result is too big either way. */
		if (v <= CPULIST_MAX)
			v = v * 10 + (unsigned long)(*q - '0');
	}
	*p = q;
	if (v > CPULIST_MAX)
		return -ERANGE;
	*ret = (unsigned)v;
	return 1;
}

/*
 * Parses one item ("7" or "3-5", already without surrounding space) into
 * [*ret_lo, *ret_hi], 1-based. On failure writes why into err.
 */
static int parse_item(unsigned idx, const char *s, size_t n, unsigned *ret_lo, unsigned *ret_hi,
                      char *err, size_t errsize)
{
	const char *p = s, *end = s + n;
	unsigned lo, hi;
	int r;

	r = read_core(&p, end, &lo);
	if (r == -ERANGE)
		goto too_big;
	if (r == 0)
		goto garbage;
	hi = lo;
	p = skip_space(p, end);
	if (p < end && *p == '-') {
		p = skip_space(p + 1, end);
		r = read_core(&p, end, &hi);
		if (r == -ERANGE)
			goto too_big;
		if (r == 0)
			goto garbage;
	}
	if (p != end)
		goto garbage;
	if (lo == 0 || hi == 0) {
		ERR("item %u ('%.*s'): core 0 does not exist: cores are numbered from 1", idx,
		    (int)n, s);
		return -EINVAL;
	}
	if (hi < lo) {
		ERR("item %u ('%.*s') is a reversed range", idx, (int)n, s);
		return -EINVAL;
	}
	*ret_lo = lo;
	*ret_hi = hi;
	return 0;
too_big:
	ERR("item %u ('%.*s') names a core above %d", idx, (int)n, s, CPULIST_MAX);
	return -EINVAL;
garbage:
	ERR("item %u ('%.*s') is not a core number or a range such as 3-5", idx, (int)n, s);
	return -EINVAL;
}

int cpulist_parse(const char *text, cpu_set_t *set, char *err, size_t errsize)
{
	const char *p = text;
	unsigned idx = 0;
	cpu_set_t s;

	CPU_ZERO(&s);
	if (!text || !*skip_space(text, text + strlen(text))) {
		ERR("the list is empty");
		return -EINVAL;
	}
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *a = skip_space(p, end), *b = end;
		unsigned lo, hi;

		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		idx++;
		if (a == b) {
			ERR("item %u is empty%s", idx, comma ? "" : " (trailing comma)");
			return -EINVAL;
		}
		if (parse_item(idx, a, (size_t)(b - a), &lo, &hi, err, errsize) < 0)
			return -EINVAL;
		for (unsigned c = lo; c <= hi; c++)
			CPU_SET(c - 1, &s);
		if (!comma)
			break;
		p = comma + 1;
	}
	*set = s;
	return 0;
}

/*
 * Writes the list into buf when it fits in size (buf may be NULL) and
 * returns the length the whole text needs, so one pass can measure and a
 * second one write.
 */
static size_t format_into(const cpu_set_t *set, char *buf, size_t size)
{
	size_t pos = 0;

	if (buf && size)
		buf[0] = '\0';
	for (unsigned c = 0; c < CPU_SETSIZE; c++) {
		char item[32];
		unsigned run;
		int k;

		if (!CPU_ISSET(c, set))
			continue;
		for (run = c; run + 1 < CPU_SETSIZE && CPU_ISSET(run + 1, set); run++)
			;
		/* Any run of two or more cores is a range: one canonical
		 * spelling for every set, so equal sets print alike. */
		if (run > c)
			k = snprintf(item, sizeof(item), "%s%u-%u", pos ? "," : "", c + 1, run + 1);
		else
			k = snprintf(item, sizeof(item), "%s%u", pos ? "," : "", c + 1);
		if (buf && pos + (size_t)k < size)
			memcpy(buf + pos, item, (size_t)k + 1);
		pos += (size_t)k;
		c = run;
	}
	return pos;
}

int cpulist_format(const cpu_set_t *set, char *buf, size_t size)
{
	/* Measure first so that a short buffer is left untouched. */
	if (format_into(set, NULL, 0) >= size)
		return -ENOBUFS;
	format_into(set, buf, size);
	return 0;
}

int cpulist_check_online(const cpu_set_t *set, const cpu_set_t *online, char *err, size_t errsize)
{
	for (unsigned c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, set) && !CPU_ISSET(c, online)) {
			ERR("core %u does not exist (%d online)", c + 1, CPU_COUNT(online));
			return -ENODEV;
		}
	}
	return 0;
}
