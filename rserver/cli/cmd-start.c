/*
 * rstudio-server start: with systemd as PID 1, "systemctl start
 * rstudio-server"; otherwise runs the rserver installed beside this
 * program in the background and waits until its admin socket answers.
 */
#include "cli.h"

static int exec_start(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	return cli_systemd() ? cli_systemctl(c, "start") : cli_start_direct(c);
}

const struct cli_command cmd_start_entry = {
    .name = "start",
    .args = "",
    .help = "start rserver (systemctl under systemd)",
    .exec = exec_start,
};
