/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev through the wire: a testdev served on a thread, driven by the
 * vus client library over a socketpair, checked against the register map
 * in samples/testdev/testdev.h.
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "clock.h"
#include "efd.h"
#include "testdev.h"
#include "vus_test.h"

struct fx {
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
	bool running;
};

static void *serve(void *arg)
{
	struct fx *f = arg;

	vus_dev_run(testdev_dev(f->td));
	return NULL;
}

/* td_opts NULL: the default testdev. */
static void fx_start_opts(struct fx *f, const struct vus_client_opts *opts,
			  const struct testdev_opts *td_opts)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	ASSERT_OK(testdev_create_opts("test", td_opts, &f->td));
	vus_dev_set_log_level(testdev_dev(f->td), VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(testdev_dev(f->td), sv[1]));
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f));
	f->running = true;
	ASSERT_OK(vus_client_connect_fd(sv[0], opts, &f->c));
}

static void fx_start(struct fx *f, const struct vus_client_opts *opts)
{
	fx_start_opts(f, opts, NULL);
}

static void fx_stop(struct fx *f)
{
	if (f->c)
		vus_client_close(f->c);
	if (f->running) {
		vus_dev_stop(testdev_dev(f->td));
		pthread_join(f->th, NULL);
	}
	testdev_free(f->td);
}

static int setup(void **state)
{
	struct fx *f = malloc(sizeof(*f));

	fx_start(f, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_stop(*state);
	free(*state);
	return 0;
}

static uint32_t rd(struct fx *f, uint32_t reg)
{
	uint32_t v = 0xdeadbeef;

	ASSERT_OK(vus_client_region_read(f->c, 0, reg, &v, 4));
	return v;
}

static void wr(struct fx *f, uint32_t reg, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(f->c, 0, reg, &v, 4));
}

/* ---- registers ------------------------------------------------------ */

static void test_registers(void **state)
{
	struct fx *f = *state;
	uint16_t half;
	uint32_t v = 1;

	ASSERT_EQ(rd(f, TESTDEV_REG_ID), TESTDEV_ID);
	wr(f, TESTDEV_REG_ID, 0);                 /* read-only: ignored */
	ASSERT_EQ(rd(f, TESTDEV_REG_ID), TESTDEV_ID);

	ASSERT_EQ(rd(f, TESTDEV_REG_SCRATCH), 0);
	wr(f, TESTDEV_REG_SCRATCH, 0xa5a55a5a);
	ASSERT_EQ(rd(f, TESTDEV_REG_SCRATCH), 0xa5a55a5a);

	ASSERT_EQ(rd(f, TESTDEV_REG_INVERT), 0xffffffff);
	wr(f, TESTDEV_REG_INVERT, 0x12345678);
	ASSERT_EQ(rd(f, TESTDEV_REG_INVERT), ~0x12345678u);

	ASSERT_EQ(rd(f, TESTDEV_REG_IRQ_RAISE), 0); /* write-only reads 0 */

	/* 32-bit registers: other sizes and misaligned offsets are refused */
	ASSERT_ERR(vus_client_region_read(f->c, 0, TESTDEV_REG_SCRATCH, &half, 2), -EINVAL);
	ASSERT_ERR(vus_client_region_read(f->c, 0, TESTDEV_REG_SCRATCH + 1, &v, 4),
		   -EINVAL);
	ASSERT_ERR(vus_client_region_write(f->c, 0, 2, &v, 4), -EINVAL);
}

static void test_pci_identity(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[64];
	struct vus_device_info info;

	ASSERT_OK(vus_client_device_info(f->c, &info));
	assert_true(info.flags & VUS_DEVICE_FLAGS_PCI);
	assert_true(info.flags & VUS_DEVICE_FLAGS_RESET);
	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, 0, cfg, 64));
	ASSERT_EQ(cfg[0] | cfg[1] << 8, TESTDEV_VENDOR);
	ASSERT_EQ(cfg[2] | cfg[3] << 8, TESTDEV_DEVICE);
	ASSERT_EQ(cfg[9] | cfg[10] << 8 | cfg[11] << 16, TESTDEV_CLASS);
	ASSERT_EQ(cfg[0x3d], 1); /* INTA */
}

