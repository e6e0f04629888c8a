/*
 * Prometheus metrics of the network process (GET /metrics): counters and
 * histograms kept here, gauges read from the session registry when the
 * text is rendered. The network process is single-threaded, so the
 * counters are plain variables.
 */
#ifndef RSERVER_METRICS_H
#define RSERVER_METRICS_H

#include <uv.h>

#include "sessions.h"

enum metrics_duration {
	METRICS_LAUNCH,  /* launch asked -> rsession running */
	METRICS_RESUME,  /* resume asked -> rsession running */
	METRICS_SUSPEND, /* suspend asked -> rsession exited, state saved */
	METRICS_NDURATIONS
};

/* A sign-in's outcome: "ok", "bad_password", ..., "throttled", "locked_out". */
void metrics_signin(const char *result);
void metrics_lockout(void);
void metrics_duration(enum metrics_duration d, double seconds);
void metrics_websockets(int delta);

/* Starts measuring the event loop's lag (a 1 s timer that notes how late
 * it fires); metrics_stop() closes it. */
int metrics_start(uv_loop_t *loop);
void metrics_stop(void);

/* The exposition text (malloc'd), NULL on OOM. */
char *metrics_render(struct sessions *ss);

#endif
