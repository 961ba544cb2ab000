/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing of vfio-user messages on a stream socket; the contract is in
 * transport.h. This file owns struct vus_conn's buffer and fd bookkeeping.
 *
 * Receive buffer: bytes buf[start, end) are not yet handed out. Every
 * position below (start, end, scan, pending_pos) is an offset into buf,
 * so compaction shifts them all together (shift_to_front()).
 *
 * fd ownership: an fd that arrives is, at every moment, in exactly one
 * place: a local fd_batch, the pending slot, the caller's vus_rx_msg, or
 * closed. An fd queued for sending is our dup, held by its chunk until
 * the sendmsg() that carries it (or vus_conn_close()).
 *
 * Output queue (queued mode): a list of chunks, each the unsent bytes of
 * one or more whole messages. A message with fds gets a chunk of its own,
 * so the sendmsg() carrying the fds holds no other message's header: a
 * receiver gives fds to the last header beginning in its recvmsg()
 * (docs/protocol.md 1.3; see last_header_in() below).
 */
#define _GNU_SOURCE /* IOV_MAX, MSG_CMSG_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io_seam.h"
#include "transport.h"

#ifdef VUS_FUZZ_IO
const struct vus_io_ops vus_io_real = { recvmsg, sendmsg, shutdown };
const struct vus_io_ops *vus_io = &vus_io_real;
#endif

/* QEMU waits 5 s for a reply (x-msg-timeout, docs/protocol.md 6); a peer
 * that does not drain its socket for that long is treated as dead. */
#define SEND_TIMEOUT_MS_DEFAULT 5000

/* iovecs handled without allocation by vus_conn_send (header + 7). */
#define SEND_IOV_STACK 8

/* A message up to this size without fds is copied into one buffer and
 * leaves with send(): cheaper in the kernel than sendmsg() with an iovec
 * array, by more than the copy costs (docs/performance.md "Instructions
 * per request"). Covers every small request and reply. */
#define SEND_FLAT_MAX 256u

/* A message whose data the sink took makes the next read header-first
 * (conn_recv) when it had at least this much data: a large transfer. */
#define BULK_RECENT_MIN (16u * 1024u)

/* Smallest chunk: small replies queued back to back share one. */
#define OUT_CHUNK_MIN 4096u

struct vus_out_chunk {
	struct vus_out_chunk *next;
	size_t cap, len, off;    /* bytes()[off, len) is unsent */
	size_t cost;             /* what it adds to out_bytes */
	unsigned nfds;           /* fds for the first byte; 0 once sent */
	int fds[VUS_MAX_FDS_PER_MSG];
	/* A big reply's unsent tail stays in the caller's malloc'ed buffer
	 * (vus_conn_send_reply_owned) instead of being copied into data[]:
	 * ext points at the tail, owned is what to free. */
	const uint8_t *ext;
	void *owned;
	uint8_t data[];
};

static const uint8_t *chunk_bytes(const struct vus_out_chunk *k)
{
	return k->ext ? k->ext : k->data;
}

static void chunk_free(struct vus_out_chunk *k)
{
	free(k->owned);
	free(k);
}

#define FD_CTRL_LEN CMSG_SPACE(VUS_MAX_FDS_PER_MSG * sizeof(int))

/* Control-message buffer, aligned for struct cmsghdr. */
union fd_ctrl {
	struct cmsghdr align;
	char buf[FD_CTRL_LEN];
};

/* The fds that one recvmsg() brought. */
struct fd_batch {
	int fds[VUS_MAX_FDS_PER_MSG];
	unsigned n;
	bool trunc; /* MSG_CTRUNC: the fds that arrived are already closed */
};

static void close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* ---- setup ------------------------------------------------------------ */

int vus_conn_init(struct vus_conn *c, int fd, uint32_t max_msg)
{
	int fl;

	memset(c, 0, sizeof(*c));
	c->fd = -1;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	/* Sends poll() for room and receives must never block the loop. */
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;

	c->buf = malloc(VUS_RX_BUF_MIN);
	if (!c->buf)
		return -ENOMEM;
	c->cap = VUS_RX_BUF_MIN;
	c->fd = fd;
	c->max_msg = max_msg;
	c->max_fds = VUS_MAX_FDS_PER_MSG;
	c->send_timeout_ms = SEND_TIMEOUT_MS_DEFAULT;
	return 0;
}

void vus_conn_grow_sndbuf(struct vus_conn *c)
{
	int want = c->max_msg < INT_MAX / 2 ? (int)c->max_msg : INT_MAX / 2;

	/* The kernel clamps to net.core.wmem_max (and doubles): best effort. */
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
}

static bool has_pending(const struct vus_conn *c)
{
	return c->npending > 0 || c->pending_trunc;
}

static void drop_pending(struct vus_conn *c)
{
	close_fds(c->pending_fds, c->npending);
	c->npending = 0;
	c->pending_trunc = false;
}

static void out_free_all(struct vus_conn *c)
{
	while (c->out_head) {
		struct vus_out_chunk *k = c->out_head;

		c->out_head = k->next;
		close_fds(k->fds, k->nfds);
		chunk_free(k);
	}
	c->out_tail = NULL;
	c->out_bytes = 0;
	c->out_fds = 0;
}

