/*
 * libFuzzer target for the profiles parser: any bytes must parse without a
 * crash, a leak or undefined behaviour, whatever problems they report.
 *
 * Beyond not crashing it checks two properties: every problem carries a
 * line inside the input, and every value the parser kept prints in a form
 * that parses back to the same value (what --print-config relies on).
 * Resolution runs for a few users and groups short enough for the fuzzer to
 * guess, so that it reads back every stored value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(enum profile_key k, const union conf_val *v)
{
	const struct conf_key *key = &profiles_table.keys[k];
	char text[8192], err[512];
	union conf_val back;
	FILE *f;

	f = fmemopen(text, sizeof(text), "w");
	if (!f)
		return;
	conf_value_print(key, v, f);
	if (fclose(f) != 0)
		abort();
	if (conf_value_parse(key, text, &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: printed '%s' does not parse: %s\n", key->name, text, err);
		abort();
	}
	if (!conf_value_equal(key, v, &back)) {
		fprintf(stderr, "%s: printed '%s' parses to another value\n", key->name, text);
		abort();
	}
	conf_value_free(key, &back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const groups[] = {"powerusers", "a", "b"};
	static const char *const users[] = {"jsmith", "a", NULL};
	struct profile_effective e[PROFILE_NKEYS];
	unsigned nlines = 0;
	struct profiles p;
	struct diag d;

	for (size_t i = 0; i < size; i++)
		nlines += data[i] == '\n';
	if (size && data[size - 1] != '\n')
		nlines++;

	diag_init(&d);
	if (profiles_parse("fuzz", (const char *)data, size, &p, &d) == 0) {
		for (size_t i = 0; i < d.n; i++)
			if (d.entries[i].line == 0 || d.entries[i].line > nlines)
				abort();
		for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
			profiles_resolve(&p, users[u], groups, sizeof(groups) / sizeof(groups[0]),
			                 e);
			for (int k = 0; k < PROFILE_NKEYS; k++) {
				if (!e[k].set)
					continue;
				if (e[k].line == 0 || e[k].line > nlines || !e[k].section)
					abort();
				check_round_trip((enum profile_key)k, &e[k].value);
			}
		}
	}
	profiles_free(&p);
	diag_free(&d);
	return 0;
}
