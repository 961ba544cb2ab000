/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu's register map, CC/CSTS state machine and admin queue bring-up,
 * driven through the vus client library over a socketpair (docs/nvme.md).
 * The broad spec tests (every status, many queues, resets under I/O) are
 * in the NVMe driver tests; these pin the controller's own basics.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "nvme_emu.h"
#include "vus_test.h"

#define IOVA      0x100000ull
#define MEM_SIZE  (1u << 20)
/* Guest memory layout */
#define ASQ_OFF   0x0000
#define ACQ_OFF   0x1000
#define BUF_OFF   0x2000   /* 4 KiB data */
#define IOSQ_OFF  0x3000
#define IOCQ_OFF  0x4000
#define DATA_OFF  0x10000  /* 64 KiB I/O data */
#define PRPL_OFF  0x8000   /* a PRP list page */

struct fx {
	struct nvme_emu *n;
	struct vus_client *c;
	pthread_t th;
	uint8_t *mem;
	bool with_fd;
	uint16_t cid;
	uint32_t asq_tail, acq_head;
	uint8_t acq_phase;
	uint32_t iosq_tail, iocq_head;
	uint8_t iocq_phase;
};

static void *serve(void *arg)
{
	struct fx *f = arg;

	vus_dev_run(nvme_emu_dev(f->n));
	return NULL;
}

static void fx_start_ns(struct fx *f, bool with_fd, bool poll, uint32_t nns)
{
	struct nvme_emu_opts o;
	int sv[2];

	memset(f, 0, sizeof(*f));
	nvme_emu_opts_default(&o);
	o.size = 4u << 20;
	o.poll = poll;
	o.namespaces = nns;
	o.serial = "SN-REGS-1";
	ASSERT_OK(nvme_emu_create("nvme-regs", &o, &f->n));
	vus_dev_set_log_level(nvme_emu_dev(f->n), VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(nvme_emu_dev(f->n), sv[1]));
	ASSERT_OK(pthread_create(&f->th, NULL, serve, f));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &f->c));
	f->with_fd = with_fd;
	ASSERT_OK(vus_client_dma_map(f->c, IOVA, MEM_SIZE,
					    VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, with_fd,
					    (void **)&f->mem));
	f->acq_phase = 1;
	f->iocq_phase = 1;
}

static void fx_start_opts(struct fx *f, bool with_fd, bool poll)
{
	fx_start_ns(f, with_fd, poll, 1);
}

static void fx_start(struct fx *f, bool with_fd)
{
	fx_start_opts(f, with_fd, false);
}

static void fx_stop(struct fx *f)
{
	vus_client_close(f->c);
	vus_dev_stop(nvme_emu_dev(f->n));
	pthread_join(f->th, NULL);
	nvme_emu_free(f->n);
}

static int setup_fd(void **state)
{
	struct fx *f = malloc(sizeof(*f));

	fx_start(f, true);
	*state = f;
	return 0;
}

static int setup_nofd(void **state)
{
	struct fx *f = malloc(sizeof(*f));

	fx_start(f, false);
	*state = f;
	return 0;
}

/* Polling mode: a thread runs the queues; kicks only flag work. */
static int setup_poll(void **state)
{
	struct fx *f = malloc(sizeof(*f));

	fx_start_opts(f, true, true);
	*state = f;
	return 0;
}

static int setup_3ns(void **state)
{
	struct fx *f = malloc(sizeof(*f));

	fx_start_ns(f, true, false, 3);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_stop(*state);
	free(*state);
	return 0;
}

static uint32_t rd32(struct fx *f, uint64_t off)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(f->c, 0, off, &v, 4));
	return v;
}

static void wr32(struct fx *f, uint64_t off, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(f->c, 0, off, &v, 4));
}

static void wr64(struct fx *f, uint64_t off, uint64_t v)
{
	ASSERT_OK(vus_client_region_write(f->c, 0, off, &v, 8));
}

/* Poll CSTS (serving the server's DMA requests meanwhile) until
 * (CSTS & mask) == want, for up to 5 s. */
