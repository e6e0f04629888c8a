/*
 * libFuzzer target for the admin protocol (common/adminproto.c): the frame
 * reader, the request decoder the server runs on whatever a local admin
 * sends, and the answer decoder the CLI runs. Whatever decodes must
 * encode again and decode to the same command with the same arguments:
 * the CLI and the server can never disagree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adminproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader rd;
	const char *json;
	size_t len;
	int r = 0;

	if (size < 1)
		return 0;
	/* The first byte picks how the bytes arrive. */
	size_t chunk = data[0] ? data[0] : 1;
	data++;
	size--;

	adminproto_reader_init(&rd);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (frame_reader_push(&rd, data + off, n) < 0)
			break;
		while ((r = frame_reader_next(&rd, &json, &len)) == 1) {
			struct admin_request req, again;
			char err[256];
			char *buf;
			size_t blen;

			/* Every frame is also an answer to every command. */
			for (int c = 0; c < ADMIN_NCOMMANDS; c++) {
				json_t *ans;
				if (adminproto_decode_answer((enum admin_command)c, json, len, &ans,
				                             err, sizeof(err)) == 0) {
					if (!json_is_boolean(json_object_get(ans, "ok")))
						abort();
					json_decref(ans);
				}
			}
			if (adminproto_decode_request(json, len, &req, err, sizeof(err)) < 0)
				continue;
			if (adminproto_encode(req.json, &buf, &blen) == 0) {
				if (adminproto_decode_request(buf + ADMINPROTO_HEADER,
				                              blen - ADMINPROTO_HEADER, &again, err,
				                              sizeof(err)) < 0 ||
				    again.command != req.command)
					abort();
				same_or_abort(req.session, again.session);
				same_or_abort(req.user, again.user);
				same_or_abort(req.message, again.message);
				admin_request_free(&again);
				free(buf);
			}
			admin_request_free(&req);
		}
		if (r < 0)
			break;
	}
	frame_reader_free(&rd);
	return 0;
}
