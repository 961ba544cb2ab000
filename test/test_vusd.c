/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vusd as a program, its sockets and its configuration: started with
 * --socket-path, an inherited --fd or a config file; SIGTERM/SIGINT end it
 * with exit 0 and the sockets it created removed; a stale socket file is
 * replaced, a live one and a symlink refused; bad configuration files are
 * refused with a message naming the file, the key and the expectation.
 * The control socket is test_vusd_control.c; vusctl is test/vusd_ctl.sh.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>

#include "test_server.h"
#include "testdev.h"
#include "vus_test.h"
#include "vusd_proc.h"

static char vusd_path[4096];
static char tmpdir[] = "/tmp/vus-test-vusd-XXXXXX";
static struct vusd_proc V = { .pid = -1 };

/* Start vusd with argv; keep_fd becomes its fd 3; stderr to err_path. */
static pid_t spawn_vusd(char *const argv[], int keep_fd, const char *err_path)
{
	ASSERT_OK(vusd_proc_spawn(&V, vusd_path, argv, NULL,
				  &(struct vusd_proc_opts){ .log = err_path,
							    .fd3 = keep_fd >= 0 ? &keep_fd : NULL }));
	return V.pid;
}

static void talk(struct vus_client *c, uint32_t scratch)
{
	uint32_t v = 0x600d;

	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4));
	ASSERT_EQ(v, TESTDEV_ID);
	ASSERT_OK(vus_client_region_write(c, 0, TESTDEV_REG_SCRATCH, &scratch, 4));
	v = 0;
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(v, scratch);
}