static void test_bar1_ram(void **state)
{
	struct fx *f = *state;
	uint8_t buf[300], back[300];
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13);
	ASSERT_OK(vus_client_region_write(f->c, 1, TESTDEV_BAR1_SIZE - 300, buf, 300));
	ASSERT_OK(vus_client_region_read(f->c, 1, TESTDEV_BAR1_SIZE - 300, back, 300));
	assert_memory_equal(buf, back, 300);
}

/* ---- BAR2: sparse mmap, trapped hole -------------------------------- */

static void test_bar2_sparse(void **state)
{
	struct fx *f = *state;
	struct vus_client_region r;
	uint8_t *area1, *area0;
	size_t len0, len1;
	uint32_t v;

	ASSERT_OK(vus_client_region_info(f->c, 2, &r));
	ASSERT_EQ(r.info.size, TESTDEV_BAR2_SIZE);
	assert_true(r.info.flags & VUS_REGION_INFO_FLAG_MMAP);
	ASSERT_NONNEG(r.fd);
	ASSERT_EQ(r.caps.nr_areas, 2);
	ASSERT_EQ(r.areas[0].offset, 0);
	ASSERT_EQ(r.areas[0].size, TESTDEV_BAR2_HOLE_OFF);
	ASSERT_EQ(r.areas[1].offset, TESTDEV_BAR2_HOLE_END);
	ASSERT_EQ(r.areas[1].size, TESTDEV_BAR2_SIZE - TESTDEV_BAR2_HOLE_END);

	ASSERT_OK(vus_client_region_mmap(&r, 0, (void **)&area0, &len0));
	ASSERT_OK(vus_client_region_mmap(&r, 1, (void **)&area1, &len1));
	ASSERT_EQ(len1, TESTDEV_BAR2_SIZE - TESTDEV_BAR2_HOLE_END);

	/* The mapping and the messages see the same memory. */
	memcpy(area1 + 8, "mmap", 4);
	ASSERT_OK(vus_client_region_read(f->c, 2, TESTDEV_BAR2_HOLE_END + 8, &v, 4));
	assert_memory_equal(&v, "mmap", 4);
	ASSERT_OK(vus_client_region_write(f->c, 2, 16, "msg!", 4));
	assert_memory_equal(area0 + 16, "msg!", 4);
	ASSERT_EQ(rd(f, TESTDEV_REG_HOLE_HITS), 0);

	/* Only accesses touching the hole count. */
	ASSERT_OK(vus_client_region_write(f->c, 2, TESTDEV_BAR2_HOLE_OFF, "hole", 4));
	ASSERT_OK(vus_client_region_read(f->c, 2, TESTDEV_BAR2_HOLE_OFF, &v, 4));
	assert_memory_equal(&v, "hole", 4);
	ASSERT_OK(vus_client_region_read(f->c, 2, TESTDEV_BAR2_HOLE_OFF - 2, &v, 4));
	ASSERT_EQ(rd(f, TESTDEV_REG_HOLE_HITS), 3);

	munmap(area0, len0);
	munmap(area1, len1);
	close(r.fd);
}

/* ---- interrupts ----------------------------------------------------- */

static int intx_eventfd(struct fx *f)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	ASSERT_NONNEG(efd);
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
				      0, 1, &efd, NULL));
	return efd;
}

static void intx_unmask(struct fx *f)
{
	ASSERT_OK(vus_client_set_irqs(f->c, VUS_PCI_INTX_IRQ,
				      VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK,
				      0, 1, NULL, NULL));
}

