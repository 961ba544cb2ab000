/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu I/O through the userspace driver (docs/nvme-testing.md): data
 * round trips with every PRP and SGL shape, on many queues at once, with
 * DMA through fds and through messages; Write Zeroes, Dataset Management,
 * Compare, Flush, MDTS. Section numbers: NVM Express Base 1.4c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "nvme_rig.h"

struct buf {
	uint8_t *p;
	uint64_t iova;
	size_t size;
};

static struct buf buf_new(struct nvme_rig *r, size_t size)
{
	struct buf b = { .size = size };

	b.p = nvme_drv_alloc(r->d, size, &b.iova);
	assert_non_null(b.p);
	return b;
}

static void buf_free(struct nvme_rig *r, struct buf *b)
{
	nvme_drv_free(r->d, b->p, b->size);
}

/* Write len bytes of a pattern at slba through one shape, read them back
 * through another into a different place, compare. off: the byte offset
 * of the data in its first page (both ways). */
static void round_trip(struct nvme_rig *r, uint16_t qid, uint64_t slba, size_t len, size_t off,
		       enum nvme_drv_shape wshape, enum nvme_drv_shape rshape, uint32_t seed)
{
	size_t span = off + len;
	struct buf w = buf_new(r, span), rd = buf_new(r, span);
	uint32_t nlb = (uint32_t)(len / r->lba);

	nvme_rig_pattern(w.p + off, len, seed);
	memset(rd.p, 0xa5, span);
	assert_nvme_ok(nvme_drv_rw(r->d, qid, NVD_CMD_WRITE, 1, slba, nlb, w.iova + off, len,
				   wshape));
	assert_nvme_ok(nvme_drv_rw(r->d, qid, NVD_CMD_READ, 1, slba, nlb, rd.iova + off, len,
				   rshape));
	assert_memory_equal(rd.p + off, w.p + off, len);
	/* Nothing written outside the buffer's bytes. */
	for (size_t i = 0; i < off; i++)
		ASSERT_EQ(rd.p[i], 0xa5);
	buf_free(r, &w);
	buf_free(r, &rd);
}

static void prp_shapes(const struct nvme_rig_opts *o)
{
	struct nvme_rig r;

	nvme_rig_start(&r, o);
	nvme_rig_io_queues(&r, 1, 64);
	/* PRP1 only: one block, page-aligned and at an offset. */
	round_trip(&r, 1, 0, r.lba, 0, NVME_DRV_PRP, NVME_DRV_PRP, 1);
	round_trip(&r, 1, 8, r.lba, 1024, NVME_DRV_PRP, NVME_DRV_PRP, 2);
	/* A whole page at offset 0: still PRP1 only. */
	round_trip(&r, 1, 16, 4096, 0, NVME_DRV_PRP, NVME_DRV_PRP, 3);
	/* PRP1 + PRP2: two pages aligned, one page across a boundary. */
	round_trip(&r, 1, 32, 8192, 0, NVME_DRV_PRP, NVME_DRV_PRP, 4);
	round_trip(&r, 1, 48, 4096, 2048, NVME_DRV_PRP, NVME_DRV_PRP, 5);
	/* PRP lists: aligned, unaligned start (one more entry). */
	round_trip(&r, 1, 64, 65536, 0, NVME_DRV_PRP, NVME_DRV_PRP, 6);
	round_trip(&r, 1, 256, 65536, 512, NVME_DRV_PRP, NVME_DRV_PRP, 7);
	/* Three pages exactly: PRP2 is a list of two. */
	round_trip(&r, 1, 512, 12288, 0, NVME_DRV_PRP, NVME_DRV_PRP, 8);
	nvme_rig_stop(&r);
}

static void test_prp_shapes(void **state)
{
	prp_shapes(NULL);
}

static void test_prp_shapes_no_fd(void **state)
{
	struct nvme_rig_opts o = { .no_fd = true };

	prp_shapes(&o);
}

static void test_prp_shapes_polled(void **state)
{
	struct nvme_rig_opts o = { .no_irq = true };

	prp_shapes(&o);
}

/* A PRP list longer than one page (511 entries + a chain pointer): needs
 * a transfer over 2 MiB, so MDTS 4 MiB. */
static void test_prp_chained_list(void **state)
{
	struct nvme_rig_opts o = { .emu.mdts = 10, .emu.size = 16u << 20, .mem_size = 32u << 20 };
	struct nvme_rig r;

	nvme_rig_start(&r, &o);
	if (nvme_drv_mdts_bytes(r.d) && nvme_drv_mdts_bytes(r.d) < (3u << 20)) {
		nvme_rig_stop(&r);
		fail_msg("MDTS %u bytes with mdts=10 asked", nvme_drv_mdts_bytes(r.d));
	}
	nvme_rig_io_queues(&r, 1, 16);
	round_trip(&r, 1, 0, 3u << 20, 0, NVME_DRV_PRP, NVME_DRV_PRP, 9);
	round_trip(&r, 1, 8192, (2u << 20) + 4096, 256, NVME_DRV_PRP, NVME_DRV_PRP, 10);
	nvme_rig_stop(&r);
}

