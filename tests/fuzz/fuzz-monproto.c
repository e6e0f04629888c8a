/*
 * libFuzzer target for the network <-> monitor protocol: the monitor's
 * request decoder and the client's reply decoder, over arbitrary bytes in
 * arbitrary chunks. Neither may crash, leak or accept trailing bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor-client.h"
#include "monproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[2 * MONPROTO_MAX];
	struct monitor_client mc;
	struct mon_reply reply;
	struct monbuf m;
	size_t len;
	int r;

	if (size > sizeof(buf))
		return 0;
	/* As the monitor reads requests. */
	memcpy(buf, data, size);
	len = size;
	while ((r = mon_take(buf, &len, &m)) == 1) {
		struct mon_request q;
		if (mon_decode_request(&m, &q) == 0)
			mon_request_free(&q);
		mon_free(&m);
	}
	/* As the network process reads replies. */
	monitor_client_init(&mc, -1);
	if (monitor_client_feed(&mc, data, size) == 0)
		while ((r = monitor_client_next(&mc, &reply)) == 1)
			mon_reply_free(&reply);
	monitor_client_free(&mc);
	return 0;
}
