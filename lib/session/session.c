/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A client session (session.h): its sockets, their epoll registration,
 * sending requests, receiving, and the one end sequence.
 *
 * Sends never wait (one client that does not read must not stall the
 * other devices of a loop): both sockets queue what the peer does not
 * take at once (transport.h, queued mode) and are watched for EPOLLOUT
 * while bytes wait. A queue over its limit ends the session.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io_seam.h"
#include "session.h"

#define slog(s, lvl, ...) vus_log_to((s)->log, lvl, __VA_ARGS__)

int vus_session_ctl(struct vus_session *s, const struct vus_conn *c, int fd, int op,
		    uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int ep = s->epfd;

	if (c == &s->conn && s->conn_epfd >= 0) {
		ep = s->conn_epfd;
		ev.data.u64 = s->conn_data;
	}
	return epoll_ctl(ep, op, fd, &ev) < 0 ? -errno : 0;
}

static int watch(struct vus_session *s, const struct vus_conn *c, int fd)
{
	return vus_session_ctl(s, c, fd, EPOLL_CTL_ADD, EPOLLIN);
}

static void unwatch(struct vus_session *s, const struct vus_conn *c)
{
	if (c->fd >= 0)
		vus_session_ctl(s, c, c->fd, EPOLL_CTL_DEL, 0);
}

int vus_session_set_conn_epoll(struct vus_session *s, int epfd, uint64_t data)
{
	int old_ep = s->conn_epfd, fd = s->conn.fd, err;
	uint64_t old_data = s->conn_data;
	uint32_t events = EPOLLIN | (s->conn_out ? EPOLLOUT : 0);

	if (epfd < 0)
		epfd = -1;
	if (!s->attached || fd < 0) {
		s->conn_epfd = epfd;
		s->conn_data = data;
		return 0;
	}
	/* The socket moves: out of where it is, into the new set. */
	unwatch(s, &s->conn);
	s->conn_epfd = epfd;
	s->conn_data = data;
	err = vus_session_ctl(s, &s->conn, fd, EPOLL_CTL_ADD, events);
	if (err) {
		s->conn_epfd = old_ep;
		s->conn_data = old_data;
		if (vus_session_ctl(s, &s->conn, fd, EPOLL_CTL_ADD, events) < 0)
			vus_session_end(s, "cannot watch the client socket");
	}
	return err;
}

void vus_session_init(struct vus_session *s, int epfd, const struct vus_log *log,
		      struct vus_counters *ctr, void (*on_end)(void *opaque), void *opaque)
{
	memset(s, 0, sizeof(*s));
	s->conn.fd = -1;
	s->twin.fd = -1;
	s->layout = VUS_DMA_LAYOUT_SPEC;
	s->epfd = epfd;
	s->conn_epfd = -1;
	s->log = log;
	s->ctr = ctr;
	s->on_end = on_end;
	s->opaque = opaque;
}

bool vus_session_attached(const struct vus_session *s)
{
	return __atomic_load_n(&s->attached, __ATOMIC_ACQUIRE);
}

/* A session socket with the limits of this session. */
static int conn_open(struct vus_session *s, struct vus_conn *c, int fd, bool *out_armed)
{
	int err;

	err = vus_conn_init(c, fd, s->lim.max_msg);
	if (err)
		return err;
	c->max_fds = s->lim.max_fds;
	vus_conn_set_out_limit(c, s->lim.out_queue);
	vus_conn_grow_sndbuf(c);
	*out_armed = false;
	err = watch(s, c, fd);
	if (err) {
		/* fd stays the caller's: detach it from the conn first. */
		c->fd = -1;
		vus_conn_close(c);
	}
	return err;
}

int vus_session_start(struct vus_session *s, int fd, const struct vus_session_limits *lim)
{
	int err;

	s->lim = *lim;
	err = conn_open(s, &s->conn, fd, &s->conn_out);
	if (err)
		return err;
	s->negotiated = false;
	__atomic_store_n(&s->attached, true, __ATOMIC_RELEASE);
	vus_counters_add(s->ctr, &s->ctr->clients, 1);
	slog(s, VUS_LOG_INFO, "client attached");
	return 0;
}