static uint32_t wait_csts(struct fx *f, uint32_t mask, uint32_t want)
{
	uint32_t csts = 0;
	int i;

	for (i = 0; i < 5000; i++) {
		csts = rd32(f, 0x1c);
		if ((csts & mask) == want)
			break;
		(void)vus_client_process(f->c, 1);
	}
	return csts;
}

static void enable(struct fx *f)
{
	wr32(f, 0x14, 0);
	ASSERT_OK(wait_csts(f, 1, 0) & 1);
	wr32(f, 0x24, (31u << 16) | 31u); /* AQA: 32 entries each */
	wr64(f, 0x28, IOVA + ASQ_OFF);
	wr64(f, 0x30, IOVA + ACQ_OFF);
	/* IOCQES 4, IOSQES 6, MPS 0, CSS NVM, EN */
	wr32(f, 0x14, (4u << 20) | (6u << 16) | 1u);
	ASSERT_EQ(wait_csts(f, 3, 1), 1);
	f->asq_tail = f->acq_head = 0;
	f->acq_phase = 1;
}

struct cqe {
	uint32_t dw0, dw1;
	uint16_t sqhd, sqid, cid, status;
};

/* Submit one admin command and wait for its completion. */
static struct cqe admin(struct fx *f, uint8_t opc, uint32_t nsid, uint64_t prp1, uint64_t prp2,
			uint32_t cdw10, uint32_t cdw11)
{
	uint8_t *sqe = f->mem + ASQ_OFF + f->asq_tail * 64;
	volatile struct cqe *cq = (volatile struct cqe *)(f->mem + ACQ_OFF) + f->acq_head;
	uint16_t cid = ++f->cid;
	struct cqe r;
	int i;

	memset(sqe, 0, 64);
	sqe[0] = opc;
	memcpy(sqe + 2, &cid, 2);
	memcpy(sqe + 4, &nsid, 4);
	memcpy(sqe + 24, &prp1, 8);
	memcpy(sqe + 32, &prp2, 8);
	memcpy(sqe + 40, &cdw10, 4);
	memcpy(sqe + 44, &cdw11, 4);
	f->asq_tail = (f->asq_tail + 1) % 32;
	wr32(f, 0x1000, f->asq_tail);
	for (i = 0; i < 5000 && (cq->status & 1) != f->acq_phase; i++)
		(void)vus_client_process(f->c, 1);
	ASSERT_EQ(cq->status & 1, f->acq_phase);
	memcpy(&r, (const void *)cq, sizeof(r));
	ASSERT_EQ(r.cid, cid);
	if (++f->acq_head == 32) {
		f->acq_head = 0;
		f->acq_phase ^= 1;
	}
	wr32(f, 0x1004, f->acq_head);
	return r;
}

static uint16_t sc(const struct cqe *r)
{
	return r->status >> 1;
}

/* ---- tests ---------------------------------------------------------- */

static void test_pci_identity(void **state)
{
	struct fx *f = *state;
	struct vus_client_region r;
	uint8_t cfg[64];
	uint32_t hdr;

	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, 0, cfg, 64));
	ASSERT_EQ(cfg[0] | cfg[1] << 8, NVME_EMU_VENDOR);
	ASSERT_EQ(cfg[2] | cfg[3] << 8, NVME_EMU_DEVICE);
	ASSERT_EQ(cfg[9] | cfg[10] << 8 | cfg[11] << 16, NVME_EMU_CLASS);
	/* BAR0: 64-bit memory */
	ASSERT_EQ(cfg[0x10] & 0x7, 0x4);
	/* PCIe config space: an extended capability at 0x100 (DSN) */
	ASSERT_OK(vus_client_region_read(f->c, VUS_PCI_CONFIG_REGION, 0x100, &hdr, 4));
	ASSERT_EQ(hdr & 0xffff, 0x0003);
	/* BAR0 >= 16 KiB and not mmap-able (doorbells stay posted writes) */
	ASSERT_OK(vus_client_region_info(f->c, 0, &r));
	assert_true(r.info.size >= 16384);
	assert_false(r.info.flags & VUS_REGION_INFO_FLAG_MMAP);
	if (r.fd >= 0)
		close(r.fd);
}