static void need_sgl(struct nvme_rig *r)
{
	uint32_t sgls = nvd_le32(nvme_drv_id_ctrl(r->d), NVD_IDC_SGLS);

	if ((sgls & 3) == 0) {
		nvme_rig_stop(r);
		fail_msg("Identify Controller SGLS = 0x%08x: SGLs not advertised", sgls);
	}
}

static void test_sgl_shapes(void **state)
{
	struct nvme_rig r;

	nvme_rig_start(&r, NULL);
	need_sgl(&r);
	nvme_rig_io_queues(&r, 1, 64);
	round_trip(&r, 1, 0, 4096, 0, NVME_DRV_SGL, NVME_DRV_SGL, 11);
	round_trip(&r, 1, 8, 65536, 0, NVME_DRV_SGL, NVME_DRV_SGL_LIST, 12);
	round_trip(&r, 1, 256, 65536, 512, NVME_DRV_SGL_LIST, NVME_DRV_SGL, 13);
	/* Mixed: written by PRP, read by SGL and the other way. */
	round_trip(&r, 1, 512, 32768, 0, NVME_DRV_PRP, NVME_DRV_SGL_LIST, 14);
	round_trip(&r, 1, 768, 32768, 1536, NVME_DRV_SGL, NVME_DRV_PRP, 15);
	nvme_rig_stop(&r);
}

/* Scattered SGL: unequal segments in separate buffers. */
static void test_sgl_scatter(void **state)
{
	static const uint32_t lens[] = { 512, 1536, 4096, 2048, 512 };
	struct nvme_drv_seg segs[5];
	struct buf parts[5], whole, back;
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	size_t total = 0, at = 0;
	unsigned i;

	nvme_rig_start(&r, NULL);
	need_sgl(&r);
	nvme_rig_io_queues(&r, 1, 16);
	for (i = 0; i < 5; i++)
		total += lens[i];
	whole = buf_new(&r, total);
	back = buf_new(&r, total);
	nvme_rig_pattern(whole.p, total, 16);
	for (i = 0; i < 5; i++) {
		parts[i] = buf_new(&r, lens[i] + 64);
		/* Each segment at a different offset in its page. */
		segs[i].iova = parts[i].iova + 64 * i;
		segs[i].len = lens[i];
		memcpy(parts[i].p + 64 * i, whole.p + at, lens[i]);
		at += lens[i];
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.sqe.opc = NVD_CMD_WRITE;
	cmd.sqe.nsid = 1;
	cmd.sqe.cdw10 = 100;
	cmd.sqe.cdw12 = (uint32_t)(total / r.lba - 1);
	ASSERT_OK(nvme_drv_sgl(r.d, &cmd, segs, 5));
	assert_nvme_ok(nvme_drv_exec(r.d, 1, &cmd, NULL));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 100, (uint32_t)(total / r.lba),
				   back.iova, total, NVME_DRV_PRP));
	assert_memory_equal(back.p, whole.p, total);
	nvme_rig_stop(&r);
}

/* Four queue pairs, each with many commands in flight at once, each on
 * its own LBA range; then everything read back and checked. */
static void many_queues(const struct nvme_rig_opts *o)
{
	enum { NQ = 4, PERQ = 24, BLK = 8192 };
	struct buf w = { 0 }, rd = { 0 };
	uint16_t cids[NQ][PERQ];
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	uint32_t nlb;
	unsigned q, i;

	nvme_rig_start(&r, o);
	nvme_rig_io_queues(&r, NQ, 32);
	nlb = BLK / r.lba;
	w = buf_new(&r, (size_t)NQ * PERQ * BLK);
	rd = buf_new(&r, (size_t)NQ * PERQ * BLK);
	nvme_rig_pattern(w.p, w.size, 77);
	for (i = 0; i < PERQ; i++)
		for (q = 0; q < NQ; q++) {
			size_t k = (size_t)q * PERQ + i;

			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1, k * nlb, nlb,
							 w.iova + k * BLK, BLK,
							 i % 2 ? NVME_DRV_PRP : NVME_DRV_SGL_LIST));
			ASSERT_OK(nvme_drv_submit(r.d, (uint16_t)(q + 1), &cmd, &cids[q][i]));
		}
	for (q = 0; q < NQ; q++)
		for (i = 0; i < PERQ; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, (uint16_t)(q + 1), cids[q][i], NULL));
	/* Read back crosswise: queue q reads what queue q+1 wrote. */
	for (i = 0; i < PERQ; i++)
		for (q = 0; q < NQ; q++) {
			size_t k = (size_t)((q + 1) % NQ) * PERQ + i;

			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1, k * nlb, nlb,
							 rd.iova + k * BLK, BLK, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, (uint16_t)(q + 1), &cmd, &cids[q][i]));
		}
	for (q = 0; q < NQ; q++)
		for (i = 0; i < PERQ; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, (uint16_t)(q + 1), cids[q][i], NULL));
	assert_memory_equal(rd.p, w.p, w.size);
	nvme_rig_stop(&r);
}

