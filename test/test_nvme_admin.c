/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu admin commands through the userspace driver
 * (docs/nvme-testing.md): registers, Identify CNS 00h-03h, Get/Set
 * Features, Get Log Page (SMART counting real I/O), Abort, Doorbell
 * Buffer Config. Section numbers: NVM Express Base 1.4c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nvme_rig.h"

static uint8_t *page(void)
{
	uint8_t *p = calloc(1, NVD_PAGE);

	assert_non_null(p);
	return p;
}

/* ASCII, space padded, not blank (5.15.2.2: SN, MN, FR). */
static void check_ascii(const uint8_t *p, size_t len, const char *what)
{
	bool any = false;

	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			fail_msg("%s byte %zu is 0x%02x, not printable ASCII", what, i, p[i]);
		any |= p[i] != ' ';
	}
	if (!any)
		fail_msg("%s is blank", what);
}

static void test_registers(void **state)
{
	struct nvme_rig r;
	uint64_t cap;
	uint32_t vs, csts, cc;

	nvme_rig_start(&r, NULL);
	cap = nvme_drv_cap(r.d);
	ASSERT_OK(NVD_CAP_MPSMIN(cap));   /* 4 KiB pages, Linux needs it */
	assert_true(NVD_CAP_MQES(cap) >= 1);
	assert_true(NVD_CAP_CSS(cap) & 1);         /* NVM command set */
	assert_true(NVD_CAP_TO(cap) >= 1);
	ASSERT_OK(nvme_drv_reg32(r.d, NVD_REG_VS, &vs));
	ASSERT_EQ(vs, 0x00010400);          /* 1.4 */
	ASSERT_OK(nvme_drv_reg32(r.d, NVD_REG_CSTS, &csts));
	ASSERT_EQ(csts & (NVD_CSTS_RDY | NVD_CSTS_CFS), NVD_CSTS_RDY);
	ASSERT_OK(nvme_drv_reg32(r.d, NVD_REG_CC, &cc));
	ASSERT_EQ(cc, NVD_CC_EN | NVD_CC_IOSQES(6) | NVD_CC_IOCQES(4));
	/* Shutdown reports completion, and the controller comes back. */
	ASSERT_OK(nvme_drv_shutdown(r.d));
	assert_true(nvme_drv_disable(r.d) >= 0);
	ASSERT_OK(nvme_drv_enable(r.d));
	assert_nvme_ok(nvme_drv_identify(r.d, 1, 0, NULL));
	nvme_rig_stop(&r);
}

static void test_identify_controller(void **state)
{
	struct nvme_rig r;
	const uint8_t *id;
	uint8_t cfg[4];
	uint16_t oacs, oncs;

	nvme_rig_start(&r, NULL);
	id = nvme_drv_id_ctrl(r.d);
	ASSERT_OK(vus_client_region_read(r.c, VUS_PCI_CONFIG_REGION, 0, cfg, 4));
	ASSERT_EQ(nvd_le16(id, NVD_IDC_VID), nvd_le16(cfg, 0));
	ASSERT_EQ(nvd_le16(cfg, 0), NVME_EMU_VENDOR);
	ASSERT_EQ(nvd_le16(cfg, 2), NVME_EMU_DEVICE);
	check_ascii(id + NVD_IDC_SN, 20, "SN");
	check_ascii(id + NVD_IDC_MN, 40, "MN");
	check_ascii(id + NVD_IDC_FR, 8, "FR");
	ASSERT_EQ(nvd_le32(id, NVD_IDC_VER), 0x00010400);
	ASSERT_EQ(id[NVD_IDC_SQES], 0x66); /* 64-byte SQEs, required and max */
	ASSERT_EQ(id[NVD_IDC_CQES], 0x44);
	ASSERT_EQ(nvd_le32(id, NVD_IDC_NN), 1);
	assert_true(id[NVD_IDC_MDTS] > 0);
	oacs = nvd_le16(id, NVD_IDC_OACS);
	oncs = nvd_le16(id, NVD_IDC_ONCS);
	/* What issue 13 asks of it: Doorbell Buffer Config, Compare, DSM,
	 * Write Zeroes, SGLs. */
	assert_true(oacs & (1u << 8));
	assert_true(oncs & (1u << 0));
	assert_true(oncs & (1u << 2));
	assert_true(oncs & (1u << 3));
	assert_true(nvd_le32(id, NVD_IDC_SGLS) & 3);
	/* The serial number is the one asked for, space padded. */
	assert_memory_equal(id + NVD_IDC_SN, "VUSTEST42           ", 20);
	nvme_rig_stop(&r);
}

