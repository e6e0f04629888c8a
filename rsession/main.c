/*
 * rsession: one user's R session, embedding R through libR.
 *
 * The order of start-up matters:
 *  1. Parse arguments and rsession.conf; refuse bad ones before anything.
 *  2. Prepare the environment R reads at start (R_HOME and friends, LANG,
 *     R_LIBS_USER) and the working directory.
 *  3. Take the listening socket (fd 3 from rsession-launcher, or --socket)
 *     and start the I/O thread, so clients can connect and see "starting"
 *     (or "resuming") while R initialises.
 *  4. Initialise R with our console callbacks; replace R's SIGUSR1/SIGUSR2
 *     handlers (which would save and quit) with ours, after R installed
 *     them.
 *  5. Run R's loop on this thread forever; the process ends through q(),
 *     a suspend, or a signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define R_INTERFACE_PTRS 1
#include <Rembedded.h>
#include <Rinterface.h>
#include <Rinternals.h>
#include <Rversion.h>

#include "console.h"
#include "log.h"
#include "options.h"
#include "pager.h"
#include "plot.h"
#include "reval.h"
#include "rhome.h"
#include "server.h"
#include "sessproto.h"
#include "settings.h"
#include "strutil.h"
#include "suspend.h"

#ifndef RSESSION_DEFAULT_R_HOME
#define RSESSION_DEFAULT_R_HOME "/usr/lib/R"
#endif

#define INHERITED_SOCKET_FD 3

/* Exported by libR (Rf_mainloop is setup_Rmainloop + run_Rmainloop) but not
 * declared by any installed header; we need to act between the two. */
extern void run_Rmainloop(void);

struct rsession_options opts;

static void usage(FILE *out)
{
	fputs("usage: rsession --session-id ID [--socket PATH] [--allow-uid UID]\n"
	      "                [--config-dir DIR] [--r-home DIR] [--resume] [--KEY=VALUE ...]\n"
	      "\n"
	      "Runs one R session. Without --socket the listening unix socket is fd 3.\n"
	      "--KEY=VALUE sets any rsession.conf key. Exit codes: 0 quit, 1 failed to\n"
	      "start, 90 suspended, 91 force-suspended, 92 terminated.\n",
	      out);
}

static bool session_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] >= 'a' && id[i] <= 'z') && !(id[i] >= 'A' && id[i] <= 'Z') &&
		    !(id[i] >= '0' && id[i] <= '9') && id[i] != '-' && id[i] != '_')
			return false;
	return true;
}

/* Takes "--name VALUE" or "--name=VALUE"; returns the value or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int parse_args(int argc, char **argv, struct diag *d)
{
	const char *overrides[256][2];
	size_t noverrides = 0;
	char *path;
	int r;

	opts.config_dir = SETTINGS_DEFAULT_CONFIG_DIR;
	for (int i = 1; i < argc; i++) {
		const char *v, *a = argv[i], *eq;

		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			printf("rsession %s (R %s.%s)\n", RSERVER_VERSION, R_MAJOR, R_MINOR);
			exit(0);
		} else if (strcmp(a, "--resume") == 0) {
			opts.resume = true;
		} else if ((v = option_value(argc, argv, &i, "--session-id"))) {
			opts.session_id = v;
		} else if ((v = option_value(argc, argv, &i, "--socket"))) {
			opts.socket_path = v;
		} else if ((v = option_value(argc, argv, &i, "--config-dir"))) {
			opts.config_dir = v;
		} else if ((v = option_value(argc, argv, &i, "--r-home"))) {
			opts.r_home = v;
		} else if ((v = option_value(argc, argv, &i, "--allow-uid"))) {
			long long uid;
			if (str_to_llong(v, 0, 4294967294LL, &uid) < 0) {
				diag_add(d, DIAG_ERROR, "command line", 0,
				         "--allow-uid: '%s' is not a uid", v);
				continue;
			}
			opts.has_allow_uid = true;
			opts.allow_uid = (uid_t)uid;
		} else if (strncmp(a, "--", 2) == 0 && (eq = strchr(a, '=')) && noverrides < 256) {
			overrides[noverrides][0] = a;
			overrides[noverrides][1] = eq;
			noverrides++;
		} else {
			diag_add(d, DIAG_ERROR, "command line", 0, "unexpected argument '%s'", a);
		}
	}
	if (!opts.session_id)
		diag_add(d, DIAG_ERROR, "command line", 0, "--session-id is required");
	else if (!session_id_valid(opts.session_id))
		diag_add(d, DIAG_ERROR, "command line", 0,
		         "--session-id: '%s' must be 1-64 letters, digits, '-' or '_'",
		         opts.session_id);

	r = conf_new(&rsession_conf_table, &opts.conf);
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/rsession.conf", opts.config_dir) < 0)
		return -ENOMEM;
	r = conf_load_file(opts.conf, path, "rsession", d);
	free(path);
	if (r < 0)
		return r;
	for (size_t i = 0; i < noverrides; i++) {
		const char *a = overrides[i][0], *eq = overrides[i][1];
		char *key = str_copy_n(a + 2, (size_t)(eq - a - 2));
		if (!key)
			return -ENOMEM;
		r = conf_set(opts.conf, key, eq + 1, "command line", 0, d);
		if (r == -ENOENT)
			conf_report_unknown_key(&rsession_conf_table, "command line", 0, key, d);
		free(key);
		if (r == -ENOMEM)
			return r;
	}
	return 0;
}

/* $XDG_DATA_HOME/rstudio/sessions, or ~/.local/share/rstudio/sessions. A
 * relative XDG_DATA_HOME is ignored, as the XDG spec says. */
