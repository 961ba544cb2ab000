/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Get/Set Features (NVMe 1.4 5.9, 5.21). Supported: Arbitration, Power
 * Management, Temperature Threshold, Error Recovery, Volatile Write
 * Cache, Number of Queues, Interrupt Coalescing, Interrupt Vector
 * Configuration, Write Atomicity Normal, Asynchronous Event Configuration
 * and Timestamp. None is saveable (ONCS bit 4 clear): SV = 1 is Feature
 * Identifier Not Saveable, SEL = 2 (saved) returns the default. Unknown
 * identifiers: Invalid Field in Command with DNR.
 */
#include <endian.h>
#include <string.h>
#include <time.h>

#include "nvme_priv.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void nvme_features_default(struct nvme_emu *n)
{
	struct nvme_feat *f = &n->feat;

	memset(f, 0, sizeof(*f));
	f->temp_over = 0x157;            /* = WCTEMP */
	f->vwc = true;
	f->nq = ((n->max_queues - 1) << 16) | (n->max_queues - 1);
}

static struct nvme_res ok(uint32_t dw0)
{
	return (struct nvme_res){ .status = 0, .dw0 = dw0 };
}

static struct nvme_res bad(uint16_t sc)
{
	return (struct nvme_res){ .status = nvme_sc(sc, true) };
}

/* Timestamp data (5.21.1.14): 48-bit milliseconds, then attributes:
 * bits 3:1 origin (0 reset, 1 set by the host), bit 0 synch (0: kept
 * counting while the controller ran). */
static void timestamp_get(struct nvme_emu *n, uint8_t *d)
{
	struct nvme_feat *f = &n->feat;
	uint64_t ts = f->timestamp_set_ms ? f->timestamp + (now_ms() - f->timestamp_set_ms) :
					    now_ms() - n->smart.created_ns / 1000000;

	ts = htole64(ts & 0xffffffffffffull);
	memset(d, 0, 8);
	memcpy(d, &ts, 6);
	d[6] = f->timestamp_set_ms ? 1u << 1 : 0;
}

static bool known(uint8_t fid)
{
	switch (fid) {
	case NVME_FEAT_ARBITRATION: case NVME_FEAT_POWER_MGMT: case NVME_FEAT_TEMP_THRESH:
	case NVME_FEAT_ERR_RECOVERY: case NVME_FEAT_VWC: case NVME_FEAT_NUM_QUEUES:
	case NVME_FEAT_IRQ_COALESCE: case NVME_FEAT_IRQ_CONFIG: case NVME_FEAT_WRITE_ATOMIC:
	case NVME_FEAT_ASYNC_EVENT: case NVME_FEAT_TIMESTAMP:
		return true;
	default:
		return false;
	}
}

/* Namespace-specific features (Error Recovery) need a valid NSID; the
 * others ignore it unless it names no namespace at all. */
static bool nsid_ok(struct nvme_emu *n, uint8_t fid, uint32_t nsid)
{
	if (fid == NVME_FEAT_ERR_RECOVERY)
		return nvme_ns_get(n, nsid) || nsid == 0xffffffff;
	return nsid == 0 || nvme_ns_get(n, nsid) || nsid == 0xffffffff;
}

struct nvme_res nvme_get_features(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_feat *f = &n->feat, def;
	uint8_t fid = c->cdw10 & 0xff, sel = (c->cdw10 >> 8) & 7;
	uint32_t iv;
	uint16_t s;
	uint8_t d[8];

	if (!known(fid))
		return bad(NVME_SC_INVALID_FIELD);
	if (!nsid_ok(n, fid, c->nsid))
		return bad(NVME_SC_INVALID_NSID);
	if (sel == 3) /* supported capabilities: changeable, NS-specific */
		return ok((1u << 2) | (fid == NVME_FEAT_ERR_RECOVERY ? 1u << 1 : 0));
	if (sel > 3)
		return bad(NVME_SC_INVALID_FIELD);
	if (sel == 1 || sel == 2) { /* default, saved (= default) */
		struct nvme_feat cur = *f;

		nvme_features_default(n);
		def = n->feat;
		n->feat = cur;
		f = &def;
	}
	switch (fid) {
	case NVME_FEAT_ARBITRATION:  return ok(f->arbitration);
	case NVME_FEAT_POWER_MGMT:   return ok(f->power_mgmt);
	case NVME_FEAT_TEMP_THRESH: {
		/* CDW11: TMPSEL 19:16 (0 composite; no other sensors), THSEL
		 * 21:20 (0 over, 1 under). */
		uint32_t tmpsel = (c->cdw11 >> 16) & 0xf, thsel = (c->cdw11 >> 20) & 3;

		if (tmpsel != 0 || thsel > 1)
			return bad(NVME_SC_INVALID_FIELD);
		return ok(thsel ? f->temp_under : f->temp_over);
	}
	case NVME_FEAT_ERR_RECOVERY: return ok(f->err_recovery);
	case NVME_FEAT_VWC:          return ok(f->vwc);
	case NVME_FEAT_NUM_QUEUES:   return ok(f->nq);
	case NVME_FEAT_IRQ_COALESCE: return ok(f->irq_coalesce);
	case NVME_FEAT_IRQ_CONFIG:
		iv = c->cdw11 & 0xffff;
		if (iv >= n->nvec)
			return bad(NVME_SC_INVALID_FIELD);
		return ok(iv | (f->irq_cd[iv] ? 1u << 16 : 0));
	case NVME_FEAT_WRITE_ATOMIC: return ok(f->write_atomic);
	case NVME_FEAT_ASYNC_EVENT:  return ok(f->async_event);
	default: /* NVME_FEAT_TIMESTAMP */
		timestamp_get(n, d);
		s = nvme_dptr_map(n, c, 8, true);
		if (!s)
			s = nvme_dptr_copy(n, d, 8, true);
		return (struct nvme_res){ .status = s };
	}
}

