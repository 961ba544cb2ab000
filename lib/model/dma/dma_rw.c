/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server -> client DMA: vus_dma_read/write and their async forms
 * (docs/protocol.md 4, 4.1).
 *
 * [iova, iova + len) is split across consecutive windows. Pieces in
 * fd-backed windows are memcpy'd under the table's read lock, in any
 * thread. Pieces in fd-less windows become DMA_READ/DMA_WRITE commands,
 * sent by the loop thread only, chunked to what both sides accept, and
 * matched to their replies by id as those arrive among the client's
 * commands: the loop thread never waits for a reply, because the client
 * (QEMU) may be waiting for our reply to its own command first.
 *
 * Requests: any thread appends to dma.queue (qlock) and wakes the loop;
 * vus_dma_kick() moves them to dma.inflight (loop thread only), where
 * they stay until finished, then done() runs on the loop thread.
 * A request is finished when all of it was copied or sent and answered,
 * or when it failed and its outstanding chunks were answered.
 *
 * Limits (device.h "limits"): transfers that need messages count
 * against limits.dma_pending from submission until done() (more: -EAGAIN,
 * so a device thread gets backpressure instead of a queue that grows
 * while the client is slow). Every chunk sent has a reply deadline
 * (limits.dma_timeout_ms) watched by the loop's timerfd. The protocol has
 * no way to cancel a request, and an id given up on could later match a
 * reply to a new chunk that reused it; so an unanswered request is not
 * retried or forgotten: the transfers fail with ETIMEDOUT and the session
 * ends, freeing the ids and the window with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec_bulk.h"
#include "dev_priv.h"
#include "dma_dirty.h"
#include "dma_guard.h"
#include "dma_rw.h"

/*
 * Chunks in flight, per request and for the whole device. A few keep the
 * client busy without letting either side fill the other's socket buffer
 * with more than it will read soon.
 */
#define VUS_DMA_WINDOW 4

struct vus_dma_chunk {
	uint64_t off;        /* into the request's buffer */
	uint64_t deadline;   /* CLOCK_MONOTONIC ns for the reply; 0 = none */
	uint32_t count;
	uint16_t id;
	bool busy;
};

struct vus_dma_req {
	struct vus_dma_req *next;
	uint64_t iova;
	uint8_t *buf;        /* const for writes; never written through then */
	size_t len;
	size_t pos;          /* bytes copied or sent so far */
	int result;          /* 0 or the first error */
	bool is_write;
	bool counted;        /* holds a dma.pending slot */
	unsigned nbusy;
	struct vus_dma_chunk chunk[VUS_DMA_WINDOW];
	vus_dma_done_fn done;
	void *arg;
};

/* A synchronous caller waiting for its request (qlock guards it). */
struct dma_waiter {
	pthread_cond_t cv;
	bool finished;
	int result;
};

/* ---- copies through host mappings ----------------------------------- */

/*
 * Check every byte of [iova, iova + len) against the table (read lock
 * held): -EFAULT unmapped, -EACCES prot. *all_fd: no piece is fd-less.
 */
static int check_range(const struct vus_dma_table *t, uint64_t iova, size_t len, uint32_t prot,
		       bool *all_fd)
{
	*all_fd = true;
	while (len) {
		const struct vus_dma_region *r;
		uint64_t off, piece;

		r = vus_dma_table_find(t, iova, 1, &off);
		if (!r)
			return -EFAULT;
		if ((r->prot & prot) != prot)
			return -EACCES;
		if (!r->vaddr)
			*all_fd = false;
		piece = r->size - off < len ? r->size - off : len;
		iova += piece;
		len -= piece;
	}
	return 0;
}

/*
 * Copy one piece inside window r at off (read lock held). -EFAULT if the
 * client's file shrank under the window (SIGBUS, dma_guard.h): the copy
 * is partial and the session must end (note_fault()). release (writes):
 * the last 4 bytes stored last, one release store (vus_dma_write_release).
 */
