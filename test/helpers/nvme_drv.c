/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme_drv: a userspace NVMe 1.4 host driver for tests (nvme_drv.h).
 * Section numbers cite the NVM Express Base Specification 1.4c; what a
 * real host (Linux) does and in which order: docs/nvme-testing.md.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "nvme_drv.h"

#define MAX_QID 256u   /* queues the driver tracks (ids 0..255) */
#define MAX_VEC 65u    /* MSI-X eventfds: admin + 64 I/O queues */
#define PRP_PER_PAGE (NVD_PAGE / 8)

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() do { } while (0)
#endif

struct slot {
	bool busy;
	bool done;
	struct nvd_cqe cqe;
	uint64_t list[NVME_DRV_MAX_LISTS];
	unsigned nlists;
};

struct cq {
	bool live;
	uint16_t depth;
	uint16_t head;
	uint8_t phase;
	int vector; /* -1: no interrupt */
	struct nvd_cqe *ring; /* status read with acquire (phase tag) */
	uint64_t iova;
};

struct sq {
	bool live;
	uint16_t depth;
	uint16_t tail;
	uint16_t rung; /* the tail as last published (doorbell or shadow) */
	uint16_t head; /* as the controller last reported it */
	uint16_t next_cid;
	uint16_t cqid;
	unsigned inflight;
	struct nvd_sqe *ring;
	uint64_t iova;
	struct slot *slots; /* depth entries, indexed by cid */
	/* Completed cids in the order taken off the CQ, for nvme_drv_reap()
	 * without a scan of every slot. An entry may be stale (the slot was
	 * handed back by nvme_drv_wait() meanwhile): reap skips those. Full
	 * (only stale entries can fill it): reap scans the slots instead. */
	uint16_t *done_list;
	uint16_t done_head, done_n;
	bool done_overflow;
};

struct nvme_drv {
	struct nvme_drv_transport tr;
	struct nvme_drv_opts opts;
	uint64_t cap;
	uint32_t dstride;
	uint32_t timeout_ms;
	bool enabled;
	uint8_t *bitmap; /* one bit per arena page: in use */
	size_t npages;
	size_t hint;     /* next-fit: where the last allocation ended */
	uint8_t *id_ctrl;
	uint64_t id_ctrl_iova;
	int efd[MAX_VEC];
	unsigned nvec;
	uint32_t msix;   /* MSI-X capability offset, 0: none used */
	struct cq *cqs[MAX_QID];
	struct sq *sqs[MAX_QID];
	/* Doorbell Buffer Config (5.8): shadow doorbells and EventIdx. */
	uint32_t *shadow;   /* written and read with __atomic: the controller */
	uint32_t *eventidx; /* reads and writes them concurrently */
	uint64_t shadow_iova, eventidx_iova;
	unsigned long stray; /* completions for no outstanding command */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- registers -------------------------------------------------------- */

int nvme_drv_reg32(struct nvme_drv *d, uint32_t off, uint32_t *val)
{
	uint8_t b[4];
	int r = d->tr.ops->bar_read(d->tr.ctx, off, b, 4);

	if (r == 0)
		*val = nvd_le32(b, 0);
	return r;
}

int nvme_drv_reg32_write(struct nvme_drv *d, uint32_t off, uint32_t val)
{
	uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };

	return d->tr.ops->bar_write(d->tr.ctx, off, b, 4);
}

int nvme_drv_reg64(struct nvme_drv *d, uint32_t off, uint64_t *val)
{
	uint32_t lo, hi;
	int r;

	/* Two 32-bit halves, as Linux's lo_hi_readq (3.1). */
	r = nvme_drv_reg32(d, off, &lo);
	if (r == 0)
		r = nvme_drv_reg32(d, off + 4, &hi);
	if (r == 0)
		*val = lo | (uint64_t)hi << 32;
	return r;
}

static int reg64_write(struct nvme_drv *d, uint32_t off, uint64_t val)
{
	int r = nvme_drv_reg32_write(d, off, (uint32_t)val);

	return r ? r : nvme_drv_reg32_write(d, off + 4, (uint32_t)(val >> 32));
}

static uint32_t db_off(const struct nvme_drv *d, uint16_t qid, bool cq)
{
	return NVD_REG_DBS + (2u * qid + (cq ? 1 : 0)) * d->dstride;
}

int nvme_drv_ring(struct nvme_drv *d, uint16_t qid, bool cq, uint32_t val)
{
	return d->tr.ops->doorbell(d->tr.ctx, db_off(d, qid, cq), val);
}

/* Linux's nvme_dbbuf_need_event(): ring only when EventIdx lies in
 * [old, new) modulo 2^16. */
static bool need_event(uint16_t ei, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - ei - 1) < (uint16_t)(new_idx - old);
}

static int ring_db(struct nvme_drv *d, uint16_t qid, bool cq, uint16_t val)
{
	unsigned i = 2u * qid + (cq ? 1 : 0);
	uint16_t old;

	if (d->shadow && qid != 0) {
		/* Store the shadow value, then load EventIdx, in that order
		 * (a sequentially consistent pair, like Linux's mb()): else
		 * both sides may miss the other's update. Atomic operations,
		 * not fences, so ThreadSanitizer builds accept it. */
		old = (uint16_t)__atomic_load_n(&d->shadow[i], __ATOMIC_RELAXED);
		__atomic_store_n(&d->shadow[i], val, __ATOMIC_SEQ_CST);
		if (!need_event((uint16_t)__atomic_load_n(&d->eventidx[i], __ATOMIC_SEQ_CST), val,
				old))
			return 0;
	}
	return nvme_drv_ring(d, qid, cq, val);
}

/* ---- DMA arena -------------------------------------------------------- */

static bool page_used(const struct nvme_drv *d, size_t p)
{
	return d->bitmap[p / 8] & (1u << (p % 8));
}

static void page_mark(struct nvme_drv *d, size_t p, bool used)
{
	if (used)
		d->bitmap[p / 8] |= (uint8_t)(1u << (p % 8));
	else
		d->bitmap[p / 8] &= (uint8_t)~(1u << (p % 8));
}