static void test_identify_namespace(void **state)
{
	struct nvme_rig r;
	uint8_t *id = page();
	uint32_t lbaf;

	nvme_rig_start(&r, NULL);
	assert_nvme_ok(nvme_drv_identify(r.d, 0, 1, id));
	ASSERT_EQ(nvd_le64(id, NVD_IDN_NSZE), r.emu_opts.size / r.emu_opts.lba_size);
	ASSERT_EQ(nvd_le64(id, NVD_IDN_NCAP), nvd_le64(id, NVD_IDN_NSZE));
	assert_true(nvd_le64(id, NVD_IDN_NUSE) <= nvd_le64(id, NVD_IDN_NCAP));
	assert_true((id[NVD_IDN_FLBAS] & 0xf) <= id[NVD_IDN_NLBAF]);
	lbaf = nvd_le32(id, NVD_IDN_LBAF0 + 4 * (id[NVD_IDN_FLBAS] & 0xf));
	ASSERT_OK(lbaf & 0xffff);                  /* no metadata */
	ASSERT_EQ(1u << ((lbaf >> 16) & 0xff), r.emu_opts.lba_size);
	/* NSID 0 and NSIDs above NN: Invalid Namespace or Format. */
	assert_nvme_status(nvme_drv_identify(r.d, 0, 0, id), 0, NVD_SC_INVALID_NS);
	assert_nvme_status(nvme_drv_identify(r.d, 0, 2, id), 0, NVD_SC_INVALID_NS);
	free(id);
	nvme_rig_stop(&r);
}

static void test_identify_lists(void **state)
{
	struct nvme_rig r;
	uint8_t *l = page();
	unsigned off = 0;

	nvme_rig_start(&r, NULL);
	/* CNS 02h: active NSIDs above NSID, ascending, zero terminated. */
	assert_nvme_ok(nvme_drv_identify(r.d, 2, 0, l));
	ASSERT_EQ(nvd_le32(l, 0), 1);
	ASSERT_OK(nvd_le32(l, 4));
	assert_nvme_ok(nvme_drv_identify(r.d, 2, 1, l));
	ASSERT_OK(nvd_le32(l, 0));
	/* CNS 03h: descriptors (type, length, 2 reserved, value) until type
	 * 0; Linux skips the namespace if this fails. */
	assert_nvme_ok(nvme_drv_identify(r.d, 3, 1, l));
	while (off + 4 <= NVD_PAGE && l[off]) {
		static const uint8_t len_of[5] = { 0, 8, 16, 16, 1 };

		if (l[off] > 4 || l[off + 1] != len_of[l[off]])
			fail_msg("descriptor at %u: type %u length %u", off, l[off], l[off + 1]);
		off += 4 + l[off + 1];
	}
	assert_nvme_status(nvme_drv_identify(r.d, 3, 2, l), 0, NVD_SC_INVALID_NS);
	/* An unknown CNS: Invalid Field in Command. */
	assert_nvme_status(nvme_drv_identify(r.d, 0x55, 0, l), 0, NVD_SC_INVALID_FIELD);
	free(l);
	nvme_rig_stop(&r);
}