static int copy_piece(struct vus_dma_table *t, const struct vus_dma_region *r, uint64_t off,
		      uint8_t *buf, size_t n, bool is_write, bool release)
{
	uint8_t *host = (uint8_t *)r->vaddr + off;

	if (is_write) {
		vus_dma_dirty_mark_locked(t, r->iova + off, n);
		if (release)
			return vus_dma_guarded_copy_release(host, buf, n);
		return vus_dma_guarded_copy(host, buf, n);
	}
	return vus_dma_guarded_copy(buf, host, n);
}

/* Copy all of a range known to be fd-backed (read lock held). */
static int copy_range(struct vus_dma_table *t, uint64_t iova, uint8_t *buf, size_t len,
		      bool is_write)
{
	while (len) {
		uint64_t off;
		const struct vus_dma_region *r = vus_dma_table_find(t, iova, 1, &off);
		size_t piece = r->size - off < len ? (size_t)(r->size - off) : len;
		int rc = copy_piece(t, r, off, buf, piece, is_write, false);

		if (rc)
			return rc;
		iova += piece;
		buf += piece;
		len -= piece;
	}
	return 0;
}

/*
 * The client's memory faulted under a copy (any thread): the loop thread
 * ends the session when it wakes (serve.c on_wake), not here -- a copy
 * may run on a device thread, or deep inside a dispatch.
 */
static void note_fault(struct vus_dev *dev, uint64_t iova)
{
	vus_log(dev, VUS_LOG_WARN, "DMA at %#llx: the client's memory is gone (SIGBUS: its "
		"file shrank after DMA_MAP); ending the session", (unsigned long long)iova);
	__atomic_store_n(&dev->dma.faulted, 1, __ATOMIC_RELEASE);
	dev->dma.loop.wake(dev->dma.loop.opaque);
}

/*
 * The fast path: check the range and, if every piece is fd-backed, copy
 * it now. Returns -errno, 0 = copied, 1 = messages needed. release
 * (vus_dma_write_release): copied only when one window holds the range
 * at a host address whose last 4 bytes are 4-byte aligned; else nothing
 * is copied and 2 says the range is fd-backed all the same.
 */
static int try_direct(struct vus_dev *dev, uint64_t iova, uint8_t *buf, size_t len,
		      bool is_write, bool release)
{
	struct vus_dma_table *t = &dev->dma.table;
	uint32_t prot = is_write ? VUS_DMA_MAP_FLAG_WRITE : VUS_DMA_MAP_FLAG_READ;
	const struct vus_dma_region *r;
	bool all_fd;
	uint64_t off;
	int rc;

	pthread_rwlock_rdlock(&t->lock);
	/* Set under the write lock (vus_dma_quiesce()): no copy starts
	 * once a stopped device's arc has waited for those running. */
	if (__atomic_load_n(&dev->dma.stopped, __ATOMIC_ACQUIRE)) {
		pthread_rwlock_unlock(&t->lock);
		return -EBUSY;
	}
	/* The common case, one fd-backed window holding the whole range (a
	 * queue entry, a data page): one lookup, not check_range()'s and
	 * copy_range()'s. */
	r = vus_dma_table_find(t, iova, len, &off);
	if (r && r->vaddr &&
	    (!release || ((uintptr_t)r->vaddr + off + len - 4) % 4 == 0)) {
		all_fd = true;
		rc = (r->prot & prot) != prot ? -EACCES : 0;
		if (rc) {
			pthread_rwlock_unlock(&t->lock);
			return rc;
		}
		rc = copy_piece(t, r, off, buf, len, is_write, release);
	} else {
		rc = check_range(t, iova, len, prot, &all_fd);
		if (rc || (release && all_fd)) {
			pthread_rwlock_unlock(&t->lock);
			return rc ? rc : 2;
		}
		if (all_fd)
			rc = copy_range(t, iova, buf, len, is_write);
	}
	pthread_rwlock_unlock(&t->lock);
	if (rc) {
		note_fault(dev, iova);
		return rc;
	}
	return !all_fd;
}

