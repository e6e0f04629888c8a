/*
 * rstudio-server version: this program's version (rserver's is in
 * "status").
 */
#include <stdio.h>

#include "cli.h"

static int exec_version(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(c, self, "unexpected argument '%s'", argv[1]);
	printf("rstudio-server %s\n", RSERVER_VERSION);
	return CLI_OK;
}

const struct cli_command cmd_version_entry = {
    .name = "version",
    .args = "",
    .help = "print the version",
    .exec = exec_version,
};
