/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live update in one process (include/vus/live.h, docs/live-update.md):
 * a testdev with a client attached -- DMA window with its fd, an INTx
 * eventfd, registers and BAR1 contents -- is exported, checked and
 * adopted by a second testdev, and the same client, without reconnecting,
 * goes on: registers and BAR1 as before, DMA both ways through the same
 * window, each interrupt exactly once on the same eventfd. A corrupted
 * state is refused by the dry run and by adopt, and the old device
 * resumes serving. A masked vector's pending interrupt arrives once;
 * a transfer in flight over DMA messages restarts and completes once.
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
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>
#include <vus/live.h>

#include "efd.h"
#include "test_server.h"
#include "testdev.h"
#include "vus_test.h"

#define IOVA 0x10000000ull
#define GUEST_SIZE 0x40000u
#define LEN 0x3000u

struct fx {
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
	bool running;
	int efd;
	uint8_t *guest;
};

static void *serve(void *arg)
{
	vus_dev_run(testdev_dev(((struct fx *)arg)->td));
	return NULL;
}

static void run(struct fx *f)
{
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f));
	f->running = true;
}

/* The loop thread stops: from here this thread is the device's loop. */
static void halt(struct fx *f)
{
	vus_dev_stop(testdev_dev(f->td));
	pthread_join(f->th, NULL);
	f->running = false;
}

static struct testdev *new_testdev(void)
{
	struct testdev *td;

	ASSERT_OK(testdev_create("lu", &td));
	vus_dev_set_log_level(testdev_dev(td), VUS_LOG_ERR);
	return td;
}

/* Halt the loop, export, adopt the state into a new testdev that serves
 * the same client from here on, release the old one (the vusd upgrade's
 * sequence in one process). */
static void hand_over(struct fx *f)
{
	struct testdev *td2;
	void *blob;
	size_t len;

	halt(f);
	ASSERT_OK(vus_dev_live_export(testdev_dev(f->td), &blob, &len));
	td2 = new_testdev();
	ASSERT_OK(vus_dev_live_adopt(testdev_dev(td2), blob, len));
	vus_dev_live_release(testdev_dev(f->td));
	testdev_free(f->td);
	free(blob);
	f->td = td2;
	run(f);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	void *host;
	int sv[2];

	assert_non_null(f);
	f->td = new_testdev();
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(testdev_dev(f->td), sv[1]));
	run(f);
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &f->c));
	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true, &host));
	f->guest = host;
	f->efd = efd_new();
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, 1,
				      &f->efd, NULL));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vus_client_close(f->c);
	if (!f->running)
		run(f);
	halt(f);
	testdev_free(f->td);
	close(f->efd);
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* The guest's EOI: causes acknowledged, INTx (auto-masked when it fired)
 * unmasked. */
static void eoi(struct fx *f)
{
	test_reg_write(f->c, TESTDEV_REG_IRQ_ACK, ~0u);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
				      NULL));
}

/* Guest -> BAR1 -> guest with an interrupt each: data compared, and the
 * eventfd counted exactly once per transfer. */
static void dma_round(struct fx *f, uint8_t seed)
{
	uint8_t want[LEN], bar[LEN];

	fill(want, LEN, seed);
	memcpy(f->guest, want, LEN);
	memset(f->guest + 0x10000, 0, LEN);
	eoi(f);
	efd_wait(f->efd, 0);
	ASSERT_OK(test_dma_run(f->c, IOVA, 0x100, LEN, false));
	ASSERT_OK(vus_client_region_read(f->c, 1, 0x100, bar, LEN));
	assert_memory_equal(bar, want, LEN);
	/* BAR1 -> guest, interrupt on completion. */
	test_reg_write(f->c, TESTDEV_REG_DMA_SRC_LO, 0x100);
	test_reg_write(f->c, TESTDEV_REG_DMA_SRC_HI, 0);
	test_reg_write(f->c, TESTDEV_REG_DMA_DST_LO, (uint32_t)(IOVA + 0x10000));
	test_reg_write(f->c, TESTDEV_REG_DMA_DST_HI, (uint32_t)((IOVA + 0x10000) >> 32));
	test_reg_write(f->c, TESTDEV_REG_DMA_LEN, LEN);
	test_reg_write(f->c, TESTDEV_REG_DMA_CMD,
		       TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST | TESTDEV_DMA_IRQ);
	ASSERT_EQ(efd_wait(f->efd, 5000), 1);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_DMA_STATUS) & TESTDEV_DMA_ERROR, 0);
	assert_memory_equal(f->guest + 0x10000, want, LEN);
	eoi(f);
	/* Exactly once: no second signal shows up. */
	ASSERT_EQ(efd_wait(f->efd, 50), 0);
}

