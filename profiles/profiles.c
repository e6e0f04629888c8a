/*
 * /etc/rstudio/profiles: parsing, resolution for one user, and the group
 * lookup that resolution needs; see profiles.h.
 *
 * The file is kept as written (a list of sections, each with its settings)
 * rather than merged at parse time, because which sections apply depends on
 * the user and their groups, which are only known at session launch. The
 * values themselves are validated here, through the same key table engine
 * as rserver.conf, so that a launch never meets a value it cannot apply.
 */
#include "profiles.h"

#include <errno.h>
#include <stdbool.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strutil.h"

#define PROFILES_MAX_FILE_SIZE (1024 * 1024)

/* Largest buffer handed to getpwnam_r/getgrgid_r: a group entry lists its
 * members, so a big group can need far more than sysconf() suggests. */
#define NSS_BUF_MAX (32 * 1024 * 1024)

/* More than NGROUPS_MAX (65536 on Linux): a runaway answer, not a user. */
#define GROUPS_MAX (1 << 17)

/*
 * Every key defaults to unset: a profile only overrides what the session
 * would otherwise get. All are reloadable, because a profile is read again
 * for each session launch.
 */
#define KEY(id, n, t, lo, hi, desc)                                                                \
	[id] = {.name = n,                                                                         \
	        .type = t,                                                                         \
	        .min = lo,                                                                         \
	        .max = hi,                                                                         \
	        .def = "",                                                                         \
	        .reloadable = true,                                                                \
	        .description = desc}

static const struct conf_key profile_keys[] = {
    KEY(PROFILE_CPU_AFFINITY, "cpu-affinity", CONF_CPULIST, 0, 0,
        "Cores the session may run on, 1-based, e.g. 1,2,15-16"),
    KEY(PROFILE_NICE, "nice", CONF_INT, -20, 19,
        "Scheduling priority of the session (-20 highest, 19 lowest)"),
    KEY(PROFILE_MAX_MEMORY_MB, "max-memory-mb", CONF_INT, 0, 16777216,
        "Address space limit per process in MiB (RLIMIT_AS); 0 = unlimited"),
    KEY(PROFILE_MAX_PROCESSES, "max-processes", CONF_INT, 0, 4194304,
        "Process limit for the user (RLIMIT_NPROC); 0 = unlimited"),
    KEY(PROFILE_MAX_OPEN_FILES, "max-open-files", CONF_INT, 0, 1048576,
        "Open file limit per process (RLIMIT_NOFILE); 0 = system default"),
    KEY(PROFILE_R_VERSION, "r-version", CONF_PATH, 0, 0,
        "R home directory the session runs, e.g. /opt/R/3.1.0"),
    KEY(PROFILE_SESSION_TIMEOUT_MINUTES, "session-timeout-minutes", CONF_DECIMAL, 0, 525600,
        "Idle minutes before the session is suspended; 0 = never"),
    KEY(PROFILE_SESSION_TIMEOUT_KILL_HOURS, "session-timeout-kill-hours", CONF_DECIMAL, 0, 876000,
        "Hours without user input before the session is killed; 0 = never"),
    KEY(PROFILE_MAX_RSS_MB, "max-rss-mb", CONF_INT, 0, 16777216,
        "Memory cgroup limit on the whole session tree in MiB; 0 = unlimited"),
};

#undef KEY

_Static_assert(sizeof(profile_keys) / sizeof(profile_keys[0]) == PROFILE_NKEYS,
               "one profile_keys entry per enum profile_key");

const struct conf_table profiles_table = {
    .file = "profiles",
    .keys = profile_keys,
    .nkeys = PROFILE_NKEYS,
    .sections = false, /* profiles_parse() handles its own sections */
};

/* An empty path means "unset": such a setting puts the key back to the
 * system default for the users it matches. */
static bool value_empty(enum profile_key k, const union conf_val *v)
{
	enum conf_type t = profile_keys[k].type;

	return (t == CONF_PATH || t == CONF_CPULIST) && v->s == NULL;
}

enum parse_state {
	STATE_NONE,    /* before the first header */
	STATE_BAD,     /* after a refused header: check settings, keep none */
	STATE_SECTION, /* settings go to the last section */
};

struct parser {
	const char *file;
	struct diag *d;
	struct profiles p;
	size_t cap; /* allocated entries of p.sections */
	enum parse_state state;
};