static void *alloc_at(struct nvme_drv *d, size_t p, size_t n, uint64_t *iova)
{
	uint8_t *host = (uint8_t *)d->tr.mem + p * NVD_PAGE;
	size_t i;

	for (i = 0; i < n; i++)
		page_mark(d, p + i, true);
	d->hint = p + n < d->npages ? p + n : 0;
	memset(host, 0, n * NVD_PAGE);
	if (iova)
		*iova = d->tr.mem_iova + p * NVD_PAGE;
	return host;
}

/* Next fit: from where the last allocation ended, then from the start
 * (a run never wraps), so the per-command list pages of a busy queue are
 * found without scanning the pages that stay allocated. */
void *nvme_drv_alloc(struct nvme_drv *d, size_t size, uint64_t *iova)
{
	size_t n = (size + NVD_PAGE - 1) / NVD_PAGE, p, run = 0, start = d->hint;

	if (n == 0)
		n = 1;
	for (p = start; p < d->npages; p++) {
		run = page_used(d, p) ? 0 : run + 1;
		if (run == n)
			return alloc_at(d, p + 1 - n, n, iova);
	}
	for (p = 0, run = 0; p < d->npages && p < start + n; p++) {
		run = page_used(d, p) ? 0 : run + 1;
		if (run == n)
			return alloc_at(d, p + 1 - n, n, iova);
	}
	return NULL;
}

void nvme_drv_free(struct nvme_drv *d, void *ptr, size_t size)
{
	size_t n = (size + NVD_PAGE - 1) / NVD_PAGE, p, i;

	if (!ptr)
		return;
	if (n == 0)
		n = 1;
	p = (size_t)((uint8_t *)ptr - (uint8_t *)d->tr.mem) / NVD_PAGE;
	for (i = 0; i < n && p + i < d->npages; i++)
		page_mark(d, p + i, false);
}

void *nvme_drv_host(struct nvme_drv *d, uint64_t iova)
{
	if (iova < d->tr.mem_iova || iova - d->tr.mem_iova >= d->tr.mem_size)
		return NULL;
	return (uint8_t *)d->tr.mem + (iova - d->tr.mem_iova);
}

static void free_iova(struct nvme_drv *d, uint64_t iova, size_t size)
{
	nvme_drv_free(d, nvme_drv_host(d, iova), size);
}

/* ---- data pointers ---------------------------------------------------- */

static int new_list_page(struct nvme_drv *d, struct nvme_drv_cmd *cmd, uint64_t *iova,
			 void **host)
{
	if (cmd->nlists >= NVME_DRV_MAX_LISTS)
		return -E2BIG;
	*host = nvme_drv_alloc(d, NVD_PAGE, iova);
	if (!*host)
		return -ENOMEM;
	cmd->list[cmd->nlists++] = *iova;
	return 0;
}

int nvme_drv_prp_entries(struct nvme_drv *d, struct nvme_drv_cmd *cmd, const uint64_t *e,
			 unsigned n)
{
	uint64_t iova, *list;
	void *host;
	unsigned i = 1, k;
	int r;

	cmd->sqe.flags = (uint8_t)((cmd->sqe.flags & ~0xc0u) | NVD_PSDT_PRP);
	cmd->sqe.prp1 = n ? e[0] : 0;
	cmd->sqe.prp2 = 0;
	if (n <= 1)
		return 0;
	if (n == 2) {
		cmd->sqe.prp2 = e[1];
		return 0;
	}
	/* A PRP list (4.3): a page of entries whose last entry points at
	 * the next page when more remain. */
	r = new_list_page(d, cmd, &iova, &host);
	if (r < 0)
		return r;
	cmd->sqe.prp2 = iova;
	list = host;
	k = 0;
	while (i < n) {
		if (k == PRP_PER_PAGE - 1 && n - i > 1) {
			r = new_list_page(d, cmd, &iova, &host);
			if (r < 0)
				return r;
			list[k] = iova;
			list = host;
			k = 0;
		}
		list[k++] = e[i++];
	}
	return 0;
}

