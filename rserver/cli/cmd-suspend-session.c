/*
 * rstudio-server suspend-session <id|pid>: suspend a session to disk (R must be idle at its prompt)
 */
#include "cli.h"

static int exec_suspend_session(struct cli *c, const struct cli_command *self, int argc,
                                char **argv)
{
	return cli_session_command(c, self, ADMIN_SUSPEND_SESSION, argc, argv);
}

const struct cli_command cmd_suspend_session_entry = {
    .name = "suspend-session",
    .args = "<id|pid>",
    .help = "suspend a session to disk (R must be idle at its prompt)",
    .exec = exec_suspend_session,
};
