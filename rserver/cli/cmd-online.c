/*
 * rstudio-server online: leave maintenance mode.
 */
#include "cli.h"

static int exec_online(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	return cli_simple(c, ADMIN_ONLINE, NULL);
}

const struct cli_command cmd_online_entry = {
    .name = "online",
    .args = "",
    .help = "serve users again after offline",
    .exec = exec_online,
};
