/*
 * The configuration engine; see conf.h for the file rules.
 *
 * Values are validated by type when they are read, never when they are used:
 * once a struct conf exists every value in it is in range, so programs can
 * use the typed getters without checks of their own.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpulist.h"
#include "strutil.h"

#define CONF_MAX_FILE_SIZE (1024 * 1024)
#define CONF_MAX_DECIMALS  6

static bool is_text_type(enum conf_type t)
{
	return t == CONF_STRING || t == CONF_NAME || t == CONF_PATH || t == CONF_PATHLIST ||
	       t == CONF_ENUM || t == CONF_ADDRESS || t == CONF_CPULIST;
}

int conf_key_index(const struct conf_table *t, const char *name)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *conf_suggest(const struct conf_table *t, const char *name)
{
	const char *best = NULL;
	unsigned best_d = 4;

	for (size_t i = 0; i < t->nkeys; i++) {
		unsigned d = str_edit_distance(name, t->keys[i].name);
		if (d < best_d) {
			best_d = d;
			best = t->keys[i].name;
		}
	}
	return best;
}

void conf_report_unknown_key(const struct conf_table *t, const char *file, unsigned line,
                             const char *key, struct diag *d)
{
	const char *sugg = conf_suggest(t, key);

	if (!*key)
		diag_add(d, DIAG_ERROR, file, line, "missing key before '='");
	else if (sugg)
		diag_add(d, DIAG_ERROR, file, line, "unknown key '%s' (did you mean '%s'?)", key,
		         sugg);
	else
		diag_add(d, DIAG_ERROR, file, line, "unknown key '%s' for %s", key, t->file);
}

/*
 * Prints the shortest fixed-point form that reads back to the same double:
 * "0.05", "525600". Never an exponent, which the parser would refuse.
 */
