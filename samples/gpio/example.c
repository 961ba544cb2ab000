/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-gpio-example: serve one PCI-IDIO-16 (gpio.h) on a socket, in one
 * thread, with its inputs driven from stdin and its state printed on
 * stdout. The shape to copy for a device of your own:
 *
 *   1. create the device: gpio_create() does vus_dev_new(), the PCI id,
 *      BAR2 with its callbacks, INTx and the reset callback (gpio.c);
 *   2. vus_dev_listen() on the socket path;
 *   3. poll vus_dev_poll_fd() together with your own fds and call
 *      vus_dev_process() when it is readable; every device callback runs
 *      inside that call, on this thread;
 *   4. vus_dev_free() (here gpio_free()) when done.
 *
 * Usage: vus-gpio-example --socket-path PATH [--loopback] [--trace]
 *
 * stdout, one line each, flushed at once:
 *   ready PATH                       listening; a VMM may connect
 *   state outputs=0x0000 inputs=0x0000 status=0x0 irq=0 filters=0
 *                                    after every change, and for "get"
 *   error MESSAGE                    a command failed
 * stdin, one command per line (end of input just stops reading):
 *   set-input N 0|1   drive input N (0-15)
 *   get               print the state
 *   quit              exit (as SIGINT and SIGTERM do)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpio.h"

static volatile sig_atomic_t quit_signal;

static void on_signal(int sig)
{
	quit_signal = sig;
}

static void print_state(const struct gpio_state *st)
{
	printf("state outputs=0x%04x inputs=0x%04x status=0x%x irq=%d filters=%d\n",
	       st->outputs, st->inputs, st->status, st->irq_enabled, st->filters);
}

/* gpio.h: runs with the device's lock held, so it only prints. */
static void on_change(struct gpio *g, void *opaque, const struct gpio_state *st)
{
	print_state(st);
}

/* One stdin command. Returns 1 to quit, else 0. */
static int command(struct gpio *g, char *line)
{
	struct gpio_state st;
	unsigned int n, v;
	char extra;
	int rc;

	if (strcmp(line, "quit") == 0)
		return 1;
	if (strcmp(line, "get") == 0) {
		gpio_get_state(g, &st);
		print_state(&st);
		return 0;
	}
	if (sscanf(line, "set-input %u %u %c", &n, &v, &extra) == 2 && v <= 1) {
		rc = gpio_set_input(g, n, v);
		if (rc < 0)
			printf("error set-input %u: %s\n", n, strerror(-rc));
		return 0;
	}
	if (line[0])
		printf("error unknown command: %s\n", line);
	return 0;
}

/* Read what stdin has and run each whole line. Returns 1 to quit, -1 at
 * end of input (stop polling stdin), else 0. */
static int read_commands(struct gpio *g, char *buf, size_t cap, size_t *len)
{
	char *nl;
	ssize_t n;

	n = read(STDIN_FILENO, buf + *len, cap - 1 - *len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	*len += (size_t)n;
	buf[*len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		if (command(g, buf))
			return 1;
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
	if (*len == cap - 1) /* a line longer than the buffer: drop it */
		*len = 0;
	return 0;
}

/* The loop of step 3: the device's fd and stdin, until told to stop. */
static int serve(struct gpio *g)
{
	struct pollfd pfd[2] = {
		{ .fd = vus_dev_poll_fd(gpio_dev(g)), .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	char line[256];
	size_t len = 0;
	sigset_t block, orig;
	int rc = 0;

	/* Signals are blocked except inside ppoll, so one arriving between
	 * the check and the wait is not lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	while (!quit_signal) {
		if (ppoll(pfd, 2, NULL, &orig) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (pfd[0].revents) {
			rc = vus_dev_process(gpio_dev(g));
			if (rc < 0)
				break;
		}
		if (pfd[1].revents) {
			rc = read_commands(g, line, sizeof(line), &len);
			if (rc > 0)
				break;
			if (rc < 0)
				pfd[1].fd = -1; /* poll ignores negative fds */
			rc = 0;
		}
	}
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vus-gpio-example --socket-path PATH [--loopback] [--trace]\n"
		   "Serves an ACCES PCI-IDIO-16 (494f:0dc8) on PATH. stdin: set-input N 0|1,\n"
		   "get, quit. stdout: a 'state ...' line after every change.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "loopback", no_argument, NULL, 'l' },
		{ "trace", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct gpio_opts opts = { 0 };
	const char *path = NULL;
	bool trace = false;
	struct gpio *g;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'l': opts.loopback = true; break;
		case 't': trace = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* one line per event, even into a pipe */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Step 1: the device, set up but not yet listening. */
	rc = gpio_create("gpio", &opts, &g);
	if (rc < 0) {
		fprintf(stderr, "vus-gpio-example: creating the device: %s\n", strerror(-rc));
		return 1;
	}
	if (trace)
		vus_dev_set_log_level(gpio_dev(g), VUS_LOG_TRACE);
	gpio_set_notify(g, on_change, NULL);
	/* Step 2: listen. */
	rc = vus_dev_listen(gpio_dev(g), path);
	if (rc < 0) {
		fprintf(stderr, "vus-gpio-example: listening on %s: %s\n", path, strerror(-rc));
		gpio_free(g);
		return 1;
	}
	printf("ready %s\n", path);
	/* Step 3: serve until quit, a signal or a listener error. */
	rc = serve(g);
	if (rc < 0)
		fprintf(stderr, "vus-gpio-example: %s\n", strerror(-rc));
	/* Step 4: free; vus_dev_free() also removes the socket file. */
	gpio_free(g);
	return rc < 0 ? 1 : 0;
}
