/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asynchronous file and block-device I/O through one io_uring per
 * controller (docs/nvme.md "Backends"). A Read, Write or Flush of a file
 * namespace becomes an SQE when the command is fetched and the command
 * stays in flight; the processor goes on fetching. The ring's eventfd is
 * watched on the device's own loop (vus_dev_watch_fd): its callback kicks
 * the processor, whose pass reaps the CQEs and posts the NVMe completions
 * (and so raises the interrupts) then, never before.
 *
 * Data moves straight between the file and guest memory: the iovecs point
 * into the DMA windows the client mapped with fds (vus_dma_translate) when
 * the processor runs on the loop thread. Otherwise (windows without fds,
 * a worker or polling thread, an SGL bit bucket, O_DIRECT and a buffer
 * the device cannot take) a bounce buffer per command is copied with
 * vus_dma_read/write: before submission for a Write, when the CQE arrives
 * for a Read.
 *
 * Two steps per completion: the I/O step (CQE -> status, short transfers
 * resubmitted, FUA's fdatasync chained) touches no guest memory through
 * the DMA API and may run while DMA is stopped; the post step (bounce copy
 * to the guest, CQE, interrupt) runs in a pass that may DMA. A request
 * between the two is "held". Every slot reserves one entry of its CQ, so
 * a held completion always has room.
 *
 * Drains: a controller reset, shutdown, SQ deletion, migration STOP, the
 * unmap of a window with I/O in flight and the controller's end wait for
 * every request (cancelling them after a second) before going on, so no
 * completion lands in a queue that is gone and no guest page is written
 * after its window was unmapped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#include "nvme_priv.h"

#define UR_DEPTH       NVME_REDO_MAX  /* requests in flight per controller */
#define UR_INLINE_IOV  4
#define UR_BOUNCE_MAX  (64ull << 20)  /* bounce bytes in flight */
#define UR_CANCEL_DATA UINT64_MAX      /* user_data of our cancel SQEs */
#define UR_INLINE_WRITE_MAX (128u << 10) /* write_inline() */

enum ur_stage { UR_DATA, UR_SYNC };

struct ur_req {
	bool busy;
	bool held;             /* I/O done, completion not posted yet */
	bool zc;               /* iovecs point into guest memory */
	bool fua;
	uint8_t opc;
	uint8_t stage;
	uint16_t sqid;
	uint16_t status;
	uint32_t gen;
	struct nvme_sqe sqe;   /* for the error log */
	struct nvme_ns *ns;
	uint64_t off;          /* next file offset */
	uint64_t len;          /* whole transfer */
	struct iovec *iov;     /* what is left to transfer */
	uint32_t niov;
	struct iovec *iov_alloc;
	struct iovec iov_inline[UR_INLINE_IOV];
	uint8_t *bounce;
	struct nvme_seg *segs; /* a bounced Read: where the data goes */
	uint32_t nseg;
};

struct nvme_uring {
	struct io_uring ring;
	int efd;
	bool watched;
	bool efd_off;           /* eventfd notifications off: a pass runs */
	bool wrote_inline;      /* this pass made a write inline */
	struct ur_req req[UR_DEPTH];
	uint32_t free[UR_DEPTH];
	uint32_t nfree;
	uint32_t inflight;      /* SQE with the kernel, no CQE yet */
	/* Of those, with guest pointers; the DMA map callbacks read it
	 * without proc_lock (nvme_uring_zc_busy). */
	_Atomic uint32_t zc_inflight;
	uint32_t held;
	uint64_t bounce_bytes;
	/* statistics: any thread reads */
	_Atomic uint64_t subs, reaped, inline_writes, inline_reads, drained;
};

/* ---- set up ------------------------------------------------------- */

static void on_efd(struct vus_dev *dev, void *opaque, int fd)
{
	struct nvme_emu *n = opaque;
	uint64_t v;
	ssize_t r;

	(void)dev;
	r = read(fd, &v, sizeof(v)); /* non-blocking: EAGAIN when already read */
	(void)r;
	nvme_kick(n);
}

int nvme_uring_init(struct nvme_emu *n, bool want)
{
	struct nvme_uring *u;
	bool file = false;
	uint32_t i;
	int rc;

	for (i = 0; i < n->nn; i++)
		file |= n->ns[i].is_file;
	if (!file)
		return 0;
	if (!want) {
		nvme_log(n, VUS_LOG_WARN, "file backend: pread/pwrite on the processor "
			 "thread (io_uring turned off by option)");
		return 0;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->efd = -1;
	rc = io_uring_queue_init(UR_DEPTH, &u->ring, 0);
	if (rc < 0) {
		/* Old kernel, seccomp, RLIMIT_MEMLOCK, io_uring_disabled. */
		nvme_log(n, VUS_LOG_WARN, "file backend: io_uring unavailable (%s): "
			 "pread/pwrite on the processor thread instead", strerror(-rc));
		free(u);
		return 0;
	}
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0 || (rc = io_uring_register_eventfd(&u->ring, u->efd)) < 0) {
		rc = u->efd < 0 ? -errno : rc;
		nvme_log(n, VUS_LOG_WARN, "file backend: io_uring eventfd: %s: "
			 "pread/pwrite on the processor thread instead", strerror(-rc));
		if (u->efd >= 0)
			close(u->efd);
		io_uring_queue_exit(&u->ring);
		free(u);
		return 0;
	}
	for (i = 0; i < UR_DEPTH; i++)
		u->free[i] = UR_DEPTH - 1 - i;
	u->nfree = UR_DEPTH;
	n->ur = u;
	return 0;
}

int nvme_uring_watch(struct nvme_emu *n)
{
	int rc;

	if (!n->ur)
		return 0;
	rc = vus_dev_watch_fd(n->dev, n->ur->efd, on_efd, n);
	if (rc == 0)
		n->ur->watched = true;
	return rc;
}

void nvme_uring_free(struct nvme_emu *n)
{
	struct nvme_uring *u = n->ur;

	if (!u)
		return;
	if (u->watched && n->dev)
		(void)vus_dev_unwatch_fd(n->dev, u->efd);
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
	n->ur = NULL;
}

bool nvme_uring_active(const struct nvme_emu *n)
{
	return n->ur != NULL;
}

uint32_t nvme_uring_room(const struct nvme_emu *n)
{
	return n->ur ? n->ur->nfree : UINT32_MAX;
}

bool nvme_uring_zc_busy(const struct nvme_emu *n)
{
	return n->ur && atomic_load(&n->ur->zc_inflight);
}

/* ---- requests ----------------------------------------------------- */

static uint16_t media_error(struct nvme_emu *n, bool write)
{
	atomic_fetch_add_explicit(&n->smart.media_errors, 1, memory_order_relaxed);
	return write ? NVME_SC_WRITE_FAULT : NVME_SC_UNRECOVERED_READ;
}

/* EFAULT is the guest's memory (a window mapped read-only, or gone), not
 * the medium: Data Transfer Error, as a failed DMA is elsewhere. */
static uint16_t io_error(struct nvme_emu *n, int err, bool write)
{
	if (err == -EFAULT)
		return nvme_sc(NVME_SC_DATA_XFER_ERROR, false);
	return media_error(n, write);
}

static void req_release(struct nvme_uring *u, struct ur_req *r)
{
	if (r->bounce) {
		u->bounce_bytes -= r->len;
		free(r->bounce);
	}
	free(r->iov_alloc);
	free(r->segs);
	memset(r, 0, sizeof(*r));
	u->free[u->nfree++] = (uint32_t)(r - u->req);
}

static struct io_uring_sqe *get_sqe(struct nvme_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The SQ ring is as deep as the slots: full only when this
		 * pass prepared that many; hand them over and go on. */
		(void)io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/* Queue the request's next step; false if no SQE could be had. */
static bool req_queue(struct nvme_uring *u, struct ur_req *r)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe)
		return false;
	if (r->stage == UR_SYNC)
		io_uring_prep_fsync(sqe, r->ns->fd, IORING_FSYNC_DATASYNC);
	else if (r->opc == NVME_IO_READ)
		io_uring_prep_readv(sqe, r->ns->fd, r->iov, r->niov, r->off);
	else
		io_uring_prep_writev(sqe, r->ns->fd, r->iov, r->niov, r->off);
	io_uring_sqe_set_data64(sqe, (uint64_t)(r - u->req));
	u->inflight++;
	if (r->zc)
		atomic_fetch_add(&u->zc_inflight, 1);
	atomic_fetch_add_explicit(&u->subs, 1, memory_order_relaxed);
	return true;
}

