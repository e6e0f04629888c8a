/*
 * Key tables and the config-directory loader; see settings.h.
 */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "strutil.h"

#define SETTINGS_KEY(id, nm, ty, lo, hi, ch, df, rl, desc, chk)                                    \
	{.name = nm,                                                                               \
	 .type = ty,                                                                               \
	 .min = lo,                                                                                \
	 .max = hi,                                                                                \
	 .choices = ch,                                                                            \
	 .def = df,                                                                                \
	 .reloadable = rl,                                                                         \
	 .description = desc,                                                                      \
	 .check = chk},

static const struct conf_key rserver_keys[] = {RSERVER_CONF_KEYS(SETTINGS_KEY)};
static const struct conf_key rsession_keys[] = {RSESSION_CONF_KEYS(SETTINGS_KEY)};
static const struct conf_key database_keys[] = {DATABASE_CONF_KEYS(SETTINGS_KEY)};
static const struct conf_key logging_keys[] = {LOGGING_CONF_KEYS(SETTINGS_KEY)};

#define TABLE(f, k, sec)                                                                           \
	{                                                                                          \
		.file = f, .keys = k, .nkeys = sizeof(k) / sizeof(k[0]), .sections = sec           \
	}
const struct conf_table rserver_conf_table = TABLE("rserver.conf", rserver_keys, false);
const struct conf_table rsession_conf_table = TABLE("rsession.conf", rsession_keys, false);
const struct conf_table database_conf_table = TABLE("database.conf", database_keys, false);
const struct conf_table logging_conf_table = TABLE("logging.conf", logging_keys, true);

_Static_assert(sizeof(rserver_keys) / sizeof(rserver_keys[0]) == RSERVER_NKEYS, "rserver table");
_Static_assert(sizeof(rsession_keys) / sizeof(rsession_keys[0]) == RSESSION_NKEYS, "rsession");

bool settings_check_home_path(const char *value, char *err, size_t errsize)
{
	if (value[0] == '/' || strcmp(value, "~") == 0 || strncmp(value, "~/", 2) == 0)
		return true;
	snprintf(err, errsize, "'%s' must be '~', start with '~/', or be an absolute path", value);
	return false;
}

int settings_login_defs_uid_min(const char *path, long long *ret)
{
	char *buf, *save = NULL;
	size_t len;
	int r;

	r = file_read_all(path, 1024 * 1024, &buf, &len);
	if (r < 0)
		return r;
	r = -ENOENT;
	/* login.defs lines are "NAME<whitespace>VALUE"; the last one wins,
	 * as in shadow-utils. */
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = str_trim(line), *v;
		long long uid;

		if (strncmp(s, "UID_MIN", 7) != 0 || (s[7] != ' ' && s[7] != '\t'))
			continue;
		v = str_trim(s + 7);
		if (str_to_llong(v, 0, 4294967294LL, &uid) < 0) {
			r = -EINVAL;
			continue;
		}
		*ret = uid;
		r = 0;
	}
	free(buf);
	return r;
}

char *settings_path(const struct settings *s, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", s->config_dir, name) < 0)
		return NULL;
	return p;
}

static int load_one(struct settings *s, const struct conf_table *t, struct conf **ret,
                    const char *program, struct diag *d)
{
	char *path;
	int r;

	r = conf_new(t, ret);
	if (r < 0)
		return r;
	path = settings_path(s, t->file);
	if (!path)
		return -ENOMEM;
	r = conf_load_file(*ret, path, program, d);
	free(path);
	return r;
}

int settings_load(struct settings *s, const char *config_dir, const char *program,
                  const char *login_defs, struct diag *d)
{
	struct conf_value *uid_min;
	long long v = 1000;
	int r;

	memset(s, 0, sizeof(*s));
	s->config_dir = strdup(config_dir);
	if (!s->config_dir)
		return -ENOMEM;
	r = load_one(s, &rserver_conf_table, &s->rserver, program, d);
	if (r < 0)
		return r;
	r = load_one(s, &rsession_conf_table, &s->rsession, program, d);
	if (r < 0)
		return r;
	r = load_one(s, &database_conf_table, &s->database, program, d);
	if (r < 0)
		return r;
	r = load_one(s, &logging_conf_table, &s->logging, program, d);
	if (r < 0)
		return r;

	/* The one computed default: the host's idea of where human users start. */
	uid_min = &s->rserver->values[RSERVER_AUTH_MINIMUM_USER_ID];
	if (!uid_min->set) {
		(void)settings_login_defs_uid_min(login_defs, &v);
		uid_min->v.i = v;
	}
	return 0;
}

void settings_free(struct settings *s)
{
	if (!s)
		return;
	conf_free(s->rserver);
	conf_free(s->rsession);
	conf_free(s->database);
	conf_free(s->logging);
	free(s->config_dir);
	memset(s, 0, sizeof(*s));
}

int settings_override(struct settings *s, const char *key, const char *value, struct diag *d)
{
	struct conf *targets[] = {s->rserver, s->rsession};
	const char *sugg;

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		if (conf_key_index(targets[i]->table, key) >= 0)
			return conf_set(targets[i], key, value, "command line", 0, d);
	sugg = conf_suggest(&rserver_conf_table, key);
	if (!sugg)
		sugg = conf_suggest(&rsession_conf_table, key);
	if (sugg)
		diag_add(d, DIAG_ERROR, "command line", 0,
		         "unknown option '--%s' (did you mean '--%s'?)", key, sugg);
	else
		diag_add(d, DIAG_ERROR, "command line", 0, "unknown option '--%s'", key);
	return -ENOENT;
}

int settings_apply_logging(const struct settings *s)
{
	const char *type = conf_str(s->logging, LOGGING_LOGGER_TYPE);
	struct log_settings ls = {0};

	log_level_from_string(conf_str(s->logging, LOGGING_LOG_LEVEL), &ls.level);
	ls.target = strcmp(type, "file") == 0     ? LOG_TARGET_FILE
	            : strcmp(type, "syslog") == 0 ? LOG_TARGET_SYSLOG
	                                          : LOG_TARGET_STDERR;
	ls.format = strcmp(conf_str(s->logging, LOGGING_LOG_MESSAGE_FORMAT), "json") == 0
	                ? LOG_FORMAT_JSON
	                : LOG_FORMAT_PRETTY;
	ls.dir = conf_str(s->logging, LOGGING_LOG_DIR);
	if (ls.target == LOG_TARGET_FILE)
		(void)mkdir(ls.dir, 0755);
	return log_configure(&ls);
}

struct take_ctx {
	const char *file;
	void (*on_change)(const char *file, const struct conf_key *k, bool applied, void *arg);
	void *arg;
};

static void take_one_changed(const struct conf_key *k, bool applied, void *arg)
{
	struct take_ctx *ctx = arg;

	ctx->on_change(ctx->file, k, applied, ctx->arg);
}

int settings_take_reloadable(struct settings *live, struct settings *fresh,
                             void (*on_change)(const char *file, const struct conf_key *k,
                                               bool applied, void *arg),
                             void *arg)
{
	struct conf *lives[] = {live->rserver, live->rsession, live->database, live->logging};
	struct conf *freshes[] = {fresh->rserver, fresh->rsession, fresh->database, fresh->logging};
	int n = 0;

	for (size_t i = 0; i < sizeof(lives) / sizeof(lives[0]); i++) {
		struct take_ctx ctx = {lives[i]->table->file, on_change, arg};
		int r = conf_take_reloadable(lives[i], freshes[i],
		                             on_change ? take_one_changed : NULL, &ctx);
		if (r < 0)
			return r;
		n += r;
	}
	return n;
}
