/*
 * rsession's command line and rsession.conf settings, parsed once in main()
 * and read-only afterwards.
 */
#ifndef RSESSION_OPTIONS_H
#define RSESSION_OPTIONS_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"

struct rsession_options {
	const char *session_id;
	const char *socket_path; /* NULL: the listening socket is fd 3 */
	bool has_allow_uid;
	uid_t allow_uid;
	const char *config_dir;
	bool resume;        /* --resume: state must exist */
	const char *r_home; /* NULL: R_HOME or the R rsession was built with */
	struct conf *conf;  /* rsession.conf table, overrides applied */
	char *state_root;   /* <data home>/rstudio/sessions */
};

extern struct rsession_options opts;

#endif
