#!/bin/sh
# An example supervisor for rserver sessions (rsession-exec-command).
#
# Install it where every user can run it and where the session sandbox
# does not mask it, then name it by its absolute path in rserver.conf:
#
#     rsession-exec-command=/usr/local/bin/rsession-supervisor
#
# The contract, which rsession-launcher checks:
#   - rserver.conf names the supervisor by absolute path, and the file is
#     executable ('rserver --test-config' and every launch check both);
#   - it runs as the session's user, after rsession-profile and the login
#     scripts, with the session's full command line as its arguments: "$1"
#     is rsession, the rest are rsession's arguments;
#   - it must exec that command line, so that its own process becomes
#     rsession. A supervisor that runs it as a child, exits, or waits too
#     long (30 s by default, half the monitor's launch timeout) fails the
#     launch at step "start", and whatever it started is stopped;
#   - rsession's exit code is then the session's own: that is how rserver
#     tells a suspend (90) or a forced suspend (91) from a quit;
#   - standard input, output and error are the session's and must not be
#     redirected or captured (output and errors go to the user's session
#     log, ~/.local/share/rstudio/log/rsession-<id>.log); descriptor 3 is
#     the session's listening socket and must stay open;
#   - with session-sandbox-enabled=1 it runs inside the sandbox, so it must
#     not live in a masked directory (the config directory, server-data-dir,
#     the database or cookie key directory, session-temp-dir).
#
# Test one by hand with any command:
#     /usr/local/bin/rsession-supervisor /usr/bin/env

# Messages for the administrator go to standard error: the session's log.
echo "rsession-supervisor: starting $1 for $(id -un)" >&2

# Prepare the environment here. For example:
export COMPANY_DATA_HOME=/srv/data
ulimit -c 0

# Then hand over to the session. Nothing after this line runs.
exec "$@"
