/*
 * libFuzzer target for the key=value configuration parser.
 *
 * The first input byte picks the table (rserver.conf, rsession.conf,
 * database.conf, logging.conf); the rest is the file. Beyond "never crash or
 * leak", it checks a property: whatever parses is printed by conf_print()
 * and parsed again to identical settings without a single problem.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct conf_table *tables[] = {&rserver_conf_table, &rsession_conf_table,
	                                            &database_conf_table, &logging_conf_table};
	const struct conf_table *t;
	struct conf *a = NULL, *b = NULL;
	struct diag d, d2;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	if (size < 1)
		return 0;
	t = tables[data[0] % 4];
	diag_init(&d);
	diag_init(&d2);
	if (conf_new(t, &a) < 0)
		abort();
	if (conf_parse_buffer(a, "fuzz", (const char *)data + 1, size - 1, "rserver", &d) < 0)
		goto out;

	f = open_memstream(&out, &outlen);
	if (!f)
		goto out;
	conf_print(a, f, true);
	fclose(f);
	if (conf_new(t, &b) < 0)
		abort();
	if (conf_parse_buffer(b, "printed", out, outlen, "rserver", &d2) < 0)
		goto out;
	if (d2.n != 0 || !conf_equal(a, b)) {
		fprintf(stderr, "round trip failed:\n%s\n", out);
		diag_print(&d2, stderr);
		abort();
	}
out:
	free(out);
	conf_free(a);
	conf_free(b);
	diag_free(&d);
	diag_free(&d2);
	return 0;
}
