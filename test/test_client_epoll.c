/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus_dev_set_client_epoll() (device.h): a loop with an epoll set of its
 * own -- vusd's (server/devloop.c) -- watches the client's socket there
 * beside the poll fd, one nesting level less per request
 * (docs/performance.md "vusd's device path"). A testdev served by such a
 * loop on a thread:
 *
 *   round_trips        register round trips answer, and the reports come
 *                      for the client socket in the loop's set, with the
 *                      loop's data; vus_dev_run() refuses meanwhile.
 *   queued_replies     eight 1 MiB reads sent before any reply is read:
 *                      most wait in the output queue, whose EPOLLOUT is
 *                      armed in the loop's set; all arrive whole, in order.
 *   reconnect          a second client after the first left is watched
 *                      there too.
 *   back_while_attached the socket moved back behind the poll fd with a
 *                      client attached (and once more into the set):
 *                      requests keep being answered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "raw.h"
#include "test_server.h"
#include "testdev.h"
#include "vus_test.h"

#define DATA_POLL 1u    /* epoll data of the poll fd */
#define DATA_CLIENT 2u  /* ... of the client socket (vus_dev_set_client_epoll) */
#define BIG (1u << 20)
#define NBIG 8

struct loop {
	struct testdev *td;
	struct vus_dev *dev;
	char dir[64], path[128];
	int ep;
	pthread_t th;
	int quit;               /* atomic */
	int move;               /* atomic: 1 back behind the poll fd, 2 into ep */
	unsigned long client_reports, poll_reports; /* atomic */
	int rc;
};

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct epoll_event ev[8];
	int i, n, m;

	while (!__atomic_load_n(&l->quit, __ATOMIC_ACQUIRE)) {
		m = __atomic_exchange_n(&l->move, 0, __ATOMIC_ACQ_REL);
		if (m == 1)
			assert_int_equal(vus_dev_set_client_epoll(l->dev, -1, 0), 0);
		else if (m == 2)
			assert_int_equal(vus_dev_set_client_epoll(l->dev, l->ep, DATA_CLIENT), 0);
		n = epoll_wait(l->ep, ev, 8, 20);
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == DATA_CLIENT)
				__atomic_add_fetch(&l->client_reports, 1, __ATOMIC_RELAXED);
			else if (ev[i].data.u64 == DATA_POLL)
				__atomic_add_fetch(&l->poll_reports, 1, __ATOMIC_RELAXED);
			else
				fail_msg("report with unknown data %llu",
					 (unsigned long long)ev[i].data.u64);
		}
		/* One turn for any report (both may come for one request). */
		if (n > 0 && (l->rc = vus_dev_process(l->dev)) < 0)
			break;
	}
	return NULL;
}

static void loop_start(struct loop *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = DATA_POLL };

	memset(l, 0, sizeof(*l));
	assert_int_equal(testdev_create("ce", &l->td), 0);
	l->dev = testdev_dev(l->td);
	snprintf(l->dir, sizeof(l->dir), "/tmp/vus-ce-XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/s", l->dir);
	assert_int_equal(vus_dev_listen(l->dev, l->path), 0);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(l->ep >= 0);
	assert_int_equal(epoll_ctl(l->ep, EPOLL_CTL_ADD, vus_dev_poll_fd(l->dev), &ev), 0);
	/* Before serving: every client is watched in ep from its start. */
	assert_int_equal(vus_dev_set_client_epoll(l->dev, l->ep, DATA_CLIENT), 0);
	assert_int_equal(pthread_create(&l->th, NULL, loop_main, l), 0);
}

static void loop_stop(struct loop *l)
{
	__atomic_store_n(&l->quit, 1, __ATOMIC_RELEASE);
	pthread_join(l->th, NULL);
	assert_int_equal(l->rc, 0);
	testdev_free(l->td); /* ends the session: unwatched from ep first */
	close(l->ep);
	rmdir(l->dir);
}

static void round_trips_on(struct vus_client *c, int n, uint32_t seed)
{
	for (int i = 0; i < n; i++) {
		test_reg_write(c, TESTDEV_REG_SCRATCH, seed + (uint32_t)i);
		assert_int_equal(test_reg_read(c, TESTDEV_REG_SCRATCH), seed + (uint32_t)i);
	}
}

