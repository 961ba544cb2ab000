/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus_dev_watch_fd() (include/vus/device.h, docs/architecture.md "Device
 * fds on the loop"): a device's own fd is served by every kind of loop
 * that serves the device: its callback runs from vus_dev_process() when
 * an application polls vus_dev_poll_fd(), and from vus_dev_run(); it is
 * level-triggered; unwatching stops it; the argument errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/device.h>

#include "vus_test.h"

struct seen {
	int calls;
	int fd;
	void *opaque;
	bool consume;
	bool stop;
};

static void on_ready(struct vus_dev *dev, void *opaque, int fd)
{
	struct seen *s = opaque;
	uint64_t v;

	s->calls++;
	s->fd = fd;
	s->opaque = opaque;
	if (s->consume && read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		s->calls += 1000; /* an eventfd reported readable reads 8 bytes */
	if (s->stop)
		vus_dev_stop(dev);
}

static void kick(int fd)
{
	uint64_t one = 1;

	ASSERT_EQ(write(fd, &one, sizeof(one)), sizeof(one));
}

/* An application loop: poll() the device's fd, then vus_dev_process(). */
static void app_loop_once(struct vus_dev *dev, int timeout_ms)
{
	struct pollfd p = { .fd = vus_dev_poll_fd(dev), .events = POLLIN };

	if (poll(&p, 1, timeout_ms) == 1)
		ASSERT_OK(vus_dev_process(dev));
}

static void test_app_loop_runs_callback(void **state)
{
	struct vus_dev *dev = vus_dev_new("watch");
	struct seen s = { .consume = true };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	(void)state;
	assert_non_null(dev);
	ASSERT_NONNEG(efd);
	ASSERT_OK(vus_dev_watch_fd(dev, efd, on_ready, &s));
	/* Nothing readable: nothing runs. */
	app_loop_once(dev, 0);
	ASSERT_EQ(s.calls, 0);
	kick(efd);
	app_loop_once(dev, 1000);
	ASSERT_EQ(s.calls, 1);
	ASSERT_EQ(s.fd, efd);
	assert_ptr_equal(s.opaque, &s);
	/* Consumed: quiet again. */
	app_loop_once(dev, 0);
	ASSERT_EQ(s.calls, 1);
	vus_dev_free(dev);
	close(efd);
}

static void test_level_triggered(void **state)
{
	struct vus_dev *dev = vus_dev_new("watch");
	struct seen s = { .consume = false };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	(void)state;
	assert_non_null(dev);
	ASSERT_OK(vus_dev_watch_fd(dev, efd, on_ready, &s));
	kick(efd);
	app_loop_once(dev, 1000);
	app_loop_once(dev, 1000);
	/* Not consumed: reported again on the next pass. */
	ASSERT_EQ(s.calls, 2);
	ASSERT_OK(vus_dev_unwatch_fd(dev, efd));
	/* Still readable, no longer watched: nothing runs. */
	app_loop_once(dev, 0);
	ASSERT_EQ(s.calls, 2);
	ASSERT_ERR(vus_dev_unwatch_fd(dev, efd), -ENOENT);
	vus_dev_free(dev);
	close(efd);
}

static void test_library_loop(void **state)
{
	struct vus_dev *dev = vus_dev_new("watch");
	struct seen s = { .consume = true, .stop = true };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	(void)state;
	assert_non_null(dev);
	ASSERT_OK(vus_dev_watch_fd(dev, efd, on_ready, &s));
	kick(efd);
	/* The callback stops the loop: vus_dev_run() returns. */
	ASSERT_OK(vus_dev_run(dev));
	ASSERT_EQ(s.calls, 1);
	vus_dev_free(dev);
	close(efd);
}

static void test_errors(void **state)
{
	struct vus_dev *dev = vus_dev_new("watch");
	struct seen s = { 0 };
	int fds[VUS_DEV_MAX_WATCHES + 1], i;

	(void)state;
	assert_non_null(dev);
	ASSERT_ERR(vus_dev_watch_fd(dev, -1, on_ready, &s), -EBADF);
	for (i = 0; i <= VUS_DEV_MAX_WATCHES; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_NONNEG(fds[i]);
	}
	ASSERT_ERR(vus_dev_watch_fd(dev, fds[0], NULL, &s), -EINVAL);
	for (i = 0; i < VUS_DEV_MAX_WATCHES; i++)
		ASSERT_OK(vus_dev_watch_fd(dev, fds[i], on_ready, &s));
	ASSERT_ERR(vus_dev_watch_fd(dev, fds[0], on_ready, &s), -EEXIST);
	ASSERT_ERR(vus_dev_watch_fd(dev, fds[VUS_DEV_MAX_WATCHES], on_ready, &s), -ENOSPC);
	/* A slot given back is usable again. */
	ASSERT_OK(vus_dev_unwatch_fd(dev, fds[3]));
	ASSERT_OK(vus_dev_watch_fd(dev, fds[VUS_DEV_MAX_WATCHES], on_ready, &s));
	ASSERT_ERR(vus_dev_unwatch_fd(dev, -1), -ENOENT);
	/* Unwatched: gone. */
	ASSERT_ERR(vus_dev_unwatch_fd(dev, fds[3]), -ENOENT);
	vus_dev_free(dev);
	for (i = 0; i <= VUS_DEV_MAX_WATCHES; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_app_loop_runs_callback),
		cmocka_unit_test(test_level_triggered),
		cmocka_unit_test(test_library_loop),
		cmocka_unit_test(test_errors),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
