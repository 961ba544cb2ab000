/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration v2: DEVICE_FEATURE (features 1, 2, 6, 7, 8), MIG_DATA_READ and
 * MIG_DATA_WRITE, and the device-state walk (docs/protocol.md 3.12,
 * 3.13 and 5, errnos included).
 *
 * Migration does not restrict other commands, like the kernel's vfio-pci
 * (libvfio-user refuses most commands in STOP/STOP_COPY).
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "codec_bulk.h"
#include "dev_priv.h"
#include "dma_dirty.h"
#include "mig_stream.h"
#include "migration_path.h"

/*
 * Largest DMA_LOGGING_REPORT bitmap built for one request: QEMU's
 * migration.max_bitmap_size (docs/protocol.md 6). A range that needs more
 * is refused with E2BIG, as an oversized message is; it bounds what a
 * client can make us allocate for a huge fd-less window.
 */
#define VUS_MIG_MAX_BITMAP VUS_DEFAULT_DIRTY_LOG_MAX

/* The smallest dirty-log page: the host's page, below which a pointer
 * handed out cannot be tracked any finer anyway. */
#define VUS_MIG_MIN_LOG_PAGE 4096u

#define FEATURE_GET   VUS_DEVICE_FEATURE_GET
#define FEATURE_SET   VUS_DEVICE_FEATURE_SET
#define FEATURE_PROBE VUS_DEVICE_FEATURE_PROBE

static const char *state_name(enum vus_mig_state s)
{
	static const char *const names[VUS_MIG_STATE_NR] = {
		"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P", "PRE_COPY",
		"PRE_COPY_P2P",
	};

	return (unsigned)s < VUS_MIG_STATE_NR ? names[s] : "?";
}

int vus_dev_set_migration(struct vus_dev *dev, const struct vus_migration_ops *ops, void *opaque)
{
	/* STOP_COPY is mandatory for a migratable device; P2P (the spec says
	 * vfio-user does not use it) is offered only by a device that asks. */
	if (!ops || !ops->transition || !ops->save || !ops->load)
		return -EINVAL;
	if (!(ops->flags & VUS_MIGRATION_STOP_COPY) ||
	    (ops->flags & ~(VUS_MIGRATION_STOP_COPY | VUS_MIGRATION_PRE_COPY |
			    VUS_MIGRATION_P2P | VUS_MIGRATION_FRAMED)))
		return -EINVAL;
	dev->mig.ops = *ops;
	dev->mig.opaque = opaque;
	dev->mig.enabled = true;
	dev->mig.state = VUS_MIG_STATE_RUNNING;
	dev->mig_reset = vus_mig_reset;
	return 0;
}

enum vus_mig_state vus_dev_mig_state(const struct vus_dev *dev)
{
	/* A device without migration is simply running (spec: RUNNING is
	 * the initial state). */
	return dev->mig.enabled ? dev->mig.state : VUS_MIG_STATE_RUNNING;
}

static void logging_stop(struct vus_dev *dev)
{
	vus_dma_dirty_stop(&dev->dma.table);
	dev->mig.logging = false;
	dev->mig.log_pgsize = 0;
}

static bool framed(const struct vus_dev *dev)
{
	return dev->mig.ops.flags & VUS_MIGRATION_FRAMED;
}

static bool saving_state(enum vus_mig_state s)
{
	return s == VUS_MIG_STATE_PRE_COPY || s == VUS_MIG_STATE_PRE_COPY_P2P ||
	       s == VUS_MIG_STATE_STOP_COPY;
}

/*
 * Stopped states: the device must not generate interrupts or DMA or change
 * its state (UAPI "STOP"). RUNNING_P2P only stops peer-to-peer DMA, which
 * vus has none of; ERROR keeps whatever it had.
 */
static bool stopped_state(enum vus_mig_state s)
{
	return s == VUS_MIG_STATE_STOP || s == VUS_MIG_STATE_STOP_COPY ||
	       s == VUS_MIG_STATE_RESUMING;
}

/* The library's half of stopping: DMA and interrupts held (docs/migration.md). */
static void quiesce(struct vus_dev *dev)
{
	if (dev->mig.quiesced)
		return;
	vus_irq_hold(dev, true);
	vus_dma_quiesce(dev);
	dev->mig.quiesced = true;
}

