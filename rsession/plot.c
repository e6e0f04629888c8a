/*
 * Plots in the browser; see plot.h.
 *
 * Whether the plot changed is decided without evaluating any R code: the
 * graphics engine keeps each device's display list as a pairlist that
 * grows at its end (DLlastElt) and is replaced by a new one on a new page.
 * We keep the list's first and last cells as they were at the last frame,
 * preserved from the garbage collector so that their addresses cannot be
 * reused, and compare pointers: a different first cell is a new page, a
 * different last cell is more drawing on the same page.
 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <R.h>
#include <Rinternals.h>

/* After Rinternals.h: the graphics engine's header needs SEXP. */
#include <R_ext/GraphicsEngine.h>
#include <R_ext/Rdynload.h>

#include "console.h"
#include "log.h"
#include "reval.h"
#include "sessproto.h"

/* Room in a frame for everything but the image. */
#define FRAME_SLACK 1024

static bool ready;
static SEXP mark_sym;      /* the attribute on our device's .Devices entry */
static SEXP seen;          /* list(first cell, last cell) at the last frame */
static bool shown;         /* the browser has an image of the current device */
static int sent_w, sent_h; /* the last frame's size in pixels */
static double sent_dpr;
static json_int_t seq, page;
static struct timespec last_frame; /* CLOCK_MONOTONIC */

static double ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static void pixels(const struct plot_request *r, int *w, int *h, double *res)
{
	*w = (int)lround(r->width * r->dpr);
	*h = (int)lround(r->height * r->dpr);
	/* Text at the size it has on a 96 dpi screen, sharp on dense ones. */
	*res = 96.0 * r->dpr;
}

/* Our device's index as GEgetDevice() takes it (0 is the null device), or
 * -1 when it is not open. */
static int our_device(void)
{
	SEXP devs = Rf_findVar(Rf_install(".Devices"), R_BaseEnv);
	int i = 0;

	if (TYPEOF(devs) != LISTSXP)
		return -1;
	for (SEXP p = devs; p != R_NilValue; p = CDR(p), i++)
		if (Rf_getAttrib(CAR(p), mark_sym) != R_NilValue)
			return GEgetDevice(i) ? i : -1;
	return -1;
}

static void remember(pGEDevDesc dd)
{
	SEXP v = PROTECT(Rf_allocVector(VECSXP, 2));

	SET_VECTOR_ELT(v, 0, dd ? dd->displayList : R_NilValue);
	SET_VECTOR_ELT(v, 1, dd ? dd->DLlastElt : R_NilValue);
	R_PreserveObject(v);
	UNPROTECT(1);
	if (seen)
		R_ReleaseObject(seen);
	seen = v;
}

static bool changed(pGEDevDesc dd, bool *new_page)
{
	SEXP first = seen ? VECTOR_ELT(seen, 0) : R_NilValue;
	SEXP last = seen ? VECTOR_ELT(seen, 1) : R_NilValue;

	*new_page = dd->displayList != first;
	return *new_page || dd->DLlastElt != last;
}

static void push(uint64_t client, json_t *msg, bool latest)
{
	pthread_mutex_lock(&console.lock);
	if (console_push_message(client, msg, latest) < 0)
		log_errorx("Out of memory: a plot or help message was lost");
	pthread_mutex_unlock(&console.lock);
	console_wake();
}

static void say_stderr(const char *text)
{
	pthread_mutex_lock(&console.lock);
	console_push_output(1, text, strlen(text));
	pthread_mutex_unlock(&console.lock);
	console_wake();
}

/* ---- rendering ---------------------------------------------------------- */

struct caught {
	char *err;
	size_t errsize;
};

static SEXP eval_body(void *call)
{
	return Rf_eval((SEXP)call, reval_env());
}

static SEXP on_error(SEXP cond, void *data)
{
	struct caught *c = data;
	SEXP msg = TYPEOF(cond) == VECSXP && XLENGTH(cond) > 0 ? VECTOR_ELT(cond, 0) : R_NilValue;

	snprintf(c->err, c->errsize, "%s",
	         Rf_isString(msg) && XLENGTH(msg) > 0 ? CHAR(STRING_ELT(msg, 0)) : "an R error");
	return R_NilValue;
}

/*
 * Replays device dev's plot into a PNG of w x h pixels (session.R,
 * plot_render). Returns the bytes as a base64 string (malloc'd) or NULL
 * with the reason in err. in_command: called from a page hook while the
 * user's code runs; only errors are caught, so that an interrupt still
 * stops the user's command rather than our rendering.
 */