static int feat_cmd(struct nvme_rig *r, uint8_t opc, uint32_t nsid, uint8_t fid, uint32_t cdw11,
		    uint32_t *dw0)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = opc, .nsid = nsid, .cdw10 = fid,
					     .cdw11 = cdw11 } };
	struct nvd_cqe cqe;
	int s = nvme_drv_exec(r->d, 0, &cmd, &cqe);

	if (s >= 0 && dw0)
		*dw0 = cqe.dw0;
	return s;
}

/* Set then Get: the value reads back. nsid: 0, or the namespace for the
 * namespace-specific features (Error Recovery, Write Protect...). */
static void feat_round_trip_ns(struct nvme_rig *r, uint32_t nsid, uint8_t fid, uint32_t val)
{
	uint32_t dw0 = 0;
	int s = feat_cmd(r, NVD_ADM_SET_FEATURES, nsid, fid, val, NULL);

	if (s != 0)
		fail_msg("Set Features FID 0x%02x NSID %u cdw11 0x%08x: status 0x%x", fid, nsid, val,
			 s);
	s = feat_cmd(r, NVD_ADM_GET_FEATURES, nsid, fid, 0, &dw0);
	if (s != 0)
		fail_msg("Get Features FID 0x%02x NSID %u: status 0x%x", fid, nsid, s);
	if (dw0 != val)
		fail_msg("Get Features FID 0x%02x: 0x%08x, set 0x%08x", fid, dw0, val);
}

static void feat_round_trip(struct nvme_rig *r, uint8_t fid, uint32_t val)
{
	feat_round_trip_ns(r, 0, fid, val);
}

static int feat_buf(struct nvme_rig *r, bool set, uint8_t fid, void *data, uint32_t len)
{
	struct nvme_drv_cmd cmd = { 0 };
	uint64_t iova;
	uint8_t *b = nvme_drv_alloc(r->d, NVD_PAGE, &iova);
	int s;

	assert_non_null(b);
	if (set)
		memcpy(b, data, len);
	cmd.sqe.opc = set ? NVD_ADM_SET_FEATURES : NVD_ADM_GET_FEATURES;
	cmd.sqe.cdw10 = fid;
	cmd.sqe.prp1 = iova;
	s = nvme_drv_exec(r->d, 0, &cmd, NULL);
	if (!set)
		memcpy(data, b, len);
	nvme_drv_free(r->d, b, NVD_PAGE);
	return s;
}