static void test_irq_raise_ack(void **state)
{
	struct fx *f = *state;
	int efd = intx_eventfd(f);

	wr(f, TESTDEV_REG_IRQ_RAISE, 0x5);
	assert_true(efd_wait(efd, 2000));
	ASSERT_EQ(rd(f, TESTDEV_REG_IRQ_STATUS), 0x5);
	wr(f, TESTDEV_REG_IRQ_ACK, 0x1);
	ASSERT_EQ(rd(f, TESTDEV_REG_IRQ_STATUS), 0x4);
	wr(f, TESTDEV_REG_IRQ_ACK, 0x4);
	ASSERT_EQ(rd(f, TESTDEV_REG_IRQ_STATUS), 0);

	/* INTx is auto-masked after a trigger; the unmask lets the next one in. */
	intx_unmask(f);
	wr(f, TESTDEV_REG_IRQ_RAISE, 0x2);
	assert_true(efd_wait(efd, 2000));
	close(efd);
}

/* ---- DMA ------------------------------------------------------------ */

#define IOVA 0x10000000ull
#define GUEST_SIZE 0x40000u

static uint32_t dma_wait(struct fx *f)
{
	uint32_t st;
	int i;

	for (i = 0; i < 5000; i++) {
		/* Each request also lets the client serve the server's
		 * DMA_READ/WRITE messages for fd-less maps. */
		st = rd(f, TESTDEV_REG_DMA_STATUS);
		if (!(st & TESTDEV_DMA_BUSY))
			return st;
		vus_client_process(f->c, 1);
		test_sleep_ms(1);
	}
	fail_msg("DMA still busy after 5 s");
	return st;
}

static void dma_program(struct fx *f, uint64_t src, uint64_t dst, uint32_t len, uint32_t cmd)
{
	wr(f, TESTDEV_REG_DMA_SRC_LO, (uint32_t)src);
	wr(f, TESTDEV_REG_DMA_SRC_HI, (uint32_t)(src >> 32));
	wr(f, TESTDEV_REG_DMA_DST_LO, (uint32_t)dst);
	wr(f, TESTDEV_REG_DMA_DST_HI, (uint32_t)(dst >> 32));
	wr(f, TESTDEV_REG_DMA_LEN, len);
	wr(f, TESTDEV_REG_DMA_CMD, cmd);
}

static void dma_roundtrip(struct fx *f, bool with_fd)
{
	const uint32_t len = 0x21000; /* > 128 KiB: several messages for small clients */
	uint8_t *guest, *bar1;
	uint32_t i;
	int efd = intx_eventfd(f);

	ASSERT_OK(vus_client_dma_map(f->c, IOVA, GUEST_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, with_fd,
				     (void **)&guest));
	for (i = 0; i < len; i++)
		guest[0x100 + i] = (uint8_t)(i * 31 + 7);

	/* guest -> BAR1 at 0x1000, with an interrupt */
	dma_program(f, IOVA + 0x100, 0x1000, len,
		    TESTDEV_DMA_START | TESTDEV_DMA_IRQ);
	ASSERT_EQ(dma_wait(f) & TESTDEV_DMA_ERROR, 0);
	ASSERT_EQ(rd(f, TESTDEV_REG_DMA_COUNT), 1);
	assert_true(efd_wait(efd, 2000));
	ASSERT_EQ(rd(f, TESTDEV_REG_IRQ_STATUS), TESTDEV_IRQ_DMA);
	bar1 = malloc(len);
	assert_non_null(bar1);
	ASSERT_OK(vus_client_region_read(f->c, 1, 0x1000, bar1, len));
	assert_memory_equal(bar1, guest + 0x100, len);

	/* BAR1 -> guest at another place */
	dma_program(f, 0x1000, IOVA + GUEST_SIZE - len, len,
		    TESTDEV_DMA_START | TESTDEV_DMA_TO_HOST);
	ASSERT_EQ(dma_wait(f) & TESTDEV_DMA_ERROR, 0);
	ASSERT_EQ(rd(f, TESTDEV_REG_DMA_COUNT), 2);
	assert_memory_equal(guest + GUEST_SIZE - len, bar1, len);

	free(bar1);
	ASSERT_OK(vus_client_dma_unmap(f->c, IOVA, GUEST_SIZE, 0));
	close(efd);
}

