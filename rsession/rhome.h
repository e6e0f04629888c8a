/*
 * The R installation a session runs: R_HOME and the directories R finds
 * through environment variables before it can start.
 */
#ifndef RSESSION_RHOME_H
#define RSESSION_RHOME_H

#include <stddef.h>

/*
 * Sets R_HOME, R_SHARE_DIR, R_INCLUDE_DIR and R_DOC_DIR for the R installed
 * at r_home. Distributions move share/include/doc out of R_HOME (Debian:
 * /usr/share/R/...); the installation's own bin/R script names them, so it
 * is read for their values. On error (no R there) writes a message into
 * err and returns a negative errno.
 */
int rhome_setup(const char *r_home, char *err, size_t errsize);

#endif