static int wait_exit(pid_t pid)
{
	int status;

	ASSERT_EQ(pid, V.pid);
	ASSERT_OK(vusd_proc_stop(&V, 0, -1, &status));
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void assert_gone(const char *path)
{
	struct stat st;

	ASSERT_EQ(lstat(path, &st), -1);
	ASSERT_ERR(errno, ENOENT);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_socket_path_and_sigterm(void **state)
{
	char sock[4200];
	struct vus_client *c;
	struct stat st;
	uint32_t v = 0;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/td.sock", tmpdir);
	char *argv[] = { "vusd", "--device", "testdev", "--socket-path", sock,
			 "--log-level", "warn", NULL };
	pid = spawn_vusd(argv, -1, NULL);
	c = test_connect_path(sock, 5000);
	ASSERT_OK(stat(sock, &st));
	assert_true(S_ISSOCK(st.st_mode));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	talk(c, 0x1234);
	vus_client_close(c);

	/* state is kept across clients (spec "Socket Disconnection Behavior") */
	c = test_connect_path(sock, 5000);
	ASSERT_OK(vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &v, 4));
	ASSERT_EQ(v, 0x1234);

	/* SIGTERM with a client attached: clean exit, socket removed */
	ASSERT_OK(kill(pid, SIGTERM));
	ASSERT_OK(wait_exit(pid));
	vus_client_close(c);
	assert_gone(sock);
}

static void test_inherited_fd_and_sigint(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vus_client *c;
	int lfd;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/fd.sock", tmpdir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_NONNEG(lfd);
	ASSERT_OK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(listen(lfd, 1));

	char *argv[] = { "vusd", "--device=testdev", "--fd=3", "--log-level=err", NULL };
	pid = spawn_vusd(argv, lfd, NULL);
	close(lfd);
	c = test_connect_path(sa.sun_path, 5000);
	talk(c, 7);
	vus_client_close(c);
	ASSERT_OK(kill(pid, SIGINT));
	ASSERT_OK(wait_exit(pid));
	/* vusd did not create this socket file, so it leaves it alone */
	ASSERT_OK(access(sa.sun_path, F_OK));
	unlink(sa.sun_path);
}

static void test_fd_not_a_socket(void **state)
{
	int fd = open("/dev/null", O_RDONLY);
	pid_t pid;

	ASSERT_NONNEG(fd);
	char *argv[] = { "vusd", "--device", "testdev", "--fd", "3", NULL };
	pid = spawn_vusd(argv, fd, "/dev/null");
	close(fd);
	ASSERT_EQ(wait_exit(pid), 3);
}

/* Two devices from a config file: both served, each with its own state
 * and socket mode (the control socket its own); SIGTERM removes all three sockets. */
static void test_config_two_devices(void **state)
{
	char cfg[4200], s0[4200], s1[4200], ctl[4200], text[16384];
	struct vus_client *c0, *c1;
	struct stat st;
	pid_t pid;

	snprintf(cfg, sizeof(cfg), "%s/two.json", tmpdir);
	snprintf(s0, sizeof(s0), "%s/a.sock", tmpdir);
	snprintf(s1, sizeof(s1), "%s/b.sock", tmpdir);
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", tmpdir);
	snprintf(text, sizeof(text),
		 "{ \"control\": \"%s\", \"log_level\": \"warn\", \"socket_mode\": \"0640\",\n"
		 "  \"devices\": [\n"
		 "    { \"name\": \"a\", \"type\": \"testdev\", \"socket\": \"%s\" },\n"
		 "    { \"name\": \"b\", \"type\": \"testdev\", \"socket\": \"%s\",\n"
		 "      \"socket_mode\": \"0600\", \"dma_layout\": \"qemu\" } ] }\n",
		 ctl, s0, s1);
	write_file(cfg, text);
	char *argv[] = { "vusd", "--config", cfg, NULL };
	pid = spawn_vusd(argv, -1, NULL);
	c0 = test_connect_path(s0, 5000);
	c1 = test_connect_path(s1, 5000);
	talk(c0, 0xa);
	talk(c1, 0xb);
	talk(c0, 0xa); /* b's write did not touch a */
	ASSERT_OK(stat(s0, &st));
	ASSERT_EQ(st.st_mode & 0777, 0640);
	ASSERT_OK(stat(s1, &st));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	/* The control socket has its own mode, root-only unless control_mode
	 * says otherwise: socket_mode is for the VMMs' device sockets. */
	ASSERT_OK(stat(ctl, &st));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	ASSERT_OK(kill(pid, SIGTERM));
	ASSERT_OK(wait_exit(pid));
	vus_client_close(c0);
	vus_client_close(c1);
	assert_gone(s0);
	assert_gone(s1);
	assert_gone(ctl);
	unlink(cfg);
}

/* A socket file whose server died is replaced. */
static void test_stale_socket_replaced(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vus_client *c;
	int fd;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", tmpdir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd); /* the file stays, nobody listens: stale */
	ASSERT_OK(access(sa.sun_path, F_OK));

	char *argv[] = { "vusd", "--device", "testdev", "--socket-path", sa.sun_path,
			 "--log-level", "err", NULL };
	pid = spawn_vusd(argv, -1, NULL);
	c = test_connect_path(sa.sun_path, 5000);
	talk(c, 1);
	vus_client_close(c);
	ASSERT_OK(kill(pid, SIGTERM));
	ASSERT_OK(wait_exit(pid));
	assert_gone(sa.sun_path);
}

/* A path a live server listens on, or a symlink, is refused (exit 3)
 * and left as it was. */
static void test_live_socket_and_symlink_refused(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char link[4200], target[4200], err[4200];
	struct stat st;
	int lfd;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/live.sock", tmpdir);
	snprintf(err, sizeof(err), "%s/err.txt", tmpdir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_OK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(listen(lfd, 1));
	char *argv1[] = { "vusd", "--device", "testdev", "--socket-path", sa.sun_path, NULL };
	pid = spawn_vusd(argv1, -1, err);
	ASSERT_EQ(wait_exit(pid), 3);
	assert_non_null(strstr(read_file(err), "another server is listening there"));
	ASSERT_OK(stat(sa.sun_path, &st));
	close(lfd);
	unlink(sa.sun_path);

	snprintf(link, sizeof(link), "%s/link.sock", tmpdir);
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	ASSERT_OK(symlink(target, link));
	char *argv2[] = { "vusd", "--device", "testdev", "--socket-path", link, NULL };
	pid = spawn_vusd(argv2, -1, err);
	ASSERT_EQ(wait_exit(pid), 3);
	assert_non_null(strstr(read_file(err), "not a socket (a symlink"));
	ASSERT_OK(lstat(link, &st));
	assert_true(S_ISLNK(st.st_mode));
	assert_gone(target); /* never followed */
	unlink(link);
	unlink(err);
}

/* One bad configuration: exit 2 and a message with every expected part. */
static void expect_bad_config(const char *text, const char *const parts[])
{
	char cfg[4200], err[4200];
	const char *msg;
	pid_t pid;
	int i;

	snprintf(cfg, sizeof(cfg), "%s/bad.json", tmpdir);
	snprintf(err, sizeof(err), "%s/bad.err", tmpdir);
	write_file(cfg, text);
	char *argv[] = { "vusd", "--config", cfg, NULL };
	pid = spawn_vusd(argv, -1, err);
	ASSERT_EQ(wait_exit(pid), 2);
	msg = read_file(err);
	/* the file is named in every message */
	if (!strstr(msg, cfg))
		fail_msg("'%s' does not name %s", msg, cfg);
	for (i = 0; parts[i]; i++)
		if (!strstr(msg, parts[i]))
			fail_msg("config %s: message '%s' lacks '%s'", text, msg, parts[i]);
	unlink(cfg);
	unlink(err);
}

static void test_bad_configs(void **state)
{
	expect_bad_config("{ \"devices\": [ { \"type\": \"testdev\", \"socket\": \"/tmp/x\",\n"
			  "  \"dma_layout\": \"fast\" } ] }",
			  (const char *const[]){ "devices[0]", "\"dma_layout\"",
						 "expected one of auto, spec, qemu",
						 "\"fast\"", NULL });
	expect_bad_config("{ \"devices\": [ { \"type\": \"virtio-blk\", \"socket\": \"/tmp/x\" } ] }",
			  (const char *const[]){ "devices[0]", "unknown device type \"virtio-blk\"",
						 "known: gpio, nvme, testdev", NULL });
	expect_bad_config("{ \"devices\": [ { \"name\": \"a\", \"socket\": \"/tmp/x\" } ] }",
			  (const char *const[]){ "devices[0]", "\"type\"", "expected", NULL });
	expect_bad_config("{ \"devices\": [ { \"type\": \"testdev\" } ] }",
			  (const char *const[]){ "devices[0]", "missing key \"socket\"", NULL });
	expect_bad_config("{ \"devices\": [ { \"type\": \"testdev\", \"socket\": \"/tmp/x\",\n"
			  "  \"colour\": \"red\" } ] }",
			  (const char *const[]){ "unknown key \"colour\"", "socket_mode", NULL });
	expect_bad_config("{ \"devices\": [ { \"type\": \"testdev\", \"socket\": 5 } ] }",
			  (const char *const[]){ "\"socket\"", "expected a non-empty string",
						 "got 5", NULL });
	expect_bad_config("{ \"socket_mode\": \"0999\", \"devices\": [] }",
			  (const char *const[]){ "\"socket_mode\"", "octal", "\"0999\"", NULL });
	expect_bad_config("{ \"log_level\": \"loud\" }",
			  (const char *const[]){ "\"log_level\"", "err, warn, info, debug, trace",
						 NULL });
	expect_bad_config("{ \"devices\": {} }",
			  (const char *const[]){ "\"devices\"", "expected an array", NULL });
	expect_bad_config("{ \"device\": [] }",
			  (const char *const[]){ "unknown key \"device\"", "expected devices",
						 NULL });
	expect_bad_config("{ \"devices\": [\n"
			  "  { \"name\": \"a\", \"type\": \"testdev\", \"socket\": \"/tmp/x\" },\n"
			  "  { \"name\": \"a\", \"type\": \"testdev\", \"socket\": \"/tmp/y\" } ] }",
			  (const char *const[]){ "devices[1]", "\"name\"", "unique", NULL });
	expect_bad_config("{ \"devices\": [\n"
			  "  { \"name\": \"a\", \"type\": \"testdev\", \"socket\": \"/tmp/x\" },\n"
			  "  { \"name\": \"b\", \"type\": \"testdev\", \"socket\": \"/tmp/x\" } ] }",
			  (const char *const[]){ "devices[1]", "\"socket\"", "device \"a\"", NULL });
	expect_bad_config("{ \"devices\": [ { \"name\": \"a b\", \"type\": \"testdev\",\n"
			  "  \"socket\": \"/tmp/x\" } ] }",
			  (const char *const[]){ "\"name\"", "expected letters", NULL });
	expect_bad_config("{\n  \"devices\": [\n    { \"type\": \"testdev\" ]\n}\n",
			  (const char *const[]){ "line 3", "JSON syntax error", NULL });
	expect_bad_config("{ \"devices\": [] } trailing",
			  (const char *const[]){ "line 1", "unexpected text", NULL });
	expect_bad_config("[]", (const char *const[]){ "expected a JSON object", NULL });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_path_and_sigterm),
		cmocka_unit_test(test_inherited_fd_and_sigint),
		cmocka_unit_test(test_fd_not_a_socket),
		cmocka_unit_test(test_config_two_devices),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test(test_live_socket_and_symlink_refused),
		cmocka_unit_test(test_bad_configs),
	};
	const char *build = getenv("VUS_BUILD_DIR");
	int rc;

	if (!build) {
		printf("test_vusd: skipped: VUS_BUILD_DIR is not set (run it from ctest)\n");
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
