/*
 * The admin socket of the network process: <server-data-dir>/admin.sock,
 * which the rstudio-server CLI talks to (common/adminproto.h).
 *
 * The socket is created while rserver is still root (the data directory is
 * root's), owned by root with mode 0600, or 0660 with group admin-group
 * when that is set. The network process keeps the listening descriptor
 * after it drops to server-user; accepting needs no file permission. Every
 * accepted connection is checked with SO_PEERCRED: root, or a user whose
 * groups include admin-group, else refused. Each command acts on the
 * session registry (sessions.h) on the network process's loop and is
 * logged and recorded in the audit trail with the admin's user name.
 */
#ifndef RSERVER_ADMIN_H
#define RSERVER_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "db.h"
#include "sessions.h"
#include "settings.h"

struct admin;

struct admin_deps {
	uv_loop_t *loop;
	const struct settings *settings; /* live: reloads change its values */
	struct db *db;
	struct sessions *sessions;
	/*
	 * Re-reads the configuration as SIGHUP does (server.c); who names the
	 * requester for the log. Writes a one-line summary into msg; returns
	 * 0, or a negative errno when the configuration was refused.
	 */
	int (*reload)(const char *who, char *msg, size_t msgsize);
};

/*
 * Creates <server-data-dir> (0755, root's) if missing and the socket in it,
 * replacing a stale one, and starts listening on deps->loop. Must run as
 * root, before the privilege drop. On error writes a message into err and
 * returns a negative errno.
 */
int admin_start(const struct admin_deps *deps, struct admin **ret, char *err, size_t errsize);

/* Stops listening, ends every connection and cancels every command under
 * way (their sessions are left as they are). The loop then drains. Accepts
 * NULL. */
void admin_stop(struct admin *a);

/* Frees what is left once the loop has run dry after admin_stop(). The
 * socket file stays (its directory is root's); the next start replaces
 * it. Accepts NULL. */
void admin_free(struct admin *a);

/* How long a command waits for its sessions, in milliseconds. */
#define ADMIN_SUSPEND_WAIT_MS       30000
#define ADMIN_FORCE_SUSPEND_WAIT_MS 60000
#define ADMIN_KILL_WAIT_MS          30000
#define ADMIN_VERIFY_WAIT_MS        120000
/* Sessions one *-all command acts on at the same time. */
#define ADMIN_MAX_IN_FLIGHT 16

#endif
