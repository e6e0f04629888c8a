/*
 * The PAM conversation; see pamconv.h.
 *
 * Shaped after OpenSSH's sshpam_passwd_conv() and sudo's converse(): one
 * calloc'd response array, filled message by message; any failure wipes
 * and frees what was already answered, so a half-built reply carrying the
 * password never outlives the call.
 */
#include "pamconv.h"

#include <stdlib.h>
#include <string.h>

void pamconv_init(struct pamconv *c, const char *user, const struct secret *password, char *text,
                  size_t textsize)
{
	c->user = user;
	c->password = password;
	c->text = textsize > 0 ? text : NULL;
	c->textsize = c->text ? textsize : 0;
	c->textlen = 0;
	if (c->text)
		c->text[0] = '\0';
}

/* Appends up to n bytes of s to the collected text, truncating silently. */
static void text_put(struct pamconv *c, const char *s, size_t n)
{
	size_t room;

	if (!c->text || c->textlen + 1 >= c->textsize)
		return;
	room = c->textsize - 1 - c->textlen;
	if (n > room)
		n = room;
	memcpy(c->text + c->textlen, s, n);
	c->textlen += n;
	c->text[c->textlen] = '\0';
}

/*
 * Records a module message for the log: on one line (control characters
 * become spaces, so a module cannot forge log lines), without surrounding
 * blanks, "; " between messages.
 */
static void text_add(struct pamconv *c, const char *m)
{
	size_t start, end, i;

	if (!m)
		return;
	end = strlen(m);
	for (start = 0; start < end && (unsigned char)m[start] <= ' '; start++)
		;
	while (end > start && (unsigned char)m[end - 1] <= ' ')
		end--;
	if (start == end)
		return;
	if (c->textlen > 0)
		text_put(c, "; ", 2);
	for (i = start; i < end; i++) {
		unsigned char ch = (unsigned char)m[i];
		char out = (ch < ' ' || ch == 0x7f) ? ' ' : (char)ch;

		text_put(c, &out, 1);
	}
}

/* Wipes and frees n responses and the array. */
static void responses_free(struct pam_response *r, int n)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
}

/* A malloc'd copy of the password for one echo-off prompt. */
static int answer_password(const struct secret *pw, char **ret)
{
	char *p;

	/* No password to give (a session without use-password): refuse, and
	 * the module fails rather than authenticating with something else. */
	if (!pw || !pw->data)
		return PAM_CONV_ERR;
	/* A C string cannot carry a NUL: "ab\0cd" must not pass as "ab". */
	if (memchr(pw->data, '\0', pw->len))
		return PAM_CONV_ERR;
	p = malloc(pw->len + 1);
	if (!p)
		return PAM_BUF_ERR;
	memcpy(p, pw->data, pw->len);
	p[pw->len] = '\0';
	*ret = p;
	return PAM_SUCCESS;
}

int pamconv_password(int num_msg, const struct pam_message **msg, struct pam_response **resp,
                     void *appdata)
{
	struct pamconv *c = appdata;
	struct pam_response *r;
	int i, rc;

	if (!resp)
		return PAM_CONV_ERR;
	*resp = NULL;
	if (!c || !msg || num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;

	r = calloc((size_t)num_msg, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;

	for (i = 0; i < num_msg; i++) {
		/* Linux-PAM passes an array of pointers (Solaris, a pointer to
		 * an array); this code is for Linux only. */
		const struct pam_message *m = msg[i];

		if (!m) {
			rc = PAM_CONV_ERR;
			goto fail;
		}
		switch (m->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			rc = answer_password(c->password, &r[i].resp);
			if (rc != PAM_SUCCESS)
				goto fail;
			break;
		case PAM_PROMPT_ECHO_ON:
			if (!c->user) {
				rc = PAM_CONV_ERR;
				goto fail;
			}
			r[i].resp = strdup(c->user);
			if (!r[i].resp) {
				rc = PAM_BUF_ERR;
				goto fail;
			}
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			text_add(c, m->msg);
			break;
		default:
			/* Binary prompts, radio buttons: nothing sensible to say. */
			rc = PAM_CONV_ERR;
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;

fail:
	responses_free(r, num_msg);
	return rc;
}
