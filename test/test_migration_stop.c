/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "Stopped means stopped" (docs/migration.md): the library quiesces every
 * device on the way into STOP, STOP_COPY and RESUMING, and every path
 * back to RUNNING (reset, disconnect) goes through the device's
 * transition callback. Driven with testdev over the client library.
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
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "efd.h"
#include "le.h"
#include "testdev.h"
#include "vus_test.h"

#define IOVA 0x10000000ull
#define GUEST_SIZE 0x40000u
#define CHUNK (256u << 10)
/* The framed stream's 32-byte header and the first section's 12-byte
 * header (docs/migration.md), then testdev's record: a 16-byte header and
 * its registers as u32s (samples/testdev/testdev_priv.h: dma_status is the
 * 9th, dma_count the 10th). The first read is large, so the first section
 * holds them. */
#define REC            (32 + 12)
#define REC_DMA_STATUS (REC + 16 + 8 * 4)
#define REC_DMA_COUNT  (REC + 16 + 9 * 4)

struct fx {
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
};

static void *serve(void *arg)
{
	vus_dev_run(testdev_dev(((struct fx *)arg)->td));
	return NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	ASSERT_OK(testdev_create("stop", &f->td));
	vus_dev_set_log_level(testdev_dev(f->td), VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(testdev_dev(f->td), sv[1]));
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &f->c));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->c)
		vus_client_close(f->c);
	vus_dev_stop(testdev_dev(f->td));
	pthread_join(f->th, NULL);
	testdev_free(f->td);
	free(f);
	return 0;
}

static void wr(struct fx *f, uint32_t reg, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(f->c, 0, reg, &v, 4));
}

static int intx_eventfd(struct fx *f)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ASSERT_NONNEG(efd);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
				      0, 1, &efd, NULL));
	return efd;
}

/*
 * A posted DMA_CMD write and a MIG_DEVICE_STATE SET in one send(), so the
 * server reads both before its loop turns: the transfer the write starts
 * is copied but not completed (its done() waits for the loop) when the
 * SET is handled. Then the SET's reply is read off the socket.
 */
