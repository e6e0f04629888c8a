/*
 * rserver command-line parsing; see cmdline.h.
 *
 * Hand-rolled rather than getopt_long because the set of "--key=value"
 * options is the whole configuration table, decided at run time.
 */
#include "cmdline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

static int set_action(struct cmdline *c, enum cmdline_action a, const char *arg, char *err,
                      size_t errsize)
{
	if (c->action != CMDLINE_SERVE && c->action != a) {
		snprintf(err, errsize, "'%s' cannot be combined with another action", arg);
		return -EINVAL;
	}
	c->action = a;
	return 0;
}

int cmdline_parse(int argc, char **argv, struct cmdline *ret, char *err, size_t errsize)
{
	struct cmdline c = {.action = CMDLINE_SERVE};
	const char *env = getenv("RSTUDIO_CONFIG_DIR");
	int r = 0;

	c.config_dir = env && *env ? env : SETTINGS_DEFAULT_CONFIG_DIR;
	c.overrides = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*c.overrides));
	if (!c.overrides)
		return -ENOMEM;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;

		if (strcmp(a, "--test-config") == 0) {
			r = set_action(&c, CMDLINE_TEST_CONFIG, a, err, errsize);
		} else if (strcmp(a, "--print-config") == 0) {
			r = set_action(&c, CMDLINE_PRINT_CONFIG, a, err, errsize);
		} else if (strcmp(a, "--version") == 0) {
			r = set_action(&c, CMDLINE_VERSION, a, err, errsize);
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			r = set_action(&c, CMDLINE_HELP, a, err, errsize);
		} else if (strncmp(a, "--print-profile", 15) == 0 &&
		           (a[15] == '=' || a[15] == '\0')) {
			r = set_action(&c, CMDLINE_PRINT_PROFILE, a, err, errsize);
			if (a[15] == '=')
				c.profile_user = a + 16;
			else if (i + 1 < argc)
				c.profile_user = argv[++i];
			if (r == 0 && (!c.profile_user || !*c.profile_user)) {
				snprintf(err, errsize, "--print-profile needs a user name");
				r = -EINVAL;
			}
		} else if (strncmp(a, "--config-dir", 12) == 0 && (a[12] == '=' || a[12] == '\0')) {
			if (a[12] == '=')
				c.config_dir = a + 13;
			else if (i + 1 < argc)
				c.config_dir = argv[++i];
			else
				c.config_dir = NULL;
			if (!c.config_dir || !*c.config_dir) {
				snprintf(err, errsize, "--config-dir needs a directory");
				r = -EINVAL;
			}
		} else if (strncmp(a, "--", 2) == 0 && a[2] && (eq = strchr(a, '='))) {
			/* --key=value: the key is checked against the tables
			 * once they are loaded, so errors can suggest names. */
			char *key = strndup(a + 2, (size_t)(eq - a - 2));
			if (!key) {
				r = -ENOMEM;
				break;
			}
			c.overrides[c.noverrides].key = key;
			c.overrides[c.noverrides].value = eq + 1;
			c.noverrides++;
		} else if (strncmp(a, "--", 2) == 0) {
			snprintf(err, errsize, "'%s' needs a value: use %s=VALUE", a, a);
			r = -EINVAL;
		} else {
			snprintf(err, errsize, "unexpected argument '%s'", a);
			r = -EINVAL;
		}
		if (r < 0)
			break;
	}
	if (r < 0) {
		cmdline_free(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void cmdline_free(struct cmdline *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->overrides && i < c->noverrides; i++)
		free(c->overrides[i].key);
	free(c->overrides);
	c->overrides = NULL;
	c->noverrides = 0;
}
