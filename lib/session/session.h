/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A client session (library-internal): the connection state of the one
 * client a device serves, and the only code that sends on its sockets or
 * ends it. Above transport.h (framing), below everything that speaks to
 * the client: the device model builds replies (struct vus_reply) and
 * server->client requests, dispatch hands replies here, the loop (serve/)
 * feeds received messages up.
 *
 * Ending: any failure to send or receive, a protocol violation, or a
 * caller's vus_session_end() runs the same sequence once: "closing" is
 * set, the owner's on_end hook drops what it holds for this client (DMA,
 * IRQ eventfds, the device's reset callback; docs/architecture.md
 * "Session end"), then both sockets close. A session never calls up
 * except through that hook.
 *
 * Thread: the loop thread, except vus_session_attached() (any thread).
 */
#ifndef VUS_SESSION_H
#define VUS_SESSION_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vus/codec.h>

#include "log.h"
#include "stats.h"
#include "transport.h"

/* What a session's sockets may carry and queue (device.h "limits"). */
struct vus_session_limits {
	uint32_t max_msg;             /* largest message accepted */
	unsigned max_fds;             /* fds accepted per message */
	uint64_t out_queue;           /* bytes queued for a client that does not read */
};

struct vus_session {
	bool attached;                /* written atomically: read by any thread */
	bool closing;                 /* vus_session_end() under way */
	bool negotiated;              /* VERSION done */
	struct vus_conn conn;
	struct vus_conn twin;         /* fd -1 unless twin_socket negotiated */
	struct vus_version_msg client;
	enum vus_dma_layout layout;   /* resolved for this client */
	uint32_t client_max_xfer;     /* what the client accepts */
	uint32_t client_max_fds;
	bool conn_out, twin_out;      /* EPOLLOUT armed: output queued */

	/* The owner's, given to vus_session_init(). */
	int epfd;                     /* the loop's epoll set */
	/* The client socket's registration: in the caller's own epoll set
	 * with the caller's data (vus_session_set_conn_epoll), or, when
	 * conn_epfd is -1, in epfd with its fd number. */
	int conn_epfd;
	uint64_t conn_data;
	const struct vus_log *log;
	struct vus_counters *ctr;
	struct vus_session_limits lim;
	void (*on_end)(void *opaque); /* drop what the layers above hold */
	void *opaque;
};

/* No client yet. epfd: where the sockets are watched (EPOLLIN, and
 * EPOLLOUT while output waits), with the fd number as epoll data. */
void vus_session_init(struct vus_session *s, int epfd, const struct vus_log *log,
		      struct vus_counters *ctr, void (*on_end)(void *opaque), void *opaque);
/* Watch the client socket, now and in later sessions, in epfd with
 * epoll data `data` instead of in the loop's set; epfd -1 goes back. */
int vus_session_set_conn_epoll(struct vus_session *s, int epfd, uint64_t data);
/* epoll_ctl(op) of c's socket (fd) where it is watched, for events. */
int vus_session_ctl(struct vus_session *s, const struct vus_conn *c, int fd, int op,
		    uint32_t events);
/* A client connected on fd. On error fd stays the caller's. */
int vus_session_start(struct vus_session *s, int fd, const struct vus_session_limits *lim);
/* VERSION with twin_socket: make a socketpair, keep one end as s->twin
 * (watched), *peer gets the end for the client (the caller closes it). */
int vus_session_twin_open(struct vus_session *s, int *peer);
/* End the session now (no-op without one, or while ending). */
void vus_session_end(struct vus_session *s, const char *why);
/* Any thread. */
bool vus_session_attached(const struct vus_session *s);

/*
 * Next message from c (s->conn or s->twin): 1 and *m filled, 0 nothing
 * now, negative: the session ended (peer gone, malformed stream). On the
 * twin socket only replies arrive; a command there ends the session
 * (spec VERSION "twin_socket": the client reads no replies on it).
 */
int vus_session_recv(struct vus_session *s, struct vus_conn *c, struct vus_rx_msg *m);
/* [p, p + len) may no longer be written: a zero-copy receive going there
 * (on either socket) throws the rest of its data away (transport.h
 * vus_conn_bulk_discard). */
void vus_session_bulk_discard(struct vus_session *s, const void *p, size_t len);
/* c reported EPOLLOUT: write what is queued; an error ends the session. */
int vus_session_flush(struct vus_session *s, struct vus_conn *c);
/* Watch for EPOLLOUT exactly while output is queued. */
void vus_session_sync_out(struct vus_session *s);

/* Send a server->client command on the twin socket if negotiated, else
 * the main socket. A failed send shuts the socket down: the loop sees EOF
 * and ends the session at its next turn, not from under the caller. */
int vus_session_send_request(struct vus_session *s, struct vus_hdr *h,
			     const struct iovec *iov, int iovcnt);

/* ---- live update (session_live.c; docs/live-update.md) -------------- */

struct vus_blob;
struct vus_blob_rd;
/* Write both output queues out (bounded wait): 0, -ETIMEDOUT, -errno. */
int vus_session_live_flush(struct vus_session *s);
/* Sockets by number, the negotiated state, unhandled input. -EAGAIN when
 * input cannot travel now (transport.h vus_conn_input_peek()). */
int vus_session_live_save(struct vus_session *s, struct vus_blob *b);
/* The sockets kept across execve (on false) or not. */
void vus_session_live_cloexec(struct vus_session *s, bool on);
/* Take over a session saved so; nothing if none was attached. On error
 * the sockets it took are closed (the session ended). */
int vus_session_live_adopt(struct vus_session *s, struct vus_blob_rd *r,
			   const struct vus_session_limits *lim);
/* Let go of the client without closing its sockets and without the
 * on_end hook: another owner serves it now. */
void vus_session_live_release(struct vus_session *s);

/* ---- replies (reply.c) ---------------------------------------------- */

/* A reply under construction: fixed part in small[], data by pointer. */
struct vus_reply {
	uint8_t small[512];
	struct iovec iov[3];
	int iovcnt;
	int fds[2];
	unsigned nfds;
	void *heap;                   /* freed after sending */
};
/* These three run for every request: inline (docs/performance.md
 * "Instructions per request"). */
static inline void vus_reply_init(struct vus_reply *r)
{
	r->iovcnt = 0;
	r->nfds = 0;
	r->heap = NULL;
}

/* Append bytes to the reply's iov list (no copy). */
static inline void vus_reply_add(struct vus_reply *r, const void *p, size_t len)
{
	assert(r->iovcnt < (int)(sizeof(r->iov) / sizeof(r->iov[0])));
	r->iov[r->iovcnt].iov_base = (void *)p;
	r->iov[r->iovcnt].iov_len = len;
	r->iovcnt++;
}

/* Bytes the reply to h will take on the wire (0 for NO_REPLY). */
static inline uint64_t vus_reply_size(const struct vus_hdr *h, const struct vus_reply *r,
				      int err)
{
	uint64_t out;
	int i;

	if (h->flags & VUS_F_NO_REPLY)
		return 0;
	out = VUS_HDR_SIZE;
	for (i = 0; !err && i < r->iovcnt; i++)
		out += r->iov[i].iov_len;
	return out;
}
/*
 * Answer request h with r, or with an error reply carrying errno err
 * (> 0); nothing for a NO_REPLY command. r's fds are closed and r->heap
 * freed in every case. A failed send ends the session: 0 or -errno.
 */
int vus_session_reply(struct vus_session *s, const struct vus_hdr *h, struct vus_reply *r,
		      int err);

#endif /* VUS_SESSION_H */
