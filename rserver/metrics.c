/*
 * Prometheus metrics; see metrics.h.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESULTS 16
#define LAG_EVERY_MS 1000

static const double buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static struct {
	struct {
		char name[32];
		unsigned long long n;
	} signins[MAX_RESULTS];
	unsigned long long lockouts;
	struct {
		unsigned long long le[NBUCKETS];
		unsigned long long count;
		double sum;
	} durations[METRICS_NDURATIONS];
	long long websockets;
	uv_timer_t lag_timer;
	bool lag_on;
	uint64_t lag_expected; /* uv_hrtime() the timer should fire at */
	double lag_last, lag_max;
} M;

static const char *const duration_names[METRICS_NDURATIONS] = {"launch", "resume", "suspend"};

void metrics_signin(const char *result)
{
	char label[32];

	/* A label value in snake_case: "wrong password" -> "wrong_password". */
	snprintf(label, sizeof(label), "%s", result);
	for (char *p = label; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	for (size_t i = 0; i < MAX_RESULTS; i++) {
		if (!M.signins[i].name[0])
			snprintf(M.signins[i].name, sizeof(M.signins[i].name), "%s", label);
		if (strcmp(M.signins[i].name, label) == 0) {
			M.signins[i].n++;
			return;
		}
	}
}

void metrics_lockout(void)
{
	M.lockouts++;
}

void metrics_duration(enum metrics_duration d, double seconds)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i])
			M.durations[d].le[i]++;
	M.durations[d].count++;
	M.durations[d].sum += seconds;
}

void metrics_websockets(int delta)
{
	M.websockets += delta;
}

static void on_lag(uv_timer_t *t)
{
	uint64_t now = uv_hrtime();
	double lag = now > M.lag_expected ? (double)(now - M.lag_expected) / 1e9 : 0;

	(void)t;
	M.lag_last = lag;
	if (lag > M.lag_max)
		M.lag_max = lag;
	M.lag_expected = now + (uint64_t)LAG_EVERY_MS * 1000000;
}

int metrics_start(uv_loop_t *loop)
{
	int r = uv_timer_init(loop, &M.lag_timer);

	if (r < 0)
		return r;
	M.lag_on = true;
	M.lag_expected = uv_hrtime() + (uint64_t)LAG_EVERY_MS * 1000000;
	return uv_timer_start(&M.lag_timer, on_lag, LAG_EVERY_MS, LAG_EVERY_MS);
}

void metrics_stop(void)
{
	if (M.lag_on)
		uv_close((uv_handle_t *)&M.lag_timer, NULL);
	M.lag_on = false;
}

/* A growing text buffer; a failed append marks it and render returns NULL. */
struct text {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = (t->cap + (size_t)n + 1) * 2;
		char *nb = realloc(t->buf, ncap);
		if (!nb) {
			t->oom = true;
			return;
		}
		t->buf = nb;
		t->cap = ncap;
	}
}

/* Label values are user names and hex ids; escape anyway. */
static void put_label(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			put(t, "\\%c", *v);
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

char *metrics_render(struct sessions *ss)
{
	struct text t = {0};
	size_t by_state[DB_SESSION_EXITED + 1] = {0};
	struct session *s;

	for (s = sessions_first(ss); s; s = session_next(s))
		if ((size_t)session_state(s) <= DB_SESSION_EXITED)
			by_state[session_state(s)]++;
	put(&t, "# HELP rserver_sessions Sessions by state.\n# TYPE rserver_sessions gauge\n");
	for (int st = 0; st <= DB_SESSION_EXITED; st++)
		put(&t, "rserver_sessions{state=\"%s\"} %zu\n", db_session_state_name(st),
		    by_state[st]);

	struct sessions_starts st;
	sessions_starts(ss, &st);
	put(&t,
	    "# HELP rserver_session_starts Session starts in flight, waiting for a slot, and the "
	    "slots.\n# TYPE rserver_session_starts gauge\n"
	    "rserver_session_starts{state=\"in_flight\"} %u\n"
	    "rserver_session_starts{state=\"queued\"} %u\n"
	    "rserver_session_starts{state=\"slots\"} %u\n",
	    st.in_flight, st.queued, st.slots);

	put(&t, "# HELP rserver_signins_total Sign-in attempts by result.\n"
	        "# TYPE rserver_signins_total counter\n");
	for (size_t i = 0; i < MAX_RESULTS && M.signins[i].name[0]; i++)
		put(&t, "rserver_signins_total{result=\"%s\"} %llu\n", M.signins[i].name,
		    M.signins[i].n);
	put(&t, "# HELP rserver_lockouts_total Sign-ins refused by a lockout.\n"
	        "# TYPE rserver_lockouts_total counter\nrserver_lockouts_total %llu\n",
	    M.lockouts);

	for (int d = 0; d < METRICS_NDURATIONS; d++) {
		const char *name = duration_names[d];
		put(&t,
		    "# HELP rserver_session_%s_seconds Time to %s a session.\n"
		    "# TYPE rserver_session_%s_seconds histogram\n",
		    name, name, name);
		for (size_t i = 0; i < NBUCKETS; i++)
			put(&t, "rserver_session_%s_seconds_bucket{le=\"%g\"} %llu\n", name,
			    buckets[i], M.durations[d].le[i]);
		put(&t,
		    "rserver_session_%s_seconds_bucket{le=\"+Inf\"} %llu\n"
		    "rserver_session_%s_seconds_sum %g\n"
		    "rserver_session_%s_seconds_count %llu\n",
		    name, M.durations[d].count, name, M.durations[d].sum, name,
		    M.durations[d].count);
	}

	put(&t,
	    "# HELP rserver_websockets Open console WebSockets.\n# TYPE rserver_websockets gauge\n"
	    "rserver_websockets %lld\n",
	    M.websockets);
	put(&t,
	    "# HELP rserver_event_loop_lag_seconds How late the last 1 s timer fired.\n"
	    "# TYPE rserver_event_loop_lag_seconds gauge\nrserver_event_loop_lag_seconds %g\n"
	    "# HELP rserver_event_loop_lag_max_seconds The worst lag since start.\n"
	    "# TYPE rserver_event_loop_lag_max_seconds gauge\n"
	    "rserver_event_loop_lag_max_seconds %g\n",
	    M.lag_last, M.lag_max);

	put(&t, "# HELP rserver_session_cpu_percent CPU use of a running session.\n"
	        "# TYPE rserver_session_cpu_percent gauge\n");
	for (s = sessions_first(ss); s; s = session_next(s)) {
		double cpu;
		unsigned long long rss;
		if (!session_stats(s, &cpu, &rss))
			continue;
		put(&t, "rserver_session_cpu_percent{id=\"");
		put_label(&t, session_id(s));
		put(&t, "\",user=\"");
		put_label(&t, session_user(s));
		put(&t, "\"} %g\n", cpu);
	}
	put(&t, "# HELP rserver_session_rss_bytes Resident memory of a running session.\n"
	        "# TYPE rserver_session_rss_bytes gauge\n");
	for (s = sessions_first(ss); s; s = session_next(s)) {
		double cpu;
		unsigned long long rss;
		if (!session_stats(s, &cpu, &rss))
			continue;
		put(&t, "rserver_session_rss_bytes{id=\"");
		put_label(&t, session_id(s));
		put(&t, "\",user=\"");
		put_label(&t, session_user(s));
		put(&t, "\"} %llu\n", rss);
	}
	if (t.oom) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