static char *render(int dev, int w, int h, double res, bool in_command, size_t *ret_len, char *err,
                    size_t errsize)
{
	SEXP call, value = R_NilValue;
	char *b64 = NULL;

	PROTECT(call = Rf_lang5(Rf_install("plot_render"), Rf_ScalarInteger(dev + 1),
	                        Rf_ScalarInteger(w), Rf_ScalarInteger(h), Rf_ScalarReal(res)));
	if (in_command) {
		struct caught c = {err, errsize};
		err[0] = '\0';
		value = R_tryCatchError(eval_body, call, on_error, &c);
	} else if (reval_call(call, &value, err, errsize) < 0) {
		value = R_NilValue;
	}
	PROTECT(value);
	if (TYPEOF(value) == RAWSXP && XLENGTH(value) > 8) {
		b64 = sessproto_base64(RAW(value), (size_t)XLENGTH(value), ret_len);
		if (!b64)
			snprintf(err, errsize, "out of memory");
	} else if (!err[0]) {
		snprintf(err, errsize, "no image was produced");
	}
	UNPROTECT(2);
	return b64;
}

/* Renders and sends the plot of device dev at the browser's size. */
static void send_frame(int dev, bool new_page, bool in_command)
{
	struct plot_request size;
	char err[512] = "", line[640];
	size_t len = 0;
	int w, h;
	double res;
	char *b64;

	pthread_mutex_lock(&console.lock);
	size = console.plot_size;
	pthread_mutex_unlock(&console.lock);
	pixels(&size, &w, &h, &res);
	if (new_page)
		page++;
	b64 = render(dev, w, h, res, in_command, &len, err, sizeof(err));
	/* Whatever happened, this state of the display list is done with:
	 * a plot that fails to render is not tried again until it changes.
	 * The device is looked up again: rendering ran R code. */
	dev = our_device();
	remember(dev >= 0 ? GEgetDevice(dev) : NULL);
	clock_gettime(CLOCK_MONOTONIC, &last_frame);
	if (!b64) {
		log_warnx("Could not render the plot for the browser: %s", err);
		snprintf(line, sizeof(line), "rsession: cannot show the plot: %s\n", err);
		say_stderr(line);
		return;
	}
	if (len + FRAME_SLACK > SESSPROTO_MAX_FRAME) {
		snprintf(line, sizeof(line),
		         "rsession: the plot is too large to show (%.1f MB as PNG at %d x %d "
		         "pixels)\n",
		         (double)len * 3 / 4 / 1e6, w, h);
		say_stderr(line);
		free(b64);
		return;
	}
	push(0,
	     json_pack("{s:s, s:s%, s:i, s:i, s:f, s:I, s:I}", "type", "plot", "png", b64, len,
	               "width", w, "height", h, "dpr", size.dpr, "seq", ++seq, "page", page),
	     true);
	free(b64);
	shown = true;
	sent_w = w;
	sent_h = h;
	sent_dpr = size.dpr;
}

/* The device was closed: the browser shows no current plot. */
static void send_closed(void)
{
	push(0,
	     json_pack("{s:s, s:s, s:i, s:i, s:f, s:I, s:I}", "type", "plot", "png", "", "width", 0,
	               "height", 0, "dpr", sent_dpr > 0 ? sent_dpr : 1.0, "seq", ++seq, "page",
	               page),
	     true);
	shown = false;
}

static void export_plot(const struct plot_request *r)
{
	char err[512] = "";
	size_t len = 0;
	int dev = our_device(), w, h;
	double res;
	char *b64 = NULL;
	json_t *msg;

	pixels(r, &w, &h, &res);
	if (!ready)
		snprintf(err, sizeof(err), "plots are not available in this session");
	else if (dev < 0 || GEgetDevice(dev)->displayList == R_NilValue)
		snprintf(err, sizeof(err), "there is no plot to save");
	else
		b64 = render(dev, w, h, res, false, &len, err, sizeof(err));
	if (b64 && len + FRAME_SLACK > SESSPROTO_MAX_FRAME) {
		snprintf(err, sizeof(err),
		         "the image would be too large to send (%.1f MB); choose a smaller size",
		         (double)len * 3 / 4 / 1e6);
		free(b64);
		b64 = NULL;
	}
	if (b64)
		msg = json_pack("{s:s, s:s, s:s%, s:i, s:i}", "type", "plot-export", "id", r->id,
		                "png", b64, len, "width", w, "height", h);
	else
		msg =
		    json_pack("{s:s, s:s, s:s}", "type", "plot-export", "id", r->id, "error", err);
	free(b64);
	push(r->client, msg, false);
}

