/*
 * What rserver's configuration actions print: --test-config checks every
 * file in the config directory, --print-config prints the effective
 * settings re-parsably, --print-profile=USER explains one user's profile.
 */
#ifndef RSERVER_CONFIG_REPORT_H
#define RSERVER_CONFIG_REPORT_H

#include <stdio.h>

#include "cmdline.h"
#include "diag.h"
#include "settings.h"

/*
 * Loads the key=value files named by cl into s, applies cl's overrides and
 * runs the checks that span several keys. Problems go to d. Returns 0 or
 * -ENOMEM; s must be freed with settings_free() either way.
 */
int config_load(const struct cmdline *cl, struct settings *s, struct diag *d);

/* Logs every problem in d as "<prefix>file:line: severity: message" (a
 * warning per problem: the caller logs what it decided). */
void config_log_problems(const struct diag *d, const char *prefix);

/* The actions; each returns the process exit status (0 or 1). */
int config_test(const struct cmdline *cl, FILE *out);
int config_print(const struct cmdline *cl, FILE *out, FILE *err);
int config_print_profile(const struct cmdline *cl, FILE *out, FILE *err);

#endif
