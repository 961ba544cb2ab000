/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The real vusd as a child process of a C test (test_vusd*.c): started
 * from a config file with its stderr in a log file, waited for (its
 * control socket, a device socket accepting a client), spoken to over
 * the control socket (one JSON request line, one reply line per
 * connection, docs/control.md), stopped with a signal and its exit
 * status described, its log searched and shown when a test fails.
 *
 * No cmocka assertions here: every call returns what happened (0 or
 * -errno), so the requests can be made from any thread, each with its
 * own buffer; the tests assert.
 */
#ifndef VUS_TEST_VUSD_PROC_H
#define VUS_TEST_VUSD_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vus_client;
struct vus_client_opts;

struct vusd_proc {
	pid_t pid;        /* -1: not running (never started, or reaped) */
	int status;       /* its wait status once reaped */
	char ctl[108];    /* its control socket (a sun_path) */
	char log[256];    /* its stderr, or "" (the test's own stderr) */
};

struct vusd_proc_opts {
	const char *log;        /* stderr into this file (created, truncated); NULL: inherited */
	unsigned nofile;        /* RLIMIT_NOFILE (soft and hard) when > 0 */
	const char *env_name;   /* one environment variable set for vusd alone, */
	const char *env_value;  /* or env_name NULL */
	const int *fd3;         /* this fd becomes vusd's fd 3 (an inherited
				 * socket for --fd 3), or NULL */
};

/*
 * Fork and exec `VUSD --config CFG`; ctl is the control socket the config
 * names (kept for the requests). vusd gets SIGTERM when the test process
 * dies (a failed assertion ends it), so none outlives a test. Returns as
 * soon as it is started: 0, or -errno if fork failed or a path is too
 * long. The child exits 126 if it cannot set up its stderr or limit,
 * 127 if exec fails.
 */
int vusd_proc_start(struct vusd_proc *v, const char *vusd, const char *cfg, const char *ctl,
		    const struct vusd_proc_opts *opts);

/* The same with a command line of the test's own (argv[0] included,
 * NULL-terminated); ctl NULL: no control socket. */
int vusd_proc_spawn(struct vusd_proc *v, const char *vusd, char *const argv[], const char *ctl,
		    const struct vusd_proc_opts *opts);

/*
 * vusd still runs: true. Otherwise its wait status in *status (if not
 * NULL; also when it was reaped before, by any call here) and v->pid -1.
 * A dead child is a zombie that kill(pid, 0) still finds, so this asks
 * waitpid.
 */
bool vusd_proc_alive(struct vusd_proc *v, int *status);

/*
 * Send sig (SIGTERM, SIGKILL; 0: none, wait for vusd to exit by itself)
 * and reap it within timeout_ms, SIGKILL
 * after that (timeout_ms < 0: wait as long as it takes). Its wait status
 * in *status; v->pid -1. 0 if it ended within the bound, -ETIMEDOUT if it
 * had to be killed, -ECHILD if it was not running (reaped before: the
 * status it had then).
 */
int vusd_proc_stop(struct vusd_proc *v, int sig, int timeout_ms, int *status);

/* A wait status in words: "exit status 3", "killed by signal 9 (Killed)". */
void vusd_proc_describe(int status, char *buf, size_t len);

/*
 * A connection to the control socket, retried every 10 ms for up to
 * timeout_ms while vusd starts and still runs: the fd (SOCK_CLOEXEC), or
 * -ECHILD if vusd died, or connect()'s -errno after the bound.
 */
int vusd_proc_ctl_connect(struct vusd_proc *v, int timeout_ms);

/*
 * One request on a new connection (one attempt: vusd is expected to be
 * up): line, and a '\n' unless it ends with one; then the reply line
 * within timeout_ms, NUL-terminated (its '\n' kept) in buf. The reply's
 * length, or -errno: connect()'s or send()'s, -ETIMEDOUT (no whole line
 * in time), -ECONNRESET (the connection ended first), -EMSGSIZE (longer
 * than cap - 1). why (if not NULL) says which, for a failure message.
 */
ssize_t vusd_proc_request(const struct vusd_proc *v, const char *line, int timeout_ms, char *buf,
			  size_t cap, char *why, size_t whylen);

/*
 * A client of the device socket path, retried every 10 ms for up to
 * timeout_ms while vusd runs: 0 and *out, or -ECHILD if vusd died, or the
 * last connect's -errno after the bound. opts as vus_client_connect()
 * takes them; NULL: the defaults with timeout_ms for each reply.
 */
int vusd_proc_client(struct vusd_proc *v, const char *path, const struct vus_client_opts *opts,
		     int timeout_ms, struct vus_client **out);

/* A line of the log contains s (false without a log). */
bool vusd_proc_log_has(const struct vusd_proc *v, const char *s);

/* The log's last max_lines lines (at most 64) on stderr, for a failure. */
void vusd_proc_dump_log(const struct vusd_proc *v, unsigned max_lines);

#endif /* VUS_TEST_VUSD_PROC_H */