static void test_many_queues(void **state)
{
	many_queues(NULL);
}

/* The controller's polling mode (a thread watches the queues): data
 * round trips with plain and with shadow doorbells. */
static void test_poll_mode(void **state)
{
	struct nvme_rig_opts o = { .emu.poll = true };
	struct nvme_rig r;

	nvme_rig_start(&r, &o);
	nvme_rig_io_queues(&r, 1, 32);
	round_trip(&r, 1, 0, 65536, 512, NVME_DRV_PRP, NVME_DRV_SGL_LIST, 60);
	nvme_rig_stop(&r);

	nvme_rig_start(&r, &o);
	assert_nvme_ok(nvme_drv_dbbuf_enable(r.d));
	nvme_rig_io_queues(&r, 2, 32);
	for (unsigned i = 0; i < 20; i++)
		round_trip(&r, (uint16_t)(1 + i % 2), i * 16u, 8192, 0, NVME_DRV_PRP, NVME_DRV_PRP,
			   61 + i);
	nvme_rig_stop(&r);
}

/*
 * QEMU maps its ROMs read-only and without fd even when guest RAM has
 * fds. Such a window must not turn the controller into the no-fd mode
 * (worker thread, CQEs by message, Doorbell Buffer Config refused): the
 * I/O in RAM sends no DMA message, shadow doorbells are accepted, and a
 * Write whose data is in the read-only window still runs (on the worker,
 * by DMA_READ messages) and reads back.
 */
static void test_rom_window_no_fd(void **state)
{
	const uint64_t rom = 0xfffc0000ull, rom_size = 65536;
	struct nvme_rig r;
	uint8_t *romp;
	uint64_t before;
	struct buf rd;

	nvme_rig_start(&r, NULL);
	ASSERT_OK(vus_client_dma_map(r.c, rom, rom_size, VUS_DMA_MAP_FLAG_READ, false,
				     (void **)&romp));
	nvme_rig_pattern(romp, rom_size, 70);
	assert_nvme_ok(nvme_drv_dbbuf_enable(r.d));
	nvme_rig_io_queues(&r, 1, 32);
	before = vus_client_dma_requests(r.c);
	for (unsigned i = 0; i < 8; i++)
		round_trip(&r, 1, i * 16u, 8192, 0, NVME_DRV_PRP, NVME_DRV_PRP, 71 + i);
	ASSERT_EQ(vus_client_dma_requests(r.c), before);

	rd = buf_new(&r, 8192);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 256, (uint32_t)(8192 / r.lba),
				   rom + 4096, 8192, NVME_DRV_PRP));
	assert_true(vus_client_dma_requests(r.c) > before);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 256, (uint32_t)(8192 / r.lba),
				   rd.iova, 8192, NVME_DRV_PRP));
	assert_memory_equal(rd.p, romp + 4096, 8192);
	buf_free(&r, &rd);

	/* Inline again afterwards. */
	before = vus_client_dma_requests(r.c);
	round_trip(&r, 1, 512, 8192, 0, NVME_DRV_PRP, NVME_DRV_PRP, 80);
	ASSERT_EQ(vus_client_dma_requests(r.c), before);
	nvme_rig_stop(&r);
}

static void test_many_queues_no_fd(void **state)
{
	struct nvme_rig_opts o = { .no_fd = true };

	many_queues(&o);
}

/* A full queue: depth - 1 commands outstanding on a 16-entry queue,
 * twice around the ring. */
static void test_queue_wrap(void **state)
{
	struct nvme_rig r;
	struct nvme_drv_cmd cmd;
	uint16_t cids[15];
	struct buf b;
	unsigned round, i;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 16);
	b = buf_new(&r, 15 * 4096);
	for (round = 0; round < 3; round++) {
		nvme_rig_pattern(b.p, b.size, 100 + round);
		for (i = 0; i < 15; i++) {
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1,
							 (uint64_t)i * 4096 / r.lba, 4096 / r.lba,
							 b.iova + i * 4096, 4096, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, &cids[i]));
		}
		for (i = 0; i < 15; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, 1, cids[i], NULL));
	}
	round_trip(&r, 1, 0, 15 * 4096, 0, NVME_DRV_PRP, NVME_DRV_PRP, 102);
	nvme_rig_stop(&r);
}

