/*
 * The pager: what R would show in a terminal pager (help pages as text,
 * file.show(), page(), help(package = ...)) goes to the browser as a "help"
 * message, through R's front-end hook for showing files (R_ShowFiles).
 *
 * Every text help path in R ends there: ?topic renders the page with
 * tools::Rd2txt into a temporary file and calls file.show(), which calls
 * R_ShowFiles unless options(pager) is an R function (a user's choice,
 * which then wins). The text keeps R's overstrikes ("_\bX" underlines X,
 * "X\bX" is bold); the page renders them.
 */
#ifndef RSESSION_PAGER_H
#define RSESSION_PAGER_H

/* Text beyond this many bytes (all files together) is cut with a note. */
#define PAGER_MAX_TEXT (256 * 1024)

/* Installs the R_ShowFiles callback; before R starts. */
void pager_callbacks(void);

#endif
