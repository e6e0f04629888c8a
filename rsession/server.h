/*
 * rsession's I/O thread: the listening socket, its clients, the protocol,
 * and signals. It never calls R; see console.h for how it talks to the R
 * thread.
 */
#ifndef RSESSION_SERVER_H
#define RSESSION_SERVER_H

/*
 * Starts the I/O thread serving listen_fd. Must be called from the R
 * (main) thread after console_init(). Returns 0 or a negative errno.
 */
int server_start(int listen_fd);

/*
 * Installs handlers that forward SIGUSR1 (suspend), SIGUSR2 (force
 * suspend) and SIGTERM (terminate) to the I/O thread. Call after R has
 * installed its own handlers (setup_Rmainloop), which these replace.
 */
int server_install_signals(void);

#endif