static void test_cap_vs(void **state)
{
	struct fx *f = *state;
	uint64_t cap = rd32(f, 0) | (uint64_t)rd32(f, 4) << 32, cap64 = 0;

	ASSERT_EQ(cap & 0xffff, 1023);          /* MQES */
	assert_true(cap & (1ull << 16));               /* CQR */
	ASSERT_OK((cap >> 32) & 0xf);        /* DSTRD */
	assert_true(cap & (1ull << 37));               /* CSS NVM */
	ASSERT_OK((cap >> 48) & 0xf);        /* MPSMIN 4 KiB */
	ASSERT_EQ(rd32(f, 8), 0x00010400);      /* VS 1.4 */
	ASSERT_OK(vus_client_region_read(f->c, 0, 0, &cap64, 8));
	assert_true(cap64 == cap);
	/* Unaligned or odd-sized access: EINVAL, not a crash */
	ASSERT_ERR(vus_client_region_read(f->c, 0, 2, &cap64, 4), -EINVAL);
	/* CSTS after power-on: not ready */
	ASSERT_OK(rd32(f, 0x1c));
}

static void test_enable_disable(void **state)
{
	struct fx *f = *state;

	enable(f);
	/* AQA cannot change while enabled */
	wr32(f, 0x24, 0x00030003);
	ASSERT_EQ(rd32(f, 0x24), (31u << 16) | 31u);
	/* Shutdown: SHST complete */
	wr32(f, 0x14, rd32(f, 0x14) | (1u << 14));
	ASSERT_EQ(wait_csts(f, 0xc, 0x8) & 0xc, 0x8);
	/* Disable: RDY drops, SHST with SHN cleared */
	wr32(f, 0x14, 0);
	ASSERT_OK(wait_csts(f, 0xd, 0) & 0xd);
	/* Enable with an admin queue of 1 entry: fatal status */
	wr32(f, 0x24, 0);
	wr32(f, 0x14, (4u << 20) | (6u << 16) | 1u);
	ASSERT_EQ(wait_csts(f, 2, 2) & 3, 2);
	wr32(f, 0x14, 0);
	ASSERT_OK(wait_csts(f, 3, 0) & 3);
	/* Enable again properly after the failure */
	enable(f);
}

static void test_identify(void **state)
{
	struct fx *f = *state;
	struct cqe r;
	uint8_t *d = f->mem + BUF_OFF;
	uint32_t nsze;

	enable(f);
	r = admin(f, 0x06, 0, IOVA + BUF_OFF, 0, 1, 0);
	ASSERT_OK(sc(&r));
	ASSERT_EQ(d[0] | d[1] << 8, NVME_EMU_VENDOR);
	assert_memory_equal(d + 4, "SN-REGS-1           ", 20);
	ASSERT_EQ(d[77], 8);                    /* MDTS */
	ASSERT_EQ(d[512], 0x66);
	ASSERT_EQ(d[513], 0x44);
	ASSERT_EQ(d[516], 1);                   /* NN */
	assert_true(d[257] & 1);                       /* OACS: DBBUF */
	r = admin(f, 0x06, 1, IOVA + BUF_OFF, 0, 0, 0);
	ASSERT_OK(sc(&r));
	memcpy(&nsze, d, 4);
	ASSERT_EQ(nsze, (4u << 20) / 512);
	/* Active namespace list */
	r = admin(f, 0x06, 0, IOVA + BUF_OFF, 0, 2, 0);
	ASSERT_OK(sc(&r));
	ASSERT_EQ(d[0], 1);
	ASSERT_OK(d[4]);
	/* Bad namespace, bad CNS, bad opcode: status with DNR */
	r = admin(f, 0x06, 7, IOVA + BUF_OFF, 0, 0, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x0b);
	r = admin(f, 0x06, 0, IOVA + BUF_OFF, 0, 0x55, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x02);
	r = admin(f, 0xc1, 0, 0, 0, 0, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x01);
	/* PRP1 not dword aligned */
	r = admin(f, 0x06, 0, IOVA + BUF_OFF + 2, 0, 1, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x13);
}