static void burst_cmd_then_state(struct fx *f, uint32_t cmd, enum vus_mig_state to)
{
	struct vus_hdr h1 = { .id = 0xfff0, .cmd = VUS_CMD_REGION_WRITE, .size = 16 + 16 + 4,
			      .flags = VUS_F_NO_REPLY };
	struct vus_hdr h2 = { .id = 0xfff1, .cmd = VUS_CMD_DEVICE_FEATURE, .size = 16 + 16 };
	uint8_t msg[36 + 32], reply[32];
	uint64_t off = TESTDEV_REG_DMA_CMD;
	uint32_t w[4] = { 0, 4, 0, 0 };
	uint32_t feat[4] = { 16, VUS_FEATURE_MIG_DEVICE_STATE | VUS_DEVICE_FEATURE_SET, to, 0 };
	int fd = vus_client_fd(f->c);
	size_t got = 0;
	ssize_t n;

	memcpy(msg, &h1, 16);
	memcpy(msg + 16, &off, 8);
	memcpy(msg + 24, w, 8); /* region 0, count 4 */
	memcpy(msg + 32, &cmd, 4);
	memcpy(msg + 36, &h2, 16);
	memcpy(msg + 52, feat, 16);
	ASSERT_EQ(send(fd, msg, sizeof(msg), MSG_NOSIGNAL), (ssize_t)sizeof(msg));
	while (got < sizeof(reply)) {
		n = recv(fd, reply + got, sizeof(reply) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	memcpy(&h2, reply, 16);
	ASSERT_EQ(h2.id, 0xfff1);
	ASSERT_EQ(h2.flags & VUS_F_ERROR, 0);
}

/*
 * The case: a device-to-client DMA started while RUNNING (a posted
 * DMA_CMD write) and the STOP_COPY request right behind it. The saved
 * state must hold the finished transfer, and its interrupt must wait for
 * RUNNING. Before the fix, the snapshot said "busy" and the completion
 * (BAR1 change, count, interrupt) came after it.
 */
static void test_dma_finished_before_the_snapshot(void **state)
{
	struct fx *f = *state;
	uint8_t *guest, *stream = NULL;
	uint32_t cmd = TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST | TESTDEV_DMA_IRQ, got;
	size_t len = 0;
	int efd = intx_eventfd(f), i;

	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
				     (void **)&guest));
	{
		uint8_t pat[4096];

		for (i = 0; i < (int)sizeof(pat); i++)
			pat[i] = (uint8_t)(i * 7 + 1);
		ASSERT_OK(vus_client_region_write(f->c, 1, 0, pat, sizeof(pat)));
	}
	wr(f, TESTDEV_REG_DMA_SRC_LO, 0);
	wr(f, TESTDEV_REG_DMA_SRC_HI, 0);
	wr(f, TESTDEV_REG_DMA_DST_LO, (uint32_t)IOVA);
	wr(f, TESTDEV_REG_DMA_DST_HI, (uint32_t)(IOVA >> 32));
	wr(f, TESTDEV_REG_DMA_LEN, 4096);
	burst_cmd_then_state(f, cmd, VUS_MIG_STATE_STOP_COPY);

	do {
		stream = realloc(stream, len + CHUNK);
		assert_non_null(stream);
		ASSERT_OK(vus_client_mig_data_read(f->c, stream + len, CHUNK, &got));
		len += got;
	} while (got == CHUNK);
	assert_true(len > REC_DMA_COUNT + 4);
	ASSERT_EQ(le_get32(stream + REC_DMA_STATUS) & TESTDEV_DMA_BUSY, 0);
	ASSERT_EQ(le_get32(stream + REC_DMA_COUNT), 1);
	ASSERT_EQ(guest[4095], (uint8_t)(4095 * 7 + 1));
	/* Stopped: the completion interrupt is held. */
	ASSERT_EQ(efd_wait(efd, 100), 0);
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RUNNING));
	assert_true(efd_wait(efd, 2000) > 0);
	free(stream);
	close(efd);
}

/* New DMA from a device thread is refused while stopped, allowed again
 * on RUNNING; an interrupt raised while stopped arrives once, on RUNNING. */
static void test_stop_refuses_dma_and_holds_irqs(void **state)
{
	struct fx *f = *state;
	struct vus_dev *dev = testdev_dev(f->td);
	uint8_t *guest, b = 0x5a;
	int efd = intx_eventfd(f);

	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
				     (void **)&guest));
	ASSERT_OK(vus_dma_write(dev, IOVA, &b, 1));
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP));
	ASSERT_ERR(vus_dma_write(dev, IOVA + 1, &b, 1), -EBUSY);
	ASSERT_ERR(vus_dma_read(dev, IOVA, &b, 1), -EBUSY);
	assert_null(vus_dma_translate(dev, IOVA, 1, VUS_DMA_MAP_FLAG_READ));
	ASSERT_EQ(errno, EBUSY);
	ASSERT_EQ(guest[1], 0);

	wr(f, TESTDEV_REG_IRQ_RAISE, 0x1);
	ASSERT_EQ(efd_wait(efd, 100), 0);
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RUNNING));
	ASSERT_EQ(efd_wait(efd, 2000), 1);
	ASSERT_OK(vus_dma_write(dev, IOVA + 1, &b, 1));
	ASSERT_EQ(guest[1], 0x5a);
	close(efd);
}

/* DEVICE_RESET from a stopped state: RUNNING again, DMA allowed, and the
 * device was told (testdev drops the save it had prepared). */