/* Drop the first 'done' bytes of the iovec list. */
static void iov_advance(struct ur_req *r, uint64_t done)
{
	while (done && r->niov) {
		if (done < r->iov->iov_len) {
			r->iov->iov_base = (uint8_t *)r->iov->iov_base + done;
			r->iov->iov_len -= done;
			return;
		}
		done -= r->iov->iov_len;
		r->iov++;
		r->niov--;
	}
}

/*
 * The kernel wrote done bytes at the start of what is left: tell valgrind
 * (memcheck does not see io_uring's writes to user memory, and would take
 * the bounce buffer sent on as uninitialised; docs/testing.md
 * "valgrind"). Without valgrind this costs a few instructions.
 */
static void iov_mark_read(const struct ur_req *r, uint64_t done)
{
	uint32_t i;

	for (i = 0; i < r->niov && done; i++) {
		size_t n = done < r->iov[i].iov_len ? (size_t)done : r->iov[i].iov_len;

		(void)VALGRIND_MAKE_MEM_DEFINED(r->iov[i].iov_base, n);
		done -= n;
	}
}

static void iov_zero(struct ur_req *r)
{
	uint32_t i;

	for (i = 0; i < r->niov; i++)
		memset(r->iov[i].iov_base, 0, r->iov[i].iov_len);
	r->niov = 0;
}

