/*
 * rstudio-server list-sessions [--json]: every session of every user, one
 * line each (id, user, pid, state, started, last activity, exit reason);
 * with --json the array of session objects of SPEC.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static bool is_active(json_t *s)
{
	const char *st = json_string_value(json_object_get(s, "state"));

	return st && (strcmp(st, "starting") == 0 || strcmp(st, "running") == 0 ||
	              strcmp(st, "suspending") == 0);
}

static const char *str_or_dash(json_t *s, const char *key)
{
	const char *v = json_string_value(json_object_get(s, key));

	return v && *v ? v : "-";
}

int cli_list_sessions(struct cli *c, const struct cli_command *self, int argc, char **argv,
                      bool active_only)
{
	bool as_json = false;
	json_t *a, *sessions, *shown, *s;
	size_t i;
	int r, uw = 4;

	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			as_json = true;
		else
			return cli_usage(c, self, "unexpected argument '%s'", argv[k]);
	}
	r = cli_request(c, ADMIN_LIST_SESSIONS, NULL, &a, false);
	if (r != CLI_OK)
		return r;
	if (!json_is_true(json_object_get(a, "ok")))
		return cli_print_answer(c, a);
	sessions = json_object_get(a, "sessions");
	shown = json_array();
	json_array_foreach(sessions, i, s)
	{
		if (!active_only || is_active(s))
			json_array_append(shown, s);
	}
	if (as_json) {
		char *text = json_dumps(shown, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text)
			printf("%s\n", text);
		free(text);
	} else if (json_array_size(shown) == 0) {
		printf("no %ssessions\n", active_only ? "active " : "");
	} else {
		json_array_foreach(shown, i, s)
		{
			int n = (int)strlen(json_string_value(json_object_get(s, "user")));
			if (n > uw)
				uw = n;
		}
		printf("%-16s  %-*s  %8s  %-10s  %-20s  %-20s  %s\n", "ID", uw, "USER", "PID",
		       "STATE", "STARTED", "LAST ACTIVITY", "EXIT REASON");
		json_array_foreach(shown, i, s)
		{
			json_t *pid = json_object_get(s, "pid");
			char pidbuf[24] = "-";
			if (json_is_integer(pid))
				snprintf(pidbuf, sizeof(pidbuf), "%lld",
				         (long long)json_integer_value(pid));
			printf("%-16s  %-*s  %8s  %-10s  %-20s  %-20s  %s\n", str_or_dash(s, "id"),
			       uw, str_or_dash(s, "user"), pidbuf, str_or_dash(s, "state"),
			       str_or_dash(s, "started"), str_or_dash(s, "last_activity"),
			       str_or_dash(s, "exit_reason"));
		}
	}
	json_decref(shown);
	json_decref(a);
	return CLI_OK;
}

static int exec_list_sessions(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	return cli_list_sessions(c, self, argc, argv, false);
}

const struct cli_command cmd_list_sessions_entry = {
    .name = "list-sessions",
    .args = "[--json]",
    .help = "list every session of every user",
    .exec = exec_list_sessions,
};