static void test_reset_leaves_stop_through_the_device(void **state)
{
	struct fx *f = *state;
	struct vus_dev *dev = testdev_dev(f->td);
	enum vus_mig_state s;
	uint8_t *guest, b = 1;
	uint32_t got;
	uint8_t buf[REC + 4];

	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
				     (void **)&guest));
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP_COPY));
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_OK(vus_client_mig_get_state(f->c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_RUNNING);
	ASSERT_OK(vus_dma_write(dev, IOVA, &b, 1));
	/* The prepared snapshot is gone: a new PRE_COPY starts a new one. */
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_PRE_COPY));
	ASSERT_OK(vus_client_mig_data_read(f->c, buf, sizeof(buf), &got));
	ASSERT_EQ(got, sizeof(buf));
	ASSERT_EQ(le_get32(buf), 0x4d535556u);      /* a new stream */
	ASSERT_EQ(le_get32(buf + REC), 0x47494d54u); /* a record starts: the old one was dropped */
}

/*
 * A transfer waiting on the client (fd-less memory: DMA_WRITE messages)
 * when STOP_COPY comes is cancelled by the library; testdev keeps it
 * (busy, parked) in its saved state, and the destination runs it on
 * RUNNING, into its own client's memory.
 */
static void test_parked_transfer_finishes_on_the_destination(void **state)
{
	struct fx *f = *state, *g;
	uint32_t cmd = TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST, got, st = 0;
	uint8_t *src_guest, *dst_guest, pat[4096], *stream = NULL;
	size_t len = 0, off;
	int i;

	for (i = 0; i < (int)sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 5 + 3);
	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&src_guest));
	ASSERT_OK(vus_client_region_write(f->c, 1, 0, pat, sizeof(pat)));
	wr(f, TESTDEV_REG_DMA_SRC_LO, 0);
	wr(f, TESTDEV_REG_DMA_SRC_HI, 0);
	wr(f, TESTDEV_REG_DMA_DST_LO, (uint32_t)IOVA);
	wr(f, TESTDEV_REG_DMA_DST_HI, (uint32_t)(IOVA >> 32));
	wr(f, TESTDEV_REG_DMA_LEN, sizeof(pat));
	burst_cmd_then_state(f, cmd, VUS_MIG_STATE_STOP_COPY);
	do {
		stream = realloc(stream, len + CHUNK);
		assert_non_null(stream);
		ASSERT_OK(vus_client_mig_data_read(f->c, stream + len, CHUNK, &got));
		len += got;
	} while (got == CHUNK);
	/* Saved busy: the transfer travels. */
	ASSERT_EQ(le_get32(stream + REC_DMA_STATUS) & TESTDEV_DMA_BUSY, TESTDEV_DMA_BUSY);
	ASSERT_EQ(src_guest[0], 0);

	ASSERT_OK(setup((void **)&g));
	ASSERT_OK(vus_client_dma_map(g->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&dst_guest));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += CHUNK)
		ASSERT_OK(vus_client_mig_data_write(g->c, stream + off,
						    len - off < CHUNK ? len - off : CHUNK));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RUNNING));
	for (i = 0; i < 5000; i++) {
		ASSERT_OK(vus_client_region_read(g->c, 0, TESTDEV_REG_DMA_STATUS, &st, 4));
		if (!(st & TESTDEV_DMA_BUSY))
			break;
		vus_client_process(g->c, 1);
	}
	ASSERT_EQ(st & (TESTDEV_DMA_BUSY | TESTDEV_DMA_ERROR), 0);
	ASSERT_OK(vus_client_region_read(g->c, 0, TESTDEV_REG_DMA_COUNT, &st, 4));
	ASSERT_EQ(st, 1);
	assert_memory_equal(dst_guest, pat, sizeof(pat));
	/* The source never wrote its client's memory. */
	ASSERT_EQ(src_guest[0], 0);
	free(stream);
	teardown((void **)&g);
}

/*
 * A DMA_WRITE the server sent whole, unanswered when STOP_COPY comes: the
 * client applies it (it answers it while it waits for its own reply), so
 * for the device it is done, not cancelled. testdev saves the transfer
 * finished and the destination does not write it again. Before, the
 * library cancelled it: the destination wrote it a second time, and a
 * device that counted it as posted instead (nvme-emu's CQEs) lost the ones
 * never sent (test_nvme_migration found it under TSan).
 */
