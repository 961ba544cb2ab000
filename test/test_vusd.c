/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd as a program: started with --socket-path or an inherited --fd,
 * serving testdev to the client library, stopped with SIGTERM (exit 0,
 * socket file removed). Command-line errors are in test/vusd_cli.sh.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>

#include "testdev.h"

static char vusd_path[4096];
static char tmpdir[] = "/tmp/vus-test-vusd-XXXXXX";

static pid_t spawn_vusd(char *const argv[], int keep_fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (keep_fd >= 0 && keep_fd != 3) {
			dup2(keep_fd, 3);
			close(keep_fd);
		}
		execv(vusd_path, argv);
		_exit(127);
	}
	return pid;
}

/* Connect, retrying while vusd starts up (up to 5 s). */
static struct vus_client *connect_retry(const char *path)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct vus_client *c = NULL;
	int i, rc = -ENOENT;

	for (i = 0; i < 500; i++) {
		rc = vus_client_connect(path, NULL, &c);
		if (rc == 0)
			return c;
		nanosleep(&ts, NULL);
	}
	fail_msg("cannot connect to vusd at %s: %s", path, strerror(-rc));
	return NULL;
}

static void talk(struct vus_client *c)
{
	uint32_t v = 0x600d;

	assert_int_equal(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4), 0);
	assert_int_equal(v, TESTDEV_ID);
	v = 0x1234;
	assert_int_equal(vus_client_region_write(c, 0, TESTDEV_REG_SCRATCH, &v, 4), 0);
	v = 0;
	assert_int_equal(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &v, 4), 0);
	assert_int_equal(v, 0x1234);
}

static int wait_exit(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_socket_path_and_sigterm(void **state)
{
	char sock[4200];
	struct vus_client *c;
	struct stat st;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/td.sock", tmpdir);
	char *argv[] = { "vusd", "--device", "testdev", "--socket-path", sock,
			 "--log-level", "warn", NULL };
	pid = spawn_vusd(argv, -1);
	c = connect_retry(sock);
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	talk(c);
	vus_client_close(c);

	/* state is kept across clients (spec "Socket Disconnection Behavior") */
	c = connect_retry(sock);
	uint32_t v = 0;
	assert_int_equal(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &v, 4), 0);
	assert_int_equal(v, 0x1234);

	/* SIGTERM with a client attached: clean exit, socket removed */
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(wait_exit(pid), 0);
	vus_client_close(c);
	assert_int_equal(stat(sock, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_inherited_fd_and_sigint(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vus_client *c;
	int lfd;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fd.sock", tmpdir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);

	char *argv[] = { "vusd", "--device=testdev", "--fd=3", "--log-level=err", NULL };
	pid = spawn_vusd(argv, lfd);
	close(lfd);
	c = connect_retry(sa.sun_path);
	talk(c);
	vus_client_close(c);
	assert_int_equal(kill(pid, SIGINT), 0);
	assert_int_equal(wait_exit(pid), 0);
	/* vusd did not create this socket file, so it leaves it alone */
	assert_int_equal(access(sa.sun_path, F_OK), 0);
	unlink(sa.sun_path);
}

static void test_fd_not_a_socket(void **state)
{
	int fd = open("/dev/null", O_RDONLY);
	pid_t pid;

	assert_true(fd >= 0);
	char *argv[] = { "vusd", "--device", "testdev", "--fd", "3", NULL };
	pid = spawn_vusd(argv, fd);
	close(fd);
	assert_int_equal(wait_exit(pid), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_path_and_sigterm),
		cmocka_unit_test(test_inherited_fd_and_sigint),
		cmocka_unit_test(test_fd_not_a_socket),
	};
	const char *build = getenv("VUS_BUILD_DIR");
	int rc;

	if (!build) {
		printf("test_vusd: skipped: VUS_BUILD_DIR is not set (run it from ctest)\n");
		return 0;
	}
	snprintf(vusd_path, sizeof(vusd_path), "%s/bin/vusd", build);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return rc;
}