static void test_dma_fd(void **state)
{
	dma_roundtrip(*state, true);
}

static void test_dma_messages(void **state)
{
	dma_roundtrip(*state, false);
}

/* The same through QEMU's DMA_READ/WRITE layout (picked by AUTO from the
 * client's VERSION fingerprint), with 64 KiB chunks. */
static void test_dma_messages_qemu_layout(void **state)
{
	struct vus_client_opts o = { .qemu_fingerprint = true, .max_data_xfer_size = 65536 };
	struct fx f;

	fx_start(&f, &o);
	ASSERT_EQ(vus_dev_dma_layout(testdev_dev(f.td)), VUS_DMA_LAYOUT_QEMU);
	dma_roundtrip(&f, false);
	fx_stop(&f);
}

static void test_dma_errors(void **state)
{
	struct fx *f = *state;
	uint32_t st;

	/* BAR1 range out of bounds: refused at start */
	dma_program(f, IOVA, TESTDEV_BAR1_SIZE - 8, 16, TESTDEV_DMA_START);
	st = dma_wait(f);
	assert_true(st & TESTDEV_DMA_ERROR);
	ASSERT_ERR(st >> 16, EINVAL);

	/* guest address not mapped */
	dma_program(f, IOVA, 0, 16, TESTDEV_DMA_START);
	st = dma_wait(f);
	assert_true(st & TESTDEV_DMA_ERROR);
	ASSERT_ERR(st >> 16, EFAULT);
	ASSERT_EQ(rd(f, TESTDEV_REG_DMA_COUNT), 0);

	/* a later success clears the error bit, keeps the last errno */
	dma_program(f, IOVA, 0, 0, TESTDEV_DMA_START);
	st = dma_wait(f);
	ASSERT_EQ(st & TESTDEV_DMA_ERROR, 0);
	ASSERT_ERR(st >> 16, EFAULT);
	ASSERT_EQ(rd(f, TESTDEV_REG_DMA_COUNT), 1);
}

/* ---- reset ---------------------------------------------------------- */

static void test_reset(void **state)
{
	struct fx *f = *state;
	uint32_t v;

	wr(f, TESTDEV_REG_SCRATCH, 77);
	wr(f, TESTDEV_REG_IRQ_RAISE, 1);
	ASSERT_OK(vus_client_region_write(f->c, 1, 0, "keep", 4));
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_EQ(rd(f, TESTDEV_REG_SCRATCH), 0);
	ASSERT_EQ(rd(f, TESTDEV_REG_IRQ_STATUS), 0);
	ASSERT_EQ(rd(f, TESTDEV_REG_RESETS), 1);
	ASSERT_OK(vus_client_region_read(f->c, 1, 0, &v, 4));
	assert_memory_equal(&v, "keep", 4);
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_EQ(rd(f, TESTDEV_REG_RESETS), 2);
}

/* ---- migration ------------------------------------------------------ */

#define CHUNK (256u << 10)

/* MIG_DATA_READ until a short read; returns the bytes appended. */
static size_t mig_drain(struct fx *f, uint8_t **buf, size_t *len)
{
	size_t start = *len;
	uint32_t got;

	do {
		*buf = realloc(*buf, *len + CHUNK);
		assert_non_null(*buf);
		ASSERT_OK(vus_client_mig_data_read(f->c, *buf + *len, CHUNK, &got));
		*len += got;
	} while (got == CHUNK);
	return *len - start;
}