static void unquiesce(struct vus_dev *dev)
{
	if (!dev->mig.quiesced)
		return;
	vus_dma_unquiesce(dev);
	vus_irq_hold(dev, false);
	dev->mig.quiesced = false;
}

/*
 * Back to RUNNING outside a SET (reset, FLR, disconnect): the device hears
 * one transition (from, RUNNING) -- not necessarily a direct arc -- so
 * whatever it parked on STOP runs again and a save or load in progress is
 * dropped. Reset recovers from anything, ERROR included (spec), so the
 * state is RUNNING whatever the callback says.
 */
static void back_to_running(struct vus_dev *dev, const char *why)
{
	enum vus_mig_state from = dev->mig.state;
	int rc;

	if (!dev->mig.enabled || from == VUS_MIG_STATE_RUNNING)
		return;
	vus_dma_unquiesce(dev); /* the device may restart DMA in its callback */
	rc = dev->mig.ops.transition(dev, dev->mig.opaque, from, VUS_MIG_STATE_RUNNING);
	if (rc < 0)
		vus_log(dev, VUS_LOG_WARN, "migration %s -> RUNNING (%s) failed (%d); RUNNING "
			"anyway", state_name(from), why, rc);
	dev->mig.state = VUS_MIG_STATE_RUNNING;
	vus_mig_stream_end(dev);
	unquiesce(dev);
}

void vus_mig_free(struct vus_dev *dev)
{
	vus_mig_stream_end(dev);
}

void vus_mig_reset(struct vus_dev *dev)
{
	back_to_running(dev, "reset");
	logging_stop(dev);
}

void vus_mig_session_end(struct vus_dev *dev)
{
	/* Like closing a kernel VFIO device: the next client meets RUNNING. */
	back_to_running(dev, "client gone");
	logging_stop(dev);
}

/* ---- DEVICE_FEATURE ------------------------------------------------- */

/* Operations each feature supports; 0 = unknown feature (UAPI subset the
 * spec lists for vfio-user). */
static uint32_t feature_ops(uint32_t feature)
{
	switch (feature) {
	case VUS_FEATURE_MIGRATION:
		return FEATURE_GET;
	case VUS_FEATURE_MIG_DEVICE_STATE:
		return FEATURE_GET | FEATURE_SET;
	case VUS_FEATURE_DMA_LOGGING_START:
	case VUS_FEATURE_DMA_LOGGING_STOP:
		return FEATURE_SET;
	case VUS_FEATURE_DMA_LOGGING_REPORT:
		return FEATURE_GET;
	default:
		return 0;
	}
}

/* Reply payload: {argsz = 8 + len, the request's flags} then data. */
static void feature_reply(struct vus_reply *r, uint32_t flags, const void *data, size_t len)
{
	struct vus_device_feature head = {
		.argsz = (uint32_t)(sizeof(head) + len),
		.flags = flags,
	};

	memcpy(r->small, &head, sizeof(head));
	vus_reply_add(r, r->small, sizeof(head));
	if (len)
		vus_reply_add(r, data, len);
}

/* A small GET answer, copied into the reply; argsz must have room for it. */
static int feature_get_small(struct vus_reply *r, const struct vus_device_feature *f,
			     const void *data, size_t len)
{
	uint8_t *dst = r->small + sizeof(struct vus_device_feature);

	if (f->argsz < sizeof(struct vus_device_feature) + len)
		return -EINVAL;
	memcpy(dst, data, len);
	feature_reply(r, f->flags, dst, len);
	return 0;
}