/*
 * The benchmark's driver loop (bench/vus-nvme-bench.c), checked: shadow
 * doorbells, 32 reads in flight, each completion's buffer verified and a
 * new read queued in its place, the tail published once per reap, reaped
 * both with the spin before sleeping (nvme_drv_reap_spin) and without.
 * First 100 commands run one by one with nvme_drv_wait on the same queue,
 * which leaves stale entries in the driver's completion list (more than
 * it holds): reaping must skip them and hand out every completion once.
 */
static void test_pipelined_reads_verified(void **state)
{
	enum { QD = 32, BLOCKS = 512, READS = 3000 };
	struct nvme_drv_done done[64];
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	struct buf data, bufs;
	uint64_t seed = 7, blk_of[64];
	unsigned buf_of[64], queued = 0, reaped = 0, k;
	bool busy[64] = { false };
	uint8_t *want = malloc(4096);
	uint16_t cid;
	int n, i;

	assert_non_null(want);
	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 64);
	assert_int_equal(nvme_drv_dbbuf_enable(r.d), 0);
	data = buf_new(&r, 4096);
	bufs = buf_new(&r, QD * 4096);
	for (k = 0; k < 100; k++) {
		nvme_rig_pattern(data.p, 4096, 1000 + k % BLOCKS);
		ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1,
					  (uint64_t)(k % BLOCKS) * 4096 / r.lba, 4096 / r.lba,
					  data.iova, 4096, NVME_DRV_PRP));
		assert_nvme_ok(nvme_drv_exec(r.d, 1, &cmd, NULL));
	}
	for (k = 100; k < BLOCKS; k++) {
		nvme_rig_pattern(data.p, 4096, 1000 + k);
		assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, (uint64_t)k * 4096 / r.lba,
					   4096 / r.lba, data.iova, 4096, NVME_DRV_PRP));
	}
	for (;;) {
		/* Refill: one read per free buffer, published once. */
		for (k = 0; k < QD && queued < READS; k++) {
			uint64_t blk;

			if (busy[k])
				continue;
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			blk = (seed >> 33) % BLOCKS;
			memset(bufs.p + k * 4096, 0, 4096);
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1, blk * 4096 / r.lba,
						  4096 / r.lba, bufs.iova + k * 4096, 4096,
						  NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_queue(r.d, 1, &cmd, &cid));
			assert_true(cid < 64 && !busy[k]);
			busy[k] = true;
			buf_of[cid] = k;
			blk_of[cid] = blk;
			queued++;
		}
		ASSERT_OK(nvme_drv_sq_ring(r.d, 1));
		if (reaped == READS)
			break;
		n = reaped % 3 ? nvme_drv_reap_spin(r.d, 1, done, 64, 20000)
			       : nvme_drv_reap(r.d, 1, done, 64, true);
		if (n <= 0)
			fail_msg("reaping: %d after %u of %u reads", n, reaped, READS);
		for (i = 0; i < n; i++) {
			assert_int_equal(done[i].status, 0);
			assert_true(done[i].cid < 64);
			k = buf_of[done[i].cid];
			if (k >= QD || !busy[k])
				fail_msg("completion for cid %u twice", done[i].cid);
			nvme_rig_pattern(want, 4096, 1000 + (uint32_t)blk_of[done[i].cid]);
			assert_memory_equal(bufs.p + k * 4096, want, 4096);
			busy[k] = false;
			buf_of[done[i].cid] = 64;
		}
		reaped += (unsigned)n;
	}
	assert_int_equal(nvme_drv_inflight(r.d, 1), 0);
	free(want);
	nvme_rig_stop(&r);
}

static void expect_fill(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			fail_msg("byte %zu is 0x%02x, expected 0x%02x", i, p[i], v);
}

static void test_write_zeroes(void **state)
{
	struct nvme_drv_cmd cmd = { 0 };
	struct nvme_rig r;
	struct buf w, rd;
	const uint8_t *id;

	nvme_rig_start(&r, NULL);
	id = nvme_drv_id_ctrl(r.d);
	if (!(nvd_le16(id, NVD_IDC_ONCS) & (1u << 3))) {
		nvme_rig_stop(&r);
		fail_msg("ONCS 0x%04x: Write Zeroes not advertised", nvd_le16(id, NVD_IDC_ONCS));
	}
	nvme_rig_io_queues(&r, 1, 16);
	w = buf_new(&r, 16 * r.lba);
	rd = buf_new(&r, 16 * r.lba);
	memset(w.p, 0x5a, w.size);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 32, 16, w.iova, w.size,
				   NVME_DRV_PRP));
	/* Zero blocks 36..43 (NLB 0's based), no data pointer. */
	cmd.sqe.opc = NVD_CMD_WRITE_ZEROES;
	cmd.sqe.nsid = 1;
	cmd.sqe.cdw10 = 36;
	cmd.sqe.cdw12 = 8 - 1;
	assert_nvme_ok(nvme_drv_exec(r.d, 1, &cmd, NULL));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 32, 16, rd.iova, rd.size,
				   NVME_DRV_PRP));
	expect_fill(rd.p, 4 * r.lba, 0x5a);
	expect_fill(rd.p + 4 * r.lba, 8 * r.lba, 0);
	expect_fill(rd.p + 12 * r.lba, 4 * r.lba, 0x5a);
	/* Out of range. */
	cmd = (struct nvme_drv_cmd){ 0 };
	cmd.sqe.opc = NVD_CMD_WRITE_ZEROES;
	cmd.sqe.nsid = 1;
	cmd.sqe.cdw10 = (uint32_t)(r.nsze - 1);
	cmd.sqe.cdw11 = (uint32_t)((r.nsze - 1) >> 32);
	cmd.sqe.cdw12 = 1; /* two blocks: one past the end */
	assert_nvme_status(nvme_drv_exec(r.d, 1, &cmd, NULL), 0, NVD_SC_LBA_RANGE);
	nvme_rig_stop(&r);
}

