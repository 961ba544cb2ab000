/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu against a host that gets things wrong (docs/nvme-testing.md):
 * every bad queue id, size, vector and order on Create/Delete I/O SQ/CQ
 * with the specification's status, bad NSIDs, LBA ranges, PRP offsets and
 * SGL descriptors, invalid opcodes (DNR), doorbells beyond the queue,
 * resets with I/O in flight, and garbage SQEs. Section numbers: NVM
 * Express Base 1.4c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "nvme_rig.h"

#define SCT_GENERIC 0
#define SCT_CMD 1

/* Create/Delete I/O CQ and SQ (5.3, 5.4, 5.6, 5.7). */
static void test_queue_create_delete(void **state)
{
	struct nvme_rig r;
	uint16_t nsq = 0, ncq = 0;
	uint32_t mqes;
	uint64_t iova;

	nvme_rig_start(&r, NULL);
	mqes = NVD_CAP_MQES(nvme_drv_cap(r.d));
	assert_nvme_ok(nvme_drv_set_num_queues(r.d, 2, 2, &nsq, &ncq));
	assert_true(nsq >= 2 && ncq >= 2);

	/* CQ: id 0, an id above what Number of Queues allocated. */
	assert_nvme_status(nvme_drv_create_cq(r.d, 0, 15, 0, true), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_create_cq(r.d, (uint16_t)(ncq + 1), 15, 0, true), SCT_CMD,
			   NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_create_cq(r.d, 0xffff, 15, 0, true), SCT_CMD,
			   NVD_SC_QID_INVALID);
	/* Size: one entry (QSIZE 0) and above MQES. */
	assert_nvme_status(nvme_drv_create_cq(r.d, 1, 0, 0, true), SCT_CMD, NVD_SC_QUEUE_SIZE);
	if (mqes < 0xffff)
		assert_nvme_status(nvme_drv_create_cq(r.d, 1, (uint16_t)(mqes + 1), 0, true),
				   SCT_CMD, NVD_SC_QUEUE_SIZE);
	/* A vector beyond any MSI-X table (2048 is the largest). */
	assert_nvme_status(nvme_drv_create_cq(r.d, 1, 15, 2048, true), SCT_CMD,
			   NVD_SC_INVALID_VECTOR);
	/* Not physically contiguous when CAP.CQR requires it. */
	if (NVD_CAP_CQR(nvme_drv_cap(r.d)))
		assert_nvme_status(nvme_drv_create_cq(r.d, 1, 15, 0, false), SCT_GENERIC,
				   NVD_SC_INVALID_FIELD);

	/* SQ before its CQ: Completion Queue Invalid; CQID 0 likewise. */
	assert_nvme_status(nvme_drv_create_sq(r.d, 1, 15, 1, true), SCT_CMD, NVD_SC_CQ_INVALID);
	assert_nvme_status(nvme_drv_create_sq(r.d, 1, 15, 0, true), SCT_CMD, NVD_SC_CQ_INVALID);

	assert_nvme_ok(nvme_drv_create_cq(r.d, 1, 15, 1, true));
	/* The same CQ id again. */
	assert_nvme_status(nvme_drv_create_cq(r.d, 1, 15, 1, true), SCT_CMD, NVD_SC_QID_INVALID);
	/* SQ: id 0, above the allocation, bad size, not contiguous. */
	assert_nvme_status(nvme_drv_create_sq(r.d, 0, 15, 1, true), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_create_sq(r.d, (uint16_t)(nsq + 1), 15, 1, true), SCT_CMD,
			   NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_create_sq(r.d, 1, 0, 1, true), SCT_CMD, NVD_SC_QUEUE_SIZE);
	if (mqes < 0xffff)
		assert_nvme_status(nvme_drv_create_sq(r.d, 1, (uint16_t)(mqes + 1), 1, true),
				   SCT_CMD, NVD_SC_QUEUE_SIZE);
	if (NVD_CAP_CQR(nvme_drv_cap(r.d)))
		assert_nvme_status(nvme_drv_create_sq(r.d, 1, 15, 1, false), SCT_GENERIC,
				   NVD_SC_INVALID_FIELD);
	assert_nvme_status(nvme_drv_create_sq(r.d, 1, 15, 2, true), SCT_CMD, NVD_SC_CQ_INVALID);
	assert_nvme_ok(nvme_drv_create_sq(r.d, 1, 15, 1, true));
	assert_nvme_status(nvme_drv_create_sq(r.d, 1, 15, 1, true), SCT_CMD, NVD_SC_QID_INVALID);
	/* Two SQs may share one CQ. */
	assert_nvme_ok(nvme_drv_create_sq(r.d, 2, 15, 1, true));

	/* Number of Queues after queues exist: Command Sequence Error
	 * (5.21.1.7). */
	assert_nvme_status(nvme_drv_set_num_queues(r.d, 1, 1, NULL, NULL), SCT_GENERIC,
			   NVD_SC_CMD_SEQ_ERROR);

	/* Delete: a CQ with SQs on it, the admin queues, unknown ids. */
	assert_nvme_status(nvme_drv_delete_cq(r.d, 1), SCT_CMD, NVD_SC_INVALID_QUEUE_DELETION);
	assert_nvme_status(nvme_drv_delete_cq(r.d, 0), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_delete_sq(r.d, 0), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_delete_cq(r.d, 2), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_delete_sq(r.d, 3), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_delete_sq(r.d, 0xffff), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_ok(nvme_drv_delete_sq(r.d, 1));
	assert_nvme_status(nvme_drv_delete_sq(r.d, 1), SCT_CMD, NVD_SC_QID_INVALID);
	assert_nvme_status(nvme_drv_delete_cq(r.d, 1), SCT_CMD, NVD_SC_INVALID_QUEUE_DELETION);
	assert_nvme_ok(nvme_drv_delete_sq(r.d, 2));
	assert_nvme_ok(nvme_drv_delete_cq(r.d, 1));
	/* Everything can be made again and works. */
	assert_nvme_ok(nvme_drv_create_qpair(r.d, 1, 16));
	assert_non_null(nvme_drv_alloc(r.d, 4096, &iova));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	/* 65536 queues is invalid (5.21.1.7). */
	assert_true(nvme_drv_disable(r.d) >= 0);
	ASSERT_OK(nvme_drv_enable(r.d));
	assert_nvme_status(nvme_drv_set_features(r.d, NVD_FEAT_NUM_QUEUES, 0xffffffffu, NULL),
			   SCT_GENERIC, NVD_SC_INVALID_FIELD);
	nvme_rig_stop(&r);
}

struct io {
	struct nvme_rig r;
	uint8_t *buf;
	uint64_t iova;
};

static void io_start(struct io *io)
{
	nvme_rig_start(&io->r, NULL);
	nvme_rig_io_queues(&io->r, 1, 32);
	io->buf = nvme_drv_alloc(io->r.d, 64 * 1024, &io->iova);
	assert_non_null(io->buf);
}

static int io_cmd(struct io *io, struct nvd_sqe sqe)
{
	struct nvme_drv_cmd cmd = { .sqe = sqe };

	return nvme_drv_exec(io->r.d, 1, &cmd, NULL);
}

static struct nvd_sqe rd(uint32_t nsid, uint64_t slba, uint32_t nlb, uint64_t prp1, uint64_t prp2)
{
	return (struct nvd_sqe){ .opc = NVD_CMD_READ, .nsid = nsid, .prp1 = prp1, .prp2 = prp2,
				 .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
				 .cdw12 = nlb - 1 };
}

static void test_bad_nsid_and_range(void **state)
{
	struct io io;
	uint64_t n, a;

	io_start(&io);
	n = io.r.nsze;
	a = io.iova;
	assert_nvme_status(io_cmd(&io, rd(0, 0, 1, a, 0)), 0, NVD_SC_INVALID_NS);
	assert_nvme_status(io_cmd(&io, rd(2, 0, 1, a, 0)), 0, NVD_SC_INVALID_NS);
	assert_nvme_status(io_cmd(&io, rd(0xffffffff, 0, 1, a, 0)), 0, NVD_SC_INVALID_NS);
	assert_nvme_status(io_cmd(&io, (struct nvd_sqe){ .opc = NVD_CMD_WRITE_ZEROES, .nsid = 7 }),
			   0, NVD_SC_INVALID_NS);
	/* LBA Out of Range: starting at the end, crossing it, wrapping. */
	assert_nvme_status(io_cmd(&io, rd(1, n, 1, a, 0)), 0, NVD_SC_LBA_RANGE);
	assert_nvme_status(io_cmd(&io, rd(1, n - 1, 2, a, 0)), 0, NVD_SC_LBA_RANGE);
	assert_nvme_status(io_cmd(&io, rd(1, UINT64_MAX, 2, a, 0)), 0, NVD_SC_LBA_RANGE);
	assert_nvme_status(io_cmd(&io, rd(1, UINT64_MAX - 1, 8, a, a + 4096)), 0,
			   NVD_SC_LBA_RANGE);
	/* The last block itself is fine. */
	assert_nvme_ok(io_cmd(&io, rd(1, n - 1, 1, a, 0)));
	nvme_rig_stop(&io.r);
}

static void test_prp_errors(void **state)
{
	struct io io;
	uint64_t a, *list;
	uint32_t blk;

	io_start(&io);
	a = io.iova;
	blk = 8192 / io.r.lba; /* two pages */
	/* PRP1 not dword aligned (4.3: bits 1:0 are 0). */
	assert_nvme_status(io_cmd(&io, rd(1, 0, 1, a + 2, 0)), 0, NVD_SC_INVALID_PRP_OFFSET);
	/* PRP2 as the second page with an offset. */
	assert_nvme_status(io_cmd(&io, rd(1, 0, blk, a, a + 4096 + 512)), 0,
			   NVD_SC_INVALID_PRP_OFFSET);
	/* A list whose second entry has an offset. */
	list = (uint64_t *)(io.buf + 8 * 4096);
	list[0] = a + 4096;
	list[1] = a + 2 * 4096 + 8;
	assert_nvme_status(io_cmd(&io, rd(1, 0, 3 * 4096 / io.r.lba, a, a + 8 * 4096)), 0,
			   NVD_SC_INVALID_PRP_OFFSET);
	/* A list pointer that is not qword aligned. */
	assert_nvme_status(io_cmd(&io, rd(1, 0, 3 * 4096 / io.r.lba, a, a + 8 * 4096 + 4)), 0,
			   NVD_SC_INVALID_PRP_OFFSET);
	/* Memory nobody mapped: Data Transfer Error. */
	assert_nvme_status(io_cmd(&io, rd(1, 0, 1, 0x10000, 0)), 0, NVD_SC_DATA_XFER_ERROR);
	assert_nvme_status(io_cmd(&io, rd(1, 0, blk, a, 0x7000000000ull)), 0,
			   NVD_SC_DATA_XFER_ERROR);
	/* And good commands still work. */
	assert_nvme_ok(io_cmd(&io, rd(1, 0, blk, a, a + 4096)));
	nvme_rig_stop(&io.r);
}

static void put_sgl(void *at, uint64_t addr, uint32_t len, uint8_t id)
{
	struct nvd_sgl_desc s = { .addr = addr, .len = len, .id = id };

	memcpy(at, &s, sizeof(s));
}

static void test_sgl_errors(void **state)
{
	struct nvd_sqe s;
	struct io io;
	uint8_t *seg;
	bool known = false;

	io_start(&io);
	/* An unknown descriptor type (4.4). */
	s = rd(1, 0, 1, 0, 0);
	s.flags = NVD_PSDT_SGL;
	put_sgl(&s.prp1, io.iova, io.r.lba, 0xe0);
	assert_nvme_status(io_cmd(&io, s), 0, NVD_SC_SGL_INVALID_TYPE);
	/* Data shorter than the blocks: Data SGL Length Invalid. */
	s = rd(1, 0, 2, 0, 0);
	s.flags = NVD_PSDT_SGL;
	put_sgl(&s.prp1, io.iova, io.r.lba, NVD_SGL_DATA_BLOCK);
	assert_nvme_status(io_cmd(&io, s), 0, NVD_SC_SGL_INVALID_DATA_LEN);
	/* PSDT 11b is reserved: Invalid Field. */
	s = rd(1, 0, 1, io.iova, 0);
	s.flags = 0xc0;
	assert_nvme_status(io_cmd(&io, s), 0, NVD_SC_INVALID_FIELD);
	/* Admin commands take PRPs only (4.2: PSDT for admin is 00b on PCIe). */
	{
		struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_IDENTIFY, .cdw10 = 1,
						     .flags = NVD_PSDT_SGL } };

		put_sgl(&cmd.sqe.prp1, io.iova, 4096, NVD_SGL_DATA_BLOCK);
		assert_nvme_status(nvme_drv_exec(io.r.d, 0, &cmd, NULL), 0, NVD_SC_INVALID_FIELD);
	}
	/* Invalid SGL Segment Descriptor (Figure 128): "an SGL Last Segment
	 * descriptor contains an invalid length (a length of zero or one
	 * that is not a multiple of 16)", and "the SGL segment pointed to by
	 * an SGL Last Segment descriptor contains an SGL Segment descriptor
	 * or an SGL Last Segment descriptor". */
	seg = io.buf + 4 * 4096;
	put_sgl(seg, io.iova, io.r.lba, NVD_SGL_DATA_BLOCK);
	s = rd(1, 0, 1, 0, 0);
	s.flags = NVD_PSDT_SGL;
	put_sgl(&s.prp1, io.iova + 4 * 4096, 15, NVD_SGL_LAST_SEGMENT);
	known |= nvme_rig_known(io_cmd(&io, s), 0, NVD_SC_SGL_INVALID_SEGMENT, "sgl-seg-status",
				"Last Segment of length 15");
	put_sgl(&s.prp1, io.iova + 4 * 4096, 0, NVD_SGL_LAST_SEGMENT);
	known |= nvme_rig_known(io_cmd(&io, s), 0, NVD_SC_SGL_INVALID_SEGMENT, "sgl-seg-status",
				"Last Segment of length 0");
	put_sgl(seg, io.iova + 5 * 4096, 16, NVD_SGL_SEGMENT);
	put_sgl(&s.prp1, io.iova + 4 * 4096, 16, NVD_SGL_LAST_SEGMENT);
	known |= nvme_rig_known(io_cmd(&io, s), 0, NVD_SC_SGL_INVALID_SEGMENT, "sgl-seg-status",
				"Segment descriptor inside a Last Segment");
	/* Good SGLs still work. */
	s = rd(1, 0, 1, 0, 0);
	s.flags = NVD_PSDT_SGL;
	put_sgl(&s.prp1, io.iova, io.r.lba, NVD_SGL_DATA_BLOCK);
	assert_nvme_ok(io_cmd(&io, s));
	nvme_rig_skip_known(&io.r, known);
	nvme_rig_stop(&io.r);
}

