/*
 * The network process: rserver's start-up sequence and its event loop.
 */
#ifndef RSERVER_SERVER_H
#define RSERVER_SERVER_H

#include "cmdline.h"

/* Runs rserver in the foreground until SIGTERM; returns the exit status. */
int server_run(const struct cmdline *cl);

#endif
