/*
 * rstudio-server restart: stop, wait until rserver has gone, start.
 * Sessions keep running and are found again by the new rserver.
 */
#include "cli.h"

static int exec_restart(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	int r;

	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	if (cli_systemd())
		return cli_systemctl(c, "restart");
	r = cli_stop_direct(c);
	return r == CLI_OK ? cli_start_direct(c) : r;
}

const struct cli_command cmd_restart_entry = {
    .name = "restart",
    .args = "",
    .help = "stop and start rserver; sessions keep running",
    .exec = exec_restart,
};
