/*
 * rstudio-server force-suspend-session <id|pid>: interrupt R if busy, then suspend the session to
 * disk
 */
#include "cli.h"

static int exec_force_suspend_session(struct cli *c, const struct cli_command *self, int argc,
                                      char **argv)
{
	return cli_session_command(c, self, ADMIN_FORCE_SUSPEND_SESSION, argc, argv);
}

const struct cli_command cmd_force_suspend_session_entry = {
    .name = "force-suspend-session",
    .args = "<id|pid>",
    .help = "interrupt R if busy, then suspend the session to disk",
    .exec = exec_force_suspend_session,
};
