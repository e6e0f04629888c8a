/*
 * PAM authentication: checking a user's password with a PAM service, as
 * the monitor does for a sign-in. Must run as root (pam_unix reads shadow)
 * and may block for seconds (Kerberos, LDAP): callers run it off their
 * event loop.
 */
#ifndef RSERVER_PAMAUTH_H
#define RSERVER_PAMAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

/* Why a sign-in failed; the server logs the reason, the browser gets one
 * generic message. */
enum pamauth_result {
	PAMAUTH_OK,
	PAMAUTH_BAD_PASSWORD,     /* PAM_AUTH_ERR and friends */
	PAMAUTH_UNKNOWN_USER,     /* PAM_USER_UNKNOWN, or no passwd entry */
	PAMAUTH_ACCOUNT_EXPIRED,  /* pam_acct_mgmt: PAM_ACCT_EXPIRED */
	PAMAUTH_PASSWORD_EXPIRED, /* pam_acct_mgmt: PAM_NEW_AUTHTOK_REQD */
	PAMAUTH_DENIED,           /* pam_acct_mgmt: other refusals (locked, time) */
	PAMAUTH_ERROR,            /* PAM itself failed (bad service file, ...) */
};

const char *pamauth_result_name(enum pamauth_result r);

/*
 * How a status returned by pam_authenticate (acct false) or pam_acct_mgmt
 * (acct true) reads as a result; PAMAUTH_ERROR when PAM itself failed
 * (service file, module, memory, conversation, information unavailable).
 * Shared with pamsession.c, which refuses with -EACCES unless it is an
 * error.
 */
enum pamauth_result pamauth_classify(int pam_status, bool acct);

/*
 * Runs pam_authenticate and pam_acct_mgmt for user with service. The
 * conversation answers password prompts with password and collects PAM's
 * messages. On PAMAUTH_OK, *ret_user is the canonical user name PAM settled
 * on (PAM_USER; modules may map names), malloc'd. msg receives a
 * description for the log (pam_strerror and any module messages), never
 * the password.
 */
enum pamauth_result pamauth_authenticate(const char *service, const char *user,
                                         const struct secret *password, char **ret_user, char *msg,
                                         size_t msgsize);

#endif