static void test_sent_write_is_done_at_stop(void **state)
{
	struct fx *f = *state, *g;
	uint8_t *src_guest, *dst_guest, pat[4096], *stream = NULL;
	struct pollfd pfd = { .fd = vus_client_fd(f->c), .events = POLLIN };
	uint32_t got, st = 0;
	size_t len = 0, off;
	int i;

	for (i = 0; i < (int)sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 3 + 11);
	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&src_guest));
	ASSERT_OK(vus_client_region_write(f->c, 1, 0, pat, sizeof(pat)));
	wr(f, TESTDEV_REG_DMA_SRC_LO, 0);
	wr(f, TESTDEV_REG_DMA_SRC_HI, 0);
	wr(f, TESTDEV_REG_DMA_DST_LO, (uint32_t)IOVA);
	wr(f, TESTDEV_REG_DMA_DST_HI, (uint32_t)(IOVA >> 32));
	wr(f, TESTDEV_REG_DMA_LEN, sizeof(pat));
	{
		/* A posted DMA_CMD write, sent raw: nothing comes back but the
		 * device's DMA_WRITE (4 KiB: one message), which then waits on
		 * the socket, unanswered (the client library would read it
		 * while waiting for a reply of its own). */
		struct vus_hdr h = { .id = 0xfff0, .cmd = VUS_CMD_REGION_WRITE,
				     .size = 16 + 16 + 4, .flags = VUS_F_NO_REPLY };
		uint32_t w[4] = { 0, 4, TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST, 0 };
		uint64_t roff = TESTDEV_REG_DMA_CMD;
		uint8_t msg[36];

		memcpy(msg, &h, 16);
		memcpy(msg + 16, &roff, 8);
		memcpy(msg + 24, w, 12); /* region 0, count 4, the value */
		ASSERT_EQ(send(pfd.fd, msg, sizeof(msg), MSG_NOSIGNAL), (ssize_t)sizeof(msg));
	}
	ASSERT_EQ(poll(&pfd, 1, 5000), 1);
	ASSERT_EQ(vus_client_dma_requests(f->c), 0);
	/* The server reads STOP_COPY before the answer, which the client
	 * sends while it waits for its reply. */
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP_COPY));
	ASSERT_EQ(vus_client_dma_requests(f->c), 1);
	do {
		stream = realloc(stream, len + CHUNK);
		assert_non_null(stream);
		ASSERT_OK(vus_client_mig_data_read(f->c, stream + len, CHUNK, &got));
		len += got;
	} while (got == CHUNK);
	assert_true(len > REC_DMA_COUNT + 4);
	ASSERT_EQ(le_get32(stream + REC_DMA_STATUS) & (TESTDEV_DMA_BUSY | TESTDEV_DMA_ERROR), 0);
	ASSERT_EQ(le_get32(stream + REC_DMA_COUNT), 1);
	assert_memory_equal(src_guest, pat, sizeof(pat));

	ASSERT_OK(setup((void **)&g));
	ASSERT_OK(vus_client_dma_map(g->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&dst_guest));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += CHUNK)
		ASSERT_OK(vus_client_mig_data_write(g->c, stream + off,
						    len - off < CHUNK ? len - off : CHUNK));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RUNNING));
	ASSERT_OK(vus_client_region_read(g->c, 0, TESTDEV_REG_DMA_STATUS, &st, 4));
	ASSERT_EQ(st & (TESTDEV_DMA_BUSY | TESTDEV_DMA_ERROR), 0);
	ASSERT_OK(vus_client_region_read(g->c, 0, TESTDEV_REG_DMA_COUNT, &st, 4));
	ASSERT_EQ(st, 1);
	/* Not written again on the destination. */
	ASSERT_EQ(vus_client_dma_requests(g->c), 0);
	ASSERT_EQ(dst_guest[0], 0);
	free(stream);
	teardown((void **)&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dma_finished_before_the_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_refuses_dma_and_holds_irqs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset_leaves_stop_through_the_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parked_transfer_finishes_on_the_destination,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sent_write_is_done_at_stop, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
