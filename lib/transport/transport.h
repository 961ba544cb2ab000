/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing of vfio-user messages on a stream socket (library-internal).
 *
 * Receive: one recvmsg() per call into a buffer that holds as many whole
 * messages as arrived, so a small request costs one system call (the
 * benchmark's 1.00x path). A message larger than the buffer grows it to
 * the message's size (up to max_msg). A message above max_msg is skipped
 * byte for byte (its body is drained, never parsed) and reported as
 * -E2BIG with its header, so the stream never loses sync.
 *
 * fds: Linux delivers SCM_RIGHTS with the recvmsg that reads the first
 * byte of the sendmsg() that carried them, and ends that recvmsg right
 * after that skb. Senders attach fds to the sendmsg that carries a
 * message's header (docs/protocol.md 1.3), so fds received by one recvmsg
 * belong to the last message whose header *begins* in the bytes of that
 * recvmsg. If no header begins there, the fds are closed as stray.
 * MSG_CTRUNC, or more fds than max_fds: the fds that did arrive are
 * closed and the message is marked with -EMSGSIZE (answered EINVAL by the
 * server).
 *
 * Send, two modes:
 * - blocking (the default; the synchronous client library): one sendmsg()
 *   per message (header + iovecs + fds), looping on partial writes;
 *   EAGAIN waits in poll() up to send_timeout_ms, then the connection is
 *   declared dead (-ETIMEDOUT).
 * - queued (vus_conn_set_out_limit(); a server's loop, which must never
 *   wait for one peer while others are ready): what the socket takes now
 *   is written at once, the rest is copied into an output queue that
 *   vus_conn_flush() writes when the socket polls writable. Messages leave
 *   in the order they were sent, whole, each one's fds on its first byte.
 *   The queue is bounded; past the bound a send fails -ENOBUFS.
 *
 * Not thread-safe: one thread owns a connection.
 */
#ifndef VUS_TRANSPORT_H
#define VUS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vus/codec.h>
#include <vus/proto.h>

#define VUS_RX_BUF_MIN (64u * 1024u)

struct vus_rx_msg {
	struct vus_msg_view v;  /* header, payload (into the rx buffer), nfds */
	int fds[VUS_MAX_FDS_PER_MSG];
	int status;             /* 0, or -E2BIG (body skipped, v.payload NULL,
				 * v.len 0), or -EMSGSIZE (control data truncated) */
	uint32_t bulk;          /* > 0: the sink took this many data bytes (see
				 * vus_conn_sink); v.payload then holds only the
				 * bulk_skip bytes before them and the tail after */
	uint32_t bulk_skip;
	bool bulk_discarded;    /* the data went nowhere (vus_conn_bulk_discard) */
};

struct vus_out_chunk;

/*
 * Zero-copy receive (docs/performance.md "Zero-copy bulk transfers"):
 * when a message's header and its first `head` payload bytes are buffered
 * but the rest is not, the sink may name memory for its data (the region
 * a REGION_WRITE targets, the caller's buffer a REGION_READ reply fills,
 * the device's buffer a DMA_READ reply fills): return 1 with *d, or 0 for
 * the buffered path. The payload is then skip bytes (<= head, kept in the
 * buffer), len data bytes (read into base with no copy; what the first
 * read already brought is copied once), and tail bytes (<=
 * VUS_SINK_TAIL_MAX, kept in the buffer right after the skip bytes; QEMU's
 * DMA_READ reply ends in 4 pad bytes). The sink runs before any data is
 * read, so it checks everything that decides whether the bytes may land
 * there. A message with fds is never offered (its fds make it a command
 * that takes none: the buffered path answers it). If the peer goes
 * mid-body, the bytes that arrived stay in base and the receive fails as
 * usual.
 */
#define VUS_SINK_TAIL_MAX 16u

struct vus_sink_dst {
	uint8_t *base;
	uint32_t skip, len, tail;
};

struct vus_conn_sink {
	int (*fn)(void *opaque, const struct vus_hdr *h, const uint8_t *head,
		  struct vus_sink_dst *d);
	void *opaque;
	uint32_t head;
	bool expect;            /* the next message is most likely this sink's:
				 * read its header alone (a client waiting for
				 * a large reply) */
};

struct vus_conn {
	int fd;
	uint32_t max_msg;        /* largest whole message accepted */
	unsigned max_fds;        /* fds accepted per message (<= VUS_MAX_FDS_PER_MSG) */
	int send_timeout_ms;     /* blocking mode only */
	/* queued mode: out_limit > 0 */
	uint64_t out_limit;      /* most bytes held in the queue */
	uint64_t out_bytes;      /* held now: data plus bookkeeping */
	unsigned out_fds;        /* fds (our dups) waiting in the queue */
	struct vus_out_chunk *out_head, *out_tail;
	uint8_t *buf;
	size_t cap, start, end;  /* unparsed bytes are buf[start, end) */
	size_t scan;             /* next header position not yet scanned for fds */
	uint64_t skip;           /* bytes of an oversized body still to drain */
	int pending_fds[VUS_MAX_FDS_PER_MSG];
	unsigned npending;
	size_t pending_pos;      /* header position the pending fds belong to */
	bool pending_trunc;
	bool msg_out;            /* a message was returned and not released */
	size_t msg_len;
	/* statistics */
	uint64_t rx_bytes, tx_bytes, rx_msgs, tx_msgs;
	uint64_t rx_syscalls;    /* recvmsg() calls made */
	uint64_t stray_fds;      /* fds closed because no header owned them */
	bool drained;            /* the last recvmsg() emptied the socket queue */
	/* zero-copy receive */
	struct vus_conn_sink sink;
	bool bulk_on;            /* a sink's message is being received */
	uint8_t *bulk_dst;       /* next data byte in the sink's memory; NULL:
				  * discarded (vus_conn_bulk_discard) */
	size_t bulk_left;        /* data bytes still to read */
	size_t bulk_tail_left;   /* tail bytes still to read into the buffer */
	uint32_t bulk_len, bulk_skip;
	bool bulk_recent;        /* the last message went to the sink: read the
				  * next header alone (conn_recv) */
	uint64_t rx_bulk_bytes;  /* statistics: bytes received into sinks */
	uint64_t rx_bulk_copied; /* of those, copied from the buffer (they came
				  * with the read that brought the header) */
};

/* Offer large messages to sink (NULL: none): the server's REGION_WRITEs,
 * the client's REGION_READ replies. NULL while a body is half received
 * into the old sink's memory: that message is dropped (the rest drained
 * unseen), so the memory is never written again. */
void vus_conn_set_sink(struct vus_conn *c, const struct vus_conn_sink *sink);
/*
 * The memory [lo, lo + len) may no longer be written (a cancelled DMA's
 * buffer the device may free): if the data being received goes there, the
 * rest of it is read and thrown away instead; the message still arrives,
 * with bulk_discarded set. True if it did.
 */
bool vus_conn_bulk_discard(struct vus_conn *c, const void *lo, size_t len);

/*
 * Take ownership of a connected stream socket (made non-blocking).
 * On failure fd stays the caller's and c is safe to vus_conn_close().
 */
int vus_conn_init(struct vus_conn *c, int fd, uint32_t max_msg);
/*
 * Ask for room in the socket for a whole largest message (max_msg), where
 * the system allows it (the kernel clamps to net.core.wmem_max: 208 KiB by
 * default, then nothing changes). A 1 MiB reply sent from region memory
 * then leaves at once instead of its unsent part being copied into the
 * output queue (docs/performance.md "Zero-copy bulk transfers"). Sessions
 * and the client library call it; best effort.
 */
void vus_conn_grow_sndbuf(struct vus_conn *c);
/* Close the socket, close pending fds, free the buffer. Idempotent. */
void vus_conn_close(struct vus_conn *c);

/*
 * Return the next whole message: 1 with *m filled, 0 if more bytes are
 * needed (call again when the fd is readable), -ECONNRESET on orderly
 * EOF, -EPROTO on a header that fails vus_hdr_check() with anything but
 * -E2BIG (the stream cannot be trusted past it), other -errno from the
 * socket. Messages already buffered are returned without a syscall.
 * m->fds are owned by the caller: take the ones kept (set them to -1)
 * and call vus_rx_msg_close_fds() for the rest.
 * The payload stays valid until the next vus_conn_recv()/close.
 */
int vus_conn_recv(struct vus_conn *c, struct vus_rx_msg *m);

/*
 * vus_conn_recv(), but when no whole message is buffered the first
 * recvmsg() may block: on a socket switched back to blocking mode with
 * SO_RCVTIMEO, a synchronous caller waits for its reply in one system
 * call instead of poll() + recvmsg() (the client library's fast path).
 * On a non-blocking socket it behaves exactly like vus_conn_recv().
 */
int vus_conn_recv_wait(struct vus_conn *c, struct vus_rx_msg *m);

/* Close every fd still >= 0 in m->fds[0, m->v.nfds) and set it to -1
 * (the slots after v.nfds hold none: -1). */
void vus_rx_msg_close_fds(struct vus_rx_msg *m);

/* True when a whole message is already buffered (no syscall needed).
 * Less than a header buffered, the usual case after a reply was read, is
 * decided inline (docs/performance.md "Instructions per request"). */
bool vus_conn_has_buffered_hdr(const struct vus_conn *c);
static inline bool vus_conn_has_buffered(const struct vus_conn *c)
{
	size_t pos = c->start + (c->msg_out ? c->msg_len : 0);

	return c->end - pos >= VUS_HDR_SIZE && vus_conn_has_buffered_hdr(c);
}

/*
 * True when another vus_conn_recv() could return a message without the
 * socket first polling readable: one is buffered, or the last recvmsg()
 * may have left bytes in the kernel (it filled the buffer or stopped after
 * an fd-carrying skb). A level-triggered poller that stops when this is
 * false reads each burst with one recvmsg() and never spins on EAGAIN.
 */
bool vus_conn_may_have_more(const struct vus_conn *c);

/*
 * Send header h (size is set here from the iovecs) plus iov[0..iovcnt)
 * and nfds fds (attached to the first sendmsg, which holds the header).
 * The caller keeps its fds and buffers (a queued message holds copies).
 * Queued mode: never waits; 0 once the message is sent or queued,
 * -ENOBUFS (nothing sent) if queuing it would exceed the limit.
 */
int vus_conn_send(struct vus_conn *c, struct vus_hdr *h, const struct iovec *iov,
		  int iovcnt, const int *fds, unsigned nfds);

/*
 * Queued sends (see the top of this file) holding at most limit bytes
 * (message bytes plus the queue's bookkeeping) and VUS_OUT_MAX_FDS fds.
 * A message is always accepted into an empty queue, so one larger than
 * the limit still goes out. limit 0: back to blocking sends (only with
 * an empty queue).
 */
#define VUS_OUT_MAX_FDS 64u
void vus_conn_set_out_limit(struct vus_conn *c, uint64_t limit);
/* Write queued bytes until the socket is full or the queue empty:
 * 0 (bytes may remain: wait for POLLOUT), or -errno from the socket. */
int vus_conn_flush(struct vus_conn *c);
/* True while queued bytes wait for the socket to take them. */
static inline bool vus_conn_out_pending(const struct vus_conn *c)
{
	return c->out_head != NULL;
}

/* Header-only error reply to request hdr (errno_val > 0). */
int vus_conn_send_error(struct vus_conn *c, const struct vus_hdr *req, int errno_val);

/*
 * vus_conn_send_reply() for a reply whose last iovec starts at *owned, a
 * malloc'ed buffer (a big REGION_READ's data): in queued mode, if the
 * socket does not take the whole reply and the unsent tail lies inside
 * that buffer, the queue keeps the buffer instead of copying the tail,
 * frees it once sent, and sets *owned = NULL. Otherwise *owned is left
 * for the caller to free.
 */
int vus_conn_send_reply_owned(struct vus_conn *c, const struct vus_hdr *req,
			      const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
			      void **owned);

/* Reply to request req with payload iov (flags: REPLY). */
int vus_conn_send_reply(struct vus_conn *c, const struct vus_hdr *req,
			const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds);

/* ---- live update (transport_live.c; docs/live-update.md) ------------ */

/* The bytes received and not yet returned as messages (a message already
 * returned counts as handled). -EAGAIN while fds wait for their header or
 * an oversized body is being drained. Valid until the next receive. */
int vus_conn_input_peek(struct vus_conn *c, const uint8_t **bytes, size_t *len);
/* A fresh connection takes such bytes as if it had received them. */
int vus_conn_input_put(struct vus_conn *c, const uint8_t *bytes, size_t len);
/* Write the output queue out, waiting up to timeout_ms: 0, -ETIMEDOUT,
 * or -errno from the socket. */
int vus_conn_flush_wait(struct vus_conn *c, int timeout_ms);

/* ---- listening sockets ---------------------------------------------- */

/* vus_listen_path(), vus_listen_fd_check(), vus_accept(): public, since
 * vusd makes its sockets with them. */
#include <vus/socket.h>

#endif /* VUS_TRANSPORT_H */