static void test_features(void **state)
{
	struct nvme_rig r;
	uint32_t dw0 = 0;
	uint8_t ts[8] = { 0 };
	uint64_t t0 = 1700000000000ull, t1;
	const uint8_t *id;

	nvme_rig_start(&r, NULL);
	id = nvme_drv_id_ctrl(r.d);
	feat_round_trip(&r, NVD_FEAT_ARBITRATION, 0x03020102);
	feat_round_trip(&r, NVD_FEAT_POWER_MGMT, 0);
	feat_round_trip(&r, NVD_FEAT_TEMP_THRESH, 0x0160);
	feat_round_trip_ns(&r, 1, NVD_FEAT_ERR_RECOVERY, 5); /* per namespace */
	feat_round_trip(&r, NVD_FEAT_IRQ_COALESCE, 0x0a05);
	feat_round_trip(&r, NVD_FEAT_WRITE_ATOMIC, 1);
	feat_round_trip(&r, NVD_FEAT_ASYNC_EVENT, 0x1f);
	/* A power state above NPSS (5.21.1.2). */
	assert_nvme_status(nvme_drv_set_features(r.d, NVD_FEAT_POWER_MGMT, id[263] + 1u, NULL), 0,
			   NVD_SC_INVALID_FIELD);
	/* Volatile write cache: changeable only when present (5.21.1.6). */
	if (id[NVD_IDC_VWC] & 1) {
		feat_round_trip(&r, NVD_FEAT_VOLATILE_WC, 0);
		feat_round_trip(&r, NVD_FEAT_VOLATILE_WC, 1);
	} else {
		assert_nvme_status(nvme_drv_set_features(r.d, NVD_FEAT_VOLATILE_WC, 1, NULL), 0,
				   NVD_SC_INVALID_FIELD);
	}
	/* Interrupt Vector Configuration names a vector (5.21.1.9); an I/O
	 * CQ on vector 1 makes it valid. */
	nvme_rig_io_queues(&r, 2, 16);
	assert_nvme_ok(nvme_drv_get_features(r.d, NVD_FEAT_IRQ_CONFIG, 1, &dw0));
	ASSERT_EQ(dw0 & 0xffff, 1);
	assert_nvme_ok(nvme_drv_set_features(r.d, NVD_FEAT_IRQ_CONFIG, 1u | 1u << 16, NULL));
	assert_nvme_ok(nvme_drv_get_features(r.d, NVD_FEAT_IRQ_CONFIG, 1, &dw0));
	ASSERT_EQ(dw0, 1u | 1u << 16);
	assert_nvme_status(nvme_drv_get_features(r.d, NVD_FEAT_IRQ_CONFIG, 999, &dw0), 0,
			   NVD_SC_INVALID_FIELD);
	/* Number of Queues reads back what was allocated (0's based). */
	assert_nvme_ok(nvme_drv_get_features(r.d, NVD_FEAT_NUM_QUEUES, 0, &dw0));
	assert_true((dw0 & 0xffff) >= 1 && (dw0 >> 16) >= 1);
	/* Timestamp (5.21.1.14): 8 bytes through a data buffer; after a Set
	 * it counts on from the value set, origin 001b. */
	if (nvd_le16(id, NVD_IDC_ONCS) & (1u << 6)) {
		for (int i = 0; i < 6; i++)
			ts[i] = (uint8_t)(t0 >> (8 * i));
		assert_nvme_ok(feat_buf(&r, true, NVD_FEAT_TIMESTAMP, ts, 8));
		memset(ts, 0, sizeof(ts));
		assert_nvme_ok(feat_buf(&r, false, NVD_FEAT_TIMESTAMP, ts, 8));
		t1 = nvd_le32(ts, 0) | (uint64_t)nvd_le16(ts, 4) << 32;
		assert_true(t1 >= t0 && t1 < t0 + 60000);
		ASSERT_EQ((ts[6] >> 1) & 7, 1);
	}
	/* An unknown feature: Invalid Field in Command (5.21). */
	assert_nvme_status(nvme_drv_get_features(r.d, 0x50, 0, &dw0), 0, NVD_SC_INVALID_FIELD);
	assert_nvme_status(nvme_drv_set_features(r.d, 0x50, 0, NULL), 0, NVD_SC_INVALID_FIELD);
	nvme_rig_stop(&r);
}

static uint64_t smart128(const uint8_t *log, size_t off)
{
	/* 128-bit little-endian counters; the tests stay below 2^64. */
	ASSERT_OK(nvd_le64(log, off + 8));
	return nvd_le64(log, off);
}

/* SMART / Health (5.14.1.2): data units are thousands of 512-byte units,
 * rounded up; command counts count commands. */
