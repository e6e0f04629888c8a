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
  c(sprintf("Session restored from your saved work on %s",
            format(state$saved_at, "%Y-%m-%d %H:%M:%S %Z")), notes)
}
