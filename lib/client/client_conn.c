/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client connection: connect, VERSION negotiation, message ids, and the
 * loop that waits for a reply while serving the server's own requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>

#include "client_priv.h"

/* The spec's "migration" capability as QEMU 10.x still sends it
 * (docs/protocol.md 8.1 "QEMU's VERSION"): pgsize 4 KiB, max_bitmap_size 256 MiB. */
#define QEMU_MIG_PGSIZE          4096u
#define QEMU_MIG_MAX_BITMAP_SIZE 268435456u
#define QEMU_MAX_MSG_FDS         16u
/* Largest error number accepted from the server as such
 * (docs/protocol.md 8.1 "Error numbers": libvfio-user's
 * SERVER_MAX_ERROR_NO). */
#define CLIENT_MAX_ERRNO         4096u

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vus_client_reply_errno(const struct vus_hdr *h)
{
	if (h->error == 0 || h->error > CLIENT_MAX_ERRNO)
		return -EINVAL;
	return -(int)h->error;
}

int vus_client_send_cmd(struct vus_client *c, uint16_t cmd, uint32_t flags,
			const struct iovec *iov, int iovcnt, const int *fds, unsigned nfds,
			uint16_t *id)
{
	struct vus_hdr h = {
		.id = c->next_id++,
		.cmd = cmd,
		.flags = flags,
	};

	if (id)
		*id = h.id;
	return vus_conn_send(&c->conn, &h, iov, iovcnt, fds, nfds);
}

/*
 * Take one message from conn if one is ready. Returns 1 if it was our
 * reply (*done set), 1 also after serving a server request, 0 if nothing
 * was ready, -errno on failure.
 */
static int pump(struct vus_client *c, struct vus_conn *conn, struct vus_rx_msg *m,
		bool is_twin, int want_id, struct vus_rx_msg **done, bool block)
{
	int r = block ? vus_conn_recv_wait(conn, m) : vus_conn_recv(conn, m);

	if (r <= 0)
		return r;
	if (!vus_hdr_is_reply(&m->v.hdr)) {
		r = vus_client_serve(c, conn, m);
		return r < 0 ? r : 1;
	}
	/* Replies to our commands come on the main socket only (the twin
	 * carries the server's requests and our answers, spec VERSION);
	 * replies are matched by id (docs/protocol.md 2). */
	if (is_twin || want_id < 0 || m->v.hdr.id != (uint16_t)want_id) {
		vus_rx_msg_close_fds(m);
		return -EPROTO;
	}
	*done = m;
	return 1;
}

/*
 * Wait until a socket is readable (or hung up) before the deadline:
 * 1 with *in_main / *in_twin set, 0 on timeout, -errno.
 */