static void round_trips(void **state)
{
	struct loop l;
	struct vus_client *c;

	(void)state;
	loop_start(&l);
	c = test_connect_path(l.path, 2000);
	round_trips_on(c, 1000, 0x1000);
	/* The requests woke the loop through the client socket's own entry. */
	assert_true(__atomic_load_n(&l.client_reports, __ATOMIC_RELAXED) >= 1000);
	/* The library's own loop would never see that socket: refused. */
	assert_int_equal(vus_dev_run(l.dev), -EINVAL);
	vus_client_close(c);
	loop_stop(&l);
}

static void queued_replies(void **state)
{
	struct vus_region_access ra = { .offset = 0, .region = 1, .count = BIG };
	struct raw_msg m;
	uint8_t *pat = malloc(BIG);
	struct vus_client *c;
	struct loop l;
	int fd, i;

	(void)state;
	assert_non_null(pat);
	for (i = 0; i < (int)BIG; i++)
		pat[i] = (uint8_t)(i * 13 + 5);
	loop_start(&l);
	/* BAR1 holds the pattern (written by a client that then leaves). */
	c = test_connect_path(l.path, 2000);
	assert_int_equal(vus_client_region_write(c, 1, 0, pat, BIG), 0);
	vus_client_close(c);

	for (i = 0; i < 200 && (fd = raw_connect(l.path)) >= 0; i++) {
		if (raw_version(fd, 0, NULL, NULL) == 0)
			break;
		close(fd); /* the first client's teardown was not seen yet */
		test_sleep_ms(10);
	}
	assert_true(fd >= 0);
	/* All requests first: the replies (8 MiB) outgrow the socket buffer. */
	for (i = 0; i < NBIG; i++)
		assert_int_equal(raw_send(fd, (uint16_t)(10 + i), VUS_CMD_REGION_READ, 0, &ra,
					  sizeof(ra), NULL, 0), 0);
	test_sleep_ms(100);
	for (i = 0; i < NBIG; i++) {
		assert_int_equal(raw_recv(fd, &m, 5000), 0);
		assert_int_equal(m.hdr.id, 10 + i);
		assert_int_equal(m.hdr.flags & VUS_F_ERROR, 0);
		assert_int_equal(m.len, sizeof(ra) + BIG);
		assert_memory_equal(m.payload + sizeof(ra), pat, BIG);
		raw_msg_free(&m);
	}
	close(fd);
	loop_stop(&l);
	free(pat);
}

static void reconnect(void **state)
{
	struct vus_client *c;
	unsigned long before;
	struct loop l;

	(void)state;
	loop_start(&l);
	c = test_connect_path(l.path, 2000);
	round_trips_on(c, 10, 0x2000);
	vus_client_close(c);
	c = test_connect_path(l.path, 2000);
	before = __atomic_load_n(&l.client_reports, __ATOMIC_RELAXED);
	round_trips_on(c, 100, 0x3000);
	assert_true(__atomic_load_n(&l.client_reports, __ATOMIC_RELAXED) >= before + 100);
	vus_client_close(c);
	loop_stop(&l);
}

static void wait_moved(struct loop *l)
{
	for (int i = 0; i < 500 && __atomic_load_n(&l->move, __ATOMIC_ACQUIRE); i++)
		test_sleep_ms(2);
	assert_int_equal(__atomic_load_n(&l->move, __ATOMIC_ACQUIRE), 0);
}

static void back_while_attached(void **state)
{
	struct vus_client *c;
	unsigned long before, polls;
	struct loop l;

	(void)state;
	loop_start(&l);
	c = test_connect_path(l.path, 2000);
	round_trips_on(c, 10, 0x4000);
	__atomic_store_n(&l.move, 1, __ATOMIC_RELEASE);
	wait_moved(&l);
	before = __atomic_load_n(&l.client_reports, __ATOMIC_RELAXED);
	polls = __atomic_load_n(&l.poll_reports, __ATOMIC_RELAXED);
	round_trips_on(c, 100, 0x5000);
	/* Behind the poll fd now: reported there, never in the set itself. */
	assert_int_equal(__atomic_load_n(&l.client_reports, __ATOMIC_RELAXED), before);
	assert_true(__atomic_load_n(&l.poll_reports, __ATOMIC_RELAXED) >= polls + 100);
	__atomic_store_n(&l.move, 2, __ATOMIC_RELEASE);
	wait_moved(&l);
	round_trips_on(c, 100, 0x6000);
	assert_true(__atomic_load_n(&l.client_reports, __ATOMIC_RELAXED) >= before + 100);
	vus_client_close(c);
	loop_stop(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trips),
		cmocka_unit_test(queued_replies),
		cmocka_unit_test(reconnect),
		cmocka_unit_test(back_while_attached),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
