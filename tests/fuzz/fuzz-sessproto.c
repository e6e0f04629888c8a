/*
 * libFuzzer target for the rserver <-> rsession frame reader and message
 * decoder, both directions. Whatever decodes must encode again and decode
 * to a message of the same type: the two sides can never disagree. The
 * output fast path (sessproto_is_output) is checked against the decoder.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "sessproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader rd;
	const char *json;
	size_t len;
	int r;

	if (size < 1)
		return 0;
	/* The first byte picks the direction and how the bytes arrive. */
	enum sessproto_dir dir = (data[0] & 1) ? SESSPROTO_TO_CLIENT : SESSPROTO_TO_SESSION;
	size_t chunk = (data[0] >> 1) ? (data[0] >> 1) : 1;
	data++;
	size--;

	frame_reader_init(&rd);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (frame_reader_push(&rd, data + off, n) < 0)
			abort();
		while ((r = frame_reader_next(&rd, &json, &len)) == 1) {
			struct sessproto_msg m, again;
			char err[256];
			char *buf;
			size_t blen;

			/* The output fast path accepts nothing the decoder refuses,
			 * and only output. */
			bool fast = sessproto_is_output(json, len);

			if (sessproto_decode(json, len, dir, &m, err, sizeof(err)) < 0) {
				if (fast && dir == SESSPROTO_TO_CLIENT)
					abort();
				continue;
			}
			if (fast && dir == SESSPROTO_TO_CLIENT && m.type != SP_OUTPUT)
				abort();
			if (sessproto_encode(m.json, &buf, &blen) == 0) {
				if (sessproto_decode(buf + SESSPROTO_HEADER, blen - SESSPROTO_HEADER,
						     dir, &again, err, sizeof(err)) < 0 ||
				    again.type != m.type)
					abort();
				sessproto_msg_free(&again);
				free(buf);
			}
			sessproto_msg_free(&m);
		}
		if (r < 0)
			break;
	}
	frame_reader_free(&rd);
	return 0;
}
