/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command handlers for the device model: VERSION, GET_INFO, REGION_INFO,
 * REGION_IO_FDS, IRQ_INFO, SET_IRQS, REGION_READ/WRITE, WRITE_MULTI and
 * DEVICE_RESET. DMA and migration handlers live in dma.c and migration.c.
 *
 * Each decodes with the codec (which checks every field against the
 * payload), checks the result against the device, and fills the reply
 * (session/reply.c and dispatch.c for the ownership rules). Errnos follow
 * the failure tables of docs/protocol.md 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec_bulk.h"
#include "dispatch.h"

/* What vus speaks: 0.2 (docs/protocol.md 3.1). */
#define VUS_VERSION_MAJOR 0
#define VUS_VERSION_MINOR 2

/* ---- VERSION (1) ---------------------------------------------------- */

static void version_reply_caps(const struct vus_dev *dev, const struct vus_version_msg *req,
			       struct vus_caps *caps)
{
	vus_caps_defaults(caps);
	caps->present = VUS_CAP_MAX_MSG_FDS | VUS_CAP_MAX_XFER | VUS_CAP_MAX_DMA_MAPS |
			VUS_CAP_PGSIZES;
	/* Always explicit: the defaults differ between peers (docs/protocol.md 8). */
	caps->max_msg_fds = VUS_SERVER_MAX_MSG_FDS;
	caps->max_data_xfer_size = dev->max_xfer;
	caps->max_dma_maps = dev->dma.table.max_maps < VUS_DEFAULT_MAX_DMA_MAPS
			     ? dev->dma.table.max_maps : VUS_DEFAULT_MAX_DMA_MAPS;
	caps->pgsizes = VUS_DEFAULT_PGSIZES;
	if ((req->caps.present & VUS_CAP_WRITE_MULTIPLE) && req->caps.write_multiple) {
		caps->present |= VUS_CAP_WRITE_MULTIPLE;
		caps->write_multiple = true;
	}
	/* The twin socket travels as an fd: the client must take one. */
	if (req->caps.twin_socket && req->caps.max_msg_fds >= 1) {
		caps->present |= VUS_CAP_TWIN_SOCKET;
		caps->twin_socket = true;
		caps->twin_fd_index = 0;
	}
}

/*
 * QEMU receives the reply into its own request's buffer
 * (docs/protocol.md 3.1): if ours would be longer, drop what QEMU can do without, pgsizes
 * (4096 is its default) then max_dma_maps (65535 likewise).
 */
static ssize_t version_encode_fitting(struct vus_reply *r, struct vus_version_msg *rep,
				      uint32_t req_size)
{
	static const uint32_t droppable[] = { VUS_CAP_PGSIZES, VUS_CAP_MAX_DMA_MAPS };
	ssize_t len = vus_version_encode(r->small, sizeof(r->small), rep);
	size_t i;

	for (i = 0; i < sizeof(droppable) / sizeof(droppable[0]); i++) {
		if (len < 0 || VUS_HDR_SIZE + (size_t)len <= req_size)
			break;
		rep->caps.present &= ~droppable[i];
		len = vus_version_encode(r->small, sizeof(r->small), rep);
	}
	return len;
}

int vus_h_version(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_session *s = &dev->sess;
	struct vus_version_msg req, rep;
	ssize_t len;
	int err, peer;

	/* Negotiated once per connection (docs/protocol.md 1.4). A VERSION
	 * marked No_reply cannot negotiate: the client would never learn the
	 * result, nor receive a twin socket's fd. */
	if (s->negotiated || (m->v.hdr.flags & VUS_F_NO_REPLY))
		return -EINVAL;
	err = vus_version_decode(&m->v, &req);
	if (err)
		return err;
	if (req.major != VUS_VERSION_MAJOR)
		return -EINVAL;

	memset(&rep, 0, sizeof(rep));
	rep.major = VUS_VERSION_MAJOR;
	rep.minor = req.minor < VUS_VERSION_MINOR ? req.minor : VUS_VERSION_MINOR;
	rep.has_json = true;
	version_reply_caps(dev, &req, &rep.caps);
	len = version_encode_fitting(r, &rep, m->v.hdr.size);
	if (len < 0)
		return (int)len;

	if (rep.caps.twin_socket) {
		const struct vus_conn_sink sink = {
			.fn = vus_dispatch_sink, .opaque = dev, .head = VUS_REGION_WRITE_HEAD,
		};

		err = vus_session_twin_open(&dev->sess, &peer);
		if (err)
			return err;
		/* Our DMA_READs' answers arrive there (bulk.c). */
		vus_conn_set_sink(&dev->sess.twin, &sink);
		r->fds[0] = peer;
		r->nfds = 1;
	}
	vus_reply_add(r, r->small, (size_t)len);

	s->negotiated = true;
	s->client = req;
	s->client_max_xfer = req.caps.max_data_xfer_size;
	s->client_max_fds = req.caps.max_msg_fds;
	s->layout = dev->dma.layout;
	if (s->layout == VUS_DMA_LAYOUT_AUTO)
		s->layout = vus_version_looks_like_qemu(&req) ? VUS_DMA_LAYOUT_QEMU
							      : VUS_DMA_LAYOUT_SPEC;
	vus_log(dev, VUS_LOG_INFO, "client speaks vfio-user %u.%u, DMA layout %s%s", req.major,
		req.minor, s->layout == VUS_DMA_LAYOUT_QEMU ? "QEMU" : "spec",
		rep.caps.twin_socket ? ", twin socket" : "");
	return 0;
}