static bool aligned(const void *p, uint64_t len, uint32_t a)
{
	return a <= 1 || (((uintptr_t)p | len) & (a - 1)) == 0;
}

/*
 * Guest pointers for every segment of n->sgl, or false: a window without
 * an fd, not the loop thread, a bit bucket, O_DIRECT misalignment.
 */
static bool build_zc(struct nvme_emu *n, struct ur_req *r)
{
	const struct nvme_sglist *l = &n->sgl;
	uint32_t i;

	if (n->on_worker || n->poll || atomic_load(&n->nofd_maps))
		return false;
	if (l->nseg > UR_INLINE_IOV) {
		if (l->nseg > IOV_MAX)
			return false;
		r->iov_alloc = malloc(sizeof(struct iovec) * l->nseg);
		if (!r->iov_alloc)
			return false;
		r->iov = r->iov_alloc;
	} else {
		r->iov = r->iov_inline;
	}
	for (i = 0; i < l->nseg; i++) {
		const struct nvme_seg *s = &l->seg[i];
		void *p;

		if (s->iova == NVME_SEG_BITBUCKET)
			goto no;
		/*
		 * READ even for a Read command's buffers: a WRITE translate
		 * remembers the range for every later dirty-log report
		 * (device.h), which suits pointers kept for long, not one
		 * I/O; these are marked dirty once the data is in (on_cqe).
		 * A window the client mapped read-only is mapped so here
		 * too: the kernel's copy into it fails (EFAULT) and the
		 * command with it.
		 */
		p = vus_dma_translate(n->dev, s->iova, s->len, VUS_DMA_MAP_FLAG_READ);
		if (!p || (r->ns->odirect && !aligned(p, s->len, r->ns->dio_mem_align)))
			goto no;
		r->iov[i].iov_base = p;
		r->iov[i].iov_len = s->len;
	}
	r->niov = l->nseg;
	r->zc = true;
	return true;
no:
	free(r->iov_alloc);
	r->iov_alloc = NULL;
	return false;
}

static bool keep_segs(struct nvme_emu *n, struct ur_req *r)
{
	r->segs = malloc(sizeof(*r->segs) * n->sgl.nseg);
	if (!r->segs)
		return false;
	memcpy(r->segs, n->sgl.seg, sizeof(*r->segs) * n->sgl.nseg);
	r->nseg = n->sgl.nseg;
	return true;
}

