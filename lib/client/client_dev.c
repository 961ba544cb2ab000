/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client device commands: GET_INFO, GET_REGION_INFO (+ mmap of its areas),
 * GET_IRQ_INFO, SET_IRQS, REGION_READ/WRITE(_MULTI), DEVICE_RESET.
 *
 * Requests are the proto.h structures themselves: they are the wire
 * layout (sizes and offsets pinned there), in host byte order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vus/client.h>

#include "client_priv.h"
#include "codec_bulk.h"

int vus_client_device_info(struct vus_client *c, struct vus_device_info *out)
{
	struct vus_device_info req = { .argsz = sizeof(req) };
	struct iovec iov = { &req, sizeof(req) };
	struct vus_rx_msg *m;
	int r;

	if (!c || !out)
		return -EINVAL;
	r = vus_client_call(c, VUS_CMD_DEVICE_GET_INFO, &iov, 1, NULL, 0, 0, &m);
	if (r < 0)
		return r;
	/* The codec tolerates the kernel's longer struct; vus and QEMU use
	 * exactly 16 bytes (docs/protocol.md 8.1 "QEMU's device
	 * queries"). */
	r = vus_device_info_decode(&m->v, out);
	return r < 0 || m->v.len != sizeof(*out) ? -EPROTO : 0;
}

/* One GET_REGION_INFO round trip with the given argsz. */
static int region_info_once(struct vus_client *c, uint32_t index, uint32_t argsz,
			    struct vus_client_region *out)
{
	struct vus_region_info req = { .argsz = argsz, .index = index };
	struct iovec iov = { &req, sizeof(req) };
	struct vus_rx_msg *m;
	bool short_reply;
	int r;

	r = vus_client_call(c, VUS_CMD_DEVICE_GET_REGION_INFO, &iov, 1, NULL, 0, 1, &m);
	if (r < 0)
		return r;
	memset(&out->caps, 0, sizeof(out->caps));
	r = vus_region_info_decode(&m->v, &out->info, &out->caps, out->areas,
				   VUS_CLIENT_MAX_AREAS);
	if (r < 0 || out->info.index != index) {
		r = r == -ENOSPC ? -ENOSPC : -EPROTO;
		goto out;
	}
	/* Whole reply when it fits our argsz, else the bare 32-byte struct
	 * (spec "Message sizes"). */
	short_reply = out->info.argsz > argsz;
	if (m->v.len != (short_reply ? sizeof(out->info) : out->info.argsz)) {
		r = -EPROTO;
		goto out;
	}
	/* A short reply is only a size hint: the caller asks again, and an fd
	 * that came with it is closed below, as QEMU does (docs/protocol.md
	 * 8.1 "QEMU's device queries"). A whole one carries the fd with MMAP and only then
	 * (spec GET_REGION_INFO). */
	if (!short_reply &&
	    m->v.nfds != ((out->info.flags & VUS_REGION_INFO_FLAG_MMAP) ? 1u : 0u)) {
		r = -EPROTO;
		goto out;
	}
	if (!short_reply && m->v.nfds) {
		out->fd = m->fds[0];
		m->fds[0] = -1;
	}
	r = 0;
out:
	vus_rx_msg_close_fds(m);
	return r;
}

int vus_client_region_info(struct vus_client *c, uint32_t index, struct vus_client_region *out)
{
	uint32_t argsz = sizeof(struct vus_region_info);
	int r;

	if (!c || !out)
		return -EINVAL;
	out->fd = -1;
	r = region_info_once(c, index, argsz, out);
	if (r < 0 || out->info.argsz <= argsz)
		return r;
	/* Like QEMU: ask again with what the server says it needs. */
	if (out->info.argsz > VUS_CLIENT_REGION_ARGSZ_MAX)
		return -EPROTO;
	argsz = out->info.argsz;
	r = region_info_once(c, index, argsz, out);
	if (r < 0)
		return r;
	/* Short again: the server changed its mind between two answers. */
	return out->info.argsz > argsz ? -EPROTO : 0;
}