static void test_queues_and_io(void **state)
{
	struct fx *f = *state;
	volatile struct cqe *cq;
	uint8_t *sqe, *data = f->mem + DATA_OFF;
	uint64_t prp1, prp2;
	struct cqe r;
	uint16_t cid;
	int i, k;

	enable(f);
	/* Number of Queues: 4 granted of 8 asked (0-based 3) */
	r = admin(f, 0x09, 0, 0, 0, 0x07, (7u << 16) | 7u);
	ASSERT_OK(sc(&r));
	ASSERT_EQ(r.dw0, (3u << 16) | 3u);
	/* Create SQ before its CQ: Completion Queue Invalid */
	r = admin(f, 0x01, 0, IOVA + IOSQ_OFF, 0, (15u << 16) | 1, (1u << 16) | 1);
	ASSERT_EQ(sc(&r), 0x4000 | 0x100);
	/* Bad CQ: qid 0, qid beyond granted, size 1, vector out of range */
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (15u << 16) | 0, 3);
	ASSERT_EQ(sc(&r), 0x4000 | 0x101);
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (15u << 16) | 5, 3);
	ASSERT_EQ(sc(&r), 0x4000 | 0x101);
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (0u << 16) | 1, 3);
	ASSERT_EQ(sc(&r), 0x4000 | 0x102);
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (15u << 16) | 1, 3 | (200u << 16));
	ASSERT_EQ(sc(&r), 0x4000 | 0x108);
	/* Good CQ 1 (16 entries, vector 1) and SQ 1 */
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (15u << 16) | 1, 3 | (1u << 16));
	ASSERT_OK(sc(&r));
	r = admin(f, 0x01, 0, IOVA + IOSQ_OFF, 0, (15u << 16) | 1, (1u << 16) | 1);
	ASSERT_OK(sc(&r));
	/* Deleting a CQ with an SQ on it: Invalid Queue Deletion */
	r = admin(f, 0x04, 0, 0, 0, 1, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x10c);

	/* Write 16 KiB at LBA 8 (PRP1 + PRP list of 3), read it back */
	for (i = 0; i < 16384; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (k = 0; k < 2; k++) {
		uint64_t list[3];
		uint32_t nlb = 32 - 1, lba = 8;

		sqe = f->mem + IOSQ_OFF + f->iosq_tail * 64;
		memset(sqe, 0, 64);
		sqe[0] = k == 0 ? 0x01 : 0x02;
		cid = (uint16_t)(100 + k);
		memcpy(sqe + 2, &cid, 2);
		sqe[4] = 1; /* NSID */
		prp1 = IOVA + (k == 0 ? DATA_OFF : DATA_OFF + 0x8000);
		for (i = 0; i < 3; i++)
			list[i] = prp1 + 0x1000ull * (i + 1);
		memcpy(f->mem + PRPL_OFF, list, sizeof(list));
		prp2 = IOVA + PRPL_OFF;
		memcpy(sqe + 24, &prp1, 8);
		memcpy(sqe + 32, &prp2, 8);
		memcpy(sqe + 40, &lba, 4);
		memcpy(sqe + 48, &nlb, 4);
		f->iosq_tail = (f->iosq_tail + 1) % 16;
		wr32(f, 0x1008, f->iosq_tail);
		cq = (volatile struct cqe *)(f->mem + IOCQ_OFF) + f->iocq_head;
		for (i = 0; i < 5000 && (cq->status & 1) != f->iocq_phase; i++)
			(void)vus_client_process(f->c, 1);
		ASSERT_EQ(cq->status & 1, 1);
		ASSERT_EQ(cq->cid, cid);
		ASSERT_OK(cq->status >> 1);
		ASSERT_EQ(cq->sqid, 1);
		f->iocq_head++;
		wr32(f, 0x100c, f->iocq_head);
	}
	assert_memory_equal(data, data + 0x8000, 16384);

	/* Out of range LBA: LBA Out of Range with DNR */
	sqe = f->mem + IOSQ_OFF + f->iosq_tail * 64;
	memset(sqe, 0, 64);
	sqe[0] = 0x02;
	cid = 300;
	memcpy(sqe + 2, &cid, 2);
	sqe[4] = 1;
	prp1 = IOVA + DATA_OFF;
	memcpy(sqe + 24, &prp1, 8);
	{
		uint32_t lba = (4u << 20) / 512;

		memcpy(sqe + 40, &lba, 4);
	}
	f->iosq_tail++;
	wr32(f, 0x1008, f->iosq_tail);
	cq = (volatile struct cqe *)(f->mem + IOCQ_OFF) + f->iocq_head;
	for (i = 0; i < 5000 && (cq->status & 1) != 1; i++)
		(void)vus_client_process(f->c, 1);
	ASSERT_EQ(cq->status >> 1, 0x4000 | 0x80);

	/* Delete SQ then CQ */
	r = admin(f, 0x00, 0, 0, 0, 1, 0);
	ASSERT_OK(sc(&r));
	r = admin(f, 0x04, 0, 0, 0, 1, 0);
	ASSERT_OK(sc(&r));
	r = admin(f, 0x00, 0, 0, 0, 1, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x101);
}