static void test_adopt_keeps_the_client(void **state)
{
	struct fx *f = *state;
	struct testdev *td2, *probe;
	struct vus_dev_stats st;
	uint8_t bar_before[256], bar_after[256];
	void *blob;
	size_t len;

	dma_round(f, 1);
	test_reg_write(f->c, TESTDEV_REG_SCRATCH, 0x5eed1234);
	ASSERT_OK(vus_client_region_read(f->c, 1, 0x100, bar_before, sizeof(bar_before)));

	halt(f);
	ASSERT_OK(vus_dev_live_export(testdev_dev(f->td), &blob, &len));
	probe = new_testdev();
	ASSERT_OK(vus_dev_live_check(testdev_dev(probe), blob, len));
	testdev_free(probe);
	td2 = new_testdev();
	ASSERT_OK(vus_dev_live_adopt(testdev_dev(td2), blob, len));
	vus_dev_live_release(testdev_dev(f->td));
	testdev_free(f->td);
	free(blob);
	f->td = td2;
	run(f);

	/* The same client, no reconnect. */
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), 0x5eed1234);
	ASSERT_OK(vus_client_region_read(f->c, 1, 0x100, bar_after, sizeof(bar_after)));
	assert_memory_equal(bar_before, bar_after, sizeof(bar_after));
	dma_round(f, 2);
	dma_round(f, 3);
	test_server_stats(&(struct test_server){ .dev = testdev_dev(f->td) }, &st);
	ASSERT_EQ(st.cur_maps, 1);
	ASSERT_EQ(st.clients, 1);
}

static void test_bad_state_refused_old_serves_on(void **state)
{
	struct fx *f = *state;
	struct testdev *probe;
	uint8_t *blob;
	size_t len;

	dma_round(f, 4);
	test_reg_write(f->c, TESTDEV_REG_SCRATCH, 0xabcd);
	halt(f);
	ASSERT_OK(vus_dev_live_export(testdev_dev(f->td), (void **)&blob, &len));
	/* Exported: a second export is refused, the device serves nothing. */
	ASSERT_ERR(vus_dev_live_export(testdev_dev(f->td), &(void *){ NULL }, &len), -EBUSY);
	blob[len / 2] ^= 0x10;
	probe = new_testdev();
	ASSERT_ERR(vus_dev_live_check(testdev_dev(probe), blob, len), -EINVAL);
	ASSERT_ERR(vus_dev_live_adopt(testdev_dev(probe), blob, len), -EINVAL);
	testdev_free(probe);
	free(blob);
	ASSERT_OK(vus_dev_live_resume(testdev_dev(f->td)));
	run(f);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_SCRATCH), 0xabcd);
	dma_round(f, 5);
}

/* A masked vector's pending interrupt travels: the new owner delivers it
 * once, on the old eventfd, when the client unmasks. */
