/*
 * Suspend, resume and quit; see suspend.h.
 */
#include "suspend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <Rinternals.h>

#include "console.h"
#include "fsutil.h"
#include "log.h"
#include "options.h"
#include "reval.h"
#include "sessproto.h"
#include "strutil.h"

#define HISTORY_MAX_SIZE (64 * 1024 * 1024)

static char *state_path(const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", opts.state_root, console.session_id, suffix ? suffix : "") < 0)
		return NULL;
	return p;
}

bool suspend_state_exists(void)
{
	char *dir = state_path(NULL);
	struct stat st;
	bool exists;

	exists = dir && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	free(dir);
	return exists;
}

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdir_parents(const char *path)
{
	char *copy = strdup(path);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return r;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

/* rm -rf that never follows symbolic links. */
static int remove_tree(const char *path)
{
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

int suspend_remove_stale(void)
{
	char prefix[128];
	DIR *d = opendir(opts.state_root);
	struct dirent *e;
	size_t plen;
	int n = 0;

	if (!d)
		return 0;
	snprintf(prefix, sizeof(prefix), ".%s.tmp-", console.session_id);
	plen = strlen(prefix);
	while ((e = readdir(d))) {
		struct stat st;
		char *p;

		/* mkdtemp's six characters, nothing else. */
		if (strncmp(e->d_name, prefix, plen) != 0 || strlen(e->d_name) != plen + 6)
			continue;
		if (asprintf(&p, "%s/%s", opts.state_root, e->d_name) < 0)
			break;
		/* A directory, never a link to one. */
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (remove_tree(p) == 0) {
				log_info(
				    "Session %s: removed %s, left by a suspend or a removal that "
				    "did not finish",
				    console.session_id, p);
				n++;
			} else {
				log_warn("Session %s: cannot remove %s", console.session_id, p);
			}
		}
		free(p);
	}
	closedir(d);
	return n;
}

/* fsyncs every regular file in dir, then dir itself. */
static int fsync_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && r == 0) {
		char *p;
		if (e->d_type != DT_REG)
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		r = fs_fsync_path(p, false);
		free(p);
	}
	closedir(d);
	return r ? r : fs_fsync_path(dir, true);
}

static int write_history(const char *dir)
{
	char *path;
	FILE *f;
	int r = 0;

	if (asprintf(&path, "%s/history", dir) < 0)
		return -ENOMEM;
	f = fopen(path, "we");
	free(path);
	if (!f)
		return -errno;
	pthread_mutex_lock(&console.lock);
	for (size_t i = 0; i < console.nhistory && r == 0; i++)
		if (fprintf(f, "%s\n", console.history[i]) < 0)
			r = -errno;
	pthread_mutex_unlock(&console.lock);
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static void read_history(const char *dir)
{
	char *path, *buf, *save = NULL;
	size_t len;

	if (asprintf(&path, "%s/history", dir) < 0)
		return;
	if (file_read_all(path, HISTORY_MAX_SIZE, &buf, &len) < 0) {
		free(path);
		return;
	}
	free(path);
	pthread_mutex_lock(&console.lock);
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		console_add_history(l, strlen(l));
	pthread_mutex_unlock(&console.lock);
	free(buf);
}

/*
 * R reports a failed write as "error writing to connection", without the
 * reason. Writing a probe file to the same file system recovers it: a full
 * disk or an exceeded quota fails the same way again.
 */
static const char *probe_write_failure(const char *dir)
{
	static char reason[128];
	char *path;
	char block[65536] = {0};
	int fd, err = 0;

	if (asprintf(&path, "%s/.probe", dir) < 0)
		return NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
	} else {
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fsync(fd) < 0)
			err = errno ? errno : ENOSPC;
		close(fd);
		unlink(path);
	}
	free(path);
	if (!err)
		return NULL;
	snprintf(reason, sizeof(reason), "%s", strerror(err));
	return reason;
}

/* Puts tmp in place of the session's state directory. */
static int install_state(const char *tmp, const char *dir)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0)
		return remove_tree(tmp); /* tmp now holds the older state */
	if (errno == ENOENT) {
		if (rename(tmp, dir) < 0)
			return -errno;
		return 0;
	}
	return -errno;
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

void suspend_run(bool force, uint64_t client)
{
	char err[1024] = "", *tmp = NULL, *dir = NULL;
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&console.lock);
	console_push_state(STATE_SUSPENDING, force ? "forced" : NULL);
	pthread_mutex_unlock(&console.lock);
	console_wake();

	dir = state_path(NULL);
	if (!dir || asprintf(&tmp, "%s/.%s.tmp-XXXXXX", opts.state_root, console.session_id) < 0) {
		tmp = NULL;
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	r = mkdir_parents(opts.state_root);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot create %s: %s", opts.state_root, strerror(-r));
		goto fail;
	}
	if (!mkdtemp(tmp)) {
		snprintf(err, sizeof(err), "cannot create a directory in %s: %s", opts.state_root,
		         strerror(errno));
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	r = reval_helper("suspend", tmp, NULL, err, sizeof(err));
	if (r < 0) {
		const char *why = probe_write_failure(tmp);
		if (why) {
			size_t n = strlen(err);
			snprintf(err + n, sizeof(err) - n, " (%s)", why);
		}
		goto fail;
	}
	r = write_history(tmp);
	if (r == 0)
		r = fsync_tree(tmp);
	if (r == 0)
		r = install_state(tmp, dir);
	if (r == 0)
		r = fs_fsync_path(opts.state_root, true);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot write the session state in %s: %s",
		         opts.state_root, strerror(-r));
		goto fail;
	}
	free(tmp);
	log_info("Session %s %ssuspended to %s in %.0f ms", console.session_id,
	         force ? "force-" : "", dir, elapsed_ms(&t0));
	free(dir);
	if (client) {
		pthread_mutex_lock(&console.lock);
		console_push_result(client, "suspend", true, NULL);
		pthread_mutex_unlock(&console.lock);
	}
	console_exit(STATE_SUSPENDED, force ? "force-suspended" : "suspended",
	             force ? RSESSION_EXIT_FORCE_SUSPENDED : RSESSION_EXIT_SUSPENDED);

