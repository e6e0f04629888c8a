/*
 * Choosing the R installation for a session: the profile's r-version (an R
 * home directory), else rsession-which-r (an R executable), else the R on
 * PATH.
 */
#ifndef RSERVER_RINSTALL_H
#define RSERVER_RINSTALL_H

#include <stddef.h>

/*
 * Sets *ret_home (malloc'd) to the R home directory. The R launcher script
 * names its home in an "R_HOME_DIR=" line, which is read rather than
 * running R as root. Errors name the setting: "r-version /opt/R/3.1.0: no R
 * installation there".
 */
int rinstall_find(const char *r_version, const char *which_r, const char *path, char **ret_home,
                  char *err, size_t errsize);

#endif
