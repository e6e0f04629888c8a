/*
 * The network process: rserver's start-up sequence and its event loop.
 */
#ifndef RSERVER_SERVER_H
#define RSERVER_SERVER_H

#include <stddef.h>

#include "cmdline.h"

/* Runs rserver in the foreground until SIGTERM; returns the exit status. */
int server_run(const struct cmdline *cl);

/*
 * Re-reads the configuration and applies the reloadable keys and the
 * profiles, as SIGHUP does; who names the requester in the log ("SIGHUP",
 * "admin root"). Writes a one-line outcome into msg (may be NULL). 0, or
 * -EINVAL when the files have errors and nothing changed. Only while
 * server_run() serves.
 */
int server_reload(const char *who, char *msg, size_t msgsize);

#endif
