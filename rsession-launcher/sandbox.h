/*
 * session-sandbox-enabled: each session in a mount namespace of its own,
 * where the server's own directories are masked and /tmp and /var/tmp are
 * the session's private directory.
 *
 * Masked, each by an empty read-only tmpfs: the config directory, the
 * database directory (database.conf), the directory of the cookie key
 * (secure-cookie-key-file), server-data-dir (other sessions' sockets, the
 * admin socket) and session-temp-dir (other sessions' private /tmp).
 * Everything else stays as it is: home directories, /usr, /opt, R homes
 * and library paths.
 *
 * The launcher plans the masks in the parent (sandbox_plan) and refuses a
 * plan that would hide something the session needs (sandbox_hides), before
 * PAM; the child enters the sandbox as root (sandbox_enter), after fork and
 * before it drops privileges.
 */
#ifndef RSERVER_SANDBOX_H
#define RSERVER_SANDBOX_H

#include <stddef.h>

#include "settings.h"

struct sandbox_mask {
	char *path;       /* canonical: symbolic links resolved */
	const char *what; /* which setting names it, for messages */
};

struct sandbox {
	struct sandbox_mask *masks;
	size_t nmasks;
};

/*
 * The masks for a session started with settings s (config_dir is the
 * directory the settings came from). Each path is resolved with realpath;
 * one that does not exist has nothing to hide and is left out, and one
 * inside another mask is left out too (the outer tmpfs hides it). -ENOMEM.
 */
int sandbox_plan(const struct settings *s, const char *config_dir, struct sandbox *ret);
void sandbox_free(struct sandbox *sb);

/* The mask that would hide path (path is the mask or inside it; resolved
 * with realpath when it exists), or NULL. Paths under the host's /tmp and
 * /var/tmp are hidden too: the session's own directory replaces them. */
const struct sandbox_mask *sandbox_hides(const struct sandbox *sb, const char *path);

/*
 * In the session's child, as root: a mount namespace of its own whose
 * mounts never propagate to the host, every mask, then tmp_dir (the
 * session's directory under session-temp-dir, already the user's) bound
 * on /tmp and on /var/tmp. -errno with a message naming
 * session-sandbox-enabled when the kernel refuses (no CAP_SYS_ADMIN).
 */
int sandbox_enter(const struct sandbox *sb, const char *tmp_dir, char *err, size_t errsize);

#endif
