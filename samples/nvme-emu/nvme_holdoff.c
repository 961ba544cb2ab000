/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Adaptive interrupt holdoff (proc_lock held; docs/nvme.md section 5
 * "Holdoff"). The controller completes a RAM command inside the pass its
 * doorbell runs, so a host that submits one command per doorbell gets one
 * interrupt per command even with many commands in flight: a Linux guest
 * running fio at queue depth 32 under TCG took up to 0.8 interrupts per
 * I/O, each costing it far more than its posted doorbell. Seen from the
 * controller that host looks like one at queue depth 1 (each command is
 * complete before the next doorbell), so the controller finds out whether
 * another doorbell comes while an interrupt waits:
 *
 *   - a probe: one lone pass in probe_every holds its interrupt. A probe
 *     no later pass joins doubles probe_every (first 8, up to 1024): a
 *     host at queue depth 1, or one that submits a whole batch per
 *     doorbell and waits for it, pays one interval on one pass in 1024
 *     once settled (a pass of many entries is only a lone pass too: it
 *     says nothing about the next doorbell);
 *   - a hold that two or more later passes joined makes the CQ "deep":
 *     the next passes hold too. A deep CQ survives one hold nobody
 *     joined (a slow moment of the host's), after the second it probes
 *     again after 2 lone passes, 4, 8, ...;
 *   - a host that submits before it has consumed entries whose interrupt
 *     was raised has several commands in flight: held too.
 *
 * A join counts only while the host still has held entries to reap. A
 * held interrupt is raised when no later pass joined it for one interval
 * (twice the mean time between passes with completions, the waits for
 * held interrupts left out, within [HOLDOFF_MIN_NS, holdoff_ns]), or
 * four intervals after the first held completion, or when 32 entries
 * wait; it is dropped instead when the host has consumed every entry
 * meanwhile (the handler of an earlier interrupt, delivered late, took
 * them, or the host polls), as QEMU's own nvme signals only a CQ that
 * holds entries. Never held either: a pass that completed a read or
 * write of more than NVME_HOLDOFF_MAX_XFER (16 KiB). There the host's
 * time per I/O is its data, and a hold idles it: a Linux guest at
 * 128 KiB QD8 has all its commands in flight and waits up to an interval
 * after each batch (77-81 % busy against 91-93 % without the holdoff;
 * samples/nvme-emu/README.md "Interrupts at high queue depth"). Never
 * held: the admin CQ, a CQ
 * three quarters full, a CQ whose vector has CD set, every CQ once the
 * host has set Interrupt Coalescing (its own rules then apply,
 * nvme_queue.c), INTx (nvme_queue.c intx_flush). The deadline is the one
 * Interrupt Coalescing uses: the next pass that finds it due raises the
 * interrupt, else the worker thread wakes for it (nvme_proc.c
 * cv_wait_step); a migration STOP raises every held interrupt first
 * (nvme_irqs_release). So no completion waits for its interrupt longer
 * than four intervals.
 */
#include "nvme_priv.h"

#define HOLDOFF_MAX_ENTRIES 32      /* one interrupt covers at most this many */
#define HOLDOFF_MAX_GAPS    4       /* nor waits longer than this many intervals */
#define HOLDOFF_MIN_NS      10000ull /* an interval is at least 10 us */
#define PROBE_FIRST         8       /* lone passes before the first probe */
#define PROBE_AGAIN         2       /* and after a deep spell */
#define PROBE_MAX           1024    /* at most between two probes */
#define DEEP_CREDIT         2       /* deep through DEEP_CREDIT - 1 unjoined holds */
/* Passes that must join a hold for the CQ to be deep: a hold gathering
 * two passes' completions saves one interrupt for a wait of up to an
 * interval in which a host at queue depth 2 may have nothing left to do
 * (argued, not measured). */
#define DEEP_JOINS          2

/* Unconsumed entries: the shadow head (or the register) says what the
 * host consumed; false when it holds an invalid value. */
static bool unconsumed(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint32_t *v)
{
	if (!nvme_cq_refresh(n, qid))
		return false;
	*v = (cq->tail + cq->size - cq->head) % cq->size;
	return true;
}

/* Whether to hold (fresh: the entries this pass posted). A running hold
 * goes on (until its deadline, nvme_holdoff_hold); a new one starts on a
 * deep CQ, when the host has not consumed entries it was interrupted
 * for, or as a probe. */
static bool want_hold(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint32_t fresh)
{
	uint32_t u = 0;

	if (cq->held_before)
		return true;
	if (!unconsumed(n, qid, cq, &u))
		return false;
	if (cq->deep || u > fresh)
		return true;
	if (!cq->probe_every) {
		cq->probe_every = PROBE_FIRST;
		cq->probe_in = PROBE_FIRST;
	}
	if (cq->probe_in > 1) {
		cq->probe_in--;
		return false;
	}
	cq->probe_in = cq->probe_every;
	cq->probing = true;
	return true;
}

static uint64_t ewma(uint64_t avg, uint64_t d)
{
	return avg ? avg - avg / 8 + d / 8 : d;
}

/* The interval: twice the mean gap between passes with completions.
 * (The mean over joining passes alone, tried first, is too short: the
 * first doorbell after an interrupt comes later than those of a burst,
 * probes ended unjoined, and a Linux guest at QD32 still took 0.41
 * interrupts per I/O.) */
static uint64_t interval(const struct nvme_emu *n, const struct nvme_cq *cq)
{
	uint64_t g = 2 * cq->gap_avg_ns;

	if (g < HOLDOFF_MIN_NS)
		g = HOLDOFF_MIN_NS;
	return g < n->holdoff_ns ? g : n->holdoff_ns;
}

/* A pass posted entries: fold its distance from the previous one into
 * the means (a pause longer than the longest hold is idleness). */
static void gap_sample(struct nvme_emu *n, struct nvme_cq *cq, uint64_t now)
{
	uint64_t d = now - cq->post_last_ns;

	if (cq->post_last_ns && d <= HOLDOFF_MAX_GAPS * n->holdoff_ns)
		cq->gap_avg_ns = ewma(cq->gap_avg_ns, d);
	cq->post_last_ns = now;
}

bool nvme_holdoff_hold(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint64_t *now,
		       uint64_t *due)
{
	uint32_t fresh = cq->held - cq->held_before;
	uint64_t d, last, gap;

	if (cq->big_xfer) {
		cq->big_xfer = false;
		return false;
	}
	if (!n->holdoff_ns || !qid || n->feat.irq_coalesce ||
	    (cq->vector < NVME_NR_QUEUES && n->feat.irq_cd[cq->vector]))
		return false;
	if (!*now)
		*now = nvme_now_ns();
	if (fresh) {
		uint32_t u = 0;

		gap_sample(n, cq, *now);
		/* A join counts while the host still has held entries to
		 * reap: one that reaped them first (it polls) gains nothing
		 * from the wait, so its joins make no CQ deep. */
		if (cq->held_before && unconsumed(n, qid, cq, &u) && u > fresh)
			cq->joins++;
	}
	if (cq->held >= HOLDOFF_MAX_ENTRIES || nvme_cq_free(cq) < cq->size / 4 ||
	    !want_hold(n, qid, cq, fresh))
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
	if (!cq->held_before)
		cq->holds++;
	cq->held_before = cq->held;
	return true;
}

bool nvme_holdoff_raised(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq)
{
	bool raise = true;
	uint32_t u = 0;

	if (cq->held_before) {
		if (cq->joins >= DEEP_JOINS) {
			/* The host submits one doorbell at a time with more in
			 * flight: hold the next passes too. */
			cq->deep = DEEP_CREDIT;
			cq->probe_every = PROBE_AGAIN;
		} else if (cq->deep) {
			/* A deep CQ's hold nobody joined (a burst may have
			 * ended, or the host was slow once): one credit less;
			 * once out, probe again soon. */
			cq->deep--;
			cq->probe_every = PROBE_AGAIN;
		} else if (cq->probing && cq->probe_every < PROBE_MAX) {
			/* A probe nobody joined: probe half as often. */
			cq->probe_every *= 2;
		}
		cq->probe_in = cq->probe_every;
		/* The wait for a held interrupt is no gap of the host's. */
		cq->post_last_ns = 0;
		/* The host consumed every entry meanwhile (the handler of an
		 * earlier interrupt, still running or delivered late, took
		 * them; or it polls): nothing left to signal. */
		if (qid && unconsumed(n, qid, cq, &u) && u == 0)
			raise = false;
	}
	cq->probing = false;
	cq->joins = 0;
	cq->held_before = 0;
	cq->held_last_ns = 0;
	return raise;
}