static int section_add(struct parser *ps, enum profile_section_kind kind, const char *name,
                       unsigned lineno)
{
	struct profile_section *s;
	char *copy = NULL;

	if (name) {
		copy = strdup(name);
		if (!copy)
			return -ENOMEM;
	}
	if (ps->p.nsections == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 8;
		struct profile_section *v = reallocarray(ps->p.sections, ncap, sizeof(*v));
		if (!v) {
			free(copy);
			return -ENOMEM;
		}
		ps->p.sections = v;
		ps->cap = ncap;
	}
	s = &ps->p.sections[ps->p.nsections++];
	*s = (struct profile_section){.kind = kind, .name = copy, .line = lineno};
	return 0;
}

/* Handles a line starting with '['; s is trimmed and writable. */
static int parse_header(struct parser *ps, unsigned lineno, char *s)
{
	size_t n = strlen(s);
	char *name;
	int r;

	/* Until a valid header is seen, the settings that follow are checked
	 * but belong to no section; the header's error is enough. */
	ps->state = STATE_BAD;
	if (n < 2 || s[n - 1] != ']') {
		diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
		         "malformed section header '%s' (expected [*], [@group] or [user])", s);
		return 0;
	}
	s[n - 1] = '\0';
	name = str_trim(s + 1);
	if (strcmp(name, "*") == 0) {
		r = section_add(ps, PROFILE_SECTION_ALL, NULL, lineno);
	} else if (name[0] == '@') {
		if (name[1] == '\0') {
			diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
			         "section '[@]' has no group name");
			return 0;
		}
		if (!conf_name_valid(name + 1)) {
			diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
			         "invalid group name '%s' in section header (letters, digits, "
			         "'.', '_', '-' not first, optional final '$')",
			         name + 1);
			return 0;
		}
		r = section_add(ps, PROFILE_SECTION_GROUP, name + 1, lineno);
	} else if (name[0] == '\0') {
		diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
		         "empty section header '[]' (expected [*], [@group] or [user])");
		return 0;
	} else {
		if (!conf_name_valid(name)) {
			diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
			         "invalid user name '%s' in section header (letters, digits, "
			         "'.', '_', '-' not first, optional final '$')",
			         name);
			return 0;
		}
		r = section_add(ps, PROFILE_SECTION_USER, name, lineno);
	}
	if (r < 0)
		return r;
	ps->state = STATE_SECTION;
	return 0;
}

/* Stores a checked value in the current section; takes ownership of *v. */
static int setting_store(struct parser *ps, unsigned lineno, enum profile_key k, union conf_val *v)
{
	struct profile_section *s = &ps->p.sections[ps->p.nsections - 1];
	struct profile_setting *nv;

	for (size_t i = 0; i < s->nsettings; i++) {
		struct profile_setting *st = &s->settings[i];
		if (st->key != k)
			continue;
		diag_add(ps->d, DIAG_WARNING, ps->file, lineno,
		         "'%s' is also set on line %u; this later value wins", profile_keys[k].name,
		         st->line);
		conf_value_free(&profile_keys[k], &st->value);
		st->value = *v;
		st->line = lineno;
		return 0;
	}
	/* At most PROFILE_NKEYS settings per section, so growing one at a
	 * time costs little. */
	nv = reallocarray(s->settings, s->nsettings + 1, sizeof(*nv));
	if (!nv) {
		conf_value_free(&profile_keys[k], v);
		return -ENOMEM;
	}
	s->settings = nv;
	s->settings[s->nsettings++] =
	    (struct profile_setting){.key = k, .value = *v, .line = lineno};
	return 0;
}

/* Handles any other non-blank, non-comment line; s is trimmed and writable. */
static int parse_setting(struct parser *ps, unsigned lineno, char *s)
{
	char *eq = strchr(s, '='), *key, *value;
	union conf_val v;
	char err[512];
	int idx, r;

	if (!eq) {
		diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
		         "expected 'key = value' or a section header, got '%s'", s);
		return 0;
	}
	*eq = '\0';
	key = str_trim(s);
	value = str_trim(eq + 1);
	if (!*key) {
		diag_add(ps->d, DIAG_ERROR, ps->file, lineno, "missing key before '='");
		return 0;
	}
	/* Reported, then the key and value are still checked: every problem
	 * of the file shows in one pass. */
	if (ps->state == STATE_NONE)
		diag_add(ps->d, DIAG_ERROR, ps->file, lineno,
		         "setting '%s' outside any section (start with [*], [@group] or [user])",
		         key);
	idx = conf_key_index(&profiles_table, key);
	if (idx < 0) {
		conf_report_unknown_key(&profiles_table, ps->file, lineno, key, ps->d);
		return 0;
	}
	r = conf_value_parse(&profile_keys[idx], value, &v, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		diag_add(ps->d, DIAG_ERROR, ps->file, lineno, "%s", err);
		return 0;
	}
	if (ps->state != STATE_SECTION) {
		conf_value_free(&profile_keys[idx], &v);
		return 0;
	}
	return setting_store(ps, lineno, (enum profile_key)idx, &v);
}

