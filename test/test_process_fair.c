/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus_dev_process() reads the client socket before asking epoll
 * (lib/serve/serve.c, docs/performance.md "No nested wait"). That
 * shortcut must not starve the device's other fds: while one client keeps
 * a request in the socket on every call, a second connection still gets
 * its answer (refused: one client at a time) before that client's burst
 * is done. (That the shortcut saves an epoll_wait() per request is
 * counted by bench/syscalls.sh, not here.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "clock.h"
#include "testdev.h"
#include "vus_test.h"

struct rig {
	struct testdev *td;
	struct vus_dev *dev;
	char dir[64], path[96];
	int busy_errors;
	int connected;
};

#define BURST 40000u
#define POSTED_SIZE 36u /* header, struct vus_region_access, 4 bytes */

/* The busy client: BURST posted writes of SCRATCH (1.4 MiB) in one
 * write(), queued whole before the server reads any (a send buffer
 * forced large), so the socket stays readable on every process call
 * until the server has taken them all; then a read that must see the
 * last value (the server works in order). */
static void *busy_client(void *arg)
{
	struct rig *r = arg;
	/* The final read waits for the whole burst to be served: its reply
	 * bound stretches for slow runs (valgrind) with the test's. */
	struct vus_client_opts o = { .timeout_ms = 5000 * test_time_scale() };
	struct vus_client *c;
	struct vus_hdr h = { .cmd = VUS_CMD_REGION_WRITE, .size = POSTED_SIZE,
			     .flags = VUS_F_NO_REPLY };
	uint8_t *buf = malloc((size_t)BURST * POSTED_SIZE), *m;
	uint64_t offset = TESTDEV_REG_SCRATCH;
	uint32_t region = 0, count = 4, v, got;
	size_t done = 0;
	ssize_t n;

	if (!buf || vus_client_connect(r->path, &o, &c) < 0) {
		__atomic_store_n(&r->busy_errors, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&r->connected, -1, __ATOMIC_RELEASE);
		free(buf);
		return NULL;
	}
	for (v = 1; v <= BURST; v++) {
		m = buf + (size_t)(v - 1) * POSTED_SIZE;
		h.id = (uint16_t)(1000 + v);
		vus_hdr_encode(m, &h);
		memcpy(m + 16, &offset, 8); /* little-endian host (x86, arm64) */
		memcpy(m + 24, &region, 4);
		memcpy(m + 28, &count, 4);
		memcpy(m + 32, &v, 4);
	}
	{
		int big = 4 << 20;

		/* SO_SNDBUFFORCE needs CAP_NET_ADMIN. */
		if (setsockopt(vus_client_fd(c), SOL_SOCKET, SO_SNDBUFFORCE, &big,
			       sizeof(big)) < 0) {
			__atomic_store_n(&r->connected, -2, __ATOMIC_RELEASE);
			vus_client_close(c);
			free(buf);
			return NULL;
		}
	}
	while (done < (size_t)BURST * POSTED_SIZE) {
		n = write(vus_client_fd(c), buf + done, (size_t)BURST * POSTED_SIZE - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	__atomic_store_n(&r->connected, 1, __ATOMIC_RELEASE);
	if (done != (size_t)BURST * POSTED_SIZE ||
	    vus_client_region_read(c, 0, TESTDEV_REG_SCRATCH, &got, 4) < 0 || got != BURST)
		__atomic_store_n(&r->busy_errors, 1, __ATOMIC_RELEASE);
	vus_client_close(c);
	free(buf);
	return NULL;
}

/* The application's loop: poll the poll fd, call vus_dev_process(). */
static void loop_once(struct rig *r)
{
	struct pollfd p = { .fd = vus_dev_poll_fd(r->dev), .events = POLLIN };

	if (poll(&p, 1, 100) > 0)
		ASSERT_OK(vus_dev_process(r->dev));
}

static int raw_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	ASSERT_OK(connect(fd, (struct sockaddr *)&a, sizeof(a)));
	return fd;
}

static void second_client_answered_while_first_is_busy(void **state)
{
	struct rig r = { 0 };
	struct pollfd p;
	pthread_t th;
	uint64_t handled;
	char byte;
	int fd, i, answered;
	time_t deadline;

	(void)state;
	snprintf(r.dir, sizeof(r.dir), "/tmp/vus-fair.XXXXXX");
	assert_non_null(mkdtemp(r.dir));
	snprintf(r.path, sizeof(r.path), "%s/s", r.dir);
	ASSERT_OK(testdev_create("fair", &r.td));
	r.dev = testdev_dev(r.td);
	ASSERT_OK(vus_dev_listen(r.dev, r.path));
	ASSERT_OK(pthread_create(&th, NULL, busy_client, &r));

	/* Serve the first client's VERSION until its burst is queued (the
	 * loop must not run meanwhile: a burst that is all in the socket
	 * before the first read keeps it readable to the end). */
	for (i = 0; i < 1000 && !vus_dev_client_attached(r.dev); i++)
		loop_once(&r);
	while (i < 1000 && __atomic_load_n(&r.connected, __ATOMIC_ACQUIRE) == 0) {
		/* VERSION answered yet? Then wait without serving. */
		if (vus_dev_stat_cmd(r.dev, VUS_CMD_VERSION) == 0)
			loop_once(&r);
		else
			usleep(1000);
		i++;
	}
	if (__atomic_load_n(&r.connected, __ATOMIC_ACQUIRE) == -2) {
		pthread_join(th, NULL);
		testdev_free(r.td);
		rmdir(r.dir);
		VUS_SKIP("needs CAP_NET_ADMIN to queue the burst whole (SO_SNDBUFFORCE)");
	}
	ASSERT_EQ(__atomic_load_n(&r.connected, __ATOMIC_ACQUIRE), 1);
	/* A second client queues on the listener behind the burst. */
	fd = raw_connect(r.path);

	/* The listener gets its turn (the second client is refused: one at
	 * a time) while the burst is still being served. */
	answered = 0;
	deadline = time(NULL) + 20 * test_time_scale();
	while (!answered && time(NULL) < deadline) {
		loop_once(&r);
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		answered = poll(&p, 1, 0) == 1;
	}
	assert_true(answered);
	handled = vus_dev_stat_cmd(r.dev, VUS_CMD_REGION_WRITE);
	assert_true(handled < BURST);
	ASSERT_OK(read(fd, &byte, 1)); /* EOF: refused */
	close(fd);

	/* The rest of the burst and the final read are served. */
	deadline = time(NULL) + 20 * test_time_scale();
	while (time(NULL) < deadline) {
		loop_once(&r);
		if (!vus_dev_client_attached(r.dev) &&
		    __atomic_load_n(&r.connected, __ATOMIC_ACQUIRE) == 1 &&
		    vus_dev_stat_cmd(r.dev, VUS_CMD_REGION_READ) > 0)
			break;
	}
	pthread_join(th, NULL);
	ASSERT_OK(r.busy_errors);
	testdev_free(r.td);
	rmdir(r.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(second_client_answered_while_first_is_busy),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