static int state_root(const char *home)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	int r;

	if (xdg && xdg[0] == '/')
		r = asprintf(&opts.state_root, "%s/rstudio/sessions", xdg);
	else
		r = asprintf(&opts.state_root, "%s/.local/share/rstudio/sessions", home);
	return r < 0 ? -ENOMEM : 0;
}

/* "~" and "~/x" relative to home. */
static char *expand_home(const char *path, const char *home)
{
	char *p;

	if (strcmp(path, "~") == 0)
		return strdup(home);
	if (strncmp(path, "~/", 2) == 0)
		return asprintf(&p, "%s/%s", home, path + 2) < 0 ? NULL : p;
	return strdup(path);
}

static void setup_working_dir(const char *home)
{
	const char *want = conf_str(opts.conf, RSESSION_SESSION_DEFAULT_WORKING_DIR);
	char *dir = expand_home(want ? want : "~", home);

	if (!dir || chdir(dir) < 0) {
		log_warn("Cannot use '%s' as the working directory; using %s", want, home);
		if (chdir(home) < 0)
			log_warn("Cannot change to the home directory %s", home);
	}
	free(dir);
}

/* R expands %v in R_LIBS_USER itself, but leaves out a directory that does
 * not exist yet, so a new user could not install packages: create it. */
static void setup_r_libs_user(const char *home)
{
	const char *want = conf_str(opts.conf, RSESSION_R_LIBS_USER);
	char *path, *expanded = NULL;
	size_t n = 0;

	if (!want)
		return;
	if (setenv("R_LIBS_USER", want, 1) < 0)
		return;
	path = expand_home(want, home);
	if (!path)
		return;
	expanded = malloc(strlen(path) * 4 + 1);
	for (const char *p = path; expanded && *p; p++) {
		if (p[0] == '%' && p[1] == 'v') {
			/* R_MINOR is "minor.patch". */
			n += (size_t)sprintf(expanded + n, "%s.%.*s", R_MAJOR,
			                     (int)strcspn(R_MINOR, "."), R_MINOR);
			p++;
		} else {
			expanded[n++] = *p;
		}
	}
	if (expanded) {
		expanded[n] = '\0';
		for (char *s = expanded + 1; *s; s++) {
			if (*s != '/')
				continue;
			*s = '\0';
			mkdir(expanded, 0755);
			*s = '/';
		}
		if (mkdir(expanded, 0755) < 0 && errno != EEXIST)
			log_warn("Cannot create the R library %s", expanded);
	}
	free(expanded);
	free(path);
}

