/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Adaptive interrupt holdoff (proc_lock held; docs/nvme.md section 5
 * "Holdoff"). The controller completes a RAM command inside the pass its
 * doorbell runs, so a host that submits one command per doorbell gets one
 * interrupt per command even with many commands in flight: a Linux guest
 * running fio at queue depth 32 under TCG took 0.7-0.8 interrupts per
 * I/O, each costing it far more than its posted doorbell. From the
 * controller's side that host looks like one at queue depth 1 (each
 * command is complete before the next doorbell), so the controller has to
 * find out whether another doorbell would come soon:
 *
 *   - evidence: a pass posted two or more entries (two submissions per
 *     doorbell), or the CQ still holds entries the host has not consumed
 *     from a pass whose interrupt was raised (it submitted before it
 *     reaped), or the CQ's last interrupt told the host of two or more
 *     entries ("deep");
 *   - a probe: without evidence, one lone completion in probe_every is
 *     held anyway. A probe that no doorbell joins doubles probe_every
 *     (8 up to 1024), so a host at queue depth 1 pays one interval on
 *     one completion in 1024 once settled; one that is joined makes the
 *     CQ deep.
 *
 * A held interrupt is raised when no new completion came for one
 * interval (twice the mean time between the CQ's passes with completions,
 * within [HOLDOFF_MIN_NS, holdoff_ns]), or four intervals after the first
 * held completion, or when 32 entries wait. Entries held earlier keep a
 * hold going only while the host has not consumed them (a host that reaps
 * by polling is not kept waiting). Never held: the admin CQ, a CQ three
 * quarters full, a CQ whose vector has CD set, every CQ once the host has
 * set Interrupt Coalescing (its own rules then apply, nvme_queue.c), INTx
 * (nvme_queue.c intx_flush). The deadline is the one Interrupt Coalescing
 * uses: the next pass that finds it due raises the interrupt, else the
 * worker thread wakes for it (nvme_proc.c cv_wait_step); a migration STOP
 * raises every held interrupt first (nvme_irqs_release). So no completion
 * waits for its interrupt longer than four intervals.
 */
#include "nvme_priv.h"

#define HOLDOFF_MAX_ENTRIES 32      /* one interrupt covers at most this many */
#define HOLDOFF_MAX_GAPS    4       /* nor waits longer than this many intervals */
#define HOLDOFF_MIN_NS      10000ull /* an interval is at least 10 us */
#define PROBE_FIRST         8       /* lone passes before the first probe */
#define PROBE_MAX           1024    /* and at most between two probes */

/* Unconsumed entries: the shadow head (or the register) says what the
 * host consumed; false when it holds an invalid value. */
static bool unconsumed(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint32_t *v)
{
	if (!nvme_cq_refresh(n, qid))
		return false;
	*v = (cq->tail + cq->size - cq->head) % cq->size;
	return true;
}

/* Whether the host has shown more than one command in flight on this CQ
 * (fresh: the entries this pass posted). Entries held earlier count only
 * while the host has not consumed them. */
static bool host_deep(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint32_t fresh)
{
	uint32_t u;

	if (fresh >= 2 || (cq->deep && !cq->held_before))
		return true;
	return unconsumed(n, qid, cq, &u) && u > fresh;
}

/* A lone completion without evidence: is it this one's turn to probe? */
static bool probe_due(struct nvme_cq *cq)
{
	if (!cq->probe_every) {
		cq->probe_every = PROBE_FIRST;
		cq->probe_in = PROBE_FIRST;
	}
	if (cq->probe_in > 1) {
		cq->probe_in--;
		return false;
	}
	cq->probe_in = cq->probe_every;
	return true;
}

/* The interval: twice the mean time between passes with completions. */
static uint64_t interval(const struct nvme_emu *n, const struct nvme_cq *cq)
{
	uint64_t g = 2 * cq->gap_avg_ns;

	if (g < HOLDOFF_MIN_NS)
		g = HOLDOFF_MIN_NS;
	return g < n->holdoff_ns ? g : n->holdoff_ns;
}

/* Fold the time since the previous pass with completions into the mean;
 * a pause longer than the longest hold is idleness, not a gap. */
static void gap_sample(struct nvme_emu *n, struct nvme_cq *cq, uint64_t now)
{
	uint64_t d = now - cq->post_last_ns;

	if (cq->post_last_ns && d <= HOLDOFF_MAX_GAPS * n->holdoff_ns) {
		if (!cq->gap_avg_ns)
			cq->gap_avg_ns = d;
		else
			cq->gap_avg_ns = cq->gap_avg_ns - cq->gap_avg_ns / 8 + d / 8;
	}
	cq->post_last_ns = now;
}

bool nvme_holdoff_hold(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint64_t *now,
		       uint64_t *due)
{
	uint32_t fresh = cq->held - cq->held_before;
	uint64_t d, last, gap;

	if (!n->holdoff_ns || !qid || n->feat.irq_coalesce ||
	    (cq->vector < NVME_NR_QUEUES && n->feat.irq_cd[cq->vector]))
		return false;
	if (!*now)
		*now = nvme_now_ns();
	if (fresh)
		gap_sample(n, cq, *now);
	if (cq->held >= HOLDOFF_MAX_ENTRIES || nvme_cq_free(cq) < cq->size / 4)
		return false;
	if (!host_deep(n, qid, cq, fresh) && (cq->held_before || !probe_due(cq)))
		return false;
	if (!cq->held_since_ns)
		cq->held_since_ns = *now;
	if (fresh)
		cq->held_last_ns = *now;
	last = cq->held_last_ns ? cq->held_last_ns : cq->held_since_ns;
	gap = interval(n, cq);
	if (*now - last >= gap || *now - cq->held_since_ns >= HOLDOFF_MAX_GAPS * gap)
		return false;
	d = last + gap;
	if (d > cq->held_since_ns + HOLDOFF_MAX_GAPS * gap)
		d = cq->held_since_ns + HOLDOFF_MAX_GAPS * gap;
	if (!*due || d < *due)
		*due = d;
	if (fresh)
		cq->holds++;
	cq->held_before = cq->held;
	return true;
}

void nvme_holdoff_raised(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq)
{
	uint32_t u;
	bool was_held = cq->held_before != 0;

	/* Deep: this interrupt tells the host of two or more entries. */
	cq->deep = n->holdoff_ns && qid && cq->held >= 2 && unconsumed(n, qid, cq, &u) && u >= 2;
	if (cq->deep) {
		cq->probe_every = PROBE_FIRST;
		cq->probe_in = PROBE_FIRST;
	} else if (was_held && cq->probe_every < PROBE_MAX) {
		/* A hold nothing joined: probe half as often. */
		cq->probe_every *= 2;
		cq->probe_in = cq->probe_every;
	}
	cq->held_before = 0;
	cq->held_last_ns = 0;
}