/* A bounce buffer; a Write's data is copied in now, a Read's segments
 * are kept to copy out at completion. 0, an NVMe status, or NVME_DEFER
 * for "no room: run it synchronously". */
static uint16_t build_bounce(struct nvme_emu *n, struct nvme_uring *u, struct ur_req *r,
			     bool to_guest)
{
	uint16_t s;

	if (u->bounce_bytes + r->len > UR_BOUNCE_MAX)
		return NVME_DEFER;
	r->bounce = aligned_alloc(4096, (r->len + 4095) & ~4095ull);
	if (!r->bounce)
		return NVME_DEFER;
	u->bounce_bytes += r->len;
	r->iov_inline[0].iov_base = r->bounce;
	r->iov_inline[0].iov_len = r->len;
	r->iov = r->iov_inline;
	r->niov = 1;
	if (!to_guest) {
		s = nvme_dptr_copy(n, r->bounce, r->len, false);
		return s;
	}
	r->segs = malloc(sizeof(*r->segs) * n->sgl.nseg);
	if (!r->segs)
		return NVME_DEFER;
	memcpy(r->segs, n->sgl.seg, sizeof(*r->segs) * n->sgl.nseg);
	r->nseg = n->sgl.nseg;
	return 0;
}

/*
 * A buffered write to a file system without non-blocking buffered writes
 * (ext4: RWF_NOWAIT is EOPNOTSUPP) goes to an io-wq thread in io_uring:
 * two thread wake-ups per command, which for a 4 KiB write cost 4-5
 * times the copy (samples/nvme-emu/README.md has the measurements). So a
 * write of up to 128 KiB fetched while nothing is in flight, the first of
 * its pass, is written here instead, straight from guest memory: one
 * copy into the page cache, no slower than pwrite (measured up to 128 KiB
 * at QD8). Larger writes, the rest of the pass's, FUA writes (and all
 * with the write cache off: their fdatasync) and all while requests are
 * in flight go through the ring. Like pwrite, this one write may block
 * the loop under writeback throttling.
 */
static uint16_t write_inline(struct nvme_emu *n, struct ur_req *r)
{
	ssize_t w;

	while (r->niov) {
		w = pwritev(r->ns->fd, r->iov, (int)r->niov, (off_t)r->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? io_error(n, -errno, true) : media_error(n, true);
		iov_advance(r, (uint64_t)w);
		r->off += (uint64_t)w;
	}
	atomic_fetch_add_explicit(&n->smart.host_writes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->smart.units_written, r->len >> 9, memory_order_relaxed);
	return 0;
}

/*
 * A read of pages in the page cache costs a copy, and io_uring would do
 * the same copy inside its submit, plus a pass to reap it. So it is tried
 * here first without blocking (RWF_NOWAIT), straight into guest memory;
 * only what is not cached goes to the ring. 0 or a status: done;
 * NVME_DEFER: submit (the iovecs advanced past what was read).
 */
static uint16_t read_nowait(struct nvme_emu *n, struct ur_req *r)
{
	ssize_t got;

	while (r->niov) {
		got = preadv2(r->ns->fd, r->iov, (int)r->niov, (off_t)r->off, RWF_NOWAIT);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EOPNOTSUPP))
			return NVME_DEFER;
		if (got < 0)
			return io_error(n, -errno, false);
		if (got == 0) { /* a file shrunk behind us: zeroes */
			iov_zero(r);
			break;
		}
		iov_advance(r, (uint64_t)got);
		r->off += (uint64_t)got;
	}
	/* n->sgl still describes this command (no fetch since). */
	for (uint32_t i = 0; i < n->sgl.nseg; i++)
		vus_dma_mark_dirty(n->dev, n->sgl.seg[i].iova, n->sgl.seg[i].len);
	atomic_fetch_add_explicit(&n->smart.host_reads, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->smart.units_read, r->len >> 9, memory_order_relaxed);
	return 0;
}

/* The CQ of the command's SQ keeps one entry per request in flight. */
static void reserve(struct nvme_emu *n, struct ur_req *r, int d)
{
	n->cq[n->sq[r->sqid].cqid].resv += (uint32_t)d;
}

