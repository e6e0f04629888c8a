/*
 * The configuration engine: declarative key tables and a strict parser for
 * RStudio-style "key=value" files (rserver.conf, rsession.conf,
 * database.conf), optionally with "[*]" / "[@program]" sections
 * (logging.conf). The profiles parser reuses the key tables and
 * conf_value_parse() for its own section semantics.
 *
 * Rules every file shares:
 *  - "#" starts a comment only at the beginning of a line (after optional
 *    whitespace): values such as rsession-exec-command may contain "#".
 *  - "key=value" and "key = value" are the same; the value is trimmed.
 *  - An unknown key, a malformed or out-of-range value, a line without "="
 *    or a NUL byte is an error with file:line; parsing goes on so that every
 *    problem is reported. A key given twice: the later wins, with a warning.
 *  - An empty value for a string or path key means "unset"; for a number or
 *    bool it is an error.
 */
#ifndef RSERVER_CONF_H
#define RSERVER_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "diag.h"

enum conf_type {
	CONF_BOOL,     /* "0" or "1" */
	CONF_INT,      /* whole number within [min, max] */
	CONF_DECIMAL,  /* decimal number within [min, max], e.g. "0.05" minutes */
	CONF_STRING,   /* free text; empty = unset */
	CONF_NAME,     /* user, group or PAM service name; empty = unset */
	CONF_PATH,     /* absolute path; empty = unset */
	CONF_PATHLIST, /* ":"-separated absolute paths; empty = unset */
	CONF_ENUM,     /* one of "a|b|c" in choices */
	CONF_ADDRESS,  /* IPv4 or IPv6 literal */
	CONF_CPULIST,  /* 1-based cores and ranges, "1,2,15-16"; kept normalised */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	double min, max;     /* CONF_INT, CONF_DECIMAL */
	const char *choices; /* CONF_ENUM: "ask|yes|no" */
	const char *def;     /* default as text; "" = unset */
	bool reloadable;     /* takes effect on SIGHUP without a restart */
	const char *description;
	/* Optional extra check on the text after the type check passed;
	 * writes a message and returns false to refuse the value. */
	bool (*check)(const char *value, char *err, size_t errsize);
};

struct conf_table {
	const char *file; /* base name, e.g. "rserver.conf" */
	const struct conf_key *keys;
	size_t nkeys;
	bool sections; /* "[*]" and "[@program]" sections allowed */
};

union conf_val {
	bool b;
	long long i;
	double d;
	char *s; /* NULL when unset */
};

struct conf_value {
	union conf_val v;
	bool set;      /* given in a file or on the command line */
	char *origin;  /* file name or "command line"; NULL for defaults */
	unsigned line; /* 0 for defaults and the command line */
};

struct conf {
	const struct conf_table *table;
	struct conf_value *values; /* table->nkeys entries */
};

/* Allocates a configuration holding every key's default. */
int conf_new(const struct conf_table *t, struct conf **ret);
void conf_free(struct conf *c);

/*
 * Parses text and applies it on top of c. program selects which "[@name]"
 * sections apply in a sectioned file (others are checked, not applied).
 * Problems go to d. Returns 0, or -ENOMEM. Errors in the text do not make
 * the call fail: callers look at diag_errors(d).
 */
int conf_parse_buffer(struct conf *c, const char *file, const char *buf, size_t len,
                      const char *program, struct diag *d);

/* Reads and parses path; a missing file leaves the defaults and is fine. */
int conf_load_file(struct conf *c, const char *path, const char *program, struct diag *d);

/* Sets one key from text, as from "--key=value". -ENOENT: no such key;
 * -EINVAL: bad value (described in d). */
int conf_set(struct conf *c, const char *key, const char *value, const char *origin, unsigned line,
             struct diag *d);

/* A user, group or PAM service name: POSIX portable characters, not
 * starting with '-', optionally ending in '$'. */
bool conf_name_valid(const char *s);

/* Index of a key in t, or -1. */
int conf_key_index(const struct conf_table *t, const char *name);

/* The closest key name within edit distance 3, for "did you mean", or NULL. */
const char *conf_suggest(const struct conf_table *t, const char *name);

/* Records "unknown key 'x' (did you mean 'y'?)" (or without a suggestion,
 * or "missing key before '='" for an empty key) as an error in d. */
void conf_report_unknown_key(const struct conf_table *t, const char *file, unsigned line,
                             const char *key, struct diag *d);

/*
 * Checks text against a key's type and bounds. On success stores the value
 * in *ret (a malloc'd normalised string for text types, NULL for empty) and
 * returns 0. On failure writes a message naming the key, the value and the
 * allowed range into err and returns -EINVAL (or -ENOMEM).
 */
int conf_value_parse(const struct conf_key *k, const char *text, union conf_val *ret, char *err,
                     size_t errsize);
void conf_value_free(const struct conf_key *k, union conf_val *v);

/* Writes a value in the syntax conf_value_parse() accepts. */
void conf_value_print(const struct conf_key *k, const union conf_val *v, FILE *out);
bool conf_value_equal(const struct conf_key *k, const union conf_val *a, const union conf_val *b);

/* Typed getters by index; callers use the enum from settings.h. */
bool conf_bool(const struct conf *c, unsigned idx);
long long conf_int(const struct conf *c, unsigned idx);
double conf_decimal(const struct conf *c, unsigned idx);
const char *conf_str(const struct conf *c, unsigned idx); /* NULL if unset */

/*
 * Prints every key as "key=value" in table order, re-parsable by
 * conf_parse_buffer(). With comments, each key is preceded by its
 * description, default and origin.
 */
void conf_print(const struct conf *c, FILE *out, bool comments);

/* True when both hold the same values for every key. */
bool conf_equal(const struct conf *a, const struct conf *b);

/*
 * Moves the values of reloadable keys from fresh into live (both of the same
 * table), so that pointers to live stay valid. For each key whose value
 * differs: a reloadable key takes fresh's value, origin and line (the value
 * structs are swapped, so fresh now holds the old value and is freed by the
 * caller with conf_free()) and on_change(key, true, arg) is called; a fixed
 * key keeps its value and on_change(key, false, arg) is called: it "needs a
 * restart". Returns the number of keys that differed (both kinds), or
 * -EINVAL when the tables differ. on_change may be NULL.
 */
int conf_take_reloadable(struct conf *live, struct conf *fresh,
                         void (*on_change)(const struct conf_key *k, bool applied, void *arg),
                         void *arg);

#endif