void vus_conn_close(struct vus_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	drop_pending(c);
	out_free_all(c);
	free(c->buf);
	c->buf = NULL;
	c->cap = c->start = c->end = c->scan = 0;
	c->skip = 0;
	c->msg_out = false;
	c->msg_len = 0;
	c->bulk_on = false;
	c->bulk_dst = NULL;
	c->bulk_left = c->bulk_tail_left = 0;
}

void vus_rx_msg_close_fds(struct vus_rx_msg *m)
{
	/* Only the first v.nfds slots ever hold fds (take_pending); the rest
	 * stay -1 from rx_msg_reset. Walking 64 slots per message was a
	 * fifth of the server's instructions per request
	 * (docs/performance.md "Instructions per request"). */
	close_fds(m->fds, m->v.nfds <= VUS_MAX_FDS_PER_MSG ? m->v.nfds : VUS_MAX_FDS_PER_MSG);
}

/* ---- receive: one recvmsg() ------------------------------------------- */

/*
 * Take every SCM_RIGHTS fd out of msg (a peer may send several cmsgs).
 * Anything beyond our capacity, and everything when the kernel reported
 * MSG_CTRUNC, is closed: a message whose fds we could not all see is
 * answered as a whole with an error (docs/protocol.md 1.3).
 */
static void collect_fds(const struct vus_conn *c, struct msghdr *msg, struct fd_batch *b)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		const unsigned char *data = CMSG_DATA(cm);
		size_t i, n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(fd));
			if (b->n < c->max_fds && b->n < VUS_MAX_FDS_PER_MSG) {
				b->fds[b->n++] = fd;
			} else {
				close(fd);
				b->trunc = true;
			}
		}
	}
	if (msg->msg_flags & MSG_CTRUNC)
		b->trunc = true;
	if (b->trunc) {
		close_fds(b->fds, b->n);
		b->n = 0;
	}
}

/*
 * One recvmsg() into dst[0, len). Returns the byte count (> 0), -EAGAIN
 * when the socket is empty, -ECONNRESET on EOF, or another -errno. fds
 * are in *b; the caller owns them.
 */