static void format_number(double v, char *buf, size_t size)
{
	for (int decimals = 0; decimals <= CONF_MAX_DECIMALS; decimals++) {
		snprintf(buf, size, "%.*f", decimals, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

bool conf_name_valid(const char *s)
{
	size_t n = strlen(s);

	/* POSIX portable user/group names, not starting with '-', plus the
	 * trailing '$' of Samba machine accounts. */
	if (n == 0 || n > 256 || s[0] == '-' || s[0] == '$')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-')
			continue;
		if (s[i] == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

static bool path_valid(const char *s, char *err, size_t errsize, const char *key)
{
	if (s[0] != '/') {
		snprintf(err, errsize, "%s: '%s' is not an absolute path", key, s);
		return false;
	}
	return true;
}

static bool enum_has(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

/* Describes a malformed (-EINVAL) or out-of-range number with its bounds. */
static int number_error(const struct conf_key *k, const char *text, int r, const char *what,
                        char *err, size_t errsize)
{
	char lo[32], hi[32];

	format_number(k->min, lo, sizeof(lo));
	format_number(k->max, hi, sizeof(hi));
	if (r == -EINVAL)
		snprintf(err, errsize, "%s: '%s' is not %s (allowed %s..%s)", k->name, text, what,
		         lo, hi);
	else
		snprintf(err, errsize, "%s: %s is out of range (allowed %s..%s)", k->name, text, lo,
		         hi);
	return r;
}

int conf_value_parse(const struct conf_key *k, const char *text, union conf_val *ret, char *err,
                     size_t errsize)
{
	union conf_val v = {0};
	int r;

	switch (k->type) {
	case CONF_BOOL:
		if (strcmp(text, "0") && strcmp(text, "1")) {
			snprintf(err, errsize, "%s: '%s' is not a boolean (expected 0 or 1)",
			         k->name, text);
			return -EINVAL;
		}
		v.b = text[0] == '1';
		break;
	case CONF_INT:
		r = str_to_llong(text, (long long)k->min, (long long)k->max, &v.i);
		if (r < 0)
			return number_error(k, text, r, "a whole number", err, errsize);
		break;
	case CONF_DECIMAL:
		/* Six decimal places are finer than any timeout needs, and with
		 * at most six the shortest printed form always reads back to the
		 * same double (the round trip of --print-config). */
		if (strchr(text, '.') && strlen(strchr(text, '.') + 1) > CONF_MAX_DECIMALS) {
			snprintf(err, errsize, "%s: '%s' has more than %d decimal places", k->name,
			         text, CONF_MAX_DECIMALS);
			return -EINVAL;
		}
		r = str_to_double(text, k->min, k->max, &v.d);
		if (r < 0)
			return number_error(k, text, r, "a number", err, errsize);
		break;
	case CONF_STRING:
	case CONF_NAME:
	case CONF_PATH:
	case CONF_PATHLIST:
	case CONF_ENUM:
	case CONF_ADDRESS:
	case CONF_CPULIST:
		if (!*text && k->type != CONF_ENUM && k->type != CONF_ADDRESS &&
		    k->type != CONF_CPULIST)
			break; /* empty = unset */
		if (k->type == CONF_NAME && !conf_name_valid(text)) {
			snprintf(err, errsize,
			         "%s: '%s' is not a valid name (letters, digits, '.', '_', '-')",
			         k->name, text);
			return -EINVAL;
		}
		if (k->type == CONF_PATH && !path_valid(text, err, errsize, k->name))
			return -EINVAL;
		if (k->type == CONF_PATHLIST) {
			char *copy = strdup(text), *save = NULL;
			bool ok = true;
			if (!copy)
				return -ENOMEM;
			for (char *p = strtok_r(copy, ":", &save); p && ok;
			     p = strtok_r(NULL, ":", &save))
				ok = path_valid(p, err, errsize, k->name);
			free(copy);
			if (!ok)
				return -EINVAL;
		}
		if (k->type == CONF_ENUM && !enum_has(k->choices, text)) {
			snprintf(err, errsize, "%s: '%s' is not one of %s", k->name, text,
			         k->choices);
			return -EINVAL;
		}
		if (k->type == CONF_ADDRESS) {
			unsigned char addr[16];
			if (inet_pton(AF_INET, text, addr) != 1 &&
			    inet_pton(AF_INET6, text, addr) != 1) {
				snprintf(err, errsize, "%s: '%s' is not an IPv4 or IPv6 address",
				         k->name, text);
				return -EINVAL;
			}
		}
		if (k->type == CONF_CPULIST) {
			char why[160], norm[4096];
			cpu_set_t set;
			if (cpulist_parse(text, &set, why, sizeof(why)) < 0) {
				snprintf(err, errsize, "%s: '%s': %s", k->name, text, why);
				return -EINVAL;
			}
			if (cpulist_format(&set, norm, sizeof(norm)) < 0)
				return -ENOMEM;
			v.s = strdup(norm);
			if (!v.s)
				return -ENOMEM;
			break;
		}
		if (k->check && !k->check(text, err, errsize))
			return -EINVAL;
		v.s = strdup(text);
		if (!v.s)
			return -ENOMEM;
		break;
	}
	if (k->check && !is_text_type(k->type) && !k->check(text, err, errsize))
		return -EINVAL;
	*ret = v;
	return 0;
}

void conf_value_free(const struct conf_key *k, union conf_val *v)
{
	if (is_text_type(k->type)) {
		free(v->s);
		v->s = NULL;
	}
}

void conf_value_print(const struct conf_key *k, const union conf_val *v, FILE *out)
{
	char num[32];

	switch (k->type) {
	case CONF_BOOL:
		fputs(v->b ? "1" : "0", out);
		break;
	case CONF_INT:
		fprintf(out, "%lld", v->i);
		break;
	case CONF_DECIMAL:
		format_number(v->d, num, sizeof(num));
		fputs(num, out);
		break;
	default:
		if (v->s)
			fputs(v->s, out);
		break;
	}
}

bool conf_value_equal(const struct conf_key *k, const union conf_val *a, const union conf_val *b)
{
	switch (k->type) {
	case CONF_BOOL:
		return a->b == b->b;
	case CONF_INT:
		return a->i == b->i;
	case CONF_DECIMAL:
		return a->d == b->d;
	default:
		if (!a->s || !b->s)
			return a->s == b->s;
		return strcmp(a->s, b->s) == 0;
	}
}

static void value_clear(const struct conf_key *k, struct conf_value *cv)
{
	conf_value_free(k, &cv->v);
	free(cv->origin);
	cv->origin = NULL;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	if (c->values)
		for (size_t i = 0; i < c->table->nkeys; i++)
			value_clear(&c->table->keys[i], &c->values[i]);
	free(c->values);
	free(c);
}

int conf_new(const struct conf_table *t, struct conf **ret)
{
	struct conf *c;
	char err[256];
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->table = t;
	c->values = calloc(t->nkeys, sizeof(*c->values));
	if (!c->values) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct conf_key *k = &t->keys[i];
		/* An empty default means "unset" (0 for a number). */
		if (!*k->def)
			continue;
		r = conf_value_parse(k, k->def, &c->values[i].v, err, sizeof(err));
		if (r < 0)
			goto fail; /* a broken built-in table is a programming error */
	}
	*ret = c;
	return 0;
fail:
	conf_free(c);
	return r == -ENOMEM ? r : -EINVAL;
}

static int value_store(struct conf *c, size_t idx, const union conf_val *v, const char *origin,
                       unsigned line)
{
	struct conf_value *cv = &c->values[idx];
	char *o = NULL;

	if (origin) {
		o = strdup(origin);
		if (!o)
			return -ENOMEM;
	}
	value_clear(&c->table->keys[idx], cv);
	cv->v = *v;
	cv->set = true;
	cv->origin = o;
	cv->line = line;
	return 0;
}

int conf_set(struct conf *c, const char *key, const char *value, const char *origin, unsigned line,
             struct diag *d)
{
	int idx = conf_key_index(c->table, key);
	union conf_val v;
	char err[512];
	int r;

	if (idx < 0)
		return -ENOENT;
	r = conf_value_parse(&c->table->keys[idx], value, &v, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		diag_add(d, DIAG_ERROR, origin, line, "%s", err);
		return r;
	}
	r = value_store(c, (size_t)idx, &v, origin, line);
	if (r < 0)
		conf_value_free(&c->table->keys[idx], &v);
	return r;
}

/*
 * Handles a "[...]" header in a sectioned file. Returns whether the lines
 * that follow apply to program.
 */
static bool section_applies(const char *file, unsigned lineno, char *header, const char *program,
                            struct diag *d, bool *ret_valid)
{
	size_t n = strlen(header);
	char *name;

	*ret_valid = false;
	if (n < 2 || header[n - 1] != ']') {
		diag_add(d, DIAG_ERROR, file, lineno, "malformed section header '%s'", header);
		return false;
	}
	header[n - 1] = '\0';
	name = str_trim(header + 1);
	if (strcmp(name, "*") == 0) {
		*ret_valid = true;
		return true;
	}
	if (name[0] == '@' && conf_name_valid(name + 1)) {
		*ret_valid = true;
		return program && strcmp(name + 1, program) == 0;
	}
	diag_add(d, DIAG_ERROR, file, lineno, "section '[%s]' must be [*] or [@program]", name);
	return false;
}

int conf_parse_buffer(struct conf *c, const char *file, const char *buf, size_t len,
                      const char *program, struct diag *d)
{
	const struct conf_table *t = c->table;
	unsigned *seen_line; /* where each key was last set in this text */
	bool applies = !t->sections, in_section = false;
	struct line_iter it;
	const char *start;
	size_t n;
	bool nul;
	int r = 0;

	seen_line = calloc(t->nkeys, sizeof(*seen_line));
	if (!seen_line)
		return -ENOMEM;
	line_iter_init(&it, buf, len);
	while (line_iter_next(&it, &start, &n, &nul)) {
		char *line, *s, *eq, *key, *value;
		int idx;

		if (nul) {
			diag_add(d, DIAG_ERROR, file, it.lineno, "line contains a NUL byte");
			continue;
		}
		line = str_copy_n(start, n);
		if (!line) {
			r = -ENOMEM;
			break;
		}
		s = str_trim(line);
		if (*s == '\0' || *s == '#')
			goto next;
		if (*s == '[') {
			bool valid;
			if (!t->sections) {
				diag_add(d, DIAG_ERROR, file, it.lineno,
				         "sections are not allowed in %s: '%s'", t->file, s);
				goto next;
			}
			applies = section_applies(file, it.lineno, s, program, d, &valid);
			in_section = valid;
			/* Settings in a new section are a fresh scope for the
			 * "given twice" warning. */
			memset(seen_line, 0, t->nkeys * sizeof(*seen_line));
			goto next;
		}
		eq = strchr(s, '=');
		if (!eq) {
			diag_add(d, DIAG_ERROR, file, it.lineno, "expected 'key=value', got '%s'",
			         s);
			goto next;
		}
		*eq = '\0';
		key = str_trim(s);
		value = str_trim(eq + 1);
		if (t->sections && !in_section) {
			diag_add(d, DIAG_ERROR, file, it.lineno,
			         "'%s' is outside any section (start with [*])", key);
			goto next;
		}
		idx = conf_key_index(t, key);
		if (idx < 0) {
			conf_report_unknown_key(t, file, it.lineno, key, d);
			goto next;
		}
		if (seen_line[idx])
			diag_add(d, DIAG_WARNING, file, it.lineno,
			         "'%s' is also set on line %u; this later value wins", key,
			         seen_line[idx]);
		if (applies) {
			r = conf_set(c, key, value, file, it.lineno, d);
		} else {
			/* A section for another program: validate, don't apply. */
			union conf_val v;
			char err[512];
			r = conf_value_parse(&t->keys[idx], value, &v, err, sizeof(err));
			if (r == 0)
				conf_value_free(&t->keys[idx], &v);
			else if (r != -ENOMEM)
				diag_add(d, DIAG_ERROR, file, it.lineno, "%s", err);
		}
		if (r == -ENOMEM) {
			free(line);
			break;
		}
		if (r == 0)
			seen_line[idx] = it.lineno;
		r = 0;
	next:
		free(line);
	}
	free(seen_line);
	return r;
}

int conf_load_file(struct conf *c, const char *path, const char *program, struct diag *d)
{
	char *buf;
	size_t len;
	int r;

	r = file_read_all(path, CONF_MAX_FILE_SIZE, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		diag_add(d, DIAG_ERROR, path, 0, "cannot read: %s",
		         r == -EFBIG ? "file is larger than 1 MiB" : strerror(-r));
		return 0;
	}
	r = conf_parse_buffer(c, path, buf, len, program, d);
	free(buf);
	return r;
}

bool conf_bool(const struct conf *c, unsigned idx)
{
	return c->values[idx].v.b;
}

long long conf_int(const struct conf *c, unsigned idx)
{
	return c->values[idx].v.i;
}

double conf_decimal(const struct conf *c, unsigned idx)
{
	return c->values[idx].v.d;
}

const char *conf_str(const struct conf *c, unsigned idx)
{
	return c->values[idx].v.s;
}

void conf_print(const struct conf *c, FILE *out, bool comments)
{
	const struct conf_table *t = c->table;

	if (t->sections)
		fputs("[*]\n", out);
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct conf_key *k = &t->keys[i];
		const struct conf_value *cv = &c->values[i];

		if (comments) {
			fprintf(out, "# %s\n", k->description);
			fprintf(out, "# default: %s", *k->def ? k->def : "(unset)");
			if (cv->set && cv->line)
				fprintf(out, "; set at %s:%u", cv->origin, cv->line);
			else if (cv->set)
				fprintf(out, "; set by %s", cv->origin ? cv->origin : "?");
			fputs(k->reloadable ? "; reloadable\n" : "; needs restart\n", out);
		}
		fprintf(out, "%s=", k->name);
		conf_value_print(k, &cv->v, out);
		fputc('\n', out);
	}
}

bool conf_equal(const struct conf *a, const struct conf *b)
{
	if (a->table != b->table)
		return false;
	for (size_t i = 0; i < a->table->nkeys; i++)
		if (!conf_value_equal(&a->table->keys[i], &a->values[i].v, &b->values[i].v))
			return false;
	return true;
}

int conf_take_reloadable(struct conf *live, struct conf *fresh,
                         void (*on_change)(const struct conf_key *k, bool applied, void *arg),
                         void *arg)
{
	int n = 0;

	if (live->table != fresh->table)
		return -EINVAL;
	for (size_t i = 0; i < live->table->nkeys; i++) {
		const struct conf_key *k = &live->table->keys[i];

		if (conf_value_equal(k, &live->values[i].v, &fresh->values[i].v))
			continue;
		n++;
		if (k->reloadable) {
			/* A swap, not a copy: each string keeps exactly one owner,
			 * and the old value leaves with fresh. */
			struct conf_value tmp = live->values[i];
			live->values[i] = fresh->values[i];
			fresh->values[i] = tmp;
		}
		if (on_change)
			on_change(k, k->reloadable, arg);
	}
	return n;
}