static void test_dsm_deallocate(void **state)
{
	struct nvme_drv_cmd cmd = { 0 };
	struct nvme_rig r;
	struct buf w, rd, ranges;
	uint8_t *idns = malloc(NVD_PAGE);
	uint32_t *rg;
	uint8_t dlfeat;

	assert_non_null(idns);
	nvme_rig_start(&r, NULL);
	if (!(nvd_le16(nvme_drv_id_ctrl(r.d), NVD_IDC_ONCS) & (1u << 2))) {
		nvme_rig_stop(&r);
		free(idns);
		fail_msg("ONCS: Dataset Management not advertised");
	}
	assert_nvme_ok(nvme_drv_identify(r.d, 0, 1, idns));
	dlfeat = idns[NVD_IDN_DLFEAT];
	free(idns);
	nvme_rig_io_queues(&r, 1, 16);
	w = buf_new(&r, 32 * r.lba);
	rd = buf_new(&r, 32 * r.lba);
	memset(w.p, 0x77, w.size);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 64, 32, w.iova, w.size,
				   NVME_DRV_PRP));
	/* Two ranges (NVM 6.7: 16 bytes each: attributes, length, SLBA). */
	ranges = buf_new(&r, 4096);
	rg = (uint32_t *)ranges.p;
	rg[1] = 8;  /* blocks 64..71 */
	rg[2] = 64;
	rg[5] = 8;  /* blocks 80..87 */
	rg[6] = 80;
	cmd.sqe.opc = NVD_CMD_DSM;
	cmd.sqe.nsid = 1;
	cmd.sqe.cdw10 = 2 - 1; /* NR, 0's based */
	cmd.sqe.cdw11 = 1u << 2; /* AD: deallocate */
	cmd.sqe.prp1 = ranges.iova;
	assert_nvme_ok(nvme_drv_exec(r.d, 1, &cmd, NULL));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 64, 32, rd.iova, rd.size,
				   NVME_DRV_PRP));
	/* Untouched blocks keep their data whatever DLFEAT says. */
	expect_fill(rd.p + 8 * r.lba, 8 * r.lba, 0x77);
	expect_fill(rd.p + 24 * r.lba, 8 * r.lba, 0x77);
	/* DLFEAT bits 2:0: 001b deallocated blocks read 0, 010b read FFh. */
	if ((dlfeat & 7) == 1) {
		expect_fill(rd.p, 8 * r.lba, 0);
		expect_fill(rd.p + 16 * r.lba, 8 * r.lba, 0);
	} else if ((dlfeat & 7) == 2) {
		expect_fill(rd.p, 8 * r.lba, 0xff);
		expect_fill(rd.p + 16 * r.lba, 8 * r.lba, 0xff);
	} else {
		print_message("DLFEAT 0x%02x: deallocated contents not reported, not checked\n",
			      dlfeat);
	}
	/* A range past the end: LBA Out of Range. */
	memset(ranges.p, 0, 64);
	rg[1] = 2;
	rg[2] = (uint32_t)(r.nsze - 1);
	rg[3] = (uint32_t)((r.nsze - 1) >> 32);
	cmd = (struct nvme_drv_cmd){ 0 };
	cmd.sqe.opc = NVD_CMD_DSM;
	cmd.sqe.nsid = 1;
	cmd.sqe.cdw11 = 1u << 2;
	cmd.sqe.prp1 = ranges.iova;
	assert_nvme_status(nvme_drv_exec(r.d, 1, &cmd, NULL), 0, NVD_SC_LBA_RANGE);
	nvme_rig_stop(&r);
}