int vus_session_twin_open(struct vus_session *s, int *peer)
{
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = conn_open(s, &s->twin, sv[0], &s->twin_out);
	if (err) {
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	*peer = sv[1];
	return 0;
}

void vus_session_end(struct vus_session *s, const char *why)
{
	if (!s->attached || s->closing)
		return;
	slog(s, VUS_LOG_INFO, "client session ends: %s", why);
	/* First, so nothing the hook runs (a DMA completion starting another
	 * transfer, say) sends to this client again or re-enters. */
	s->closing = true;
	s->negotiated = false;
	if (s->on_end)
		s->on_end(s->opaque);
	unwatch(s, &s->twin);
	vus_conn_close(&s->twin);
	unwatch(s, &s->conn);
	vus_conn_close(&s->conn);
	s->conn_out = s->twin_out = false;
	s->negotiated = false;
	memset(&s->client, 0, sizeof(s->client));
	s->layout = VUS_DMA_LAYOUT_SPEC;
	s->client_max_xfer = 0;
	s->client_max_fds = 0;
	s->closing = false;
	/* Last: whoever sees "detached" sees the whole teardown done. */
	__atomic_store_n(&s->attached, false, __ATOMIC_RELEASE);
}

static const char *sock_name(const struct vus_session *s, const struct vus_conn *c)
{
	return c == &s->twin ? "twin" : "client";
}

int vus_session_recv(struct vus_session *s, struct vus_conn *c, struct vus_rx_msg *m)
{
	int rc = vus_conn_recv(c, m);

	if (rc == 0)
		return 0;
	if (rc == -ECONNRESET) {
		vus_session_end(s, "client disconnected");
		return rc;
	}
	if (rc < 0) {
		slog(s, VUS_LOG_WARN, "%s socket: %s", sock_name(s, c),
		     rc == -EPROTO ? "malformed header, stream lost" : strerror(-rc));
		vus_session_end(s, rc == -EPROTO ? "protocol error" : "socket error");
		return rc;
	}
	if (c != &s->twin)
		return 1;
	vus_counters_add_loop(&s->ctr->bytes_in, m->v.hdr.size);
	if (!vus_hdr_is_reply(&m->v.hdr)) {
		vus_rx_msg_close_fds(m);
		slog(s, VUS_LOG_WARN, "command %s on the twin socket", vus_cmd_name(m->v.hdr.cmd));
		vus_session_end(s, "protocol error");
		return -EPROTO;
	}
	slog(s, VUS_LOG_TRACE, "rx %s id=%u reply size=%u (twin)", vus_cmd_name(m->v.hdr.cmd),
	     m->v.hdr.id, m->v.hdr.size);
	return 1;
}

void vus_session_bulk_discard(struct vus_session *s, const void *p, size_t len)
{
	if (s->conn.fd >= 0)
		vus_conn_bulk_discard(&s->conn, p, len);
	if (s->twin.fd >= 0)
		vus_conn_bulk_discard(&s->twin, p, len);
}

int vus_session_flush(struct vus_session *s, struct vus_conn *c)
{
	int err = vus_conn_flush(c);

	if (err < 0) {
		slog(s, VUS_LOG_WARN, "%s socket: %s", sock_name(s, c), strerror(-err));
		vus_session_end(s, "socket error");
		return err;
	}
	return 0;
}

/* Watch c for EPOLLOUT too while its output queue holds bytes. */
static void watch_out(struct vus_session *s, const struct vus_conn *c, bool *armed)
{
	bool want = vus_conn_out_pending(c);
	int err;

	if (c->fd < 0 || want == *armed)
		return;
	err = vus_session_ctl(s, c, c->fd, EPOLL_CTL_MOD, EPOLLIN | (want ? EPOLLOUT : 0));
	if (err) {
		slog(s, VUS_LOG_ERR, "epoll (output): %s", strerror(-err));
		return;
	}
	*armed = want;
}

void vus_session_sync_out(struct vus_session *s)
{
	/* The common case after a reply: nothing queued, nothing armed. */
	if (!s->conn_out && !s->twin_out && !vus_conn_out_pending(&s->conn) &&
	    !vus_conn_out_pending(&s->twin))
		return;
	watch_out(s, &s->conn, &s->conn_out);
	watch_out(s, &s->twin, &s->twin_out);
}

int vus_session_send_request(struct vus_session *s, struct vus_hdr *h,
			     const struct iovec *iov, int iovcnt)
{
	struct vus_conn *c;
	int err;

	/* Before VERSION there is no agreed format, while closing no peer. */
	if (!s->attached || s->closing || !s->negotiated)
		return -ENOTCONN;
	c = s->twin.fd >= 0 ? &s->twin : &s->conn;
	err = vus_conn_send(c, h, iov, iovcnt, NULL, 0);
	if (err == -ENOBUFS)
		slog(s, VUS_LOG_WARN,
		     "output queue over its limit (%llu bytes): the client does not read",
		     (unsigned long long)s->lim.out_queue);
	if (err) {
		/* A half-sent message leaves the stream unusable. Ending the
		 * session here would pull it from under the caller (the DMA
		 * engine is mid-queue); shutdown makes the loop see EOF and
		 * end it at its next turn. */
		vus_io_shutdown(c->fd, SHUT_RDWR);
		return err;
	}
	vus_counters_add_loop(&s->ctr->bytes_out, h->size);
	return 0;
}
