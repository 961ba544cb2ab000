/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/listen.c in a private mkdtemp directory: creating a listener, exact
 * socket file mode, stale sockets replaced, live servers / symlinks /
 * regular files refused (and left untouched), the --fd check, accept.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdcount.h"
#include "transport.h"
#include "vus_test.h"

struct dir {
	char path[64];
	char sock[96];
	char other[96];
	int base_fds;
};

static int count_fds(void)
{
	int n = fdcount();

	ASSERT_NONNEG(n);
	return n;
}

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/vus-listen-XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->sock, sizeof(d->sock), "%s/s", d->path);
	snprintf(d->other, sizeof(d->other), "%s/target", d->path);
	d->base_fds = count_fds();
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	int leaked = count_fds() != d->base_fds;

	unlink(d->sock);
	unlink(d->other);
	rmdir(d->path);
	free(d);
	return leaked ? -1 : 0;
}

static int connect_path(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tmo = { .tv_sec = 5 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_NONNEG(fd);
	/* connect() to a full backlog waits up to SO_SNDTIMEO: never hang. */
	ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)));
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* A socket file with nobody behind it, as a crashed server leaves it. */
static void make_stale(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_NONNEG(fd);
	strcpy(a.sun_path, path);
	ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK(listen(fd, 1));
	close(fd);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ASSERT_NONNEG(fd);
	ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void check_file(const char *path, const char *text, mode_t mode)
{
	char buf[64] = { 0 };
	struct stat st;
	int fd;

	ASSERT_OK(lstat(path, &st));
	assert_true(S_ISREG(st.st_mode));
	ASSERT_EQ(st.st_mode & 07777, mode);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_NONNEG(fd);
	ASSERT_NONNEG(read(fd, buf, sizeof(buf) - 1));
	close(fd);
	assert_string_equal(buf, text);
}

/* Create, connect, accept both ways; -EAGAIN when nobody is waiting. */
static void test_create_and_accept(void **state)
{
	struct dir *d = *state;
	struct stat st;
	int lfd, cfd, afd, none = -1;

	ASSERT_OK(vus_listen_path(d->sock, 0600, &lfd));
	ASSERT_OK(lstat(d->sock, &st));
	assert_true(S_ISSOCK(st.st_mode));
	ASSERT_OK(vus_listen_fd_check(lfd));
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);

	ASSERT_ERR(vus_accept(lfd, &afd), -EAGAIN);
	cfd = connect_path(d->sock);
	ASSERT_NONNEG(cfd);
	ASSERT_OK(vus_accept(lfd, &afd));
	assert_true(fcntl(afd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(afd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(write(cfd, "x", 1), 1);
	{
		char c = 0;

		ASSERT_EQ(read(afd, &c, 1), 1);
		ASSERT_EQ(c, 'x');
	}
	ASSERT_ERR(vus_accept(lfd, &none), -EAGAIN);
	ASSERT_EQ(none, -1);
	close(cfd);
	close(afd);
	close(lfd);
}

/* The file gets exactly the mode asked for, whatever the umask. */
static void test_mode(void **state)
{
	static const unsigned modes[] = { 0600, 0660, 0666, 0700, 0777, 0 };
	struct dir *d = *state;
	mode_t old = umask(022);
	unsigned i;
	int lfd;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct stat st;

		ASSERT_OK(vus_listen_path(d->sock, modes[i], &lfd));
		ASSERT_OK(lstat(d->sock, &st));
		ASSERT_EQ(st.st_mode & 07777, modes[i]);
		close(lfd);
		unlink(d->sock);
	}
	umask(old);
	ASSERT_ERR(vus_listen_path(d->sock, 01600, &lfd), -EINVAL);
}

static void test_stale_replaced(void **state)
{
	struct dir *d = *state;
	int lfd, cfd;

	make_stale(d->sock);
	ASSERT_ERR(connect_path(d->sock), -ECONNREFUSED);
	ASSERT_OK(vus_listen_path(d->sock, 0600, &lfd));
	cfd = connect_path(d->sock);
	ASSERT_NONNEG(cfd);
	close(cfd);
	close(lfd);
}

/* A live listener keeps its path, even with its backlog full. */
static void test_live_refused(void **state)
{
	struct dir *d = *state;
	int lfd, lfd2 = -1, clients[64], n = 0, cfd;
	struct stat before, after;

	ASSERT_OK(vus_listen_path(d->sock, 0600, &lfd));
	ASSERT_OK(lstat(d->sock, &before));
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd2), -EADDRINUSE);
	ASSERT_EQ(lfd2, -1);

	/* Fill the backlog: a blocking probe would hang here. */
	for (n = 0; n < 64; n++) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		clients[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ASSERT_NONNEG(clients[n]);
		strcpy(a.sun_path, d->sock);
		if (connect(clients[n], (struct sockaddr *)&a, sizeof(a)) < 0) {
			ASSERT_ERR(errno, EAGAIN);
			close(clients[n]);
			break;
		}
	}
	assert_true(n < 64);
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd2), -EADDRINUSE);
	while (n-- > 0)
		close(clients[n]);
	/* Queued connections whose clients left are still accepted. */
	while (vus_accept(lfd, &cfd) == 0)
		close(cfd);

	ASSERT_OK(lstat(d->sock, &after));
	ASSERT_EQ(before.st_ino, after.st_ino);
	cfd = connect_path(d->sock);
	ASSERT_NONNEG(cfd);
	close(cfd);
	close(lfd);
}

