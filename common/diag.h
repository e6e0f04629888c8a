/*
 * Diagnostics: the problems a parser found, each tied to a file and line.
 *
 * Parsers never print or log; they append to a struct diag, and the program
 * decides what to show. Every problem is reported (not just the first), as
 * "file:line: error: message" or "file:line: warning: message", so an
 * administrator can fix a whole file in one pass.
 */
#ifndef RSERVER_DIAG_H
#define RSERVER_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum diag_severity {
	DIAG_WARNING,
	DIAG_ERROR,
};

struct diag_entry {
	enum diag_severity severity;
	char *file;    /* as the caller named it; never NULL */
	unsigned line; /* 1-based; 0 means the file as a whole */
	char *message;
};

struct diag {
	struct diag_entry *entries;
	size_t n;
	size_t cap;
	size_t nerrors;
	bool oom; /* a problem could not be recorded: treat as an error */
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);

/* Records a problem. On allocation failure sets d->oom and returns -ENOMEM. */
int diag_add(struct diag *d, enum diag_severity severity, const char *file, unsigned line,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Number of errors (warnings excluded); an out-of-memory diag counts one. */
size_t diag_errors(const struct diag *d);

/* Writes one problem per line in file order of recording. */
void diag_print(const struct diag *d, FILE *out);

#endif
