/*
 * The key tables of every key=value configuration file and the loader that
 * reads them all from one config directory.
 *
 * Each table is an X-macro list: X(ID, "name", type, min, max, choices,
 * "default", reloadable, "description", check). The list generates both the
 * enum used with the typed getters (conf_int(s->rserver, RSERVER_WWW_PORT))
 * and the table, so the two cannot drift apart.
 */
#ifndef RSERVER_SETTINGS_H
#define RSERVER_SETTINGS_H

#include "conf.h"
#include "diag.h"

#define MINUTES_PER_YEAR  525600
#define HOURS_PER_CENTURY 876000

/* clang-format off */
#define RSERVER_CONF_KEYS(X)                                                                       \
X(WWW_ADDRESS, "www-address", CONF_ADDRESS, 0, 0, NULL, "0.0.0.0", false,                          \
  "IP address the HTTP server listens on", NULL)                                                   \
X(WWW_PORT, "www-port", CONF_INT, 1, 65535, NULL, "8787", false,                                   \
  "TCP port the HTTP server listens on", NULL)                                                     \
X(SERVER_USER, "server-user", CONF_NAME, 0, 0, NULL, "rstudio-server", false,                      \
  "Unprivileged user the network process runs as", NULL)                                           \
X(SERVER_DATA_DIR, "server-data-dir", CONF_PATH, 0, 0, NULL, "/var/run/rstudio-server", false,     \
  "Directory for session sockets, the admin socket and the pid file", NULL)                        \
X(SERVER_MULTIPLE_SESSIONS, "server-multiple-sessions", CONF_BOOL, 0, 0, NULL, "1", true,          \
  "Allow a user more than one session at a time", NULL)                                            \
X(SECURE_COOKIE_KEY_FILE, "secure-cookie-key-file", CONF_PATH, 0, 0, NULL,                         \
  "/var/lib/rstudio-server/secure-cookie-key", false,                                              \
  "File holding the key that signs sign-in cookies (created on first start)", NULL)                \
X(AUTH_PAM_SERVICE, "auth-pam-service", CONF_NAME, 0, 0, NULL, "rstudio", true,                    \
  "PAM service used to check passwords (/etc/pam.d/<name>)", NULL)                                 \
X(AUTH_TIMEOUT_MINUTES, "auth-timeout-minutes", CONF_DECIMAL, 0, MINUTES_PER_YEAR, NULL, "60",     \
  true, "Sign-in expires after this many minutes without activity (0 = never)", NULL)              \
X(AUTH_STAY_SIGNED_IN_DAYS, "auth-stay-signed-in-days", CONF_DECIMAL, 0, 3650, NULL, "30", true,   \
  "Lifetime of a 'stay signed in' cookie in days", NULL)                                           \
X(AUTH_MINIMUM_USER_ID, "auth-minimum-user-id", CONF_INT, 0, 4294967294.0, NULL, "", true,         \
  "Lowest uid allowed to sign in (default: UID_MIN from /etc/login.defs, else 1000)", NULL)        \
X(AUTH_REQUIRED_USER_GROUP, "auth-required-user-group", CONF_NAME, 0, 0, NULL, "", true,           \
  "Only members of this group may sign in (unset = everyone)", NULL)                               \
X(AUTH_SIGN_IN_THROTTLE_SECONDS, "auth-sign-in-throttle-seconds", CONF_DECIMAL, 0, 3600, NULL,     \
  "5", true, "Minimum seconds between sign-in attempts for one user name", NULL)                   \
X(AUTH_LOCKOUT_ATTEMPTS, "auth-lockout-attempts", CONF_INT, 0, 1000000, NULL, "10", true,          \
  "Failed sign-ins in a row that lock a user out (0 = never)", NULL)                               \
X(AUTH_LOCKOUT_MINUTES, "auth-lockout-minutes", CONF_DECIMAL, 0, MINUTES_PER_YEAR, NULL, "15",     \
  true, "How long a lockout lasts", NULL)                                                          \
X(AUTH_PAM_SESSIONS_ENABLED, "auth-pam-sessions-enabled", CONF_BOOL, 0, 0, NULL, "1", true,        \
  "Open a PAM session for every R session", NULL)                                                  \