int nvme_drv_prp(struct nvme_drv *d, struct nvme_drv_cmd *cmd, uint64_t iova, size_t len)
{
	size_t n, i;
	uint64_t first_end, *e;
	int r;

	if (len == 0)
		return nvme_drv_prp_entries(d, cmd, &iova, 1);
	/* The first entry may start anywhere in its page; the others are
	 * page-aligned (4.3). */
	first_end = (iova | (NVD_PAGE - 1)) + 1;
	n = 1;
	if (iova + len > first_end)
		n += (iova + len - first_end + NVD_PAGE - 1) / NVD_PAGE;
	if (n <= 2) {
		uint64_t two[2] = { iova, first_end };

		return nvme_drv_prp_entries(d, cmd, two, (unsigned)n);
	}
	e = calloc(n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e[0] = iova;
	for (i = 1; i < n; i++)
		e[i] = first_end + (i - 1) * NVD_PAGE;
	r = nvme_drv_prp_entries(d, cmd, e, (unsigned)n);
	free(e);
	return r;
}

static void sgl_put(void *at, uint64_t addr, uint32_t len, uint8_t id)
{
	struct nvd_sgl_desc s = { .addr = addr, .len = len, .id = id };

	memcpy(at, &s, sizeof(s));
}

int nvme_drv_sgl(struct nvme_drv *d, struct nvme_drv_cmd *cmd, const struct nvme_drv_seg *s,
		 unsigned n)
{
	uint64_t iova;
	void *host;
	unsigned i;
	int r;

	if (n == 0 || n > NVD_PAGE / sizeof(struct nvd_sgl_desc))
		return -EINVAL;
	cmd->sqe.flags = (uint8_t)((cmd->sqe.flags & ~0xc0u) | NVD_PSDT_SGL);
	if (n == 1) {
		sgl_put(&cmd->sqe.prp1, s[0].iova, s[0].len, NVD_SGL_DATA_BLOCK);
		return 0;
	}
	r = new_list_page(d, cmd, &iova, &host);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		sgl_put((uint8_t *)host + i * sizeof(struct nvd_sgl_desc), s[i].iova, s[i].len,
			NVD_SGL_DATA_BLOCK);
	sgl_put(&cmd->sqe.prp1, iova, n * (uint32_t)sizeof(struct nvd_sgl_desc),
		NVD_SGL_LAST_SEGMENT);
	return 0;
}

void nvme_drv_cmd_release(struct nvme_drv *d, struct nvme_drv_cmd *cmd)
{
	unsigned i;

	for (i = 0; i < cmd->nlists; i++)
		free_iova(d, cmd->list[i], NVD_PAGE);
	cmd->nlists = 0;
}

/* ---- queues ------------------------------------------------------------ */

static void slot_release(struct nvme_drv *d, struct slot *s)
{
	unsigned i;

	for (i = 0; i < s->nlists; i++)
		free_iova(d, s->list[i], NVD_PAGE);
	s->nlists = 0;
}

static void sq_forget(struct nvme_drv *d, uint16_t qid)
{
	struct sq *q = d->sqs[qid];
	uint16_t i;

	if (!q)
		return;
	for (i = 0; i < q->depth; i++)
		slot_release(d, &q->slots[i]);
	free_iova(d, q->iova, (size_t)q->depth * sizeof(struct nvd_sqe));
	free(q->slots);
	free(q->done_list);
	free(q);
	d->sqs[qid] = NULL;
}

static void cq_forget(struct nvme_drv *d, uint16_t qid)
{
	struct cq *q = d->cqs[qid];

	if (!q)
		return;
	free_iova(d, q->iova, (size_t)q->depth * sizeof(struct nvd_cqe));
	free(q);
	d->cqs[qid] = NULL;
}

static struct cq *cq_new(struct nvme_drv *d, uint16_t depth, int vector)
{
	struct cq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->ring = nvme_drv_alloc(d, (size_t)depth * sizeof(struct nvd_cqe), &q->iova);
	if (!q->ring) {
		free(q);
		return NULL;
	}
	q->depth = depth;
	q->phase = 1;
	q->vector = vector;
	return q;
}

static struct sq *sq_new(struct nvme_drv *d, uint16_t depth, uint16_t cqid)
{
	struct sq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->slots = calloc(depth, sizeof(*q->slots));
	q->done_list = calloc(depth, sizeof(*q->done_list));
	q->ring = q->slots && q->done_list
			  ? nvme_drv_alloc(d, (size_t)depth * sizeof(struct nvd_sqe), &q->iova)
			  : NULL;
	if (!q->ring) {
		free(q->slots);
		free(q->done_list);
		free(q);
		return NULL;
	}
	q->depth = depth;
	q->cqid = cqid;
	return q;
}

/* Take one completion off cq: phase tag matches (4.6). */
static bool cq_take(struct nvme_drv *d, struct cq *q)
{
	struct nvd_cqe *v = &q->ring[q->head];
	struct nvd_cqe e;
	struct sq *sq;
	struct slot *s;
	uint16_t status = __atomic_load_n(&v->status, __ATOMIC_ACQUIRE);

	if ((status & 1) != q->phase)
		return false;
	/* The entry is complete once its phase tag flipped (4.6). */
	e = *v;
	e.status = status;
	if (++q->head == q->depth) {
		q->head = 0;
		q->phase ^= 1;
	}
	sq = e.sq_id < MAX_QID ? d->sqs[e.sq_id] : NULL;
	if (!sq || e.cid >= sq->depth || !sq->slots[e.cid].busy || sq->slots[e.cid].done) {
		d->stray++; /* not ours: nothing waits for it */
		return true;
	}
	sq->head = e.sq_head;
	s = &sq->slots[e.cid];
	s->cqe = e;
	s->done = true;
	slot_release(d, s);
	if (sq->done_n < sq->depth)
		sq->done_list[(sq->done_head + sq->done_n++) % sq->depth] = e.cid;
	else
		sq->done_overflow = true;
	return true;
}

static int cq_reap(struct nvme_drv *d, uint16_t cqid)
{
	struct cq *q = cqid < MAX_QID ? d->cqs[cqid] : NULL;
	int n = 0;

	if (!q)
		return -ENOENT;
	while (cq_take(d, q))
		n++;
	if (n)
		ring_db(d, cqid, true, q->head);
	return n;
}

int nvme_drv_poll(struct nvme_drv *d, uint16_t qid)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;

	return q ? cq_reap(d, q->cqid) : -ENOENT;
}

int nvme_drv_queue(struct nvme_drv *d, uint16_t qid, struct nvme_drv_cmd *cmd, uint16_t *cid)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;
	struct slot *s;
	uint16_t i;
	unsigned k;

	if (!q)
		return -ENOENT;
	if ((uint16_t)((q->tail + 1) % q->depth) == q->head || q->inflight >= q->depth - 1u) {
		cq_reap(d, q->cqid);
		if ((uint16_t)((q->tail + 1) % q->depth) == q->head)
			return -EBUSY;
	}
	/* A free command id: slots that are neither waiting nor unread,
	 * searched from the last one handed out (a queue at depth finds one
	 * at once instead of scanning from 0 every time). */
	for (k = 0; k < q->depth; k++) {
		i = (uint16_t)((q->next_cid + k) % q->depth);
		if (!q->slots[i].busy)
			break;
	}
	if (k == q->depth)
		return -EBUSY;
	q->next_cid = (uint16_t)((i + 1) % q->depth);
	s = &q->slots[i];
	s->busy = true;
	s->done = false;
	for (k = 0; k < cmd->nlists; k++)
		s->list[k] = cmd->list[k];
	s->nlists = cmd->nlists;
	cmd->nlists = 0;
	cmd->sqe.cid = i;
	/* The entry is written before the doorbell: a message (a system
	 * call) or a shadow store with sequential consistency (ring_db). */
	q->ring[q->tail] = cmd->sqe;
	q->tail = (uint16_t)((q->tail + 1) % q->depth);
	q->inflight++;
	if (cid)
		*cid = i;
	return 0;
}

