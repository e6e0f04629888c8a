# R helpers rsession calls on the R thread to suspend and resume a session.
#
# They are evaluated into a private environment whose enclosure is the base
# namespace: nothing a user defines can shadow what they call, and they are
# not visible from the user's global environment. Only base functions are
# used, so they work whatever packages are attached.

# Environment variables that belong to one launch, not to the user's work:
# socket and runtime paths, credential caches, temp dirs, the R installation
# and the launcher's own settings. They are never saved or restored.
launch_specific <- function(names) {
  fixed <- c("R_SESSION_TMPDIR", "TMPDIR", "TMP", "TEMP", "KRB5CCNAME",
             "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK",
             "PWD", "OLDPWD", "SHLVL", "_", "LISTEN_FDS", "LISTEN_PID",
             "LISTEN_FDNAMES", "R_HOME", "R_SHARE_DIR", "R_INCLUDE_DIR",
             "R_DOC_DIR", "LD_LIBRARY_PATH", "HOME", "USER", "LOGNAME",
             "R_LIBS_USER")
  names %in% fixed | startsWith(names, "RSESSION_") |
    startsWith(names, "XDG_SESSION_")
}

# options() whose values survive serialisation unchanged: atomic values and
# plain lists of them. Functions and environments (devices, editors, hooks)
# belong to the running process.
saveable_options <- function() {
  o <- options()
  keep <- vapply(o, function(v) {
    is.null(v) || (is.atomic(v) && !is.object(v)) ||
      (is.list(v) && !is.object(v) &&
         all(vapply(v, function(x) is.atomic(x) && !is.object(x), NA)))
  }, NA)
  o[keep]
}

r_version <- function() paste(R.version$major, R.version$minor, sep = ".")

# Writes the session into dir (an empty directory rsession made and will
# fsync and rename into place).
suspend <- function(dir) {
  ge <- globalenv()
  save(list = ls(envir = ge, all.names = TRUE), envir = ge,
       file = file.path(dir, "environment.RData"), compress = FALSE)
  s <- search()
  env <- Sys.getenv()
  env <- env[!launch_specific(names(env))]
  state <- list(format = 1L,
                r_version = r_version(),
                saved_at = Sys.time(),
                packages = sub("^package:", "", s[startsWith(s, "package:")]),
                working_dir = getwd(),
                options = saveable_options(),
                environment = as.list(env))
  saveRDS(state, file.path(dir, "state.rds"), compress = FALSE)
  # The plot is a nicety: failing to record it does not fail the suspend.
  tryCatch(plot_save(dir), error = function(e) unlink(file.path(dir, "plot.rds")))
  invisible(NULL)
}

# Restores a session from dir. Everything that can be checked is checked
# before anything changes; on any error the global environment is emptied
# again so that the session starts fresh. Returns the console message and
# any warnings, as a character vector.
restore <- function(dir) {
  ge <- globalenv()
  state <- readRDS(file.path(dir, "state.rds"))
  if (!is.list(state) || !identical(state$format, 1L))
    stop("the saved state has an unknown format")
  if (!identical(state$r_version, r_version()))
    stop(sprintf("it was saved by R %s and this session runs R %s",
                 state$r_version, r_version()))
  missing <- Filter(function(p) length(find.package(p, quiet = TRUE)) == 0L,
                    state$packages)
  if (length(missing))
    stop(sprintf("package %s %s not installed",
                 paste(missing, collapse = ", "),
                 if (length(missing) > 1L) "are" else "is"))
  notes <- character()
  tryCatch({
    load(file.path(dir, "environment.RData"), envir = ge)
    # Attaching each missing package at position 2, last first, rebuilds
    # the saved search order.
    attached <- search()
    for (p in rev(state$packages))
      if (!(paste0("package:", p) %in% attached))
        suppressPackageStartupMessages(library(p, character.only = TRUE))
  }, error = function(e) {
    rm(list = ls(envir = ge, all.names = TRUE), envir = ge)
    stop(conditionMessage(e), call. = FALSE)
  })
  for (n in names(state$options))
    tryCatch(options(state$options[n]), error = function(e)
      notes <<- c(notes, sprintf("option %s could not be restored: %s", n,
                                 conditionMessage(e))))
  env <- unlist(state$environment)
  env <- env[!launch_specific(names(env))]
  if (length(env))
    do.call(Sys.setenv, as.list(env))
  if (!isTRUE(tryCatch({ setwd(state$working_dir); TRUE },
                       error = function(e) FALSE)))
    notes <- c(notes, sprintf("the working directory %s no longer exists; staying in %s",
                              state$working_dir, getwd()))
  why <- plot_restore(dir)
  if (!is.null(why))
    notes <- c(notes, sprintf("your last plot could not be restored: %s", why))
  c(sprintf("Session restored from your saved work on %s",
            format(state$saved_at, "%Y-%m-%d %H:%M:%S %Z")), notes)
}

