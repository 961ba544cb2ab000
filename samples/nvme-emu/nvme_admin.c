/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admin commands (NVMe 1.4 5): queue creation and deletion with the
 * specification's status for every bad queue id, size, vector or order,
 * Abort, Asynchronous Event Request, Doorbell Buffer Config, and the
 * dispatch to Identify, Features and Get Log Page. Anything else is
 * Invalid Command Opcode with DNR. docs/nvme.md "Admin commands".
 */
#include <string.h>

#include "nvme_priv.h"

static struct nvme_res ok(uint32_t dw0)
{
	return (struct nvme_res){ .status = NVME_SC_SUCCESS, .dw0 = dw0 };
}

static struct nvme_res err(uint16_t sc)
{
	return (struct nvme_res){ .status = nvme_sc(sc, true) };
}

/* Queue ids the host may use: 1..granted by Number of Queues (5.21.1.7;
 * all of them when it was never set). */
static uint32_t max_sqid(const struct nvme_emu *n)
{
	return (n->feat.nq & 0xffff) + 1;
}

static uint32_t max_cqid(const struct nvme_emu *n)
{
	return (n->feat.nq >> 16) + 1;
}

/* Create I/O Completion Queue (5.3). */
static struct nvme_res create_cq(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint32_t qid = c->cdw10 & 0xffff, qsize = (c->cdw10 >> 16) + 1;
	uint32_t iv = c->cdw11 >> 16;
	bool pc = c->cdw11 & 1, ien = c->cdw11 & 2;
	struct nvme_cq *cq;
	uint32_t cc = n->cc_applied;

	if (!qid || qid > max_cqid(n) || qid > n->max_queues || n->cq[qid].live)
		return err(NVME_SC_QID_INVALID);
	if (qsize < 2 || qsize > n->max_qsize)
		return err(NVME_SC_QUEUE_SIZE);
	if (NVME_CC_IOCQES(cc) != 4)
		return err(NVME_SC_INVALID_FIELD);
	if (!pc) /* CAP.CQR: contiguous queues required */
		return err(NVME_SC_INVALID_FIELD);
	if (iv >= n->nvec)
		return err(NVME_SC_INVALID_VECTOR);
	/* 4.3: a queue's PRP entry has offset 0. */
	if (c->prp1 & (NVME_PAGE_SIZE - 1))
		return err(NVME_SC_PRP_OFFSET_INVALID);
	if (!c->prp1)
		return err(NVME_SC_INVALID_FIELD);
	cq = &n->cq[qid];
	*cq = (struct nvme_cq){ .live = true, .ien = ien, .vector = (uint16_t)iv, .size = qsize,
				.base = c->prp1, .phase = 1 };
	atomic_store(&n->cq_db[qid], 0);
	nvme_dbbuf_init_queue(n, (uint16_t)qid);
	return ok(0);
}

/* Create I/O Submission Queue (5.4). */
static struct nvme_res create_sq(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint32_t qid = c->cdw10 & 0xffff, qsize = (c->cdw10 >> 16) + 1;
	uint32_t cqid = c->cdw11 >> 16;
	bool pc = c->cdw11 & 1;
	uint32_t cc = n->cc_applied;
	struct nvme_sq *sq;

	if (!qid || qid > max_sqid(n) || qid > n->max_queues || n->sq[qid].live)
		return err(NVME_SC_QID_INVALID);
	if (qsize < 2 || qsize > n->max_qsize)
		return err(NVME_SC_QUEUE_SIZE);
	if (!cqid || cqid >= NVME_NR_QUEUES || !n->cq[cqid].live)
		return err(NVME_SC_CQ_INVALID);
	if (NVME_CC_IOSQES(cc) != 6)
		return err(NVME_SC_INVALID_FIELD);
	if (!pc)
		return err(NVME_SC_INVALID_FIELD);
	if (c->prp1 & (NVME_PAGE_SIZE - 1))
		return err(NVME_SC_PRP_OFFSET_INVALID);
	if (!c->prp1)
		return err(NVME_SC_INVALID_FIELD);
	sq = &n->sq[qid];
	sq->live = true;
	sq->cqid = (uint16_t)cqid;
	sq->size = qsize;
	sq->base = c->prp1;
	sq->head = sq->tail = 0;
	n->cq[cqid].nsq++;
	atomic_store(&n->sq_db[qid], 0);
	nvme_dbbuf_init_queue(n, (uint16_t)qid);
	return ok(0);
}