static ssize_t rx_once(struct vus_conn *c, void *dst, size_t len, struct fd_batch *b,
		       bool block)
{
	union fd_ctrl ctrl;
	struct iovec iov = { .iov_base = dst, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl.buf,
		.msg_controllen = sizeof(ctrl.buf),
	};
	ssize_t n;

	b->n = 0;
	b->trunc = false;
	do {
		c->rx_syscalls++;
		n = vus_io_recvmsg(c->fd, &msg, (block ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
	/* The kernel sets msg_controllen to what it wrote: 0 without fds. */
	if (msg.msg_controllen || (msg.msg_flags & MSG_CTRUNC))
		collect_fds(c, &msg, b);
	if (n == 0) {
		/* Orderly EOF, possibly mid-message: the peer is gone. */
		close_fds(b->fds, b->n);
		b->n = 0;
		return -ECONNRESET;
	}
	c->rx_bytes += (uint64_t)n;
	return n;
}

static void stray(struct vus_conn *c, struct fd_batch *b)
{
	c->stray_fds += b->n;
	close_fds(b->fds, b->n);
	b->n = 0;
}

/* ---- receive: fd attribution ------------------------------------------ */

/*
 * Walk the message chain from the parse position and return the last
 * header position in [a, end): the header that the fds of the recvmsg
 * which read [a, end) belong to.
 *
 * Why the *last* header: Linux's unix_stream_read_generic() copies from
 * successive skbs until the buffer is full or the queue is empty, but
 * stops right after an skb that carried SCM_RIGHTS (one fd set per
 * recvmsg). A sender attaches fds to the sendmsg() that starts with the
 * message header (docs/protocol.md 1.3), and the kernel puts them on the
 * first skb of that sendmsg. So the fd-carrying skb is the last one this
 * recvmsg read, and it starts with its header: the last header beginning
 * in these bytes. A header whose 16 bytes are not all here yet still
 * begins here.
 *
 * c->scan remembers where the walk stopped so bytes are walked once; it is
 * only advanced when fds arrive, so the fd-less fast path never walks.
 */
static bool last_header_in(struct vus_conn *c, size_t a, size_t *pos)
{
	size_t p = c->scan > c->start ? c->scan : c->start;
	bool found = false;

	while (p < c->end) {
		struct vus_hdr h;

		if (p >= a) {
			*pos = p;
			found = true;
		}
		if (c->end - p < VUS_HDR_SIZE)
			break;
		vus_hdr_decode(c->buf + p, &h);
		/* An invalid size ends the chain: parse() reports -EPROTO there. */
		if (h.size < VUS_HDR_SIZE || h.size > c->end - p)
			break;
		p += h.size;
	}
	c->scan = p;
	return found;
}

/* ---- receive: parsing -------------------------------------------------- */

static void rx_msg_reset(struct vus_rx_msg *m)
{
	memset(&m->v, 0, sizeof(m->v));
	memset(m->fds, 0xff, sizeof(m->fds)); /* every slot -1 */
	m->status = 0;
	m->bulk = 0;
	m->bulk_skip = 0;
	m->bulk_discarded = false;
}

/* Hand the pending fds to m if they belong to the header at start. */
static void take_pending(struct vus_conn *c, struct vus_rx_msg *m)
{
	if (!has_pending(c) || c->pending_pos != c->start)
		return;
	memcpy(m->fds, c->pending_fds, c->npending * sizeof(int));
	m->v.nfds = c->npending;
	if (c->pending_trunc)
		m->status = -EMSGSIZE;
	c->npending = 0;
	c->pending_trunc = false;
}

/*
 * The message at start (a whole header is buffered), if it can be
 * returned without more bytes:
 * 1 (m filled), 0 (incomplete), -EPROTO (untrustworthy header).
 */
static int parse_hdr(struct vus_conn *c, struct vus_rx_msg *m)
{
	size_t avail = c->end - c->start;
	struct vus_hdr h;
	size_t have;
	int r;

	vus_hdr_decode(c->buf + c->start, &h);
	r = vus_hdr_check(&h, c->max_msg);
	/* A command with the ERROR bit: framing is garbage
	 * (docs/protocol.md 2). */
	if (r == 0 && (h.flags & VUS_F_ERROR) && !vus_hdr_is_reply(&h))
		r = -EINVAL;
	if (r < 0 && r != -E2BIG)
		return -EPROTO;
	if (r == 0 && h.size > avail)
		return 0;

	m->v.hdr = h;
	take_pending(c, m);
	c->rx_msgs++;
	if (r == 0) {
		m->v.payload = c->buf + c->start + VUS_HDR_SIZE;
		m->v.len = h.size - VUS_HDR_SIZE;
		c->msg_out = true;
		c->msg_len = h.size;
		return 1;
	}

	/*
	 * Oversized: drop what is buffered of it and drain the rest from the
	 * socket without keeping it, so the next header is found where the
	 * sender put it (docs/protocol.md 1.2).
	 */
	m->status = -E2BIG;
	have = h.size < avail ? h.size : avail;
	c->start += have;
	c->skip = h.size - have;
	if (c->skip)
		c->scan = c->start; /* the chain resumes after the drained bytes */
	return 1;
}

/* No whole header buffered (every receive, before its read): decided
 * inline, no call. */
static inline int parse(struct vus_conn *c, struct vus_rx_msg *m)
{
	if (c->end - c->start < VUS_HDR_SIZE)
		return 0;
	return parse_hdr(c, m);
}

/* Read and discard the rest of an oversized body. 0 when done. */
static int drain(struct vus_conn *c)
{
	while (c->skip > 0) {
		struct fd_batch b;
		size_t len = c->skip < c->cap ? (size_t)c->skip : c->cap;
		ssize_t n;

		/* skip > 0 only when the buffer is empty: use it as scratch. */
		n = rx_once(c, c->buf, len, &b, false);
		if (n < 0)
			return (int)n;
		/* Never more than skip bytes are read, so no header is among
		 * them: any fds rode on body bytes. */
		stray(c, &b);
		c->skip -= (uint64_t)n;
	}
	return 0;
}

/* Move buf[start, end) to the front of the buffer. */
static void shift_to_front(struct vus_conn *c)
{
	size_t off = c->start;

	if (off == 0)
		return;
	/* Usually the last message was the whole buffer: nothing to move. */
	if (c->end > off)
		memmove(c->buf, c->buf + off, c->end - off);
	c->end -= off;
	c->start = 0;
	c->scan = c->scan > off ? c->scan - off : 0;
	if (has_pending(c))
		c->pending_pos -= off; /* pending_pos >= start: it is unreturned */
}

/*
 * Room for the rest of the message at start. Compacting before every read
 * moves only the incomplete tail, and each byte at most once (it stays at
 * the front until returned). The buffer grows to exactly the message size
 * (<= max_msg: parse() returned anything larger) and is never shrunk, so
 * a stream of large messages costs no allocation after the first.
 */
static int make_room(struct vus_conn *c)
{
	size_t need = VUS_HDR_SIZE;

	shift_to_front(c);
	if (c->end >= VUS_HDR_SIZE) {
		struct vus_hdr h;

		vus_hdr_decode(c->buf, &h);
		need = h.size;
	}
	if (need > c->cap) {
		uint8_t *nb = realloc(c->buf, need);

		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = need;
	}
	return 0;
}

/* Keep batch b for the header at pos until that message is returned. */
static void keep_pending(struct vus_conn *c, size_t pos, struct fd_batch *b)
{
	memcpy(c->pending_fds, b->fds, b->n * sizeof(int));
	c->npending = b->n;
	c->pending_trunc = b->trunc;
	c->pending_pos = pos;
	b->n = 0;
}

/*
 * Give the fds of the recvmsg that read [a, end) to their header.
 *
 * At most one batch is pending at a time, for the header at start: we
 * only read when the message at start is incomplete, and every header
 * before a pending one has been returned. A new batch for a later header
 * means the walk passed the whole message at start, so that message is
 * returnable now: parse it into m (taking its fds) and keep the new batch.
 * Returns what parse() returned, or 0 when nothing was parsed.
 */
static int attribute(struct vus_conn *c, size_t a, struct fd_batch *b, struct vus_rx_msg *m)
{
	size_t pos;
	int r = 0;

	if (!last_header_in(c, a, &pos)) {
		stray(c, b);
		return 0;
	}
	if (has_pending(c))
		r = parse(c, m);
	if (has_pending(c)) {
		/* parse() refused the header at start (-EPROTO). */
		stray(c, b);
		return r;
	}
	keep_pending(c, pos, b);
	return r;
}

/* ---- receive: zero-copy bodies (transport.h vus_conn_sink) ----------- */

void vus_conn_set_sink(struct vus_conn *c, const struct vus_conn_sink *sink)
{
	c->sink = sink ? *sink : (struct vus_conn_sink){ 0 };
	c->bulk_recent = false;
	if (!sink && c->bulk_on) {
		/* The owner gives up on a body half in its memory (a client's
		 * call timed out): the memory is no longer ours to write, so
		 * the rest is drained unseen and the message dropped, as an
		 * oversized one is. The stream stays in sync. */
		c->skip = c->bulk_left + c->bulk_tail_left;
		c->bulk_on = false;
		c->bulk_dst = NULL;
		c->bulk_left = c->bulk_tail_left = 0;
		c->start = c->end;
		c->scan = c->start;
	}
}

bool vus_conn_bulk_discard(struct vus_conn *c, const void *lo, size_t len)
{
	const uint8_t *p = lo;

	if (!c->bulk_on || !c->bulk_dst || !p || c->bulk_dst < p || c->bulk_dst > p + len)
		return false;
	c->bulk_dst = NULL; /* the rest goes to scratch (bulk_recv) */
	return true;
}

/* bulk_offer()'s first test, inline: most calls find no sink or no
 * whole header and head buffered (an empty buffer before a read). */
static inline bool sink_may_take(const struct vus_conn *c)
{
	return c->sink.fn && c->end - c->start >= VUS_HDR_SIZE + (size_t)c->sink.head;
}

/*
 * Offer the incomplete message at start to the sink (parse() returned 0
 * for it, so its header passed vus_hdr_check and no earlier message is
 * unreturned). 1 when the sink took it: the data bytes already buffered
 * are copied to the sink's memory and the buffer keeps header, the skip
 * bytes before the data and whatever of the tail arrived.
 */
static int bulk_offer(struct vus_conn *c)
{
	size_t avail = c->end - c->start, body, data_have, tail_have, keep;
	uint8_t *p = c->buf + c->start;
	struct vus_sink_dst d = { 0 };
	struct vus_hdr h;

	if (!c->sink.fn || has_pending(c) || avail < VUS_HDR_SIZE + (size_t)c->sink.head)
		return 0;
	vus_hdr_decode(p, &h);
	if (h.size <= avail || h.size - VUS_HDR_SIZE <= c->sink.head)
		return 0;
	if (c->sink.fn(c->sink.opaque, &h, p + VUS_HDR_SIZE, &d) != 1)
		return 0;
	body = h.size - VUS_HDR_SIZE;
	if (!d.base || !d.len || d.skip > c->sink.head || d.tail > VUS_SINK_TAIL_MAX ||
	    (uint64_t)d.skip + d.len + d.tail != body)
		return 0;
	/* The buffered payload: skip bytes, data bytes, then tail bytes. */
	body = avail - VUS_HDR_SIZE;
	data_have = body - d.skip < d.len ? body - d.skip : d.len;
	tail_have = body - d.skip - data_have;
	memcpy(d.base, p + VUS_HDR_SIZE + d.skip, data_have);
	keep = VUS_HDR_SIZE + d.skip;
	memmove(p + keep, p + keep + data_have, tail_have);
	c->end = c->start + keep + tail_have;
	/* Room behind for the tail and for discarded data (bulk_recv). */
	if (c->cap - c->end < VUS_SINK_TAIL_MAX + 4096)
		shift_to_front(c);
	c->scan = c->start;
	c->bulk_on = true;
	c->bulk_dst = d.base + data_have;
	c->bulk_left = d.len - data_have;
	c->bulk_len = d.len;
	c->bulk_skip = d.skip;
	c->bulk_tail_left = d.tail - tail_have;
	c->rx_bulk_bytes += data_have;
	c->rx_bulk_copied += data_have;
	return 1;
}

/*
 * Read the rest of a sink's body: the data straight into its memory (or,
 * once vus_conn_bulk_discard() took that memory away, into scratch room
 * behind the buffered bytes), then the tail into the buffer. 1 with m the
 * message once all is in, 0 when the socket ran dry first, or -errno.
 * block: the first read may wait (vus_conn_recv_wait(): a client waiting
 * for a large REGION_READ reply). Only this message's bytes are read, so
 * fds arriving meanwhile rode on body bytes and belong to no header:
 * closed.
 */
static int bulk_recv(struct vus_conn *c, struct vus_rx_msg *m, bool block)
{
	while (c->bulk_left > 0 || c->bulk_tail_left > 0) {
		struct fd_batch b;
		size_t want;
		uint8_t *dst;
		ssize_t n;

		if (c->bulk_left > 0 && c->bulk_dst) {
			dst = c->bulk_dst;
			want = c->bulk_left;
		} else if (c->bulk_left > 0) {
			dst = c->buf + c->end + VUS_SINK_TAIL_MAX;
			want = c->cap - c->end - VUS_SINK_TAIL_MAX;
			want = want < c->bulk_left ? want : c->bulk_left;
		} else {
			dst = c->buf + c->end;
			want = c->bulk_tail_left;
		}
		n = rx_once(c, dst, want, &b, block);
		block = false; /* only the first read may wait */
		if (n == -EAGAIN) {
			c->drained = true;
			return 0;
		}
		if (n < 0) {
			c->bulk_on = false;
			c->bulk_dst = NULL;
			c->bulk_left = c->bulk_tail_left = 0;
			return (int)n;
		}
		if (b.n > 0)
			stray(c, &b);
		c->drained = (size_t)n < want && !b.trunc;
		if (c->bulk_left > 0) {
			if (c->bulk_dst) {
				c->bulk_dst += n;
				c->rx_bulk_bytes += (uint64_t)n;
			}
			c->bulk_left -= (size_t)n;
		} else {
			c->end += (size_t)n;
			c->bulk_tail_left -= (size_t)n;
		}
		if (c->drained && (c->bulk_left > 0 || c->bulk_tail_left > 0))
			return 0;
	}
	vus_hdr_decode(c->buf + c->start, &m->v.hdr);
	m->v.payload = c->buf + c->start + VUS_HDR_SIZE;
	m->v.len = c->end - c->start - VUS_HDR_SIZE;
	m->bulk = c->bulk_len;
	m->bulk_skip = c->bulk_skip;
	m->bulk_discarded = !c->bulk_dst;
	c->bulk_recent = c->sink.fn != NULL && c->bulk_len >= BULK_RECENT_MIN;
	c->bulk_on = false;
	c->bulk_dst = NULL;
	c->rx_msgs++;
	c->msg_out = true;
	c->msg_len = c->end - c->start;
	return 1;
}

/*
 * Syscalls: none when a whole message is buffered; one recvmsg() when
 * that read brings one (the common case). Another read follows only when
 * the previous one may have stopped early (buffer full, or the kernel
 * ended it after an fd-carrying skb). So a 0 is only returned after the
 * kernel had nothing more to give: safe for edge-triggered epoll.
 */
static int conn_recv(struct vus_conn *c, struct vus_rx_msg *m, bool block)
{
	int r;

	rx_msg_reset(m);
	if (c->fd < 0)
		return -EBADF;
	if (c->msg_out) {
		c->start += c->msg_len;
		c->msg_out = false;
	}

	if (c->skip) {
		r = drain(c);
		if (r < 0)
			return r == -EAGAIN ? 0 : r;
	}

	for (;;) {
		struct fd_batch b;
		size_t a, room;
		ssize_t n;

		if (c->bulk_on)
			return bulk_recv(c, m, block);
		r = parse(c, m);
		if (r != 0)
			return r;
		if (sink_may_take(c) && bulk_offer(c))
			continue;

		r = make_room(c);
		if (r < 0)
			return r;
		a = c->end;
		room = c->cap - a;
		/*
		 * After a message the sink took, the next is likely another
		 * (a stream of large writes): read its header and head alone,
		 * so its data is not read into the buffer first and copied.
		 * A small message costs a second receive once, then this
		 * stops (bulk_recent). A sink that expects the next message
		 * (a client waiting for a large reply) asks the same.
		 */
		if ((c->bulk_recent || c->sink.expect) && c->start == c->end &&
		    room > VUS_HDR_SIZE + (size_t)c->sink.head)
			room = VUS_HDR_SIZE + c->sink.head;
		n = rx_once(c, c->buf + a, room, &b, block);
		block = false; /* only the first read may wait */
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		c->end += (size_t)n;
		c->drained = (size_t)n < room && b.n == 0 && !b.trunc;

		if (b.n > 0 || b.trunc) {
			r = attribute(c, a, &b, m);
			if (r != 0)
				return r;
			/* The kernel stopped after the fd skb: more may wait. */
			continue;
		}
		/*
		 * A short read without fds emptied the socket queue, so a
		 * caller may wait for readability after a 0 (edge-triggered
		 * too). A full read may have left bytes behind: read again.
		 */
		if ((size_t)n < room) {
			r = parse(c, m);
			/* Taken by the sink: its data is read at the next
			 * readiness, straight where it goes. */
			if (r == 0 && sink_may_take(c) && bulk_offer(c))
				return 0;
			return r;
		}
	}
}

bool vus_conn_has_buffered_hdr(const struct vus_conn *c)
{
	size_t pos = c->start + (c->msg_out ? c->msg_len : 0);
	struct vus_hdr h;

	if (c->end - pos < VUS_HDR_SIZE)
		return false;
	vus_hdr_decode(c->buf + pos, &h);
	/* A header that fails the check is returned (-E2BIG/-EPROTO) at once. */
	if (vus_hdr_check(&h, c->max_msg) < 0)
		return true;
	return h.size <= c->end - pos;
}

/* A message that was not a large one for the sink ends bulk_recent. */
static int recv_note(struct vus_conn *c, struct vus_rx_msg *m, int r)
{
	if (r == 1 && m->bulk < BULK_RECENT_MIN)
		c->bulk_recent = false;
	return r;
}

int vus_conn_recv(struct vus_conn *c, struct vus_rx_msg *m)
{
	return recv_note(c, m, conn_recv(c, m, false));
}

int vus_conn_recv_wait(struct vus_conn *c, struct vus_rx_msg *m)
{
	return recv_note(c, m, conn_recv(c, m, true));
}

bool vus_conn_may_have_more(const struct vus_conn *c)
{
	return !c->drained || c->skip > 0 || vus_conn_has_buffered(c);
}

/* ---- send --------------------------------------------------------------- */

/*
 * Wait until the socket can take more bytes. The timeout counts time
 * without progress, so a slow but live reader is not cut off; a negative
 * send_timeout_ms waits forever.
 */
static int wait_writable(struct vus_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	struct timespec t0, now;
	int left = c->send_timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = poll(&pfd, 1, left);

		if (r > 0)
			return 0; /* POLLERR/POLLHUP: sendmsg() reports the error */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
		if (c->send_timeout_ms >= 0) {
			int64_t ms;

			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (int64_t)(now.tv_sec - t0.tv_sec) * 1000 +
			     (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (ms >= c->send_timeout_ms)
				return -ETIMEDOUT;
			left = c->send_timeout_ms - (int)ms;
		}
	}
}

/* Drop the first n sent bytes from msg's iovec array. */
static void advance_iov(struct msghdr *msg, size_t n)
{
	while (msg->msg_iovlen > 0 && n >= msg->msg_iov->iov_len) {
		n -= msg->msg_iov->iov_len;
		msg->msg_iov++;
		msg->msg_iovlen--;
	}
	if (msg->msg_iovlen > 0) {
		msg->msg_iov->iov_base = (uint8_t *)msg->msg_iov->iov_base + n;
		msg->msg_iov->iov_len -= n;
	}
}

/* Put nfds fds in msg's control data (ctrl is the buffer). */
static void attach_fds(struct msghdr *msg, union fd_ctrl *ctrl, const int *fds, unsigned nfds)
{
	struct cmsghdr *cm;

	memset(ctrl, 0, sizeof(*ctrl));
	msg->msg_control = ctrl->buf;
	msg->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
}

/*
 * sendmsg() until msg is all out or the socket is full, never waiting:
 * 0 when sent, -EAGAIN when the socket takes no more now, other -errno.
 * *sent counts the bytes that went; the fds went with the first of them
 * (docs/protocol.md 1.3), so the control data is dropped after that.
 */
static int send_some(struct vus_conn *c, struct msghdr *msg, size_t *sent)
{
	while (msg->msg_iovlen > 0) {
		ssize_t n = msg->msg_controllen == 0 && msg->msg_iovlen == 1
			    ? vus_io_send(c->fd, msg->msg_iov->iov_base, msg->msg_iov->iov_len,
					  MSG_NOSIGNAL | MSG_DONTWAIT)
			    : vus_io_sendmsg(c->fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno; /* EPIPE, ECONNRESET, ... */
		}
		msg->msg_control = NULL;
		msg->msg_controllen = 0;
		*sent += (size_t)n;
		advance_iov(msg, (size_t)n);
	}
	return 0;
}

/* Blocking mode: wait (up to send_timeout_ms without progress) for room. */
static int send_blocking(struct vus_conn *c, struct msghdr *msg)
{
	size_t sent = 0;

	for (;;) {
		int r = send_some(c, msg, &sent);

		if (r != -EAGAIN)
			return r;
		r = wait_writable(c);
		if (r < 0)
			return r;
	}
}

static void out_pop(struct vus_conn *c)
{
	struct vus_out_chunk *k = c->out_head;

	c->out_head = k->next;
	if (!c->out_head)
		c->out_tail = NULL;
	c->out_bytes -= k->cost;
	c->out_fds -= k->nfds;
	close_fds(k->fds, k->nfds);
	chunk_free(k);
}

static void copy_iov(uint8_t *dst, const struct msghdr *msg)
{
	size_t i;

	for (i = 0; i < msg->msg_iovlen; i++) {
		memcpy(dst, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
		dst += msg->msg_iov[i].iov_len;
	}
}

/*
 * Queue the len unsent bytes left in msg, with nfds fds (dup'ed: the
 * caller keeps its own) if none of the message went yet. force: the
 * queue was empty before this message, which is then accepted whatever
 * its size (vus_conn_set_out_limit()).
 */
static int out_append(struct vus_conn *c, const struct msghdr *msg, size_t len, const int *fds,
		      unsigned nfds, bool force)
{
	struct vus_out_chunk *k = c->out_tail;
	size_t cap;
	unsigned i;

	/* Behind a chunk whose fds are still unsent, a header would share
	 * their sendmsg(): the receiver would give them to it. */
	if (nfds == 0 && k && k->nfds == 0 && k->cap - k->len >= len) {
		copy_iov(k->data + k->len, msg);
		k->len += len;
		return 0;
	}
	cap = nfds || len > OUT_CHUNK_MIN ? len : OUT_CHUNK_MIN;
	if (!force && (c->out_bytes + sizeof(*k) + cap > c->out_limit ||
		       c->out_fds + nfds > VUS_OUT_MAX_FDS))
		return -ENOBUFS;
	k = malloc(sizeof(*k) + cap);
	if (!k)
		return -ENOMEM;
	k->next = NULL;
	k->cap = cap;
	k->len = len;
	k->off = 0;
	k->cost = sizeof(*k) + cap;
	k->ext = NULL;
	k->owned = NULL;
	for (k->nfds = 0; k->nfds < nfds; k->nfds++) {
		k->fds[k->nfds] = fcntl(fds[k->nfds], F_DUPFD_CLOEXEC, 0);
		if (k->fds[k->nfds] < 0) {
			int err = -errno;

			for (i = 0; i < k->nfds; i++)
				close(k->fds[i]);
			free(k);
			return err;
		}
	}
	copy_iov(k->data, msg);
	if (c->out_tail)
		c->out_tail->next = k;
	else
		c->out_head = k;
	c->out_tail = k;
	c->out_bytes += k->cost;
	c->out_fds += k->nfds;
	return 0;
}

/* A caller's malloc'ed buffer the message's last iovec ends in. */
struct owned_buf {
	void **p;                /* *p = NULL once the queue took it */
	const uint8_t *end;      /* end of the iovec that starts at *p */
};

/*
 * Queue the unsent tail without copying when it lies wholly in the
 * caller's owned buffer (one iovec left, ending where that buffer's iovec
 * ends) and no fds wait: the chunk takes the buffer. 1 when taken.
 */
static int out_append_owned(struct vus_conn *c, const struct msghdr *msg, size_t len,
			    struct owned_buf *ob, bool force)
{
	const struct iovec *v = msg->msg_iov;
	struct vus_out_chunk *k;

	if (!ob || !*ob->p || msg->msg_iovlen != 1 || len < OUT_CHUNK_MIN ||
	    (const uint8_t *)v->iov_base < (const uint8_t *)*ob->p ||
	    (const uint8_t *)v->iov_base + v->iov_len != ob->end)
		return 0;
	if (!force && c->out_bytes + sizeof(*k) + len > c->out_limit)
		return -ENOBUFS;
	k = malloc(sizeof(*k));
	if (!k)
		return 0; /* the copying path reports ENOMEM if it too fails */
	*k = (struct vus_out_chunk){ .cap = len, .len = len, .cost = sizeof(*k) + len,
				     .ext = v->iov_base, .owned = *ob->p };
	*ob->p = NULL;
	if (c->out_tail)
		c->out_tail->next = k;
	else
		c->out_head = k;
	c->out_tail = k;
	c->out_bytes += k->cost;
	return 1;
}

/*
 * Queued mode: whatever is queued goes first (order), then as much of
 * this message as the socket takes; the rest is queued. Never waits.
 */
static int send_queued(struct vus_conn *c, struct msghdr *msg, size_t total, const int *fds,
		       unsigned nfds, struct owned_buf *ob)
{
	size_t sent = 0;
	bool was_empty;
	int r = c->out_head ? vus_conn_flush(c) : 0;

	if (r < 0)
		return r;
	was_empty = !c->out_head;
	if (was_empty) {
		r = send_some(c, msg, &sent);
		if (r != -EAGAIN)
			return r;
	}
	if (sent || !nfds) {
		r = out_append_owned(c, msg, total - sent, ob, was_empty);
		if (r)
			return r < 0 ? r : 0;
	}
	return out_append(c, msg, total - sent, sent ? NULL : fds, sent ? 0 : nfds, was_empty);
}

void vus_conn_set_out_limit(struct vus_conn *c, uint64_t limit)
{
	c->out_limit = limit;
}

int vus_conn_flush(struct vus_conn *c)
{
	while (c->out_head) {
		struct vus_out_chunk *k = c->out_head;
		struct iovec iov = { (void *)(chunk_bytes(k) + k->off), k->len - k->off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		union fd_ctrl ctrl;
		ssize_t n;

		if (c->fd < 0)
			return -EBADF;
		if (k->nfds)
			attach_fds(&msg, &ctrl, k->fds, k->nfds);
		n = k->nfds ? vus_io_sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
			    : vus_io_send(c->fd, iov.iov_base, iov.iov_len,
					  MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		/* The fds went with the first byte; ours are dups. */
		c->out_fds -= k->nfds;
		close_fds(k->fds, k->nfds);
		k->nfds = 0;
		k->off += (size_t)n;
		if (k->off == k->len)
			out_pop(c);
	}
	return 0;
}

static int conn_send(struct vus_conn *c, struct vus_hdr *h, const struct iovec *iov,
		     int iovcnt, const int *fds, unsigned nfds, void **owned)
{
	struct owned_buf ob = { .p = owned }, *obp = NULL;
	struct iovec stack_iov[SEND_IOV_STACK], *v = stack_iov;
	struct msghdr msg = { 0 };
	uint8_t hdr[VUS_HDR_SIZE], flat[SEND_FLAT_MAX];
	uint64_t total = VUS_HDR_SIZE;
	union fd_ctrl ctrl;
	int i, r;

	if (c->fd < 0)
		return -EBADF;
	if (iovcnt < 0 || iovcnt >= IOV_MAX || (iovcnt > 0 && !iov) ||
	    nfds > VUS_MAX_FDS_PER_MSG || (nfds > 0 && !fds))
		return -EINVAL;
	for (i = 0; i < iovcnt; i++) {
		/* The header's size field is 32 bits (docs/protocol.md 2). */
		if (iov[i].iov_len > UINT32_MAX - total)
			return -EMSGSIZE;
		total += iov[i].iov_len;
	}
	h->size = (uint32_t)total;
	if (nfds == 0 && total <= SEND_FLAT_MAX) {
		size_t off = VUS_HDR_SIZE;

		vus_hdr_encode(flat, h);
		for (i = 0; i < iovcnt; i++) {
			if (iov[i].iov_len)
				memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		v[0].iov_base = flat;
		v[0].iov_len = off;
		msg.msg_iov = v;
		msg.msg_iovlen = 1;
		/*
		 * The usual case, a small reply or request with nothing
		 * queued before it: one send() that takes it all, without the
		 * queue's and send_some()'s bookkeeping. A short send, a full
		 * socket or EINTR go on below with what is left (in the rare
		 * full case one send() more, which finds it still full).
		 */
		if (!c->out_head) {
			ssize_t n = vus_io_send(c->fd, flat, off, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n == (ssize_t)off) {
				c->tx_bytes += total;
				c->tx_msgs++;
				return 0;
			}
			if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno; /* EPIPE, ECONNRESET, ... */
			if (n > 0) {
				v[0].iov_base = flat + n;
				v[0].iov_len = off - (size_t)n;
				off -= (size_t)n;
			}
		}
		/* No owned buffer can be in flat: the queue copies. */
		r = c->out_limit ? send_queued(c, &msg, off, NULL, 0, NULL) : send_blocking(c, &msg);
		if (r < 0)
			return r;
		c->tx_bytes += total;
		c->tx_msgs++;
		return 0;
	}
	vus_hdr_encode(hdr, h);

	if (iovcnt + 1 > SEND_IOV_STACK) {
		v = calloc((size_t)iovcnt + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	v[0].iov_base = hdr;
	v[0].iov_len = sizeof(hdr);
	if (iovcnt > 0)
		memcpy(v + 1, iov, (size_t)iovcnt * sizeof(*v));
	msg.msg_iov = v;
	msg.msg_iovlen = (size_t)iovcnt + 1;
	if (nfds > 0)
		attach_fds(&msg, &ctrl, fds, nfds);
	if (owned && *owned && iovcnt > 0 && iov[iovcnt - 1].iov_base == *owned) {
		ob.end = (const uint8_t *)*owned + iov[iovcnt - 1].iov_len;
		obp = &ob;
	}

	if (c->out_limit)
		r = send_queued(c, &msg, (size_t)total, fds, nfds, obp);
	else
		r = send_blocking(c, &msg);
	if (v != stack_iov)
		free(v);
	if (r < 0)
		return r;
	c->tx_bytes += total;
	c->tx_msgs++;
	return 0;
}

int vus_conn_send(struct vus_conn *c, struct vus_hdr *h, const struct iovec *iov,
		  int iovcnt, const int *fds, unsigned nfds)
{
	return conn_send(c, h, iov, iovcnt, fds, nfds, NULL);
}

int vus_conn_send_reply_owned(struct vus_conn *c, const struct vus_hdr *req,
			      const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
			      void **owned)
{
	struct vus_hdr h = {
		.id = req->id,
		.cmd = req->cmd,
		.flags = VUS_F_TYPE_REPLY,
	};

	return conn_send(c, &h, iov, iovcnt, fds, nfds, owned);
}

int vus_conn_send_reply(struct vus_conn *c, const struct vus_hdr *req,
			const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds)
{
	return vus_conn_send_reply_owned(c, req, iov, iovcnt, fds, nfds, NULL);
}

int vus_conn_send_error(struct vus_conn *c, const struct vus_hdr *req, int errno_val)
{
	struct vus_hdr h = {
		.id = req->id,
		.cmd = req->cmd,
		.flags = VUS_F_TYPE_REPLY | VUS_F_ERROR,
	};

	/* QEMU reads an ERROR reply with error 0 as success
	 * (docs/protocol.md 8.1 "Error numbers"). */
	if (errno_val <= 0)
		errno_val = EINVAL;
	h.error = (uint32_t)errno_val;
	return vus_conn_send(c, &h, NULL, 0, NULL, 0);
}
