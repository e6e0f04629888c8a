/*
 * Dropping root for good, and proving it (OpenSSH's permanently_set_uid).
 * Used by the network process (to server-user) and by rsession-launcher's
 * child (to the session's user).
 */
#ifndef RSERVER_PRIVDROP_H
#define RSERVER_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Sets the supplementary groups (initgroups for user, or none when user
 * is NULL), then setresgid and setresuid to gid and uid. With lift_nproc,
 * RLIMIT_NPROC is raised to unlimited across the uid switch and restored
 * after it, as sudo does, so that a user already at max-processes can
 * still start a session. Then proves that every real, effective and saved
 * id changed and that neither uid 0 nor gid 0 can be regained. On failure
 * writes the failed call into err and returns a negative errno: the caller
 * must exit, since the process is in an unknown state.
 */
int privdrop_permanently(const char *user, uid_t uid, gid_t gid, bool lift_nproc, char *err,
			 size_t errsize);

#endif