fail:
	if (tmp) {
		remove_tree(tmp);
		free(tmp);
	}
	free(dir);
	log_warnx("Session %s: suspend failed: %s", console.session_id, err);
	pthread_mutex_lock(&console.lock);
	if (client)
		console_push_result(client, "suspend", false, err);
	console_push_state(STATE_RUNNING, "suspend failed");
	char line[1200];
	snprintf(line, sizeof(line), "Could not suspend the session: %s\n", err);
	console_push_output(1, line, strlen(line));
	pthread_mutex_unlock(&console.lock);
	console_wake();
}

/* Renames the state directory to the first free <id>.suspended-unrestored-N. */
static char *move_aside(const char *dir)
{
	for (int n = 1; n < 10000; n++) {
		char *aside;
		if (asprintf(&aside, "%s.suspended-unrestored-%d", dir, n) < 0)
			return NULL;
		/* renameat2 NOREPLACE: never overwrite an earlier one. */
		if (renameat2(AT_FDCWD, dir, AT_FDCWD, aside, RENAME_NOREPLACE) == 0)
			return aside;
		int e = errno;
		free(aside);
		if (e != EEXIST)
			return NULL;
	}
	return NULL;
}

static void *remove_in_background(void *arg)
{
	char *path = arg;
	int r = remove_tree(path);

	if (r < 0)
		log_warnx("Session %s: could not remove restored state %s: %s", console.session_id,
		          path, strerror(-r));
	free(path);
	return NULL;
}

/*
 * Retires a restored state: a later crash must start fresh, not resume stale
 * data. The directory is renamed at once to a name suspend_remove_stale()
 * knows (".<id>.tmp-XXXXXX", over an empty directory made for it), and
 * removed by a thread of its own: deleting a workspace of gigabytes takes
 * a second on some disks (ext4 with online discard), which the user would
 * otherwise wait for before the first prompt (benchmarks.md). If the
 * session ends first, the next start removes what is left.
 */
static int retire_state(const char *dir)
{
	char *tmp = NULL;
	pthread_t t;
	pthread_attr_t a;
	int r = 0;

	if (asprintf(&tmp, "%s/.%s.tmp-XXXXXX", opts.state_root, console.session_id) < 0)
		return -ENOMEM;
	if (!mkdtemp(tmp) || rename(dir, tmp) < 0) {
		r = -errno;
		rmdir(tmp);
		free(tmp);
		/* Cannot move it: remove it in place, as before. */
		return remove_tree(dir) == 0 ? 0 : r;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, remove_in_background, tmp) != 0)
		remove_in_background(tmp); /* no thread: here and now */
	pthread_attr_destroy(&a);
	return 0;
}

static void console_say(int stream, const char *text)
{
	pthread_mutex_lock(&console.lock);
	console_push_output(stream, text, strlen(text));
	pthread_mutex_unlock(&console.lock);
	console_wake();
}

void suspend_restore(void)
{
	char err[1024] = "", *dir = state_path(NULL), *line = NULL;
	struct timespec t0;
	SEXP value;
	int r;

	if (!dir)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = reval_helper("restore", dir, &value, err, sizeof(err));
	if (r < 0) {
		char *aside = move_aside(dir);
		log_warnx("Session %s: could not restore %s: %s; moved to %s", console.session_id,
		          dir, err, aside ? aside : "(could not move it)");
		if (asprintf(&line,
		             "Could not restore your saved session: %s.\n"
		             "Starting a new session; the saved state is kept in %s.\n",
		             err, aside ? aside : dir) > 0)
			console_say(1, line);
		free(aside);
		goto out;
	}
	PROTECT(value);
	read_history(dir);
	for (R_xlen_t i = 0; Rf_isString(value) && i < XLENGTH(value); i++) {
		free(line);
		line = NULL;
		if (asprintf(&line, "%s\n", CHAR(STRING_ELT(value, i))) > 0)
			console_say(i == 0 ? 0 : 1, line);
	}
	UNPROTECT(1);
	r = retire_state(dir);
	if (r < 0)
		log_warnx("Session %s: could not remove restored state %s: %s", console.session_id,
		          dir, strerror(-r));
	log_info("Session %s restored from %s in %.0f ms", console.session_id, dir,
	         elapsed_ms(&t0));
out:
	free(line);
	free(dir);
}

void suspend_quit(const char *save, uint64_t client)
{
	char expr[64], err[512];

	if (client) {
		pthread_mutex_lock(&console.lock);
		console_push_result(client, "quit", true, NULL);
		pthread_mutex_unlock(&console.lock);
		console_wake();
	}
	/* q() ends in exit(); the exit handler tells the clients. It returns
	 * only if the user cancels at the save question. */
	snprintf(expr, sizeof(expr), "q(save = \"%s\")", save);
	if (reval_string(expr, err, sizeof(err)) < 0)
		log_warnx("Session %s: quit failed: %s", console.session_id, err);
}
