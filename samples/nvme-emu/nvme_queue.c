/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Queues (proc_lock held): fetch submission entries, execute them, post
 * completions with the phase tag, raise one interrupt per completion
 * queue per pass, and keep shadow doorbells and EventIdx (Doorbell Buffer
 * Config) armed so that no submission is lost while the guest rings as
 * seldom as possible. docs/nvme.md "Doorbells" and "Interrupts".
 */
#include <errno.h>
#include <string.h>

#include "nvme_priv.h"

#define FETCH_BATCH 32    /* SQEs read with one DMA */
#define SQ_BUDGET   256   /* commands per SQ per round, for fairness */

/* ---- shadow doorbells (NVMe 1.4 5.8; docs/nvme.md) ------------------ */

/* Shadow buffer and EventIdx entries of queue y, with DSTRD 0: SQ y tail
 * at 8y, CQ y head at 8y + 4. The admin queue never uses them: Linux
 * does not update its shadow entries. */
static bool shadowed(const struct nvme_emu *n, uint16_t qid)
{
	return qid && n->dbbuf_sh;
}

static int shadow_read(struct nvme_emu *n, uint16_t qid, bool cq, uint32_t *v)
{
	uint32_t le;
	int rc;

	rc = vus_dma_read(n->dev, n->dbbuf_sh + 8ull * qid + (cq ? 4 : 0), &le, 4);
	if (rc == 0)
		*v = le32toh(le);
	return rc;
}

static int eventidx_write(struct nvme_emu *n, uint16_t qid, bool cq, uint32_t v)
{
	uint32_t le = htole32(v);

	return vus_dma_write(n->dev, n->dbbuf_ei + 8ull * qid + (cq ? 4 : 0), &le, 4);
}

/* A queue created while the doorbell buffer is on starts from 0 in both
 * (the host may not have cleared stale values of an earlier queue). */
void nvme_dbbuf_init_queue(struct nvme_emu *n, uint16_t qid)
{
	uint32_t zero = 0;

	if (!shadowed(n, qid))
		return;
	(void)vus_dma_write(n->dev, n->dbbuf_sh + 8ull * qid, &zero, 4);
	(void)vus_dma_write(n->dev, n->dbbuf_sh + 8ull * qid + 4, &zero, 4);
	/* Polling: FFFFh is crossed only when the host's index wraps. */
	(void)eventidx_write(n, qid, false, n->poll ? 0xffff : 0);
	(void)eventidx_write(n, qid, true, n->poll ? 0xffff : 0);
}

/* With the doorbell buffer on, the shadow entry is the doorbell: when it
 * cannot be read (the host unmapped the page, as at its teardown) the
 * value stands as last read, never the stale register (whose old tail
 * would have the processor fetch entries from memory that is gone). */
static uint32_t sq_tail_now(struct nvme_emu *n, uint16_t qid)
{
	uint32_t v;

	if (shadowed(n, qid))
		return shadow_read(n, qid, false, &v) == 0 ? v : n->sq[qid].tail;
	return atomic_load_explicit(&n->sq_db[qid], memory_order_acquire);
}

static uint32_t cq_head_now(struct nvme_emu *n, uint16_t qid)
{
	uint32_t v;

	if (shadowed(n, qid))
		return shadow_read(n, qid, true, &v) == 0 ? v : n->cq[qid].head;
	return atomic_load_explicit(&n->cq_db[qid], memory_order_acquire);
}

/* An out-of-range doorbell value (4.1): ignored, and reported through an
 * Asynchronous Event (Error status, Invalid Doorbell Write Value). */
static void bad_doorbell(struct nvme_emu *n, uint16_t qid, bool cq, uint32_t v)
{
	nvme_log(n, VUS_LOG_DEBUG, "%s %u doorbell %u out of range: ignored", cq ? "CQ" : "SQ",
		 qid, v);
	nvme_aer_event(n, 0x00 | (0x01 << 8) | (NVME_LOG_ERROR << 16));
}