int nvme_drv_sq_ring(struct nvme_drv *d, uint16_t qid)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;

	if (!q)
		return -ENOENT;
	if (q->rung == q->tail)
		return 0;
	q->rung = q->tail;
	return ring_db(d, qid, false, q->tail);
}

int nvme_drv_submit(struct nvme_drv *d, uint16_t qid, struct nvme_drv_cmd *cmd, uint16_t *cid)
{
	int r = nvme_drv_queue(d, qid, cmd, cid);

	return r < 0 ? r : nvme_drv_sq_ring(d, qid);
}

bool nvme_drv_done(struct nvme_drv *d, uint16_t qid, uint16_t cid)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;

	return q && cid < q->depth && q->slots[cid].busy && q->slots[cid].done;
}

unsigned long nvme_drv_stray(const struct nvme_drv *d)
{
	return d->stray;
}

unsigned nvme_drv_inflight(const struct nvme_drv *d, uint16_t qid)
{
	const struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;

	return q ? q->inflight : 0;
}

/*
 * Sleep until qid's CQ may hold something new: on its vector's eventfd
 * (interrupts), or, polled, after a spin on the CQ's phase tag in memory
 * with no system call. The transport's wait() is called anyway when DMA
 * needs it served (messages) and every POLL_SERVE spins (it may have
 * other work), and polling backs off to millisecond naps after
 * POLL_SPINS empty spins.
 */
#define POLL_SPINS (1u << 22)
#define POLL_SERVE 1024u

static int wait_cq(struct nvme_drv *d, struct cq *cq, unsigned *spins)
{
	int efd = cq->vector >= 0 && (unsigned)cq->vector < d->nvec ? d->efd[cq->vector] : -1;
	unsigned i;

	if (efd >= 0)
		return d->tr.ops->wait(d->tr.ctx, &efd, 1, 20);
	if (*spins < POLL_SPINS && !d->tr.serve_dma) {
		for (i = 0; i < POLL_SERVE; i++) {
			uint16_t st = __atomic_load_n(&cq->ring[cq->head].status, __ATOMIC_ACQUIRE);

			if ((st & 1) == cq->phase)
				return 0;
			cpu_relax();
		}
		*spins += POLL_SERVE;
		return d->tr.ops->wait(d->tr.ctx, NULL, 0, 0);
	}
	return d->tr.ops->wait(d->tr.ctx, NULL, 0, (*spins)++ < POLL_SPINS ? 0 : 1);
}

int nvme_drv_wait(struct nvme_drv *d, uint16_t qid, uint16_t cid, struct nvd_cqe *cqe)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;
	int64_t deadline = now_ms() + d->timeout_ms;
	unsigned spins = 0;
	struct cq *cq;
	struct slot *s;
	int r;

	if (!q || cid >= q->depth || !q->slots[cid].busy)
		return -ENOENT;
	s = &q->slots[cid];
	for (;;) {
		cq = d->cqs[q->cqid];
		if (!cq)
			return -ENOENT;
		cq_reap(d, q->cqid);
		if (s->done)
			break;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		r = wait_cq(d, cq, &spins);
		if (r < 0)
			return r;
	}
	if (cqe)
		*cqe = s->cqe;
	s->busy = false;
	s->done = false;
	q->inflight--;
	return (s->cqe.status >> 1) & 0x7fff;
}

/* Hand back a completed slot's result (it is free again). */
static void reap_one(struct sq *q, uint16_t cid, struct nvme_drv_done *out)
{
	struct slot *s = &q->slots[cid];

	out->cid = cid;
	out->status = (uint16_t)((s->cqe.status >> 1) & 0x7fff);
	out->dw0 = s->cqe.dw0;
	s->busy = false;
	s->done = false;
	q->inflight--;
}

/* The completed commands taken off the CQ so far, up to max. */
static unsigned reap_taken(struct sq *q, struct nvme_drv_done *out, unsigned max)
{
	unsigned n = 0;
	uint16_t i;

	if (q->done_overflow) {
		/* Only stale entries fill the list: scan every slot once. */
		q->done_overflow = false;
		q->done_n = 0;
		for (i = 0; i < q->depth && n < max; i++)
			if (q->slots[i].busy && q->slots[i].done)
				reap_one(q, i, &out[n++]);
		if (n == max)
			q->done_overflow = true; /* more may be left: scan again */
		return n;
	}
	while (q->done_n && n < max) {
		uint16_t cid = q->done_list[q->done_head];

		q->done_head = (uint16_t)((q->done_head + 1) % q->depth);
		q->done_n--;
		if (q->slots[cid].busy && q->slots[cid].done)
			reap_one(q, cid, &out[n++]);
	}
	return n;
}

