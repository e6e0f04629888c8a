/*
 * Notices from notifications.conf; see notices.h.
 */
#include "notices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config-report.h"
#include "clock.h"
#include "log.h"
#include "notifications.h"
#include "strutil.h"

#define FILE_NAME   "notifications.conf"
#define FILE_MAX    (1024 * 1024)
#define DEBOUNCE_MS 30    /* an editor's save is several events */
#define POLL_MS     30000 /* the fallback for file systems without inotify */
#define MAX_WAIT_MS 60000 /* the longest the timer waits before looking again */

typedef char notice_id[NOTIFICATION_ID_LEN + 1];

struct notices {
	struct notices_deps d;
	char *path, *dir;
	uv_fs_event_t event;
	uv_fs_poll_t poll;
	uv_timer_t debounce, timer;
	bool event_on, handles_open;

	bool have_content;
	char *content; /* the text last parsed; NULL when the file was missing */
	size_t content_len;

	struct notification_list list;
	char **problems;
	size_t nproblems;

	notice_id *active; /* the ids delivered as active */
	size_t nactive;
};

static bool acked(struct notices *n, const char *user, const char *id)
{
	bool has = false;

	if (db_ack_has(n->d.db, user, id, &has) < 0) {
		log_errorx("Cannot read acknowledgements of %s: %s", user, db_error(n->d.db));
		return false; /* show it again rather than lose it */
	}
	return has;
}

static char *notice_json(const struct notification *e)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "notification", "id", e->id, "message",
	                      e->message);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