uint16_t nvme_uring_submit(struct nvme_emu *n, struct nvme_ns *ns, const struct nvme_sqe *c,
			   uint64_t off, uint64_t len, bool fua)
{
	struct nvme_uring *u = n->ur;
	bool read = c->opc == NVME_IO_READ;
	struct ur_req *r;
	uint16_t s;

	if (!u || !ns->is_file || !u->nfree || !n->cur_sqid)
		return NVME_URING_SYNC;
	r = &u->req[u->free[--u->nfree]];
	r->busy = true;
	r->opc = c->opc;
	r->sqid = n->cur_sqid;
	r->gen = n->gen;
	r->sqe = *c;
	r->ns = ns;
	r->off = off;
	r->len = len;
	r->fua = fua;
	r->stage = c->opc == NVME_IO_FLUSH ? UR_SYNC : UR_DATA;
	/* Not with FUA or the cache off: their fdatasync goes through the
	 * ring, never blocks the loop. */
	if (r->stage == UR_DATA && !read && !ns->odirect && len <= UR_INLINE_WRITE_MAX &&
	    !fua && n->feat.vwc && !u->inflight && !u->wrote_inline && build_zc(n, r)) {
		u->wrote_inline = true;
		s = write_inline(n, r);
		atomic_fetch_add_explicit(&u->inline_writes, 1, memory_order_relaxed);
		req_release(u, r);
		return s;
	}
	if (r->stage == UR_DATA && read && !ns->odirect && build_zc(n, r)) {
		s = read_nowait(n, r);
		if (s != NVME_DEFER) {
			atomic_fetch_add_explicit(&u->inline_reads, 1, memory_order_relaxed);
			req_release(u, r);
			return s;
		}
		/* Not cached: through the ring; the segments are kept to
		 * mark dirty when the data is in (on_cqe). */
		if (!keep_segs(n, r)) {
			req_release(u, r);
			return NVME_URING_SYNC;
		}
	} else if (r->stage == UR_DATA && build_zc(n, r)) {
		if (read && !keep_segs(n, r)) {
			req_release(u, r);
			return NVME_URING_SYNC;
		}
	} else if (r->stage == UR_DATA) {
		s = build_bounce(n, u, r, read);
		if (s) {
			req_release(u, r);
			return s == NVME_DEFER ? NVME_URING_SYNC : s;
		}
	}
	if (!req_queue(u, r)) {
		req_release(u, r);
		return NVME_URING_SYNC;
	}
	reserve(n, r, 1);
	return NVME_DEFER;
}

/* ---- completions -------------------------------------------------- */

/* The I/O step of one CQE: no DMA. */
static void on_cqe(struct nvme_emu *n, struct nvme_uring *u, uint64_t data, int res)
{
	struct ur_req *r;
	bool write;

	if (data >= UR_DEPTH)
		return; /* a cancel's own completion */
	r = &u->req[data];
	if (!r->busy || r->held)
		return;
	u->inflight--;
	if (r->zc)
		atomic_fetch_sub(&u->zc_inflight, 1);
	atomic_fetch_add_explicit(&u->reaped, 1, memory_order_relaxed);
	write = r->opc == NVME_IO_WRITE;
	if (res == -EAGAIN || res == -EINTR) {
		if (req_queue(u, r))
			return;
		res = -EIO;
	}
	if (res < 0) {
		r->status = r->opc == NVME_IO_FLUSH ? NVME_SC_WRITE_FAULT : io_error(n, res, write);
	} else if (r->stage == UR_DATA) {
		uint64_t left = 0;
		uint32_t i;

		if (!write)
			iov_mark_read(r, (uint64_t)res);
		for (i = 0; i < r->niov; i++)
			left += r->iov[i].iov_len;
		if ((uint64_t)res < left) {
			if (res == 0 && !write) {
				iov_zero(r); /* a file shrunk behind us: zeroes */
			} else if (res == 0) {
				r->status = media_error(n, true);
				goto held;
			} else {
				iov_advance(r, (uint64_t)res);
				r->off += (uint64_t)res;
				if (req_queue(u, r))
					return;
				r->status = media_error(n, write);
				goto held;
			}
		}
		/* Force Unit Access, or the write cache turned off: durable
		 * before the completion. */
		if (write && (r->fua || !n->feat.vwc)) {
			r->stage = UR_SYNC;
			if (req_queue(u, r))
				return;
			r->status = media_error(n, true);
		}
	}
held:
	/* The kernel wrote guest memory: dirty for migration now, in the
	 * I/O step, so a drain at STOP has it in the last report. */
	if (r->zc && r->segs)
		for (uint32_t i = 0; i < r->nseg; i++)
			vus_dma_mark_dirty(n->dev, r->segs[i].iova, r->segs[i].len);
	r->held = true;
	u->held++;
}