static void fill_state(struct fx *f, uint8_t seed)
{
	uint8_t *p = malloc(TESTDEV_BAR1_SIZE);
	uint32_t i;

	assert_non_null(p);
	for (i = 0; i < TESTDEV_BAR1_SIZE; i++)
		p[i] = (uint8_t)(i * 3 + seed);
	ASSERT_OK(vus_client_region_write(f->c, 1, 0, p, TESTDEV_BAR1_SIZE));
	ASSERT_OK(vus_client_region_write(f->c, 2, 0, p, TESTDEV_BAR2_SIZE));
	wr(f, TESTDEV_REG_SCRATCH, 0x1000u + seed);
	wr(f, TESTDEV_REG_INVERT, 0x2000u + seed);
	free(p);
}

static void assert_same_state(struct fx *a, struct fx *b)
{
	static const uint32_t regs[] = {
		TESTDEV_REG_SCRATCH, TESTDEV_REG_INVERT, TESTDEV_REG_IRQ_STATUS,
		TESTDEV_REG_DMA_COUNT, TESTDEV_REG_HOLE_HITS, TESTDEV_REG_RESETS,
	};
	uint8_t *pa = malloc(TESTDEV_BAR1_SIZE), *pb = malloc(TESTDEV_BAR1_SIZE);
	uint32_t i;

	assert_non_null(pa);
	assert_non_null(pb);
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		ASSERT_EQ(rd(a, regs[i]), rd(b, regs[i]));
	for (i = 1; i <= 2; i++) {
		size_t size = i == 1 ? TESTDEV_BAR1_SIZE : TESTDEV_BAR2_SIZE;

		ASSERT_OK(vus_client_region_read(a->c, i, 0, pa, size));
		ASSERT_OK(vus_client_region_read(b->c, i, 0, pb, size));
		assert_memory_equal(pa, pb, size);
	}
	free(pa);
	free(pb);
}