int nvme_drv_reap(struct nvme_drv *d, uint16_t qid, struct nvme_drv_done *out, unsigned max,
		  bool wait)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;
	int64_t deadline = 0;
	unsigned spins = 0, n;
	struct cq *cq;
	int r;

	if (!q)
		return -ENOENT;
	for (;;) {
		cq = d->cqs[q->cqid];
		if (!cq)
			return -ENOENT;
		cq_reap(d, q->cqid);
		n = reap_taken(q, out, max);
		if (n || !wait || !q->inflight || !max)
			return (int)n;
		if (!deadline)
			deadline = now_ms() + d->timeout_ms;
		else if (now_ms() > deadline)
			return -ETIMEDOUT;
		r = wait_cq(d, cq, &spins);
		if (r < 0)
			return r;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define SPIN_YIELD_LOOKS 8 /* rounds of 32 looks (a few microseconds) */

int nvme_drv_reap_spin(struct nvme_drv *d, uint16_t qid, struct nvme_drv_done *out,
		       unsigned max, unsigned spin_ns)
{
	struct sq *q = qid < MAX_QID ? d->sqs[qid] : NULL;
	unsigned i, looks = 0;
	struct cq *cq;
	uint64_t t0;
	int n;

	n = nvme_drv_reap(d, qid, out, max, false);
	/* DMA by messages needs wait() to serve them: no spin then. */
	if (n || !q || !q->inflight || !max || !spin_ns || d->tr.serve_dma)
		return n ? n : nvme_drv_reap(d, qid, out, max, true);
	cq = d->cqs[q->cqid];
	t0 = now_ns();
	do {
		/* The clock every 32 looks: a look is a load, the clock
		 * tens of nanoseconds. */
		for (i = 0; i < 32; i++) {
			uint16_t st = __atomic_load_n(&cq->ring[cq->head].status, __ATOMIC_ACQUIRE);

			if ((st & 1) == cq->phase)
				return nvme_drv_reap(d, qid, out, max, true);
			cpu_relax();
		}
		/* Now and then give the CPU away: the controller's thread
		 * may be waiting for this very CPU (the scheduler often puts
		 * the two on one), and no completion comes while it waits.
		 * With the CPU to itself the yield returns at once. */
		if (++looks % SPIN_YIELD_LOOKS == 0)
			sched_yield();
	} while (now_ns() - t0 < spin_ns);
	return nvme_drv_reap(d, qid, out, max, true);
}

int nvme_drv_exec(struct nvme_drv *d, uint16_t qid, struct nvme_drv_cmd *cmd, struct nvd_cqe *cqe)
{
	uint16_t cid;
	int r = nvme_drv_submit(d, qid, cmd, &cid);

	if (r < 0) {
		nvme_drv_cmd_release(d, cmd);
		return r;
	}
	return nvme_drv_wait(d, qid, cid, cqe);
}

/* ---- admin ------------------------------------------------------------- */

static int admin_simple(struct nvme_drv *d, struct nvme_drv_cmd *cmd, uint32_t *dw0)
{
	struct nvd_cqe cqe;
	int r = nvme_drv_exec(d, 0, cmd, &cqe);

	if (r >= 0 && dw0)
		*dw0 = cqe.dw0;
	return r;
}

int nvme_drv_identify(struct nvme_drv *d, uint8_t cns, uint32_t nsid, void *buf)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_IDENTIFY, .nsid = nsid, .cdw10 = cns } };
	uint64_t iova;
	void *b = nvme_drv_alloc(d, NVD_PAGE, &iova);
	int r;

	if (!b)
		return -ENOMEM;
	cmd.sqe.prp1 = iova;
	r = admin_simple(d, &cmd, NULL);
	if (r >= 0 && buf)
		memcpy(buf, b, NVD_PAGE);
	nvme_drv_free(d, b, NVD_PAGE);
	return r;
}

int nvme_drv_get_features(struct nvme_drv *d, uint8_t fid, uint32_t cdw11, uint32_t *dw0)
{
	struct nvme_drv_cmd cmd = {
		.sqe = { .opc = NVD_ADM_GET_FEATURES, .cdw10 = fid, .cdw11 = cdw11 }
	};

	return admin_simple(d, &cmd, dw0);
}

int nvme_drv_set_features(struct nvme_drv *d, uint8_t fid, uint32_t cdw11, uint32_t *dw0)
{
	struct nvme_drv_cmd cmd = {
		.sqe = { .opc = NVD_ADM_SET_FEATURES, .cdw10 = fid, .cdw11 = cdw11 }
	};

	return admin_simple(d, &cmd, dw0);
}

int nvme_drv_get_log(struct nvme_drv *d, uint8_t lid, uint32_t nsid, void *buf, uint32_t len)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_GET_LOG, .nsid = nsid } };
	uint32_t numd = len / 4 - 1;
	uint64_t iova;
	void *b;
	int r;

	if (len < 4 || len % 4)
		return -EINVAL;
	b = nvme_drv_alloc(d, len, &iova);
	if (!b)
		return -ENOMEM;
	cmd.sqe.cdw10 = lid | (numd & 0xffff) << 16;
	cmd.sqe.cdw11 = numd >> 16;
	r = nvme_drv_prp(d, &cmd, iova, len);
	if (r == 0)
		r = admin_simple(d, &cmd, NULL);
	if (r >= 0 && buf)
		memcpy(buf, b, len);
	nvme_drv_free(d, b, len);
	return r;
}

int nvme_drv_set_num_queues(struct nvme_drv *d, uint16_t nsq, uint16_t ncq, uint16_t *got_sq,
			    uint16_t *got_cq)
{
	uint32_t dw0 = 0;
	int r;

	/* 0's based counts both ways (5.21.1.7). */
	r = nvme_drv_set_features(d, NVD_FEAT_NUM_QUEUES,
				  (uint32_t)(nsq - 1) | (uint32_t)(ncq - 1) << 16, &dw0);
	if (r == 0) {
		if (got_sq)
			*got_sq = (uint16_t)((dw0 & 0xffff) + 1);
		if (got_cq)
			*got_cq = (uint16_t)((dw0 >> 16) + 1);
	}
	return r;
}

static void dbbuf_init_queue(struct nvme_drv *d, uint16_t qid, bool cq)
{
	unsigned i = 2u * qid + (cq ? 1 : 0);

	if (d->shadow && qid) {
		__atomic_store_n(&d->shadow[i], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&d->eventidx[i], 0, __ATOMIC_RELAXED);
	}
}

int nvme_drv_create_cq(struct nvme_drv *d, uint16_t qid, uint16_t qsize, int vector, bool pc)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_CREATE_CQ } };
	uint32_t depth = (uint32_t)qsize + 1;
	struct cq *q = cq_new(d, (uint16_t)(depth > 0xffff ? 0xffff : depth),
			      vector < 0 ? -1 : vector);
	int r;

	if (!q)
		return -ENOMEM;
	cmd.sqe.prp1 = q->iova;
	cmd.sqe.cdw10 = qid | (uint32_t)qsize << 16;
	cmd.sqe.cdw11 = (pc ? 1u : 0) | (vector >= 0 ? 2u : 0) |
			(uint32_t)(vector >= 0 ? vector : 0) << 16;
	if (qid < MAX_QID && !d->cqs[qid])
		dbbuf_init_queue(d, qid, true);
	r = admin_simple(d, &cmd, NULL);
	if (r == 0 && qid < MAX_QID && !d->cqs[qid] && pc && depth <= 0xffff) {
		q->live = true;
		d->cqs[qid] = q;
		return 0;
	}
	free_iova(d, q->iova, (size_t)q->depth * sizeof(struct nvd_cqe));
	free(q);
	return r;
}