/* ---- the request queue ---------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Take a pending slot for a transfer that needs messages (any thread). */
static int reserve(struct vus_dev *dev)
{
	struct vus_dma *d = &dev->dma;
	int rc = 0;

	pthread_mutex_lock(&d->qlock);
	if (__atomic_load_n(&d->stopped, __ATOMIC_ACQUIRE))
		rc = -EBUSY; /* stopped since try_direct() (vus_dma_quiesce()) */
	else if (d->pending >= dev->limits.dma_pending)
		rc = -EAGAIN;
	else
		d->pending++;
	pthread_mutex_unlock(&d->qlock);
	return rc;
}

static void unreserve(struct vus_dev *dev, unsigned n)
{
	if (!n)
		return;
	pthread_mutex_lock(&dev->dma.qlock);
	dev->dma.pending -= n;
	pthread_mutex_unlock(&dev->dma.qlock);
}

static struct vus_dma_req *req_new(uint64_t iova, const void *buf, size_t len, bool is_write,
				   vus_dma_done_fn done, void *arg)
{
	struct vus_dma_req *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->iova = iova;
	req->buf = (uint8_t *)buf;
	req->len = len;
	req->is_write = is_write;
	req->done = done;
	req->arg = arg;
	return req;
}

static void submit(struct vus_dev *dev, struct vus_dma_req *req)
{
	struct vus_dma *d = &dev->dma;

	pthread_mutex_lock(&d->qlock);
	if (d->queue_tail)
		d->queue_tail->next = req;
	else
		d->queue_head = req;
	d->queue_tail = req;
	pthread_mutex_unlock(&d->qlock);
	d->loop.wake(d->loop.opaque);
}

/* Loop thread: append what other threads queued to the in-flight list. */
static void adopt_queue(struct vus_dma *d)
{
	struct vus_dma_req *head, **tail;

	pthread_mutex_lock(&d->qlock);
	head = d->queue_head;
	d->queue_head = d->queue_tail = NULL;
	pthread_mutex_unlock(&d->qlock);

	for (tail = &d->inflight; *tail; tail = &(*tail)->next)
		;
	*tail = head;
}

static bool req_finished(const struct vus_dma_req *req)
{
	return req->nbusy == 0 && (req->result < 0 || req->pos == req->len);
}

/* Unlink every finished request, then run their done callbacks (which
 * may submit more: they only touch the locked queue). */