/* A symlink is refused and never followed: its target is untouched. */
static void test_symlink_refused(void **state)
{
	struct dir *d = *state;
	struct stat st;
	int lfd = 123;

	write_file(d->other, "precious", 0644);
	ASSERT_OK(symlink(d->other, d->sock));
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd), -EEXIST);
	ASSERT_EQ(lfd, -1);
	check_file(d->other, "precious", 0644);
	ASSERT_OK(lstat(d->sock, &st));
	assert_true(S_ISLNK(st.st_mode));

	/* Also a symlink to a stale socket, and a dangling one. */
	unlink(d->other);
	make_stale(d->other);
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd), -EEXIST);
	ASSERT_OK(lstat(d->other, &st));
	assert_true(S_ISSOCK(st.st_mode));
	unlink(d->other);
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd), -EEXIST);
	ASSERT_OK(lstat(d->sock, &st));
	assert_true(S_ISLNK(st.st_mode));
}

static void test_regular_file_refused(void **state)
{
	struct dir *d = *state;
	int lfd;

	write_file(d->sock, "data", 0640);
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd), -EEXIST);
	check_file(d->sock, "data", 0640);

	unlink(d->sock);
	ASSERT_OK(mkdir(d->sock, 0700));
	ASSERT_ERR(vus_listen_path(d->sock, 0600, &lfd), -EEXIST);
	ASSERT_OK(rmdir(d->sock));
}

static void test_bad_paths(void **state)
{
	char longp[200];
	int lfd;

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ASSERT_ERR(vus_listen_path(longp, 0600, &lfd), -ENAMETOOLONG);
	ASSERT_ERR(vus_listen_path("", 0600, &lfd), -EINVAL);
	ASSERT_ERR(vus_listen_path("/nonexistent-dir-vus/s", 0600, &lfd), -ENOENT);
}

/* --fd: only a listening AF_UNIX stream socket passes. */
static void test_fd_check(void **state)
{
	struct dir *d = *state;
	int lfd, sv[2], pfd[2], inet, dgram;

	ASSERT_OK(vus_listen_path(d->sock, 0600, &lfd));
	ASSERT_OK(vus_listen_fd_check(lfd));
	close(lfd);

	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_ERR(vus_listen_fd_check(sv[0]), -EINVAL);
	close(sv[0]);
	close(sv[1]);

	dgram = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_NONNEG(dgram);
	ASSERT_ERR(vus_listen_fd_check(dgram), -EPROTOTYPE);
	close(dgram);

	inet = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (inet >= 0) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		ASSERT_OK(bind(inet, (struct sockaddr *)&a, sizeof(a)));
		ASSERT_OK(listen(inet, 1));
		ASSERT_ERR(vus_listen_fd_check(inet), -EAFNOSUPPORT);
		close(inet);
	} else {
		print_message("AF_INET unavailable (%s): inet case not checked\n",
			      strerror(errno));
	}

	ASSERT_OK(pipe2(pfd, O_CLOEXEC));
	ASSERT_ERR(vus_listen_fd_check(pfd[0]), -ENOTSOCK);
	close(pfd[0]);
	close(pfd[1]);
	ASSERT_ERR(vus_listen_fd_check(-1), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_accept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regular_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_check, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
