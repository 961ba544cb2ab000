/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration (vfio-user migration v2, docs/protocol.md 5): STOP_COPY.
 * docs/nvme.md "Migration".
 *
 * RUNNING -> STOP quiesces the processor: doorbell writes are still
 * recorded but no command is fetched; commands execute to completion one
 * at a time, except a file backend's, in flight in io_uring: their I/O is
 * waited for, and since DMA is already stopped their completions are not
 * posted: the record carries their SQEs and the destination runs them
 * again (nvme_redo_run), or the source posts them if it runs on. STOP -> STOP_COPY snapshots one record: controller state, every
 * queue, features, SMART counters, and a RAM namespace's contents (a
 * file backend is assumed to be shared storage). RESUMING collects the
 * record; RESUMING -> STOP validates all of it (the stream is as hostile
 * as the guest) and applies it; STOP -> RUNNING processes whatever the
 * doorbells say.
 *
 * Record: struct mig_hdr, NVME_NR_QUEUES x struct mig_q, then ns_ram
 * bytes. Host byte order: source and destination are the same build on
 * the same architecture (the header's magic, version and sizes say so).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_priv.h"

#define MIG_MAGIC   0x474d564eu /* "NVMG" */
#define MIG_VERSION 2u /* 2: commands in flight in the backend */

struct mig_q {
	uint8_t sq_live, cq_live, cq_ien, cq_phase;
	uint16_t sq_cqid, cq_vector;
	uint32_t sq_size, sq_head, sq_tail;
	uint32_t cq_size, cq_tail, cq_head;
	uint32_t sq_db, cq_db;
	uint64_t sq_base, cq_base;
};

struct mig_hdr {
	uint32_t magic, version;
	uint32_t hdr_size, q_size, nr_queues;
	uint32_t max_queues, max_qsize, mdts, lba_shift, nn;
	uint64_t ns_bytes, ram_bytes;
	struct nvme_regs r;
	uint32_t cc_applied;
	uint8_t ready, fatal;
	uint64_t dbbuf_sh, dbbuf_ei;
	struct nvme_feat feat;
	struct nvme_aer aer;
	uint64_t units_read, units_written, host_reads, host_writes, busy_ns, power_cycles;
	uint64_t media_errors, err_count;
	/* File backends: commands in flight at STOP (their completions not
	 * posted), run again by the destination (nvme_queue.c). */
	uint32_t nredo;
	struct nvme_redo redo[NVME_REDO_MAX];
};

/* ---- quiesce ---------------------------------------------------------- */

/* Take proc_lock, waiting at most 200 ms. The worker may hold it while
 * it needs the loop thread for a DMA message, which this callback
 * occupies: give up with EBUSY rather than deadlock. A poller or worker
 * that is merely busy must not make the arc fail: 'proc_wanted' asks it
 * to leave the lock free once its current pass ends (nvme_proc.c). A
 * mutex is not fair, so without it a thread that unlocks and relocks
 * back to back wins every try-lock in between (docs/nvme.md section 7). */
static int proc_lock_brief(struct nvme_emu *n)
{
	struct timespec ts = { 0, 100000 };
	uint64_t end = nvme_now_ns() + 200000000u;
	int rc = -EBUSY;

	atomic_fetch_add(&n->proc_wanted, 1);
	for (;;) {
		if (pthread_mutex_trylock(&n->proc_lock) == 0) {
			rc = 0;
			break;
		}
		if (nvme_now_ns() >= end)
			break;
		nanosleep(&ts, NULL);
	}
	atomic_fetch_sub(&n->proc_wanted, 1);
	return rc;
}

bool nvme_mig_dma_stopped(struct nvme_emu *n)
{
	/* vus_dma_translate() answers EBUSY whatever the address while
	 * migration has stopped DMA (docs/migration.md "Stopped means
	 * stopped"); prot 0 marks nothing dirty. */
	errno = 0;
	return !vus_dma_translate(n->dev, 0, 1, 0) && errno == EBUSY;
}

/*
 * RUNNING -> STOP, before the library stops DMA (docs/migration.md): let
 * the running pass finish its current command while DMA still works.
 * Later passes fetch nothing (mig_stopped). A pass waiting for a DMA
 * message cannot finish -- the loop thread that would carry the answer is
 * in this callback -- so with windows without fd it is not waited for:
 * the library then cancels the transfer, and the command goes back into
 * its SQ (nvme_mig_dma_stopped()), to run again on RUNNING.
 */
static int quiesce(struct nvme_emu *n)
{
	atomic_store(&n->mig_stopped, true);
	atomic_store(&n->ctrl_change, true); /* ends a running pass */
	if (atomic_load(&n->nofd_rw_maps))
		return 0;
	if (proc_lock_brief(n) == 0) {
		/* Backend I/O in flight finishes now and is completed while
		 * DMA still works (nvme_uring.c); what cannot be (no lock, or
		 * windows without fd) travels as SQEs to run again
		 * (nvme_redo_run). */
		nvme_uring_drain(n, NVME_DRAIN_STOP);
		/* Interrupts that Interrupt Coalescing holds back are not
		 * in the record: raise them now, while the device runs. */
		nvme_irqs_release(n);
		pthread_mutex_unlock(&n->proc_lock);
	}
	return 0;
}

/* ---- save ------------------------------------------------------------- */

/* Bytes of all RAM namespaces (they travel in the record). */
static uint64_t ram_bytes(const struct nvme_emu *n)
{
	uint64_t b = 0;
	uint32_t i;

	for (i = 0; i < n->nn; i++)
		if (n->ns[i].ram)
			b += n->ns[i].bytes;
	return b;
}

static uint64_t ns_bytes(const struct nvme_emu *n)
{
	uint64_t b = 0;
	uint32_t i;

	for (i = 0; i < n->nn; i++)
		b += n->ns[i].bytes;
	return b;
}

static size_t record_size(const struct nvme_emu *n)
{
	return sizeof(struct mig_hdr) + NVME_NR_QUEUES * sizeof(struct mig_q) + ram_bytes(n);
}

/* Copy the RAM namespaces to (save) or from (!save) p. */
static void ram_copy(struct nvme_emu *n, uint8_t *p, bool save)
{
	uint32_t i;

	for (i = 0; i < n->nn; i++) {
		if (!n->ns[i].ram)
			continue;
		if (save)
			memcpy(p, n->ns[i].ram, n->ns[i].bytes);
		else
			memcpy(n->ns[i].ram, p, n->ns[i].bytes);
		p += n->ns[i].bytes;
	}
}

static void save_end(struct nvme_emu *n);

static int snapshot(struct nvme_emu *n)
{
	struct mig_hdr *h;
	struct mig_q *q;
	size_t len = record_size(n);
	uint8_t *p;
	int i;

	free(n->mig.save);
	n->mig.save = p = calloc(1, len);
	if (!p)
		return -ENOMEM;
	/* Passes still run (the INTx watchdog) though they fetch nothing. */
	if (proc_lock_brief(n) < 0) {
		save_end(n);
		return -EBUSY;
	}
	n->mig.save_len = len;
	n->mig.save_pos = 0;
	h = (struct mig_hdr *)p;
	*h = (struct mig_hdr){
		.magic = MIG_MAGIC, .version = MIG_VERSION, .hdr_size = sizeof(*h),
		.q_size = sizeof(*q), .nr_queues = NVME_NR_QUEUES, .max_queues = n->max_queues,
		.max_qsize = n->max_qsize, .mdts = n->mdts, .lba_shift = n->ns[0].lba_shift,
		.nn = n->nn, .ns_bytes = ns_bytes(n), .ram_bytes = ram_bytes(n),
		.cc_applied = n->cc_applied, .ready = n->ready, .fatal = n->fatal,
		.dbbuf_sh = n->dbbuf_sh, .dbbuf_ei = n->dbbuf_ei, .feat = n->feat, .aer = n->aer,
		.units_read = n->smart.units_read, .units_written = n->smart.units_written,
		.host_reads = n->smart.host_reads, .host_writes = n->smart.host_writes,
		.busy_ns = n->smart.busy_ns, .power_cycles = n->smart.power_cycles,
		.media_errors = n->smart.media_errors, .err_count = n->smart.err_count,
	};
	pthread_mutex_lock(&n->regs_lock);
	h->r = n->r;
	pthread_mutex_unlock(&n->regs_lock);
	h->nredo = nvme_uring_inflight_cmds(n, h->redo, NVME_REDO_MAX);
	q = (struct mig_q *)(p + sizeof(*h));
	for (i = 0; i < NVME_NR_QUEUES; i++) {
		const struct nvme_sq *sq = &n->sq[i];
		const struct nvme_cq *cq = &n->cq[i];

		q[i] = (struct mig_q){
			.sq_live = sq->live, .cq_live = cq->live, .cq_ien = cq->ien,
			.cq_phase = cq->phase, .sq_cqid = sq->cqid, .cq_vector = cq->vector,
			.sq_size = sq->size, .sq_head = sq->head, .sq_tail = sq->tail,
			.cq_size = cq->size, .cq_tail = cq->tail, .cq_head = cq->head,
			.sq_db = atomic_load(&n->sq_db[i]), .cq_db = atomic_load(&n->cq_db[i]),
			.sq_base = sq->base, .cq_base = cq->base,
		};
	}
	ram_copy(n, p + sizeof(*h) + NVME_NR_QUEUES * sizeof(*q), true);
	pthread_mutex_unlock(&n->proc_lock);
	return 0;
}

static void save_end(struct nvme_emu *n)
{
	free(n->mig.save);
	n->mig.save = NULL;
	n->mig.save_len = n->mig.save_pos = 0;
}

static ssize_t mig_save(struct vus_dev *dev, void *opaque, void *buf, size_t len)
{
	struct nvme_emu *n = opaque;
	size_t k = n->mig.save_len - n->mig.save_pos;

	if (k > len)
		k = len;
	if (k)
		memcpy(buf, n->mig.save + n->mig.save_pos, k);
	n->mig.save_pos += k;
	return (ssize_t)k;
}

/* ---- load ------------------------------------------------------------- */

static void load_end(struct nvme_emu *n)
{
	free(n->mig.load);
	n->mig.load = NULL;
	n->mig.load_len = 0;
}

static int mig_load(struct vus_dev *dev, void *opaque, const void *buf, size_t len)
{
	struct nvme_emu *n = opaque;
	size_t want = record_size(n);

	if (!n->mig.load || len > want - n->mig.load_len)
		return -EINVAL;
	memcpy(n->mig.load + n->mig.load_len, buf, len);
	n->mig.load_len += len;
	return 0;
}

static bool q_ok(const struct nvme_emu *n, const struct mig_q *q, int i)
{
	uint32_t max = i ? n->max_qsize : NVME_AQ_MAX;

	if (q->cq_live && (q->cq_size < 2 || q->cq_size > max || q->cq_tail >= q->cq_size ||
			   q->cq_head >= q->cq_size || q->cq_vector >= n->nvec || q->cq_phase > 1))
		return false;
	if (q->sq_live && (q->sq_size < 2 || q->sq_size > max || q->sq_head >= q->sq_size ||
			   q->sq_tail >= q->sq_size || q->sq_cqid >= NVME_NR_QUEUES))
		return false;
	if (i > (int)n->max_queues && (q->sq_live || q->cq_live))
		return false;
	return true;
}

/* Validate everything, then apply (proc_lock free: the device is in
 * RESUMING, nothing runs). */
static int load_commit(struct nvme_emu *n)
{
	const struct mig_hdr *h = (const struct mig_hdr *)n->mig.load;
	const struct mig_q *q;
	int i;

	if (!n->mig.load_len) {
		load_end(n);
		return 0; /* an empty stream changes nothing */
	}
	if (n->mig.load_len != record_size(n) || h->magic != MIG_MAGIC ||
	    h->version != MIG_VERSION || h->hdr_size != sizeof(*h) ||
	    h->q_size != sizeof(*q) || h->nr_queues != NVME_NR_QUEUES ||
	    h->max_queues != n->max_queues || h->max_qsize != n->max_qsize ||
	    h->mdts != n->mdts || h->lba_shift != n->ns[0].lba_shift || h->nn != n->nn ||
	    h->ns_bytes != ns_bytes(n) || h->ram_bytes != ram_bytes(n) || h->aer.n < 0 ||
	    h->aer.n > NVME_AERL + 1 || h->feat.nq >> 16 >= n->max_queues ||
	    (h->feat.nq & 0xffff) >= n->max_queues)
		goto bad;
	q = (const struct mig_q *)(n->mig.load + sizeof(*h));
	for (i = 0; i < NVME_NR_QUEUES; i++) {
		if (!q_ok(n, &q[i], i))
			goto bad;
		if (q[i].sq_live && !q[q[i].sq_cqid].cq_live)
			goto bad;
	}
	/* Commands to run again: on live I/O queues, one reserved CQ entry
	 * each, which the CQ must have free. */
	if (h->nredo > NVME_REDO_MAX)
		goto bad;
	{
		uint32_t need[NVME_NR_QUEUES] = { 0 };

		for (uint32_t k = 0; k < h->nredo; k++) {
			uint16_t sqid = h->redo[k].sqid;

			if (!sqid || sqid >= NVME_NR_QUEUES || !q[sqid].sq_live)
				goto bad;
			need[q[sqid].sq_cqid]++;
		}
		for (i = 0; i < NVME_NR_QUEUES; i++)
			if (need[i] && (!q[i].cq_live ||
					need[i] >= (q[i].cq_head + q[i].cq_size - q[i].cq_tail - 1) %
						   q[i].cq_size + 1))
				goto bad;
	}
	if (proc_lock_brief(n) < 0)
		/* The arc fails: the device goes to ERROR, a reset recovers
		 * it (docs/migration.md). */
		return -EBUSY;
	pthread_mutex_lock(&n->regs_lock);
	n->r = h->r;
	pthread_mutex_unlock(&n->regs_lock);
	n->cc_applied = h->cc_applied;
	n->ready = h->ready;
	n->fatal = h->fatal;
	n->dbbuf_sh = h->dbbuf_sh;
	n->dbbuf_ei = h->dbbuf_ei;
	n->feat = h->feat;
	n->aer = h->aer;
	atomic_store(&n->smart.units_read, h->units_read);
	atomic_store(&n->smart.units_written, h->units_written);
	atomic_store(&n->smart.host_reads, h->host_reads);
	atomic_store(&n->smart.host_writes, h->host_writes);
	atomic_store(&n->smart.busy_ns, h->busy_ns);
	n->smart.power_cycles = h->power_cycles;
	atomic_store(&n->smart.media_errors, h->media_errors);
	atomic_store(&n->smart.err_count, h->err_count);
	for (i = 0; i < NVME_NR_QUEUES; i++) {
		struct nvme_sq *sq = &n->sq[i];
		struct nvme_cq *cq = &n->cq[i];

		sq->live = q[i].sq_live;
		sq->cqid = q[i].sq_cqid;
		sq->size = q[i].sq_size;
		sq->base = q[i].sq_base;
		sq->head = q[i].sq_head;
		sq->tail = q[i].sq_tail;
		*cq = (struct nvme_cq){ .live = q[i].cq_live, .ien = q[i].cq_ien,
					.vector = q[i].cq_vector, .size = q[i].cq_size,
					.base = q[i].cq_base, .tail = q[i].cq_tail,
					.head = q[i].cq_head, .phase = q[i].cq_phase };
		atomic_store(&n->sq_db[i], q[i].sq_db);
		atomic_store(&n->cq_db[i], q[i].cq_db);
	}
	for (i = 0; i < NVME_NR_QUEUES; i++)
		if (n->sq[i].live)
			n->cq[n->sq[i].cqid].nsq++;
	n->nredo = h->nredo;
	memcpy(n->redo, h->redo, sizeof(n->redo[0]) * h->nredo);
	for (uint32_t k = 0; k < n->nredo; k++)
		n->cq[n->sq[n->redo[k].sqid].cqid].resv++;
	ram_copy(n, n->mig.load + sizeof(*h) + NVME_NR_QUEUES * sizeof(*q), false);
	pthread_mutex_unlock(&n->proc_lock);
	load_end(n);
	return 0;
bad:
	nvme_log(n, VUS_LOG_WARN, "migration record rejected (different options or corrupt)");
	/* The arc fails: the library puts the device in ERROR, and a reset
	 * recovers it (docs/migration.md); the partial record is dropped. */
	n->mig.load_len = 0;
	return -EINVAL;
}

/* ---- state machine ---------------------------------------------------- */

static int mig_transition(struct vus_dev *dev, void *opaque, enum vus_mig_state from,
			  enum vus_mig_state to)
{
	struct nvme_emu *n = opaque;

	switch (to) {
	case VUS_MIG_STATE_STOP:
		if (from == VUS_MIG_STATE_RUNNING)
			return quiesce(n);
		if (from == VUS_MIG_STATE_RESUMING)
			return load_commit(n);
		save_end(n);
		return 0;
	case VUS_MIG_STATE_STOP_COPY:
		return snapshot(n);
	case VUS_MIG_STATE_RESUMING:
		load_end(n);
		n->mig.load = malloc(record_size(n));
		return n->mig.load ? 0 : -ENOMEM;
	case VUS_MIG_STATE_RUNNING:
		save_end(n);
		atomic_store(&n->mig_stopped, false);
		atomic_store(&n->ctrl_change, true);
		nvme_kick(n);
		return 0;
	default:
		return -EINVAL;
	}
}

int nvme_mig_setup(struct nvme_emu *n)
{
	static const struct vus_migration_ops ops = {
		/* FRAMED: the library's checked stream carries the record
		 * (docs/migration.md "Stream format"): magic, version, PCI
		 * identity, checksums, the interrupts owed; the record's own
		 * header still checks the options that shape the state. */
		.flags = VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_FRAMED,
		.transition = mig_transition,
		.save = mig_save,
		.load = mig_load,
	};

	return vus_dev_set_migration(n->dev, &ops, n);
}

void nvme_mig_clear(struct nvme_emu *n)
{
	save_end(n);
	load_end(n);
	atomic_store(&n->mig_stopped, false);
}
