/*
 * The pager; see pager.h.
 */
#include "pager.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define R_INTERFACE_PTRS 1
#include <Rinterface.h>

#include "console.h"
#include "log.h"
#include "strutil.h"

struct text {
	char *p;
	size_t len, cap;
	bool full;
};

static void add(struct text *t, const char *s, size_t n)
{
	if (t->full)
		return;
	if (t->len + n > PAGER_MAX_TEXT) {
		n = PAGER_MAX_TEXT - t->len;
		t->full = true;
	}
	if (mem_reserve(&t->p, &t->cap, t->len + n + 1) < 0) {
		t->full = true;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* Appends up to what still fits of a regular file. */
static int add_file(struct text *t, const char *path)
{
	char buf[65536];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	while (!t->full) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		add(t, buf, (size_t)n);
	}
out:
	close(fd);
	return r;
}

/* R_ShowFiles: R asks the front end to show nfile files. R thread. */
static int show_files(int nfile, const char **file, const char **headers, const char *wtitle,
                      Rboolean del, const char *pager)
{
	struct text t = {0};
	char *clean = NULL;
	size_t n, pending;
	json_t *msg;

	(void)pager; /* the panel is the pager */
	for (int i = 0; i < nfile; i++) {
		char line[PATH_MAX + 128];
		int r;

		if (i > 0)
			add(&t, "\n", 1);
		if (headers && headers[i] && headers[i][0]) {
			add(&t, headers[i], strlen(headers[i]));
			add(&t, "\n\n", 2);
		}
		r = add_file(&t, file[i]);
		if (r < 0) {
			snprintf(line, sizeof(line), "Cannot show %s: %s\n", file[i], strerror(-r));
			add(&t, line, strlen(line));
		}
		if (del)
			unlink(file[i]);
	}
	if (t.full) {
		static const char note[] = "\n\n[… cut: only the first 256 KiB are shown]\n";
		t.full = false;
		t.len =
		    t.len > PAGER_MAX_TEXT - sizeof(note) ? PAGER_MAX_TEXT - sizeof(note) : t.len;
		add(&t, note, sizeof(note) - 1);
	}
	/* JSON needs valid UTF-8: help in another encoding still shows. */
	clean = malloc(3 * t.len + 1);
	if (!clean) {
		free(t.p);
		return 0;
	}
	n = t.len ? utf8_sanitize(t.p, t.len, clean, &pending) : 0;
	msg = json_pack("{s:s, s:s, s:s%}", "type", "help", "title",
	                wtitle && wtitle[0] ? wtitle : "R Information", "text", clean, n);
	if (!msg) {
		/* The title was not UTF-8. */
		msg = json_pack("{s:s, s:s, s:s%}", "type", "help", "title", "R Information",
		                "text", clean, n);
	}
	free(clean);
	free(t.p);
	pthread_mutex_lock(&console.lock);
	if (console_push_message(0, msg, false) < 0)
		log_errorx("Out of memory: a help page was lost");
	pthread_mutex_unlock(&console.lock);
	console_wake();
	return 0;
}

void pager_callbacks(void)
{
	ptr_R_ShowFiles = show_files;
}
