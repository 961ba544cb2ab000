/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A session handed to another owner (live update, docs/live-update.md):
 * the negotiated state written out and read back field by field, the
 * sockets taken over by number with what was received but not yet
 * handled, and the old owner letting go without closing or shutting down
 * anything the client still uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "blob.h"
#include "fd_cloexec.h"
#include "session.h"

#define FLUSH_MS 2000

static uint32_t fd_u32(int fd)
{
	return fd < 0 ? UINT32_MAX : (uint32_t)fd;
}

static int u32_fd(uint32_t v)
{
	return v > (uint32_t)INT32_MAX ? -1 : (int)v;
}

static void caps_save(struct vus_blob *b, const struct vus_caps *c)
{
	blob_u32(b, c->present);
	blob_u32(b, c->max_msg_fds);
	blob_u32(b, c->max_data_xfer_size);
	blob_u32(b, c->max_dma_maps);
	blob_u64(b, c->pgsizes);
	blob_u32(b, c->twin_socket);
	blob_u32(b, (uint32_t)c->twin_fd_index);
	blob_u32(b, c->write_multiple);
	blob_u64(b, c->mig_pgsize);
	blob_u64(b, c->mig_max_bitmap_size);
}

static void caps_load(struct vus_blob_rd *r, struct vus_caps *c)
{
	c->present = blob_rd_u32(r);
	c->max_msg_fds = blob_rd_u32(r);
	c->max_data_xfer_size = blob_rd_u32(r);
	c->max_dma_maps = blob_rd_u32(r);
	c->pgsizes = blob_rd_u64(r);
	c->twin_socket = blob_rd_u32(r) != 0;
	c->twin_fd_index = (int32_t)blob_rd_u32(r);
	c->write_multiple = blob_rd_u32(r) != 0;
	c->mig_pgsize = blob_rd_u64(r);
	c->mig_max_bitmap_size = blob_rd_u64(r);
}

int vus_session_live_flush(struct vus_session *s)
{
	int err = 0;

	if (!s->attached)
		return 0;
	if (s->closing)
		return -EBUSY;
	err = vus_conn_flush_wait(&s->conn, FLUSH_MS);
	if (!err && s->twin.fd >= 0)
		err = vus_conn_flush_wait(&s->twin, FLUSH_MS);
	vus_session_sync_out(s);
	return err;
}

int vus_session_live_save(struct vus_session *s, struct vus_blob *b)
{
	const uint8_t *in, *tin = NULL;
	size_t in_len, tin_len = 0;
	int err;

	blob_u32(b, s->attached);
	if (!s->attached)
		return b->err;
	err = vus_conn_input_peek(&s->conn, &in, &in_len);
	if (!err && s->twin.fd >= 0)
		err = vus_conn_input_peek(&s->twin, &tin, &tin_len);
	if (err)
		return err;
	blob_u32(b, fd_u32(s->conn.fd));
	blob_u32(b, fd_u32(s->twin.fd));
	blob_u32(b, s->negotiated);
	blob_u32(b, s->client.major);
	blob_u32(b, s->client.minor);
	blob_u32(b, s->client.has_json);
	caps_save(b, &s->client.caps);
	blob_u32(b, (uint32_t)s->layout);
	blob_u32(b, s->client_max_xfer);
	blob_u32(b, s->client_max_fds);
	blob_bytes(b, in, in_len);
	blob_bytes(b, tin, tin_len);
	return b->err;
}

void vus_session_live_cloexec(struct vus_session *s, bool on)
{
	vus_fd_cloexec(s->conn.fd, on);
	vus_fd_cloexec(s->twin.fd, on);
}

/* Watch a socket taken over: as conn_open() does for a new one. */
static int conn_adopt(struct vus_session *s, struct vus_conn *c, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	int err;

	err = vus_conn_init(c, fd, s->lim.max_msg);
	if (err)
		return err;
	c->max_fds = s->lim.max_fds;
	vus_conn_set_out_limit(c, s->lim.out_queue);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		c->fd = -1;
		vus_conn_close(c);
	}
	return err;
}

int vus_session_live_adopt(struct vus_session *s, struct vus_blob_rd *r,
			   const struct vus_session_limits *lim)
{
	const uint8_t *in, *tin;
	size_t in_len, tin_len;
	int fd, tfd, err;
	struct vus_version_msg client;
	uint32_t negotiated, layout, max_xfer, max_fds;

	if (!blob_rd_u32(r))
		return blob_rd_ok(r) ? 0 : -EINVAL;
	fd = u32_fd(blob_rd_u32(r));
	tfd = u32_fd(blob_rd_u32(r));
	negotiated = blob_rd_u32(r);
	memset(&client, 0, sizeof(client));
	client.major = (uint16_t)blob_rd_u32(r);
	client.minor = (uint16_t)blob_rd_u32(r);
	client.has_json = blob_rd_u32(r) != 0;
	caps_load(r, &client.caps);
	layout = blob_rd_u32(r);
	max_xfer = blob_rd_u32(r);
	max_fds = blob_rd_u32(r);
	in = blob_rd_bytes(r, &in_len);
	tin = blob_rd_bytes(r, &tin_len);
	if (!blob_rd_ok(r) || fd < 0 || fd == tfd)
		return -EINVAL;
	err = vus_session_start(s, fd, lim);
	if (err)
		return err;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		err = -errno;
		goto fail;
	}
	if (tfd >= 0) {
		err = conn_adopt(s, &s->twin, tfd);
		if (err)
			goto fail;
	}
	s->negotiated = negotiated != 0;
	s->client = client;
	s->layout = (enum vus_dma_layout)layout;
	s->client_max_xfer = max_xfer;
	s->client_max_fds = max_fds;
	err = vus_conn_input_put(&s->conn, in, in_len);
	if (!err && tfd >= 0)
		err = vus_conn_input_put(&s->twin, tin, tin_len);
	if (err)
		goto fail;
	return 0;

fail:
	vus_session_end(s, "live update: cannot take the session over");
	return err;
}

void vus_session_live_release(struct vus_session *s)
{
	if (!s->attached)
		return;
	/* Unwatched and forgotten, not closed: the sockets are the new
	 * owner's, and the client must see no hang-up. */
	if (s->twin.fd >= 0)
		vus_session_ctl(s, &s->twin, s->twin.fd, EPOLL_CTL_DEL, 0);
	vus_session_ctl(s, &s->conn, s->conn.fd, EPOLL_CTL_DEL, 0);
	s->twin.fd = -1;
	s->conn.fd = -1;
	vus_conn_close(&s->twin);
	vus_conn_close(&s->conn);
	s->conn_out = s->twin_out = false;
	s->negotiated = false;
	memset(&s->client, 0, sizeof(s->client));
	s->layout = VUS_DMA_LAYOUT_SPEC;
	s->client_max_xfer = 0;
	s->client_max_fds = 0;
	__atomic_store_n(&s->attached, false, __ATOMIC_RELEASE);
}
