/*
 * rserver: the multi-user R session server.
 *
 * This file only dispatches the command line: the configuration actions
 * live in config-report.c, the server in server.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "config-report.h"
#include "server.h"

static void usage(FILE *out)
{
	fputs("usage: rserver [--config-dir DIR] [--KEY=VALUE ...]\n"
	      "               [--test-config | --print-config | --print-profile=USER |\n"
	      "                --version | --help]\n"
	      "\n"
	      "  --config-dir DIR     configuration directory (default /etc/rstudio,\n"
	      "                       or $RSTUDIO_CONFIG_DIR)\n"
	      "  --KEY=VALUE          set any rserver.conf or rsession.conf key,\n"
	      "                       overriding the files\n"
	      "  --test-config        check every configuration file; print each problem\n"
	      "                       as file:line: message; exit 1 on any error\n"
	      "  --print-config       print the effective settings (re-parsable)\n"
	      "  --print-profile=USER print USER's effective profile and where each\n"
	      "                       value comes from\n",
	      out);
}

int main(int argc, char **argv)
{
	struct cmdline cl;
	char err[512];
	int r, status;

	r = cmdline_parse(argc, argv, &cl, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "rserver: %s\n", r == -ENOMEM ? strerror(ENOMEM) : err);
		usage(stderr);
		return 2;
	}
	switch (cl.action) {
	case CMDLINE_HELP:
		usage(stdout);
		status = 0;
		break;
	case CMDLINE_VERSION:
		printf("rserver %s\n", RSERVER_VERSION);
		status = 0;
		break;
	case CMDLINE_TEST_CONFIG:
		status = config_test(&cl, stdout);
		break;
	case CMDLINE_PRINT_CONFIG:
		status = config_print(&cl, stdout, stderr);
		break;
	case CMDLINE_PRINT_PROFILE:
		status = config_print_profile(&cl, stdout, stderr);
		break;
	case CMDLINE_SERVE:
	default:
		status = server_run(&cl);
		break;
	}
	cmdline_free(&cl);
	return status;
}
