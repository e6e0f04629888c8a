/*
 * Logging for program-level code. Library modules do not log above debug;
 * they return negative errno values and let main()-level code decide.
 *
 * Every macro records the source place. The "x" variants log the message as
 * given; the others append ": strerror(errno)" (OpenSMTPD's log_warn and
 * log_warnx). fatal()/fatalx() log and exit(1).
 */
#ifndef RSERVER_LOG_H
#define RSERVER_LOG_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_FILE,
	LOG_TARGET_SYSLOG,
};

enum log_format {
	LOG_FORMAT_PRETTY,
	LOG_FORMAT_JSON,
};

struct log_settings {
	enum log_level level;
	enum log_target target;
	enum log_format format;
	const char *dir; /* for LOG_TARGET_FILE: file is dir/<program>.log */
};

/* Sets the program name and defaults: info, stderr, pretty. */
void log_init(const char *program);

/* Changes only the program name (a forked process keeps its settings). */
void log_set_program(const char *program);

/* Applies logging.conf settings. Returns negative errno if the log file
 * cannot be opened; logging then stays on stderr. */
int log_configure(const struct log_settings *s);

void log_set_level(enum log_level level);
/* Level and format change in place (a reload): the destination stays. */
void log_set_format(enum log_format format);
bool log_enabled(enum log_level level);

void log_emit(enum log_level level, int errnum, const char *file, int line, const char *func,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define log_debug(...)  log_emit(LOG_LEVEL_DEBUG, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(...)   log_emit(LOG_LEVEL_INFO, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warnx(...)  log_emit(LOG_LEVEL_WARN, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(...)   log_emit(LOG_LEVEL_WARN, errno, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_errorx(...) log_emit(LOG_LEVEL_ERROR, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error(...)  log_emit(LOG_LEVEL_ERROR, errno, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* The errno variants with an explicit (positive) error number. */
#define log_warn_errno(e, ...)                                                                     \
	log_emit(LOG_LEVEL_WARN, (e), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error_errno(e, ...)                                                                    \
	log_emit(LOG_LEVEL_ERROR, (e), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define fatalx(...)                                                                                \
	do {                                                                                       \
		log_errorx(__VA_ARGS__);                                                           \
		exit(1);                                                                           \
	} while (0)
#define fatal(...)                                                                                 \
	do {                                                                                       \
		log_error(__VA_ARGS__);                                                            \
		exit(1);                                                                           \
	} while (0)

/* Parses "debug|info|warn|error"; -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret);

#endif