static int arc(void *ctx, enum vus_mig_state from, enum vus_mig_state to)
{
	struct vus_dev *dev = ctx;
	bool device_first = to == VUS_MIG_STATE_STOP && !stopped_state(from);
	int rc;

	/* Into STOP_COPY or RESUMING the library quiesces first, so the
	 * device's callback (and what it saves) sees every transfer
	 * finished. Into STOP from a running state the device goes first:
	 * it parks its own workers there, and a worker in the middle of a
	 * command still needs DMA to finish it (nvme-emu drains its queue
	 * pass that way); the library quiesces right after, before the arc
	 * completes. Out of a stopped state, DMA is allowed before the
	 * callback restarts the device and interrupts held meanwhile go out
	 * after it (docs/migration.md "Stopped means stopped"). */
	if (stopped_state(to) && !device_first)
		quiesce(dev);
	else
		vus_dma_unquiesce(dev);
	/* The commit point: a framed stream is checked whole, then loaded,
	 * before the device commits (mig_stream.h). */
	rc = 0;
	if (framed(dev) && from == VUS_MIG_STATE_RESUMING)
		rc = vus_mig_stream_commit(dev);
	if (rc == 0)
		rc = dev->mig.ops.transition(dev, dev->mig.opaque, from, to);
	if (device_first)
		quiesce(dev); /* whatever the device's transition returned */
	if (rc == 0 && framed(dev) && from == VUS_MIG_STATE_RESUMING)
		vus_mig_stream_loaded(dev);
	if (rc == 0 && framed(dev)) {
		if (saving_state(to) && !saving_state(from))
			rc = vus_mig_stream_save_begin(dev);
		else if (to == VUS_MIG_STATE_RESUMING)
			rc = vus_mig_stream_load_begin(dev);
		else if (!saving_state(to))
			vus_mig_stream_end(dev);
	}
	if (rc < 0) {
		/* The device is in ERROR now: keep it quiet, even if this arc
		 * had already let DMA go again. */
		vus_irq_hold(dev, true);
		vus_dma_quiesce(dev);
		dev->mig.quiesced = true;
	}
	else if (!stopped_state(to))
		unquiesce(dev);
	if (rc < 0)
		vus_log(dev, VUS_LOG_WARN, "migration %s -> %s failed (%d)", state_name(from),
			state_name(to), rc);
	else
		vus_log(dev, VUS_LOG_DEBUG, "migration %s -> %s", state_name(from), state_name(to));
	return rc < 0 ? rc : 0;
}

int vus_mig_walk_local(struct vus_dev *dev, enum vus_mig_state to)
{
	enum vus_mig_state path[VUS_MIG_STATE_NR];
	int rc;

	if (vus_mig_path(dev->mig.state, to, dev->mig.ops.flags, path) < 0)
		return -EINVAL;
	rc = vus_mig_walk(&dev->mig.state, to, dev->mig.ops.flags, arc, dev);
	if (rc)
		dev->mig.state = VUS_MIG_STATE_ERROR;
	return rc;
}

static int set_state(struct vus_dev *dev, const struct vus_device_feature *f,
		     const uint8_t *data, size_t len, struct vus_reply *r)
{
	struct vus_feature_mig_state st;
	enum vus_mig_state path[VUS_MIG_STATE_NR];
	int rc;

	rc = vus_feature_mig_state_decode(data, len, &st);
	if (rc)
		return rc;
	/* The reply goes out only after the whole walk (spec). A failed arc
	 * leaves the device in ERROR (UAPI: "If the device cannot ... the
	 * device_state becomes ERROR"); only a reset leaves it. */
	if (vus_mig_path(dev->mig.state, st.device_state, dev->mig.ops.flags, path) < 0)
		return -EINVAL; /* refused: nothing called, state kept */
	rc = vus_mig_walk(&dev->mig.state, st.device_state, dev->mig.ops.flags, arc, dev);
	if (rc) {
		dev->mig.state = VUS_MIG_STATE_ERROR;
		return rc;
	}
	feature_reply(r, f->flags, data, len);
	return 0;
}

static int logging_start(struct vus_dev *dev, const struct vus_device_feature *f,
			 const uint8_t *data, size_t len, struct vus_reply *r)
{
	struct vus_feature_dma_logging_control ctl;
	int rc;

	uint8_t *echo;
	/* The ranges are validated by the codec but not used: every window
	 * with a host mapping is logged (as libvfio-user does). page_size is
	 * a hint (UAPI VFIO_DEVICE_FEATURE_DMA_LOGGING_START: "If the device
	 * cannot do the hinted page size then it's the driver choice which
	 * page size to pick ... On output the device will return the page
	 * size it selected"): below 4 KiB we log at 4 KiB and say so. */
	rc = vus_feature_logging_start_decode(data, len, &ctl);
	if (rc)
		return rc;
	if (ctl.page_size < VUS_MIG_MIN_LOG_PAGE)
		ctl.page_size = VUS_MIG_MIN_LOG_PAGE;
	rc = vus_dma_dirty_start(&dev->dma.table, ctl.page_size);
	if (rc)
		return rc;
	echo = malloc(len);
	if (!echo) {
		logging_stop(dev);
		return -ENOMEM;
	}
	memcpy(echo, data, len);
	memcpy(echo + offsetof(struct vus_feature_dma_logging_control, page_size),
	       &(uint64_t){ htole64(ctl.page_size) }, sizeof(uint64_t));
	dev->mig.logging = true;
	dev->mig.log_pgsize = ctl.page_size;
	r->heap = echo;
	feature_reply(r, f->flags, echo, len);
	return 0;
}