X(AUTH_PAM_SESSIONS_PROFILE, "auth-pam-sessions-profile", CONF_NAME, 0, 0, NULL, "su", true,       \
  "PAM service used for R sessions' PAM sessions", NULL)                                           \
X(AUTH_PAM_SESSIONS_USE_PASSWORD, "auth-pam-sessions-use-password", CONF_BOOL, 0, 0, NULL, "0",    \
  true, "Give the sign-in password to the session PAM stack (Kerberos, mounts)", NULL)             \
X(AUTH_PAM_SESSIONS_CLOSE, "auth-pam-sessions-close", CONF_BOOL, 0, 0, NULL, "0", true,            \
  "Close the PAM session when the R session exits, not only on force-suspend", NULL)               \
X(AUTH_PAM_SESSIONS_PASSWORD_LIFETIME_MINUTES, "auth-pam-sessions-password-lifetime-minutes",      \
  CONF_DECIMAL, 0, MINUTES_PER_YEAR, NULL, "720", true,                                            \
  "How long a remembered sign-in password may be used to start sessions", NULL)                    \
X(RSESSION_WHICH_R, "rsession-which-r", CONF_PATH, 0, 0, NULL, "", true,                           \
  "R executable sessions use by default (unset = the R on PATH)", NULL)                            \
X(RSESSION_LD_LIBRARY_PATH, "rsession-ld-library-path", CONF_PATHLIST, 0, 0, NULL, "", true,       \
  "Extra library directories for sessions, ':'-separated", NULL)                                   \
X(RSESSION_EXEC_COMMAND, "rsession-exec-command", CONF_STRING, 0, 0, NULL, "", true,               \
  "Supervisor command that runs each session (e.g. 'nice -n 10')", NULL)                           \
X(RSESSION_NO_PROFILE, "rsession-no-profile", CONF_BOOL, 0, 0, NULL, "0", true,                    \
  "Start sessions without a login shell and rsession-profile", NULL)                               \
X(RSESSION_DIAGNOSTICS_ENABLED, "rsession-diagnostics-enabled", CONF_BOOL, 0, 0, NULL, "0", true,  \
  "Write a launch diagnostics file for every session", NULL)                                       \
X(RSESSION_DIAGNOSTICS_DIR, "rsession-diagnostics-dir", CONF_PATH, 0, 0, NULL, "/tmp", true,       \
  "Directory for launch diagnostics files", NULL)                                                  \
X(RSESSION_LAUNCHER_PATH, "rsession-launcher-path", CONF_PATH, 0, 0, NULL, "", false,              \
  "rsession-launcher program (unset = beside rserver or in ../lib/rserver)", NULL)                            \
X(RSESSION_PATH, "rsession-path", CONF_PATH, 0, 0, NULL, "", true,                                 \
  "rsession program (unset = beside rserver or in ../lib/rserver)", NULL)                                     \
X(SSL_ENABLED, "ssl-enabled", CONF_BOOL, 0, 0, NULL, "0", false,                                   \
  "Serve HTTPS (TLS 1.2 or later)", NULL)                                                          \
X(SSL_CERTIFICATE, "ssl-certificate", CONF_PATH, 0, 0, NULL, "", false,                            \
  "PEM certificate chain for HTTPS", NULL)                                                         \
X(SSL_CERTIFICATE_KEY, "ssl-certificate-key", CONF_PATH, 0, 0, NULL, "", false,                    \
  "PEM private key for HTTPS", NULL)                                                               \
X(ADMIN_ENABLED, "admin-enabled", CONF_BOOL, 0, 0, NULL, "1", true,                                \
  "Serve the admin dashboard and admin API", NULL)                                                 \
X(ADMIN_GROUP, "admin-group", CONF_NAME, 0, 0, NULL, "", true,                                     \
  "Members may use the dashboard and the admin socket (unset = root only)", NULL)                  \
X(METRICS_ENABLED, "metrics-enabled", CONF_BOOL, 0, 0, NULL, "1", true,                            \
  "Serve Prometheus metrics at /metrics", NULL)                                                    \
