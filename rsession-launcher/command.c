/*
 * Shell-like word splitting; see command.h.
 */
#include "command.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strutil.h"

void command_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int command_split(const char *text, char ***ret, size_t *ret_n, char *err, size_t errsize)
{
	size_t len = strlen(text), n = 0, cap = 4;
	char **argv = calloc(cap + 1, sizeof(*argv));
	char *word = malloc(len + 1);
	size_t wl = 0;
	bool in_word = false;
	int r = 0;

	if (!argv || !word) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = text[i];

		if (c == '\0' || c == ' ' || c == '\t' || c == '\n') {
			if (!in_word)
				continue;
			if (n == cap) {
				char **na = reallocarray(argv, cap * 2 + 1, sizeof(*na));
				if (!na) {
					r = -ENOMEM;
					goto fail;
				}
				argv = na;
				cap *= 2;
			}
			argv[n] = str_copy_n(word, wl);
			if (!argv[n]) {
				r = -ENOMEM;
				goto fail;
			}
			argv[++n] = NULL;
			wl = 0;
			in_word = false;
			continue;
		}
		in_word = true;
		if (c == '\\') {
			if (i + 1 >= len) {
				snprintf(err, errsize, "trailing backslash");
				r = -EINVAL;
				goto fail;
			}
			word[wl++] = text[++i];
		} else if (c == '\'') {
			const char *end = strchr(text + i + 1, '\'');
			if (!end) {
				snprintf(err, errsize, "unterminated single quote");
				r = -EINVAL;
				goto fail;
			}
			memcpy(word + wl, text + i + 1, (size_t)(end - text - i - 1));
			wl += (size_t)(end - text - i - 1);
			i = (size_t)(end - text);
		} else if (c == '"') {
			for (i++;; i++) {
				if (i >= len) {
					snprintf(err, errsize, "unterminated double quote");
					r = -EINVAL;
					goto fail;
				}
				if (text[i] == '"')
					break;
				if (text[i] == '\\' && i + 1 < len && strchr("\"\\$`", text[i + 1]))
					i++;
				word[wl++] = text[i];
			}
		} else {
			word[wl++] = c;
		}
	}
	free(word);
	*ret = argv;
	*ret_n = n;
	return 0;
fail:
	free(word);
	if (argv) {
		for (size_t k = 0; k < n; k++)
			free(argv[k]);
		free(argv);
	}
	return r;
}

int command_check_supervisor(const char *text, char *err, size_t errsize)
{
	char **argv = NULL, why[256];
	size_t n = 0;
	struct stat st;
	int r = 0;

	if (!text || !*text)
		return 0;
	if (command_split(text, &argv, &n, why, sizeof(why)) < 0) {
		snprintf(err, errsize, "rsession-exec-command: %s", why);
		return -EINVAL;
	}
	if (n == 0) {
		command_free(argv);
		return 0;
	}
	/* Absolute: the supervisor runs as the user with the session's
	 * PATH, and a name looked up there is the user's choice, not the
	 * administrator's. */
	if (argv[0][0] != '/') {
		snprintf(err, errsize,
		         "rsession-exec-command: '%s' is not an absolute path; the supervisor's "
		         "first word must be the full path of a program (such as /usr/bin/%s)",
		         argv[0], strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]);
		r = -EINVAL;
	} else if (stat(argv[0], &st) < 0) {
		snprintf(err, errsize, "rsession-exec-command: %s: %s", argv[0], strerror(errno));
		r = -EINVAL;
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "rsession-exec-command: %s is not a regular file", argv[0]);
		r = -EINVAL;
	} else if (!(st.st_mode & 0111)) {
		snprintf(err, errsize, "rsession-exec-command: %s is not executable (mode %04o)",
		         argv[0], (unsigned)(st.st_mode & 07777));
		r = -EINVAL;
	}
	command_free(argv);
	return r;
}