static void test_pending_interrupt_delivered_once(void **state)
{
	struct fx *f = *state;

	eoi(f);
	efd_wait(f->efd, 0);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_MASK, 0, 1, NULL,
				      NULL));
	test_reg_write(f->c, TESTDEV_REG_IRQ_RAISE, 1);
	ASSERT_EQ(efd_wait(f->efd, 100), 0);
	hand_over(f);
	ASSERT_EQ(efd_wait(f->efd, 100), 0); /* still masked */
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1, NULL,
				      NULL));
	ASSERT_EQ(efd_wait(f->efd, 2000), 1);
	ASSERT_EQ(efd_wait(f->efd, 100), 0);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_IRQ_STATUS), 1);
	eoi(f);
	dma_round(f, 6);
}

/*
 * A transfer in flight over DMA_WRITE messages (a window without fd): the
 * server's requests wait unanswered on the socket while the device is
 * handed over. Sent whole, the transfer is done for the device (the client
 * applies what it receives: docs/migration.md "Stopped means stopped"),
 * so it is not sent again; the answers to the old requests reach the new
 * owner as strays and are dropped, and the guest memory ends up right
 * with one interrupt. (Before, the old owner cancelled it and the new one
 * wrote it a second time.)
 */
static void test_transfer_in_flight_restarts(void **state)
{
	struct fx *f = *state;
	const uint64_t iova2 = 0x20000000ull;
	uint8_t want[LEN], bar[LEN], *mem;
	uint32_t count0, st;
	size_t i;

	ASSERT_OK(vus_client_dma_map(f->c, iova2, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&mem));
	for (i = 0; i < LEN; i++)
		want[i] = (uint8_t)(0x33 + i * 13);
	ASSERT_OK(vus_client_region_write(f->c, 1, 0x200, want, LEN));
	ASSERT_OK(vus_client_region_read(f->c, 1, 0x200, bar, LEN));
	assert_memory_equal(bar, want, LEN);
	memset(mem, 0, LEN);
	eoi(f);
	efd_wait(f->efd, 0);
	count0 = test_reg_read(f->c, TESTDEV_REG_DMA_COUNT);
	test_reg_write(f->c, TESTDEV_REG_DMA_SRC_LO, 0x200);
	test_reg_write(f->c, TESTDEV_REG_DMA_SRC_HI, 0);
	test_reg_write(f->c, TESTDEV_REG_DMA_DST_LO, (uint32_t)iova2);
	test_reg_write(f->c, TESTDEV_REG_DMA_DST_HI, (uint32_t)(iova2 >> 32));
	test_reg_write(f->c, TESTDEV_REG_DMA_LEN, LEN);
	test_reg_write(f->c, TESTDEV_REG_DMA_CMD,
		       TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST | TESTDEV_DMA_IRQ);
	/* The device sends its DMA_WRITE requests; nobody answers (any
	 * client call would serve them while it waits for its reply). */
	test_sleep_ms(50);
	ASSERT_EQ(vus_client_dma_requests(f->c), 0);
	hand_over(f);
	for (i = 0; i < 5000; i++) {
		st = test_reg_read(f->c, TESTDEV_REG_DMA_STATUS);
		if (!(st & TESTDEV_DMA_BUSY))
			break;
		ASSERT_NONNEG(vus_client_process(f->c, 1));
	}
	ASSERT_EQ(st & (TESTDEV_DMA_BUSY | TESTDEV_DMA_ERROR), 0);
	ASSERT_EQ(test_reg_read(f->c, TESTDEV_REG_DMA_COUNT), count0 + 1);
	assert_memory_equal(mem, want, LEN);
	/* The old request was answered (a stray for the new owner), and the
	 * transfer was not sent again (12 KiB: one DMA_WRITE under the
	 * client library's data size limit). */
	ASSERT_EQ(vus_client_dma_requests(f->c), 1);
	ASSERT_EQ(efd_wait(f->efd, 2000), 1);
	ASSERT_EQ(efd_wait(f->efd, 100), 0);
	eoi(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_adopt_keeps_the_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_state_refused_old_serves_on, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_interrupt_delivered_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transfer_in_flight_restarts, setup,
						teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
