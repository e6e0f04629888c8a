/*
 * rstudio-server offline [MESSAGE]: maintenance mode. User pages and the
 * session API answer 503 (with MESSAGE) until "online"; sessions keep
 * running and health checks keep answering.
 */
#include "cli.h"

static int exec_offline(struct cli *c, const struct cli_command *self, int argc, char **argv)
{
	if (argc > 2)
		return cli_usage(c, self, "unexpected argument '%s' (quote the message)", argv[2]);
	return cli_simple(c, ADMIN_OFFLINE,
	                  argc == 2 ? json_pack("{s:s}", "message", argv[1]) : NULL);
}

const struct cli_command cmd_offline_entry = {
    .name = "offline",
    .args = "[MESSAGE]",
    .help = "refuse new requests (503 with MESSAGE) while sessions keep running",
    .exec = exec_offline,
};
