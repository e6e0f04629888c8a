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
 * Where program name lives beside program self (NULL: this process's own
 * executable): in the same directory (an installed tree), else in the
 * build tree's sibling directory "<dir>/../<name>/<name>". A malloc'd path,
 * or NULL when self cannot be resolved. The result may not exist.
 */
char *fs_sibling_program(const char *self, const char *name);

#endif