static int logging_report(struct vus_dev *dev, const struct vus_device_feature *f,
			  const uint8_t *data, size_t len, struct vus_reply *r)
{
	struct vus_feature_dma_logging_report rep;
	uint64_t bytes;
	uint8_t *buf;
	int rc;

	rc = vus_feature_logging_report_decode(data, len, &rep);
	if (rc)
		return rc;
	if (!dev->mig.logging)
		return -EINVAL; /* UAPI: only valid after START */
	bytes = vus_dma_dirty_report_bytes(rep.length, rep.page_size);
	if (bytes > VUS_MIG_MAX_BITMAP ||
	    (dev->dma.table.max_dirty_bytes && bytes > dev->dma.table.max_dirty_bytes))
		return -E2BIG;
	if (f->argsz < sizeof(*f) + sizeof(rep) + bytes)
		return -EINVAL;

	buf = calloc(1, sizeof(rep) + (size_t)bytes);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &rep, sizeof(rep));
	/* Pointers the device keeps may have been written since (dma_pin.c). */
	vus_dma_pin_remark(dev, rep.iova, rep.length);
	rc = vus_dma_dirty_report(&dev->dma.table, rep.iova, rep.length, rep.page_size,
				  (uint64_t *)(void *)(buf + sizeof(rep)));
	if (rc) {
		free(buf);
		return rc;
	}
	r->heap = buf;
	feature_reply(r, f->flags, buf, sizeof(rep) + (size_t)bytes);
	return 0;
}

int vus_h_device_feature(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_device_feature f;
	const uint8_t *data;
	size_t len;
	uint32_t feature, ops, allowed;
	int rc;

	if (dev->feat_pt)
		return vus_feat_pt_feature(dev, m, r);
	rc = vus_device_feature_decode(&m->v, &f, &data, &len);
	if (rc)
		return rc;
	feature = f.flags & VUS_DEVICE_FEATURE_MASK;
	ops = f.flags & (FEATURE_GET | FEATURE_SET);
	/* Unknown feature, or migration not set up: ENOTTY like the kernel's
	 * VFIO_DEVICE_FEATURE; an operation the feature lacks: EINVAL. */
	allowed = dev->mig.enabled ? feature_ops(feature) : 0;
	if (!allowed)
		return -ENOTTY;
	if (ops & ~allowed)
		return -EINVAL;
	if (f.flags & FEATURE_PROBE) {
		feature_reply(r, f.flags, data, len);
		return 0;
	}

	switch (feature) {
	case VUS_FEATURE_MIGRATION: {
		/* The wire's bits only (FRAMED is the library's business). */
		uint64_t flags = dev->mig.ops.flags & (VUS_MIGRATION_STOP_COPY |
						       VUS_MIGRATION_P2P |
						       VUS_MIGRATION_PRE_COPY);

		return feature_get_small(r, &f, &flags, sizeof(flags));
	}
	case VUS_FEATURE_MIG_DEVICE_STATE:
		if (ops == FEATURE_GET) {
			/* data_fd is unused in vfio-user; -1 like the kernel's GET. */
			struct vus_feature_mig_state st = {
				.device_state = dev->mig.state,
				.data_fd = UINT32_MAX,
			};

			return feature_get_small(r, &f, &st, sizeof(st));
		}
		return set_state(dev, &f, data, len, r);
	case VUS_FEATURE_DMA_LOGGING_START:
		return logging_start(dev, &f, data, len, r);
	case VUS_FEATURE_DMA_LOGGING_STOP:
		if (len)
			return -EINVAL; /* STOP carries no data */
		logging_stop(dev);
		feature_reply(r, f.flags, NULL, 0);
		return 0;
	default: /* VUS_FEATURE_DMA_LOGGING_REPORT: feature_ops() admits no other */
		return logging_report(dev, &f, data, len, r);
	}
}

/* ---- MIG_DATA_READ / MIG_DATA_WRITE --------------------------------- */

