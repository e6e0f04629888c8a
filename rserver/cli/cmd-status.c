/*
 * rstudio-server status: whether rserver runs, and its pid, version,
 * uptime, address, sessions by state and maintenance mode. Exit 1 when it
 * does not run.
 */
#include <stdio.h>

#include "cli.h"
#include "db.h"

static void print_uptime(long long s)
{
	if (s >= 86400)
		printf("%lldd ", s / 86400);
	if (s >= 3600)
		printf("%lldh ", s / 3600 % 24);
	if (s >= 60)
		printf("%lldm ", s / 60 % 60);
	printf("%llds", s % 60);
}

static int exec_status(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	json_t *a, *counts;
	int r;

	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	r = cli_request(c, ADMIN_STATUS, NULL, &a, false);
	if (r != CLI_OK)
		return r;
	if (!json_is_true(json_object_get(a, "ok")))
		return cli_print_answer(c, a);
	printf("rserver %s running, pid %lld, up ",
	       json_string_value(json_object_get(a, "version")),
	       (long long)json_integer_value(json_object_get(a, "pid")));
	print_uptime((long long)json_integer_value(json_object_get(a, "uptime_seconds")));
	printf("\nlistening on %s:%lld\n", json_string_value(json_object_get(a, "address")),
	       (long long)json_integer_value(json_object_get(a, "port")));
	counts = json_object_get(a, "sessions");
	printf("sessions:");
	for (int i = DB_SESSION_STARTING; i <= DB_SESSION_EXITED; i++) {
		const char *name = db_session_state_name((enum db_session_state)i);
		printf("%s %lld %s", i == DB_SESSION_STARTING ? "" : ",",
		       (long long)json_integer_value(json_object_get(counts, name)), name);
	}
	printf("\n%s\n", json_is_true(json_object_get(a, "offline"))
	                     ? "offline: user pages answer 503 ('rstudio-server online' ends it)"
	                     : "online");
	json_decref(a);
	return CLI_OK;
}

const struct cli_command cmd_status_entry = {
    .name = "status",
    .args = "",
    .help = "show whether rserver runs, its sessions by state, offline or not",
    .exec = exec_status,
};