int profiles_parse(const char *file, const char *buf, size_t len, struct profiles *ret,
                   struct diag *d)
{
	struct parser ps = {.file = file ? file : profiles_table.file, .d = d};
	struct line_iter it;
	const char *start;
	char *line = NULL;
	size_t n;
	bool nul;
	int r = 0;

	*ret = (struct profiles){0};
	ps.p.file = strdup(ps.file);
	if (!ps.p.file) {
		r = -ENOMEM;
		goto out;
	}
	line_iter_init(&it, buf, len);
	while (line_iter_next(&it, &start, &n, &nul)) {
		char *s;

		if (nul) {
			diag_add(d, DIAG_ERROR, ps.file, it.lineno, "line contains a NUL byte");
			continue;
		}
		free(line);
		line = str_copy_n(start, n);
		if (!line) {
			r = -ENOMEM;
			goto out;
		}
		s = str_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		r = *s == '[' ? parse_header(&ps, it.lineno, s) : parse_setting(&ps, it.lineno, s);
		if (r < 0)
			goto out;
	}
	*ret = ps.p;
	ps.p = (struct profiles){0};
out:
	free(line);
	profiles_free(&ps.p);
	return r;
}

int profiles_load(const char *path, struct profiles *ret, struct diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	*ret = (struct profiles){0};
	r = file_read_all(path, PROFILES_MAX_FILE_SIZE, &buf, &len);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT) {
		/* Like conf_load_file(): a file that exists but cannot be read
		 * is a problem of the file, so that --test-config shows it. */
		diag_add(d, DIAG_ERROR, path, 0, "cannot read: %s",
		         r == -EFBIG ? "file is larger than 1 MiB" : strerror(-r));
	}
	/* A missing or unreadable file parses as an empty one. */
	r = profiles_parse(path, buf ? buf : "", buf ? len : 0, ret, d);
	free(buf);
	return r;
}

void profiles_free(struct profiles *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nsections; i++) {
		struct profile_section *s = &p->sections[i];
		for (size_t j = 0; j < s->nsettings; j++)
			conf_value_free(&profile_keys[s->settings[j].key], &s->settings[j].value);
		free(s->settings);
		free(s->name);
	}
	free(p->sections);
	free(p->file);
	*p = (struct profiles){0};
}

static bool section_matches(const struct profile_section *s, const char *user,
                            const char *const *groups, size_t ngroups)
{
	switch (s->kind) {
	case PROFILE_SECTION_ALL:
		return true;
	case PROFILE_SECTION_USER:
		return user && strcmp(s->name, user) == 0;
	case PROFILE_SECTION_GROUP:
		for (size_t i = 0; i < ngroups; i++)
			if (groups[i] && strcmp(s->name, groups[i]) == 0)
				return true;
		return false;
	}
	return false;
}

void profiles_resolve(const struct profiles *p, const char *user, const char *const *groups,
                      size_t ngroups, struct profile_effective ret[PROFILE_NKEYS])
{
	memset(ret, 0, PROFILE_NKEYS * sizeof(ret[0]));
	if (!p)
		return;
	/* File order is the only precedence: a later matching section wins
	 * whatever its kind, as the RStudio guide specifies. */
	for (size_t i = 0; i < p->nsections; i++) {
		const struct profile_section *s = &p->sections[i];

		if (!section_matches(s, user, groups, ngroups))
			continue;
		for (size_t j = 0; j < s->nsettings; j++) {
			const struct profile_setting *st = &s->settings[j];
			struct profile_effective *e = &ret[st->key];

			e->set = !value_empty(st->key, &st->value);
			e->value = st->value;
			e->line = st->line;
			e->section = s;
		}
	}
}

static size_t nss_buf_start(int name)
{
	long n = sysconf(name);

	return n > 0 && n <= NSS_BUF_MAX ? (size_t)n : 16384;
}

/*
 * Runs an NSS *_r lookup with a buffer that doubles while it answers
 * ERANGE, up to NSS_BUF_MAX. Returns 1 (found; *ret_buf holds the entry's
 * strings, caller frees), 0 (no such entry: a zero return without a
 * result, or ENOENT/ESRCH as some NSS modules say it), or a negative errno.
 */
static int nss_lookup(int sc_name, int (*lookup)(void *ctx, char *buf, size_t size, bool *found),
                      void *ctx, char **ret_buf)
{
	size_t size = nss_buf_start(sc_name);
	char *buf = NULL;
	bool found = false;
	int r;

	for (;;) {
		char *nb = realloc(buf, size);
		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		r = lookup(ctx, buf, size, &found);
		if (r != ERANGE)
			break;
		if (size >= NSS_BUF_MAX) {
			free(buf);
			return -ERANGE;
		}
		size *= 2;
	}
	if ((r == 0 && !found) || r == ENOENT || r == ESRCH) {
		free(buf);
		return 0;
	}
	if (r != 0) {
		free(buf);
		return -r;
	}
	*ret_buf = buf;
	return 1;
}