/* DEVICE_RESET: registers back to power-on, the admin queue gone. */
static void test_device_reset(void **state)
{
	struct fx *f = *state;

	enable(f);
	ASSERT_OK(vus_client_reset(f->c));
	ASSERT_OK(wait_csts(f, 1, 0) & 1);
	ASSERT_OK(rd32(f, 0x14));
	ASSERT_OK(rd32(f, 0x24));
	enable(f);
	{
		struct cqe r = admin(f, 0x06, 0, IOVA + BUF_OFF, 0, 1, 0);

		ASSERT_OK(sc(&r));
	}
}


/* Submit one I/O command on SQ 1 (16 entries, CQ 1) and wait for it. */
static uint16_t io_cmd(struct fx *f, uint8_t opc, uint32_t lba, uint32_t nlb0, uint64_t prp1)
{
	uint8_t *sqe = f->mem + IOSQ_OFF + f->iosq_tail * 64;
	volatile struct cqe *cq = (volatile struct cqe *)(f->mem + IOCQ_OFF) + f->iocq_head;
	uint16_t cid = ++f->cid, st;
	int i;

	memset(sqe, 0, 64);
	sqe[0] = opc;
	memcpy(sqe + 2, &cid, 2);
	sqe[4] = 1;
	memcpy(sqe + 24, &prp1, 8);
	memcpy(sqe + 40, &lba, 4);
	memcpy(sqe + 48, &nlb0, 4);
	f->iosq_tail = (f->iosq_tail + 1) % 16;
	wr32(f, 0x1008, f->iosq_tail);
	for (i = 0; i < 5000 && (cq->status & 1) != f->iocq_phase; i++)
		(void)vus_client_process(f->c, 1);
	ASSERT_EQ(cq->status & 1, f->iocq_phase);
	ASSERT_EQ(cq->cid, cid);
	st = cq->status >> 1;
	if (++f->iocq_head == 16) {
		f->iocq_head = 0;
		f->iocq_phase ^= 1;
	}
	wr32(f, 0x100c, f->iocq_head);
	return st;
}

/* STOP_COPY on one controller, RESUMING on another with a copy of guest
 * memory: registers, queues mid-ring and the RAM namespace move, and both
 * queues continue where they were. */
