/*
 * The admin protocol; see adminproto.h.
 *
 * Each command lists its arguments, and the fields of its answer, with
 * their kinds in one table; decoding walks the tables, so a command cannot
 * be decoded loosely by accident and adding an argument is one line.
 */
#include "adminproto.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* What a field may hold. */
enum kind {
	K_NONE,
	K_STRING,   /* a non-empty string within the field's cap */
	K_TEXT,     /* a string, possibly empty, within ADMINPROTO_MAX_FRAME */
	K_INT,      /* an integer >= 0 */
	K_PID,      /* an integer >= 0, or null */
	K_BOOL,     /* true or false */
	K_COUNTS,   /* an object of integers >= 0 */
	K_SESSION,  /* a session object (SPEC.md "JSON shapes") */
	K_SESSIONS, /* an array of session objects */
	K_RESULTS,  /* an array of per-session results */
};

struct field {
	const char *key;
	enum kind kind;
	bool required;
	size_t max; /* K_STRING: bytes */
};

#define MAX_FIELDS 8

struct command_spec {
	const char *name;
	struct field args[MAX_FIELDS];
	struct field answer[MAX_FIELDS]; /* besides ok, error and message */
};

#define F(k, kind, req, max)                                                                       \
	{                                                                                          \
		k, kind, req, max                                                                  \
	}
#define SESSION_ARG   F("session", K_STRING, true, ADMINPROTO_MAX_NAME)
#define USER_ARG(req) F("user", K_STRING, req, ADMINPROTO_MAX_NAME)
static const struct command_spec specs[ADMIN_NCOMMANDS] = {
    [ADMIN_STATUS] = {"status",
                      {{0}},
                      {F("pid", K_INT, true, 0), F("version", K_STRING, true, 64),
                       F("uptime_seconds", K_INT, true, 0),
                       F("address", K_STRING, true, ADMINPROTO_MAX_NAME), F("port", K_INT, true, 0),
                       F("sessions", K_COUNTS, true, 0), F("offline", K_BOOL, true, 0)}},
    [ADMIN_LIST_SESSIONS] = {"list-sessions", {{0}}, {F("sessions", K_SESSIONS, false, 0)}},
    [ADMIN_SUSPEND_SESSION] = {"suspend-session",
                               {SESSION_ARG},
                               {F("session", K_SESSION, false, 0)}},
    [ADMIN_FORCE_SUSPEND_SESSION] = {"force-suspend-session",
                                     {SESSION_ARG},
                                     {F("session", K_SESSION, false, 0)}},
    [ADMIN_KILL_SESSION] = {"kill-session", {SESSION_ARG}, {F("session", K_SESSION, false, 0)}},
    [ADMIN_SUSPEND_ALL] = {"suspend-all", {USER_ARG(false)}, {F("results", K_RESULTS, false, 0)}},
    [ADMIN_FORCE_SUSPEND_ALL] = {"force-suspend-all",
                                 {USER_ARG(false)},
                                 {F("results", K_RESULTS, false, 0)}},
    [ADMIN_KILL_ALL] = {"kill-all", {USER_ARG(false)}, {F("results", K_RESULTS, false, 0)}},
    [ADMIN_OFFLINE] = {"offline", {F("message", K_STRING, false, ADMINPROTO_MAX_ARG)}, {{0}}},
    [ADMIN_ONLINE] = {"online", {{0}}, {{0}}},
    [ADMIN_RELOAD] = {"reload", {{0}}, {{0}}},
    [ADMIN_VERIFY_SESSION] = {"verify-session",
                              {USER_ARG(true)},
                              {F("session", K_STRING, false, ADMINPROTO_MAX_NAME),
                               F("output", K_TEXT, false, 0)}},
};

/* Fields every answer may have. */
static const struct field answer_common[] = {
    F("ok", K_BOOL, true, 0),
    F("error", K_TEXT, false, 0),
    F("message", K_TEXT, false, 0),
    {0},
};