static void complete_finished(struct vus_dev *dev)
{
	struct vus_dma_req **pp = &dev->dma.inflight, *done = NULL, **done_tail = &done;
	unsigned slots = 0;

	while (*pp) {
		struct vus_dma_req *req = *pp;

		if (!req_finished(req)) {
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		req->next = NULL;
		*done_tail = req;
		done_tail = &req->next;
		slots += req->counted;
	}
	/* Slots first: a done() may submit the next transfer at once. */
	unreserve(dev, slots);
	while (done) {
		struct vus_dma_req *req = done;

		done = req->next;
		if (req->done) /* NULL: cancelled, already told (vus_dma_quiesce) */
			req->done(dev, req->arg, req->result);
		free(req);
	}
}

void vus_dma_rw_fail_all(struct vus_dev *dev, int err)
{
	struct vus_dma_req *req;

	adopt_queue(&dev->dma);
	for (req = dev->dma.inflight; req; req = req->next) {
		/* done() may free the buffer: no reply data may land in it. */
		if (!req->is_write && req->nbusy)
			vus_session_bulk_discard(&dev->sess, req->buf, req->len);
		if (req->result == 0 && (req->pos < req->len || req->nbusy))
			req->result = err;
		req->nbusy = 0;
		memset(req->chunk, 0, sizeof(req->chunk));
	}
	complete_finished(dev);
}

/* ---- DMA_READ / DMA_WRITE messages ---------------------------------- */

static bool id_in_use(const struct vus_dma *d, uint16_t id)
{
	const struct vus_dma_req *req;
	unsigned i;

	for (req = d->inflight; req; req = req->next)
		for (i = 0; i < VUS_DMA_WINDOW; i++)
			if (req->chunk[i].busy && req->chunk[i].id == id)
				return true;
	return false;
}

static unsigned busy_chunks(const struct vus_dma *d)
{
	const struct vus_dma_req *req;
	unsigned n = 0;

	for (req = d->inflight; req; req = req->next)
		n += req->nbusy;
	return n;
}

/*
 * QEMU (10.2) sends each message with one non-blocking write and treats a
 * short write as complete, dropping the rest (hw/vfio-user/proxy.c,
 * vfio_user_send_one): a DMA_READ reply bigger than what its socket takes
 * at once arrives cut, and the stream is lost. So with QEMU a read chunk
 * is kept small enough that a window of replies fits a UNIX socket's
 * default send buffer (about 208 KiB): docs/protocol.md section 4.
 */
#define VUS_DMA_QEMU_READ_CHUNK 0x8000u

/* Largest chunk: what the client accepts, and what we accept back (a
 * DMA_READ reply carries the data; our receive limit follows max_xfer). */
static uint32_t max_chunk(const struct vus_dev *dev, bool is_write)
{
	uint32_t n = dev->sess.client_max_xfer;

	if (!n)
		n = VUS_DEFAULT_MAX_DATA_XFER;
	if (!is_write && dev->sess.layout == VUS_DMA_LAYOUT_QEMU && n > VUS_DMA_QEMU_READ_CHUNK)
		n = VUS_DMA_QEMU_READ_CHUNK;
	return dev->max_xfer && dev->max_xfer < n ? dev->max_xfer : n;
}

/* Send one chunk of req at addr, count bytes from buffer offset off.
 * Commands expecting a reply: never NO_REPLY (our id must come back). */
static int send_chunk(struct vus_dev *dev, struct vus_dma_req *req, uint64_t addr, uint32_t count)
{
	static const uint8_t pad[16];
	struct vus_dma *d = &dev->dma;
	enum vus_dma_layout layout = dev->sess.layout;
	struct vus_dma_chunk *c = NULL;
	uint8_t fixed[sizeof(struct vus_dma_rw)];
	size_t off = vus_dma_rw_data_off(layout);
	size_t body = req->is_write ? count : 0;
	size_t plen = vus_dma_rw_payload_len(layout, body);
	struct iovec iov[3];
	struct vus_hdr h = { .flags = VUS_F_TYPE_COMMAND };
	unsigned i;
	int n = 0, rc;

	for (i = 0; i < VUS_DMA_WINDOW && !c; i++)
		if (!req->chunk[i].busy)
			c = &req->chunk[i];
	do
		h.id = d->next_id++;
	while (id_in_use(d, h.id));
	h.cmd = req->is_write ? VUS_CMD_DMA_WRITE : VUS_CMD_DMA_READ;

	vus_dma_rw_encode(fixed, layout, addr, count);
	iov[n++] = (struct iovec){ fixed, off };
	if (body)
		iov[n++] = (struct iovec){ req->buf + req->pos, body };
	/* QEMU's layout ends in 4 pad bytes (proto.h vus_dma_rw_qemu). */
	if (plen > off + body)
		iov[n++] = (struct iovec){ (void *)pad, plen - off - body };

	rc = vus_session_send_request(&dev->sess, &h, iov, n);
	if (rc < 0)
		return rc;
	*c = (struct vus_dma_chunk){ .off = req->pos, .count = count, .id = h.id, .busy = true };
	if (dev->limits.dma_timeout_ms) {
		c->deadline = now_ns() + (uint64_t)dev->limits.dma_timeout_ms * 1000000u;
		/* Deadlines only grow: an armed timer is already the earliest;
		 * vus_dma_on_timer() moves it on. */
		if (!d->timer_armed)
			d->timer_armed = d->loop.timer_arm(d->loop.opaque, c->deadline) == 0;
	}
	req->nbusy++;
	vus_counters_add(&dev->stats, &dev->stats.dma_msgs, 1);
	return 0;
}

/*
 * Move req forward: copy fd-backed pieces, send chunks for fd-less ones
 * while *budget lasts. Returns true if req still has bytes it could not
 * send yet; later requests then wait, so the client sees ours in order.
 */
static bool advance(struct vus_dev *dev, struct vus_dma_req *req, unsigned *budget)
{
	struct vus_dma_table *t = &dev->dma.table;
	uint32_t prot = req->is_write ? VUS_DMA_MAP_FLAG_WRITE : VUS_DMA_MAP_FLAG_READ;

	while (req->result == 0 && req->pos < req->len) {
		const struct vus_dma_region *r;
		uint64_t addr = req->iova + req->pos, off;
		size_t piece, left = req->len - req->pos;
		uint32_t count;
		int rc;

		/* Re-checked here: the client may have unmapped since submission. */
		pthread_rwlock_rdlock(&t->lock);
		r = vus_dma_table_find(t, addr, 1, &off);
		if (!r || (r->prot & prot) != prot) {
			req->result = r ? -EACCES : -EFAULT;
			pthread_rwlock_unlock(&t->lock);
			break;
		}
		piece = r->size - off < left ? (size_t)(r->size - off) : left;
		if (r->vaddr) {
			rc = copy_piece(t, r, off, req->buf + req->pos, piece, req->is_write,
					false);
			pthread_rwlock_unlock(&t->lock);
			if (rc) {
				note_fault(dev, addr);
				req->result = rc;
				break;
			}
			req->pos += piece;
			continue;
		}
		pthread_rwlock_unlock(&t->lock);

		if (!*budget || req->nbusy == VUS_DMA_WINDOW)
			return true;
		count = max_chunk(dev, req->is_write);
		if (piece < count)
			count = (uint32_t)piece;
		rc = send_chunk(dev, req, addr, count);
		if (rc < 0) {
			req->result = rc;
			break;
		}
		req->pos += count;
		(*budget)--;
	}
	return false;
}

void vus_dma_kick(struct vus_dev *dev)
{
	struct vus_dma *d = &dev->dma;
	struct vus_dma_req *req;
	unsigned busy, budget;

	adopt_queue(d);
	busy = busy_chunks(d);
	budget = busy < VUS_DMA_WINDOW ? VUS_DMA_WINDOW - busy : 0;
	for (req = d->inflight; req; req = req->next) {
		if (!dev->sess.attached) {
			/* Queued while no client was there (or after it left). */
			if (req->result == 0 && req->pos < req->len)
				req->result = -ENOTCONN;
			continue;
		}
		if (advance(dev, req, &budget))
			break;
	}
	complete_finished(dev);
}

/* ---- replies -------------------------------------------------------- */

static struct vus_dma_chunk *find_chunk(struct vus_dma *d, uint16_t id, struct vus_dma_req **out)
{
	struct vus_dma_req *req;
	unsigned i;

	for (req = d->inflight; req; req = req->next)
		for (i = 0; i < VUS_DMA_WINDOW; i++)
			if (req->chunk[i].busy && req->chunk[i].id == id) {
				*out = req;
				return &req->chunk[i];
			}
	return NULL;
}

/* Result of one chunk's reply; DMA_READ data lands in the buffer. */
static int chunk_reply(struct vus_dev *dev, struct vus_dma_req *req,
		       const struct vus_dma_chunk *c, const struct vus_rx_msg *m)
{
	const struct vus_hdr *h = &m->v.hdr;
	unsigned cmd = req->is_write ? VUS_CMD_DMA_WRITE : VUS_CMD_DMA_READ;
	const uint8_t *data;
	int rc;

	/* Anything but the exact answer fails the transfer (docs/protocol.md 4). */
	if (m->status || m->v.nfds || h->cmd != cmd)
		return -EPROTO;
	if (h->flags & VUS_F_ERROR)
		return h->error > 0 && h->error < 4096 ? -(int)h->error : -EIO;
	if (m->bulk) {
		/* The data is in req->buf already (vus_dma_reply_sink checked
		 * the reply before it landed), or was thrown away because the
		 * request was cancelled meanwhile (vus_dma_quiesce). */
		if (req->is_write)
			return -EPROTO;
		return vus_dma_rw_reply_head_decode(&m->v, dev->sess.layout, m->bulk,
						    req->iova + c->off, c->count);
	}
	rc = vus_dma_rw_reply_decode(&m->v, dev->sess.layout, req->is_write, req->iova + c->off,
				     c->count, &data);
	if (rc)
		return rc;
	if (!req->is_write && req->result == 0)
		memcpy(req->buf + c->off, data, c->count);
	return 0;
}

int vus_dma_reply_sink(struct vus_dev *dev, const struct vus_hdr *h, const uint8_t *head,
		       struct vus_sink_dst *d)
{
	enum vus_dma_layout layout = dev->sess.layout;
	const struct vus_msg_view v = {
		.hdr = *h, .payload = head, .len = vus_dma_rw_payload_len(layout, 0),
	};
	struct vus_dma_req *req;
	struct vus_dma_chunk *c;
	size_t off = vus_dma_rw_data_off(layout);

	if (h->cmd != VUS_CMD_DMA_READ || (h->flags & VUS_F_ERROR))
		return 0;
	c = find_chunk(&dev->dma, h->id, &req);
	/* A request that failed or was cancelled takes no more data. */
	if (!c || req->is_write || req->result || !req->buf)
		return 0;
	/* Only the exact reply (QEMU may send more; the buffered path reads
	 * that leniently). */
	if (h->size != VUS_HDR_SIZE + vus_dma_rw_payload_len(layout, c->count) ||
	    vus_dma_rw_reply_head_decode(&v, layout, c->count, req->iova + c->off, c->count) < 0)
		return 0;
	*d = (struct vus_sink_dst){
		.base = req->buf + c->off, .skip = (uint32_t)off, .len = c->count,
		.tail = (uint32_t)(vus_dma_rw_payload_len(layout, c->count) - off - c->count),
	};
	return 1;
}

void vus_dma_on_reply(struct vus_dev *dev, struct vus_rx_msg *m)
{
	struct vus_dma_req *req;
	struct vus_dma_chunk *c;
	int rc;

	c = find_chunk(&dev->dma, m->v.hdr.id, &req);
	if (!c) {
		uint64_t quiet;

		/* A client can send these at will: rate-limited (ratelimit.h). */
		if (vus_ratelimit_pass(&dev->dma.stray, &quiet))
			vus_log(dev, VUS_LOG_WARN, "reply %s id %u answers no request of ours: "
				"dropped (%llu so far, %llu not logged since the last line)",
				vus_cmd_name(m->v.hdr.cmd), m->v.hdr.id,
				(unsigned long long)dev->dma.stray.events,
				(unsigned long long)quiet);
		vus_rx_msg_close_fds(m);
		return;
	}
	rc = chunk_reply(dev, req, c, m);
	vus_rx_msg_close_fds(m);
	c->busy = false;
	req->nbusy--;
	if (rc < 0 && req->result == 0)
		req->result = rc;
	/* Room for the next chunk; finished requests complete. */
	vus_dma_kick(dev);
}

void vus_dma_on_timer(struct vus_dev *dev)
{
	struct vus_dma *d = &dev->dma;
	const struct vus_dma_req *req;
	uint64_t now = now_ns(), next = 0;
	bool late = false, late_write = false;
	uint16_t late_id = 0;
	unsigned i;

	d->timer_armed = false;
	for (req = d->inflight; req; req = req->next) {
		for (i = 0; i < VUS_DMA_WINDOW; i++) {
			const struct vus_dma_chunk *c = &req->chunk[i];

			if (!c->busy || !c->deadline)
				continue;
			if (c->deadline <= now) {
				late = true;
				late_id = c->id;
				late_write = req->is_write;
			} else if (!next || c->deadline < next) {
				next = c->deadline;
			}
		}
	}
	if (late) {
		vus_log(dev, VUS_LOG_WARN, "%s id %u unanswered for %u ms: ending the session",
			vus_cmd_name(late_write ? VUS_CMD_DMA_WRITE : VUS_CMD_DMA_READ), late_id,
			dev->limits.dma_timeout_ms);
		vus_dma_rw_fail_all(dev, -ETIMEDOUT);
		vus_session_end(&dev->sess, "DMA request timed out");
		return;
	}
	if (next)
		d->timer_armed = d->loop.timer_arm(d->loop.opaque, next) == 0;
}

/* ---- the public calls ----------------------------------------------- */

static bool range_wraps(uint64_t iova, size_t len)
{
	return len && (uint64_t)len - 1 > UINT64_MAX - iova;
}

static void waiter_done(struct vus_dev *dev, void *arg, int result)
{
	struct dma_waiter *w = arg;

	pthread_mutex_lock(&dev->dma.qlock);
	w->result = result;
	w->finished = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&dev->dma.qlock);
}

