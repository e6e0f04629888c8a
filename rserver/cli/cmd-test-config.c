/*
 * rstudio-server test-config: checks every configuration file here, as
 * "rserver --test-config" does; needs no running server.
 */
#include <stdio.h>

#include "cli.h"
#include "config-report.h"

static int exec_test_config(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	return config_test(&c->cl, stdout) == 0 ? CLI_OK : CLI_FAIL;
}

const struct cli_command cmd_test_config_entry = {
    .name = "test-config",
    .args = "",
    .help = "check every configuration file; print each problem as file:line",
    .exec = exec_test_config,
};