static void test_migration(void **state)
{
	struct fx *f = *state, *g = malloc(sizeof(*g));
	uint8_t *stream = NULL, *data;
	size_t len = 0, cap = 0;
	uint32_t got;
	struct cqe r;
	int i;

	enable(f);
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (15u << 16) | 1, 3 | (1u << 16));
	ASSERT_OK(sc(&r));
	r = admin(f, 0x01, 0, IOVA + IOSQ_OFF, 0, (15u << 16) | 1, (1u << 16) | 1);
	ASSERT_OK(sc(&r));
	data = f->mem + DATA_OFF;
	for (i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	/* Enough I/O to wrap the 16-entry queues once */
	for (i = 0; i < 20; i++)
		ASSERT_OK(io_cmd(f, 0x01, (uint32_t)i * 8, 7, IOVA + DATA_OFF));

	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP_COPY));
	do {
		if (cap - len < 65536) {
			cap = cap * 2 + 65536;
			stream = realloc(stream, cap);
			assert_non_null(stream);
		}
		ASSERT_OK(vus_client_mig_data_read(f->c, stream + len, 65536, &got));
		len += got;
	} while (got == 65536);
	assert_true(len > 4u << 20); /* the RAM namespace travels */
	ASSERT_OK(vus_client_mig_set_state(f->c, VUS_MIG_STATE_STOP));

	fx_start(g, true);
	memcpy(g->mem, f->mem, MEM_SIZE);
	g->cid = f->cid;
	g->asq_tail = f->asq_tail;
	g->acq_head = f->acq_head;
	g->acq_phase = f->acq_phase;
	g->iosq_tail = f->iosq_tail;
	g->iocq_head = f->iocq_head;
	g->iocq_phase = f->iocq_phase;
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RESUMING));
	/* A corrupt record is refused at the commit point */
	ASSERT_OK(vus_client_mig_data_write(g->c, stream, 64));
	assert_int_not_equal(vus_client_mig_set_state(g->c, VUS_MIG_STATE_STOP), 0);
	/* A failed arc leaves the device in ERROR; a reset leads out
	 * (docs/migration.md) */
	ASSERT_OK(vus_client_reset(g->c));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RESUMING));
	for (size_t off = 0; off < len; off += 65536)
		ASSERT_OK(vus_client_mig_data_write(g->c, stream + off,
							   len - off < 65536 ? len - off : 65536));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(g->c, VUS_MIG_STATE_RUNNING));
	free(stream);

	ASSERT_EQ(rd32(g, 0x1c) & 1, 1);
	r = admin(g, 0x06, 0, IOVA + BUF_OFF, 0, 1, 0);
	ASSERT_OK(sc(&r));
	memset(g->mem + DATA_OFF + 0x8000, 0, 4096);
	ASSERT_OK(io_cmd(g, 0x02, 19 * 8, 7, IOVA + DATA_OFF + 0x8000));
	assert_memory_equal(g->mem + DATA_OFF + 0x8000, g->mem + DATA_OFF, 4096);
	fx_stop(g);
	free(g);
}

/* An out-of-range doorbell value is ignored and reported through a held
 * Asynchronous Event Request (Error status, Invalid Doorbell Write Value,
 * log 01h); the queue goes on with the next valid value. */
static void test_bad_doorbell_aer(void **state)
{
	struct fx *f = *state;
	volatile struct cqe *cq;
	uint8_t *sqe;
	uint16_t cid = 77;
	struct cqe r;
	int i;

	enable(f);
	sqe = f->mem + ASQ_OFF;
	memset(sqe, 0, 64);
	sqe[0] = 0x0c; /* AER */
	memcpy(sqe + 2, &cid, 2);
	f->asq_tail = 1;
	wr32(f, 0x1000, 1);
	cq = (volatile struct cqe *)(f->mem + ACQ_OFF);
	ASSERT_OK(cq->status & 1); /* held */
	wr32(f, 0x1000, 100);                 /* beyond the 32-entry queue */
	for (i = 0; i < 5000 && (cq->status & 1) != 1; i++)
		(void)vus_client_process(f->c, 1);
	ASSERT_EQ(cq->status & 1, 1);
	ASSERT_EQ(cq->cid, 77);
	ASSERT_OK(cq->status >> 1);
	ASSERT_EQ(cq->dw0, 0x00010100);
	f->acq_head = 1;
	wr32(f, 0x1004, 1);
	/* The queue works on with valid values; the error log shows it */
	r = admin(f, 0x02, 0xffffffff, IOVA + BUF_OFF, 0, 0x01 | (15u << 16), 0);
	ASSERT_OK(sc(&r));
	r = admin(f, 0x06, 0, IOVA + BUF_OFF, 0, 1, 0);
	ASSERT_OK(sc(&r));
}

