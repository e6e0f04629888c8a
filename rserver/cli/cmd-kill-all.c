/*
 * rstudio-server kill-all [--user U]: kill every running session (of user U), several at a time,
 * one line per session; exit 1 if any failed.
 */
#include "cli.h"

static int exec_kill_all(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	return cli_all_command(c, self, ADMIN_KILL_ALL, argc, argv);
}

const struct cli_command cmd_kill_all_entry = {
    .name = "kill-all",
    .args = "[--user U]",
    .help = "kill every running session (of user U)",
    .exec = exec_kill_all,
};
