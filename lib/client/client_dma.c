/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client DMA: the table of "guest memory" windows, and serving the
 * server's DMA_READ/DMA_WRITE requests from those windows in the spec's
 * or QEMU's layout (docs/protocol.md 4.1). Below the reply wait loop
 * (client_conn.c), which serves these requests while it waits; the
 * DMA_MAP/DMA_UNMAP commands that fill the table are client_dma_map.c.
 */
#define _GNU_SOURCE /* memfd_create, reallocarray */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vus/client.h>

#include "client_priv.h"

/* ---- the window table ----------------------------------------------- */

static struct vus_client_map *map_find(struct vus_client *c, uint64_t addr, uint64_t count)
{
	uint32_t i;

	for (i = 0; i < c->nmaps; i++) {
		struct vus_client_map *mp = &c->maps[i];

		if (addr >= mp->iova && addr - mp->iova < mp->size &&
		    count <= mp->size - (addr - mp->iova))
			return mp;
	}
	return NULL;
}

int vus_client_map_add(struct vus_client *c, const struct vus_client_map *mp)
{
	if (c->nmaps == c->maps_cap) {
		uint32_t cap = c->maps_cap ? c->maps_cap * 2 : 8;
		struct vus_client_map *n = reallocarray(c->maps, cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->maps = n;
		c->maps_cap = cap;
	}
	c->maps[c->nmaps++] = *mp;
	return 0;
}

void vus_client_map_del(struct vus_client *c, uint32_t i)
{
	munmap(c->maps[i].host, c->maps[i].size);
	c->maps[i] = c->maps[--c->nmaps];
}

void vus_client_maps_free_all(struct vus_client *c)
{
	while (c->nmaps)
		vus_client_map_del(c, c->nmaps - 1);
}

/* ---- serving DMA_READ / DMA_WRITE ------------------------------------ */

/* A reply to a server request, built by the handlers below. */
struct dma_answer {
	uint8_t fixed[16];
	struct iovec iov[3];
	int iovcnt;
};

static const uint8_t zero_pad[16];

static int dma_read(struct vus_client *c, const struct vus_rx_msg *m, struct dma_answer *a)
{
	enum vus_dma_layout lay = c->layout;
	struct vus_client_map *mp;
	const uint8_t *none;
	struct vus_dma_rw rw;
	size_t off, len;
	int r;

	r = vus_dma_rw_req_decode(&m->v, lay, false, c->max_xfer, &rw, &none);
	if (r < 0)
		return r;
	mp = map_find(c, rw.addr, rw.count);
	if (!mp)
		return -EFAULT;
	if (!(mp->prot & VUS_DMA_MAP_FLAG_READ))
		return -EACCES;
	off = vus_dma_rw_data_off(lay);
	len = vus_dma_rw_payload_len(lay, rw.count);
	vus_dma_rw_encode(a->fixed, lay, rw.addr, rw.count);
	a->iov[0] = (struct iovec){ a->fixed, off };
	a->iov[1] = (struct iovec){ mp->host + (rw.addr - mp->iova), rw.count };
	/* QEMU's layout ends with 4 pad bytes (docs/protocol.md 4.1). */
	a->iov[2] = (struct iovec){ (void *)zero_pad, len - off - rw.count };
	a->iovcnt = 3;
	return 0;
}

static int dma_write(struct vus_client *c, const struct vus_rx_msg *m, struct dma_answer *a)
{
	enum vus_dma_layout lay = c->layout;
	struct vus_client_map *mp;
	const uint8_t *data;
	struct vus_dma_rw rw;
	int r;

	r = vus_dma_rw_req_decode(&m->v, lay, true, c->max_xfer, &rw, &data);
	if (r < 0)
		return r;
	mp = map_find(c, rw.addr, rw.count);
	if (!mp)
		return -EFAULT;
	if (!(mp->prot & VUS_DMA_MAP_FLAG_WRITE))
		return -EACCES;
	memcpy(mp->host + (rw.addr - mp->iova), data, rw.count);
	/* Spec: the reply echoes address and count; QEMU's is a bare header. */
	if (lay != VUS_DMA_LAYOUT_QEMU) {
		vus_dma_rw_encode(a->fixed, lay, rw.addr, rw.count);
		a->iov[0] = (struct iovec){ a->fixed, vus_dma_rw_payload_len(lay, 0) };
		a->iovcnt = 1;
	}
	return 0;
}

static int serve_one(struct vus_client *c, const struct vus_rx_msg *m, struct dma_answer *a)
{
	/* Oversized body skipped by the transport / fds truncated. */
	if (m->status == -E2BIG)
		return -E2BIG;
	if (m->status != 0 || m->v.nfds)
		return -EINVAL;
	switch (m->v.hdr.cmd) {
	case VUS_CMD_DMA_READ:
		c->dma_requests++;
		return dma_read(c, m, a);
	case VUS_CMD_DMA_WRITE:
		c->dma_requests++;
		return dma_write(c, m, a);
	default:
		/* As QEMU answers other server requests (docs/protocol.md 8.1
		 * "Error numbers"). */
		return -ENOSYS;
	}
}

int vus_client_serve(struct vus_client *c, struct vus_conn *conn, struct vus_rx_msg *m)
{
	struct dma_answer a = { .iovcnt = 0 };
	int r = serve_one(c, m, &a);

	vus_rx_msg_close_fds(m);
	/* Spec: never answer a No_reply command, not even with an error. */
	if (m->v.hdr.flags & VUS_F_NO_REPLY)
		return 0;
	if (r < 0)
		return vus_conn_send_error(conn, &m->v.hdr, -r);
	return vus_conn_send_reply(conn, &m->v.hdr, a.iovcnt ? a.iov : NULL, a.iovcnt, NULL, 0);
}
