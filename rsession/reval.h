/*
 * Evaluating R code from C on the R thread without ever long-jumping out
 * of the caller: every error (and an interrupt) becomes a return value.
 */
#ifndef RSESSION_REVAL_H
#define RSESSION_REVAL_H

#include <stddef.h>

#include <Rinternals.h>

/*
 * Parses and evaluates text in the base environment. On an R error copies
 * its message into err (when err is not NULL) and returns -EINVAL; -EBADMSG
 * if text does not parse.
 */
int reval_string(const char *text, char *err, size_t errsize);

/*
 * Calls fn(arg) where fn is a function of the session's private helper
 * environment (session.R). Returns the value (unprotected: protect it
 * before allocating) in *ret, or -EINVAL with R's message in err.
 */
int reval_helper(const char *fn, const char *arg, SEXP *ret, char *err, size_t errsize);

/*
 * Evaluates call in the helper environment. Returns the value (unprotected)
 * in *ret, or -EINVAL with R's message in err.
 */
int reval_call(SEXP call, SEXP *ret, char *err, size_t errsize);

/* The helper environment, or NULL before reval_init() succeeded. */
SEXP reval_env(void);

/* Loads session.R into the private environment. */
int reval_init(char *err, size_t errsize);

#endif