static void test_compare(void **state)
{
	struct nvme_rig r;
	struct buf w;

	nvme_rig_start(&r, NULL);
	if (!(nvd_le16(nvme_drv_id_ctrl(r.d), NVD_IDC_ONCS) & 1u)) {
		nvme_rig_stop(&r);
		fail_msg("ONCS: Compare not advertised");
	}
	nvme_rig_io_queues(&r, 1, 16);
	w = buf_new(&r, 16 * r.lba);
	nvme_rig_pattern(w.p, w.size, 31);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 10, 16, w.iova, w.size,
				   NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_COMPARE, 1, 10, 16, w.iova, w.size,
				   NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_COMPARE, 1, 10, 16, w.iova, w.size,
				   NVME_DRV_SGL_LIST));
	/* One byte differs in the last block: Compare Failure (SCT 2). */
	w.p[w.size - 1] ^= 1;
	assert_nvme_status(nvme_drv_rw(r.d, 1, NVD_CMD_COMPARE, 1, 10, 16, w.iova, w.size,
				       NVME_DRV_PRP),
			   2, NVD_SC_COMPARE_FAILED);
	nvme_rig_stop(&r);
}

static void test_flush(void **state)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_CMD_FLUSH, .nsid = 1 } };
	struct nvme_rig r;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 16);
	round_trip(&r, 1, 0, 4096, 0, NVME_DRV_PRP, NVME_DRV_PRP, 40);
	assert_nvme_ok(nvme_drv_exec(r.d, 1, &cmd, NULL));
	nvme_rig_stop(&r);
}

/* Flush to a file-backed namespace; the data is in the file after it. */
static void test_file_backend(void **state)
{
	char path[] = "/tmp/vus-nvme-file-XXXXXX";
	struct nvme_rig_opts o = { .emu.size = 4u << 20 };
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_CMD_FLUSH, .nsid = 1 } };
	struct nvme_rig r;
	struct buf w;
	uint8_t back[4096];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	o.emu.file = path;
	nvme_rig_start(&r, &o);
	nvme_rig_io_queues(&r, 1, 16);
	w = buf_new(&r, 4096);
	nvme_rig_pattern(w.p, 4096, 41);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 8192 / r.lba, 4096 / r.lba, w.iova,
				   4096, NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_exec(r.d, 1, &cmd, NULL));
	ASSERT_EQ(pread(fd, back, sizeof(back), 8192), (ssize_t)sizeof(back));
	assert_memory_equal(back, w.p, 4096);
	nvme_rig_stop(&r);
	close(fd);
	unlink(path);
}

/* MDTS (5.15.2.2): a transfer of exactly MDTS works, one block more is
 * Invalid Field in Command. */
static void test_mdts(void **state)
{
	struct nvme_rig r;
	uint32_t mdts;
	struct buf b;

	nvme_rig_start(&r, NULL);
	mdts = nvme_drv_mdts_bytes(r.d);
	if (!mdts) {
		nvme_rig_stop(&r);
		fail_msg("MDTS 0 (unlimited): the controller must enforce a limit");
	}
	nvme_rig_io_queues(&r, 1, 16);
	b = buf_new(&r, mdts + r.lba);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 0, mdts / r.lba, b.iova, mdts,
				   NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, mdts / r.lba, b.iova, mdts,
				   NVME_DRV_SGL));
	assert_nvme_status(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, mdts / r.lba + 1, b.iova,
				       mdts + r.lba, NVME_DRV_PRP),
			   0, NVD_SC_INVALID_FIELD);
	assert_nvme_status(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 0, mdts / r.lba + 1, b.iova,
				       mdts + r.lba, NVME_DRV_SGL),
			   0, NVD_SC_INVALID_FIELD);
	nvme_rig_stop(&r);
}

/* The last block of the namespace is usable; 4 KiB blocks work too. */
static void test_edges_and_4k(void **state)
{
	struct nvme_rig_opts o = { .emu.lba_size = 4096, .emu.size = 8u << 20 };
	struct nvme_rig r;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 16);
	round_trip(&r, 1, r.nsze - 1, r.lba, 0, NVME_DRV_PRP, NVME_DRV_PRP, 50);
	nvme_rig_stop(&r);

	nvme_rig_start(&r, &o);
	ASSERT_EQ(r.lba, 4096);
	ASSERT_EQ(r.nsze, (8u << 20) / 4096);
	nvme_rig_io_queues(&r, 1, 16);
	round_trip(&r, 1, r.nsze - 4, 4 * 4096, 0, NVME_DRV_PRP, NVME_DRV_SGL_LIST, 51);
	nvme_rig_stop(&r);
}

/* Did efd get signalled within ms? Consumes the count. */
static bool efd_fired(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(efd, &v, sizeof(v)) == (ssize_t)sizeof(v) && v > 0;
}

/*
 * Wait until the processor has finished the pass that posted the last
 * completion the driver has seen. A pass posts its CQ entries first and
 * raises the interrupts at its end (docs/nvme.md section 5), so the
 * driver can reap an admin completion before vector 0 is signalled; that
 * late signal is the admin CQ's own, legitimate interrupt. The queue
 * statistics only try-lock the processor: success means no pass runs.
 */
static void processor_settle(struct nvme_rig *r)
{
	struct nvme_emu_qstats st[1];
	int tries = 0;

	while (nvme_emu_queue_stats(r->emu, st, 1) == -EAGAIN && tries++ < 10000)
		usleep(1000);
	assert_true(tries <= 10000);
}