static int dma_sync(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len,
		    bool is_write)
{
	struct dma_waiter w = { .finished = false };
	struct vus_dma_req *req;
	int rc;

	if (!len)
		return 0;
	if (range_wraps(iova, len))
		return -EFAULT;
	rc = try_direct(dev, iova, (uint8_t *)buf, len, is_write, false);
	if (rc <= 0)
		return rc;
	/* Waiting on the loop thread for a reply it would have to read
	 * itself can never end (device.h). */
	if (vus_on_loop_thread(dev))
		return -EDEADLK;

	rc = reserve(dev);
	if (rc)
		return rc;
	rc = pthread_cond_init(&w.cv, NULL);
	if (rc) {
		unreserve(dev, 1);
		return -rc;
	}
	req = req_new(iova, buf, len, is_write, waiter_done, &w);
	if (!req) {
		pthread_cond_destroy(&w.cv);
		unreserve(dev, 1);
		return -ENOMEM;
	}
	req->counted = true;
	submit(dev, req);
	pthread_mutex_lock(&dev->dma.qlock);
	while (!w.finished)
		pthread_cond_wait(&w.cv, &dev->dma.qlock);
	pthread_mutex_unlock(&dev->dma.qlock);
	pthread_cond_destroy(&w.cv);
	return w.result;
}

