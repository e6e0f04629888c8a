/*
 * Unit tests for the configuration engine (common/conf.c) and the key
 * tables and loader (common/settings.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "settings.h"
#include "test.h"

/* Parses text as file into a fresh conf of table t. */
static struct conf *parse(const struct conf_table *t, const char *text, const char *program,
                          struct diag *d)
{
	struct conf *c = NULL;

	diag_init(d);
	if (conf_new(t, &c) < 0)
		return NULL;
	if (conf_parse_buffer(c, t->file, text, strlen(text), program, d) < 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

/* The message of the only problem, checking its severity and line. */
static const char *only(const struct diag *d, enum diag_severity sev, unsigned line)
{
	if (d->n != 1) {
		for (size_t i = 0; i < d->n; i++)
			fprintf(stderr, "  problem %zu: %u: %s\n", i, d->entries[i].line,
			        d->entries[i].message);
		return "(not exactly one problem)";
	}
	if (d->entries[0].severity != sev)
		return "(wrong severity)";
	if (d->entries[0].line != line)
		return "(wrong line)";
	return d->entries[0].message;
}

TEST(defaults)
{
	struct conf *c = NULL;

	CHECK_INT(conf_new(&rserver_conf_table, &c), 0);
	CHECK_STR(conf_str(c, RSERVER_WWW_ADDRESS), "0.0.0.0");
	CHECK_INT(conf_int(c, RSERVER_WWW_PORT), 8787);
	CHECK_STR(conf_str(c, RSERVER_SERVER_USER), "rstudio-server");
	CHECK_STR(conf_str(c, RSERVER_AUTH_PAM_SERVICE), "rstudio");
	CHECK_STR(conf_str(c, RSERVER_AUTH_PAM_SESSIONS_PROFILE), "su");
	CHECK(conf_bool(c, RSERVER_AUTH_PAM_SESSIONS_ENABLED));
	CHECK(!conf_bool(c, RSERVER_SSL_ENABLED));
	CHECK(conf_decimal(c, RSERVER_AUTH_TIMEOUT_MINUTES) == 60);
	CHECK_INT(conf_int(c, RSERVER_AUTH_LOCKOUT_ATTEMPTS), 10);
	CHECK(conf_str(c, RSERVER_RSESSION_EXEC_COMMAND) == NULL);
	CHECK(!c->values[RSERVER_WWW_PORT].set);
	conf_free(c);

	CHECK_INT(conf_new(&rsession_conf_table, &c), 0);
	CHECK(conf_decimal(c, RSESSION_SESSION_TIMEOUT_MINUTES) == 120);
	CHECK(conf_bool(c, RSESSION_SESSION_TIMEOUT_SUSPEND));
	CHECK(conf_decimal(c, RSESSION_SESSION_TIMEOUT_KILL_HOURS) == 0);
	CHECK_STR(conf_str(c, RSESSION_SESSION_SAVE_ACTION_DEFAULT), "ask");
	CHECK_STR(conf_str(c, RSESSION_SESSION_DEFAULT_WORKING_DIR), "~");
	CHECK(conf_decimal(c, RSESSION_WEBSOCKET_PING_SECONDS) == 10);
	conf_free(c);
}

TEST(valid_file)
{
	struct diag d;
	struct conf *c = parse(&rserver_conf_table,
	                       "# comment\r\n"
	                       "www-port = 8080\r\n"
	                       "\n"
	                       "   # indented comment\n"
	                       "www-address=127.0.0.1\n"
	                       "rsession-exec-command=nice -n 10 # not a comment\n"
	                       "auth-timeout-minutes=0.5",
	                       NULL, &d);
	CHECK(c != NULL);
	CHECK_INT(d.n, 0);
	CHECK_INT(conf_int(c, RSERVER_WWW_PORT), 8080);
	CHECK_INT(c->values[RSERVER_WWW_PORT].line, 2);
	CHECK_STR(c->values[RSERVER_WWW_PORT].origin, "rserver.conf");
	CHECK_STR(conf_str(c, RSERVER_WWW_ADDRESS), "127.0.0.1");
	CHECK_STR(conf_str(c, RSERVER_RSESSION_EXEC_COMMAND), "nice -n 10 # not a comment");
	CHECK(conf_decimal(c, RSERVER_AUTH_TIMEOUT_MINUTES) == 0.5);
	conf_free(c);
	diag_free(&d);
}

TEST(unknown_key_suggests)
{
	struct diag d;
	struct conf *c = parse(&rserver_conf_table, "\nwww-prot=80\n", NULL, &d);
	CHECK_STR(only(&d, DIAG_ERROR, 2), "unknown key 'www-prot' (did you mean 'www-port'?)");
	CHECK_INT(conf_int(c, RSERVER_WWW_PORT), 8787);
	conf_free(c);
	diag_free(&d);

	c = parse(&rserver_conf_table, "completely-different=1\n", NULL, &d);
	CHECK_STR(only(&d, DIAG_ERROR, 1), "unknown key 'completely-different' for rserver.conf");
	conf_free(c);
	diag_free(&d);

	c = parse(&rsession_conf_table, "session-timeout-minute=5\n", NULL, &d);
	CHECK_CONTAINS(only(&d, DIAG_ERROR, 1), "did you mean 'session-timeout-minutes'?");
	conf_free(c);
	diag_free(&d);
}

TEST(bad_values)
{
	static const struct {
		const struct conf_table *t;
		const char *text;
		const char *message;
	} cases[] = {
	    {&rserver_conf_table, "www-port=70000",
	     "www-port: 70000 is out of range (allowed 1..65535)"},
	    {&rserver_conf_table, "www-port=0", "www-port: 0 is out of range (allowed 1..65535)"},
	    {&rserver_conf_table, "www-port=80a",
	     "www-port: '80a' is not a whole number (allowed 1..65535)"},
	    {&rserver_conf_table,
	     "www-port=", "www-port: '' is not a whole number (allowed 1..65535)"},
	    {&rserver_conf_table, "ssl-enabled=yes",
	     "ssl-enabled: 'yes' is not a boolean (expected 0 or 1)"},
	    {&rserver_conf_table, "server-data-dir=run/rstudio",
	     "server-data-dir: 'run/rstudio' is not an absolute path"},
	    {&rserver_conf_table, "server-user=bad user",
	     "server-user: 'bad user' is not a valid name (letters, digits, '.', '_', '-')"},
	    {&rserver_conf_table, "www-address=localhost",
	     "www-address: 'localhost' is not an IPv4 or IPv6 address"},
	    {&rserver_conf_table, "auth-timeout-minutes=-1",
	     "auth-timeout-minutes: -1 is out of range (allowed 0..525600)"},
	    {&rserver_conf_table, "auth-timeout-minutes=1e3",
	     "auth-timeout-minutes: '1e3' is not a number (allowed 0..525600)"},
	    {&rserver_conf_table, "rsession-ld-library-path=/opt/lib:lib",
	     "rsession-ld-library-path: 'lib' is not an absolute path"},
	    {&rsession_conf_table, "session-save-action-default=maybe",
	     "session-save-action-default: 'maybe' is not one of ask|yes|no"},
	    {&rsession_conf_table, "session-default-working-dir=work",
	     "'work' must be '~', start with '~/', or be an absolute path"},
	    {&rsession_conf_table, "session-timeout-kill-hours=nan",
	     "session-timeout-kill-hours: 'nan' is not a number (allowed 0..876000)"},
	    {&rsession_conf_table, "session-timeout-minutes=0.0000001",
	     "session-timeout-minutes: '0.0000001' has more than 6 decimal places"},
	    {&rserver_conf_table, "www-port=\033[31mred",
	     "www-port: '\\x1b[31mred' is not a whole number (allowed 1..65535)"},
	    {&database_conf_table, "provider=postgresql",
	     "provider: 'postgresql' is not one of sqlite"},
	    {&rserver_conf_table, "just words", "expected 'key=value', got 'just words'"},
	    {&rserver_conf_table, "=5", "missing key before '='"},
	    {&rserver_conf_table, "[*]", "sections are not allowed in rserver.conf: '[*]'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag d;
		struct conf *c = parse(cases[i].t, cases[i].text, NULL, &d);
		CHECK(c != NULL);
		CHECK_STR(only(&d, DIAG_ERROR, 1), cases[i].message);
		conf_free(c);
		diag_free(&d);
	}
}

TEST(good_values)
{
	struct diag d;
	struct conf *c = parse(&rserver_conf_table,
	                       "www-address=::1\n"
	                       "rsession-ld-library-path=/opt/a/lib:/opt/b/lib\n"
	                       "server-user=rs_user.1\n"
	                       "auth-minimum-user-id=500\n"
	                       "rsession-exec-command=\n",
	                       NULL, &d);
	CHECK_INT(d.n, 0);
	CHECK_STR(conf_str(c, RSERVER_WWW_ADDRESS), "::1");
	CHECK_STR(conf_str(c, RSERVER_RSESSION_LD_LIBRARY_PATH), "/opt/a/lib:/opt/b/lib");
	CHECK_INT(conf_int(c, RSERVER_AUTH_MINIMUM_USER_ID), 500);
	CHECK(conf_str(c, RSERVER_RSESSION_EXEC_COMMAND) == NULL); /* empty = unset */
	conf_free(c);
	diag_free(&d);

	c = parse(&rsession_conf_table,
	          "session-timeout-minutes=0.05\nsession-default-working-dir=~/work\n", NULL, &d);
	CHECK_INT(d.n, 0);
	CHECK(conf_decimal(c, RSESSION_SESSION_TIMEOUT_MINUTES) == 0.05);
	CHECK_STR(conf_str(c, RSESSION_SESSION_DEFAULT_WORKING_DIR), "~/work");
	conf_free(c);
	diag_free(&d);
}

TEST(byte_order_mark)
{
	struct diag d;
	struct conf *c = parse(&rserver_conf_table, "\xef\xbb\xbfwww-port=81\n", NULL, &d);
	CHECK_INT(d.n, 0);
	CHECK_INT(conf_int(c, RSERVER_WWW_PORT), 81);
	conf_free(c);
	diag_free(&d);
}

TEST(twice_later_wins)
{
	struct diag d;
	struct conf *c = parse(&rserver_conf_table, "www-port=1\nwww-port=2\n", NULL, &d);
	CHECK_STR(only(&d, DIAG_WARNING, 2),
	          "'www-port' is also set on line 1; this later value wins");
	CHECK_INT(conf_int(c, RSERVER_WWW_PORT), 2);
	CHECK_INT(diag_errors(&d), 0);
	conf_free(c);
	diag_free(&d);
}

TEST(every_problem_reported)
{
	struct diag d;
	struct conf *c = parse(&rserver_conf_table,
	                       "www-port=x\n"
	                       "ok-not=1\n"
	                       "www-port=8080\n"
	                       "ssl-enabled=2\n",
	                       NULL, &d);
	CHECK_INT(diag_errors(&d), 3);
	CHECK_INT(d.n, 3);
	CHECK_INT(d.entries[0].line, 1);
	CHECK_INT(d.entries[1].line, 2);
	CHECK_INT(d.entries[2].line, 4);
	CHECK_INT(conf_int(c, RSERVER_WWW_PORT), 8080);
	conf_free(c);
	diag_free(&d);
}

TEST(nul_byte)
{
	static const char text[] = "www-port=80\0 81\nssl-enabled=1\n";
	struct conf *c = NULL;
	struct diag d;

	diag_init(&d);
	CHECK_INT(conf_new(&rserver_conf_table, &c), 0);
	CHECK_INT(conf_parse_buffer(c, "x.conf", text, sizeof(text) - 1, NULL, &d), 0);
	CHECK_STR(only(&d, DIAG_ERROR, 1), "line contains a NUL byte");
	CHECK(conf_bool(c, RSERVER_SSL_ENABLED));
	conf_free(c);
	diag_free(&d);
}

/* print -> parse gives identical settings, for every table. */
static void round_trip(const struct conf_table *t, const char *text)
{
	struct conf *b = NULL;
	struct diag d, d2;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	struct conf *a = parse(t, text, "rserver", &d);

	CHECK(a != NULL);
	CHECK_INT(diag_errors(&d), 0);
	f = open_memstream(&out, &outlen);
	conf_print(a, f, true);
	fclose(f);
	diag_init(&d2);
	CHECK_INT(conf_new(t, &b), 0);
	CHECK_INT(conf_parse_buffer(b, "printed", out, outlen, "rserver", &d2), 0);
	for (size_t i = 0; i < d2.n; i++)
		fprintf(stderr, "  %s:%u: %s\n", d2.entries[i].file, d2.entries[i].line,
		        d2.entries[i].message);
	CHECK_INT(d2.n, 0);
	CHECK(conf_equal(a, b));
	/* Printing again gives the same text: values are printed canonically. */
	{
		char *p1 = NULL, *p2 = NULL;
		size_t l1 = 0, l2 = 0;
		FILE *f1 = open_memstream(&p1, &l1), *f2 = open_memstream(&p2, &l2);
		conf_print(a, f1, false);
		conf_print(b, f2, false);
		fclose(f1);
		fclose(f2);
		CHECK_STR(p1, p2);
		free(p1);
		free(p2);
	}
	free(out);
	conf_free(a);
	conf_free(b);
	diag_free(&d);
	diag_free(&d2);
}

TEST(print_round_trip)
{
	round_trip(&rserver_conf_table, "");
	round_trip(&rserver_conf_table, "www-port=9000\nwww-address=::\nauth-timeout-minutes=0.05\n"
	                                "rsession-exec-command=nice -n 10\nssl-enabled=1\n"
	                                "auth-required-user-group=rusers\n");
	round_trip(&rsession_conf_table, "session-timeout-minutes=0.1\nsession-timeout-kill-hours="
	                                 "1.25\nsession-save-action-default=no\n");
	round_trip(&database_conf_table, "directory=/srv/rs\n");
	round_trip(&logging_conf_table, "[*]\nlog-level=debug\nlog-message-format=json\n");
}

TEST(decimal_printing)
{
	struct diag d;
	struct conf *c = parse(&rsession_conf_table, "session-timeout-minutes=0.05\n", NULL, &d);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	conf_print(c, f, false);
	fclose(f);
	CHECK_CONTAINS(out, "session-timeout-minutes=0.05\n");
	CHECK_CONTAINS(out, "session-timeout-kill-hours=0\n");
	free(out);
	conf_free(c);
	diag_free(&d);
}

TEST(logging_sections)
{
	struct diag d;
	struct conf *c = parse(&logging_conf_table,
	                       "[*]\n"
	                       "log-level=warn\n"
	                       "[@rserver]\n"
	                       "log-level=debug\n"
	                       "logger-type=file\n"
	                       "[@rsession]\n"
	                       "log-level=error\n"
	                       "logger-type=journal\n",
	                       "rserver", &d);
	/* [@rsession] is checked even though it does not apply to rserver. */
	CHECK_STR(only(&d, DIAG_ERROR, 8),
	          "logger-type: 'journal' is not one of stderr|file|syslog");
	CHECK_STR(conf_str(c, LOGGING_LOG_LEVEL), "debug");
	CHECK_STR(conf_str(c, LOGGING_LOGGER_TYPE), "file");
	conf_free(c);
	diag_free(&d);

	c = parse(&logging_conf_table, "log-level=warn\n", "rserver", &d);
	CHECK_STR(only(&d, DIAG_ERROR, 1), "'log-level' is outside any section (start with [*])");
	conf_free(c);
	diag_free(&d);

	c = parse(&logging_conf_table, "[rserver]\n", "rserver", &d);
	CHECK_STR(only(&d, DIAG_ERROR, 1), "section '[rserver]' must be [*] or [@program]");
	conf_free(c);
	diag_free(&d);

	c = parse(&logging_conf_table, "[*\n", "rserver", &d);
	CHECK_STR(only(&d, DIAG_ERROR, 1), "malformed section header '[*'");
	conf_free(c);
	diag_free(&d);
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(login_defs)
{
	char path[256];
	long long v = -1;

	snprintf(path, sizeof(path), "%s/login.defs", tmpdir);
	write_file("login.defs",
	           "# comment\nUID_MIN\t\t 1000\nUID_MINX 3\n#UID_MIN 7\nUID_MIN 2000\n");
	CHECK_INT(settings_login_defs_uid_min(path, &v), 0);
	CHECK_INT(v, 2000);
	write_file("login.defs", "UID_MAX 60000\n");
	CHECK_INT(settings_login_defs_uid_min(path, &v), -ENOENT);
	write_file("login.defs", "UID_MIN lots\n");
	CHECK_INT(settings_login_defs_uid_min(path, &v), -EINVAL);
	CHECK_INT(settings_login_defs_uid_min("/nonexistent/login.defs", &v), -ENOENT);
}

TEST(load_directory)
{
	struct settings s;
	struct diag d;
	char defs[256];

	snprintf(defs, sizeof(defs), "%s/login.defs", tmpdir);
	write_file("login.defs", "UID_MIN 500\n");
	write_file("rserver.conf", "www-port=9999\n");
	write_file("rsession.conf", "session-timeout-minutes=5\n");
	write_file("logging.conf", "[*]\nlog-level=warn\n");
	diag_init(&d);
	CHECK_INT(settings_load(&s, tmpdir, "rserver", defs, &d), 0);
	CHECK_INT(d.n, 0);
	CHECK_INT(conf_int(s.rserver, RSERVER_WWW_PORT), 9999);
	CHECK_INT(conf_int(s.rserver, RSERVER_AUTH_MINIMUM_USER_ID), 500);
	CHECK(conf_decimal(s.rsession, RSESSION_SESSION_TIMEOUT_MINUTES) == 5);
	CHECK_STR(conf_str(s.database, DATABASE_DIRECTORY), "/var/lib/rstudio-server");
	CHECK_STR(conf_str(s.logging, LOGGING_LOG_LEVEL), "warn");

	/* Overrides: either file's keys, later than the files. */
	CHECK_INT(settings_override(&s, "www-port", "7000", &d), 0);
	CHECK_INT(conf_int(s.rserver, RSERVER_WWW_PORT), 7000);
	CHECK_STR(s.rserver->values[RSERVER_WWW_PORT].origin, "command line");
	CHECK_INT(settings_override(&s, "session-timeout-minutes", "0.05", &d), 0);
	CHECK(conf_decimal(s.rsession, RSESSION_SESSION_TIMEOUT_MINUTES) == 0.05);
	CHECK_INT(d.n, 0);
	CHECK_INT(settings_override(&s, "www-prot", "1", &d), -ENOENT);
	CHECK_STR(only(&d, DIAG_ERROR, 0),
	          "unknown option '--www-prot' (did you mean '--www-port'?)");
	diag_free(&d);
	diag_init(&d);
	CHECK_INT(settings_override(&s, "www-port", "x", &d), -EINVAL);
	CHECK_CONTAINS(only(&d, DIAG_ERROR, 0), "www-port: 'x' is not a whole number");
	settings_free(&s);
	diag_free(&d);

	/* Without login.defs: 1000. An explicit value beats login.defs. */
	diag_init(&d);
	CHECK_INT(settings_load(&s, tmpdir, "rserver", "/nonexistent", &d), 0);
	CHECK_INT(conf_int(s.rserver, RSERVER_AUTH_MINIMUM_USER_ID), 1000);
	settings_free(&s);
	write_file("rserver.conf", "auth-minimum-user-id=2000\n");
	CHECK_INT(settings_load(&s, tmpdir, "rserver", defs, &d), 0);
	CHECK_INT(conf_int(s.rserver, RSERVER_AUTH_MINIMUM_USER_ID), 2000);
	settings_free(&s);
	diag_free(&d);
}

TEST(unreadable_file)
{
	struct settings s;
	struct diag d;
	char path[256];

	snprintf(path, sizeof(path), "%s/rserver.conf", tmpdir);
	unlink(path);
	CHECK_INT(mkdir(path, 0700), 0);
	diag_init(&d);
	CHECK_INT(settings_load(&s, tmpdir, "rserver", "/nonexistent", &d), 0);
	CHECK_INT(diag_errors(&d), 1);
	CHECK_CONTAINS(d.n ? d.entries[0].message : NULL, "cannot read");
	settings_free(&s);
	diag_free(&d);
	rmdir(path);
}

/* Records what conf_take_reloadable() / settings_take_reloadable() reported. */
struct changes {
	char log[512];
	int n;
};

static void note_change(const struct conf_key *k, bool applied, void *arg)
{
	struct changes *c = arg;
	size_t len = strlen(c->log);

	snprintf(c->log + len, sizeof(c->log) - len, "%s%s=%s", c->n++ ? " " : "", k->name,
	         applied ? "applied" : "restart");
}

static void note_file_change(const char *file, const struct conf_key *k, bool applied, void *arg)
{
	struct changes *c = arg;
	size_t len = strlen(c->log);

	snprintf(c->log + len, sizeof(c->log) - len, "%s%s:%s=%s", c->n++ ? " " : "", file, k->name,
	         applied ? "applied" : "restart");
}

TEST(take_reloadable)
{
	struct conf *live, *fresh, *other = NULL;
	struct changes ch = {{0}, 0};
	const char *service;
	struct diag d;

	live = parse(&rserver_conf_table,
	             "www-port=8000\nauth-pam-service=old\nrsession-exec-command=nice\n"
	             "auth-lockout-attempts=3\n",
	             NULL, &d);
	diag_free(&d);
	fresh = parse(&rserver_conf_table,
	              "www-port=9000\nauth-pam-service=new\nrsession-exec-command=nice\n"
	              "auth-lockout-attempts=3\nserver-public-warning=hello\n",
	              NULL, &d);
	diag_free(&d);
	CHECK(live && fresh);
	if (!live || !fresh)
		goto out;
	service = conf_str(live, RSERVER_AUTH_PAM_SERVICE);

	/* Changed reloadable keys are applied, the changed fixed key is kept
	 * and reported, unchanged keys are not reported. */
	CHECK_INT(conf_take_reloadable(live, fresh, note_change, &ch), 3);
	CHECK_STR(ch.log,
	          "www-port=restart auth-pam-service=applied server-public-warning=applied");
	CHECK_INT(conf_int(live, RSERVER_WWW_PORT), 8000);
	CHECK_STR(conf_str(live, RSERVER_AUTH_PAM_SERVICE), "new");
	CHECK_STR(conf_str(live, RSERVER_SERVER_PUBLIC_WARNING), "hello");
	CHECK_STR(conf_str(live, RSERVER_RSESSION_EXEC_COMMAND), "nice");
	CHECK_INT(live->values[RSERVER_AUTH_PAM_SERVICE].line, 2);
	CHECK(live->values[RSERVER_SERVER_PUBLIC_WARNING].set);
	/* The values were swapped: fresh now owns the old string (freed
	 * below, once: ASan checks there is no double free or leak). */
	CHECK(conf_str(fresh, RSERVER_AUTH_PAM_SERVICE) == service);
	CHECK(conf_str(fresh, RSERVER_SERVER_PUBLIC_WARNING) == NULL);
	conf_free(fresh);
	fresh = NULL;
	CHECK_STR(conf_str(live, RSERVER_AUTH_PAM_SERVICE), "new");

	/* Nothing changed: nothing reported, and on_change may be NULL. */
	CHECK_INT(conf_new(&rserver_conf_table, &fresh), 0);
	CHECK_INT(conf_new(&rserver_conf_table, &other), 0);
	CHECK_INT(conf_take_reloadable(other, fresh, NULL, NULL), 0);
	conf_free(other);
	other = NULL;

	/* Back to the defaults: keys that were set and are no longer count
	 * as changed too; the fixed one stays. */
	CHECK_INT(conf_take_reloadable(live, fresh, NULL, NULL), 5);
	CHECK_INT(conf_int(live, RSERVER_WWW_PORT), 8000);
	CHECK_STR(conf_str(live, RSERVER_AUTH_PAM_SERVICE), "rstudio");
	CHECK(conf_str(live, RSERVER_SERVER_PUBLIC_WARNING) == NULL);
	conf_free(fresh);
	fresh = NULL;

	/* Different tables are refused. */
	CHECK_INT(conf_new(&rsession_conf_table, &other), 0);
	CHECK_INT(conf_take_reloadable(live, other, NULL, NULL), -EINVAL);
out:
	conf_free(other);
	conf_free(fresh);
	conf_free(live);
}

TEST(settings_take_reloadable)
{
	struct settings live, fresh;
	struct changes ch = {{0}, 0};
	struct diag d;

	write_file("rserver.conf", "www-port=8000\nauth-pam-service=old\n");
	write_file("rsession.conf", "session-timeout-minutes=5\n");
	write_file("database.conf", "directory=/var/lib/a\n");
	write_file("logging.conf", "[*]\nlog-level=warn\n");
	diag_init(&d);
	CHECK_INT(settings_load(&live, tmpdir, "rserver", "/nonexistent", &d), 0);
	write_file("rserver.conf", "www-port=8000\nauth-pam-service=new\n");
	write_file("rsession.conf", "session-timeout-minutes=7\n");
	write_file("database.conf", "directory=/var/lib/b\n");
	write_file("logging.conf", "[*]\nlog-level=debug\nlogger-type=syslog\n");
	CHECK_INT(settings_load(&fresh, tmpdir, "rserver", "/nonexistent", &d), 0);
	CHECK_INT(d.n, 0);

	CHECK_INT(settings_take_reloadable(&live, &fresh, note_file_change, &ch), 5);
	CHECK_STR(ch.log, "rserver.conf:auth-pam-service=applied "
	                  "rsession.conf:session-timeout-minutes=applied "
	                  "database.conf:directory=restart logging.conf:log-level=applied "
	                  "logging.conf:logger-type=restart");
	CHECK_STR(conf_str(live.rserver, RSERVER_AUTH_PAM_SERVICE), "new");
	CHECK(conf_decimal(live.rsession, RSESSION_SESSION_TIMEOUT_MINUTES) == 7);
	CHECK_STR(conf_str(live.database, DATABASE_DIRECTORY), "/var/lib/a");
	CHECK_STR(conf_str(live.logging, LOGGING_LOG_LEVEL), "debug");
	CHECK_STR(conf_str(live.logging, LOGGING_LOGGER_TYPE), "stderr");
	settings_free(&fresh);
	settings_free(&live);
	diag_free(&d);
}

int main(void)
{
	char cmd[128];
	int status;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rs-test-conf-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(defaults);
	RUN(valid_file);
	RUN(unknown_key_suggests);
	RUN(bad_values);
	RUN(good_values);
	RUN(byte_order_mark);
	RUN(twice_later_wins);
	RUN(every_problem_reported);
	RUN(nul_byte);
	RUN(print_round_trip);
	RUN(decimal_printing);
	RUN(logging_sections);
	RUN(login_defs);
	RUN(load_directory);
	RUN(unreadable_file);
	RUN(take_reloadable);
	RUN(settings_take_reloadable);
	status = test_summary();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		status = 1;
	return status;
}
