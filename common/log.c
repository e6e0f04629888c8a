/*
 * Logging; see log.h.
 *
 * Pretty lines look like
 *   2026-11-21T11:05:43.123Z rserver[812] WARN message: reason (file.c:42)
 * JSON lines carry the same fields as an object per line. syslog gets the
 * message and the place only; it adds its own time and pid.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "rserver";
static enum log_level log_min = LOG_LEVEL_INFO;
static enum log_target log_dest = LOG_TARGET_STDERR;
static enum log_format log_fmt = LOG_FORMAT_PRETTY;
static FILE *log_file;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_init(const char *program)
{
	log_program = program;
	log_min = LOG_LEVEL_INFO;
	log_dest = LOG_TARGET_STDERR;
	log_fmt = LOG_FORMAT_PRETTY;
}

void log_set_program(const char *program)
{
	log_program = program;
}

int log_configure(const struct log_settings *s)
{
	log_min = s->level;
	log_fmt = s->format;
	if (s->target == LOG_TARGET_SYSLOG) {
		openlog(log_program, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_dest = LOG_TARGET_SYSLOG;
		return 0;
	}
	if (s->target == LOG_TARGET_FILE && s->dir) {
		char path[4096];
		FILE *f;
		int fd;

		if (snprintf(path, sizeof(path), "%s/%s.log", s->dir, log_program) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (fd < 0)
			return -errno;
		f = fdopen(fd, "a");
		if (!f) {
			int r = -errno;
			close(fd);
			return r;
		}
		setvbuf(f, NULL, _IOLBF, 0);
		if (log_file)
			fclose(log_file);
		log_file = f;
		log_dest = LOG_TARGET_FILE;
		return 0;
	}
	log_dest = LOG_TARGET_STDERR;
	return 0;
}

void log_set_level(enum log_level level)
{
	log_min = level;
}

void log_set_format(enum log_format format)
{
	log_fmt = format;
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

int log_level_from_string(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*ret = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

/* Writes s as a JSON string body, escaping what JSON requires. */
static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void log_emit(enum log_level level, int errnum, const char *file, int line, const char *func,
              const char *fmt, ...)
{
	int saved_errno = errno;
	char msg[2048], stamp[40];
	const char *base = strrchr(file, '/');
	struct timespec ts;
	struct tm tm;
	va_list ap;
	FILE *out;
	size_t n;

	if (level < log_min)
		return;
	base = base ? base + 1 : file;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (errnum && n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));

	if (log_dest == LOG_TARGET_SYSLOG) {
		static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
		syslog(prio[level], "%s (%s:%d)", msg, base, line);
		errno = saved_errno;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

	out = (log_dest == LOG_TARGET_FILE && log_file) ? log_file : stderr;
	if (log_fmt == LOG_FORMAT_JSON) {
		fprintf(out,
		        "{\"time\":\"%s\",\"program\":\"%s\",\"pid\":%ld,\"level\":\"%s\","
		        "\"message\":\"",
		        stamp, log_program, (long)getpid(), level_names[level]);
		json_escape(out, msg);
		fprintf(out, "\",\"file\":\"%s\",\"line\":%d,\"function\":\"%s\"}\n", base, line,
		        func);
	} else {
		fprintf(out, "%s %s[%ld] %s %s (%s:%d)\n", stamp, log_program, (long)getpid(),
		        level_names[level], msg, base, line);
	}
	fflush(out);
	errno = saved_errno;
}
