/*
 * rstudio-server stop: with systemd as PID 1, "systemctl stop
 * rstudio-server"; otherwise SIGTERM to the rserver named by
 * <server-data-dir>/rserver.pid, waiting until it has gone. Sessions keep
 * running either way.
 */
#include "cli.h"

static int exec_stop(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	return cli_systemd() ? cli_systemctl(c, "stop") : cli_stop_direct(c);
}

const struct cli_command cmd_stop_entry = {
    .name = "stop",
    .args = "",
    .help = "stop rserver; sessions keep running",
    .exec = exec_stop,
};