struct nvme_res nvme_set_features(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_feat *f = &n->feat;
	uint8_t fid = c->cdw10 & 0xff;
	uint32_t v = c->cdw11, nsq, ncq;
	uint64_t ts;
	uint16_t s;
	int q;

	if (!known(fid))
		return bad(NVME_SC_INVALID_FIELD);
	if (c->cdw10 & (1u << 31))
		return bad(NVME_SC_FEATURE_NOT_SAVEABLE);
	if (!nsid_ok(n, fid, c->nsid))
		return bad(NVME_SC_INVALID_NSID);
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		f->arbitration = v;
		return ok(0);
	case NVME_FEAT_POWER_MGMT:
		if ((v & 0x1f) != 0) /* PS beyond NPSS */
			return bad(NVME_SC_INVALID_FIELD);
		f->power_mgmt = v & 0xff;
		return ok(0);
	case NVME_FEAT_TEMP_THRESH: {
		uint32_t tmpsel = (v >> 16) & 0xf, thsel = (v >> 20) & 3;

		if (tmpsel != 0 || thsel > 1)
			return bad(NVME_SC_INVALID_FIELD);
		if (thsel)
			f->temp_under = v & 0xffff;
		else
			f->temp_over = v & 0xffff;
		return ok(0);
	}
	case NVME_FEAT_ERR_RECOVERY:
		if (v & (1u << 16)) /* DULBE: NSFEAT bit 2 is clear */
			return bad(NVME_SC_INVALID_FIELD);
		f->err_recovery = v & 0xffff;
		return ok(0);
	case NVME_FEAT_VWC:
		f->vwc = v & 1;
		if (!f->vwc)
			(void)nvme_ns_flush_all(n);
		return ok(0);
	case NVME_FEAT_NUM_QUEUES:
		/* 5.21.1.7: 0-based counts, FFFFh invalid; only before any
		 * I/O queue exists (else Command Sequence Error). */
		nsq = v & 0xffff;
		ncq = v >> 16;
		if (nsq == 0xffff || ncq == 0xffff)
			return bad(NVME_SC_INVALID_FIELD);
		for (q = 1; q < NVME_NR_QUEUES; q++)
			if (n->sq[q].live || n->cq[q].live)
				return bad(NVME_SC_CMD_SEQ_ERROR);
		if (nsq > n->max_queues - 1)
			nsq = n->max_queues - 1;
		if (ncq > n->max_queues - 1)
			ncq = n->max_queues - 1;
		f->nq = (ncq << 16) | nsq;
		f->nq_set = true;
		return ok(f->nq);
	case NVME_FEAT_IRQ_COALESCE:
		f->irq_coalesce = v & 0xffff;
		return ok(0);
	case NVME_FEAT_IRQ_CONFIG:
		if ((v & 0xffff) >= n->nvec)
			return bad(NVME_SC_INVALID_FIELD);
		f->irq_cd[v & 0xffff] = v & (1u << 16);
		return ok(0);
	case NVME_FEAT_WRITE_ATOMIC:
		f->write_atomic = v & 1;
		return ok(0);
	case NVME_FEAT_ASYNC_EVENT:
		/* OAES advertises no notices: only the SMART warning bits. */
		f->async_event = v & 0xff;
		return ok(0);
	default: /* NVME_FEAT_TIMESTAMP */
		s = nvme_dptr_map(n, c, 8, true);
		if (!s)
			s = nvme_dptr_copy(n, &ts, 8, false);
		if (s)
			return (struct nvme_res){ .status = s };
		f->timestamp = le64toh(ts) & 0xffffffffffffull;
		f->timestamp_set_ms = now_ms();
		return ok(0);
	}
}