/*
 * Async: a wholly fd-backed range is copied at once, in the caller's
 * thread, but its done() still runs later from the loop (never from
 * inside this call), so device code is not re-entered.
 */
static int dma_async(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len,
		     bool is_write, vus_dma_done_fn done, void *arg)
{
	struct vus_dma_req *req;
	bool needs_msgs = false;
	int rc;

	if (!done)
		return -EINVAL;
	if (range_wraps(iova, len))
		return -EFAULT;
	if (len) {
		rc = try_direct(dev, iova, (uint8_t *)buf, len, is_write, false);
		if (rc < 0)
			return rc;
		needs_msgs = rc == 1;
	}
	/* Only transfers waiting on the client count: a copy done here
	 * just waits for its done() on the loop. */
	if (needs_msgs) {
		rc = reserve(dev);
		if (rc)
			return rc;
	}
	req = req_new(iova, buf, len, is_write, done, arg);
	if (!req) {
		unreserve(dev, needs_msgs);
		return -ENOMEM;
	}
	req->counted = needs_msgs;
	if (!needs_msgs)
		req->pos = len; /* copied: completes on the next kick */
	submit(dev, req);
	return 0;
}

int vus_dma_read(struct vus_dev *dev, uint64_t iova, void *buf, size_t len)
{
	return dma_sync(dev, iova, buf, len, false);
}