static void expect_invalid_opcode(struct nvme_drv *d, uint16_t qid, uint8_t opc)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = opc, .nsid = 1 } };
	int s = nvme_drv_exec(d, qid, &cmd, NULL);

	assert_nvme_status(s, 0, NVD_SC_INVALID_OPCODE);
	if (!NVD_DNR(s))
		fail_msg("opcode 0x%02x on queue %u: Invalid Opcode without DNR (status 0x%x)", opc,
			 qid, s);
}

static void test_invalid_opcodes(void **state)
{
	struct io io;
	struct nvme_drv_cmd cmd;

	io_start(&io);
	/* Admin: reserved, Format NVM, Namespace Management, vendor. */
	expect_invalid_opcode(io.r.d, 0, 0x03);
	expect_invalid_opcode(io.r.d, 0, 0x7f);
	expect_invalid_opcode(io.r.d, 0, 0xff);
	/* I/O: reserved, Reservation Register, vendor. */
	expect_invalid_opcode(io.r.d, 1, 0x03);
	expect_invalid_opcode(io.r.d, 1, 0x7e);
	expect_invalid_opcode(io.r.d, 1, 0xff);
	/* An admin opcode on an I/O queue is another command there. */
	expect_invalid_opcode(io.r.d, 1, NVD_ADM_IDENTIFY);
	/* A fused command when fusing is not supported (FUSES = 0). */
	if (nvd_le16(nvme_drv_id_ctrl(io.r.d), 522) == 0) {
		cmd = (struct nvme_drv_cmd){ .sqe = rd(1, 0, 1, io.iova, 0) };
		cmd.sqe.flags = 1;
		assert_nvme_status(nvme_drv_exec(io.r.d, 1, &cmd, NULL), 0, NVD_SC_INVALID_FIELD);
	}
	nvme_rig_stop(&io.r);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A doorbell write beyond its queue (3.1.24-25). The controller either
 * reports it through an Asynchronous Event (Error status, AEI 01h
 * Invalid Doorbell Write Value, log page 01h; 5.2, 4.1 "a write of an
 * invalid value ... results in an asynchronous event") and ignores the
 * write, or sets CSTS.CFS (a fatal status). Either way the host can go on:
 * with the event the queue still works; after CFS a reset recovers it.
 */
static void bad_doorbell(struct nvme_rig *r, uint16_t qid, bool cq, uint32_t val,
			 const char *what)
{
	struct nvme_drv_cmd aer = { .sqe = { .opc = NVD_ADM_ASYNC_EVENT } };
	int64_t deadline = mono_ms() + 2000;
	struct nvd_cqe cqe;
	uint32_t csts = 0;
	uint16_t cid;
	uint8_t log[64];
	int s;

	ASSERT_OK(nvme_drv_submit(r->d, 0, &aer, &cid));
	ASSERT_OK(nvme_drv_ring(r->d, qid, cq, val));
	for (;;) {
		nvme_drv_poll(r->d, 0);
		if (nvme_drv_done(r->d, 0, cid))
			break;
		ASSERT_OK(nvme_drv_reg32(r->d, NVD_REG_CSTS, &csts));
		if ((csts & NVD_CSTS_CFS) || mono_ms() > deadline)
			break;
	}
	if (nvme_drv_done(r->d, 0, cid)) {
		s = nvme_drv_wait(r->d, 0, cid, &cqe);
		assert_nvme_ok(s);
		if ((cqe.dw0 & 0xffffff) != (0x00u | 0x01u << 8 | 0x01u << 16))
			fail_msg("%s: AER DW0 0x%08x, expected type 0 (error), info 01h, log 01h",
				 what, cqe.dw0);
		/* Reading the log (RAE 0) re-arms the event type (5.2). */
		assert_nvme_ok(nvme_drv_get_log(r->d, 1, 0xffffffff, log, sizeof(log)));
		print_message("%s: asynchronous event, write ignored\n", what);
		return;
	}
	if (!(csts & NVD_CSTS_CFS))
		fail_msg("%s: no asynchronous event and CSTS 0x%08x (no CFS) within 2 s", what, csts);
	print_message("%s: CSTS.CFS, resetting\n", what);
	assert_true(nvme_drv_disable(r->d) >= 0);
	ASSERT_OK(nvme_drv_enable(r->d));
	ASSERT_OK(nvme_drv_reg32(r->d, NVD_REG_CSTS, &csts));
	ASSERT_OK(csts & NVD_CSTS_CFS);
	nvme_rig_io_queues(r, 1, 16);
}

static void test_doorbell_beyond_queue(void **state)
{
	struct nvme_rig r;
	uint64_t iova;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 16);
	assert_non_null(nvme_drv_alloc(r.d, 4096, &iova));
	bad_doorbell(&r, 1, false, 16, "SQ 1 tail doorbell 16 (16 entries)");
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	bad_doorbell(&r, 1, true, 200, "CQ 1 head doorbell 200 (16 entries)");
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	bad_doorbell(&r, 1, false, 0xffffffff, "SQ 1 tail doorbell 0xffffffff");
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	/* Without an AER waiting: the write is still harmless. */
	ASSERT_OK(nvme_drv_ring(r.d, 1, false, 17));
	/* A doorbell of a queue that does not exist must not hurt. */
	ASSERT_OK(nvme_drv_ring(r.d, 9, false, 1));
	{
		uint32_t csts = 0;

		ASSERT_OK(nvme_drv_reg32(r.d, NVD_REG_CSTS, &csts));
		if (csts & NVD_CSTS_CFS) {
			assert_true(nvme_drv_disable(r.d) >= 0);
			ASSERT_OK(nvme_drv_enable(r.d));
			nvme_rig_io_queues(&r, 1, 16);
		}
	}
	assert_nvme_ok(nvme_drv_identify(r.d, 1, 0, NULL));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	nvme_rig_stop(&r);
}

/* CC.EN 1 -> 0 with commands in flight on several queues, five times;
 * each time the controller comes back and does I/O. */
static void reset_in_flight(const struct nvme_rig_opts *o)
{
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	uint64_t iova;
	uint8_t *b;
	unsigned round, q, i;
	int inflight, total = 0;

	nvme_rig_start(&r, o);
	for (round = 0; round < 5; round++) {
		nvme_rig_io_queues(&r, 2, 32);
		b = nvme_drv_alloc(r.d, 31 * 8192, &iova);
		assert_non_null(b);
		nvme_rig_pattern(b, 31 * 8192, round);
		for (q = 1; q <= 2; q++)
			for (i = 0; i < 31; i++) {
				ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, q == 1 ? NVD_CMD_WRITE
										 : NVD_CMD_READ,
								 1, i * 16u, 8192 / r.lba,
								 iova + i * 8192, 8192,
								 i % 2 ? NVME_DRV_PRP : NVME_DRV_SGL_LIST));
				ASSERT_OK(nvme_drv_submit(r.d, (uint16_t)q, &cmd, NULL));
			}
		inflight = nvme_drv_disable(r.d);
		assert_true(inflight >= 0);
		total += inflight;
		nvme_drv_free(r.d, b, 31 * 8192);
		ASSERT_OK(nvme_drv_enable(r.d));
	}
	print_message("reset with %d commands submitted and not yet reaped (over 5 resets)\n", total);
	nvme_rig_io_queues(&r, 1, 16);
	b = nvme_drv_alloc(r.d, 8192, &iova);
	nvme_rig_pattern(b, 8192, 99);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 5, 16, iova, 8192, NVME_DRV_PRP));
	memset(b, 0, 8192);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 5, 16, iova, 8192, NVME_DRV_PRP));
	{
		uint8_t want[8192];

		nvme_rig_pattern(want, sizeof(want), 99);
		assert_memory_equal(b, want, sizeof(want));
	}
	nvme_rig_stop(&r);
}

