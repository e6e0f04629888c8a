/*
 * The audit trail: who did what to which session or account, kept in
 * sqlite (db.h, pruned after AUDIT_KEEP_DAYS) and written to the log.
 * Actions are short verbs ("sign-in", "sign-in-failed", "lockout",
 * "session-start", "session-exit", "kill-session"...); the actor is a user
 * name, or "rserver" for what the server does by itself (idle timeouts).
 */
#ifndef RSERVER_AUDIT_H
#define RSERVER_AUDIT_H

#include "db.h"

#define AUDIT_KEEP_DAYS 90

void audit_event(struct db *db, const char *actor, const char *action, const char *target,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
