/*
 * Plots in the browser.
 *
 * The session's default graphics device is one of R's own cairo bitmap
 * devices, drawing to /dev/null with its display list on (session.R,
 * plot_device);
 * it is the value of options(device) unless the user chose another device
 * (options(device=) in a profile, or R_INTERACTIVE_DEVICE). Its .Devices
 * entry carries a mark, so it is found again whatever its number.
 *
 * What the browser sees is rendered from the display list: the recorded
 * plot is replayed into a fresh PNG file of the size the browser asked for
 * (plot-size), read back and sent as a "plot" message. The R thread checks
 * the display list at every prompt (after each top-level command) and sends
 * a frame when it changed (a new page, lines added) or the size did; a
 * closed device sends a frame without an image. While a command runs, the
 * hooks before each new page (base and grid graphics) send the finished page
 * at most every PLOT_MIN_INTERVAL_MS, so a loop of plots is watched at a few
 * frames a second and the frame at the prompt is always the last one.
 *
 * Everything here runs on the R thread.
 */
#ifndef RSESSION_PLOT_H
#define RSESSION_PLOT_H

#include <stdbool.h>

/* Frames sent while a command runs are at least this far apart. */
#define PLOT_MIN_INTERVAL_MS 300

/* What R_INTERACTIVE_DEVICE is set to before R starts, so that the value
 * of options(device) tells whether anyone chose another device. */
#define PLOT_DEVICE_MARKER "rsession_plot_device"

/*
 * Registers the routines session.R calls, installs the page hooks and,
 * unless the user chose another device, makes ours the default. After
 * reval_init(). marker_set: R_INTERACTIVE_DEVICE was set by rsession.
 */
int plot_init(bool marker_set);

/*
 * At a prompt, without console.lock: sends a frame if the plot changed or
 * the browser's size did, and answers a pending plot-export request.
 */
void plot_at_prompt(void);

#endif
