/*
 * rstudio-server active-sessions [--json]: list-sessions restricted to
 * the sessions that have an R process (starting, running, suspending).
 */
#include "cli.h"

static int exec_active_sessions(struct cli *c, const struct cli_command *self, int argc,
                                char **argv)
{
	return cli_list_sessions(c, self, argc, argv, true);
}

const struct cli_command cmd_active_sessions_entry = {
    .name = "active-sessions",
    .args = "[--json]",
    .help = "list the sessions that have an R process (starting, running, suspending)",
    .exec = exec_active_sessions,
};
