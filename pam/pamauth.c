/*
 * PAM authentication for a sign-in; see pamauth.h.
 *
 * One PAM transaction per call: pam_start, pam_authenticate, pam_acct_mgmt,
 * pam_get_item(PAM_USER), pam_end. Credentials and sessions are none of
 * the sign-in's business: rsession-launcher opens its own transaction
 * (pamsession.c) when it starts an R session.
 */
#include "pamauth.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "pamconv.h"

/* Cap on getpwnam_r's buffer: far above any real passwd entry. */
#define PASSWD_BUF_MAX (1024 * 1024)

const char *pamauth_result_name(enum pamauth_result r)
{
	switch (r) {
	case PAMAUTH_OK:
		return "ok";
	case PAMAUTH_BAD_PASSWORD:
		return "bad password";
	case PAMAUTH_UNKNOWN_USER:
		return "unknown user";
	case PAMAUTH_ACCOUNT_EXPIRED:
		return "account expired";
	case PAMAUTH_PASSWORD_EXPIRED:
		return "password expired";
	case PAMAUTH_DENIED:
		return "denied";
	case PAMAUTH_ERROR:
		return "error";
	}
	return "unknown result";
}

enum pamauth_result pamauth_classify(int pam_status, bool acct)
{
	switch (pam_status) {
	case PAM_SUCCESS:
		return PAMAUTH_OK;
	case PAM_USER_UNKNOWN:
		return PAMAUTH_UNKNOWN_USER;
	case PAM_ACCT_EXPIRED:
		return PAMAUTH_ACCOUNT_EXPIRED;
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_AUTHTOK_EXPIRED:
		return PAMAUTH_PASSWORD_EXPIRED;
	case PAM_AUTH_ERR:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
		/* From pam_acct_mgmt the password is already proven good:
		 * the same codes there mean the account is refused. */
		return acct ? PAMAUTH_DENIED : PAMAUTH_BAD_PASSWORD;
	case PAM_OPEN_ERR:
	case PAM_SYMBOL_ERR:
	case PAM_SERVICE_ERR:
	case PAM_SYSTEM_ERR:
	case PAM_BUF_ERR:
	case PAM_CONV_ERR:
	case PAM_NO_MODULE_DATA:
	case PAM_ABORT:
	case PAM_MODULE_UNKNOWN:
	case PAM_BAD_ITEM:
	case PAM_CONV_AGAIN:
	case PAM_INCOMPLETE:
	case PAM_TRY_AGAIN:
	/*
	 * "The modules were not able to access the authentication
	 * information": a KDC, LDAP server or sssd that cannot be reached.
	 * Nobody proved the password wrong, so it is an error, not
	 * BAD_PASSWORD, and the log should say so.
	 */
	case PAM_AUTHINFO_UNAVAIL:
		return PAMAUTH_ERROR;
	default:
		/* PAM_PERM_DENIED (pam_access, pam_time, pam_nologin, ...) and
		 * every other refusal. */
		return PAMAUTH_DENIED;
	}
}

/*
 * 1 when user has a passwd entry, 0 when it has none, or a negative errno
 * when the lookup itself failed (an NSS backend down).
 */
static int passwd_exists(const char *user)
{
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;
	struct passwd pw, *found = NULL;
	char *buf;
	int rc;

	for (;;) {
		buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		rc = getpwnam_r(user, &pw, buf, size, &found);
		free(buf);
		if (rc != ERANGE)
			break;
		if (size >= PASSWD_BUF_MAX)
			return -ERANGE;
		size *= 2;
	}
	/* Some NSS modules say "not found" with these instead of 0. */
	if (rc == 0 || rc == ENOENT || rc == ESRCH)
		return rc == 0 && found ? 1 : 0;
	return -rc;
}

