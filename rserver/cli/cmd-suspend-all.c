/*
 * rstudio-server suspend-all [--user U]: suspend every running session (of user U), several at a
 * time, one line per session; exit 1 if any failed.
 */
#include "cli.h"

static int exec_suspend_all(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	return cli_all_command(c, self, ADMIN_SUSPEND_ALL, argc, argv);
}

const struct cli_command cmd_suspend_all_entry = {
    .name = "suspend-all",
    .args = "[--user U]",
    .help = "suspend every running session (of user U)",
    .exec = exec_suspend_all,
};
