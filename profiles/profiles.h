/*
 * /etc/rstudio/profiles: per-user and per-group session settings.
 *
 * Sections "[*]" (everyone), "[@group]" (members of group, primary or
 * supplementary) and "[user]", each followed by "key = value" lines, applied
 * top to bottom: a later matching section overrides an earlier one, key by
 * key. Keys and ranges are in profiles_table (profiles.c). A bad line is an
 * error with file:line; a file with errors is refused as a whole.
 */
#ifndef RSERVER_PROFILES_H
#define RSERVER_PROFILES_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "diag.h"

enum profile_key {
	PROFILE_CPU_AFFINITY,
	PROFILE_NICE,
	PROFILE_MAX_MEMORY_MB,
	PROFILE_MAX_PROCESSES,
	PROFILE_MAX_OPEN_FILES,
	PROFILE_R_VERSION,
	PROFILE_SESSION_TIMEOUT_MINUTES,
	PROFILE_SESSION_TIMEOUT_KILL_HOURS,
	PROFILE_MAX_RSS_MB,
	PROFILE_NKEYS
};

extern const struct conf_table profiles_table;

enum profile_section_kind {
	PROFILE_SECTION_ALL,   /* [*] */
	PROFILE_SECTION_GROUP, /* [@name] */
	PROFILE_SECTION_USER,  /* [name] */
};

struct profile_setting {
	enum profile_key key;
	union conf_val value;
	unsigned line;
};

struct profile_section {
	enum profile_section_kind kind;
	char *name; /* group or user name; NULL for [*] */
	unsigned line;
	struct profile_setting *settings;
	size_t nsettings;
};

struct profiles {
	char *file; /* as given to the parser, for origins */
	struct profile_section *sections;
	size_t nsections;
};

/*
 * Parses text into *ret (always initialised). Errors go to d; the caller
 * must refuse the file when diag_errors(d) is non-zero. Returns 0 or -ENOMEM.
 */
int profiles_parse(const char *file, const char *buf, size_t len, struct profiles *ret,
                   struct diag *d);

/* Reads path; a missing file is an empty profile set and no problem. */
int profiles_load(const char *path, struct profiles *ret, struct diag *d);

void profiles_free(struct profiles *p);

/* The effective value of one key for one user, and where it came from. */
struct profile_effective {
	bool set;
	union conf_val value; /* borrowed from the struct profiles; do not free */
	unsigned line;        /* line of the "key = value" */
	const struct profile_section *section;
};

/*
 * Resolves the settings for user, a member of groups (primary and
 * supplementary names). ret[k] for every key k; unset keys have set=false.
 */
void profiles_resolve(const struct profiles *p, const char *user, const char *const *groups,
                      size_t ngroups, struct profile_effective ret[PROFILE_NKEYS]);

/*
 * Looks up user's primary and supplementary group names through the system
 * (getpwnam_r, getgrouplist, getgrgid_r). -ENOENT for an unknown user.
 * Free with profiles_groups_free().
 */
int profiles_user_groups(const char *user, char ***ret_groups, size_t *ret_ngroups);
void profiles_groups_free(char **groups, size_t ngroups);

#endif
