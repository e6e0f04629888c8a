/*
 * The PAM conversation shared by pamauth.c and pamsession.c. Internal to
 * the pam/ module: declared here so the unit tests can drive it directly
 * with hand-made messages.
 *
 * Prompts are answered from what the application knows: the password for
 * echo-off prompts (none when there is no password: the conversation
 * fails), the user name for echo-on prompts. Module messages (errors,
 * information such as "password expires in 3 days") are collected, one
 * line each, for the caller's log.
 */
#ifndef RSERVER_PAMCONV_H
#define RSERVER_PAMCONV_H

#include <stdbool.h>
#include <stddef.h>

#include <security/pam_appl.h>

#include "secret.h"

/* The conversation's appdata_ptr. Must outlive the PAM handle. */
struct pamconv {
	const char *user;
	const struct secret *password; /* NULL: echo-off prompts fail */
	char *text;                    /* collected module messages, "; "-separated */
	size_t textsize;
	size_t textlen;
};

/* text (of textsize bytes; may be NULL if textsize is 0) is emptied. */
void pamconv_init(struct pamconv *c, const char *user, const struct secret *password, char *text,
                  size_t textsize);

/*
 * The conversation function (struct pam_conv.conv). Linux-PAM's layout:
 * msg is an array of num_msg pointers. On success *resp is a calloc'd
 * array of num_msg responses that PAM frees; on failure *resp is NULL
 * (when resp is not) and every response already made has been wiped and
 * freed. PAM_BUF_ERR on allocation failure, PAM_CONV_ERR otherwise.
 */
int pamconv_password(int num_msg, const struct pam_message **msg, struct pam_response **resp,
                     void *appdata);

#endif
