/*
 * The rserver <-> rsession protocol; see sessproto.h.
 *
 * Each message type lists its fields with their JSON types and whether they
 * are required; decoding walks the table, so adding a field is one line and
 * no type can be decoded loosely by accident.
 */
#include "sessproto.h"

#include "strutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON types a field may have; JSON_TRUE stands for "a boolean", JSON_REAL
 * for "a number" (an integer or a real). */
struct field {
	const char *key;
	json_type type;
	bool required;
};

struct message_spec {
	const char *name;
	enum sessproto_dir dir;
	struct field fields[10];
};

#define F(k, t, req)                                                                               \
	{                                                                                          \
		k, t, req                                                                          \
	}
static const struct message_spec specs[SP_NTYPES] = {
    [SP_INPUT] = {"input", SESSPROTO_TO_SESSION, {F("text", JSON_STRING, true)}},
    [SP_INTERRUPT] = {"interrupt", SESSPROTO_TO_SESSION, {{0}}},
    [SP_STATUS] = {"status", SESSPROTO_TO_SESSION, {{0}}},
    [SP_SUSPEND] = {"suspend", SESSPROTO_TO_SESSION, {F("force", JSON_TRUE, false)}},
    [SP_QUIT] = {"quit", SESSPROTO_TO_SESSION, {F("save", JSON_STRING, false)}},
    [SP_HISTORY] = {"history", SESSPROTO_TO_SESSION, {{0}}},
    [SP_PLOT_SIZE] = {"plot-size",
                      SESSPROTO_TO_SESSION,
                      {F("width", JSON_INTEGER, true), F("height", JSON_INTEGER, true),
                       F("dpr", JSON_REAL, true)}},
    [SP_PLOT_EXPORT_REQ] = {"plot-export",
                            SESSPROTO_TO_SESSION,
                            {F("id", JSON_STRING, true), F("width", JSON_INTEGER, true),
                             F("height", JSON_INTEGER, true), F("dpr", JSON_REAL, true)}},

    [SP_HELLO] = {"hello",
                  SESSPROTO_TO_CLIENT,
                  {F("version", JSON_INTEGER, true), F("pid", JSON_INTEGER, true),
                   F("session_id", JSON_STRING, true), F("r_version", JSON_STRING, true)}},
    [SP_OUTPUT] = {"output",
                   SESSPROTO_TO_CLIENT,
                   {F("stream", JSON_STRING, true), F("text", JSON_STRING, true)}},
    [SP_PROMPT] = {"prompt", SESSPROTO_TO_CLIENT, {F("prompt", JSON_STRING, true)}},
    [SP_BUSY] = {"busy", SESSPROTO_TO_CLIENT, {{0}}},
    [SP_STATE] = {"state",
                  SESSPROTO_TO_CLIENT,
                  {F("state", JSON_STRING, true), F("detail", JSON_STRING, false)}},
    [SP_ERROR] = {"error", SESSPROTO_TO_CLIENT, {F("message", JSON_STRING, true)}},
    [SP_STATUS_REPLY] = {"status",
                         SESSPROTO_TO_CLIENT,
                         {F("busy", JSON_TRUE, true), F("prompt", JSON_STRING, true),
                          F("prompt_kind", JSON_STRING, true), F("last_input", JSON_STRING, true),
                          F("pid", JSON_INTEGER, true), F("r_version", JSON_STRING, true),
                          F("rss_bytes", JSON_INTEGER, true), F("session_id", JSON_STRING, true),
                          F("clients", JSON_INTEGER, true)}},
    [SP_RESULT] = {"result",
                   SESSPROTO_TO_CLIENT,
                   {F("request", JSON_STRING, true), F("ok", JSON_TRUE, true),
                    F("error", JSON_STRING, false)}},
    [SP_HISTORY_REPLY] = {"history", SESSPROTO_TO_CLIENT, {F("lines", JSON_ARRAY, true)}},
    [SP_PLOT] = {"plot",
                 SESSPROTO_TO_CLIENT,
                 {F("png", JSON_STRING, true), F("width", JSON_INTEGER, true),
                  F("height", JSON_INTEGER, true), F("dpr", JSON_REAL, true),
                  F("seq", JSON_INTEGER, true), F("page", JSON_INTEGER, true)}},
    [SP_PLOT_EXPORT] = {"plot-export",
                        SESSPROTO_TO_CLIENT,
                        {F("id", JSON_STRING, true), F("png", JSON_STRING, false),
                         F("width", JSON_INTEGER, false), F("height", JSON_INTEGER, false),
                         F("error", JSON_STRING, false)}},
    [SP_HELP] = {"help",
                 SESSPROTO_TO_CLIENT,
                 {F("title", JSON_STRING, true), F("text", JSON_STRING, true)}},
};
#undef F

