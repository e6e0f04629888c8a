/*
 * rserver --test-config, --print-config and --print-profile; see
 * config-report.h.
 */
#include "config-report.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "log.h"
#include "notifications.h"
#include "profiles.h"
#include "sandbox.h"

/* Checks that involve more than one key, reported at the key that turns the
 * feature on. */
static void check_semantics(const struct settings *s, struct diag *d)
{
	const struct conf_value *ssl = &s->rserver->values[RSERVER_SSL_ENABLED];
	const char *where = ssl->origin ? ssl->origin : "command line";

	if (conf_bool(s->rserver, RSERVER_SSL_ENABLED)) {
		if (!conf_str(s->rserver, RSERVER_SSL_CERTIFICATE))
			diag_add(d, DIAG_ERROR, where, ssl->line,
			         "ssl-enabled=1 needs ssl-certificate to be set");
		if (!conf_str(s->rserver, RSERVER_SSL_CERTIFICATE_KEY))
			diag_add(d, DIAG_ERROR, where, ssl->line,
			         "ssl-enabled=1 needs ssl-certificate-key to be set");
	}
	if (conf_bool(s->rserver, RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD) &&
	    !conf_bool(s->rserver, RSERVER_AUTH_PAM_SESSIONS_ENABLED)) {
		const struct conf_value *v =
		    &s->rserver->values[RSERVER_AUTH_PAM_SESSIONS_USE_PASSWORD];
		diag_add(d, DIAG_WARNING, v->origin ? v->origin : "command line", v->line,
		         "auth-pam-sessions-use-password=1 has no effect while "
		         "auth-pam-sessions-enabled=0");
	}
	{
		/* The supervisor contract (rsession-launcher checks it again
		 * at every launch): an absolute path to an executable. */
		const struct conf_value *v = &s->rserver->values[RSERVER_RSESSION_EXEC_COMMAND];
		char err[512];
		const char *sup = conf_str(s->rserver, RSERVER_RSESSION_EXEC_COMMAND);
		char **words = NULL;
		size_t n = 0;
		struct sandbox sb = {0};
		const struct sandbox_mask *m;

		if (command_check_supervisor(sup, err, sizeof(err)) < 0)
			diag_add(d, DIAG_ERROR, v->origin ? v->origin : "command line", v->line, "%s",
			         err);
		/* ... and not in a directory the sandbox hides from sessions. */
		else if (sup && conf_bool(s->rserver, RSERVER_SESSION_SANDBOX_ENABLED) &&
		         command_split(sup, &words, &n, err, sizeof(err)) == 0 && n > 0 &&
		         sandbox_plan(s, s->config_dir, &sb) == 0 &&
		         (m = sandbox_hides(&sb, words[0])))
			diag_add(d, DIAG_ERROR, v->origin ? v->origin : "command line", v->line,
			         "rsession-exec-command: %s is inside %s (%s), which "
			         "session-sandbox-enabled=1 hides from sessions; put the supervisor "
			         "elsewhere, such as /usr/local/bin",
			         words[0], m->path, m->what);
		command_free(words);
		sandbox_free(&sb);
	}
}

int config_load(const struct cmdline *cl, struct settings *s, struct diag *d)
{
	int r;

	r = settings_load(s, cl->config_dir, "rserver", SETTINGS_LOGIN_DEFS, d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cl->noverrides; i++) {
		r = settings_override(s, cl->overrides[i].key, cl->overrides[i].value, d);
		if (r == -ENOMEM)
			return r;
	}
	check_semantics(s, d);
	return 0;
}

int config_test(const struct cmdline *cl, FILE *out)
{
	struct notification_list nl = {0};
	struct profiles p = {0};
	struct settings s = {0};
	char *path = NULL;
	size_t nwarn;
	struct diag d;
	int r, status = 1;

	diag_init(&d);
	r = config_load(cl, &s, &d);
	if (r < 0)
		goto out;

	path = settings_path(&s, "profiles");
	if (!path)
		goto out;
	r = profiles_load(path, &p, &d);
	if (r < 0 && r != -ENOMEM)
		diag_add(&d, DIAG_ERROR, path, 0, "cannot read: %s", strerror(-r));
	free(path);

	path = settings_path(&s, "notifications.conf");
	if (!path)
		goto out;
	r = notifications_load(path, &nl, &d);
	if (r < 0 && r != -ENOMEM)
		diag_add(&d, DIAG_WARNING, path, 0, "cannot read: %s", strerror(-r));

	diag_print(&d, out);
	nwarn = d.n - d.nerrors;
	if (diag_errors(&d))
		fprintf(out, "%s: configuration has %zu error%s and %zu warning%s\n",
		        cl->config_dir, diag_errors(&d), diag_errors(&d) == 1 ? "" : "s", nwarn,
		        nwarn == 1 ? "" : "s");
	else
		fprintf(out, "%s: configuration OK (%zu warning%s)\n", cl->config_dir, nwarn,
		        nwarn == 1 ? "" : "s");
	status = diag_errors(&d) ? 1 : 0;
out:
	if (r == -ENOMEM)
		fprintf(out, "rserver: out of memory\n");
	free(path);
	notification_list_free(&nl);
	profiles_free(&p);
	settings_free(&s);
	diag_free(&d);
	return status;
}

/* Loads settings and refuses to go on when they have errors. */
static int load_or_report(const struct cmdline *cl, struct settings *s, FILE *err)
{
	struct diag d;
	int r;

	diag_init(&d);
	r = config_load(cl, s, &d);
	diag_print(&d, err);
	if (r == 0 && diag_errors(&d))
		r = -EINVAL;
	diag_free(&d);
	return r;
}

