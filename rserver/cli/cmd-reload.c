/*
 * rstudio-server reload: the running rserver re-reads its configuration,
 * as on SIGHUP; a configuration with errors changes nothing (exit 1).
 */
#include "cli.h"

static int exec_reload(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	return cli_simple(c, ADMIN_RELOAD, NULL);
}

const struct cli_command cmd_reload_entry = {
    .name = "reload",
    .args = "",
    .help = "re-read the configuration and profiles without a restart",
    .exec = exec_reload,
};