const char *sessproto_type_name(enum sessproto_type t)
{
	return t < SP_NTYPES ? specs[t].name : "?";
}

static bool type_matches(const json_t *v, json_type want)
{
	if (want == JSON_TRUE)
		return json_is_boolean(v);
	if (want == JSON_REAL)
		return json_is_number(v);
	return json_typeof(v) == want;
}

static const char *json_type_word(json_type t)
{
	switch (t) {
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_ARRAY:
		return "an array";
	case JSON_TRUE:
		return "a boolean";
	case JSON_REAL:
		return "a number";
	default:
		return "a value";
	}
}

/* Checks obj against spec: required fields present, every field known and
 * of its type. */
static bool fields_valid(const struct message_spec *spec, json_t *obj, char *err, size_t errsize)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		const struct field *f = NULL;

		if (strcmp(key, "type") == 0)
			continue;
		for (size_t i = 0; spec->fields[i].key; i++)
			if (strcmp(spec->fields[i].key, key) == 0)
				f = &spec->fields[i];
		if (!f) {
			snprintf(err, errsize, "'%s' message has no field '%.64s'", spec->name,
			         key);
			return false;
		}
		if (!type_matches(v, f->type)) {
			snprintf(err, errsize, "'%s' field '%s' must be %s", spec->name, key,
			         json_type_word(f->type));
			return false;
		}
	}
	for (size_t i = 0; spec->fields[i].key; i++) {
		if (spec->fields[i].required && !json_object_get(obj, spec->fields[i].key)) {
			snprintf(err, errsize, "'%s' message lacks field '%s'", spec->name,
			         spec->fields[i].key);
			return false;
		}
	}
	return true;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

bool sessproto_base64_valid(const char *s, size_t len)
{
	size_t pad = 0;

	if (len % 4)
		return false;
	if (len >= 1 && s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64(s[i]))
			return false;
	return true;
}

char *sessproto_base64(const unsigned char *data, size_t len, size_t *ret_len)
{
	size_t n = (len + 2) / 3 * 4, o = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return out;
}

static bool id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > SESSPROTO_PLOT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return false;
	return true;
}

static bool export_id_valid(struct sessproto_msg *m, char *err, size_t errsize)
{
	m->id = json_string_value(json_object_get(m->json, "id"));
	if (id_valid(m->id))
		return true;
	snprintf(err, errsize, "'plot-export' id must be 1 to %d letters, digits, '-' or '_'",
	         SESSPROTO_PLOT_ID_MAX);
	return false;
}

/* A plot request's size: CSS pixels, device pixel ratio, and the image
 * that results, all within the limits. */