/* ---- DEVICE_GET_INFO (4) -------------------------------------------- */

int vus_h_device_info(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_device_info req, out;
	int err = vus_device_info_req_decode(&m->v, &req);

	if (err)
		return err;
	out.argsz = sizeof(out);
	out.flags = VUS_DEVICE_FLAGS_PCI | (dev->reset_cb ? VUS_DEVICE_FLAGS_RESET : 0);
	out.num_regions = dev->nr_regions;
	out.num_irqs = VUS_PCI_NUM_IRQS;
	/* Wire layout == struct layout (proto.h pins it). */
	memcpy(r->small, &out, sizeof(out));
	vus_reply_add(r, r->small, sizeof(out));
	return 0;
}

/* ---- DEVICE_GET_REGION_INFO (5) ------------------------------------- */

int vus_h_region_info(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_region_info req, ri;
	struct vus_region_caps caps;
	struct vus_sparse_area whole;
	const struct vus_region *reg;
	bool mmap = false, fd_allowed = false;
	size_t need;
	uint8_t *buf = r->small;
	ssize_t len;
	int err, fd;

	err = vus_region_info_req_decode(&m->v, &req);
	if (err)
		return err;
	if (req.index >= dev->nr_regions)
		return -EINVAL;
	reg = &dev->regions[req.index];
	memset(&ri, 0, sizeof(ri));
	memset(&caps, 0, sizeof(caps));
	ri.index = req.index;
	if (reg->size) {
		ri.size = reg->size;
		if (reg->flags & VUS_REGION_READ)
			ri.flags |= VUS_REGION_INFO_FLAG_READ;
		if (reg->flags & VUS_REGION_WRITE)
			ri.flags |= VUS_REGION_INFO_FLAG_WRITE;
		/* The fd rides with the reply: only for a client that takes
		 * fds (docs/protocol.md 3.5). */
		mmap = reg->mmap && reg->fd >= 0 && dev->sess.client_max_fds >= 1;
		if (mmap) {
			ri.flags |= VUS_REGION_INFO_FLAG_MMAP;
			ri.offset = reg->fd_offset;
			/* Always a sparse cap, whole region if none given,
			 * as libvfio-user does (docs/protocol.md 3.5). */
			caps.sparse = true;
			whole.offset = 0;
			whole.size = reg->size;
			caps.nr_areas = reg->nr_areas ? reg->nr_areas : 1;
			caps.areas = reg->nr_areas ? reg->areas : &whole;
		}
		if (reg->has_type) {
			caps.has_type = true;
			caps.type = reg->type;
			caps.subtype = reg->subtype;
		}
		caps.msix_mappable = reg->msix_mappable;
	}

	need = sizeof(ri) + sizeof(struct vus_cap_type) + sizeof(struct vus_cap_hdr) +
	       (caps.sparse ? sizeof(struct vus_cap_sparse_mmap) +
			      (size_t)caps.nr_areas * sizeof(struct vus_sparse_area) : 0);
	if (need > sizeof(r->small)) {
		r->heap = malloc(need);
		if (!r->heap)
			return -ENOMEM;
		buf = r->heap;
	}
	len = vus_region_info_reply_encode(buf, need, req.argsz, &ri, &caps, &fd_allowed);
	if (len < 0)
		return (int)len;
	if (mmap && fd_allowed) {
		/* The reply's own copy: dispatch closes it after sending. */
		fd = fcntl(reg->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		r->fds[0] = fd;
		r->nfds = 1;
	}
	vus_reply_add(r, buf, (size_t)len);
	return 0;
}

/* ---- DEVICE_GET_REGION_IO_FDS (6) ----------------------------------- */

int vus_h_region_io_fds(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_region_io_fds req, out;
	int err = vus_region_io_fds_req_decode(&m->v, &req);

	if (err)
		return err;
	if (req.index >= dev->nr_regions)
		return -EINVAL;
	/* vus has no ioeventfds: an empty list (docs/protocol.md 3.6). */
	memset(&out, 0, sizeof(out));
	out.argsz = sizeof(out);
	out.index = req.index;
	memcpy(r->small, &out, sizeof(out));
	vus_reply_add(r, r->small, sizeof(out));
	return 0;
}

/* ---- DEVICE_GET_IRQ_INFO (7) / DEVICE_SET_IRQS (8) ------------------ */

int vus_h_irq_info(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_irq_info req, out;
	int err = vus_irq_info_req_decode(&m->v, &req);

	if (err)
		return err;
	if (req.index >= VUS_PCI_NUM_IRQS)
		return -EINVAL;
	out.argsz = sizeof(out);
	out.flags = vus_irq_info_flags(dev, req.index);
	out.index = req.index;
	out.count = dev->irqs[req.index].count;
	memcpy(r->small, &out, sizeof(out));
	vus_reply_add(r, r->small, sizeof(out));
	return 0;
}

int vus_h_set_irqs(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_irq_set set;
	const uint8_t *bools = NULL;
	int err = vus_irq_set_decode(&m->v, &set, &bools);

	if (err)
		return err;
	return vus_irq_set(dev, &set, m->fds, m->v.nfds, bools);
}

/* ---- REGION_READ (9) / REGION_WRITE (10) ---------------------------- */

int vus_h_region_read(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_region_access ra;
	const size_t echo = sizeof(ra);
	const uint8_t *none;
	uint8_t *data;
	void *mem;
	int err;

	err = vus_region_access_decode(&m->v, false, dev->max_xfer, &ra, &none);
	if (err)
		return err;
	memcpy(r->small, &ra, echo);
	/* Memory the device backs the region with is sent as it is: the
	 * reply's second iovec points into it, and only what the socket does
	 * not take at once is copied, into the output queue
	 * (docs/performance.md "Zero-copy bulk transfers"). Small reads are
	 * copied after the echo anyway: vus_region_access() below makes the
	 * same checks, so they skip this one. */
	if (ra.count > sizeof(r->small) - echo) {
		err = vus_region_access_direct(dev, ra.region, ra.offset, ra.count, false, &mem);
		if (err)
			return err;
		if (mem) {
			vus_reply_add(r, r->small, echo);
			vus_reply_add(r, mem, ra.count);
			return 0;
		}
	}
	/* Small reads land right after the echo: one iovec. */
	if (ra.count <= sizeof(r->small) - echo) {
		data = r->small + echo;
		memset(data, 0, ra.count);
	} else {
		/* Zeroed: a callback that returns 0 without filling every byte
		 * must not send heap contents to the client (issue 12 hole 8). */
		r->heap = calloc(1, ra.count);
		if (!r->heap)
			return -ENOMEM;
		data = r->heap;
	}
	err = vus_region_access(dev, ra.region, ra.offset, data, ra.count, false);
	if (err)
		return err;
	if (data == r->small + echo) {
		vus_reply_add(r, r->small, echo + ra.count);
	} else {
		vus_reply_add(r, r->small, echo);
		vus_reply_add(r, data, ra.count);
	}
	return 0;
}

int vus_h_region_write(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_region_access ra;
	const uint8_t *data;
	int err;

	if (m->bulk) {
		/* The data went straight into the region's memory (bulk.c
		 * checked all this before it did); only the answer is left. */
		err = vus_region_write_head_decode(&m->v, m->bulk, dev->max_xfer, &ra);
		if (err)
			return err;
	} else {
		err = vus_region_access_decode(&m->v, true, dev->max_xfer, &ra, &data);
		if (err)
			return err;
		/* vus_region_access() takes one buffer for both directions; on
		 * a write it only reads from it. */
		err = vus_region_access(dev, ra.region, ra.offset, (void *)data, ra.count, true);
		if (err)
			return err;
	}
	memcpy(r->small, &ra, sizeof(ra));
	vus_reply_add(r, r->small, sizeof(ra));
	return 0;
}

/* ---- REGION_WRITE_MULTI (15) ---------------------------------------- */

int vus_h_write_multi(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_write_multi_entry e;
	uint64_t n, i;
	int err;

	err = vus_write_multi_decode(&m->v, VUS_WRITE_MULTI_MAX, &n);
	if (err)
		return err;
	/* In order; the first failure stops the batch (docs/protocol.md 3.11). */
	for (i = 0; i < n; i++) {
		vus_write_multi_entry(&m->v, i, &e);
		err = vus_region_access(dev, e.region, e.offset, e.data, e.count, true);
		if (err)
			return err;
	}
	memcpy(r->small, &n, sizeof(n));
	vus_reply_add(r, r->small, sizeof(n));
	return 0;
}

/* ---- DEVICE_RESET (13) ---------------------------------------------- */

int vus_h_device_reset(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	int err = vus_device_reset_decode(&m->v);

	if (err)
		return err;
	/* No RESET flag in GET_INFO: like kernel vfio without reset_works. */
	if (!dev->reset_cb)
		return -EINVAL;
	/* Config space to power-on values: the Command register cleared
	 * (decoding off, no DMA), MSI/MSI-X off as QEMU's emulation is after
	 * its reset, the INTx line and pending interrupts dropped. */
	vus_config_reset(dev);
	vus_mig_reset(dev);
	return dev->reset_cb(dev, dev->reset_opaque, VUS_RESET_CLIENT);
}
