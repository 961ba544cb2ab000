/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Controller state changes, applied by the processor (proc_lock held):
 * function reset, NVM subsystem reset, CC.EN 0->1 (admin queue set up,
 * CSTS.RDY), CC.EN 1->0 (controller reset: queues dropped, features to
 * defaults), CC.SHN (shutdown: backend flushed, CSTS.SHST complete).
 * NVMe 1.4 3.1.5, 3.1.6, 7.3 and 7.6; docs/nvme.md "Reset and shutdown".
 */
#include <string.h>

#include "nvme_priv.h"

/* Every queue and everything tied to them goes (7.3.2: a controller
 * reset deletes all I/O queues; commands in them are not completed). */
void nvme_ctrl_reset_queues(struct nvme_emu *n)
{
	int i;

	/* Backend requests in flight finish (or are cancelled) first; their
	 * completions are not posted: the queues are going. */
	nvme_uring_drain(n, NVME_DRAIN_DROP);

	for (i = 0; i < NVME_NR_QUEUES; i++) {
		uint64_t cmds = atomic_load(&n->sq[i].cmds), errs = atomic_load(&n->sq[i].errors);

		memset(&n->sq[i], 0, sizeof(n->sq[i]));
		memset(&n->cq[i], 0, sizeof(n->cq[i]));
		/* Per-queue counters are statistics, not controller state. */
		atomic_store(&n->sq[i].cmds, cmds);
		atomic_store(&n->sq[i].errors, errs);
		atomic_store(&n->sq_db[i], 0);
		atomic_store(&n->cq_db[i], 0);
	}
	n->dbbuf_sh = n->dbbuf_ei = 0;
	n->nredo = 0; /* a migrated-in command's queue is gone too */
	memset(&n->aer, 0, sizeof(n->aer));
	n->ready = false;
	n->fatal = false;
	n->gen++;
	nvme_features_default(n);
}

/* CSTS.CFS: an error the controller cannot report in a completion (an
 * SQ or CQ it cannot reach). The host resets the controller. */
void nvme_ctrl_fatal(struct nvme_emu *n, const char *why)
{
	nvme_ctrl_fatal_err(n, why, 0);
}

/* The same with the error (-errno) that caused it, for the log. */
void nvme_ctrl_fatal_err(struct nvme_emu *n, const char *why, int err)
{
	if (n->fatal)
		return;
	n->fatal = true;
	if (err)
		nvme_log(n, VUS_LOG_WARN, "controller fatal status: %s: %s", why, strerror(-err));
	else
		nvme_log(n, VUS_LOG_WARN, "controller fatal status: %s", why);
	pthread_mutex_lock(&n->regs_lock);
	n->r.csts |= NVME_CSTS_CFS;
	pthread_mutex_unlock(&n->regs_lock);
}

/* CC.EN 0->1 with the snapshot of the admin queue registers. */
static bool enable(struct nvme_emu *n, uint32_t cc, uint32_t aqa, uint64_t asq, uint64_t acq)
{
	uint32_t sqs = (aqa & 0xfff) + 1, cqs = ((aqa >> 16) & 0xfff) + 1;

	/* MPS must lie in [MPSMIN, MPSMAX] = 4 KiB; CSS NVM; AMS round
	 * robin; admin queues of >= 2 entries at non-zero addresses. */
	if (NVME_CC_MPS(cc) != 0 || NVME_CC_CSS(cc) != 0 || NVME_CC_AMS(cc) != 0 ||
	    sqs < 2 || cqs < 2 || !asq || !acq)
		return false;
	n->sq[0] = (struct nvme_sq){ .live = true, .cqid = 0, .size = sqs, .base = asq,
				     .cmds = atomic_load(&n->sq[0].cmds),
				     .errors = atomic_load(&n->sq[0].errors) };
	n->cq[0] = (struct nvme_cq){ .live = true, .ien = true, .vector = 0, .size = cqs,
				     .base = acq, .phase = 1, .nsq = 1 };
	n->ready = true;
	return true;
}

void nvme_ctrl_apply(struct nvme_emu *n)
{
	uint32_t cc, aqa, was = n->cc_applied;
	uint64_t asq, acq;
	bool reset, nssr, ok;

	if (!atomic_exchange(&n->ctrl_change, false))
		return;
	pthread_mutex_lock(&n->regs_lock);
	reset = n->reset_pending;
	nssr = n->nssr_pending;
	n->reset_pending = n->nssr_pending = false;
	if (nssr) {
		/* NVM Subsystem Reset (7.3.1): as a power cycle of the
		 * controller, reported by CSTS.NSSRO. */
		nvme_regs_power_on(n);
		n->r.csts = NVME_CSTS_NSSRO;
	}
	cc = n->r.cc;
	aqa = n->r.aqa;
	asq = n->r.asq;
	acq = n->r.acq;
	pthread_mutex_unlock(&n->regs_lock);

	if (reset || nssr) {
		nvme_ctrl_reset_queues(n);
		was = 0;
	}
	if ((was & NVME_CC_EN) && !(cc & NVME_CC_EN)) {
		/* Controller reset (7.3.2). */
		nvme_ctrl_reset_queues(n);
		pthread_mutex_lock(&n->regs_lock);
		n->r.csts &= ~(NVME_CSTS_RDY | NVME_CSTS_CFS | NVME_CSTS_SHST_MASK);
		pthread_mutex_unlock(&n->regs_lock);
	}
	if (!(was & NVME_CC_EN) && (cc & NVME_CC_EN)) {
		ok = enable(n, cc, aqa, asq, acq);
		pthread_mutex_lock(&n->regs_lock);
		/* CC may have moved on meanwhile: RDY only for a still-enabled
		 * controller, so a host waiting for RDY=0 never sees a stale 1. */
		if (n->r.cc & NVME_CC_EN) {
			if (ok)
				n->r.csts |= NVME_CSTS_RDY;
			else
				n->r.csts |= NVME_CSTS_CFS;
		}
		pthread_mutex_unlock(&n->regs_lock);
		if (!ok) {
			n->fatal = true;
			nvme_log(n, VUS_LOG_WARN, "CC.EN=1 with invalid CC %#x / AQA %#x / ASQ / "
				 "ACQ: controller fatal status", cc, aqa);
		}
	}
	if (NVME_CC_SHN(cc) && !NVME_CC_SHN(was)) {
		/* Normal or abrupt shutdown: make written data durable, then
		 * report it complete. The queues stay (the host resets next);
		 * commands in flight complete into them first. */
		nvme_uring_drain(n, NVME_DRAIN_POST);
		(void)nvme_ns_flush_all(n);
		pthread_mutex_lock(&n->regs_lock);
		if (NVME_CC_SHN(n->r.cc))
			n->r.csts = (n->r.csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_DONE;
		pthread_mutex_unlock(&n->regs_lock);
	}
	n->cc_applied = cc;
}