static char *dismissed_json(const char *id)
{
	json_t *o = json_pack("{s:s, s:s}", "type", "notification-dismissed", "id", id);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

/* ---- delivery ---------------------------------------------------------------- */

struct deliver_ctx {
	struct notices *n;
	const char *id;
	const char *text;
};

static void deliver_one(struct session_viewer *v, const char *user, void *arg)
{
	struct deliver_ctx *c = arg;

	if (!acked(c->n, user, c->id))
		v->send(v, c->text, strlen(c->text));
}

static void send_all(struct session_viewer *v, const char *user, void *arg)
{
	const char *text = arg;

	(void)user;
	v->send(v, text, strlen(text));
}

static void deliver(struct notices *n, const struct notification *e)
{
	char *text = notice_json(e);
	struct deliver_ctx c = {n, e->id, text};

	if (!text)
		return;
	log_info("Notification %s (%s:%u) is active; delivering it", e->id, n->path, e->line);
	sessions_each_viewer(n->d.sessions, NULL, deliver_one, &c);
	free(text);
}

static void dismiss(struct notices *n, const char *user, const char *id)
{
	char *text = dismissed_json(id);

	if (!text)
		return;
	sessions_each_viewer(n->d.sessions, user, send_all, text);
	free(text);
}

static bool in_ids(const notice_id *ids, size_t nids, const char *id)
{
	for (size_t i = 0; i < nids; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

static void on_timer(uv_timer_t *t);

/*
 * Brings open consoles in line with the entries active now: new ones
 * delivered, ended or removed ones dropped. Then waits for the next start
 * or end.
 */
static void refresh(struct notices *n)
{
	time_t now = time(NULL);
	notice_id *now_active = calloc(n->list.n ? n->list.n : 1, sizeof(*now_active));
	size_t nnow = 0;
	int64_t next = INT64_MAX;

	if (!now_active)
		return;
	for (size_t i = 0; i < n->list.n; i++) {
		const struct notification *e = &n->list.items[i];
		if (notification_active(e, now) && !in_ids(now_active, nnow, e->id)) {
			snprintf(now_active[nnow++], sizeof(notice_id), "%s", e->id);
			if (!in_ids(n->active, n->nactive, e->id))
				deliver(n, e);
		}
		if (e->has_start && e->start > now && (int64_t)e->start * 1000 < next)
			next = (int64_t)e->start * 1000;
		if (e->end >= now && ((int64_t)e->end + 1) * 1000 < next)
			next = ((int64_t)e->end + 1) * 1000;
	}
	for (size_t i = 0; i < n->nactive; i++)
		if (!in_ids(now_active, nnow, n->active[i])) {
			log_info("Notification %s ended or was removed", n->active[i]);
			dismiss(n, NULL, n->active[i]);
		}
	free(n->active);
	n->active = now_active;
	n->nactive = nnow;
	if (!n->handles_open)
		return;
	if (next == INT64_MAX) {
		uv_timer_stop(&n->timer);
	} else {
		/* At most a minute at a time: a wall clock that jumps must not
		 * leave a start or end waiting for the old time. */
		int64_t delay = next - now_ms();
		if (delay > MAX_WAIT_MS)
			delay = MAX_WAIT_MS;
		uv_timer_start(&n->timer, on_timer, delay > 0 ? (uint64_t)delay : 0, 0);
	}
}

static void on_timer(uv_timer_t *t)
{
	refresh(t->data);
}

/* ---- the file ---------------------------------------------------------------- */

static void problems_free(struct notices *n)
{
	for (size_t i = 0; i < n->nproblems; i++)
		free(n->problems[i]);
	free(n->problems);
	n->problems = NULL;
	n->nproblems = 0;
}

static void problems_keep(struct notices *n, const struct diag *d)
{
	problems_free(n);
	n->problems = calloc(d->n ? d->n : 1, sizeof(char *));
	if (!n->problems)
		return;
	for (size_t i = 0; i < d->n; i++) {
		const struct diag_entry *e = &d->entries[i];
		char *text = NULL;
		if (asprintf(&text, "%s:%u: %s", e->file, e->line, e->message) >= 0)
			n->problems[n->nproblems++] = text;
	}
}

/* Identical entries have the same id: keep the first, so that each
 * notice goes out once. */
static void dedupe(struct notification_list *l)
{
	size_t kept = 0;

	for (size_t i = 0; i < l->n; i++) {
		bool seen = false;
		for (size_t j = 0; j < kept && !seen; j++)
			seen = strcmp(l->items[j].id, l->items[i].id) == 0;
		if (seen)
			free(l->items[i].message);
		else
			l->items[kept++] = l->items[i];
	}
	l->n = kept;
}

/* Reads the file; parses and applies it when its text changed. */
static void read_notices(struct notices *n)
{
	char *text = NULL;
	size_t len = 0;
	int r = file_read_all(n->path, FILE_MAX, &text, &len);
	struct notification_list list;
	struct diag d;

	if (r < 0 && r != -ENOENT) {
		log_warn_errno(-r, "Cannot read %s; keeping the notifications as they were", n->path);
		return;
	}
	if (n->have_content && ((r == -ENOENT && !n->content) ||
	                        (r == 0 && n->content && len == n->content_len &&
	                         memcmp(text, n->content, len) == 0))) {
		free(text);
		return; /* the same as before: an editor's extra event */
	}
	diag_init(&d);
	if (notifications_parse(n->path, r == 0 ? text : "", r == 0 ? len : 0, &list, &d) < 0) {
		log_errorx("Out of memory reading %s", n->path);
		diag_free(&d);
		free(text);
		return;
	}
	config_log_problems(&d, "");
	problems_keep(n, &d);
	dedupe(&list);
	diag_free(&d);
	notification_list_free(&n->list);
	n->list = list;
	free(n->content);
	n->content = r == 0 ? text : NULL;
	n->content_len = r == 0 ? len : 0;
	n->have_content = true;
	log_info("Read %s: %zu notification(s)%s", n->path, list.n,
	         r == -ENOENT ? " (no such file)" : "");
	refresh(n);
}

static void on_debounced(uv_timer_t *t)
{
	read_notices(t->data);
}

static void changed(struct notices *n)
{
	uv_timer_start(&n->debounce, on_debounced, DEBOUNCE_MS, 0);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	(void)events;
	if (status < 0)
		return;
	/* Some kernels and file systems give no name: read anyway. */
	if (!filename || strcmp(filename, FILE_NAME) == 0)
		changed(h->data);
}

static void on_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
	(void)status;
	(void)prev;
	(void)curr;
	changed(h->data);
}

int notices_start(const struct notices_deps *deps, struct notices **ret)
{
	struct notices *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->d = *deps;
	n->path = settings_path(deps->settings, FILE_NAME);
	n->dir = strdup(deps->settings->config_dir);
	if (!n->path || !n->dir) {
		notices_free(n);
		return -ENOMEM;
	}
	uv_timer_init(deps->loop, &n->debounce);
	uv_timer_init(deps->loop, &n->timer);
	uv_fs_poll_init(deps->loop, &n->poll);
	uv_fs_event_init(deps->loop, &n->event);
	n->debounce.data = n->timer.data = n->poll.data = n->event.data = n;
	n->handles_open = true;
	r = uv_fs_event_start(&n->event, on_event, n->dir, 0);
	if (r < 0)
		log_warnx("Cannot watch %s (%s); noticing changes to %s within %d s instead", n->dir,
		          uv_strerror(r), FILE_NAME, POLL_MS / 1000);
	n->event_on = r == 0;
	r = uv_fs_poll_start(&n->poll, on_poll, n->path, POLL_MS);
	if (r < 0)
		log_warnx("Cannot poll %s: %s", n->path, uv_strerror(r));
	/* The first read happens on the loop, after the privilege drop, as
	 * every later one will: a file only root can read shows up as a
	 * problem at start, not after the first edit. */
	uv_timer_start(&n->debounce, on_debounced, 0, 0);
	*ret = n;
	return 0;
}

void notices_reload(struct notices *n)
{
	if (n)
		read_notices(n);
}

void notices_greet(struct notices *n, struct session_viewer *v, const char *user)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < n->list.n; i++) {
		const struct notification *e = &n->list.items[i];
		char *text;
		if (!notification_active(e, now) || acked(n, user, e->id))
			continue;
		text = notice_json(e);
		if (text)
			v->send(v, text, strlen(text));
		free(text);
	}
}