X(SERVER_HEALTH_CHECK_ENABLED, "server-health-check-enabled", CONF_BOOL, 0, 0, NULL, "1", true,    \
  "Answer /health-check", NULL)                                                                    \
X(SESSION_SANDBOX_ENABLED, "session-sandbox-enabled", CONF_BOOL, 0, 0, NULL, "0", true,            \
  "Run sessions in a private mount namespace", NULL)                                               \
X(SESSION_TEMP_DIR, "session-temp-dir", CONF_PATH, 0, 0, NULL,                                     \
  "/var/lib/rstudio-server/session-tmp", true,                                                     \
  "Parent of each sandboxed session's private /tmp", NULL)                                         \
X(SERVER_PUBLIC_WARNING, "server-public-warning", CONF_STRING, 0, 0, NULL, "", true,               \
  "Notice shown on the sign-in page", NULL)                                                        \
X(SERVER_LOGGED_IN_WARNING, "server-logged-in-warning", CONF_STRING, 0, 0, NULL, "", true,         \
  "Notice shown to signed-in users", NULL)

#define RSESSION_CONF_KEYS(X)                                                                      \
X(SESSION_TIMEOUT_MINUTES, "session-timeout-minutes", CONF_DECIMAL, 0, MINUTES_PER_YEAR, NULL,     \
  "120", true, "Idle minutes before a session is suspended (0 = never)", NULL)                     \
X(SESSION_TIMEOUT_SUSPEND, "session-timeout-suspend", CONF_BOOL, 0, 0, NULL, "1", true,            \
  "On idle timeout suspend the session (1) or quit it (0)", NULL)                                  \
X(SESSION_TIMEOUT_KILL_HOURS, "session-timeout-kill-hours", CONF_DECIMAL, 0, HOURS_PER_CENTURY,    \
  NULL, "0", true, "Hours without user input before a session is killed (0 = never)", NULL)        \
X(SESSION_QUIT_CHILD_PROCESSES_ON_EXIT, "session-quit-child-processes-on-exit", CONF_BOOL, 0, 0,   \
  NULL, "0", true, "Stop a session's child processes when it quits or suspends", NULL)             \
X(SESSION_SAVE_ACTION_DEFAULT, "session-save-action-default", CONF_ENUM, 0, 0, "ask|yes|no",       \
  "ask", true, "Save the workspace on quit (timeouts treat 'ask' as yes)", NULL)                   \
X(SESSION_DEFAULT_WORKING_DIR, "session-default-working-dir", CONF_STRING, 0, 0, NULL, "~", true,  \
  "Working directory of new sessions ('~', '~/dir' or an absolute path)", settings_check_home_path)\
X(SESSION_RPROFILE_ON_RESUME_DEFAULT, "session-rprofile-on-resume-default", CONF_BOOL, 0, 0, NULL, \
  "0", true, "Run .Rprofile again when a session resumes", NULL)                                   \
X(R_LIBS_USER, "r-libs-user", CONF_STRING, 0, 0, NULL, "", true,                                   \
  "R_LIBS_USER for sessions (unset = R's default)", NULL)                                          \
X(LIMIT_CPU_TIME_MINUTES, "limit-cpu-time-minutes", CONF_DECIMAL, 0, MINUTES_PER_YEAR, NULL, "0",  \
  true, "CPU time limit per session, RLIMIT_CPU (0 = none)", NULL)                                 \
X(WEBSOCKET_PING_SECONDS, "websocket-ping-seconds", CONF_DECIMAL, 0, 3600, NULL, "10", true,       \
  "Seconds between WebSocket pings to open consoles (0 = never)", NULL)

#define DATABASE_CONF_KEYS(X)                                                                      \
X(PROVIDER, "provider", CONF_ENUM, 0, 0, "sqlite", "sqlite", false,                                    \
  "Database provider (only sqlite)", NULL)                                                         \
X(DIRECTORY, "directory", CONF_PATH, 0, 0, NULL, "/var/lib/rstudio-server", false,                 \
  "Directory of the sqlite database rstudio.sqlite", NULL)

