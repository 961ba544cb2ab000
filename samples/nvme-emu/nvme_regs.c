/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BAR0: the controller registers (NVMe 1.4 3.1) and the doorbells at
 * 0x1000 (stride 4: CAP.DSTRD = 0). docs/nvme.md "Register map".
 *
 * Runs on the loop thread. A register write only records the value and
 * kicks the processor, which applies enable/disable/shutdown; a doorbell
 * write stores the value and kicks. QEMU posts these writes (no mmap-able
 * region on the device), so a doorbell never waits for us.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "nvme_priv.h"

/* CAP (3.1.1): MQES, CQR (contiguous queues required), TO 7.5 s, DSTRD 0,
 * NSSRS, CSS = NVM command set only, MPSMIN = MPSMAX = 0 (4 KiB pages). */
static uint64_t cap_value(const struct nvme_emu *n)
{
	return (uint64_t)(n->max_qsize - 1) |
	       (1ull << 16) |            /* CQR */
	       (15ull << 24) |           /* TO: 500 ms units */
	       (1ull << 36) |            /* NSSRS */
	       (1ull << 37);             /* CSS: NVM */
}

/* Power-on values (regs_lock held, or before listening). */
void nvme_regs_power_on(struct nvme_emu *n)
{
	int i;

	memset(&n->r, 0, sizeof(n->r));
	n->r.cap = cap_value(n);
	n->r.vs = 0x00010400;
	for (i = 0; i < NVME_NR_QUEUES; i++) {
		atomic_store(&n->sq_db[i], 0);
		atomic_store(&n->cq_db[i], 0);
	}
}

static uint64_t reg_read(struct nvme_emu *n, uint64_t off, uint32_t size)
{
	const struct nvme_regs *r = &n->r;
	uint64_t v;

	switch (off) {
	case NVME_REG_CAP:      v = r->cap; break;
	case NVME_REG_CAP + 4:  v = r->cap >> 32; break;
	case NVME_REG_VS:       v = r->vs; break;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC:    v = r->intms; break;
	case NVME_REG_CC:       v = r->cc; break;
	case NVME_REG_CSTS:     v = r->csts; break;
	case NVME_REG_AQA:      v = r->aqa; break;
	case NVME_REG_ASQ:      v = r->asq; break;
	case NVME_REG_ASQ + 4:  v = r->asq >> 32; break;
	case NVME_REG_ACQ:      v = r->acq; break;
	case NVME_REG_ACQ + 4:  v = r->acq >> 32; break;
	default:                v = 0; break; /* reserved, NSSR, doorbells: read 0 */
	}
	return size == 4 ? (uint32_t)v : v;
}

/* CC (3.1.5): while enabled only EN and SHN may change; the processor
 * turns the change into CSTS (nvme_ctrl_apply). */
static void cc_write(struct nvme_emu *n, uint32_t v)
{
	uint32_t cc = n->r.cc;

	v &= NVME_CC_WRITABLE;
	if ((cc & NVME_CC_EN) && (v & NVME_CC_EN))
		v = (cc & ~(NVME_CC_EN | (3u << 14))) | (v & (NVME_CC_EN | (3u << 14)));
	n->r.cc = v;
	if (!NVME_CC_SHN(v))
		n->r.csts &= ~NVME_CSTS_SHST_MASK;
}

static void reg_write32(struct nvme_emu *n, uint64_t off, uint32_t v)
{
	struct nvme_regs *r = &n->r;
	bool enabled = r->cc & NVME_CC_EN;

	switch (off) {
	case NVME_REG_INTMS:  r->intms |= v; break;
	case NVME_REG_INTMC:  r->intms &= ~v; break;
	case NVME_REG_CC:     cc_write(n, v); break;
	case NVME_REG_CSTS:   r->csts &= ~(v & NVME_CSTS_NSSRO); break; /* RW1C */
	case NVME_REG_NSSR:
		if (v == NVME_NSSR_MAGIC)
			n->nssr_pending = true;
		break;
	/* The admin queue registers may change only while disabled (3.1.8). */
	case NVME_REG_AQA:
		if (!enabled)
			r->aqa = v & 0x0fff0fff;
		break;
	case NVME_REG_ASQ:
		if (!enabled)
			r->asq = (r->asq & ~0xffffffffull) | (v & ~0xfffu);
		break;
	case NVME_REG_ASQ + 4:
		if (!enabled)
			r->asq = (r->asq & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	case NVME_REG_ACQ:
		if (!enabled)
			r->acq = (r->acq & ~0xffffffffull) | (v & ~0xfffu);
		break;
	case NVME_REG_ACQ + 4:
		if (!enabled)
			r->acq = (r->acq & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	default:
		break; /* read-only and reserved: ignored */
	}
}

/*
 * Doorbell y: SQ y tail at 0x1000 + 8y, CQ y head at 0x1000 + 8y + 4.
 * Values are checked by the processor against the queue (an invalid one
 * is reported as an asynchronous event, NVMe 1.4 4.1), so any value is
 * stored here; writes beyond the last queue are dropped.
 */
static void doorbell_write(struct nvme_emu *n, uint64_t off, uint32_t v)
{
	uint64_t idx = (off - NVME_REG_DBS) / 4;
	uint64_t qid = idx / 2;

	if (qid >= NVME_NR_QUEUES || qid > n->max_queues)
		return;
	if (idx & 1)
		atomic_store_explicit(&n->cq_db[qid], v, memory_order_release);
	else
		atomic_store_explicit(&n->sq_db[qid], v, memory_order_release);
	atomic_store_explicit(&n->work, true, memory_order_release);
	nvme_kick(n);
}

/* Register data is little-endian on the wire (QEMU converts BAR data with
 * cpu_to_le). 4- and 8-byte aligned accesses; others: EINVAL. */
static int bar0_read(struct vus_dev *dev, void *opaque, uint64_t offset, void *buf,
		     uint32_t count)
{
	struct nvme_emu *n = opaque;
	uint64_t v;

	if ((count != 4 && count != 8) || offset % count)
		return -EINVAL;
	pthread_mutex_lock(&n->regs_lock);
	v = reg_read(n, offset, count);
	pthread_mutex_unlock(&n->regs_lock);
	if (count == 4) {
		uint32_t v32 = htole32((uint32_t)v);

		memcpy(buf, &v32, 4);
	} else {
		v = htole64(v);
		memcpy(buf, &v, 8);
	}
	return 0;
}

static int bar0_write(struct vus_dev *dev, void *opaque, uint64_t offset, const void *buf,
		      uint32_t count)
{
	struct nvme_emu *n = opaque;
	uint64_t v = 0;

	if ((count != 4 && count != 8) || offset % count)
		return -EINVAL;
	if (count == 4) {
		uint32_t v32;

		memcpy(&v32, buf, 4);
		v = le32toh(v32);
	} else {
		memcpy(&v, buf, 8);
		v = le64toh(v);
	}
	if (offset >= NVME_REG_DBS) {
		doorbell_write(n, offset, (uint32_t)v);
		if (count == 8)
			doorbell_write(n, offset + 4, (uint32_t)(v >> 32));
		return 0;
	}
	pthread_mutex_lock(&n->regs_lock);
	reg_write32(n, offset, (uint32_t)v);
	if (count == 8)
		reg_write32(n, offset + 4, (uint32_t)(v >> 32));
	atomic_store(&n->ctrl_change, true);
	pthread_mutex_unlock(&n->regs_lock);
	nvme_kick(n);
	return 0;
}

const struct vus_region_ops nvme_bar0_ops = {
	.read = bar0_read,
	.write = bar0_write,
};