/* The post step of one held request (DMA allowed). False, and the
 * request stays held, when migration stopped DMA meanwhile: it is posted
 * on RUNNING, or runs again on the destination (nvme_redo_run). */
static bool post(struct nvme_emu *n, struct nvme_uring *u, struct ur_req *r)
{
	struct nvme_smart *sm = &n->smart;
	uint16_t st = r->status;
	uint32_t i;

	if (!st && r->segs && !r->zc) {
		uint64_t o = 0;

		for (i = 0; i < r->nseg && !st; i++) {
			if (r->segs[i].iova != NVME_SEG_BITBUCKET &&
			    vus_dma_write(n->dev, r->segs[i].iova, r->bounce + o, r->segs[i].len) < 0) {
				if (nvme_mig_dma_stopped(n))
					return false;
				st = nvme_sc(NVME_SC_DATA_XFER_ERROR, false);
			}
			o += r->segs[i].len;
		}
	}
	/* A reset since: its queues are gone, nothing is posted (7.3.2). */
	if (r->gen == n->gen && n->sq[r->sqid].live) {
		if (nvme_cq_post(n, r->sqid, r->sqe.cid, st, 0) == -ECANCELED)
			return false;
		reserve(n, r, -1);
		if (st)
			nvme_errlog_add(n, r->sqid, &r->sqe, st);
	}
	if (!st && r->opc == NVME_IO_READ) {
		atomic_fetch_add_explicit(&sm->host_reads, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&sm->units_read, r->len >> 9, memory_order_relaxed);
	} else if (!st && r->opc == NVME_IO_WRITE) {
		atomic_fetch_add_explicit(&sm->host_writes, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&sm->units_written, r->len >> 9, memory_order_relaxed);
	}
	u->held--;
	req_release(u, r);
	return true;
}

static void reap(struct nvme_emu *n, struct nvme_uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned head, cnt = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		on_cqe(n, u, cqe->user_data, cqe->res);
		cnt++;
	}
	io_uring_cq_advance(&u->ring, cnt);
}

static void post_held(struct nvme_emu *n, struct nvme_uring *u)
{
	uint32_t i;

	for (i = 0; i < UR_DEPTH && u->held; i++)
		if (u->req[i].busy && u->req[i].held && !post(n, u, &u->req[i]))
			return;
}

void nvme_uring_complete(struct nvme_emu *n)
{
	struct nvme_uring *u = n->ur;

	if (!u)
		return;
	reap(n, u);
	/* Migration stopped DMA: the completions wait for RUNNING. */
	if (u->held && !atomic_load(&n->mig_stopped))
		post_held(n, u);
}

/*
 * Hand this pass's SQEs to the kernel. A read of cached pages often
 * completes inside the submit; true then (or whenever CQEs wait): the
 * caller runs another pass at once instead of waiting for the eventfd.
 * The eventfd is off while passes run (no wake-up for what a pass reaps
 * anyway) and on again in nvme_uring_idle().
 */
bool nvme_uring_flush(struct nvme_emu *n)
{
	struct nvme_uring *u = n->ur;

	if (!u)
		return false;
	if (!u->efd_off) {
		(void)io_uring_cq_eventfd_toggle(&u->ring, false);
		u->efd_off = true;
	}
	u->wrote_inline = false;
	if (io_uring_sq_ready(&u->ring))
		(void)io_uring_submit(&u->ring);
	return io_uring_cq_ready(&u->ring) > 0;
}

/* Before the processor sleeps: eventfd on, then a last look, so a CQE
 * posted while it was off is not left without a wake-up. False: CQEs
 * wait, run another pass. */
