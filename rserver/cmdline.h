/*
 * rserver's command line: --config-dir, the actions (--test-config,
 * --print-config, --print-profile=USER, --version, --help) and any config
 * key as --key=value, which overrides the files.
 */
#ifndef RSERVER_CMDLINE_H
#define RSERVER_CMDLINE_H

#include <stddef.h>

enum cmdline_action {
	CMDLINE_SERVE,
	CMDLINE_TEST_CONFIG,
	CMDLINE_PRINT_CONFIG,
	CMDLINE_PRINT_PROFILE,
	CMDLINE_VERSION,
	CMDLINE_HELP,
};

struct cmdline_override {
	char *key;         /* owned */
	const char *value; /* points into argv */
};

struct cmdline {
	enum cmdline_action action;
	const char *config_dir;
	const char *profile_user;
	struct cmdline_override *overrides;
	size_t noverrides;
};

/*
 * Parses argv. On a usage error writes a message into err and returns
 * -EINVAL; -ENOMEM on allocation failure. Values borrow argv's strings.
 */
int cmdline_parse(int argc, char **argv, struct cmdline *ret, char *err, size_t errsize);
void cmdline_free(struct cmdline *c);

#endif