int vus_client_region_mmap(const struct vus_client_region *r, uint32_t area, void **addr,
			   size_t *len)
{
	uint64_t off, size;
	int prot = 0;
	void *p;

	if (!r || !addr || !len || r->fd < 0 || !(r->info.flags & VUS_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	off = r->info.offset;
	size = r->info.size;
	if (r->caps.sparse) {
		if (area >= r->caps.nr_areas || area >= VUS_CLIENT_MAX_AREAS)
			return -EINVAL;
		const struct vus_sparse_area *a = &r->areas[area];

		/* Areas lie inside the region (spec sparse mmap cap). */
		if (a->offset > size || a->size > size - a->offset ||
		    __builtin_add_overflow(off, a->offset, &off))
			return -EINVAL;
		size = a->size;
	} else if (area != 0) {
		return -EINVAL;
	}
	if (size == 0 || size > SIZE_MAX || off > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (r->info.flags & VUS_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (r->info.flags & VUS_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, (size_t)size, prot, MAP_SHARED, r->fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	*len = (size_t)size;
	return 0;
}

int vus_client_irq_info(struct vus_client *c, uint32_t index, struct vus_irq_info *out)
{
	struct vus_irq_info req = { .argsz = sizeof(req), .index = index };
	struct iovec iov = { &req, sizeof(req) };
	struct vus_rx_msg *m;
	int r;

	if (!c || !out)
		return -EINVAL;
	r = vus_client_call(c, VUS_CMD_DEVICE_GET_IRQ_INFO, &iov, 1, NULL, 0, 0, &m);
	if (r < 0)
		return r;
	r = vus_irq_info_decode(&m->v, out);
	if (r < 0 || m->v.len != sizeof(*out) || out->index != index)
		return -EPROTO;
	return 0;
}

/* One SET_IRQS message for [start, start + count). */
static int set_irqs_one(struct vus_client *c, uint32_t index, uint32_t flags, uint32_t start,
			uint32_t count, const int *fds, unsigned nfds, const uint8_t *bools)
{
	struct vus_irq_set req = {
		.argsz = sizeof(req),
		.flags = flags,
		.index = index,
		.start = start,
		.count = count,
	};
	struct iovec iov[2] = { { &req, sizeof(req) } };
	int iovcnt = 1;

	if (bools) {
		req.argsz += count;
		iov[1].iov_base = (void *)bools;
		iov[1].iov_len = count;
		iovcnt = 2;
	}
	return vus_client_call_empty(c, VUS_CMD_DEVICE_SET_IRQS, iov, iovcnt, fds, nfds);
}

/*
 * DATA_EVENTFD: like QEMU (docs/protocol.md 8.1 "QEMU's SET_IRQS"), argsz 20 with no inline
 * fd array; runs of valid fds go in chunks of at most the server's
 * max_msg_fds, runs of -1 go as one fd-less message (de-assign).
 */
static int set_irqs_eventfds(struct vus_client *c, uint32_t index, uint32_t flags,
			     uint32_t start, uint32_t count, const int *fds)
{
	uint32_t i = 0, n;
	int r;

	while (i < count) {
		n = 0;
		if (fds[i] < 0) {
			while (i + n < count && fds[i + n] < 0)
				n++;
			r = set_irqs_one(c, index, flags, start + i, n, NULL, 0, NULL);
		} else {
			if (c->srv_max_fds == 0)
				return -ENOTSUP;
			while (i + n < count && n < c->srv_max_fds && fds[i + n] >= 0)
				n++;
			r = set_irqs_one(c, index, flags, start + i, n, fds + i, n, NULL);
		}
		if (r < 0)
			return r;
		i += n;
	}
	return 0;
}

int vus_client_set_irqs(struct vus_client *c, uint32_t index, uint32_t flags, uint32_t start,
			uint32_t count, const int *fds, const uint8_t *bools)
{
	uint32_t data = flags & VUS_IRQ_SET_DATA_MASK;

	if (!c || __builtin_add_overflow(start, count, &(uint32_t){ 0 }))
		return -EINVAL;
	if (data == VUS_IRQ_SET_DATA_EVENTFD && fds && count)
		return set_irqs_eventfds(c, index, flags, start, count, fds);
	if (data == VUS_IRQ_SET_DATA_BOOL) {
		if (!bools && count)
			return -EINVAL;
		if (count > UINT32_MAX - sizeof(struct vus_irq_set))
			return -EINVAL;
		return set_irqs_one(c, index, flags, start, count, NULL, 0, bools);
	}
	return set_irqs_one(c, index, flags, start, count, NULL, 0, NULL);
}

/* ---- region access -------------------------------------------------- */

/* A large REGION_READ reply goes straight into the caller's buffer
 * (transport.h vus_conn_sink): the reply to this request, of the size
 * asked, echoing its access. Anything else takes the buffered path. */
struct read_sink {
	const struct vus_region_access *req;
	uint16_t id;
	uint8_t *buf;
};

static int read_sink(void *opaque, const struct vus_hdr *h, const uint8_t *head,
		     struct vus_sink_dst *d)
{
	const struct read_sink *rs = opaque;
	struct vus_region_access echo;

	memcpy(&echo, head, sizeof(echo));
	if (h->cmd != VUS_CMD_REGION_READ || !vus_hdr_is_reply(h) || (h->flags & VUS_F_ERROR) ||
	    h->id != rs->id || echo.offset != rs->req->offset || echo.region != rs->req->region ||
	    echo.count != rs->req->count ||
	    h->size != VUS_HDR_SIZE + sizeof(echo) + (uint64_t)rs->req->count)
		return 0;
	*d = (struct vus_sink_dst){ .base = rs->buf, .skip = sizeof(echo), .len = rs->req->count };
	return 1;
}

/* Replies up to this size come through the buffer: one copy of a few KiB
 * costs less than a second receive. */
#define READ_SINK_MIN 4096u

static int region_read_chunk(struct vus_client *c, uint32_t index, uint64_t offset,
			     uint8_t *buf, uint32_t count)
{
	struct vus_region_access req = { .offset = offset, .region = index, .count = count };
	struct iovec iov = { &req, sizeof(req) };
	struct read_sink rs; /* the sink's, during the call */
	const uint8_t *data;
	struct vus_rx_msg *m;
	uint32_t got;
	int r;

	/* Set up only for reads large enough to use it: a small read's
	 * reply is copied, and its set-up would cost every call. */
	if (count > READ_SINK_MIN) {
		const struct vus_conn_sink sink = {
			.fn = read_sink, .opaque = &rs, .head = sizeof(req), .expect = true,
		};

		rs = (struct read_sink){ .req = &req, .id = c->next_id, .buf = buf };
		vus_conn_set_sink(&c->conn, &sink);
	}
	r = vus_client_call(c, VUS_CMD_REGION_READ, &iov, 1, NULL, 0, 0, &m);
	if (count > READ_SINK_MIN)
		vus_conn_set_sink(&c->conn, NULL);
	if (r < 0)
		return r;
	if (m->bulk)
		r = vus_region_read_reply_head_decode(&m->v, m->bulk, &req, &got);
	else
		r = vus_region_access_reply_decode(&m->v, false, &req, &data, &got);
	if (r < 0)
		return -EPROTO;
	/* The server may return fewer bytes (docs/protocol.md 8.1
	 * "QEMU's region access"). */
	if (got != count)
		return -EIO;
	if (got && !m->bulk)
		memcpy(buf, data, got);
	return 0;
}

int vus_client_region_read(struct vus_client *c, uint32_t index, uint64_t offset, void *buf,
			   size_t count)
{
	uint8_t *p = buf;
	size_t done = 0;
	int r;

	if (!c || (!buf && count) || __builtin_add_overflow(offset, count, &(uint64_t){ 0 }))
		return -EINVAL;
	if (count == 0)
		return region_read_chunk(c, index, offset, p, 0);
	while (done < count) {
		uint32_t n = count - done > c->srv_max_xfer ? c->srv_max_xfer :
							       (uint32_t)(count - done);

		r = region_read_chunk(c, index, offset + done, p + done, n);
		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

static int region_write_chunk(struct vus_client *c, uint32_t index, uint64_t offset,
			      const uint8_t *buf, uint32_t count, bool posted)
{
	struct vus_region_access req = { .offset = offset, .region = index, .count = count };
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)buf, count } };
	const uint8_t *data;
	struct vus_rx_msg *m;
	uint32_t got;
	int r;

	if (posted) {
		/* Spec: No_reply commands get no answer, not even an error. */
		return vus_client_send_cmd(c, VUS_CMD_REGION_WRITE, VUS_F_NO_REPLY, iov, 2, NULL,
					   0, NULL);
	}
	r = vus_client_call(c, VUS_CMD_REGION_WRITE, iov, 2, NULL, 0, 0, &m);
	if (r < 0)
		return r;
	r = vus_region_access_reply_decode(&m->v, true, &req, &data, &got);
	return r < 0 ? -EPROTO : 0;
}

static int region_write(struct vus_client *c, uint32_t index, uint64_t offset, const void *buf,
			size_t count, bool posted)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int r;

	if (!c || (!buf && count) || __builtin_add_overflow(offset, count, &(uint64_t){ 0 }))
		return -EINVAL;
	if (count == 0)
		return region_write_chunk(c, index, offset, p, 0, posted);
	while (done < count) {
		uint32_t n = count - done > c->srv_max_xfer ? c->srv_max_xfer :
							       (uint32_t)(count - done);

		r = region_write_chunk(c, index, offset + done, p + done, n, posted);
		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

int vus_client_region_write(struct vus_client *c, uint32_t index, uint64_t offset,
			    const void *buf, size_t count)
{
	return region_write(c, index, offset, buf, count, false);
}

int vus_client_region_write_posted(struct vus_client *c, uint32_t index, uint64_t offset,
				   const void *buf, size_t count)
{
	return region_write(c, index, offset, buf, count, true);
}

int vus_client_region_write_multi(struct vus_client *c, const struct vus_write_multi_entry *e,
				  uint32_t n)
{
	uint64_t wr_cnt = n;
	struct iovec iov[2] = {
		{ &wr_cnt, sizeof(wr_cnt) },
		{ (void *)e, (size_t)n * sizeof(*e) },
	};

	if (!c || !e || n == 0 || n > VUS_WRITE_MULTI_MAX)
		return -EINVAL;
	/* Only when the server said "write_multiple": true (spec VERSION). */
	if (!c->srv_write_multiple)
		return -ENOTSUP;
	/* QEMU always posts it (docs/protocol.md 3.11). */
	return vus_client_send_cmd(c, VUS_CMD_REGION_WRITE_MULTI, VUS_F_NO_REPLY, iov, 2, NULL, 0,
				   NULL);
}

int vus_client_reset(struct vus_client *c)
{
	if (!c)
		return -EINVAL;
	/* No payload either way (spec DEVICE_RESET). */
	return vus_client_call_empty(c, VUS_CMD_DEVICE_RESET, NULL, 0, NULL, 0);
}
