/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_nvme_sq: hostile submission queue entries and doorbells against
 * samples/nvme-emu (docs/nvme-testing.md). One controller is served on a
 * thread of this process for the whole run and driven over its vfio-user
 * socket by the tests' userspace driver (test/helpers/nvme_drv.c), with
 * an admin queue and one I/O queue pair. An input is a sequence of
 * records:
 *
 *   0x00 Q SQE[64]   submit the 64 bytes on queue Q % 2 (0 admin, 1 I/O);
 *                    data pointers are folded into the scratch area
 *                    unless the input asks for raw ones (flag bit below)
 *   0x01 OFF LEN BYTES  write LEN bytes into the scratch area at OFF*16
 *                    (PRP lists, SGL segments, DSM ranges, write data)
 *   0x02 Q C V[4]    a raw doorbell write: queue Q % 4, CQ if C & 1, value V
 *   other            end of input
 *
 * SQE byte 2 bit 0 (the CID's low bit; the driver assigns CIDs anyway)
 * keeps PRP1/PRP2 raw instead of folding them into the scratch area.
 * Admin commands that would take the driver's own queues away (Create
 * and Delete I/O SQ/CQ on ids 0-1, Doorbell Buffer Config) are aimed at
 * ids 2 and up or turned into Identify.
 *
 * Every command must complete (within a second) unless the input wrote
 * raw doorbells; the controller must answer Identify after every input,
 * after a controller reset if it set CSTS.CFS or the input broke the
 * queues. Crashes, sanitizer reports and these checks are findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#include "nvme_drv.h"
#include "nvme_emu.h"

#define SCRATCH (64u * 1024)

static struct vus_dev *dev;
static struct nvme_drv *drv;
static uint8_t *scratch;
static uint64_t scratch_iova;

static void *server_main(void *arg)
{
	vus_dev_run(dev);
	return NULL;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz_nvme_sq: %s: %d\n", what, r);
	abort();
}

static void queues_up(void)
{
	int r = nvme_drv_set_num_queues(drv, 1, 1, NULL, NULL);

	if (r == 0)
		r = nvme_drv_create_qpair(drv, 1, 16);
	if (r != 0)
		die("I/O queue set-up", r);
}

static void setup(void)
{
	static char dir[] = "/tmp/fuzz-nvme-XXXXXX";
	struct nvme_drv_client_opts co = { .mem_size = 4u << 20 };
	struct nvme_drv_opts dopts = { .irq = false, .timeout_ms = 1000 };
	struct nvme_drv_transport tr;
	struct nvme_emu_opts eo;
	struct nvme_emu *emu;
	struct vus_client *c;
	pthread_t t;
	char path[64];
	int r;

	if (!mkdtemp(dir))
		die("mkdtemp", -1);
	snprintf(path, sizeof(path), "%s/sock", dir);
	nvme_emu_opts_default(&eo);
	eo.size = 1u << 20;
	eo.max_queues = 2;
	r = nvme_emu_create("fuzz", &eo, &emu);
	if (r < 0)
		die("nvme_emu_create", r);
	dev = nvme_emu_dev(emu);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	if (vus_dev_listen(dev, path) < 0 || pthread_create(&t, NULL, server_main, NULL) != 0)
		die("serve", -1);
	r = vus_client_connect(path, NULL, &c);
	if (r == 0)
		r = nvme_drv_client_transport(c, &co, &tr);
	if (r == 0)
		r = nvme_drv_open(&tr, &dopts, &drv);
	if (r != 0)
		die("controller set-up", r);
	queues_up();
	scratch = nvme_drv_alloc(drv, SCRATCH, &scratch_iova);
	if (!scratch)
		die("scratch", -1);
}

/* Bring the controller back: disable, enable, queues. */
static void recover(void)
{
	int r = nvme_drv_disable(drv);

	if (r >= 0)
		r = nvme_drv_enable(drv);
	if (r < 0)
		die("controller reset", r);
	queues_up();
}

/* Returns true when the command may change controller state that
 * outlives the input (queues, features): the harness resets after it. */
static bool tame(struct nvd_sqe *s, uint16_t qid, bool raw_ptrs)
{
	bool dirty = false;

	if (qid == 0) {
		switch (s->opc) {
		case NVD_ADM_SET_FEATURES:
			dirty = true;
			break;
		case NVD_ADM_CREATE_SQ:
		case NVD_ADM_CREATE_CQ:
		case NVD_ADM_DELETE_SQ:
		case NVD_ADM_DELETE_CQ:
			if ((s->cdw10 & 0xffff) < 2)
				s->cdw10 |= 2;
			/* A queue the controller accepts lives in scratch. */
			s->prp1 = scratch_iova + (s->prp1 % SCRATCH & ~0xfffull);
			return true;
		case NVD_ADM_DBBUF_CONFIG:
		case NVD_ADM_ASYNC_EVENT: /* held forever: would fill the queue */
			s->opc = NVD_ADM_IDENTIFY;
			break;
		default:
			break;
		}
	}
	if (!raw_ptrs) {
		s->prp1 = scratch_iova + s->prp1 % SCRATCH;
		s->prp2 = scratch_iova + s->prp2 % SCRATCH;
	}
	return dirty;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	bool raw_doorbells = false, dirty = false;
	size_t i = 0;
	uint32_t csts = 0;
	int r;

	if (!ready) {
		setup();
		ready = true;
	}
	while (i < size) {
		uint8_t op = data[i++];

		if (op == 0x00 && size - i >= 65) {
			struct nvme_drv_cmd cmd = { 0 };
			uint16_t qid = data[i] % 2, cid;

			memcpy(&cmd.sqe, data + i + 1, 64);
			dirty |= tame(&cmd.sqe, qid, data[i + 3] & 1);
			i += 65;
			r = nvme_drv_submit(drv, qid, &cmd, &cid);
			if (r < 0)
				break; /* queue gone or full: a doorbell broke it */
			r = nvme_drv_wait(drv, qid, cid, NULL);
			if (r < 0 && !raw_doorbells)
				die("a command never completed", r);
			if (r < 0)
				break;
		} else if (op == 0x01 && size - i >= 2) {
			size_t off = (size_t)data[i] * 16 % SCRATCH, len = data[i + 1];

			i += 2;
			if (len > size - i)
				len = size - i;
			if (len > SCRATCH - off)
				len = SCRATCH - off;
			memcpy(scratch + off, data + i, len);
			i += len;
		} else if (op == 0x02 && size - i >= 6) {
			uint32_t v;

			memcpy(&v, data + i + 2, 4);
			nvme_drv_ring(drv, data[i] % 4, data[i + 1] & 1, v);
			raw_doorbells = true;
			i += 6;
		} else {
			break;
		}
	}
	/* The controller must still answer; a reset may be needed first. */
	r = nvme_drv_reg32(drv, NVD_REG_CSTS, &csts);
	if (r < 0)
		die("CSTS read", r);
	if (raw_doorbells || dirty || (csts & NVD_CSTS_CFS) || !(csts & NVD_CSTS_RDY))
		recover();
	r = nvme_drv_identify(drv, 1, 0, NULL);
	if (r != 0) {
		recover();
		r = nvme_drv_identify(drv, 1, 0, NULL);
		if (r != 0)
			die("Identify after a reset", r);
	}
	return 0;
}