# ---- plots (plot.c) ----
#
# The session's graphics device: one of R's own cairo bitmap devices
# drawing to /dev/null, with its display list on so that rsession can
# replay what it shows into PNG files of the browser's size. It is jpeg()
# rather than png(): the same cairo surface and font metrics as the PNG it
# is replayed into, but each finished page costs a third (R encodes every
# page for the file, /dev/null here). The mark on its .Devices entry lets
# rsession find it whatever its number.
plot_device <- function(...) {
  s <- .Call("rs_plot_size", PACKAGE = "(embedding)")
  grDevices::jpeg("/dev/null", width = s[1L], height = s[2L], res = s[3L],
                  type = "cairo", bg = "white", quality = 1)
  grDevices::dev.control("enable")
  .Call("rs_plot_mark", PACKAGE = "(embedding)")
  invisible(NULL)
}

# Before each new page (base and grid graphics): rsession may send the page
# that is finished, a few times a second at most.
plot_hook <- function() .Call("rs_plot_progress", PACKAGE = "(embedding)")

# Makes plot_device the default, unless someone chose another device:
# rsession set R_INTERACTIVE_DEVICE to its marker before R started, so the
# option still holds the marker exactly when nobody (Rprofile.site, the
# user's .Rprofile, R_INTERACTIVE_DEVICE in the environment) did.
plot_setup <- function(marker_set) {
  if (!isTRUE(capabilities("cairo")))
    stop("this R has no cairo graphics (capabilities(\"cairo\") is FALSE)")
  setHook("before.plot.new", plot_hook)
  setHook("before.grid.newpage", plot_hook)
  dev <- getOption("device")
  if (is.null(dev) || (marker_set && identical(dev, "rsession_plot_device")))
    options(device = plot_device)
  invisible(NULL)
}

# Replays device dev's plot into a PNG of width x height pixels and returns
# its bytes. The current device stays current.
plot_render <- function(dev, width, height, res) {
  file <- file.path(tempdir(check = TRUE), "rsession-plot-render.png")
  old <- grDevices::dev.cur()
  op <- options(device.ask.default = FALSE, warn = 0)
  tmp <- 0L
  on.exit({
    if (tmp > 1L && tmp %in% grDevices::dev.list())
      grDevices::dev.off(tmp)
    if (old > 1L && old %in% grDevices::dev.list())
      grDevices::dev.set(old)
    options(op)
    unlink(file)
  })
  grDevices::dev.set(dev)
  p <- grDevices::recordPlot()
  grDevices::png(file, width = width, height = height, res = res,
                 type = "cairo", bg = "white")
  tmp <- grDevices::dev.cur()
  suppressWarnings(grDevices::replayPlot(p))
  grDevices::dev.off(tmp)
  tmp <- 0L
  readBin(file, "raw", file.size(file))
}

# Suspend: the current plot of our device, as recordPlot() has it.
plot_save <- function(dir) {
  dev <- .Call("rs_plot_device", PACKAGE = "(embedding)")
  if (dev < 2L)
    return(invisible(NULL))
  old <- grDevices::dev.cur()
  on.exit(if (old > 1L && old %in% grDevices::dev.list()) grDevices::dev.set(old))
  grDevices::dev.set(dev)
  p <- grDevices::recordPlot()
  if (!is.null(p[[1L]]))
    saveRDS(p, file.path(dir, "plot.rds"), compress = FALSE)
  invisible(NULL)
}

# Resume: draws the saved plot on a new device of ours. Returns NULL, or
# why the plot could not be restored.
plot_restore <- function(dir) {
  f <- file.path(dir, "plot.rds")
  if (!file.exists(f))
    return(NULL)
  tryCatch({
    p <- readRDS(f)
    if (!inherits(p, "recordedplot"))
      stop("the saved plot is not a recorded plot")
    plot_device()
    suppressWarnings(grDevices::replayPlot(p))
    NULL
  }, error = function(e) conditionMessage(e))
}