static void test_reset_in_flight(void **state)
{
	reset_in_flight(NULL);
}

static void test_reset_in_flight_no_fd(void **state)
{
	struct nvme_rig_opts o = { .no_fd = true };

	reset_in_flight(&o);
}

/* Submit n writes of 8 KiB on qid without waiting (data from buf). */
static void submit_writes(struct nvme_rig *r, uint16_t qid, uint64_t iova, unsigned n)
{
	struct nvme_drv_cmd cmd;

	for (unsigned i = 0; i < n; i++) {
		ASSERT_OK(nvme_drv_rw_cmd(r->d, &cmd, NVD_CMD_WRITE, 1, i * 16u, 8192 / r->lba,
						 iova + i * 8192, 8192, NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_submit(r->d, qid, &cmd, NULL));
	}
}

/* vfio-user DEVICE_RESET (like FLR) with I/O in flight: the controller
 * is disabled, and comes back when the host enables it again. */
static void device_reset(const struct nvme_rig_opts *o)
{
	struct nvme_rig r;
	uint32_t csts = 0, cc = 0;
	uint64_t iova;

	nvme_rig_start(&r, o);
	nvme_rig_io_queues(&r, 2, 32);
	assert_non_null(nvme_drv_alloc(r.d, 31 * 8192, &iova));
	submit_writes(&r, 1, iova, 31);
	submit_writes(&r, 2, iova, 31);
	ASSERT_OK(vus_client_reset(r.c));
	ASSERT_OK(nvme_drv_reg32(r.d, NVD_REG_CC, &cc));
	ASSERT_OK(cc & NVD_CC_EN);
	ASSERT_OK(nvme_drv_reg32(r.d, NVD_REG_CSTS, &csts));
	ASSERT_OK(csts & NVD_CSTS_RDY);
	ASSERT_OK(nvme_drv_pci_restore(r.d));
	assert_true(nvme_drv_disable(r.d) >= 0);
	ASSERT_OK(nvme_drv_enable(r.d));
	nvme_rig_io_queues(&r, 2, 16);
	assert_nvme_ok(nvme_drv_identify(r.d, 0, 1, NULL));
	assert_nvme_ok(nvme_drv_rw(r.d, 2, NVD_CMD_READ, 1, 0, 16, iova, 8192, NVME_DRV_PRP));
	nvme_rig_stop(&r);
}

static void test_device_reset(void **state)
{
	device_reset(NULL);
}

static void test_device_reset_no_fd(void **state)
{
	struct nvme_rig_opts o = { .no_fd = true };

	device_reset(&o);
}

/* Shutdown (CC.SHN, 7.6.2) with I/O in flight: shutdown processing
 * completes (CSTS.SHST = 10b), then a reset brings the controller back. */
static void test_shutdown_in_flight(void **state)
{
	struct nvme_rig r;
	uint64_t iova;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 2, 32);
	assert_non_null(nvme_drv_alloc(r.d, 31 * 8192, &iova));
	submit_writes(&r, 1, iova, 31);
	submit_writes(&r, 2, iova, 31);
	ASSERT_OK(nvme_drv_shutdown(r.d));
	assert_true(nvme_drv_disable(r.d) >= 0);
	ASSERT_OK(nvme_drv_enable(r.d));
	nvme_rig_io_queues(&r, 1, 16);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 16, iova, 8192, NVME_DRV_PRP));
	nvme_rig_stop(&r);
}