void plot_at_prompt(void)
{
	struct plot_request exp;
	bool resize, want_export;
	int dev;

	pthread_mutex_lock(&console.lock);
	resize = console.plot_size_changed;
	console.plot_size_changed = false;
	want_export = console.plot_export_pending;
	console.plot_export_pending = false;
	exp = console.plot_export;
	pthread_mutex_unlock(&console.lock);

	if (ready) {
		dev = our_device();
		if (dev < 0) {
			if (shown)
				send_closed();
			if (seen) {
				R_ReleaseObject(seen);
				seen = NULL;
			}
		} else {
			pGEDevDesc dd = GEgetDevice(dev);
			bool new_page, ch = changed(dd, &new_page);
			if (dd->displayList == R_NilValue) {
				/* A new device with nothing drawn yet. */
				if (ch)
					remember(dd);
			} else if (ch || (resize && shown)) {
				send_frame(dev, new_page, false);
			}
		}
	}
	if (want_export)
		export_plot(&exp);
}

/* ---- routines session.R calls --------------------------------------------- */

/* The hook before each new page (base and grid graphics). */
static SEXP call_plot_progress(void)
{
	bool new_page;
	int dev;

	if (!ready)
		return R_NilValue;
	dev = our_device();
	if (dev < 0 || curDevice() != dev)
		return R_NilValue;
	pGEDevDesc dd = GEgetDevice(dev);
	if (dd->displayList == R_NilValue || !changed(dd, &new_page) ||
	    ms_since(&last_frame) < PLOT_MIN_INTERVAL_MS)
		return R_NilValue;
	send_frame(dev, new_page, true);
	return R_NilValue;
}

/* Marks the current device as ours (plot_device just opened it). */
static SEXP call_plot_mark(void)
{
	SEXP devs = Rf_findVar(Rf_install(".Devices"), R_BaseEnv);
	int cur = curDevice(), i = 0;

	for (SEXP p = devs; TYPEOF(p) == LISTSXP; p = CDR(p), i++)
		if (i == cur) {
			Rf_setAttrib(CAR(p), mark_sym, Rf_ScalarLogical(TRUE));
			break;
		}
	return R_NilValue;
}

/* Our device's number as R counts (dev.cur()), 0 when not open. */
static SEXP call_plot_device(void)
{
	return Rf_ScalarInteger(our_device() + 1);
}

/* c(width, height, res) for a new device: the browser's plot area. */
static SEXP call_plot_size(void)
{
	struct plot_request size;
	SEXP v = PROTECT(Rf_allocVector(REALSXP, 3));
	int w, h;
	double res;

	pthread_mutex_lock(&console.lock);
	size = console.plot_size;
	pthread_mutex_unlock(&console.lock);
	pixels(&size, &w, &h, &res);
	REAL(v)[0] = w;
	REAL(v)[1] = h;
	REAL(v)[2] = res;
	UNPROTECT(1);
	return v;
}

static const R_CallMethodDef routines[] = {
    {"rs_plot_progress", (DL_FUNC)&call_plot_progress, 0},
    {"rs_plot_mark", (DL_FUNC)&call_plot_mark, 0},
    {"rs_plot_device", (DL_FUNC)&call_plot_device, 0},
    {"rs_plot_size", (DL_FUNC)&call_plot_size, 0},
    {NULL, NULL, 0},
};

int plot_init(bool marker_set)
{
	char err[512];
	SEXP call;
	int r;

	mark_sym = Rf_install("rsession_plot");
	DllInfo *info = R_getEmbeddingDllInfo();
	R_registerRoutines(info, NULL, routines, NULL, NULL);
	R_useDynamicSymbols(info, FALSE);

	PROTECT(call = Rf_lang2(Rf_install("plot_setup"), Rf_ScalarLogical(marker_set)));
	r = reval_call(call, NULL, err, sizeof(err));
	UNPROTECT(1);
	if (r < 0) {
		log_warnx("Plots in the browser are off: %s", err);
		/* The marker must not stay: no device of that name exists. */
		reval_string("if (identical(getOption(\"device\"), \"" PLOT_DEVICE_MARKER "\")) "
		             "options(device = grDevices::pdf)",
		             NULL, 0);
		return r;
	}
	ready = true;
	return 0;
}