int nvme_drv_create_sq(struct nvme_drv *d, uint16_t qid, uint16_t qsize, uint16_t cqid, bool pc)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_CREATE_SQ } };
	uint32_t depth = (uint32_t)qsize + 1;
	struct sq *q = sq_new(d, (uint16_t)(depth > 0xffff ? 0xffff : depth), cqid);
	int r;

	if (!q)
		return -ENOMEM;
	cmd.sqe.prp1 = q->iova;
	cmd.sqe.cdw10 = qid | (uint32_t)qsize << 16;
	cmd.sqe.cdw11 = (pc ? 1u : 0) | (uint32_t)cqid << 16;
	if (qid < MAX_QID && !d->sqs[qid])
		dbbuf_init_queue(d, qid, false);
	r = admin_simple(d, &cmd, NULL);
	if (r == 0 && qid < MAX_QID && !d->sqs[qid] && pc && depth <= 0xffff) {
		q->live = true;
		d->sqs[qid] = q;
		return 0;
	}
	free_iova(d, q->iova, (size_t)q->depth * sizeof(struct nvd_sqe));
	free(q->slots);
	free(q->done_list);
	free(q);
	return r;
}

int nvme_drv_delete_sq(struct nvme_drv *d, uint16_t qid)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_DELETE_SQ, .cdw10 = qid } };
	int r = admin_simple(d, &cmd, NULL);

	if (r == 0 && qid && qid < MAX_QID)
		sq_forget(d, qid);
	return r;
}

int nvme_drv_delete_cq(struct nvme_drv *d, uint16_t qid)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_DELETE_CQ, .cdw10 = qid } };
	int r = admin_simple(d, &cmd, NULL);

	if (r == 0 && qid && qid < MAX_QID)
		cq_forget(d, qid);
	return r;
}

int nvme_drv_create_qpair(struct nvme_drv *d, uint16_t qid, uint16_t depth)
{
	int vector = -1, r;

	if (d->nvec && !d->opts.poll_queues)
		vector = qid < d->nvec ? qid : 0;
	r = nvme_drv_create_cq(d, qid, (uint16_t)(depth - 1), vector, true);
	if (r != 0)
		return r;
	r = nvme_drv_create_sq(d, qid, (uint16_t)(depth - 1), qid, true);
	if (r != 0)
		nvme_drv_delete_cq(d, qid);
	return r;
}

int nvme_drv_delete_qpair(struct nvme_drv *d, uint16_t qid)
{
	int r = nvme_drv_delete_sq(d, qid);

	return r ? r : nvme_drv_delete_cq(d, qid);
}

int nvme_drv_dbbuf_enable(struct nvme_drv *d)
{
	struct nvme_drv_cmd cmd = { .sqe = { .opc = NVD_ADM_DBBUF_CONFIG } };
	uint64_t s_iova, e_iova;
	void *s = nvme_drv_alloc(d, NVD_PAGE, &s_iova);
	void *e = nvme_drv_alloc(d, NVD_PAGE, &e_iova);
	unsigned q;
	int r;

	if (!s || !e) {
		nvme_drv_free(d, s, NVD_PAGE);
		nvme_drv_free(d, e, NVD_PAGE);
		return -ENOMEM;
	}
	/* The shadow page starts as the doorbells stand now. */
	for (q = 1; q < MAX_QID && 2 * q + 1 < NVD_PAGE / 4; q++) {
		if (d->sqs[q])
			((uint32_t *)s)[2 * q] = d->sqs[q]->tail;
		if (d->cqs[q])
			((uint32_t *)s)[2 * q + 1] = d->cqs[q]->head;
	}
	cmd.sqe.prp1 = s_iova;
	cmd.sqe.prp2 = e_iova;
	r = admin_simple(d, &cmd, NULL);
	if (r != 0) {
		nvme_drv_free(d, s, NVD_PAGE);
		nvme_drv_free(d, e, NVD_PAGE);
		return r;
	}
	if (d->shadow) {
		nvme_drv_free(d, (void *)d->shadow, NVD_PAGE);
		nvme_drv_free(d, (void *)d->eventidx, NVD_PAGE);
	}
	d->shadow = s;
	d->eventidx = e;
	d->shadow_iova = s_iova;
	d->eventidx_iova = e_iova;
	return 0;
}

/* ---- I/O ---------------------------------------------------------------- */

int nvme_drv_rw_cmd(struct nvme_drv *d, struct nvme_drv_cmd *cmd, uint8_t opc, uint32_t nsid,
		    uint64_t slba, uint32_t nlb, uint64_t iova, size_t len,
		    enum nvme_drv_shape shape)
{
	struct nvme_drv_seg *segs;
	uint64_t a, end;
	unsigned n = 0;
	int r;

	memset(cmd, 0, sizeof(*cmd));
	cmd->sqe.opc = opc;
	cmd->sqe.nsid = nsid;
	cmd->sqe.cdw10 = (uint32_t)slba;
	cmd->sqe.cdw11 = (uint32_t)(slba >> 32);
	cmd->sqe.cdw12 = (nlb - 1) & 0xffff;
	switch (shape) {
	case NVME_DRV_PRP:
		return nvme_drv_prp(d, cmd, iova, len);
	case NVME_DRV_SGL: {
		struct nvme_drv_seg one = { iova, (uint32_t)len };

		return nvme_drv_sgl(d, cmd, &one, 1);
	}
	case NVME_DRV_SGL_LIST:
		segs = calloc(len / NVD_PAGE + 2, sizeof(*segs));
		if (!segs)
			return -ENOMEM;
		for (a = iova, end = iova + len; a < end; a = (a | (NVD_PAGE - 1)) + 1) {
			segs[n].iova = a;
			segs[n].len = (uint32_t)((((a | (NVD_PAGE - 1)) + 1) < end
							  ? ((a | (NVD_PAGE - 1)) + 1)
							  : end) -
						 a);
			n++;
		}
		r = nvme_drv_sgl(d, cmd, segs, n);
		free(segs);
		return r;
	}
	return -EINVAL;
}