static int open_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_errorx("Socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Created under a tight umask so that no one can connect between
	 * bind() and chmod(); SO_PEERCRED remains the real check. */
	old = umask(0177);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		umask(old);
		close(fd);
		return -e;
	}
	umask(old);
	if (opts.has_allow_uid && chmod(path, 0666) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* fd 3 from rsession-launcher must be a listening unix stream socket. */
static int inherited_socket(void)
{
	int listening = 0, type = 0;
	socklen_t len = sizeof(listening);
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);

	if (getsockopt(INHERITED_SOCKET_FD, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return -errno;
	len = sizeof(type);
	if (getsockopt(INHERITED_SOCKET_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (getsockname(INHERITED_SOCKET_FD, (struct sockaddr *)&ss, &slen) < 0)
		return -errno;
	if (!listening || type != SOCK_STREAM || ss.ss_family != AF_UNIX)
		return -ENOTSOCK;
	fcntl(INHERITED_SOCKET_FD, F_SETFD, FD_CLOEXEC);
	return INHERITED_SOCKET_FD;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && home[0] == '/')
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

int main(int argc, char **argv)
{
	const char *r_argv[12];
	const char *home, *save;
	char err[512];
	struct diag d;
	int r_argc = 0, fd, r;

	log_init("rsession");
	diag_init(&d);
	r = parse_args(argc, argv, &d);
	if (r < 0 || diag_errors(&d)) {
		diag_print(&d, stderr);
		diag_free(&d);
		if (r < 0)
			fprintf(stderr, "rsession: %s\n", strerror(-r));
		usage(stderr);
		conf_free(opts.conf);
		return RSESSION_EXIT_FAILURE;
	}
	diag_print(&d, stderr); /* warnings */
	diag_free(&d);

	home = home_dir();
	/* The version rsession was built for, until R itself says. */
	if (state_root(home) < 0 || console_init(opts.session_id) < 0) {
		log_errorx("Out of memory");
		return RSESSION_EXIT_FAILURE;
	}
	/* The version rsession was built for, until R itself says. */
	snprintf(console.r_version, sizeof(console.r_version), "%s.%s", R_MAJOR, R_MINOR);
	if (rhome_setup(opts.r_home
	                    ? opts.r_home
	                    : (getenv("R_HOME") && *getenv("R_HOME") ? getenv("R_HOME")
	                                                             : RSESSION_DEFAULT_R_HOME),
	                err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		return RSESSION_EXIT_FAILURE;
	}
	/* R in the C locale prints non-ASCII text as <U+00E9>. */
	if (!getenv("LANG") && !getenv("LC_ALL") && !getenv("LC_CTYPE"))
		setenv("LANG", "C.UTF-8", 1);
	setup_working_dir(home);
	setup_r_libs_user(home);

	suspend_remove_stale();
	if (suspend_state_exists())
		console.state = STATE_RESUMING;
	else if (opts.resume)
		log_warnx("Session %s: --resume given but no saved state in %s/%s; starting a "
		          "new session",
		          opts.session_id, opts.state_root, opts.session_id);

	fd = opts.socket_path ? open_socket(opts.socket_path) : inherited_socket();
	if (fd < 0) {
		log_error_errno(-fd, "No listening socket (%s)",
		                opts.socket_path ? opts.socket_path : "fd 3");
		return RSESSION_EXIT_FAILURE;
	}
	/* Before the I/O thread polls the pipes and before R prints. */
	r = console_capture_stdio();
	if (r < 0)
		log_warn_errno(-r, "Cannot capture the output of child processes; it goes to the "
		                   "session's log");
	r = server_start(fd);
	if (r < 0) {
		log_error_errno(-r, "Failed to start the I/O thread");
		return RSESSION_EXIT_FAILURE;
	}

	/* --interactive: stdin is not a terminal, yet this is an interactive
	 * session (R would otherwise refuse to start without --save/--no-save
	 * and would never ask questions). */
	r_argv[r_argc++] = "rsession";
	r_argv[r_argc++] = "--interactive";
	r_argv[r_argc++] = "--no-readline";
	save = conf_str(opts.conf, RSESSION_SESSION_SAVE_ACTION_DEFAULT);
	if (strcmp(save, "yes") == 0)
		r_argv[r_argc++] = "--save";
	else if (strcmp(save, "no") == 0)
		r_argv[r_argc++] = "--no-save";
	if (console.state == STATE_RESUMING) {
		/* The saved state replaces .RData; profiles ran when the
		 * session first started, and their effects were saved. */
		r_argv[r_argc++] = "--no-restore";
		r_argv[r_argc++] = "--quiet";
		if (!conf_bool(opts.conf, RSESSION_SESSION_RPROFILE_ON_RESUME_DEFAULT)) {
			r_argv[r_argc++] = "--no-site-file";
			r_argv[r_argc++] = "--no-init-file";
		}
	}
	/* grDevices reads R_INTERACTIVE_DEVICE when it loads (in
	 * setup_Rmainloop) unless a profile already set options(device): our
	 * marker in the option afterwards means nobody chose a device. A
	 * value from the user's environment is theirs and stays. */
	const char *intdev = getenv("R_INTERACTIVE_DEVICE");
	bool device_marker = !intdev || !intdev[0];
	if (device_marker)
		setenv("R_INTERACTIVE_DEVICE", PLOT_DEVICE_MARKER, 1);
	Rf_initialize_R(r_argc, (char **)r_argv);
	R_Interactive = TRUE;
	console_r_callbacks();
	pager_callbacks();
	setup_Rmainloop();
	/* Programs R runs must not inherit the marker. */
	if (device_marker)
		unsetenv("R_INTERACTIVE_DEVICE");

	if (server_install_signals() < 0)
		log_warn("Failed to install signal handlers");
	r = reval_init(err, sizeof(err));
	if (r < 0)
		log_errorx("Session helpers failed to load: %s; suspend will not work", err);
	/* Also without the helpers: it puts the default device back then. */
	plot_init(device_marker);
	if (r == 0) {
		SEXP v;
		if (reval_helper("r_version", NULL, &v, err, sizeof(err)) == 0 && Rf_isString(v)) {
			pthread_mutex_lock(&console.lock);
			snprintf(console.r_version, sizeof(console.r_version), "%s",
			         CHAR(STRING_ELT(v, 0)));
			pthread_mutex_unlock(&console.lock);
		}
	}
	log_info("Session %s started (pid %d, R %s)", opts.session_id, (int)getpid(),
	         console.r_version);
	run_Rmainloop();
	return RSESSION_EXIT_OK;
}