int vus_h_mig_data_read(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_mig_data md, head;
	uint8_t *buf;
	ssize_t n;
	int rc;

	if (dev->feat_pt)
		return vus_feat_pt_mig_read(dev, m, r);
	rc = vus_mig_data_read_decode(&m->v, dev->max_xfer, &md);
	if (rc)
		return rc;
	/* Only the saving states produce data (spec MIG_DATA_READ). */
	if (!dev->mig.enabled || (dev->mig.state != VUS_MIG_STATE_PRE_COPY &&
				  dev->mig.state != VUS_MIG_STATE_PRE_COPY_P2P &&
				  dev->mig.state != VUS_MIG_STATE_STOP_COPY))
		return -EINVAL;

	buf = calloc(1, md.size ? md.size : 1); /* zeroed: see vus_h_region_read() */
	if (!buf)
		return -ENOMEM;
	if (!md.size)
		n = 0;
	else if (framed(dev))
		n = vus_mig_stream_read(dev, buf, md.size,
					dev->mig.state == VUS_MIG_STATE_STOP_COPY);
	else
		n = dev->mig.ops.save(dev, dev->mig.opaque, buf, md.size);
	if (n < 0 || n > (ssize_t)md.size) {
		free(buf);
		if (n < 0)
			return (int)n;
		vus_log(dev, VUS_LOG_ERR, "migration save returned %zd > %u bytes", n, md.size);
		return -EIO;
	}
	/* A size below the one asked for tells the client "no more for now"
	 * (the end, in STOP_COPY). */
	head.argsz = (uint32_t)(sizeof(head) + (size_t)n);
	head.size = (uint32_t)n;
	memcpy(r->small, &head, sizeof(head));
	vus_reply_add(r, r->small, sizeof(head));
	if (n)
		vus_reply_add(r, buf, (size_t)n);
	r->heap = buf;
	return 0;
}

/*
 * Zero-copy MIG_DATA_WRITE (dispatch/bulk.c offers it): in a framed
 * stream the data goes straight into the library's stream buffer, where
 * the handler would have copied it; checked as the handler checks it
 * before a byte lands. The device's own load() keeps its one copy, and a
 * forwarded device (feature passthrough) takes the buffered path.
 */
int vus_mig_data_sink(struct vus_dev *dev, const struct vus_hdr *h, const uint8_t *head,
		      struct vus_sink_dst *d)
{
	const struct vus_msg_view v = { .hdr = *h, .payload = head, .len = VUS_MIG_DATA_HEAD };
	struct vus_mig_data md;
	uint8_t *p;

	if (dev->feat_pt || !dev->mig.enabled || dev->mig.state != VUS_MIG_STATE_RESUMING ||
	    !framed(dev) ||
	    vus_mig_data_write_head_decode(&v, h->size - VUS_HDR_SIZE - VUS_MIG_DATA_HEAD,
					   dev->max_xfer, &md) < 0 || !md.size)
		return 0;
	p = vus_mig_stream_write_place(dev, md.size);
	if (!p)
		return 0;
	*d = (struct vus_sink_dst){ .base = p, .skip = VUS_MIG_DATA_HEAD, .len = md.size };
	return 1;
}

int vus_h_mig_data_write(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_mig_data md;
	const uint8_t *data;
	int rc;

	if (m->bulk) {
		/* The data is in the stream's buffer already (vus_mig_data_sink). */
		rc = vus_mig_data_write_head_decode(&m->v, m->bulk, dev->max_xfer, &md);
		if (rc)
			return rc;
		if (dev->feat_pt || !dev->mig.enabled || dev->mig.state != VUS_MIG_STATE_RESUMING ||
		    !framed(dev))
			return -EINVAL;
		return vus_mig_stream_write_placed(dev, md.size);
	}
	if (dev->feat_pt)
		return vus_feat_pt_mig_write(dev, m, r);
	rc = vus_mig_data_write_decode(&m->v, dev->max_xfer, &md, &data);
	if (rc)
		return rc;
	if (!dev->mig.enabled || dev->mig.state != VUS_MIG_STATE_RESUMING)
		return -EINVAL;
	if (framed(dev))
		rc = vus_mig_stream_write(dev, data, md.size);
	else
		rc = dev->mig.ops.load(dev, dev->mig.opaque, data, md.size);
	return rc < 0 ? rc : 0;
}