/* One MSI-X vector per completion queue (issue 13): a completion on CQ
 * 2 signals vector 2's eventfd and no other. Vector 0 belongs to the
 * admin CQ, whose completions (creating the queues) signal it
 * legitimately: they are let finish first. */
static void test_msix_vector_per_queue(void **state)
{
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	uint16_t cid;
	uint64_t iova;
	unsigned v;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 3, 16);
	assert_true(nvme_drv_nvec(r.d) >= 4);
	assert_non_null(nvme_drv_alloc(r.d, 4096, &iova));
	for (uint16_t q = 1; q <= 3; q++) {
		processor_settle(&r);
		for (v = 0; v < 4; v++)
			efd_fired(nvme_drv_vector_efd(r.d, v), 0);
		ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1, 0, 1, iova, r.lba,
						 NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_submit(r.d, q, &cmd, &cid));
		if (!efd_fired(nvme_drv_vector_efd(r.d, q), 2000))
			fail_msg("completion on CQ %u: its vector %u was not signalled", q, q);
		for (v = 0; v < 4; v++)
			if (v != q && efd_fired(nvme_drv_vector_efd(r.d, v), 0))
				fail_msg("completion on CQ %u signalled vector %u too", q, v);
		assert_nvme_ok(nvme_drv_wait(r.d, q, cid, NULL));
	}
	nvme_rig_stop(&r);
}

/* Interrupts raised so far for I/O queue qid's CQ (controller stats). */
static uint64_t cq_irqs(struct nvme_rig *r, uint16_t qid)
{
	struct nvme_emu_qstats st[8];
	int n, i, tries = 0;

	while ((n = nvme_emu_queue_stats(r->emu, st, 8)) == -EAGAIN && tries++ < 1000)
		usleep(1000);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		if (st[i].qid == qid)
			return st[i].irqs;
	fail_msg("no statistics for queue %u", qid);
	return 0;
}

/* 32 reads on qid, each submitted with its own doorbell (no shadow
 * doorbells: every one is a message and a pass of its own), then every
 * completion reaped and checked; the CQ's interrupts meanwhile. */
static uint64_t burst_irqs(struct nvme_rig *r, uint16_t qid, uint64_t iova)
{
	struct nvme_drv_done done[64];
	struct nvme_drv_cmd cmd;
	uint64_t before = cq_irqs(r, qid);
	unsigned seen = 0, k;
	bool ok[32] = { false };
	uint16_t cids[32];
	int n, i;

	for (k = 0; k < 32; k++) {
		ASSERT_OK(nvme_drv_rw_cmd(r->d, &cmd, NVD_CMD_READ, 1, k, 1,
					  iova + (uint64_t)k * r->lba, r->lba, NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_submit(r->d, qid, &cmd, &cids[k]));
	}
	while (seen < 32) {
		n = nvme_drv_reap(r->d, qid, done, 64, true);
		if (n <= 0)
			fail_msg("reaping: %d after %u of 32 completions", n, seen);
		for (i = 0; i < n; i++) {
			assert_int_equal(done[i].status, 0);
			for (k = 0; k < 32; k++)
				if (cids[k] == done[i].cid && !ok[k])
					break;
			if (k == 32)
				fail_msg("completion for cid %u, not one outstanding", done[i].cid);
			ok[k] = true;
		}
		seen += (unsigned)n;
	}
	assert_int_equal(nvme_drv_inflight(r->d, qid), 0);
	return cq_irqs(r, qid) - before;
}

/*
 * Interrupt Coalescing (Feature 08h) is applied: 32 completions raise
 * one interrupt per pass without it, one (a few on a loaded host) with a
 * threshold of 32 entries, and none is lost; below the threshold the aggregation time
 * raises the interrupt; a vector with CD set (Feature 09h) is never
 * coalesced.
 */
static void test_irq_coalescing(void **state)
{
	struct nvme_rig_opts o = { .emu.no_holdoff = true };
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	uint64_t iova, plain, coalesced, cd;
	uint16_t cid;
	uint32_t dw0 = 0;
	int efd;

	/* Plain is one interrupt per pass only without the controller's own
	 * holdoff (test_nvme_holdoff.c). */
	nvme_rig_start(&r, &o);
	nvme_rig_io_queues(&r, 1, 64);
	assert_non_null(nvme_drv_alloc(r.d, 32 * 4096, &iova));
	plain = burst_irqs(&r, 1, iova);

	/* THR 31 (32 entries, 0's based), TIME 255 (25.5 ms). */
	assert_nvme_ok(nvme_drv_set_features(r.d, NVD_FEAT_IRQ_COALESCE, 0xff1f, NULL));
	assert_nvme_ok(nvme_drv_get_features(r.d, NVD_FEAT_IRQ_COALESCE, 0, &dw0));
	assert_int_equal(dw0, 0xff1f);
	coalesced = burst_irqs(&r, 1, iova);
	print_message("interrupts for 32 single-doorbell reads: %llu plain, %llu coalesced\n",
		      (unsigned long long)plain, (unsigned long long)coalesced);
	/* Generous bounds: on a loaded host a pass can take longer than
	 * the aggregation time (then the held interrupt goes early). */
	assert_true(plain >= 8);
	assert_true(coalesced >= 1 && coalesced <= 4 && coalesced < plain);

	/* One command, far below the threshold: TIME (now 1 ms) raises it. */
	assert_nvme_ok(nvme_drv_set_features(r.d, NVD_FEAT_IRQ_COALESCE, 0x0a1f, NULL));
	efd = nvme_drv_vector_efd(r.d, 1);
	efd_fired(efd, 0);
	ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, &cid));
	if (!efd_fired(efd, 2000))
		fail_msg("a held interrupt was never raised (aggregation time 1 ms)");
	assert_nvme_ok(nvme_drv_wait(r.d, 1, cid, NULL));

	/* CD on vector 1: that CQ is not coalesced. */
	assert_nvme_ok(nvme_drv_set_features(r.d, NVD_FEAT_IRQ_COALESCE, 0xff1f, NULL));
	assert_nvme_ok(nvme_drv_set_features(r.d, NVD_FEAT_IRQ_CONFIG, 1u | 1u << 16, NULL));
	cd = burst_irqs(&r, 1, iova);
	print_message("with CD on vector 1: %llu\n", (unsigned long long)cd);
	assert_true(cd >= 8);
	nvme_rig_stop(&r);
}

