/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-gpio-example (samples/gpio/example.c) as a user runs it: spawned with
 * pipes on stdin and stdout, driven by the client library on its socket.
 * Checks its stdout protocol ("ready", a "state" line per change, "error"),
 * its stdin commands (set-input, get, quit), that an input set on stdin
 * interrupts the client, and that quit and SIGTERM end it cleanly with
 * the socket removed. Needs VUS_BUILD_DIR (ctest sets it) to find the
 * program; skipped without it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "gpio_server.h"
#include "vus_test.h"

struct ex {
	pid_t pid;
	int in;               /* its stdin */
	int out;              /* its stdout */
	char buf[4096];       /* stdout read so far, not yet taken as lines */
	size_t len;
	char dir[64], path[128];
};

static char prog[512];
static char skip_why[600]; /* why the tests skip when prog is empty */

static void ex_start(struct ex *e, bool loopback)
{
	int in[2], out[2];

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/vus-gpio-ex-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/sock", e->dir);
	ASSERT_OK(pipe2(in, O_CLOEXEC));
	ASSERT_OK(pipe2(out, O_CLOEXEC));
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		/* A failed test returns without ex_wait(): the program must
		 * not outlive us (it would hold ctest's output pipe open and
		 * hang the run, as it did under valgrind). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execl(prog, prog, "--socket-path", e->path, loopback ? "--loopback" : NULL,
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	e->in = in[1];
	e->out = out[0];
}

/* The next stdout line (without '\n') within 5 s (times
 * VUS_TEST_TIME_SCALE), or fail the test. */
static void ex_line(struct ex *e, char *line, size_t cap)
{
	int64_t deadline = test_now_ms() + 5000 * test_time_scale();
	struct pollfd pfd = { .fd = e->out, .events = POLLIN };
	char *nl;
	ssize_t n;

	while (!(nl = memchr(e->buf, '\n', e->len))) {
		assert_true(e->len < sizeof(e->buf));
		ASSERT_EQ(poll(&pfd, 1, (int)(deadline - test_now_ms())), 1);
		n = read(e->out, e->buf + e->len, sizeof(e->buf) - e->len);
		assert_true(n > 0);
		e->len += (size_t)n;
	}
	*nl = '\0';
	assert_true((size_t)(nl - e->buf) < cap);
	memcpy(line, e->buf, (size_t)(nl - e->buf) + 1);
	e->len -= (size_t)(nl + 1 - e->buf);
	memmove(e->buf, nl + 1, e->len);
}

static void ex_expect(struct ex *e, const char *want)
{
	char line[256];

	ex_line(e, line, sizeof(line));
	assert_string_equal(line, want);
}

static void ex_cmd(struct ex *e, const char *cmd)
{
	size_t len = strlen(cmd);

	ASSERT_EQ(write(e->in, cmd, len), (ssize_t)len);
}

/* Wait for the program to exit; returns its exit status. */
static int ex_wait(struct ex *e)
{
	int64_t deadline = test_now_ms() + 5000 * test_time_scale();
	int status;
	pid_t r;

	while ((r = waitpid(e->pid, &status, WNOHANG)) == 0) {
		assert_true(test_now_ms() < deadline);
		test_sleep_ms(5);
	}
	ASSERT_EQ(r, e->pid);
	close(e->in);
	close(e->out);
	assert_true(WIFEXITED(status));
	/* vus_dev_free() removed the socket it made. */
	ASSERT_EQ(access(e->path, F_OK), -1);
	rmdir(e->dir);
	return WEXITSTATUS(status);
}

static struct vus_client *ex_connect(struct ex *e)
{
	char line[256];
	struct vus_client *c;

	snprintf(line, sizeof(line), "ready %s", e->path);
	ex_expect(e, line);
	ASSERT_OK(vus_client_connect(e->path, NULL, &c));
	return c;
}

static void test_stdin_stdout(void **state)
{
	struct vus_client *c;
	struct ex e;
	int efd;

	if (!prog[0])
		VUS_SKIP("%s", skip_why);
	ex_start(&e, false);
	c = ex_connect(&e);
	efd = gpio_intx_assign(c);

	gpio_wr(c, GPIO_REG_OUT0_7, 0x01);
	ex_expect(&e, "state outputs=0x0001 inputs=0x0000 status=0x0 irq=0 filters=0");
	(void)gpio_rd(c, GPIO_REG_IRQ_CTL);
	ex_expect(&e, "state outputs=0x0001 inputs=0x0000 status=0x0 irq=1 filters=0");
	/* An input set on stdin interrupts the client. */
	ex_cmd(&e, "set-input 3 1\n");
	ex_expect(&e, "state outputs=0x0001 inputs=0x0008 status=0x5 irq=1 filters=0");
	assert_true(gpio_efd_wait(efd, 2000 * test_time_scale()) > 0);
	gpio_wr(c, GPIO_REG_IN0_7, 0);
	ex_expect(&e, "state outputs=0x0001 inputs=0x0008 status=0x0 irq=1 filters=0");

	/* Commands split across writes, two in one write, errors. */
	ex_cmd(&e, "ge");
	ex_cmd(&e, "t\nset-input 16 1\n");
	ex_expect(&e, "state outputs=0x0001 inputs=0x0008 status=0x0 irq=1 filters=0");
	ex_expect(&e, "error set-input 16: Invalid argument");
	ex_cmd(&e, "set-input 3 2\nbogus\n\n");
	ex_expect(&e, "error unknown command: set-input 3 2");
	ex_expect(&e, "error unknown command: bogus");

	ex_cmd(&e, "quit\n");
	ASSERT_OK(ex_wait(&e));
	vus_client_close(c);
	close(efd);
}

static void test_loopback_and_sigterm(void **state)
{
	struct vus_client *c;
	struct ex e;

	if (!prog[0])
		VUS_SKIP("%s", skip_why);
	ex_start(&e, true);
	c = ex_connect(&e);
	ex_cmd(&e, "set-input 0 1\n");
	ex_expect(&e, "error set-input 0: Device or resource busy");
	gpio_wr(c, GPIO_REG_OUT8_15, 0x80);
	ex_expect(&e, "state outputs=0x8000 inputs=0x8000 status=0x0 irq=0 filters=0");
	/* stdin closed: the device keeps serving. */
	close(e.in);
	e.in = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ASSERT_EQ(gpio_rd(c, GPIO_REG_IN8_15), 0x80);
	ASSERT_OK(kill(e.pid, SIGTERM));
	ASSERT_OK(ex_wait(&e));
	vus_client_close(c);
}

/* Exit status of prog with args, stdin, stdout and stderr on /dev/null.
 * No shell: the build tree's path may hold spaces (issue 16). */
static int run_status(const char *const args[])
{
	const char *argv[8] = { prog };
	int st, nul, i;
	pid_t pid;

	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	pid = fork();
	ASSERT_NONNEG(pid);
	if (pid == 0) {
		nul = open("/dev/null", O_RDWR);
		if (nul < 0)
			_exit(126);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_usage(void **state)
{
	if (!prog[0])
		VUS_SKIP("%s", skip_why);
	ASSERT_EQ(run_status((const char *[]){ NULL }), 2);
	ASSERT_EQ(run_status((const char *[]){ "--socket-path", "/x", "extra", NULL }), 2);
	ASSERT_EQ(run_status((const char *[]){ "--help", NULL }), 0);
	/* A socket that cannot be made: exit 1. */
	ASSERT_EQ(run_status((const char *[]){ "--socket-path", "/nonexistent/dir/sock",
						      NULL }), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdin_stdout),
		cmocka_unit_test(test_loopback_and_sigterm),
		cmocka_unit_test(test_usage),
	};
	const char *build = getenv("VUS_BUILD_DIR");

	if (build)
		snprintf(prog, sizeof(prog), "%s/bin/vus-gpio-example", build);
	if (!build || access(prog, X_OK) != 0) {
		snprintf(skip_why, sizeof(skip_why),
			 "vus-gpio-example not found (VUS_BUILD_DIR=%s)", build ? build : "unset");
		prog[0] = '\0';
	}
	signal(SIGPIPE, SIG_IGN);
	return VUS_RUN_TESTS(tests, NULL, NULL);
}