static void test_migration_roundtrip(void **state)
{
	struct fx *src = *state, dst;
	uint8_t flags_buf[8], *stream = NULL;
	size_t len = 0, out_len, off;
	uint64_t flags;
	enum vus_mig_state s;

	ASSERT_OK(vus_client_device_feature(src->c,
					    VUS_FEATURE_MIGRATION | VUS_DEVICE_FEATURE_GET,
					    NULL, 0, flags_buf, sizeof(flags_buf), &out_len));
	ASSERT_EQ(out_len, 8);
	memcpy(&flags, flags_buf, 8);
	ASSERT_EQ(flags, VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY);

	fill_state(src, 1);
	ASSERT_OK(vus_client_mig_set_state(src->c, VUS_MIG_STATE_PRE_COPY));
	assert_true(mig_drain(src, &stream, &len) > 0);      /* pre-copy snapshot */
	fill_state(src, 2);                                   /* still running */
	ASSERT_OK(vus_client_mig_set_state(src->c, VUS_MIG_STATE_STOP_COPY));
	assert_true(mig_drain(src, &stream, &len) > 0);      /* final snapshot */
	ASSERT_OK(vus_client_mig_set_state(src->c, VUS_MIG_STATE_STOP));

	fx_start(&dst, NULL);
	ASSERT_OK(vus_client_mig_set_state(dst.c, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;

		ASSERT_OK(vus_client_mig_data_write(dst.c, stream + off, (uint32_t)n));
	}
	ASSERT_OK(vus_client_mig_set_state(dst.c, VUS_MIG_STATE_RUNNING));
	ASSERT_OK(vus_client_mig_get_state(dst.c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_RUNNING);
	ASSERT_OK(vus_client_mig_set_state(src->c, VUS_MIG_STATE_RUNNING));
	ASSERT_EQ(rd(&dst, TESTDEV_REG_SCRATCH), 0x1002);
	assert_same_state(src, &dst);
	fx_stop(&dst);
	free(stream);
}

/* testdev_opts.bar1_size (the fuzzers' 16 KiB BAR1): the region, the
 * DMA bound and the snapshot follow it; a snapshot moves only between
 * devices with the same size; other sizes are refused. */
static void test_bar1_size(void **state)
{
	static const uint32_t bad[] = { 0x800, 0x3000, 2 * TESTDEV_BAR1_SIZE };
	const struct testdev_opts small = { .bar1_size = 0x4000 };
	struct vus_client_region ri;
	struct fx src, dst, big;
	uint8_t buf[300], back[300], *stream = NULL;
	struct testdev *td;
	size_t len = 0, i;
	uint32_t st;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct testdev_opts o = { .bar1_size = bad[i] };

		ASSERT_ERR(testdev_create_opts("bad", &o, &td), -EINVAL);
	}
	fx_start_opts(&src, NULL, &small);
	ASSERT_OK(vus_client_region_info(src.c, 1, &ri));
	ASSERT_EQ(ri.info.size, 0x4000);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	ASSERT_OK(vus_client_region_write(src.c, 1, 0x4000 - 300, buf, 300));
	ASSERT_OK(vus_client_region_read(src.c, 1, 0x4000 - 300, back, 300));
	assert_memory_equal(buf, back, 300);
	assert_true(vus_client_region_write(src.c, 1, 0x4000 - 8, buf, 16) < 0);
	dma_program(&src, IOVA, 0x4000 - 8, 16, TESTDEV_DMA_START);
	st = dma_wait(&src);
	assert_true(st & TESTDEV_DMA_ERROR);
	ASSERT_ERR(st >> 16, EINVAL);

	ASSERT_OK(vus_client_mig_set_state(src.c, VUS_MIG_STATE_STOP_COPY));
	mig_drain(&src, &stream, &len);
	/* header, the registers, BAR1 and BAR2 */
	assert_true(len > 0x4000 + TESTDEV_BAR2_SIZE && len < 0x4000 + TESTDEV_BAR2_SIZE + 4096);
	fx_start_opts(&dst, NULL, &small);
	ASSERT_OK(vus_client_mig_set_state(dst.c, VUS_MIG_STATE_RESUMING));
	ASSERT_OK(vus_client_mig_data_write(dst.c, stream, (uint32_t)len));
	ASSERT_OK(vus_client_mig_set_state(dst.c, VUS_MIG_STATE_RUNNING));
	ASSERT_OK(vus_client_region_read(dst.c, 1, 0x4000 - 300, back, 300));
	assert_memory_equal(buf, back, 300);
	/* A 1 MiB BAR1 device refuses it (at its header, which the
	 * library's framing may hand over only at the commit point), and
	 * keeps its own state. */
	fx_start(&big, NULL);
	ASSERT_OK(vus_client_region_write(big.c, 1, 0x4000 - 300, "big", 3));
	ASSERT_OK(vus_client_mig_set_state(big.c, VUS_MIG_STATE_RESUMING));
	rc = vus_client_mig_data_write(big.c, stream, (uint32_t)len);
	assert_true(rc == 0 || rc == -EINVAL);
	ASSERT_ERR(vus_client_mig_set_state(big.c, VUS_MIG_STATE_RUNNING), -EINVAL);
	ASSERT_OK(vus_client_region_read(big.c, 1, 0x4000 - 300, back, 3));
	assert_memory_equal(back, "big", 3);
	fx_stop(&big);
	fx_stop(&dst);
	fx_stop(&src);
	free(stream);
}

static void test_migration_rejects_garbage(void **state)
{
	struct fx *f = *state;
	uint8_t junk[64];
	enum vus_mig_state s;

	memset(junk, 0x5a, sizeof(junk));
	wr(f, TESTDEV_REG_SCRATCH, 9);
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RESUMING));
	ASSERT_ERR(vus_client_mig_data_write(f->c, junk, sizeof(junk)), -EINVAL);
	/* refused again at the commit point (the device is then in ERROR),
	 * and nothing was applied: the device is as it was */
	ASSERT_ERR(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RUNNING), -EINVAL);
	ASSERT_OK(vus_client_mig_get_state(f->c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_ERROR);
	ASSERT_EQ(rd(f, TESTDEV_REG_SCRATCH), 9);
}