static bool plot_size_valid(struct sessproto_msg *m, const char *name, char *err, size_t errsize)
{
	json_int_t w = json_integer_value(json_object_get(m->json, "width"));
	json_int_t h = json_integer_value(json_object_get(m->json, "height"));
	double dpr = json_number_value(json_object_get(m->json, "dpr"));

	if (w < SESSPROTO_PLOT_MIN_SIZE || w > SESSPROTO_PLOT_MAX_SIZE ||
	    h < SESSPROTO_PLOT_MIN_SIZE || h > SESSPROTO_PLOT_MAX_SIZE) {
		snprintf(err, errsize, "'%s' width and height must be %d to %d", name,
		         SESSPROTO_PLOT_MIN_SIZE, SESSPROTO_PLOT_MAX_SIZE);
		return false;
	}
	if (!isfinite(dpr) || dpr < SESSPROTO_PLOT_MIN_DPR || dpr > SESSPROTO_PLOT_MAX_DPR) {
		snprintf(err, errsize, "'%s' dpr must be %g to %g", name, SESSPROTO_PLOT_MIN_DPR,
		         SESSPROTO_PLOT_MAX_DPR);
		return false;
	}
	double pw = round((double)w * dpr), ph = round((double)h * dpr);
	if (pw < 1 || ph < 1 || pw > SESSPROTO_PLOT_MAX_SIZE || ph > SESSPROTO_PLOT_MAX_SIZE ||
	    pw * ph > SESSPROTO_PLOT_MAX_PIXELS) {
		snprintf(err, errsize,
		         "'%s' asks for an image of %.0f x %.0f pixels; at most %d "
		         "pixels a side and %d in all",
		         name, pw, ph, SESSPROTO_PLOT_MAX_SIZE, SESSPROTO_PLOT_MAX_PIXELS);
		return false;
	}
	m->width = (int)w;
	m->height = (int)h;
	m->dpr = dpr;
	return true;
}

int sessproto_decode(const char *json, size_t len, enum sessproto_dir dir,
                     struct sessproto_msg *ret, char *err, size_t errsize)
{
	struct sessproto_msg m = {0};
	json_error_t jerr;
	const char *tname;
	json_t *t;
	int i;

	/* JSON_REJECT_DUPLICATES: two "text" fields must not be resolved by
	 * whichever parser a peer happens to use. NUL bytes are refused by
	 * default (no JSON_ALLOW_NUL). */
	m.json = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!m.json) {
		snprintf(err, errsize, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(m.json)) {
		snprintf(err, errsize, "message is not a JSON object");
		goto bad;
	}
	t = json_object_get(m.json, "type");
	if (!json_is_string(t)) {
		snprintf(err, errsize, "message has no string 'type'");
		goto bad;
	}
	tname = json_string_value(t);
	for (i = 0; i < SP_NTYPES; i++)
		if (specs[i].dir == dir && strcmp(specs[i].name, tname) == 0)
			break;
	if (i == SP_NTYPES) {
		snprintf(err, errsize, "unknown message type '%.64s'", tname);
		goto bad;
	}
	m.type = (enum sessproto_type)i;
	if (!fields_valid(&specs[i], m.json, err, errsize))
		goto bad;

	switch (m.type) {
	case SP_INPUT:
	case SP_OUTPUT:
	case SP_HELP: {
		json_t *text = json_object_get(m.json, "text");
		m.text = json_string_value(text);
		m.text_len = json_string_length(text);
		break;
	}
	case SP_PLOT_SIZE:
		if (!plot_size_valid(&m, "plot-size", err, errsize))
			goto bad;
		break;
	case SP_PLOT_EXPORT_REQ:
		if (!plot_size_valid(&m, "plot-export", err, errsize) ||
		    !export_id_valid(&m, err, errsize))
			goto bad;
		break;
	case SP_PLOT_EXPORT: {
		json_t *png = json_object_get(m.json, "png");
		bool w = json_object_get(m.json, "width") != NULL;
		bool h = json_object_get(m.json, "height") != NULL;
		bool e = json_object_get(m.json, "error") != NULL;
		if (!export_id_valid(&m, err, errsize))
			goto bad;
		if (e ? (png || w || h) : !(png && w && h)) {
			snprintf(err, errsize,
			         "'plot-export' carries either png, width and "
			         "height, or an error");
			goto bad;
		}
		if (png &&
		    !sessproto_base64_valid(json_string_value(png), json_string_length(png))) {
			snprintf(err, errsize, "'plot-export' png is not base64");
			goto bad;
		}
		break;
	}
	case SP_PLOT: {
		json_t *png = json_object_get(m.json, "png");
		json_int_t w = json_integer_value(json_object_get(m.json, "width"));
		json_int_t h = json_integer_value(json_object_get(m.json, "height"));
		double dpr = json_number_value(json_object_get(m.json, "dpr"));
		if (!sessproto_base64_valid(json_string_value(png), json_string_length(png))) {
			snprintf(err, errsize, "'plot' png is not base64");
			goto bad;
		}
		if (w < 0 || h < 0 || w > SESSPROTO_PLOT_MAX_SIZE || h > SESSPROTO_PLOT_MAX_SIZE ||
		    !isfinite(dpr) || dpr < 0 || dpr > SESSPROTO_PLOT_MAX_DPR ||
		    json_integer_value(json_object_get(m.json, "seq")) < 0 ||
		    json_integer_value(json_object_get(m.json, "page")) < 0) {
			snprintf(err, errsize, "'plot' has a size, dpr, seq or page out of range");
			goto bad;
		}
		m.width = (int)w;
		m.height = (int)h;
		m.dpr = dpr;
		break;
	}
	case SP_SUSPEND:
		m.force = json_is_true(json_object_get(m.json, "force"));
		break;
	case SP_QUIT: {
		json_t *save = json_object_get(m.json, "save");
		m.save = save ? json_string_value(save) : "default";
		if (strcmp(m.save, "default") && strcmp(m.save, "yes") && strcmp(m.save, "no")) {
			snprintf(err, errsize, "'quit' field 'save' must be default, yes or no");
			goto bad;
		}
		break;
	}
	default:
		break;
	}
	*ret = m;
	return 0;
bad:
	json_decref(m.json);
	return -EBADMSG;
}