/* A per-session result of a *-all command: exactly these. */
static const struct field result_fields[] = {
    F("session", K_STRING, true, ADMINPROTO_MAX_NAME),
    F("user", K_STRING, true, ADMINPROTO_MAX_NAME),
    F("pid", K_PID, true, 0),
    F("ok", K_BOOL, true, 0),
    F("message", K_TEXT, true, 0),
    {0},
};
#undef F
#undef SESSION_ARG
#undef USER_ARG

const char *admin_command_name(enum admin_command c)
{
	return (unsigned)c < ADMIN_NCOMMANDS ? specs[c].name : NULL;
}

static const char *kind_word(enum kind k)
{
	switch (k) {
	case K_STRING:
		return "a non-empty string";
	case K_TEXT:
		return "a string";
	case K_INT:
		return "a non-negative integer";
	case K_PID:
		return "a non-negative integer or null";
	case K_BOOL:
		return "a boolean";
	case K_COUNTS:
		return "an object of counts";
	case K_SESSION:
		return "a session object";
	case K_SESSIONS:
		return "an array of session objects";
	case K_RESULTS:
		return "an array of results";
	default:
		return "nothing";
	}
}

static bool is_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/*
 * A session object: the fields SPEC.md fixes must be there with their
 * types; more fields (admin additions such as cpu_percent) are allowed, so
 * that the session shape can grow without a new protocol version.
 */
static bool session_valid(const json_t *o)
{
	const json_t *pid = json_object_get(o, "pid");

	return json_is_object(o) && json_is_string(json_object_get(o, "id")) &&
	       json_is_string(json_object_get(o, "user")) &&
	       json_is_string(json_object_get(o, "state")) && pid &&
	       (json_is_null(pid) || is_count(pid));
}

static bool fields_valid(const char *what, const struct field *const lists[], json_t *obj,
                         char *err, size_t errsize);

static bool value_valid(const struct field *f, const json_t *v)
{
	size_t i;
	const char *key;
	json_t *item;

	switch (f->kind) {
	case K_STRING:
		return json_is_string(v) && json_string_length(v) > 0 &&
		       json_string_length(v) <= f->max;
	case K_TEXT:
		return json_is_string(v);
	case K_INT:
		return is_count(v);
	case K_PID:
		return json_is_null(v) || is_count(v);
	case K_BOOL:
		return json_is_boolean(v);
	case K_COUNTS:
		if (!json_is_object(v))
			return false;
		json_object_foreach((json_t *)v, key, item)
		{
			if (!is_count(item))
				return false;
		}
		return true;
	case K_SESSION:
		return session_valid(v);
	case K_SESSIONS:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, item)
		{
			if (!session_valid(item))
				return false;
		}
		return true;
	case K_RESULTS: {
		static const struct field *const lists[] = {result_fields, NULL};
		char ignored[8];
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, item)
		{
			if (!json_is_object(item) ||
			    !fields_valid("result", lists, item, ignored, sizeof(ignored)))
				return false;
		}
		return true;
	}
	default:
		return false;
	}
}

/* Checks obj against the field lists (NULL-terminated): every key known
 * and valid, every required one present. */
static bool fields_valid(const char *what, const struct field *const lists[], json_t *obj,
                         char *err, size_t errsize)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		const struct field *f = NULL;

		for (size_t l = 0; lists[l] && !f; l++)
			for (size_t i = 0; lists[l][i].key; i++)
				if (strcmp(lists[l][i].key, key) == 0) {
					f = &lists[l][i];
					break;
				}
		if (!f) {
			snprintf(err, errsize, "%s has no field '%.64s'", what, key);
			return false;
		}
		if (!value_valid(f, v)) {
			snprintf(err, errsize, "%s field '%s' must be %s", what, key,
			         kind_word(f->kind));
			if (f->kind == K_STRING)
				snprintf(err + strlen(err), errsize - strlen(err),
				         " of at most %zu bytes", f->max);
			return false;
		}
	}
	for (size_t l = 0; lists[l]; l++)
		for (size_t i = 0; lists[l][i].key; i++)
			if (lists[l][i].required && !json_object_get(obj, lists[l][i].key)) {
				snprintf(err, errsize, "%s lacks field '%s'", what,
				         lists[l][i].key);
				return false;
			}
	return true;
}