static void test_migration_rejects_cut_record(void **state)
{
	struct fx *f = *state;
	uint8_t *stream = NULL;
	size_t len = 0;
	enum vus_mig_state s;

	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP_COPY));
	mig_drain(f, &stream, &len);
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_RESUMING));
	ASSERT_OK(vus_client_mig_data_write(f->c, stream, 4096));
	/* RESUMING -> STOP is the commit point: a record cut short fails it,
	 * and the device is in ERROR (UAPI) */
	ASSERT_ERR(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP), -EINVAL);
	ASSERT_OK(vus_client_mig_get_state(f->c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_ERROR);
	/* a reset gets the device out of it */
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_OK(vus_client_mig_get_state(f->c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_RUNNING);
	free(stream);
}

/* ---- lost connection ------------------------------------------------ */

static void *serve_dev(void *arg)
{
	vus_dev_run(arg);
	return NULL;
}

/* A client that goes away with a transfer in flight: the transfer is
 * abandoned (recorded as failed with ENOTCONN), the rest of the state is
 * kept for the next client. */
static void test_lost_connection(void **state)
{
	char dir[] = "/tmp/vus-testdev-XXXXXX", path[64];
	struct fx f = { 0 };
	uint32_t st, cmd;
	struct pollfd p = { .events = POLLIN };
	void *guest;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/td.sock", dir);
	ASSERT_OK(testdev_create("lost", &f.td));
	vus_dev_set_log_level(testdev_dev(f.td), VUS_LOG_ERR);
	ASSERT_OK(vus_dev_listen(testdev_dev(f.td), path));
	ASSERT_OK(pthread_create(&f.th, NULL, serve_dev, testdev_dev(f.td)));
	f.running = true;

	ASSERT_OK(vus_client_connect(path, NULL, &f.c));
	p.fd = vus_client_fd(f.c);
	wr(&f, TESTDEV_REG_SCRATCH, 42);
	ASSERT_OK(vus_client_dma_map(f.c, IOVA, GUEST_SIZE, VUS_DMA_MAP_FLAG_READ, false,
				     &guest));
	dma_program(&f, IOVA, 0, 4096, 0);
	/* Start with a posted write (nothing waits, so nothing serves the
	 * DMA_READ it causes); leave once that request has arrived. */
	cmd = TESTDEV_DMA_START;
	ASSERT_OK(vus_client_region_write_posted(f.c, 0, TESTDEV_REG_DMA_CMD, &cmd, 4));
	ASSERT_EQ(poll(&p, 1, 5000), 1);
	vus_client_close(f.c);

	ASSERT_OK(vus_client_connect(path, NULL, &f.c));
	st = dma_wait(&f);
	ASSERT_EQ(st & TESTDEV_DMA_ERROR, TESTDEV_DMA_ERROR);
	ASSERT_ERR(st >> 16, ENOTCONN);
	ASSERT_EQ(rd(&f, TESTDEV_REG_SCRATCH), 42);
	ASSERT_EQ(rd(&f, TESTDEV_REG_DMA_COUNT), 0);
	fx_stop(&f);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar1_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar2_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_raise_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_messages, setup, teardown),
		cmocka_unit_test(test_dma_messages_qemu_layout),
		cmocka_unit_test_setup_teardown(test_dma_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test(test_lost_connection),
		cmocka_unit_test_setup_teardown(test_migration_roundtrip, setup, teardown),
		cmocka_unit_test(test_bar1_size),
		cmocka_unit_test_setup_teardown(test_migration_rejects_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_rejects_cut_record, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