int vus_dma_write(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len)
{
	return dma_sync(dev, iova, buf, len, true);
}

int vus_dma_write_release(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	if (len < 4)
		return -EINVAL;
	if (range_wraps(iova, len))
		return -EFAULT;
	rc = try_direct(dev, iova, (uint8_t *)p, len, true, true);
	if (rc <= 0)
		return rc;
	if (rc == 1) /* messages: one DMA_WRITE, which the client applies whole */
		return dma_sync(dev, iova, buf, len, true);
	/* fd-backed, over two windows or misaligned: two copies in order. */
	rc = dma_sync(dev, iova, buf, len - 4, true);
	if (rc == 0) {
		__atomic_thread_fence(__ATOMIC_RELEASE);
		rc = dma_sync(dev, iova + len - 4, p + len - 4, 4, true);
	}
	return rc;
}

int vus_dma_read_async(struct vus_dev *dev, uint64_t iova, void *buf, size_t len,
		       vus_dma_done_fn done, void *arg)
{
	return dma_async(dev, iova, buf, len, false, done, arg);
}

int vus_dma_write_async(struct vus_dev *dev, uint64_t iova, const void *buf, size_t len,
			vus_dma_done_fn done, void *arg)
{
	return dma_async(dev, iova, buf, len, true, done, arg);
}