int config_print(const struct cmdline *cl, FILE *out, FILE *err)
{
	struct settings s = {0};
	struct conf *files[4];

	if (load_or_report(cl, &s, err) < 0) {
		settings_free(&s);
		return 1;
	}
	files[0] = s.rserver;
	files[1] = s.rsession;
	files[2] = s.database;
	files[3] = s.logging;
	for (size_t i = 0; i < 4; i++) {
		fprintf(out, "%s# file: %s\n", i ? "\n" : "", files[i]->table->file);
		conf_print(files[i], out, false);
	}
	settings_free(&s);
	return 0;
}

static const char *section_label(const struct profile_section *sec, char *buf, size_t size)
{
	switch (sec->kind) {
	case PROFILE_SECTION_ALL:
		return "[*]";
	case PROFILE_SECTION_GROUP:
		snprintf(buf, size, "[@%s]", sec->name);
		return buf;
	default:
		snprintf(buf, size, "[%s]", sec->name);
		return buf;
	}
}

/* What an unset profile key means, in words. */
static const char *unset_meaning(enum profile_key k)
{
	switch (k) {
	case PROFILE_CPU_AFFINITY:
		return "all cores";
	case PROFILE_NICE:
		return "nice value unchanged (normally 0)";
	case PROFILE_R_VERSION:
		return "the default R (rsession-which-r, else R on PATH)";
	case PROFILE_MAX_OPEN_FILES:
		return "the system default";
	default:
		return "no limit";
	}
}

int config_print_profile(const struct cmdline *cl, FILE *out, FILE *err)
{
	struct profile_effective eff[PROFILE_NKEYS];
	struct profiles p = {0};
	struct settings s = {0};
	char **groups = NULL;
	size_t ngroups = 0;
	char *path = NULL;
	struct diag d;
	int r, status = 1;

	diag_init(&d);
	if (load_or_report(cl, &s, err) < 0)
		goto out;
	path = settings_path(&s, "profiles");
	if (!path)
		goto out;
	r = profiles_load(path, &p, &d);
	diag_print(&d, err);
	if (r < 0) {
		fprintf(err, "%s: cannot read: %s\n", path, strerror(-r));
		goto out;
	}
	if (diag_errors(&d)) {
		fprintf(err, "%s: refusing a profiles file with errors\n", path);
		goto out;
	}
	r = profiles_user_groups(cl->profile_user, &groups, &ngroups);
	if (r == -ENOENT) {
		fprintf(err, "rserver: no such user '%s'\n", cl->profile_user);
		goto out;
	}
	if (r < 0) {
		fprintf(err, "rserver: cannot look up groups of '%s': %s\n", cl->profile_user,
		        strerror(-r));
		goto out;
	}
	profiles_resolve(&p, cl->profile_user, (const char *const *)groups, ngroups, eff);

	fprintf(out, "# effective profile of %s (groups:", cl->profile_user);
	for (size_t i = 0; i < ngroups; i++)
		fprintf(out, " %s", groups[i]);
	fprintf(out, ")\n# from %s\n[%s]\n", path, cl->profile_user);
	for (unsigned k = 0; k < PROFILE_NKEYS; k++) {
		const struct conf_key *key = &profiles_table.keys[k];
		char label[300];

		if (eff[k].set) {
			fprintf(out, "# %s:%u %s\n%s=", path, eff[k].line,
			        section_label(eff[k].section, label, sizeof(label)), key->name);
			conf_value_print(key, &eff[k].value, out);
			fputc('\n', out);
			continue;
		}
		/* Timeouts fall back to rsession.conf, which a profile overrides. */
		if (k == PROFILE_SESSION_TIMEOUT_MINUTES ||
		    k == PROFILE_SESSION_TIMEOUT_KILL_HOURS) {
			unsigned rk = k == PROFILE_SESSION_TIMEOUT_MINUTES
			                  ? RSESSION_SESSION_TIMEOUT_MINUTES
			                  : RSESSION_SESSION_TIMEOUT_KILL_HOURS;
			const struct conf_value *cv = &s.rsession->values[rk];
			if (cv->set && cv->line)
				fprintf(out,
				        "# %s:%u (no profile section sets it)\n%s=", cv->origin,
				        cv->line, key->name);
			else if (cv->set)
				fprintf(out, "# %s (no profile section sets it)\n%s=", cv->origin,
				        key->name);
			else
				fprintf(out,
				        "# rsession.conf default (no profile section sets "
				        "it)\n%s=",
				        key->name);
			conf_value_print(&rsession_conf_table.keys[rk], &cv->v, out);
			fputc('\n', out);
			continue;
		}
		fprintf(out, "# %s: not set: %s\n", key->name, unset_meaning(k));
	}
	status = 0;
out:
	profiles_groups_free(groups, ngroups);
	free(path);
	profiles_free(&p);
	settings_free(&s);
	diag_free(&d);
	return status;
}

void config_log_problems(const struct diag *d, const char *prefix)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct diag_entry *e = &d->entries[i];
		const char *sev = e->severity == DIAG_ERROR ? "error" : "warning";

		if (e->line)
			log_warnx("%s%s:%u: %s: %s", prefix, e->file, e->line, sev, e->message);
		else
			log_warnx("%s%s: %s: %s", prefix, e->file, sev, e->message);
	}
}
