/*
 * The console: what R is doing, shared between the R thread (main thread,
 * inside R's ReadConsole/WriteConsoleEx callbacks) and the I/O thread
 * (server.c), which serves the socket.
 *
 * R owns the main thread. It tells us exactly when it waits for input and
 * with which prompt (ReadConsole), and everything it prints (WriteConsoleEx).
 * The I/O thread never calls R: it queues input and jobs here and signals
 * the condition variable; the R thread queues events (output, prompts,
 * results) and wakes the I/O thread through an eventfd. One mutex guards
 * everything in struct console.
 *
 * Work that needs R (suspend, quit, restore) runs only on the R thread,
 * inside ReadConsole at the top-level prompt, where R is between commands.
 */
#ifndef RSESSION_CONSOLE_H
#define RSESSION_CONSOLE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum prompt_kind {
	PROMPT_NONE,         /* R is busy */
	PROMPT_TOPLEVEL,     /* "> ": between top-level commands */
	PROMPT_CONTINUATION, /* "+ ": an incomplete expression */
	PROMPT_BROWSER,      /* "Browse[n]> ": the debugger */
	PROMPT_INPUT,        /* readline(), menu(), scan(), save-on-quit question */
};

const char *prompt_kind_name(enum prompt_kind k);

enum session_state {
	STATE_STARTING,
	STATE_RESUMING,
	STATE_RUNNING,
	STATE_SUSPENDING,
	STATE_SUSPENDED,
	STATE_EXITED,
};

const char *session_state_name(enum session_state s);

/* Something for the I/O thread to send. client 0 = every client. */
enum event_type {
	EV_OUTPUT,
	EV_PROMPT,
	EV_BUSY,
	EV_STATE,
	EV_RESULT,
	EV_MESSAGE, /* a whole message built on the R thread: plot, help */
};

struct event {
	struct event *next;
	enum event_type type;
	uint64_t client;
	int stream;   /* EV_OUTPUT: 0 stdout, 1 stderr */
	bool ok;      /* EV_RESULT */
	char *text;   /* output text, prompt, state detail, result error */
	size_t len;   /* bytes of text */
	size_t cap;   /* EV_OUTPUT: allocated size, for appending */
	char *name;   /* EV_STATE: state name; EV_RESULT: request name */
	json_t *json; /* EV_MESSAGE: the message (owned) */
	bool latest;  /* EV_MESSAGE: the current plot, kept for clients that
	               * connect later */
};

/* Work the I/O thread asks the R thread to do at its next prompt. */
enum job {
	JOB_NONE,
	JOB_SUSPEND, /* at the top-level prompt: save and exit */
	JOB_QUIT,    /* at the top-level prompt: q(save = job_arg) */
	JOB_CANCEL,  /* at a "+" or readline prompt: back to top level */
};

struct input_line {
	struct input_line *next;
	bool continued; /* the rest of a line longer than R's input buffer */
	size_t len;
	char text[]; /* ends with "\n" */
};

struct console {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* R thread waits here for input or a job */
	pthread_t r_thread;
	int wake_fd; /* eventfd: wakes the I/O thread */

	/* What R is doing. */
	enum session_state state;
	bool busy;
	enum prompt_kind kind;
	char prompt[256];
	struct timespec last_input; /* CLOCK_REALTIME */
	struct timespec busy_since; /* CLOCK_MONOTONIC */

	/* An interrupt that arrived after R took a line but before it was
	 * marked busy: the line is interrupted as soon as it starts. */
	bool interrupt_requested;

	/* Queued console input, in arrival order. */
	struct input_line *in_head, *in_tail;
	size_t in_count;

	/* One pending job at a time. */
	enum job job;
	uint64_t job_client; /* who asked, for the result; 0 = a signal */
	char job_arg[16];

	/* A forced suspend in progress: R is being brought to the top level
	 * (interrupt, cancel, leaving the debugger) and then suspends. */
	bool force_pending;
	bool force_interrupting; /* R was busy: keep interrupting until it yields */
	uint64_t force_client;
	struct timespec force_deadline; /* CLOCK_MONOTONIC */

	/* Events for the I/O thread. */
	struct event *ev_head, *ev_tail;

	/* Console history: lines entered at R's console prompts. */
	char **history;
	size_t nhistory;
	size_t history_cap;

	/* Exit handshake: the R thread sets exit_requested and waits until the
	 * I/O thread has written every queued byte (flushed). */
	bool exit_requested;
	bool flushed;

	/* The browser's plot area (plot-size), applied by the R thread at its
	 * next prompt; and one pending plot-export request. */
	struct plot_request {
		int width, height; /* CSS pixels */
		double dpr;
		char id[65];     /* plot-export only */
		uint64_t client; /* plot-export only: who asked */
	} plot_size, plot_export;
	bool plot_size_changed;
	bool plot_export_pending;

	/* Read ends of the pipes that are fds 1 and 2 (console_capture_stdio):
	 * what child processes print. -1 when not captured. */
	int stdio_fd[2];

	/* Read-only after start. */
	char session_id[65];
	char r_version[32];
};

extern struct console console;

int console_init(const char *session_id);

/*
 * Makes fds 1 and 2 pipes whose contents become console output (stdout and
 * stderr), so that what programs run from R print (system("klist"), a
 * package's C code calling printf) reaches the browser as it does at a
 * terminal. rsession's own log, and R's direct writes to the stderr FILE,
 * stay on the original stderr (the stderr variable is re-pointed at a
 * duplicate of it), as do sanitizer reports. Call before R starts.
 */
int console_capture_stdio(void);

/* Moves what is waiting in the pipes into output events (lock held). Both
 * threads call it: the I/O thread when the pipes are readable, the R thread
 * before its own output and prompts, so that a program's output comes
 * before whatever R prints after the program ended. */
void console_drain_stdio(void);

/* Called with console.lock held. Queue events; the caller wakes the I/O
 * thread with console_wake() after unlocking (or while holding: it only
 * writes to an eventfd). Return -ENOMEM on allocation failure. */
int console_push_output(int stream, const char *text, size_t len);
int console_push_event(enum event_type type, uint64_t client, const char *name, bool ok,
                       const char *text);
int console_push_state(enum session_state s, const char *detail);
int console_push_result(uint64_t client, const char *request, bool ok, const char *error);
/* Queues a whole message (consumed, also on failure) for client (0: all);
 * latest marks the current plot, which clients connecting later get. */
int console_push_message(uint64_t client, json_t *msg, bool latest);

/* Detaches the whole event list for sending. */
struct event *console_take_events(void);
void event_free_list(struct event *e);

/* Splits text into lines and queues them (with lock held). */
int console_queue_input(const char *text, size_t len);
void console_clear_input(void);

/* Adds a line to the history (with lock held). */
int console_add_history(const char *line, size_t len);

void console_wake(void);

/*
 * The R side. console_r_callbacks() installs ReadConsole and WriteConsoleEx.
 * console_exit() runs on the R thread: tells clients the session ended
 * (state, detail), waits (bounded) for the I/O thread to flush, and exits
 * the process with code.
 */
void console_r_callbacks(void);
void console_exit(enum session_state final, const char *detail, int code) __attribute__((noreturn));

#endif
