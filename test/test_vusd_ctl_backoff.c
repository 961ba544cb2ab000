/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd's control socket out of fds (server/control.c): with RLIMIT_NOFILE
 * 40 and connections held until accept() fails with EMFILE, vusd stops
 * watching the listener for its backoff (100 ms) instead of being woken
 * for it at once, over and over: a few log lines a second, not a busy
 * loop flooding the log (before this fix: about 290 000 lines a second).
 * The backoff's timer is a libevent timer, and vusd waits outside
 * libevent (server/devloop.c): when the connections are gone the timer
 * must still fire, so the control socket answers again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_server.h"
#include "vus_test.h"
#include "vusd_proc.h"

#define HOLD 60
#define NOFILE 40

static char vusd_path[4096];
static char tmpdir[] = "/tmp/vus-ctlbo-XXXXXX";

/* Lines of the log that contain s. */
static unsigned log_count(const char *log, const char *s)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

/* A connection to path, not waiting: -1 once the backlog is full. */
static int connect_nb(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(a.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void out_of_fds(void **state)
{
	char ctl[128], dev[128], log[128], reply[4096], why[128];
	char *argv[] = { vusd_path, "--control", ctl, "--device", "testdev",
			 "--socket-path", dev, "--log-level", "info", NULL };
	const char *msg = "control: accept: Too many open files";
	struct vusd_proc_opts o = { .log = log, .nofile = NOFILE };
	struct vusd_proc v;
	int fds[HOLD], n = 0, i, fd, status;
	unsigned lines;
	ssize_t len;

	(void)state;
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", tmpdir);
	snprintf(dev, sizeof(dev), "%s/td.sock", tmpdir);
	snprintf(log, sizeof(log), "%s/vusd.log", tmpdir);
	assert_int_equal(vusd_proc_spawn(&v, vusd_path, argv, ctl, &o), 0);
	fd = vusd_proc_ctl_connect(&v, 5000);
	assert_true(fd >= 0);
	close(fd);

	/* More than the limit leaves fds for: vusd runs out, the rest
	 * wait in the backlog. A full backlog refuses one: again once vusd
	 * has accepted some, for up to 2 s. */
	for (i = 0; n < HOLD && i < 200; i++) {
		fd = connect_nb(ctl);
		if (fd >= 0)
			fds[n++] = fd;
		else
			test_sleep_ms(10);
	}
	assert_true(n > NOFILE - 10);
	test_sleep_ms(1000);
	lines = log_count(log, msg);
	if (lines == 0)
		vusd_proc_dump_log(&v, 20);
	assert_true(lines >= 1);  /* it did run out */
	/* One a backoff (100 ms) at most, with room for a slow machine. */
	if (lines > 40)
		vusd_proc_dump_log(&v, 5);
	assert_true(lines <= 40);
	assert_true(vusd_proc_alive(&v, NULL));

	for (i = 0; i < n; i++)
		close(fds[i]);
	/* The backoff ends, the listener is watched again, vusd answers. */
	len = -1;
	for (i = 0; i < 100 && len < 0; i++) {
		test_sleep_ms(20);
		len = vusd_proc_request(&v, "{\"cmd\":\"list\"}", 2000, reply, sizeof(reply), why,
					sizeof(why));
	}
	if (len < 0)
		vusd_proc_dump_log(&v, 20);
	assert_true(len > 0);
	assert_non_null(strstr(reply, "\"testdev\""));
	assert_int_equal(vusd_proc_stop(&v, SIGTERM, 5000, &status), 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(out_of_fds),
	};
	const char *build = getenv("VUS_BUILD_DIR");
	int rc;

	if (!build) {
		printf("test_vusd_ctl_backoff: skipped: VUS_BUILD_DIR is not set (run it from "
		       "ctest)\n");
		return 77; /* skipped, not passed */
	}
	snprintf(vusd_path, sizeof(vusd_path), "%s/bin/vusd", build);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = VUS_RUN_TESTS(tests, NULL, NULL);
	rmdir(tmpdir);
	return rc;
}
