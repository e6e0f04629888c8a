/*
 * PAM sessions for R sessions: opened by rsession-launcher as root before
 * it drops to the user, closed in reverse order when the session ends.
 *
 * Each step that succeeded is recorded in a flag and undone in reverse by
 * pamsession_close(), whatever failed later (OpenSSH's sshpam_cleanup).
 */
#ifndef RSERVER_PAMSESSION_H
#define RSERVER_PAMSESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

struct pamsession;

/*
 * For user with service (auth-pam-sessions-profile): with a password
 * (auth-pam-sessions-use-password) pam_authenticate first, so modules such
 * as pam_krb5 can obtain credentials; then pam_acct_mgmt,
 * pam_setcred(PAM_ESTABLISH_CRED) and pam_open_session. On failure writes
 * the failed call and PAM's reason into err, closes what was opened, and
 * returns a negative errno (-EACCES for refusals, -EIO for PAM errors).
 */
int pamsession_open(const char *service, const char *user, const struct secret *password,
                    struct pamsession **ret, char *err, size_t errsize);

/*
 * The PAM environment (KRB5CCNAME, pam_env variables) as a NULL-terminated
 * "NAME=value" array, malloc'd; free with pamsession_env_free(). NULL on
 * allocation failure.
 */
char **pamsession_env(struct pamsession *s);
void pamsession_env_free(char **env);

/*
 * Ends the PAM transaction and frees s, wiping its password copy. With
 * close_session: pam_close_session and pam_setcred(PAM_DELETE_CRED)
 * (destroying a Kerberos cache), each only if its open step succeeded,
 * then pam_end. Without (the session keeps its credentials after the
 * launcher exits), only pam_end(PAM_SUCCESS | PAM_DATA_SILENT). Accepts
 * NULL.
 */
void pamsession_close(struct pamsession *s, bool close_session);

#endif
