/*
 * rstudio-server force-suspend-all [--user U]: force-suspend every running session (of user U),
 * several at a time, one line per session; exit 1 if any failed.
 */
#include "cli.h"

static int exec_force_suspend_all(struct cli *c, const struct cli_command *self, int argc,
                                  char **argv)
{
	return cli_all_command(c, self, ADMIN_FORCE_SUSPEND_ALL, argc, argv);
}

const struct cli_command cmd_force_suspend_all_entry = {
    .name = "force-suspend-all",
    .args = "[--user U]",
    .help = "force-suspend every running session (of user U)",
    .exec = exec_force_suspend_all,
};