int nvme_drv_rw(struct nvme_drv *d, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba,
		uint32_t nlb, uint64_t iova, size_t len, enum nvme_drv_shape shape)
{
	struct nvme_drv_cmd cmd;
	int r = nvme_drv_rw_cmd(d, &cmd, opc, nsid, slba, nlb, iova, len, shape);

	if (r < 0) {
		nvme_drv_cmd_release(d, &cmd);
		return r;
	}
	return nvme_drv_exec(d, qid, &cmd, NULL);
}

/* ---- controller state ----------------------------------------------------- */

static int wait_csts(struct nvme_drv *d, uint32_t mask, uint32_t want, uint32_t *csts)
{
	/* CAP.TO is in 500 ms units (3.1.1); never less than a second. */
	int64_t deadline = now_ms() + 500 * (int64_t)(NVD_CAP_TO(d->cap) + 1) + 1000;
	struct timespec nap = { 0, 1000000L };
	uint32_t v = 0;
	int r;

	for (;;) {
		r = nvme_drv_reg32(d, NVD_REG_CSTS, &v);
		if (r < 0)
			return r;
		if (csts)
			*csts = v;
		if ((v & mask) == want)
			return 0;
		if (v == 0xffffffffu)
			return -ENODEV;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		d->tr.ops->wait(d->tr.ctx, NULL, 0, 0);
		nanosleep(&nap, NULL);
	}
}

static void forget_io_queues(struct nvme_drv *d, unsigned *inflight)
{
	unsigned q;

	for (q = 1; q < MAX_QID; q++) {
		if (d->sqs[q] && inflight)
			*inflight += d->sqs[q]->inflight;
		sq_forget(d, (uint16_t)q);
		cq_forget(d, (uint16_t)q);
	}
	if (d->shadow) {
		nvme_drv_free(d, (void *)d->shadow, NVD_PAGE);
		nvme_drv_free(d, (void *)d->eventidx, NVD_PAGE);
		d->shadow = d->eventidx = NULL;
	}
}

int nvme_drv_disable(struct nvme_drv *d)
{
	unsigned inflight = 0;
	uint32_t cc;
	int r;

	r = nvme_drv_reg32(d, NVD_REG_CC, &cc);
	if (r == 0)
		r = nvme_drv_reg32_write(d, NVD_REG_CC, cc & ~NVD_CC_EN);
	if (r == 0)
		r = wait_csts(d, NVD_CSTS_RDY, 0, NULL);
	if (r < 0)
		return r;
	d->enabled = false;
	forget_io_queues(d, &inflight);
	if (d->sqs[0])
		inflight += d->sqs[0]->inflight;
	sq_forget(d, 0);
	cq_forget(d, 0);
	return (int)inflight;
}

int nvme_drv_enable(struct nvme_drv *d)
{
	uint16_t depth = d->opts.admin_depth;
	uint32_t csts;
	int r;

	sq_forget(d, 0);
	cq_forget(d, 0);
	d->cqs[0] = cq_new(d, depth, d->nvec ? 0 : -1);
	d->sqs[0] = sq_new(d, depth, 0);
	if (!d->cqs[0] || !d->sqs[0])
		return -ENOMEM;
	d->cqs[0]->live = d->sqs[0]->live = true;
	/* Admin queue attributes and bases (3.1.8-3.1.10), then CC with the
	 * entry sizes Linux uses (SQE 2^6, CQE 2^4), then EN (7.6.1). */
	r = nvme_drv_reg32_write(d, NVD_REG_AQA, (uint32_t)(depth - 1) << 16 | (depth - 1u));
	if (r == 0)
		r = reg64_write(d, NVD_REG_ASQ, d->sqs[0]->iova);
	if (r == 0)
		r = reg64_write(d, NVD_REG_ACQ, d->cqs[0]->iova);
	if (r == 0)
		r = nvme_drv_reg32_write(d, NVD_REG_CC, NVD_CC_IOSQES(6) | NVD_CC_IOCQES(4));
	if (r == 0)
		r = nvme_drv_reg32_write(d, NVD_REG_CC,
					 NVD_CC_IOSQES(6) | NVD_CC_IOCQES(4) | NVD_CC_EN);
	if (r == 0)
		r = wait_csts(d, NVD_CSTS_RDY | NVD_CSTS_CFS, NVD_CSTS_RDY, &csts);
	if (r < 0)
		return r;
	d->enabled = true;
	return 0;
}

int nvme_drv_shutdown(struct nvme_drv *d)
{
	uint32_t cc;
	int r = nvme_drv_reg32(d, NVD_REG_CC, &cc);

	if (r == 0)
		r = nvme_drv_reg32_write(d, NVD_REG_CC, (cc & ~NVD_CC_SHN_MASK) | NVD_CC_SHN_NORMAL);
	if (r == 0)
		r = wait_csts(d, NVD_CSTS_SHST_MASK, NVD_CSTS_SHST_DONE, NULL);
	return r;
}

/* ---- PCI set-up ------------------------------------------------------------ */

static int cfg16(struct nvme_drv *d, uint32_t off, uint16_t *v)
{
	uint8_t b[2];
	int r = d->tr.ops->cfg_read(d->tr.ctx, off, b, 2);

	if (r == 0)
		*v = nvd_le16(b, 0);
	return r;
}

static int cfg16_write(struct nvme_drv *d, uint32_t off, uint16_t v)
{
	uint8_t b[2] = { v & 0xff, v >> 8 };

	return d->tr.ops->cfg_write(d->tr.ctx, off, b, 2);
}

