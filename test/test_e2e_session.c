/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end sessions (spec "Socket Disconnection Behavior", docs/protocol.md
 * 1.4): disconnects at any byte, what survives a reconnect, fd
 * hygiene over many sessions, one client at a time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/codec.h>

#include "efd.h"
#include "fdcount.h"
#include "raw.h"
#include "test_server.h"
#include "vus_test.h"

#define IOVA 0x40000000ull

static int setup(void **state)
{
	struct test_server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	ASSERT_OK(test_server_start(s, NULL));
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct test_server *s = *state;

	test_server_stop(s);
	free(s);
	return 0;
}

/* Connect, map twice, wire INTx; the caller closes the client. */
static void busy_session(struct test_server *s, struct vus_client **out, int efd)
{
	const uint32_t rw = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE;
	struct vus_client_region r;
	void *h;

	ASSERT_OK(test_connect(s, NULL, out));
	ASSERT_OK(vus_client_dma_map(*out, IOVA, 0x10000, rw, true, &h));
	ASSERT_OK(vus_client_dma_map(*out, IOVA + 0x10000, 0x10000, rw, false, &h));
	ASSERT_OK(vus_client_set_irqs(*out, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_EVENTFD |
				      VUS_IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, NULL));
	ASSERT_OK(vus_client_region_info(*out, 2, &r));
	ASSERT_NONNEG(r.fd);
	close(r.fd);
}

/*
 * Open a raw connection the server really serves (not one refused while
 * the previous session is still being torn down: stats.clients grows),
 * send bytes (after a VERSION if asked) with fds, and hang up.
 */
static void raw_session(struct test_server *s, bool version, const void *bytes, size_t len,
			const int *fds, unsigned nfds)
{
	struct vus_dev_stats st;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		uint64_t clients;
		int fd, i;

		test_server_stats(s, &st);
		clients = st.clients;
		fd = raw_connect(s->path);
		ASSERT_NONNEG(fd);
		if (version && raw_version(fd, 0, NULL, NULL) < 0) {
			close(fd);
			test_sleep_ms(10);
			continue;
		}
		(void)raw_send_bytes(fd, bytes, len, fds, nfds);
		close(fd);
		for (i = 0; i < 50; i++) {
			test_server_stats(s, &st);
			if (st.clients > clients)
				return;
			test_sleep_ms(2);
		}
	}
	fail_msg("the server never took the raw connection");
}

static void disconnect_mid_message(void **state)
{
	struct test_server *s = *state;
	struct vus_client *c;
	struct vus_hdr h = { .id = 1, .cmd = VUS_CMD_VERSION, .size = 16 + 200 };
	uint8_t bytes[16 + 100];
	int efd = efd_new();
	int base;

	busy_session(s, &c, efd);
	test_reg_write(c, TESTDEV_REG_SCRATCH, 0x5eed);
	vus_client_close(c);
	assert_true(test_server_wait_maps(s, 0, 2000));
	base = fdcount();

	memset(bytes, 0, sizeof(bytes));
	vus_hdr_encode(bytes, &h);
	/* Half a header, then gone. */
	raw_session(s, false, bytes, 8, NULL, 0);
	/* A header and half its body, then gone. */
	raw_session(s, false, bytes, sizeof(bytes), NULL, 0);
	/* After VERSION: SET_IRQS header with an eventfd, part of the body. */
	h = (struct vus_hdr){ .id = 2, .cmd = VUS_CMD_DEVICE_SET_IRQS, .size = 16 + 20 };
	vus_hdr_encode(bytes, &h);
	raw_session(s, true, bytes, 16 + 4, &efd, 1);
	/* The server closed its ends and the eventfd copy it got. */
	if (!fdcount_wait(base, 2000))
		fail_msg("fd count %d after the raw sessions, %d before", fdcount(), base);

	/* The device kept its state; the old client's maps and eventfd are gone. */
	ASSERT_OK(test_connect(s, NULL, &c));
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), 0x5eed);
	assert_true(test_server_wait_maps(s, 0, 100));
	test_reg_write(c, TESTDEV_REG_IRQ_RAISE, 1);
	assert_false(efd_wait(efd, 200));
	/* The DMA windows are really gone: a DMA to them fails. */
	assert_true(test_dma_run(c, IOVA, 0, 64, false) < 0);
	vus_client_close(c);

	/* And everything works again on a new session. */
	busy_session(s, &c, efd);
	test_reg_write(c, TESTDEV_REG_IRQ_ACK, ~0u);
	/* INTx may still be masked from the raise above (auto-mask). */
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ, VUS_IRQ_SET_DATA_NONE |
				      VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL, NULL));
	test_reg_write(c, TESTDEV_REG_IRQ_RAISE, 1);
	assert_true(efd_wait(efd, 2000));
	vus_client_close(c);
	close(efd);
}