int notices_ack(struct notices *n, const char *user, const char *id)
{
	bool known = false;

	for (size_t i = 0; i < n->list.n; i++)
		known |= strcmp(n->list.items[i].id, id) == 0;
	if (!known)
		return -ENOENT;
	if (db_ack_add(n->d.db, user, id, now_ms()) < 0) {
		log_errorx("Cannot record that %s acknowledged notification %s: %s", user, id,
		           db_error(n->d.db));
		return -EIO;
	}
	log_info("%s acknowledged notification %s", user, id);
	dismiss(n, user, id);
	return 0;
}

static json_t *time_json(time_t t)
{
	char buf[32];
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

json_t *notices_status_json(struct notices *n)
{
	json_t *entries = json_array(), *problems = json_array();
	time_t now = time(NULL);

	for (size_t i = 0; entries && i < n->list.n; i++) {
		const struct notification *e = &n->list.items[i];
		size_t count = 0;
		db_ack_count(n->d.db, e->id, &count);
		json_array_append_new(
		    entries, json_pack("{s:s, s:o, s:o, s:s, s:b, s:I, s:i}", "id", e->id, "start",
		                       e->has_start ? time_json(e->start) : json_null(), "end",
		                       time_json(e->end), "message", e->message, "active",
		                       notification_active(e, now), "acknowledged_by",
		                       (json_int_t)count, "line", (int)e->line));
	}
	for (size_t i = 0; problems && i < n->nproblems; i++)
		json_array_append_new(problems, json_string(n->problems[i]));
	return json_pack("{s:s, s:o, s:o}", "file", n->path, "notifications", entries, "problems",
	                 problems);
}

void notices_stop(struct notices *n)
{
	if (!n || !n->handles_open)
		return;
	n->handles_open = false;
	uv_close((uv_handle_t *)&n->event, NULL);
	uv_close((uv_handle_t *)&n->poll, NULL);
	uv_close((uv_handle_t *)&n->debounce, NULL);
	uv_close((uv_handle_t *)&n->timer, NULL);
}

void notices_free(struct notices *n)
{
	if (!n)
		return;
	notification_list_free(&n->list);
	problems_free(n);
	free(n->active);
	free(n->content);
	free(n->path);
	free(n->dir);
	free(n);
}