/* The MSI-X capability's offset (PCI 3.0 6.7), or 0. */
static uint32_t find_msix(struct nvme_drv *d)
{
	uint16_t status = 0, v = 0;
	uint8_t ptr;
	unsigned hops = 0;

	if (cfg16(d, 0x06, &status) < 0 || !(status & 0x10))
		return 0;
	if (d->tr.ops->cfg_read(d->tr.ctx, 0x34, &ptr, 1) < 0)
		return 0;
	while (ptr >= 0x40 && hops++ < 48) {
		ptr &= 0xfc;
		if (cfg16(d, ptr, &v) < 0)
			return 0;
		if ((v & 0xff) == 0x11)
			return ptr;
		ptr = (uint8_t)(v >> 8);
	}
	return 0;
}

/* Memory space and bus master on (PCI 3.0 6.2.2: a device may refuse
 * DMA and MSI-X without bus mastering), MSI-X enabled when in use. */
int nvme_drv_pci_restore(struct nvme_drv *d)
{
	uint16_t cmd = 0, ctl = 0;
	int r;

	r = cfg16(d, 0x04, &cmd);
	if (r == 0)
		r = cfg16_write(d, 0x04, cmd | 0x6);
	if (r < 0 || !d->msix)
		return r;
	r = cfg16(d, d->msix + 2, &ctl);
	if (r == 0)
		r = cfg16_write(d, d->msix + 2, (uint16_t)((ctl & ~0x4000u) | 0x8000u));
	return r;
}

static int pci_setup(struct nvme_drv *d)
{
	uint16_t ctl = 0;
	uint32_t msix;
	unsigned n, i;
	int r;

	if (d->opts.irq) {
		msix = find_msix(d);
		if (!msix || cfg16(d, msix + 2, &ctl) < 0)
			return -ENOTSUP;
		n = (ctl & 0x7ffu) + 1;
		if (n > MAX_VEC)
			n = MAX_VEC;
		for (i = 0; i < n; i++) {
			d->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (d->efd[i] < 0)
				return -errno;
			d->nvec = i + 1;
		}
		r = d->tr.ops->set_msix(d->tr.ctx, n, d->efd);
		if (r < 0)
			return r;
		d->msix = msix;
	}
	return nvme_drv_pci_restore(d);
}

/* ---- open/close --------------------------------------------------------------- */

int nvme_drv_open(const struct nvme_drv_transport *tr, const struct nvme_drv_opts *opts,
		  struct nvme_drv **out)
{
	static const struct nvme_drv_opts defaults;
	struct nvme_drv *d;
	uint32_t cc;
	unsigned i;
	int r;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		tr->ops->destroy(tr->ctx);
		return -ENOMEM;
	}
	d->tr = *tr;
	d->opts = opts ? *opts : defaults;
	if (!d->opts.admin_depth)
		d->opts.admin_depth = 32;
	d->timeout_ms = d->opts.timeout_ms > 0 ? (uint32_t)d->opts.timeout_ms : 5000;
	for (i = 0; i < MAX_VEC; i++)
		d->efd[i] = -1;
	d->npages = tr->mem_size / NVD_PAGE;
	d->bitmap = calloc((d->npages + 7) / 8, 1);
	if (!d->bitmap) {
		r = -ENOMEM;
		goto fail;
	}
	r = pci_setup(d);
	if (r == 0)
		r = nvme_drv_reg64(d, NVD_REG_CAP, &d->cap);
	if (r < 0)
		goto fail;
	d->dstride = 4u << NVD_CAP_DSTRD(d->cap);
	/* Host pages are 4 KiB: the controller must allow them (3.1.1). */
	if (NVD_CAP_MPSMIN(d->cap) != 0) {
		r = -ENOTSUP;
		goto fail;
	}
	if (d->opts.admin_depth > NVD_CAP_MQES(d->cap) + 1)
		d->opts.admin_depth = (uint16_t)(NVD_CAP_MQES(d->cap) + 1);
	r = nvme_drv_reg32(d, NVD_REG_CC, &cc);
	if (r == 0 && (cc & NVD_CC_EN)) {
		r = nvme_drv_reg32_write(d, NVD_REG_CC, cc & ~NVD_CC_EN);
		if (r == 0)
			r = wait_csts(d, NVD_CSTS_RDY, 0, NULL);
	}
	if (r == 0)
		r = nvme_drv_enable(d);
	if (r < 0)
		goto fail;
	d->id_ctrl = nvme_drv_alloc(d, NVD_PAGE, &d->id_ctrl_iova);
	if (!d->id_ctrl) {
		r = -ENOMEM;
		goto fail;
	}
	r = nvme_drv_identify(d, 1, 0, d->id_ctrl);
	if (r > 0)
		r = -EPROTO; /* Identify Controller must succeed */
	if (r < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	d->enabled = false;
	nvme_drv_close(d);
	return r;
}

void nvme_drv_close(struct nvme_drv *d)
{
	unsigned i;

	if (!d)
		return;
	if (d->enabled)
		nvme_drv_shutdown(d);
	forget_io_queues(d, NULL);
	sq_forget(d, 0);
	cq_forget(d, 0);
	d->tr.ops->destroy(d->tr.ctx);
	for (i = 0; i < MAX_VEC; i++)
		if (d->efd[i] >= 0)
			close(d->efd[i]);
	free(d->bitmap);
	free(d);
}

uint64_t nvme_drv_cap(const struct nvme_drv *d)
{
	return d->cap;
}

const uint8_t *nvme_drv_id_ctrl(const struct nvme_drv *d)
{
	return d->id_ctrl;
}

uint32_t nvme_drv_mdts_bytes(const struct nvme_drv *d)
{
	uint8_t mdts = d->id_ctrl[NVD_IDC_MDTS];

	/* Units of the minimum page size, 2^MDTS of them (5.15.2.2). */
	return mdts ? (NVD_PAGE << NVD_CAP_MPSMIN(d->cap)) << mdts : 0;
}

unsigned nvme_drv_nvec(const struct nvme_drv *d)
{
	return d->nvec;
}

int nvme_drv_vector_efd(const struct nvme_drv *d, unsigned v)
{
	return v < d->nvec ? d->efd[v] : -1;
}