/* Delete I/O Submission Queue (5.7). Backend requests in flight are
 * completed into its CQ first (nvme_uring.c), so none of its commands is
 * outstanding when it goes: nothing to abort. */
static struct nvme_res delete_sq(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint32_t qid = c->cdw10 & 0xffff;
	struct nvme_sq *sq;

	if (!qid || qid >= NVME_NR_QUEUES || !n->sq[qid].live)
		return err(NVME_SC_QID_INVALID);
	nvme_uring_drain(n, NVME_DRAIN_POST);
	sq = &n->sq[qid];
	n->cq[sq->cqid].nsq--;
	sq->live = false;
	sq->head = sq->tail = 0;
	return ok(0);
}

/* Delete I/O Completion Queue (5.6): not while an SQ still posts to it. */
static struct nvme_res delete_cq(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint32_t qid = c->cdw10 & 0xffff;
	struct nvme_cq *cq;

	if (!qid || qid >= NVME_NR_QUEUES || !n->cq[qid].live)
		return err(NVME_SC_QID_INVALID);
	cq = &n->cq[qid];
	if (cq->nsq)
		return err(NVME_SC_INVALID_QUEUE_DELETION);
	if (cq->ien)
		(void)vus_irq_lower(n->dev, cq->vector);
	memset(cq, 0, sizeof(*cq));
	return ok(0);
}

/*
 * Abort (5.1). Every command but an AER completes before the next one is
 * fetched, so only a held AER can still be aborted; for anything else
 * DW0 bit 0 = 1 says "not aborted", which the specification allows.
 */
static struct nvme_res do_abort(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint16_t sqid = c->cdw10 & 0xffff, cid = c->cdw10 >> 16;
	struct nvme_aer *a = &n->aer;
	int i;

	if (sqid == 0) {
		for (i = 0; i < a->n; i++) {
			if (a->cid[i] != cid)
				continue;
			memmove(&a->cid[i], &a->cid[i + 1], (size_t)(a->n - i - 1) * sizeof(a->cid[0]));
			a->n--;
			(void)nvme_cq_post(n, 0, cid, NVME_SC_ABORT_REQ, 0);
			return ok(0);
		}
	}
	return ok(1);
}

/* Post a waiting event into a held AER, if there is one (5.2). */
static void aer_deliver(struct nvme_emu *n)
{
	struct nvme_aer *a = &n->aer;
	uint16_t cid;

	if (!a->pending_event || !a->n)
		return;
	cid = a->cid[0];
	memmove(&a->cid[0], &a->cid[1], (size_t)(a->n - 1) * sizeof(a->cid[0]));
	a->n--;
	if (nvme_cq_post(n, 0, cid, NVME_SC_SUCCESS, a->pending_event) == 0)
		a->pending_event = 0;
	else
		a->cid[a->n++] = cid; /* admin CQ full: keep both */
}

/* An Error-status event (type 0): masked after one until the host reads
 * the Error Information log (5.2). Delivered at the end of the pass
 * (nvme_aer_flush): an event raised while a batch of commands runs must
 * not take a completion slot reserved for them. */
void nvme_aer_event(struct nvme_emu *n, uint32_t dw0)
{
	struct nvme_aer *a = &n->aer;

	if (a->masked_error || a->pending_event)
		return;
	a->masked_error = true;
	a->pending_event = dw0;
}

void nvme_aer_flush(struct nvme_emu *n)
{
	if (n->sq[0].live)
		aer_deliver(n);
}

static struct nvme_res aer(struct nvme_emu *n, const struct nvme_sqe *c)
{
	struct nvme_aer *a = &n->aer;