void sessproto_msg_free(struct sessproto_msg *m)
{
	if (!m)
		return;
	json_decref(m->json);
	memset(m, 0, sizeof(*m));
}

int frame_encode(const json_t *obj, uint16_t version, size_t max_frame, char **ret_buf,
                 size_t *ret_len)
{
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	uint32_t len;
	char *buf;

	if (n == 0)
		return -EINVAL;
	if (n + 2 > max_frame)
		return -EMSGSIZE;
	buf = malloc(SESSPROTO_HEADER + n);
	if (!buf)
		return -ENOMEM;
	if (json_dumpb(obj, buf + SESSPROTO_HEADER, n, JSON_COMPACT) != n) {
		free(buf);
		return -EINVAL;
	}
	len = (uint32_t)(n + 2);
	buf[0] = (char)(len >> 24);
	buf[1] = (char)(len >> 16);
	buf[2] = (char)(len >> 8);
	buf[3] = (char)len;
	buf[4] = (char)(version >> 8);
	buf[5] = (char)(version & 0xff);
	*ret_buf = buf;
	*ret_len = SESSPROTO_HEADER + n;
	return 0;
}

int sessproto_encode(const json_t *obj, char **ret_buf, size_t *ret_len)
{
	return frame_encode(obj, SESSPROTO_VERSION, SESSPROTO_MAX_FRAME, ret_buf, ret_len);
}

void frame_reader_init_for(struct frame_reader *r, uint16_t version, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->version = version;
	r->max_frame = max_frame;
}

void frame_reader_init(struct frame_reader *r)
{
	frame_reader_init_for(r, SESSPROTO_VERSION, SESSPROTO_MAX_FRAME);
}

