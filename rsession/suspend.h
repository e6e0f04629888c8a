/*
 * Suspend to disk, resume, and quit: the work that needs R, run on the R
 * thread at the top-level prompt.
 *
 * State lives in <state root>/<session id>/ (the state root is
 * $XDG_DATA_HOME/rstudio/sessions, default ~/.local/share/rstudio/sessions):
 *   environment.RData  the global environment, uncompressed
 *   state.rds          R version, time, attached packages, working
 *                      directory, options, environment variables
 *   history            console history, one line per entry
 * It is written into a fresh temporary directory, fsynced, and renamed into
 * place (atomically swapped with an older state), so a crash or a full disk
 * never leaves a half-written state where a good one was.
 */
#ifndef RSESSION_SUSPEND_H
#define RSESSION_SUSPEND_H

#include <stdbool.h>
#include <stdint.h>

/* Whether saved state exists for this session. */
bool suspend_state_exists(void);

/*
 * Removes the temporary directories (.<id>.tmp-XXXXXX in the state root) a
 * suspend of this session left when it was killed mid-write: only one
 * rsession of a session id runs at a time, so nothing else is writing
 * them. Each would otherwise keep up to a whole state's worth of space
 * forever. Call at start, before any suspend. Returns how many went.
 */
int suspend_remove_stale(void);

/*
 * Saves the session and exits with RSESSION_EXIT_SUSPENDED (or _FORCE_
 * SUSPENDED). On failure the session keeps running: the previous state is
 * untouched, the requester (client, 0 for a signal) gets the cause.
 */
void suspend_run(bool force, uint64_t client);

/* Restores saved state, or moves it aside as <id>.suspended-unrestored-N
 * with the reason on the console. */
void suspend_restore(void);

/* Quits R as q(save = save) would ("default", "yes", "no"). */
void suspend_quit(const char *save, uint64_t client);

#endif