#define LOGGING_CONF_KEYS(X)                                                                       \
X(LOG_LEVEL, "log-level", CONF_ENUM, 0, 0, "debug|info|warn|error", "info", true,                  \
  "Least severe level written", NULL)                                                              \
X(LOGGER_TYPE, "logger-type", CONF_ENUM, 0, 0, "stderr|file|syslog", "stderr", false,              \
  "Where log lines go", NULL)                                                                      \
X(LOG_DIR, "log-dir", CONF_PATH, 0, 0, NULL, "/var/log/rstudio/rstudio-server", false,             \
  "Directory for log files when logger-type=file", NULL)                                           \
X(LOG_MESSAGE_FORMAT, "log-message-format", CONF_ENUM, 0, 0, "pretty|json", "pretty", true,        \
  "Log line format", NULL)
/* clang-format on */

#define SETTINGS_ENUM_RSERVER(id, ...)  RSERVER_##id,
#define SETTINGS_ENUM_RSESSION(id, ...) RSESSION_##id,
#define SETTINGS_ENUM_DATABASE(id, ...) DATABASE_##id,
#define SETTINGS_ENUM_LOGGING(id, ...)  LOGGING_##id,
enum rserver_key { RSERVER_CONF_KEYS(SETTINGS_ENUM_RSERVER) RSERVER_NKEYS };
enum rsession_key { RSESSION_CONF_KEYS(SETTINGS_ENUM_RSESSION) RSESSION_NKEYS };
enum database_key { DATABASE_CONF_KEYS(SETTINGS_ENUM_DATABASE) DATABASE_NKEYS };
enum logging_key { LOGGING_CONF_KEYS(SETTINGS_ENUM_LOGGING) LOGGING_NKEYS };

extern const struct conf_table rserver_conf_table;
extern const struct conf_table rsession_conf_table;
extern const struct conf_table database_conf_table;
extern const struct conf_table logging_conf_table;

bool settings_check_home_path(const char *value, char *err, size_t errsize);

/* Everything read from one config directory. */
struct settings {
	char *config_dir;
	struct conf *rserver;
	struct conf *rsession;
	struct conf *database;
	struct conf *logging;
};

#define SETTINGS_DEFAULT_CONFIG_DIR "/etc/rstudio"
#define SETTINGS_LOGIN_DEFS         "/etc/login.defs"

/*
 * Loads rserver.conf, rsession.conf, database.conf and logging.conf (for the
 * "[@program]" sections of program) from config_dir. Missing files leave
 * defaults. Problems go to d. login_defs supplies the auth-minimum-user-id
 * default. Returns 0 or -ENOMEM; on success *s must be freed with
 * settings_free() even when d holds errors.
 */
int settings_load(struct settings *s, const char *config_dir, const char *program,
                  const char *login_defs, struct diag *d);
void settings_free(struct settings *s);

/*
 * Applies "--key=value" for a key of rserver.conf or rsession.conf.
 * -ENOENT: no such key (with a suggestion in d); -EINVAL: bad value.
 */
int settings_override(struct settings *s, const char *key, const char *value, struct diag *d);

/*
 * Applies logging.conf (as loaded for this program's [@program] section):
 * level, destination, format. Returns negative errno when the log file
 * cannot be opened (logging then stays on stderr).
 */
int settings_apply_logging(const struct settings *s);

/*
 * conf_take_reloadable() over rserver.conf, rsession.conf, database.conf and
 * logging.conf, in that order: live takes fresh's reloadable values and
 * keeps its fixed ones. on_change gets the file's base name ("rserver.conf")
 * and may be NULL. config_dir stays as it is. Returns the number of keys
 * that differed (both kinds); fresh is freed by the caller.
 */
int settings_take_reloadable(struct settings *live, struct settings *fresh,
                             void (*on_change)(const char *file, const struct conf_key *k,
                                               bool applied, void *arg),
                             void *arg);

/* Reads UID_MIN from a login.defs file; -ENOENT/-EINVAL when absent/bad. */
int settings_login_defs_uid_min(const char *path, long long *ret);

/* Builds "<config_dir>/<name>" into a malloc'd string; NULL on OOM. */
char *settings_path(const struct settings *s, const char *name);

#endif
