/*
 * Administrators' notices (notifications.conf) delivered live to every
 * open console.
 *
 * The file is watched once, here, rather than polled by every session:
 * uv_fs_event on its directory (editors save by writing a new file and
 * renaming it over the old one, and the file may not exist yet), plus a slow
 * uv_fs_poll of the path for file systems without inotify. On a change the
 * file is read again; entries with problems are skipped with a logged
 * file:line warning and kept for the admin views, the good ones go out.
 *
 * An entry is delivered when it becomes active (StartTime <= now <= EndTime;
 * a timer waits for the next start or end), to every console of every user
 * who has not acknowledged it, and to each console that connects while it
 * is active. When it ends, or is removed or edited away (an edit is a new
 * id), open consoles are told to drop it. Acknowledgements are stored per
 * user in sqlite; the user's other consoles drop the banner at once.
 */
#ifndef RSERVER_NOTICES_H
#define RSERVER_NOTICES_H

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "sessions.h"
#include "settings.h"

struct notices;

struct notices_deps {
	uv_loop_t *loop;
	const struct settings *settings; /* the config dir holds notifications.conf */
	struct db *db;
	struct sessions *sessions;
};

/* Reads the file and starts watching it. */
int notices_start(const struct notices_deps *deps, struct notices **ret);

/* Reads the file again now (SIGHUP). */
void notices_reload(struct notices *n);

/* A console connected: send it the user's unacknowledged active notices. */
void notices_greet(struct notices *n, struct session_viewer *v, const char *user);

/*
 * user acknowledged notice id: stored (a restart keeps it), and every
 * console of that user told to drop it. -ENOENT when no current entry has
 * that id, -EIO when it cannot be stored.
 */
int notices_ack(struct notices *n, const char *user, const char *id);

/* For administrators: every entry (id, start, end, message, active,
 * acknowledged_by count) and the file's problems ("file:line: ..."). */
json_t *notices_status_json(struct notices *n);

/* Closes the watches and the timer; notices_free() after the loop ran. */
void notices_stop(struct notices *n);
void notices_free(struct notices *n);

#endif