static int wait_readable(struct vus_client *c, int64_t deadline, bool *in_main, bool *in_twin)
{
	struct pollfd pfd[2] = {
		{ .fd = c->conn.fd, .events = POLLIN },
		{ .fd = c->twin_active ? c->twin.fd : -1, .events = POLLIN },
	};

	for (;;) {
		int64_t left = deadline - now_ms();
		int r;

		r = poll(pfd, 2, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		*in_main = pfd[0].revents != 0;
		*in_twin = pfd[1].revents != 0;
		return 1;
	}
}

/*
 * Receive until the reply want_id arrives (want_id < 0: serve requests
 * until one was served), or timeout_ms passes. Returns 1 with *done set,
 * 0 on timeout, -errno on failure. *served counts requests served.
 *
 * The reply to a command just sent is never there yet, so trying a
 * non-blocking recvmsg() first would only add a system call. With one
 * socket (no twin) and the default timeout, the wait is one blocking
 * recvmsg() bounded by SO_RCVTIMEO (set at connect); otherwise poll()
 * both sockets first.
 *
 * The blocking path reads no clock for a reply that its first wait
 * brings whole (the common case: a round trip costs the floor's two
 * system calls and nothing else, docs/performance.md). Only when it must
 * wait again (a server request served, or part of a message) does the
 * deadline start, timeout_ms from then; the first wait lasted at most
 * one timeout (SO_RCVTIMEO) and the last may overrun the deadline by
 * one, so a server that trickles a reply holds the call at most three
 * timeouts.
 */
static int receive(struct vus_client *c, int want_id, int timeout_ms,
		   struct vus_rx_msg **done, unsigned *served)
{
	bool may_block = !c->twin_active && timeout_ms == c->timeout_ms;
	int64_t deadline = may_block ? -1 : now_ms() + timeout_ms;

	*done = NULL;
	for (;;) {
		bool in_main = vus_conn_has_buffered(&c->conn);
		bool in_twin = c->twin_active && vus_conn_has_buffered(&c->twin);
		bool block = false;
		int r;

		if (!in_main && !in_twin && may_block) {
			if (deadline >= 0 && now_ms() >= deadline)
				return 0;
			in_main = block = true;
		} else if (!in_main && !in_twin) {
			if (deadline < 0)
				deadline = now_ms() + timeout_ms;
			r = wait_readable(c, deadline, &in_main, &in_twin);
			if (r <= 0)
				return r;
		}
		if (in_main) {
			r = pump(c, &c->conn, &c->rx, false, want_id, done, block);
			if (r < 0)
				return r;
			if (*done)
				return 1;
			*served += (unsigned)r;
		}
		if (in_twin) {
			r = pump(c, &c->twin, &c->twin_rx, true, want_id, done, false);
			if (r < 0)
				return r;
			*served += (unsigned)r;
		}
		/* Serving only: once something was served, take what is
		 * already there and return. */
		if (want_id < 0 && *served)
			deadline = now_ms();
		else if (deadline < 0)
			deadline = now_ms() + timeout_ms;
	}
}

int vus_client_wait(struct vus_client *c, uint16_t id, struct vus_rx_msg **out)
{
	unsigned served = 0;
	int r = receive(c, id, c->timeout_ms, out, &served);

	if (r == 0)
		return -ETIMEDOUT;
	return r < 0 ? r : 0;
}

int vus_client_process(struct vus_client *c, int timeout_ms)
{
	struct vus_rx_msg *done;
	unsigned served = 0;
	int r;

	if (!c || timeout_ms < 0)
		return -EINVAL;
	r = receive(c, -1, timeout_ms, &done, &served);
	if (r < 0)
		return r;
	if (timeout_ms == 0)
		return 0;
	return served ? 1 : 0;
}

int vus_client_call(struct vus_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
		    const int *fds, unsigned nfds, unsigned max_reply_fds,
		    struct vus_rx_msg **out)
{
	struct vus_rx_msg *m;
	uint16_t id;
	int r;

	r = vus_client_send_cmd(c, cmd, 0, iov, iovcnt, fds, nfds, &id);
	if (r < 0)
		return r;
	r = vus_client_wait(c, id, &m);
	if (r < 0)
		return r;
	if (m->v.hdr.cmd != cmd || m->status != 0) {
		r = -EPROTO;
		goto bad;
	}
	if (m->v.hdr.flags & VUS_F_ERROR) {
		r = vus_client_reply_errno(&m->v.hdr);
		goto bad;
	}
	/* QEMU too refuses fds on replies that take none (docs/protocol.md 8.1
	 * "fds on replies and requests"). */
	if (m->v.nfds > max_reply_fds) {
		r = -EPROTO;
		goto bad;
	}
	*out = m;
	return 0;
bad:
	vus_rx_msg_close_fds(m);
	return r;
}

int vus_client_call_empty(struct vus_client *c, uint16_t cmd, const struct iovec *iov,
			  int iovcnt, const int *fds, unsigned nfds)
{
	struct vus_rx_msg *m;
	int r = vus_client_call(c, cmd, iov, iovcnt, fds, nfds, 0, &m);

	if (r < 0)
		return r;
	return m->v.len == 0 ? 0 : -EPROTO;
}

/* ---- VERSION -------------------------------------------------------- */

static void version_request(const struct vus_client *c, bool qemu, struct vus_version_msg *v)
{
	struct vus_caps *caps = &v->caps;

	memset(v, 0, sizeof(*v));
	vus_caps_defaults(caps);
	v->major = 0;
	v->minor = c->minor;
	v->has_json = true;
	caps->max_msg_fds = c->max_msg_fds;
	caps->max_data_xfer_size = c->max_xfer;
	caps->present = VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER;
	if (qemu) {
		/* QEMU's caps_json set (docs/protocol.md 8.1 "QEMU's
		 * VERSION"), so a server sees
		 * exactly what QEMU's vfio-user-pci would send. */
		caps->present |= VUS_CAP_MIGRATION | VUS_CAP_PGSIZES | VUS_CAP_MAX_DMA_MAPS |
				 VUS_CAP_WRITE_MULTIPLE;
		caps->mig_pgsize = QEMU_MIG_PGSIZE;
		caps->mig_max_bitmap_size = QEMU_MIG_MAX_BITMAP_SIZE;
		caps->pgsizes = VUS_DEFAULT_PGSIZES;
		caps->max_dma_maps = VUS_DEFAULT_MAX_DMA_MAPS;
		caps->write_multiple = true;
		return;
	}
	if (c->offered_twin) {
		caps->present |= VUS_CAP_TWIN_SOCKET;
		caps->twin_socket = true;
		caps->twin_fd_index = -1;
	}
	if (c->offered_write_multiple) {
		caps->present |= VUS_CAP_WRITE_MULTIPLE;
		caps->write_multiple = true;
	}
}

static bool is_stream_socket(int fd)
{
	socklen_t len = sizeof(int);
	int type;

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/*
 * Check the server's VERSION reply (spec VERSION: same major, minor not
 * above ours, capabilities a subset of ours) and take the twin socket.
 */
static int version_reply(struct vus_client *c, struct vus_rx_msg *m)
{
	struct vus_msg_view view = m->v;
	struct vus_caps *caps = &c->server.caps;
	uint32_t max_msg;
	int r, idx;

	/* The codec refuses fds on VERSION; the twin fd is ours to handle. */
	view.nfds = 0;
	r = vus_version_decode(&view, &c->server);
	if (r < 0)
		return -EPROTO;
	if (c->server.major != 0 || c->server.minor > c->minor)
		return -EPROTO;
	/* The codec filled the spec defaults for absent keys: max_msg_fds 1,
	 * max_data_xfer_size 1 MiB. QEMU refuses more than 64 MiB. */
	if (caps->max_data_xfer_size == 0 || caps->max_data_xfer_size > VUS_MAX_DATA_XFER_LIMIT)
		return -EPROTO;
	c->srv_max_fds = caps->max_msg_fds;
	c->srv_max_xfer = caps->max_data_xfer_size;
	c->srv_write_multiple = (caps->present & VUS_CAP_WRITE_MULTIPLE) && caps->write_multiple;
	if (c->srv_write_multiple && !c->offered_write_multiple)
		return -EPROTO;

	if ((caps->present & VUS_CAP_TWIN_SOCKET) && caps->twin_socket) {
		/* Spec: "the client must abort" without a valid fd_index. */
		idx = caps->twin_fd_index;
		if (!c->offered_twin || idx < 0 || (unsigned)idx >= m->v.nfds ||
		    !is_stream_socket(m->fds[idx]))
			return -EPROTO;
		max_msg = VUS_HDR_SIZE + VUS_CLIENT_MSG_HEADROOM + c->max_xfer;
		r = vus_conn_init(&c->twin, m->fds[idx], max_msg);
		if (r < 0)
			return r;
		m->fds[idx] = -1;
		c->twin_active = true;
	} else if (m->v.nfds) {
		return -EPROTO;
	}
	return 0;
}

static int negotiate(struct vus_client *c, bool qemu)
{
	struct vus_version_msg v;
	struct vus_rx_msg *m;
	uint8_t buf[512];
	struct iovec iov;
	ssize_t len;
	uint32_t big;
	int r;

	version_request(c, qemu, &v);
	len = vus_version_encode(buf, sizeof(buf), &v);
	if (len < 0)
		return (int)len;
	iov.iov_base = buf;
	iov.iov_len = (size_t)len;
	r = vus_client_call(c, VUS_CMD_VERSION, &iov, 1, NULL, 0, 1, &m);
	if (r < 0)
		return r;
	r = version_reply(c, m);
	vus_rx_msg_close_fds(m);
	if (r < 0)
		return r;
	/* REGION_READ replies carry up to the server's max_data_xfer_size. */
	big = c->srv_max_xfer > c->max_xfer ? c->srv_max_xfer : c->max_xfer;
	c->conn.max_msg = VUS_HDR_SIZE + VUS_CLIENT_MSG_HEADROOM + big;
	return 0;
}

static void resolve_opts(struct vus_client *c, const struct vus_client_opts *o)
{
	static const struct vus_client_opts none;

	if (!o)
		o = &none;
	c->minor = o->qemu_fingerprint ? 0 : o->minor;
	c->max_msg_fds = o->max_msg_fds ? o->max_msg_fds : VUS_CLIENT_DEF_MAX_MSG_FDS;
	c->max_xfer = o->max_data_xfer_size ? o->max_data_xfer_size : VUS_DEFAULT_MAX_DATA_XFER;
	if (o->qemu_fingerprint) {
		c->max_msg_fds = QEMU_MAX_MSG_FDS;
		c->max_xfer = VUS_DEFAULT_MAX_DATA_XFER;
	}
	/* QEMU never offers twin_socket (docs/protocol.md 8.1) and always
	 * offers write_multiple. */
	c->offered_twin = o->twin_socket && !o->qemu_fingerprint;
	c->offered_write_multiple = o->write_multiple || o->qemu_fingerprint;
	c->layout = o->dma_layout;
	if (c->layout == VUS_DMA_LAYOUT_AUTO)
		c->layout = o->qemu_fingerprint ? VUS_DMA_LAYOUT_QEMU : VUS_DMA_LAYOUT_SPEC;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : VUS_CLIENT_DEF_TIMEOUT_MS;
	c->next_id = 1;
}

/*
 * Without a twin socket every wait is on the main socket alone: make it
 * blocking with the reply timeout as SO_RCVTIMEO/SO_SNDTIMEO, so a round
 * trip costs sendmsg() + recvmsg() like a plain socket ping-pong
 * (bench/). Non-blocking reads still pass MSG_DONTWAIT.
 */
static int blocking_waits(struct vus_client *c)
{
	struct timeval tv = {
		.tv_sec = c->timeout_ms / 1000,
		.tv_usec = (c->timeout_ms % 1000) * 1000,
	};
	int fl = fcntl(c->conn.fd, F_GETFL);

	if (fl < 0 || fcntl(c->conn.fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    setsockopt(c->conn.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->conn.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

int vus_client_connect_fd(int fd, const struct vus_client_opts *opts, struct vus_client **out)
{
	struct vus_client *c;
	int r;

	if (fd < 0 || !out) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	resolve_opts(c, opts);
	/* We must be able to take what we advertise: the transport receives
	 * at most VUS_MAX_FDS_PER_MSG fds per message. */
	if (c->max_xfer > VUS_MAX_DATA_XFER_LIMIT || c->max_msg_fds > VUS_MAX_FDS_PER_MSG) {
		close(fd);
		free(c);
		return -EINVAL;
	}
	r = vus_conn_init(&c->conn, fd, VUS_HDR_SIZE + VUS_CLIENT_MSG_HEADROOM + c->max_xfer);
	if (r < 0) {
		close(fd);
		free(c);
		return r;
	}
	/* A 1 MiB REGION_WRITE leaves in one sendmsg where the system allows. */
	vus_conn_grow_sndbuf(&c->conn);
	r = negotiate(c, opts && opts->qemu_fingerprint);
	if (r == 0 && !c->twin_active)
		r = blocking_waits(c);
	if (r < 0) {
		vus_client_close(c);
		return r;
	}
	*out = c;
	return 0;
}

int vus_client_connect(const char *path, const struct vus_client_opts *opts,
		       struct vus_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (!path || !out)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return vus_client_connect_fd(fd, opts, out);
}

void vus_client_close(struct vus_client *c)
{
	if (!c)
		return;
	vus_conn_close(&c->conn);
	if (c->twin_active)
		vus_conn_close(&c->twin);
	vus_client_maps_free_all(c);
	free(c->maps);
	free(c);
}

const struct vus_version_msg *vus_client_server_version(const struct vus_client *c)
{
	return &c->server;
}

bool vus_client_twin_active(const struct vus_client *c)
{
	return c->twin_active;
}

int vus_client_fd(const struct vus_client *c)
{
	return c->conn.fd;
}

uint64_t vus_client_dma_requests(const struct vus_client *c)
{
	return c->dma_requests;
}