static json_t *load_object(const char *json, size_t len, char *err, size_t errsize)
{
	json_error_t jerr;
	/* JSON_REJECT_DUPLICATES: two "session" arguments must not be
	 * resolved by whichever parser a peer happens to use. NUL bytes are
	 * refused by default (no JSON_ALLOW_NUL). */
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!o) {
		snprintf(err, errsize, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		snprintf(err, errsize, "message is not a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

int adminproto_decode_request(const char *json, size_t len, struct admin_request *ret, char *err,
                              size_t errsize)
{
	struct admin_request r = {0};
	const char *key, *name;
	json_t *v, *args;
	char what[96];
	int i;

	r.json = load_object(json, len, err, errsize);
	if (!r.json)
		return -EBADMSG;
	json_object_foreach(r.json, key, v)
	{
		if (strcmp(key, "command") != 0 && strcmp(key, "args") != 0) {
			snprintf(err, errsize, "request has no field '%.64s'", key);
			goto bad;
		}
	}
	name = json_string_value(json_object_get(r.json, "command"));
	if (!name) {
		snprintf(err, errsize, "request has no string 'command'");
		goto bad;
	}
	for (i = 0; i < ADMIN_NCOMMANDS; i++)
		if (strcmp(specs[i].name, name) == 0)
			break;
	if (i == ADMIN_NCOMMANDS) {
		snprintf(err, errsize, "unknown command '%.64s'", name);
		goto bad;
	}
	r.command = (enum admin_command)i;
	args = json_object_get(r.json, "args");
	if (args && !json_is_object(args)) {
		snprintf(err, errsize, "'%s' field 'args' must be an object", name);
		goto bad;
	}
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(r.json, "args", args) < 0) {
			json_decref(r.json);
			return -ENOMEM;
		}
	}
	{
		const struct field *const lists[] = {specs[i].args, NULL};
		snprintf(what, sizeof(what), "'%s' args", name);
		if (!fields_valid(what, lists, args, err, errsize))
			goto bad;
	}
	r.session = json_string_value(json_object_get(args, "session"));
	r.user = json_string_value(json_object_get(args, "user"));
	r.message = json_string_value(json_object_get(args, "message"));
	*ret = r;
	return 0;
bad:
	json_decref(r.json);
	return -EBADMSG;
}

void admin_request_free(struct admin_request *r)
{
	if (!r)
		return;
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

json_t *adminproto_request_new(enum admin_command c)
{
	if ((unsigned)c >= ADMIN_NCOMMANDS)
		return NULL;
	return json_pack("{s:s, s:{}}", "command", specs[c].name, "args");
}

int adminproto_decode_answer(enum admin_command c, const char *json, size_t len, json_t **ret,
                             char *err, size_t errsize)
{
	const struct field *lists[3] = {answer_common, NULL, NULL};
	char what[96];
	json_t *o;

	if ((unsigned)c >= ADMIN_NCOMMANDS) {
		snprintf(err, errsize, "no such command");
		return -EBADMSG;
	}
	o = load_object(json, len, err, errsize);
	if (!o)
		return -EBADMSG;
	lists[1] = specs[c].answer;
	snprintf(what, sizeof(what), "'%s' answer", specs[c].name);
	if (!fields_valid(what, lists, o, err, errsize))
		goto bad;
	if (!json_is_true(json_object_get(o, "ok")) && !json_object_get(o, "error")) {
		snprintf(err, errsize, "%s failed without an 'error'", what);
		goto bad;
	}
	*ret = o;
	return 0;
bad:
	json_decref(o);
	return -EBADMSG;
}
