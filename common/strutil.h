/*
 * String helpers shared by the parsers: trimming, bounded number parsing,
 * line iteration over a buffer, and edit distance for "did you mean".
 *
 * All functions are allocation-free unless they say otherwise and return
 * negative errno values on failure, leaving output parameters untouched.
 */
#ifndef RSERVER_STRUTIL_H
#define RSERVER_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Copies exactly n bytes of s (which need not be NUL-terminated) into a
 * new NUL-terminated string; NULL on allocation failure. */
char *str_copy_n(const char *s, size_t n);

/*
 * Makes *buf (of capacity *cap) hold at least need bytes, doubling from
 * 256 so that appending n bytes at a time costs O(n) overall. -ENOMEM
 * leaves *buf and *cap unchanged.
 */
int mem_reserve(char **buf, size_t *cap, size_t need);

/* Trims ASCII whitespace at both ends, in place; returns the new start. */
char *str_trim(char *s);

/* True when s is empty or only ASCII whitespace. */
bool str_blank(const char *s);

/*
 * Parses a whole decimal integer (optional sign, no trailing garbage, no
 * surrounding space). -EINVAL if malformed, -ERANGE if outside [min, max].
 */
int str_to_llong(const char *s, long long min, long long max, long long *ret);

/*
 * Parses a whole non-exponent decimal number such as "0.05" or "120".
 * -EINVAL if malformed (including "nan", "inf", hex), -ERANGE if outside
 * [min, max].
 */
int str_to_double(const char *s, double min, double max, double *ret);

/* Levenshtein distance, capped at 255 for long strings. */
unsigned str_edit_distance(const char *a, const char *b);

/*
 * Makes bytes valid UTF-8 for JSON: every invalid byte becomes U+FFFD. An
 * incomplete sequence at the very end is not replaced but left out, and its
 * length returned in *ret_pending, so that a stream cut between writes can
 * prepend it to the next piece. out must hold 3 * len bytes; returns the
 * number of bytes written.
 */
size_t utf8_sanitize(const char *in, size_t len, char *out, size_t *ret_pending);

/* Line iterator over a buffer that may lack a final newline and may start
 * with a UTF-8 byte order mark (skipped). */
struct line_iter {
	const char *buf;
	size_t len;
	size_t pos;
	unsigned lineno; /* number of the line last returned, 1-based */
};

void line_iter_init(struct line_iter *it, const char *buf, size_t len);

/*
 * Returns the next line without its "\n" or "\r\n" in *ret_start and *ret_len.
 * Returns false at the end. *ret_has_nul is set when the line contains a NUL
 * byte, which no configuration file may contain.
 */
bool line_iter_next(struct line_iter *it, const char **ret_start, size_t *ret_len,
                    bool *ret_has_nul);

/*
 * Reads a whole regular file of at most max bytes into a NUL-terminated
 * malloc'd buffer. -ENOENT if missing, -EFBIG if larger than max, other
 * negative errno values as open/read report them.
 */
int file_read_all(const char *path, size_t max, char **ret_buf, size_t *ret_len);

#endif