/* "call: reason (module messages)" into msg, or only the messages. */
static void set_msg(char *msg, size_t msgsize, const char *call, const char *reason,
                    const char *text)
{
	if (!msg || msgsize == 0)
		return;
	if (!call)
		snprintf(msg, msgsize, "%s", text);
	else if (text[0])
		snprintf(msg, msgsize, "%s: %s (%s)", call, reason, text);
	else
		snprintf(msg, msgsize, "%s: %s", call, reason);
}

enum pamauth_result pamauth_authenticate(const char *service, const char *user,
                                         const struct secret *password, char **ret_user, char *msg,
                                         size_t msgsize)
{
	char text[512] = "";
	struct pamconv c;
	struct pam_conv conv;
	pam_handle_t *pamh = NULL;
	const void *item = NULL;
	const char *call = NULL;
	enum pamauth_result res = PAMAUTH_ERROR;
	char *canonical = NULL;
	int status = PAM_SUCCESS, r;

	if (msg && msgsize > 0)
		msg[0] = '\0';
	if (!service || !*service || !user || !*user || !password || !password->data) {
		set_msg(msg, msgsize, "pamauth_authenticate", "invalid argument", "");
		return PAMAUTH_ERROR;
	}
	/* PAM takes C strings: a NUL would cut the password short. */
	if (memchr(password->data, '\0', password->len)) {
		set_msg(msg, msgsize, "pamauth_authenticate", "password contains a NUL byte", "");
		return PAMAUTH_BAD_PASSWORD;
	}

	/*
	 * pam_unix answers PAM_AUTH_ERR, not PAM_USER_UNKNOWN, for a user
	 * without a passwd entry in common configurations, so ask NSS first.
	 * Note that this returns sooner than a wrong password (no PAM fail
	 * delay): the caller must not let the timing tell the two apart.
	 */
	r = passwd_exists(user);
	if (r < 0) {
		set_msg(msg, msgsize, "getpwnam_r", strerror(-r), "");
		return PAMAUTH_ERROR;
	}
	if (r == 0) {
		set_msg(msg, msgsize, "getpwnam_r", "no such user", "");
		return PAMAUTH_UNKNOWN_USER;
	}

	pamconv_init(&c, user, password, text, sizeof(text));
	conv.conv = pamconv_password;
	conv.appdata_ptr = &c;

	call = "pam_start";
	status = pam_start(service, user, &conv, &pamh);
	if (status != PAM_SUCCESS) {
		pamh = NULL; /* Linux-PAM frees and clears it; be sure */
		res = PAMAUTH_ERROR;
		goto out;
	}

	/* Never accept an empty password, whatever "nullok" says. */
	call = "pam_authenticate";
	status = pam_authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK);
	if (status != PAM_SUCCESS) {
		res = pamauth_classify(status, false);
		goto out;
	}

	call = "pam_acct_mgmt";
	status = pam_acct_mgmt(pamh, PAM_DISALLOW_NULL_AUTHTOK);
	if (status != PAM_SUCCESS) {
		res = pamauth_classify(status, true);
		goto out;
	}

	/* Modules may have mapped the name (case, realm): use PAM's. */
	call = "pam_get_item(PAM_USER)";
	status = pam_get_item(pamh, PAM_USER, &item);
	if (status == PAM_SUCCESS && (!item || !*(const char *)item))
		status = PAM_SYSTEM_ERR;
	if (status != PAM_SUCCESS) {
		res = PAMAUTH_ERROR;
		goto out;
	}
	canonical = strdup(item);
	if (!canonical) {
		status = PAM_BUF_ERR;
		res = PAMAUTH_ERROR;
		goto out;
	}
	call = NULL;
	res = PAMAUTH_OK;

out:
	/* The conversation never writes the password into text. */
	set_msg(msg, msgsize, call, pam_strerror(pamh, status), text);
	if (pamh)
		pam_end(pamh, status);
	if (res == PAMAUTH_OK && ret_user)
		*ret_user = canonical;
	else
		free(canonical);
	return res;
}