static void test_smart_counts_io(void **state)
{
	struct nvme_rig r;
	uint8_t *log = page();
	uint64_t iova;
	void *b;
	unsigned i;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 16);
	assert_nvme_ok(nvme_drv_get_log(r.d, 2, 0xffffffff, log, 512));
	assert_true(nvd_le16(log, 1) > 0); /* composite temperature, Kelvin */
	ASSERT_OK(smart128(log, 32));
	ASSERT_OK(smart128(log, 48));
	ASSERT_OK(smart128(log, 64));
	ASSERT_OK(smart128(log, 80));
	b = nvme_drv_alloc(r.d, 128000, &iova);
	assert_non_null(b);
	/* 1000 units of 512 bytes in four writes: 1 data unit. */
	for (i = 0; i < 4; i++)
		assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, i * 250u * 512 / r.lba,
					   250u * 512 / r.lba, iova, 128000, NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_get_log(r.d, 2, 0xffffffff, log, 512));
	ASSERT_EQ(smart128(log, 48), 1);
	ASSERT_EQ(smart128(log, 80), 4);
	ASSERT_OK(smart128(log, 64));
	/* One more block: rounded up to 2. */
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 2000, 1, iova, r.lba, NVME_DRV_PRP));
	/* Reads: 3 commands of 512 bytes -> 1 unit (rounded up). */
	for (i = 0; i < 3; i++)
		assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, i, 1,
					   iova, r.lba, NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_get_log(r.d, 2, 1, log, 512));
	ASSERT_EQ(smart128(log, 48), 2);
	ASSERT_EQ(smart128(log, 80), 5);
	ASSERT_EQ(smart128(log, 64), 3);
	ASSERT_EQ(smart128(log, 32), 1);
	nvme_drv_free(r.d, b, 128000);
	free(log);
	nvme_rig_stop(&r);
}

static void test_log_pages(void **state)
{
	struct nvme_rig r;
	uint8_t *log = page();

	nvme_rig_start(&r, NULL);
	/* Error information: one 64-byte entry at least (5.14.1.1). */
	assert_nvme_ok(nvme_drv_get_log(r.d, 1, 0xffffffff, log, 64));
	/* Firmware slot information (5.14.1.3): AFI names a slot 1-7. */
	assert_nvme_ok(nvme_drv_get_log(r.d, 3, 0xffffffff, log, 512));
	assert_true((log[0] & 7) >= 1);
	/* A partial read of the SMART log works. */
	assert_nvme_ok(nvme_drv_get_log(r.d, 2, 0xffffffff, log, 8));
	/* An unknown log page: Invalid Log Page (SCT 1). */
	assert_nvme_status(nvme_drv_get_log(r.d, 0x70, 0xffffffff, log, 64), 1,
			   NVD_SC_INVALID_LOG_PAGE);
	free(log);
	nvme_rig_stop(&r);
}

/* Abort (5.1) of a command that is no longer outstanding completes with
 * DW0 bit 0 set: not aborted. */
static void test_abort(void **state)
{
	struct nvme_drv_cmd cmd = { 0 };
	struct nvd_cqe cqe;
	struct nvme_rig r;
	uint64_t iova;
	void *b;

	nvme_rig_start(&r, NULL);
	nvme_rig_io_queues(&r, 1, 16);
	b = nvme_drv_alloc(r.d, 4096, &iova);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	cmd.sqe.opc = NVD_ADM_ABORT;
	cmd.sqe.cdw10 = 1u | 0u << 16; /* SQ 1, CID 0: completed already */
	assert_nvme_ok(nvme_drv_exec(r.d, 0, &cmd, &cqe));
	ASSERT_EQ(cqe.dw0 & 1, 1);
	/* The queue still works. */
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 1, iova, r.lba, NVME_DRV_PRP));
	/* A held Asynchronous Event Request can be aborted: it completes
	 * with Command Abort Requested, the Abort with bit 0 clear. */
	{
		struct nvme_drv_cmd aer = { .sqe = { .opc = NVD_ADM_ASYNC_EVENT } };
		uint16_t aer_cid;

		ASSERT_OK(nvme_drv_submit(r.d, 0, &aer, &aer_cid));
		cmd = (struct nvme_drv_cmd){ .sqe = { .opc = NVD_ADM_ABORT,
						      .cdw10 = (uint32_t)aer_cid << 16 } };
		assert_nvme_ok(nvme_drv_exec(r.d, 0, &cmd, &cqe));
		ASSERT_OK(cqe.dw0 & 1);
		assert_nvme_status(nvme_drv_wait(r.d, 0, aer_cid, NULL), 0, NVD_SC_ABORT_REQ);
	}
	nvme_drv_free(r.d, b, 4096);
	nvme_rig_stop(&r);
}

