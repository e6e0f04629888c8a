/*
 * File-system helpers shared by the programs: durability (fsync of a file
 * or a directory entry) and finding the programs installed beside this one.
 */
#ifndef RSERVER_FSUTIL_H
#define RSERVER_FSUTIL_H

#include <stdbool.h>

/* fsyncs path (a directory when directory is true) without following a
 * symbolic link. Negative errno on failure. */
int fs_fsync_path(const char *path, bool directory);

/* fsyncs the directory holding path, making a new entry in it durable. */
int fs_fsync_parent(const char *path);

/*
 * Where program name lives relative to program self (NULL: this process's
 * own executable). Looks, in order, in self's directory (rsession beside
 * rsession-launcher, rserver beside rstudio-server), in the helpers'
 * directory as installed, "<dir>/../lib/rserver" (rsession-launcher and
 * rsession seen from rserver in sbin), and in the build tree's sibling
 * directory "<dir>/../<name>/<name>"; the first that is executable wins.
 * A malloc'd path, or NULL when self cannot be resolved. When none is
 * executable, the first place looked ("<dir>/<name>"), which does not exist.
 */
char *fs_sibling_program(const char *self, const char *name);

#endif
