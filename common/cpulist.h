/*
 * CPU lists as administrators write them in profiles: 1-based core numbers
 * and inclusive ranges separated by commas, "1,2,15-16". Core 0 does not
 * exist in this numbering, ranges must not be reversed, items must not be
 * empty. The kernel's CPU numbers are these minus one.
 */
#ifndef RSERVER_CPULIST_H
#define RSERVER_CPULIST_H

#include <sched.h>
#include <stddef.h>

#define CPULIST_MAX 1024 /* CPU_SETSIZE: the most cores a cpu_set_t holds */

/*
 * Parses text into set (kernel numbering). On error writes a message such as
 * "item 3 ('16-15') is a reversed range" into err and returns -EINVAL.
 */
int cpulist_parse(const char *text, cpu_set_t *set, char *err, size_t errsize);

/* Formats set in normalised 1-based form ("1-4,7"); "" for an empty set. */
int cpulist_format(const cpu_set_t *set, char *buf, size_t size);

/*
 * Checks that every core in set is online (online = kernel cpu numbers
 * present). On failure writes "core 5 does not exist (2 online)" into err
 * and returns -ENODEV.
 */
int cpulist_check_online(const cpu_set_t *set, const cpu_set_t *online, char *err, size_t errsize);

#endif