static void no_fd_growth(void **state)
{
	struct test_server *s = *state;
	struct vus_client *c;
	int base, i;

	/* Warm-up: first-use allocations (e.g. epoll registrations). */
	{
		int efd = eventfd(0, EFD_CLOEXEC);

		busy_session(s, &c, efd);
		vus_client_close(c);
		close(efd);
		assert_true(test_server_wait_maps(s, 0, 2000));
	}
	/* Let the server finish closing the warm-up session. */
	test_sleep_ms(50);
	base = fdcount();
	for (i = 0; i < 50; i++) {
		int efd = eventfd(0, EFD_CLOEXEC);

		ASSERT_NONNEG(efd);
		busy_session(s, &c, efd);
		test_reg_write(c, TESTDEV_REG_SCRATCH, (uint32_t)i);
		vus_client_close(c);
		close(efd);
	}
	assert_true(test_server_wait_maps(s, 0, 2000));
	/* The server closes the session's fds on its own thread. */
	if (!fdcount_wait(base, 2000))
		fail_msg("fd count %d after 50 sessions, %d before", fdcount(), base);
	ASSERT_OK(test_connect(s, NULL, &c));
	ASSERT_EQ(test_reg_read(c, TESTDEV_REG_SCRATCH), 49);
	vus_client_close(c);
}

static void second_client_refused(void **state)
{
	struct test_server *s = *state;
	struct vus_client *a, *b;
	struct vus_dev_stats st;
	int fd;

	ASSERT_OK(test_connect(s, NULL, &a));
	test_reg_write(a, TESTDEV_REG_SCRATCH, 0xa);

	/* Accepted and closed at once (docs/protocol.md 1.4). */
	fd = raw_connect(s->path);
	ASSERT_NONNEG(fd);
	assert_true(raw_closed_within(fd, 2000));
	close(fd);
	assert_true(vus_client_connect(s->path, NULL, &b) < 0);

	/* The first keeps working. */
	ASSERT_EQ(test_reg_read(a, TESTDEV_REG_SCRATCH), 0xa);
	test_reg_write(a, TESTDEV_REG_SCRATCH, 0xb);
	ASSERT_EQ(test_reg_read(a, TESTDEV_REG_SCRATCH), 0xb);
	test_server_stats(s, &st);
	ASSERT_EQ(st.clients, 1);
	vus_client_close(a);

	/* Once it is gone, the next one gets in. */
	ASSERT_OK(test_connect(s, NULL, &b));
	ASSERT_EQ(test_reg_read(b, TESTDEV_REG_SCRATCH), 0xb);
	vus_client_close(b);
}

/* The client sees a server that goes away as an error, not a hang. */
static void server_gone(void **state)
{
	struct test_server *s = *state;
	struct vus_client *c;
	uint32_t v;

	ASSERT_OK(test_connect(s, NULL, &c));
	test_server_stop(s);
	assert_true(vus_client_region_read(c, 0, TESTDEV_REG_ID, &v, 4) < 0);
	vus_client_close(c);
	/* teardown restarts nothing: stop is idempotent. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(disconnect_mid_message, setup, teardown),
		cmocka_unit_test_setup_teardown(no_fd_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(second_client_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(server_gone, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