/* Refresh a CQ's head from its doorbell; false if the value is invalid. */
bool nvme_cq_refresh(struct nvme_emu *n, uint16_t qid)
{
	struct nvme_cq *cq = &n->cq[qid];
	uint32_t h = cq_head_now(n, qid);

	if (h >= cq->size) {
		bad_doorbell(n, qid, true, h);
		return false;
	}
	cq->head = h;
	return true;
}

uint32_t nvme_cq_free(const struct nvme_cq *cq)
{
	return (cq->head + cq->size - cq->tail - 1) % cq->size;
}

/* Free entries not kept for commands in flight (nvme_uring.c): what a
 * fetch may use. */
static uint32_t cq_room(const struct nvme_cq *cq)
{
	uint32_t f = nvme_cq_free(cq);

	return f > cq->resv ? f - cq->resv : 0;
}

/* ---- completions --------------------------------------------------- */

/*
 * Post one CQE: DW0-DW2, then DW3 (command id, status, phase) as one
 * aligned 4-byte store with release order (vus_dma_write_release), so
 * the host never sees the new phase before the rest of the entry.
 * -ENOSPC if the CQ is full.
 */
int nvme_cq_post(struct nvme_emu *n, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t dw0)
{
	struct nvme_sq *sq = &n->sq[sqid];
	struct nvme_cq *cq = &n->cq[sq->cqid];
	uint32_t w[4];
	uint64_t addr;
	int rc;

	if (!nvme_cq_free(cq) && (!nvme_cq_refresh(n, sq->cqid) || !nvme_cq_free(cq)))
		return -ENOSPC;
	addr = cq->base + (uint64_t)cq->tail * sizeof(struct nvme_cqe);
	w[0] = htole32(dw0);
	w[1] = 0;
	w[2] = htole32((uint32_t)sq->head | ((uint32_t)sqid << 16));
	w[3] = htole32((uint32_t)cid | ((uint32_t)((status << 1) | cq->phase) << 16));
	/* One call: DW0-DW2, then DW3 as one release store into an
	 * fd-backed CQ; by message, one message (the client writes it into
	 * guest memory as QEMU's own NVMe writes a CQE). */
	rc = vus_dma_write_release(n->dev, addr, w, 16);
	if (rc < 0 && nvme_mig_dma_stopped(n)) {
		/* Migration stopped DMA before the entry went out: nothing was
		 * written (a DMA message sent whole counts as written, the
		 * client applies it: docs/migration.md "Stopped means
		 * stopped"), so the command goes back into its SQ. */
		return -ECANCELED;
	} else if (rc < 0) {
		nvme_ctrl_fatal_err(n, "cannot write a completion queue entry", rc);
		return rc;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
	cq->notify = true;
	cq->held++;
	if (status)
		atomic_fetch_add_explicit(&sq->errors, 1, memory_order_relaxed);
	return 0;
}

/* ---- interrupts ---------------------------------------------------- */

/* Whether the guest runs on INTx: no MSI or MSI-X vector has an eventfd. */
bool nvme_on_intx(struct nvme_emu *n)
{
	struct vus_dev_irq_desc d;

	if (vus_dev_irq_desc(n->dev, VUS_PCI_MSIX_IRQ, &d) == 0 && d.assigned)
		return false;
	if (vus_dev_irq_desc(n->dev, VUS_PCI_MSI_IRQ, &d) == 0 && d.assigned)
		return false;
	return true;
}

/*
 * INTx under QEMU: QEMU takes any guest access to the device's BARs after
 * an interrupt as its end (EOI) and unmasks the line *before* forwarding
 * that access, which for NVMe is the CQ head doorbell write that
 * acknowledges the entries. A line still high at the unmask would be
 * signalled again, the guest would find nothing to do, touch no BAR and
 * QEMU would keep the level asserted for ever (an interrupt storm Linux
 * ends with "nobody cared"). So the line is pulsed: raised (signalled if
 * unmasked) and lowered at once, at the end of every pass in which a CQ
 * on the vector holds entries the host has not consumed. A pulse while
 * masked (the guest's handler is still running) does nothing; the
 * handler's head doorbell then kicks a pass that pulses again if entries
 * arrived after its scan. This needs a head doorbell write after every
 * handler that consumed entries, so Doorbell Buffer Config is refused
 * while the guest uses INTx (nvme_admin.c); should the buffer be on
 * anyway (INTx chosen later), the CQ EventIdx follows the head as
 * closely as the processor sees it.
 */
static void intx_flush(struct nvme_emu *n)
{
	uint16_t v;
	int q;

	for (v = 0; v < n->nvec; v++) {
		bool busy = false;

		for (q = 0; q < NVME_NR_QUEUES; q++) {
			struct nvme_cq *cq = &n->cq[q];

			if (!cq->live || !cq->ien || cq->vector != v)
				continue;
			if (cq->notify) {
				(void)nvme_holdoff_raised(n, (uint16_t)q, cq);
				cq->notify = false;
				cq->held = 0;
				cq->held_since_ns = 0;
				cq->irqs++;
			}
			if (!nvme_cq_refresh(n, (uint16_t)q) || cq->head != cq->tail)
				busy = true;
			if (shadowed(n, (uint16_t)q))
				(void)eventidx_write(n, (uint16_t)q, true, cq->head);
		}
		if (busy) {
			(void)vus_irq_raise(n->dev, v);
			(void)vus_irq_lower(n->dev, v);
		}
	}
}

/*
 * Interrupt Coalescing (NVMe 1.4 5.21.1.8, Feature 08h): an I/O CQ's
 * interrupt waits until THR + 1 entries are held (bits 7:0, 0's based)
 * or TIME x 100 us have passed since the first one held (bits 15:8);
 * TIME = 0 means no delay, so the feature is off. Never for the admin
 * CQ (the specification applies it to I/O CQs only), never for a vector
 * whose Interrupt Vector Configuration (Feature 09h) sets CD, never when
 * the CQ is full (the host could not free it without the interrupt).
 * True: hold it; *due then the earliest deadline.
 */
static bool coalesce_hold(struct nvme_emu *n, uint16_t qid, struct nvme_cq *cq, uint64_t *now,
			  uint64_t *due)
{
	uint32_t f = n->feat.irq_coalesce;
	uint64_t time_ns = (uint64_t)((f >> 8) & 0xff) * 100000u, d;

	if (!qid || !time_ns || cq->held >= (f & 0xff) + 1u || !nvme_cq_free(cq) ||
	    (cq->vector < NVME_NR_QUEUES && n->feat.irq_cd[cq->vector]))
		return false;
	if (!*now)
		*now = nvme_now_ns();
	if (!cq->held_since_ns)
		cq->held_since_ns = *now;
	if (*now - cq->held_since_ns >= time_ns)
		return false;
	d = cq->held_since_ns + time_ns;
	if (!*due || d < *due)
		*due = d;
	return true;
}

/* A held interrupt falls due later: the worker thread (started for it
 * when needed) or the poller wakes then and runs a pass. */
static void coalesce_arm(struct nvme_emu *n, uint64_t due)
{
	uint64_t was = atomic_exchange(&n->coalesce_due_ns, due);

	/* A later deadline needs no wake-up: the worker, woken at the
	 * earlier one, reads the new one and waits on (nvme_proc.c). The
	 * holdoff moves its deadline on with every pass. */
	if (!due || (was && was <= due) || n->on_worker)
		return;
	if (!n->worker_started)
		(void)nvme_worker_start(n);
	pthread_mutex_lock(&n->regs_lock);
	pthread_cond_signal(&n->worker_cv);
	pthread_mutex_unlock(&n->regs_lock);
}

/*
 * MSI-X and MSI: one interrupt per CQ with new entries per pass (the
 * coalescing that matters: one eventfd write per batch), unless Interrupt
 * Coalescing holds it. With shadow doorbells the host is never asked for
 * CQ head updates here; a full CQ asks for one (sq_run).
 */
static void irqs_flush(struct nvme_emu *n, bool release)
{
	uint64_t now = 0, due = 0;
	bool any = false, raise;
	int q;

	for (q = 0; q < NVME_NR_QUEUES; q++)
		if (n->cq[q].live && n->cq[q].ien && n->cq[q].notify)
			any = true;
	if (!any && !n->intx_busy) {
		if (atomic_load_explicit(&n->coalesce_due_ns, memory_order_relaxed))
			atomic_store(&n->coalesce_due_ns, 0);
		return;
	}
	if (nvme_on_intx(n)) {
		bool busy = false;

		intx_flush(n);
		for (q = 0; q < NVME_NR_QUEUES; q++)
			if (n->cq[q].live && n->cq[q].ien && n->cq[q].head != n->cq[q].tail)
				busy = true;
		atomic_store(&n->intx_busy, busy);
		/* The worker re-pulses a level nobody consumed (a pulse can be
		 * lost when QEMU takes an unrelated BAR access as the EOI). */
		if (busy && !n->worker_started && !n->on_worker)
			(void)nvme_worker_start(n);
		return;
	}
	atomic_store(&n->intx_busy, false);
	for (q = 0; q < NVME_NR_QUEUES; q++) {
		struct nvme_cq *cq = &n->cq[q];

		if (!cq->live || !cq->ien || !cq->notify)
			continue;
		if (!release && (coalesce_hold(n, (uint16_t)q, cq, &now, &due) ||
				 nvme_holdoff_hold(n, (uint16_t)q, cq, &now, &due)))
			continue;
		raise = nvme_holdoff_raised(n, (uint16_t)q, cq);
		cq->notify = false;
		cq->held = 0;
		cq->held_since_ns = 0;
		if (!raise)
			continue;
		cq->irqs++;
		(void)vus_irq_raise(n->dev, cq->vector);
	}
	coalesce_arm(n, due);
}

void nvme_irqs_flush(struct nvme_emu *n)
{
	irqs_flush(n, false);
}

void nvme_irqs_release(struct nvme_emu *n)
{
	irqs_flush(n, true);
}

/* ---- submissions --------------------------------------------------- */

/* A large read or write ends the holdoff's hold on its CQ (nvme_holdoff.c
 * header): the host's time per I/O is its data then, not its interrupt. */
static void note_xfer(struct nvme_emu *n, uint16_t qid, const struct nvme_sqe *c)
{
	struct nvme_ns *ns = nvme_ns_get(n, c->nsid);
	uint64_t bytes;

	if (!ns)
		return;
	bytes = ((uint64_t)(c->cdw12 & 0xffff) + 1) << ns->lba_shift;
	if (bytes > NVME_HOLDOFF_MAX_XFER)
		n->cq[n->sq[qid].cqid].big_xfer = true;
}

/* false: not done, migration stopped its DMA (nvme_mig_dma_stopped()):
 * the caller puts it back into the SQ. */
static bool execute(struct nvme_emu *n, uint16_t qid, const struct nvme_sqe *c)
{
	struct nvme_res res;

	n->executed++;
	/* Written only here, under proc_lock: no locked add per command. */
	atomic_store_explicit(&n->sq[qid].cmds,
			      atomic_load_explicit(&n->sq[qid].cmds, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	n->cur_sqid = qid;
	res = qid ? nvme_io_exec(n, c) : nvme_admin_exec(n, c);
	if (res.status == NVME_DEFER)
		return true;
	/* A transfer refused or cancelled by migration is no error: the
	 * command runs again (reads and writes are idempotent). */
	if (res.status && nvme_mig_dma_stopped(n))
		return false;
	/* Inline on the loop thread, a DMA into a window without fd cannot
	 * be done (-EDEADLK: its messages' replies come to this thread) and
	 * fails the command: it goes back into its SQ and the worker runs it
	 * again, where DMA messages work (reads and writes are idempotent,
	 * a failed admin command changed nothing). Only read-only windows
	 * lack an fd while the processor runs inline (QEMU's ROMs), so only
	 * a command that fails anyway pays for the thread hop. */
	if (res.status && !n->on_worker && atomic_load(&n->nofd_maps)) {
		n->executed--;
		atomic_fetch_sub_explicit(&n->sq[qid].cmds, 1, memory_order_relaxed);
		atomic_store(&n->handoff, true);
		return false;
	}
	if (res.status)
		nvme_errlog_add(n, qid, c, res.status);
	if (qid && (c->opc == NVME_IO_READ || c->opc == NVME_IO_WRITE))
		note_xfer(n, qid, c);
	return nvme_cq_post(n, qid, c->cid, res.status, res.dw0) != -ECANCELED;
}

/*
 * Run one SQ up to its tail (or the budget, or a full CQ). Returns true
 * if it stopped with commands left. Before going idle on a shadowed SQ,
 * EventIdx is set to the tail we read and the tail re-read after a full
 * barrier: a submission made in between is seen now, one made after
 * crosses EventIdx and rings (docs/nvme.md "Doorbells").
 */
static bool sq_run(struct nvme_emu *n, uint16_t qid)
{
	struct nvme_sq *sq = &n->sq[qid];
	struct nvme_cq *cq = &n->cq[sq->cqid];
	struct nvme_sqe batch[FETCH_BATCH];
	uint32_t budget = SQ_BUDGET, tail, cnt, i, gen = n->gen;
	int rc;

	tail = sq_tail_now(n, qid);
	for (;;) {
		if (tail >= sq->size) {
			bad_doorbell(n, qid, false, tail);
			return false;
		}
		sq->tail = tail;
		while (sq->head != sq->tail) {
			if (!budget || atomic_load(&n->ctrl_change) || atomic_load(&n->stopping))
				return true;
			if (atomic_load(&n->mig_stopped))
				return false;
			cnt = (sq->tail + sq->size - sq->head) % sq->size;
			if (cnt > sq->size - sq->head)
				cnt = sq->size - sq->head; /* up to the wrap */
			if (cnt > FETCH_BATCH)
				cnt = FETCH_BATCH;
			if (cnt > budget)
				cnt = budget;
			if (cnt > cq_room(cq)) {
				if (!nvme_cq_refresh(n, sq->cqid))
					return false;
				if (cnt > cq_room(cq))
					cnt = cq_room(cq);
			}
			/* Each I/O command may take a backend request slot; out
			 * of them, a completion's pass fetches the rest. */
			if (qid && cnt > nvme_uring_room(n)) {
				cnt = nvme_uring_room(n);
				if (!cnt)
					return false;
			}
			if (!cnt) {
				/* CQ full: ask the host to ring its head, then look
				 * again in case it moved before the arm. */
				if (shadowed(n, sq->cqid)) {
					(void)eventidx_write(n, sq->cqid, true, cq->head);
					atomic_thread_fence(memory_order_seq_cst);
					if (nvme_cq_refresh(n, sq->cqid) && cq_room(cq))
						continue;
				}
				return false;
			}
			rc = vus_dma_read(n->dev, sq->base + (uint64_t)sq->head * 64, batch,
					  cnt * 64);
			if (rc == -EDEADLK) {
				/* An SQ in a window without fd: the worker reads
				 * it by messages (execute). */
				atomic_store(&n->handoff, true);
				return false;
			}
			if (rc < 0) {
				if (!nvme_mig_dma_stopped(n))
					nvme_ctrl_fatal_err(n, "cannot read a submission queue entry",
							    rc);
				return false;
			}
			for (i = 0; i < cnt && n->gen == gen && sq->live; i++) {
				if (qid && i + 1 < cnt)
					nvme_io_prefetch(n, &batch[i + 1]);
				sq->head = (sq->head + 1) % sq->size;
				budget--;
				if (!execute(n, qid, &batch[i])) {
					/* Back into the SQ, and the pass ends: the
					 * device is stopping (docs/nvme.md "Migration"). */
					sq->head = (sq->head + sq->size - 1) % sq->size;
					return false;
				}
				if (n->fatal)
					return false;
			}
			/* An admin command deleted this SQ or reset queues. */
			if (n->gen != gen || !sq->live)
				return false;
		}
		/* Polling reads the shadow tail again soon: never ask to ring. */
		if (!shadowed(n, qid) || n->poll)
			return false;
		(void)eventidx_write(n, qid, false, sq->tail);
		atomic_thread_fence(memory_order_seq_cst);
		tail = sq_tail_now(n, qid);
		if (tail == sq->tail)
			return false;
	}
}

/*
 * After a migration: the commands that were in flight in the source's
 * backend (their I/O done or not, their completions not posted) run
 * again here, before anything new is fetched. Reads read the shared file
 * again; a write writes the same guest buffer again (the host may not
 * touch it before the completion); a flush flushes. Each kept one entry
 * of its CQ reserved (nvme_mig.c).
 */
void nvme_redo_run(struct nvme_emu *n)
{
	uint32_t i, k = n->nredo;

	n->nredo = 0;
	for (i = 0; i < k && n->ready && !n->fatal; i++) {
		const struct nvme_redo *r = &n->redo[i];
		struct nvme_sq *sq = &n->sq[r->sqid];

		if (!sq->live)
			continue;
		if (n->cq[sq->cqid].resv)
			n->cq[sq->cqid].resv--;
		if (!execute(n, r->sqid, &r->sqe)) {
			/* Migration stopped DMA again: the rest waits. */
			n->cq[sq->cqid].resv++;
			memmove(n->redo, r, sizeof(*r) * (k - i));
			n->nredo = k - i;
			return;
		}
	}
}

bool nvme_queues_run(struct nvme_emu *n)
{
	bool more = false;
	int q;

	if (atomic_load(&n->mig_stopped))
		return false;
	/* Handed to the worker: the loop thread fetches nothing until the
	 * worker has run the queues idle (nvme_proc.c). */
	if (!n->on_worker && atomic_load(&n->handoff))
		return false;
	if (n->nredo && n->ready && !n->fatal)
		nvme_redo_run(n);
	/* Admin first: queue creation must precede I/O on the new queue. */
	for (q = 0; q < NVME_NR_QUEUES && n->ready && !n->fatal; q++)
		if (n->sq[q].live && sq_run(n, (uint16_t)q))
			more = true;
		else if (!n->on_worker && atomic_load(&n->handoff))
			return false;
	if (n->ready && !n->fatal)
		nvme_aer_flush(n);
	return more && !atomic_load(&n->stopping);
}

bool nvme_queues_arm(struct nvme_emu *n)
{
	bool moved = false;
	int q;

	if (!n->ready || n->fatal || atomic_load(&n->mig_stopped))
		return false;
	for (q = 1; q < NVME_NR_QUEUES; q++)
		if (n->sq[q].live && shadowed(n, (uint16_t)q))
			(void)eventidx_write(n, (uint16_t)q, false, n->sq[q].tail);
	atomic_thread_fence(memory_order_seq_cst);
	for (q = 1; q < NVME_NR_QUEUES; q++)
		if (n->sq[q].live && shadowed(n, (uint16_t)q) &&
		    sq_tail_now(n, (uint16_t)q) != n->sq[q].tail)
			moved = true;
	return moved;
}
