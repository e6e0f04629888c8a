/*
 * rstudio-server kill-session <id|pid>: kill a session's R process (unsaved work is lost)
 */
#include "cli.h"

static int exec_kill_session(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	return cli_session_command(c, self, ADMIN_KILL_SESSION, argc, argv);
}

const struct cli_command cmd_kill_session_entry = {
    .name = "kill-session",
    .args = "<id|pid>",
    .help = "kill a session's R process (unsaved work is lost)",
    .exec = exec_kill_session,
};