struct pw_lookup {
	const char *user;
	struct passwd pw;
};

static int pw_by_name(void *ctx, char *buf, size_t size, bool *found)
{
	struct pw_lookup *l = ctx;
	struct passwd *res = NULL;
	int r = getpwnam_r(l->user, &l->pw, buf, size, &res);

	*found = res != NULL;
	return r;
}

struct gr_lookup {
	gid_t gid;
	struct group gr;
};

static int gr_by_gid(void *ctx, char *buf, size_t size, bool *found)
{
	struct gr_lookup *l = ctx;
	struct group *res = NULL;
	int r = getgrgid_r(l->gid, &l->gr, buf, size, &res);

	*found = res != NULL;
	return r;
}

/* The primary group of user; -ENOENT when there is no such user. */
static int user_primary_gid(const char *user, gid_t *ret_gid)
{
	struct pw_lookup l = {.user = user};
	char *buf = NULL;
	int r = nss_lookup(_SC_GETPW_R_SIZE_MAX, pw_by_name, &l, &buf);

	if (r <= 0)
		return r == 0 ? -ENOENT : r;
	*ret_gid = l.pw.pw_gid;
	free(buf);
	return 0;
}

/* Every gid user belongs to, the primary one included. */
static int user_gids(const char *user, gid_t primary, gid_t **ret_gids, size_t *ret_n)
{
	gid_t *gids = NULL;
	int n = 64, r;

	for (;;) {
		int want = n;
		gid_t *nv = reallocarray(gids, (size_t)n, sizeof(*nv));
		if (!nv) {
			r = -ENOMEM;
			goto out;
		}
		gids = nv;
		if (getgrouplist(user, primary, gids, &want) >= 0) {
			n = want;
			break;
		}
		/* Too small: glibc stores the count it needs in want; grow
		 * to that, or double if it did not. */
		if (n >= GROUPS_MAX) {
			r = -E2BIG;
			goto out;
		}
		n = want > n ? want : n * 2;
		if (n > GROUPS_MAX)
			n = GROUPS_MAX;
	}
	*ret_gids = gids;
	*ret_n = (size_t)n;
	gids = NULL;
	r = 0;
out:
	free(gids);
	return r;
}

/* The name of gid in *ret_name (malloc'd), or NULL when it has none. */
static int group_name(gid_t gid, char **ret_name)
{
	struct gr_lookup l = {.gid = gid};
	char *buf = NULL, *name;
	int r = nss_lookup(_SC_GETGR_R_SIZE_MAX, gr_by_gid, &l, &buf);

	if (r < 0)
		return r;
	if (r == 0) {
		*ret_name = NULL;
		return 0;
	}
	name = strdup(l.gr.gr_name);
	free(buf);
	if (!name)
		return -ENOMEM;
	*ret_name = name;
	return 0;
}

int profiles_user_groups(const char *user, char ***ret_groups, size_t *ret_ngroups)
{
	/* primary and name below are set before use; the initialisers only
	 * quiet gcc's -Wmaybe-uninitialized at -O2 and above. */
	gid_t primary = 0, *gids = NULL;
	char **names = NULL;
	size_t ngids = 0, nnames = 0;
	int r;

	if (!user || !*user)
		return -ENOENT;
	r = user_primary_gid(user, &primary);
	if (r < 0)
		goto out;
	r = user_gids(user, primary, &gids, &ngids);
	if (r < 0)
		goto out;
	/* One extra slot keeps the array NULL-terminated for callers that
	 * prefer to walk it that way. */
	names = calloc(ngids + 1, sizeof(*names));
	if (!names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ngids; i++) {
		bool dup = false;
		char *name = NULL;

		for (size_t j = 0; j < i && !dup; j++)
			dup = gids[j] == gids[i];
		if (dup)
			continue;
		r = group_name(gids[i], &name);
		if (r < 0)
			goto out;
		if (name)
			names[nnames++] = name;
	}
	*ret_groups = names;
	*ret_ngroups = nnames;
	names = NULL;
	r = 0;
out:
	profiles_groups_free(names, nnames);
	free(gids);
	return r;
}

void profiles_groups_free(char **groups, size_t ngroups)
{
	if (!groups)
		return;
	for (size_t i = 0; i < ngroups; i++)
		free(groups[i]);
	free(groups);
}