static void intx_unmask(struct vus_client *c)
{
	ASSERT_OK(vus_client_set_irqs(c, VUS_PCI_INTX_IRQ,
					     VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_UNMASK, 0, 1,
					     NULL, NULL));
}

/* Without MSI-X (the driver leaves it disabled), INTx carries every
 * completion: all CQs on vector 0. */
static void test_intx_fallback(void **state)
{
	struct nvme_rig_opts o = { .no_irq = true };
	struct nvme_drv_cmd cmd = { 0 };
	struct nvme_rig r;
	uint16_t cid;
	uint64_t iova;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	assert_true(efd >= 0);
	nvme_rig_start(&r, &o);
	ASSERT_OK(vus_client_set_irqs(r.c, VUS_PCI_INTX_IRQ,
					     VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER,
					     0, 1, &efd, NULL));
	assert_nvme_ok(nvme_drv_set_num_queues(r.d, 2, 2, NULL, NULL));
	for (uint16_t q = 1; q <= 2; q++) {
		assert_nvme_ok(nvme_drv_create_cq(r.d, q, 15, 0, true));
		assert_nvme_ok(nvme_drv_create_sq(r.d, q, 15, q, true));
	}
	assert_non_null(nvme_drv_alloc(r.d, 4096, &iova));
	for (uint16_t q = 1; q <= 2; q++) {
		/* Admin completions raised the line too (vector 0), and
		 * vus masks INTx after each signal until the client
		 * unmasks, as QEMU does on the guest's EOI: settle, unmask,
		 * and nothing may be pending once the CQs are consumed. */
		efd_fired(efd, 50);
		intx_unmask(r.c);
		if (efd_fired(efd, 50))
			fail_msg("INTx still asserted with every CQ consumed (before CQ %u)", q);
		ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1, 0, 1, iova, r.lba,
						 NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_submit(r.d, q, &cmd, &cid));
		if (!efd_fired(efd, 2000))
			fail_msg("completion on CQ %u (vector 0, no MSI-X): INTx not signalled", q);
		assert_nvme_ok(nvme_drv_wait(r.d, q, cid, NULL));
	}
	nvme_rig_stop(&r);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_shapes),
		cmocka_unit_test(test_prp_shapes_no_fd),
		cmocka_unit_test(test_prp_shapes_polled),
		cmocka_unit_test(test_prp_chained_list),
		cmocka_unit_test(test_sgl_shapes),
		cmocka_unit_test(test_sgl_scatter),
		cmocka_unit_test(test_many_queues),
		cmocka_unit_test(test_many_queues_no_fd),
		cmocka_unit_test(test_rom_window_no_fd),
		cmocka_unit_test(test_poll_mode),
		cmocka_unit_test(test_queue_wrap),
		cmocka_unit_test(test_pipelined_reads_verified),
		cmocka_unit_test(test_write_zeroes),
		cmocka_unit_test(test_dsm_deallocate),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_file_backend),
		cmocka_unit_test(test_mdts),
		cmocka_unit_test(test_edges_and_4k),
		cmocka_unit_test(test_msix_vector_per_queue),
		cmocka_unit_test(test_intx_fallback),
		cmocka_unit_test(test_irq_coalescing),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
