/*
 * PAM sessions for R sessions; see pamsession.h.
 *
 * The order follows util-linux login and su: pam_authenticate (only with a
 * password), pam_acct_mgmt, pam_setcred(PAM_ESTABLISH_CRED),
 * pam_open_session. Each step that succeeded sets a flag; pamsession_close()
 * undoes the flagged steps in reverse, which is also how a failed open
 * cleans up (OpenSSH auth-pam.c, sshpam_cleanup).
 *
 * The struct owns everything the conversation points at (user name,
 * password copy, message buffer), because PAM may converse again long
 * after open returns: pam_krb5 can ask for the password at setcred, and
 * modules may print at close.
 */
#include "pamsession.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "pamauth.h"
#include "pamconv.h"

struct pamsession {
	pam_handle_t *pamh;
	struct pam_conv conv;
	struct pamconv conv_data; /* conv.appdata_ptr */
	char *user;
	struct secret *password; /* our own copy; NULL without use-password */
	char text[512];          /* module messages, for err */

	/* What succeeded, undone in reverse by pamsession_close(). */
	bool authenticated; /* nothing to undo; kept for the record */
	bool cred_established;
	bool session_opened;
	int last_status; /* handed to pam_end */
};

int pamsession_open(const char *service, const char *user, const struct secret *password,
                    struct pamsession **ret, char *err, size_t errsize)
{
	struct pamsession *s;
	const char *call = NULL;
	int status = PAM_SUCCESS, r = 0;

	if (err && errsize > 0)
		err[0] = '\0';
	if (!service || !*service || !user || !*user || !ret || (password && !password->data)) {
		if (err && errsize > 0)
			snprintf(err, errsize, "pamsession_open: invalid argument");
		return -EINVAL;
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->last_status = PAM_SUCCESS;
	s->user = strdup(user);
	if (!s->user)
		goto oom;
	if (password) {
		r = secret_new(password->data, password->len, &s->password);
		if (r < 0)
			goto oom;
	}
	pamconv_init(&s->conv_data, s->user, s->password, s->text, sizeof(s->text));
	s->conv.conv = pamconv_password;
	s->conv.appdata_ptr = &s->conv_data;

	call = "pam_start";
	status = pam_start(service, s->user, &s->conv, &s->pamh);
	if (status != PAM_SUCCESS) {
		s->pamh = NULL;
		r = -EIO;
		goto fail;
	}

	/* With auth-pam-sessions-use-password, so that modules such as
	 * pam_krb5 obtain the credentials setcred will store. */
	if (s->password) {
		call = "pam_authenticate";
		status = pam_authenticate(s->pamh, PAM_DISALLOW_NULL_AUTHTOK);
		if (status != PAM_SUCCESS) {
			r = pamauth_classify(status, false) == PAMAUTH_ERROR ? -EIO : -EACCES;
			goto fail;
		}
		s->authenticated = true;
	}

	/* Flags 0, as sshd: without a password in this transaction,
	 * PAM_DISALLOW_NULL_AUTHTOK would have nothing to judge. */
	call = "pam_acct_mgmt";
	status = pam_acct_mgmt(s->pamh, 0);
	if (status != PAM_SUCCESS) {
		r = pamauth_classify(status, true) == PAMAUTH_ERROR ? -EIO : -EACCES;
		goto fail;
	}

	call = "pam_setcred";
	status = pam_setcred(s->pamh, PAM_ESTABLISH_CRED);
	if (status != PAM_SUCCESS) {
		r = -EIO;
		goto fail;
	}
	s->cred_established = true;

	call = "pam_open_session";
	status = pam_open_session(s->pamh, 0);
	if (status != PAM_SUCCESS) {
		r = -EIO;
		goto fail;
	}
	s->session_opened = true;

	*ret = s;
	return 0;

fail:
	if (err && errsize > 0) {
		const char *why = pam_strerror(s->pamh, status);

		if (s->text[0])
			snprintf(err, errsize, "%s: %s (%s)", call, why, s->text);
		else
			snprintf(err, errsize, "%s: %s", call, why);
	}
	s->last_status = status;
	pamsession_close(s, true);
	return r;

oom:
	if (err && errsize > 0)
		snprintf(err, errsize, "pamsession_open: %s", strerror(ENOMEM));
	pamsession_close(s, true);
	return -ENOMEM;
}

char **pamsession_env(struct pamsession *s)
{
	/* pam_getenvlist already returns a malloc'd copy the caller owns. */
	if (!s || !s->pamh)
		return NULL;
	return pam_getenvlist(s->pamh);
}

void pamsession_env_free(char **env)
{
	char **e;

	if (!env)
		return;
	for (e = env; *e; e++)
		free(*e);
	free(env);
}

void pamsession_close(struct pamsession *s, bool close_session)
{
	if (!s)
		return;
	if (s->pamh) {
		if (close_session) {
			/* Reverse order of open; failures here have nobody to
			 * tell and nothing left to undo. */
			if (s->session_opened)
				(void)pam_close_session(s->pamh, 0);
			s->session_opened = false;
			if (s->cred_established)
				(void)pam_setcred(s->pamh, PAM_DELETE_CRED);
			s->cred_established = false;
			pam_end(s->pamh, s->last_status);
		} else {
			/* The session outlives us (auth-pam-sessions-close=0):
			 * PAM_DATA_SILENT tells modules' cleanup functions
			 * not to tear down what they set up (a ccache). */
			pam_end(s->pamh, s->last_status | PAM_DATA_SILENT);
		}
		s->pamh = NULL;
	}
	secret_free(s->password);
	free(s->user);
	explicit_bzero(s, sizeof(*s));
	free(s);
}
