/*
 * Milliseconds from a clock, the one way the programs read time:
 * CLOCK_REALTIME for what is stored or shown (Unix milliseconds),
 * CLOCK_MONOTONIC for intervals, CLOCK_BOOTTIME for intervals that must
 * count while the machine sleeps.
 */
#ifndef RSERVER_CLOCK_H
#define RSERVER_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock Unix milliseconds. */
static inline int64_t now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

#endif