/* ---- migration: quiescing a stopped device (dev_priv.h) ------------- */

/*
 * A transfer still waiting on the client when the device stops (migration,
 * live update). A DMA_WRITE whose every byte went out is done: the client
 * applies the messages it receives (docs/protocol.md 4), whether or not
 * its reply comes back before the device saves, so the device hears
 * done(0) now -- telling it -ECANCELED would have it write again later, a
 * second completion where the first may already have been seen (an NVMe
 * CQE). Anything else still waiting -- bytes not yet sent, a read's data
 * not yet back -- is cancelled (-ECANCELED): the client has not applied
 * it, or the data never reached the buffer, and the device runs it again.
 * Chunks already sent stay in flight (their ids are not reused) and their
 * replies are dropped (no data copied, no second done()).
 */
static void settle_waiting(struct vus_dev *dev, struct vus_dma_req *req)
{
	if (req->result == 0 && req->is_write && req->pos == req->len && req->nbusy) {
		if (req->done)
			req->done(dev, req->arg, 0);
		req->done = NULL;
		req->buf = NULL;
		return;
	}
	if (req->result == 0 && (req->pos < req->len || req->nbusy))
		req->result = -ECANCELED;
	if (req->result == -ECANCELED && req->nbusy && req->done) {
		/* A reply being received into the buffer goes to scratch from
		 * here on (transport.h). */
		if (!req->is_write)
			vus_session_bulk_discard(&dev->sess, req->buf, req->len);
		req->done(dev, req->arg, req->result);
		req->done = NULL;
		req->buf = NULL; /* the device may free it now */
	}
}

void vus_dma_quiesce(struct vus_dev *dev)
{
	struct vus_dma *d = &dev->dma;
	struct vus_dma_req *req;

	/* Taking both locks orders the flag after every copy in progress
	 * (read lock) and every submission (qlock): none starts afterwards. */
	pthread_rwlock_wrlock(&d->table.lock);
	pthread_mutex_lock(&d->qlock);
	__atomic_store_n(&d->stopped, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->qlock);
	pthread_rwlock_unlock(&d->table.lock);

	/*
	 * Transfers copied but not yet completed complete now, so the device's
	 * state holds them before it saves. Those still waiting on the client
	 * are settled (settle_waiting()): the protocol cannot recall a
	 * request, and waiting for the client's replies on the loop thread,
	 * in the middle of its own command, could never end. Waiting on the
	 * client means chunks left to send, or every chunk sent and replies
	 * outstanding (nbusy); the latter used to be missed: its done() ran
	 * after the device had saved it as busy, and the destination dropped
	 * the transfer (test_migration_storm found it).
	 */
	adopt_queue(d);
	for (req = d->inflight; req; req = req->next)
		settle_waiting(dev, req);
	complete_finished(dev);
}

void vus_dma_unquiesce(struct vus_dev *dev)
{
	__atomic_store_n(&dev->dma.stopped, 0, __ATOMIC_RELEASE);
}
