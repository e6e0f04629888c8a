/*
 * rstudio-server: the administrator's command line. main.c parses
 * "[--config-dir DIR] <command> [args]" and runs one entry of the command
 * table; each command lives in its own cmd-<name>.c and exports its entry
 * (after tmux's cmd-*.c). This header has what the commands share: the
 * configuration, the admin socket client and the printing of outcomes.
 *
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#ifndef RSERVER_CLI_H
#define RSERVER_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "adminproto.h"
#include "cmdline.h"
#include "settings.h"

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

#define CLI_PERMISSION_MSG "permission denied: run as root or as a member of admin-group"

struct cli {
	const char *program; /* "rstudio-server", for messages */
	struct cmdline cl;   /* config_dir; no overrides */
	struct settings settings;
	bool loaded;
};

struct cli_command {
	const char *name;
	const char *args; /* usage after the name, "" when none */
	const char *help; /* one line */
	/* argv[0] is the command name. Returns the exit status. */
	int (*exec)(struct cli *c, const struct cli_command *self, int argc, char **argv);
};

/* Prints "<program>: <message>" and the command's usage line to stderr;
 * returns CLI_USAGE. */
int cli_usage(const struct cli *c, const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints "<program>: <message>" to stderr; returns CLI_FAIL. */
int cli_fail(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The configuration (read once): rserver.conf and the other files in the
 * config directory. Problems are not fatal here: the server that is
 * running may have started from a configuration edited since; with quiet
 * false a note points at test-config. NULL only on OOM.
 */
const struct settings *cli_settings(struct cli *c, bool quiet);

/* A malloc'd path inside server-data-dir ("admin.sock", "rserver.pid"). */
char *cli_data_path(struct cli *c, const char *name);

/*
 * Sends one request to the admin socket (args may be NULL; the reference
 * is taken) and waits for its answer. CLI_OK with *ret_answer (the
 * caller's reference, "ok" true or false), or CLI_FAIL after printing why
 * there is none: rserver not running, permission denied, a malformed
 * answer. With quiet, "not running" is not printed.
 */
int cli_request(struct cli *c, enum admin_command cmd, json_t *args, json_t **ret_answer,
                bool quiet);

/* Prints an answer's "message" (or its "error" to stderr); returns CLI_OK
 * or CLI_FAIL from "ok". Takes the reference. */
int cli_print_answer(struct cli *c, json_t *answer);

/* One request, its answer printed: for commands with no output of their
 * own (offline, reload, suspend-session...). */
int cli_simple(struct cli *c, enum admin_command cmd, json_t *args);

/* A session command (suspend-session, force-suspend-session,
 * kill-session): one argument, an id or a pid. */
int cli_session_command(struct cli *c, const struct cli_command *self, enum admin_command cmd,
                        int argc, char **argv);

/* An *-all command: [--user U]; prints one line per session, exit 1 if
 * any failed. */
int cli_all_command(struct cli *c, const struct cli_command *self, enum admin_command cmd, int argc,
                    char **argv);

/*
 * Parses "--user U" or "--user=U" from argv[1..]: *ret_user (borrowed, or
 * NULL when absent). CLI_USAGE after printing on anything else.
 */
int cli_parse_user(struct cli *c, const struct cli_command *self, int argc, char **argv,
                   const char **ret_user);

/* list-sessions and active-sessions: [--json]; with active_only, only the
 * sessions that have an R process. */
int cli_list_sessions(struct cli *c, const struct cli_command *self, int argc, char **argv,
                      bool active_only);

/* ---- the service: start, stop, restart ---- */

/* Whether systemd is PID 1 (/proc/1/comm), so systemctl manages rserver. */
bool cli_systemd(void);

/* Runs "systemctl <verb> rstudio-server"; returns CLI_OK or CLI_FAIL. */
int cli_systemctl(struct cli *c, const char *verb);

/*
 * The pid in <server-data-dir>/rserver.pid if it is a live rserver (its
 * executable is named rserver), else 0. A stale file is not an error.
 */
pid_t cli_running_pid(struct cli *c);

/* Without systemd: starts rserver in the background and waits until its
 * admin socket answers; stops it with SIGTERM and waits for it to go. */
int cli_start_direct(struct cli *c);
int cli_stop_direct(struct cli *c);

#endif