/* Garbage SQEs: random bytes, with data pointers kept away from the
 * driver's own queues (a controller may DMA wherever a host points it);
 * every command must complete, and the controller stay usable. */
static void test_garbage_sqes(void **state)
{
	static const uint8_t admin_skip[] = { NVD_ADM_DELETE_SQ, NVD_ADM_CREATE_SQ,
					      NVD_ADM_DELETE_CQ, NVD_ADM_CREATE_CQ,
					      NVD_ADM_ASYNC_EVENT, NVD_ADM_DBBUF_CONFIG,
					      NVD_ADM_SET_FEATURES, 0x80 /* Format NVM */ };
	struct nvme_drv_cmd cmd;
	struct io io;
	uint32_t seed = 12345, errors = 0;
	unsigned i, k;
	int s;

	io_start(&io);
	for (i = 0; i < 1500; i++) {
		uint16_t qid = i % 3 ? 1 : 0;

		cmd = (struct nvme_drv_cmd){ 0 };
		for (k = 0; k < sizeof(cmd.sqe); k++) {
			seed = seed * 1103515245u + 12345u;
			((uint8_t *)&cmd.sqe)[k] = (uint8_t)(seed >> 16);
		}
		if (qid == 0)
			for (k = 0; k < sizeof(admin_skip); k++)
				if (cmd.sqe.opc == admin_skip[k])
					cmd.sqe.opc = NVD_ADM_GET_FEATURES;
		/* Commands that move data go to a scratch buffer, or to
		 * nowhere mapped; a PRP list there is random numbers. */
		if (i % 2) {
			cmd.sqe.prp1 = io.iova + (cmd.sqe.prp1 & 0xfffc) % (32 * 1024);
			cmd.sqe.prp2 = io.iova + 32 * 1024 + (cmd.sqe.prp2 & 0x3000);
		} else {
			cmd.sqe.prp1 |= 1ull << 62;
			cmd.sqe.prp2 |= 1ull << 62;
		}
		if (i % 5 == 0) {
			/* A real opcode with random fields. */
			static const uint8_t io_ops[] = { 0x00, 0x01, 0x02, 0x05, 0x08, 0x09 };
			static const uint8_t adm_ops[] = { 0x02, 0x06, 0x0a, 0x08 };

			cmd.sqe.opc = qid ? io_ops[(seed >> 8) % sizeof(io_ops)]
					  : adm_ops[(seed >> 8) % sizeof(adm_ops)];
			cmd.sqe.flags &= 0x3c; /* no fusing, PRPs */
			cmd.sqe.nsid = 1;
			cmd.sqe.cdw12 &= 0x3f; /* small, so some succeed */
			cmd.sqe.cdw11 = 0;
			cmd.sqe.cdw10 &= 0xfff;
		}
		if (i % 2)
			nvme_rig_pattern(io.buf + 32 * 1024, 16 * 1024, i);
		s = nvme_drv_exec(io.r.d, qid, &cmd, NULL);
		if (s < 0)
			fail_msg("garbage SQE %u (opcode 0x%02x on queue %u): %d", i, cmd.sqe.opc, qid,
				 s);
		errors += s != 0;
	}
	print_message("%u of 1500 garbage commands failed with an NVMe status\n", errors);
	assert_true(errors > 0 && errors < 1500);
	assert_nvme_ok(nvme_drv_identify(io.r.d, 1, 0, NULL));
	assert_nvme_ok(io_cmd(&io, rd(1, 0, 1, io.iova, 0)));
	nvme_rig_stop(&io.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_create_delete),
		cmocka_unit_test(test_bad_nsid_and_range),
		cmocka_unit_test(test_prp_errors),
		cmocka_unit_test(test_sgl_errors),
		cmocka_unit_test(test_invalid_opcodes),
		cmocka_unit_test(test_doorbell_beyond_queue),
		cmocka_unit_test(test_reset_in_flight),
		cmocka_unit_test(test_reset_in_flight_no_fd),
		cmocka_unit_test(test_device_reset),
		cmocka_unit_test(test_device_reset_no_fd),
		cmocka_unit_test(test_shutdown_in_flight),
		cmocka_unit_test(test_garbage_sqes),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