void frame_reader_free(struct frame_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Drops what has been returned already, so that the buffer holds only
 * bytes not yet cut into frames. */
static void frame_reader_compact(struct frame_reader *r)
{
	if (!r->consumed)
		return;
	memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
	r->len -= r->consumed;
	r->consumed = 0;
}

int frame_reader_push(struct frame_reader *r, const void *data, size_t len)
{
	frame_reader_compact(r);
	if (len > 2 * (r->max_frame + 4) - r->len)
		return -EMSGSIZE;
	if (mem_reserve(&r->buf, &r->cap, r->len + len) < 0)
		return -ENOMEM;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int frame_reader_space(struct frame_reader *r, size_t want, char **ret_p, size_t *ret_n)
{
	size_t limit;

	frame_reader_compact(r);
	limit = 2 * (r->max_frame + 4) - r->len;
	if (!limit)
		return -EMSGSIZE;
	if (want > limit)
		want = limit;
	if (mem_reserve(&r->buf, &r->cap, r->len + want) < 0)
		return -ENOMEM;
	*ret_p = r->buf + r->len;
	*ret_n = want;
	return 0;
}

void frame_reader_commit(struct frame_reader *r, size_t n)
{
	r->len += n;
}

void frame_reader_trim(struct frame_reader *r, size_t keep)
{
	if (r->consumed != r->len || r->cap <= keep)
		return;
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = r->consumed = 0;
}

int frame_reader_next(struct frame_reader *r, const char **ret_json, size_t *ret_len)
{
	const unsigned char *p;
	size_t avail = r->len - r->consumed;
	uint32_t len;
	unsigned version;

	if (avail < 4)
		return 0; /* also before any data: buf may still be NULL */
	p = (const unsigned char *)r->buf + r->consumed;
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	/* Checked before waiting for the body: a peer announcing 4 GiB must
	 * not make us buffer it. */
	if (len > r->max_frame)
		return -EMSGSIZE;
	if (len < 2)
		return -EPROTO;
	if (avail < 6)
		return 0;
	version = (unsigned)p[4] << 8 | p[5];
	if (version != r->version)
		return -EPROTO;
	if (avail < 4 + (size_t)len)
		return 0;
	*ret_json = (const char *)p + SESSPROTO_HEADER;
	*ret_len = len - 2;
	r->consumed += 4 + (size_t)len;
	return 1;
}

/* ---- the output fast path ---------------------------------------------------- */

static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) starting at a lead byte >= 0x80, or 0.
 */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	/* The second byte's range is narrower after these leads. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Checks a JSON string body from p (after the opening quote) to its closing
 * quote, which it returns, or NULL. The rules are jansson's when decoding
 * without JSON_ALLOW_NUL: no raw control characters, only the standard
 * escapes, \u0000 refused, surrogates only as a high-low pair.
 */
/*
 * Whether any of the 8 bytes in x needs a closer look: a control character,
 * a quote, a backslash or a byte of a multibyte character. Exact as a yes or
 * no (the classic "has a byte less than n" / "has a zero byte" tricks).
 */
static bool word_special(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & highs;
}

static const unsigned char *json_string_end(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		unsigned char c;
		uint64_t x;

		/* Runs of plain ASCII, a word at a time: most console output. */
		while (end - p >= 8 && (memcpy(&x, p, 8), !word_special(x)))
			p += 8;
		if (p == end)
			break;
		c = *p;

		if (c == '"')
			return p;
		if (c < 0x20)
			return NULL;
		if (c < 0x80 && c != '\\') {
			p++;
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_seq(p, end);
			if (!n)
				return NULL;
			p += n;
			continue;
		}
		/* an escape */
		if (end - p < 2)
			return NULL;
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			p += 2;
			continue;
		case 'u': {
			int u;
			if (end - p < 6 || (u = hex4(p + 2)) <= 0)
				return NULL; /* malformed, or \u0000 */
			p += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return NULL; /* a low surrogate alone */
			if (u >= 0xd800 && u <= 0xdbff) {
				int lo;
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    (lo = hex4(p + 2)) < 0xdc00 || lo > 0xdfff)
					return NULL;
				p += 6;
			}
			continue;
		}
		default:
			return NULL;
		}
	}
	return NULL;
}

bool sessproto_is_output(const char *json, size_t len)
{
	static const char head[] = "{\"type\":\"output\",\"stream\":\"std";
	static const char mid[] = "\",\"text\":\"";
	const unsigned char *p = (const unsigned char *)json, *end = p + len, *q;

	if (len < sizeof(head) - 1 + 3 + sizeof(mid) - 1 + 2 || memcmp(p, head, sizeof(head) - 1))
		return false;
	p += sizeof(head) - 1;
	if (memcmp(p, "out", 3) && memcmp(p, "err", 3))
		return false;
	p += 3;
	if (memcmp(p, mid, sizeof(mid) - 1))
		return false;
	p += sizeof(mid) - 1;
	q = json_string_end(p, end);
	/* the closing quote, then the object's brace, and nothing after */
	return q && end - q == 2 && q[1] == '}';
}
