/*
 * libFuzzer target for common/notifications.c: the whole-file parser on the
 * input as given (it may hold NUL bytes), and the time parser on the input
 * as one NUL-terminated value. Everything is freed, so a leak is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notifications.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A zone with summer time, so local times cross DST rules. */
	setenv("TZ", "America/New_York", 1);
	tzset();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notification_list l;
	struct diag d;
	char err[160];
	char *text;
	time_t t;

	diag_init(&d);
	if (notifications_parse("fuzz.conf", (const char *)data, size, &l, &d) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			const struct notification *n = &l.items[i];

			/* What the parser promises about every kept entry. */
			if (strlen(n->id) != NOTIFICATION_ID_LEN || !n->message[0] ||
			    (n->has_start && n->end < n->start) || n->line == 0)
				abort();
			(void)notification_active(n, n->end);
		}
	}
	for (size_t i = 0; i < d.n; i++)
		if (d.entries[i].severity != DIAG_WARNING || !d.entries[i].message)
			abort();
	notification_list_free(&l);
	diag_free(&d);

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)notification_time_parse(text, false, &t, err, sizeof(err));
	(void)notification_time_parse(text, true, &t, err, sizeof(err));
	free(text);
	return 0;
}