/* Doorbell Buffer Config (5.8) as Linux uses it: before the I/O queues,
 * then I/O with shadow doorbells, ringing only where EventIdx asks. */
static void dbbuf_run(const struct nvme_rig_opts *opts)
{
	struct nvme_drv_cmd cmd = { 0 };
	struct nvme_rig r;
	uint64_t iova, s_iova;
	uint16_t cids[15];
	uint8_t *b;
	unsigned round, i;

	nvme_rig_start(&r, opts);
	/* Not page aligned: Invalid Field. */
	assert_non_null(nvme_drv_alloc(r.d, NVD_PAGE, &s_iova));
	cmd.sqe.opc = NVD_ADM_DBBUF_CONFIG;
	cmd.sqe.prp1 = s_iova + 8;
	cmd.sqe.prp2 = s_iova + NVD_PAGE * 0;
	assert_nvme_status(nvme_drv_exec(r.d, 0, &cmd, NULL), 0, NVD_SC_INVALID_FIELD);
	assert_nvme_ok(nvme_drv_dbbuf_enable(r.d));
	nvme_rig_io_queues(&r, 2, 16);
	b = nvme_drv_alloc(r.d, 15 * 4096, &iova);
	assert_non_null(b);
	for (round = 0; round < 6; round++) {
		uint16_t q = (uint16_t)(1 + round % 2);

		nvme_rig_pattern(b, 15 * 4096, round);
		for (i = 0; i < 15; i++) {
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, round < 3 ? NVD_CMD_WRITE
									      : NVD_CMD_READ,
							 1, i * 8u, 4096 / r.lba, iova + i * 4096,
							 4096, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, q, &cmd, &cids[i]));
		}
		for (i = 0; i < 15; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, q, cids[i], NULL));
	}
	/* One at a time too (QD1: every submission must wake the controller). */
	for (i = 0; i < 40; i++)
		assert_nvme_ok(nvme_drv_rw(r.d, (uint16_t)(1 + i % 2), NVD_CMD_READ, 1, i, 1, iova,
					   r.lba, NVME_DRV_PRP));
	nvme_rig_stop(&r);
}

static void test_dbbuf(void **state)
{
	dbbuf_run(NULL);
}

/* vusd closes each DMA window's fd once it is mapped (docs/security.md):
 * the windows are still memory the controller reaches directly, so shadow
 * doorbells are offered and work (they were once refused there). */
static void test_dbbuf_fds_closed(void **state)
{
	struct nvme_rig_opts o = { .close_fds = true };

	dbbuf_run(&o);
}

/* A controller started without shadow doorbells (no_shadow) does not
 * advertise them, and the command is then an invalid opcode. */
static void test_dbbuf_not_offered(void **state)
{
	struct nvme_rig_opts o = { .emu.no_shadow = true };
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_DBBUF_CONFIG } };
	struct nvme_rig r;
	uint64_t iova;
	int s;

	nvme_rig_start(&r, &o);
	ASSERT_OK(nvd_le16(nvme_drv_id_ctrl(r.d), NVD_IDC_OACS) & (1u << 8));
	assert_non_null(nvme_drv_alloc(r.d, 2 * NVD_PAGE, &iova));
	cmd.sqe.prp1 = iova;
	cmd.sqe.prp2 = iova + NVD_PAGE;
	s = nvme_drv_exec(r.d, 0, &cmd, NULL);
	assert_nvme_status(s, 0, NVD_SC_INVALID_OPCODE);
	assert_true(NVD_DNR(s));
	nvme_rig_stop(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_identify_controller),
		cmocka_unit_test(test_identify_namespace),
		cmocka_unit_test(test_identify_lists),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_smart_counts_io),
		cmocka_unit_test(test_log_pages),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_dbbuf),
		cmocka_unit_test(test_dbbuf_fds_closed),
		cmocka_unit_test(test_dbbuf_not_offered),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
