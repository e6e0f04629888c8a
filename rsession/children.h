/*
 * session-quit-child-processes-on-exit: stopping what a session started.
 */
#ifndef RSESSION_CHILDREN_H
#define RSESSION_CHILDREN_H

/*
 * Sends SIGTERM to every descendant of this process, waits up to a second
 * for them to go, then SIGKILLs the rest. Returns how many were signalled.
 */
int children_stop(void);

#endif
