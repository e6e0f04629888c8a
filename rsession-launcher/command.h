/*
 * rsession-exec-command: splitting an administrator's supervisor command
 * into argv words with shell-like quoting, without a shell, and checking
 * that it names a program by absolute path.
 */
#ifndef RSERVER_COMMAND_H
#define RSERVER_COMMAND_H

#include <stddef.h>

/*
 * Splits text on unquoted blanks. '...' quotes literally, "..." quotes with
 * \" \\ \$ \` escapes, a backslash outside quotes escapes the next byte.
 * Expansions ($VAR, globs, ~) are not performed. On success *ret is a
 * NULL-terminated malloc'd array (free with command_free); -EINVAL with a
 * message for an unterminated quote or trailing backslash.
 */
int command_split(const char *text, char ***ret, size_t *ret_n, char *err, size_t errsize);
void command_free(char **argv);

/*
 * The supervisor contract's static half, for rsession-exec-command: the
 * command splits, and its first word is an absolute path to an existing
 * regular file with an execute bit. 0 for an empty command (no
 * supervisor); -EINVAL with a message naming the setting otherwise. How it
 * must behave (exec its target) is checked when a session starts.
 */
int command_check_supervisor(const char *text, char *err, size_t errsize);

#endif