/* Three RAM namespaces: NN, the active list, separate data, bad NSIDs. */
static void test_namespaces(void **state)
{
	struct fx *f = *state;
	uint8_t *d = f->mem + BUF_OFF, *sqe;
	volatile struct cqe *cq;
	struct cqe r;
	uint32_t v;
	int i, k;

	enable(f);
	r = admin(f, 0x06, 0, IOVA + BUF_OFF, 0, 1, 0);
	ASSERT_OK(sc(&r));
	memcpy(&v, d + 516, 4);
	ASSERT_EQ(v, 3);
	r = admin(f, 0x06, 1, IOVA + BUF_OFF, 0, 2, 0); /* ids above 1 */
	ASSERT_OK(sc(&r));
	memcpy(&v, d, 4);
	ASSERT_EQ(v, 2);
	memcpy(&v, d + 4, 4);
	ASSERT_EQ(v, 3);
	memcpy(&v, d + 8, 4);
	ASSERT_OK(v);
	r = admin(f, 0x06, 3, IOVA + BUF_OFF, 0, 0, 0);
	ASSERT_OK(sc(&r));
	r = admin(f, 0x06, 4, IOVA + BUF_OFF, 0, 0, 0);
	ASSERT_EQ(sc(&r), 0x4000 | 0x0b);
	r = admin(f, 0x05, 0, IOVA + IOCQ_OFF, 0, (15u << 16) | 1, 3 | (1u << 16));
	ASSERT_OK(sc(&r));
	r = admin(f, 0x01, 0, IOVA + IOSQ_OFF, 0, (15u << 16) | 1, (1u << 16) | 1);
	ASSERT_OK(sc(&r));
	/* Write a different byte to LBA 0 of namespaces 1..3, read each back;
	 * NSID 4 is Invalid Namespace or Format. */
	for (k = 0; k < 8; k++) {
		uint32_t nsid = (uint32_t)(k % 4) + 1;
		uint8_t opc = k < 4 ? 0x01 : 0x02;
		uint64_t prp1 = IOVA + DATA_OFF + (k < 4 ? 0 : 0x1000) + 0x2000 * (k % 4);
		uint16_t cid = (uint16_t)(500 + k);

		if (k < 4)
			memset(f->mem + (prp1 - IOVA), 0x10 + k, 512);
		sqe = f->mem + IOSQ_OFF + f->iosq_tail * 64;
		memset(sqe, 0, 64);
		sqe[0] = opc;
		memcpy(sqe + 2, &cid, 2);
		memcpy(sqe + 4, &nsid, 4);
		memcpy(sqe + 24, &prp1, 8);
		f->iosq_tail = (f->iosq_tail + 1) % 16;
		wr32(f, 0x1008, f->iosq_tail);
		cq = (volatile struct cqe *)(f->mem + IOCQ_OFF) + f->iocq_head;
		for (i = 0; i < 5000 && (cq->status & 1) != 1; i++)
			(void)vus_client_process(f->c, 1);
		ASSERT_EQ(cq->cid, cid);
		ASSERT_EQ(cq->status >> 1, nsid == 4 ? 0x4000 | 0x0b : 0);
		f->iocq_head++;
		wr32(f, 0x100c, f->iocq_head);
	}
	for (k = 0; k < 3; k++)
		for (i = 0; i < 512; i++)
			ASSERT_EQ(f->mem[DATA_OFF + 0x1000 + 0x2000 * k + i], 0x10 + k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_identity, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_cap_vs, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup_nofd, teardown),
		cmocka_unit_test_setup_teardown(test_queues_and_io, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_queues_and_io, setup_nofd, teardown),
		cmocka_unit_test_setup_teardown(test_queues_and_io, setup_poll, teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable, setup_poll, teardown),
		cmocka_unit_test_setup_teardown(test_device_reset, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_bad_doorbell_aer, setup_fd, teardown),
		cmocka_unit_test_setup_teardown(test_namespaces, setup_3ns, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