bool nvme_uring_idle(struct nvme_emu *n)
{
	struct nvme_uring *u = n->ur;

	if (!u || !u->efd_off)
		return true;
	(void)io_uring_cq_eventfd_toggle(&u->ring, true);
	u->efd_off = false;
	atomic_thread_fence(memory_order_seq_cst);
	return io_uring_cq_ready(&u->ring) == 0;
}

/* ---- drains -------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until no request is with the kernel. After a second the rest are
 * cancelled (a read of a hung device, say); a request the kernel cannot
 * cancel still completes, and is waited for: its buffer may be guest
 * memory that must not be written after this returns. */
static void wait_all(struct nvme_emu *n, struct nvme_uring *u)
{
	uint64_t t0 = mono_ms(), warned = t0;
	bool cancelled = false;

	(void)io_uring_submit(&u->ring);
	atomic_fetch_add_explicit(&u->drained, u->inflight, memory_order_relaxed);
	while (u->inflight) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
		struct io_uring_cqe *cqe;
		int rc;

		rc = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		if (rc == 0) {
			reap(n, u);
			(void)io_uring_submit(&u->ring); /* resubmitted steps */
			continue;
		}
		if (rc != -ETIME && rc != -EINTR) {
			struct timespec pause = { 0, 10000000 };

			nvme_log(n, VUS_LOG_WARN, "io_uring wait: %s", strerror(-rc));
			nanosleep(&pause, NULL);
		}
		if (!cancelled && mono_ms() - t0 >= 1000) {
			struct io_uring_sqe *sqe = get_sqe(u);

			if (sqe) {
				io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
				io_uring_sqe_set_data64(sqe, UR_CANCEL_DATA);
				(void)io_uring_submit(&u->ring);
				cancelled = true;
			}
		}
		if (mono_ms() - warned >= 10000) {
			warned = mono_ms();
			nvme_log(n, VUS_LOG_WARN, "%u backend requests still in flight after "
				 "cancel: waiting", u->inflight);
		}
	}
}

void nvme_uring_drain(struct nvme_emu *n, enum nvme_drain how)
{
	struct nvme_uring *u = n->ur;
	uint32_t i;

	if (!u)
		return;
	wait_all(n, u);
	if ((how == NVME_DRAIN_POST && !atomic_load(&n->mig_stopped)) || how == NVME_DRAIN_STOP) {
		post_held(n, u);
	} else if (how == NVME_DRAIN_DROP) {
		for (i = 0; i < UR_DEPTH && u->held; i++) {
			if (u->req[i].busy && u->req[i].held) {
				/* The caller drops the queues and their
				 * reservations with them. */
				u->held--;
				req_release(u, &u->req[i]);
			}
		}
	}
}

uint32_t nvme_uring_inflight_cmds(const struct nvme_emu *n, struct nvme_redo *out, uint32_t max)
{
	const struct nvme_uring *u = n->ur;
	uint32_t i, k = 0;

	for (i = 0; u && i < UR_DEPTH && k < max; i++) {
		const struct ur_req *r = &u->req[i];

		if (!r->busy || r->gen != n->gen || !n->sq[r->sqid].live)
			continue;
		out[k].sqid = r->sqid;
		out[k].pad = 0;
		out[k].sqe = r->sqe;
		k++;
	}
	return k;
}

void nvme_emu_io_stats(struct nvme_emu *n, struct nvme_emu_io_stats *out)
{
	/* n->ur is set at creation and freed with the controller. */
	out->uring = n->ur != NULL;
	out->submitted = n->ur ? atomic_load_explicit(&n->ur->subs, memory_order_relaxed) : 0;
	out->completed = n->ur ? atomic_load_explicit(&n->ur->reaped, memory_order_relaxed) : 0;
	out->inline_writes = n->ur ? atomic_load_explicit(&n->ur->inline_writes,
							  memory_order_relaxed) : 0;
	out->inline_reads = n->ur ? atomic_load_explicit(&n->ur->inline_reads,
							 memory_order_relaxed) : 0;
	out->drained = n->ur ? atomic_load_explicit(&n->ur->drained, memory_order_relaxed) : 0;
}
