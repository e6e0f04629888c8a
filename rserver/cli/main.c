/*
 * rstudio-server [--config-dir DIR] <command> [args]: the admin CLI.
 *
 * This file only parses the global options and dispatches to the command
 * table; each command is a cmd-<name>.c exporting one entry. The
 * configuration directory is --config-dir, else $RSTUDIO_CONFIG_DIR, else
 * /etc/rstudio: its server-data-dir holds the admin socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

extern const struct cli_command cmd_status_entry, cmd_list_sessions_entry,
    cmd_active_sessions_entry, cmd_suspend_session_entry, cmd_force_suspend_session_entry,
    cmd_kill_session_entry, cmd_suspend_all_entry, cmd_force_suspend_all_entry, cmd_kill_all_entry,
    cmd_offline_entry, cmd_online_entry, cmd_reload_entry, cmd_test_config_entry,
    cmd_verify_installation_entry, cmd_version_entry, cmd_start_entry, cmd_stop_entry,
    cmd_restart_entry;

static const struct cli_command *const commands[] = {
    &cmd_status_entry,
    &cmd_list_sessions_entry,
    &cmd_active_sessions_entry,
    &cmd_suspend_session_entry,
    &cmd_force_suspend_session_entry,
    &cmd_kill_session_entry,
    &cmd_suspend_all_entry,
    &cmd_force_suspend_all_entry,
    &cmd_kill_all_entry,
    &cmd_offline_entry,
    &cmd_online_entry,
    &cmd_reload_entry,
    &cmd_test_config_entry,
    &cmd_verify_installation_entry,
    &cmd_version_entry,
    &cmd_start_entry,
    &cmd_stop_entry,
    &cmd_restart_entry,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: rstudio-server [--config-dir DIR] <command> [args]\n\n"
	             "  --config-dir DIR  configuration directory (default /etc/rstudio, or\n"
	             "                    $RSTUDIO_CONFIG_DIR)\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char left[64];
		snprintf(left, sizeof(left), "%s%s%s", commands[i]->name,
		         commands[i]->args[0] ? " " : "", commands[i]->args);
		fprintf(out, "  %-32s %s\n", left, commands[i]->help);
	}
	fprintf(out, "\nSessions are named by id or by the pid of their R process. Exit status:\n"
	             "0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	struct cli c = {.program = "rstudio-server"};
	const char *env = getenv("RSTUDIO_CONFIG_DIR");
	int i, status;

	c.cl.action = CMDLINE_SERVE;
	c.cl.config_dir = env && *env ? env : SETTINGS_DEFAULT_CONFIG_DIR;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config-dir") == 0) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				fprintf(stderr, "rstudio-server: --config-dir needs a directory\n");
				usage(stderr);
				return CLI_USAGE;
			}
			c.cl.config_dir = argv[++i];
		} else if (strncmp(argv[i], "--config-dir=", 13) == 0 && argv[i][13]) {
			c.cl.config_dir = argv[i] + 13;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return CLI_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("rstudio-server %s\n", RSERVER_VERSION);
			return CLI_OK;
		} else {
			fprintf(stderr, "rstudio-server: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "rstudio-server: no command given\n");
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	for (size_t k = 0; k < NCOMMANDS; k++) {
		if (strcmp(commands[k]->name, argv[i]) == 0) {
			status = commands[k]->exec(&c, commands[k], argc - i, argv + i);
			if (c.loaded)
				settings_free(&c.settings);
			fflush(stdout);
			return status;
		}
	}
	fprintf(stderr, "rstudio-server: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return CLI_USAGE;
}