	if (a->n > NVME_AERL)
		return err(NVME_SC_AER_LIMIT);
	a->cid[a->n++] = c->cid;
	aer_deliver(n);
	return (struct nvme_res){ .status = NVME_DEFER };
}

/*
 * Doorbell Buffer Config (5.8): PRP1 the shadow doorbell page, PRP2 the
 * EventIdx page, both page aligned; refused while the guest uses INTx or
 * writable guest memory is mapped without fds. Queues that exist already get their
 * current values written into both (so the host's next shadow write
 * crosses EventIdx and rings).
 */
static struct nvme_res dbbuf(struct nvme_emu *n, const struct nvme_sqe *c)
{
	uint16_t q;

	if (!c->prp1 || !c->prp2 || (c->prp1 & (NVME_PAGE_SIZE - 1)) ||
	    (c->prp2 & (NVME_PAGE_SIZE - 1)))
		return err(NVME_SC_INVALID_FIELD);
	/* On INTx every interrupt must end in a head doorbell write
	 * (nvme_queue.c, intx_flush): no shadow doorbells then. Linux just
	 * carries on without them. */
	if (nvme_on_intx(n))
		return err(NVME_SC_CMD_SEQ_ERROR);
	/* Writable guest memory without fds: every shadow read and EventIdx
	 * write would be a DMA message round trip (three per pass), dearer
	 * than the posted doorbell writes they save. Read-only windows
	 * without fd (QEMU's ROMs) do not count: the pages are in RAM. */
	if (atomic_load(&n->nofd_rw_maps))
		return err(NVME_SC_CMD_SEQ_ERROR);
	n->dbbuf_sh = c->prp1;
	n->dbbuf_ei = c->prp2;
	for (q = 1; q < NVME_NR_QUEUES; q++) {
		uint32_t v[2];

		if (n->sq[q].live) {
			v[0] = htole32(n->sq[q].tail);
			if (vus_dma_write(n->dev, n->dbbuf_sh + 8ull * q, v, 4) < 0 ||
			    vus_dma_write(n->dev, n->dbbuf_ei + 8ull * q, v, 4) < 0)
				goto bad;
		}
		if (n->cq[q].live) {
			v[1] = htole32(n->cq[q].head);
			if (vus_dma_write(n->dev, n->dbbuf_sh + 8ull * q + 4, &v[1], 4) < 0 ||
			    vus_dma_write(n->dev, n->dbbuf_ei + 8ull * q + 4, &v[1], 4) < 0)
				goto bad;
		}
	}
	return ok(0);
bad:
	n->dbbuf_sh = n->dbbuf_ei = 0;
	return err(NVME_SC_DATA_XFER_ERROR);
}

struct nvme_res nvme_admin_exec(struct nvme_emu *n, const struct nvme_sqe *c)
{
	/* Fused operations are I/O only; admin data pointers are PRPs
	 * (SGLs are not used for admin commands on PCIe, 4.4). */
	if (NVME_SQE_FUSE(c->flags))
		return err(NVME_SC_INVALID_FIELD);
	if (NVME_SQE_PSDT(c->flags))
		return err(NVME_SC_INVALID_FIELD);
	switch (c->opc) {
	case NVME_ADM_DELETE_SQ:    return delete_sq(n, c);
	case NVME_ADM_CREATE_SQ:    return create_sq(n, c);
	case NVME_ADM_GET_LOG:      return nvme_get_log(n, c);
	case NVME_ADM_DELETE_CQ:    return delete_cq(n, c);
	case NVME_ADM_CREATE_CQ:    return create_cq(n, c);
	case NVME_ADM_IDENTIFY:     return nvme_identify(n, c);
	case NVME_ADM_ABORT:        return do_abort(n, c);
	case NVME_ADM_SET_FEATURES: return nvme_set_features(n, c);
	case NVME_ADM_GET_FEATURES: return nvme_get_features(n, c);
	case NVME_ADM_AER:          return aer(n, c);
	case NVME_ADM_DBBUF:        return n->shadow ? dbbuf(n, c) : err(NVME_SC_INVALID_OPCODE);
	default:                    return err(NVME_SC_INVALID_OPCODE);
	}
}
