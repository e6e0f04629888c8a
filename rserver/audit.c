/*
 * The audit trail; see audit.h.
 */
#include "audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

void audit_event(struct db *db, const char *actor, const char *action, const char *target,
                 const char *fmt, ...)
{
	char detail[DB_AUDIT_DETAIL_MAX + 1] = "";
	va_list ap;
	int r;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	log_info("audit: %s %s%s%s%s%s", actor, action, target && *target ? " " : "",
	         target ? target : "", detail[0] ? ": " : "", detail);
	r = db_audit_add(db, now_ms(), actor, action, target, detail);
	if (r < 0)
		log_warnx("Cannot record '%s %s' in the audit trail: %s", actor, action,
		          r == -EIO ? db_error(db) : strerror(-r));
}
