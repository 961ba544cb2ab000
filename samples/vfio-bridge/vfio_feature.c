/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DEVICE_FEATURE and migration v2 passed through to the kernel
 * (docs/vfio-bridge.md "DEVICE_FEATURE and migration"): every
 * DEVICE_FEATURE goes to VFIO_DEVICE_FEATURE, so the client sees exactly
 * the features the kernel driver has (vfio-pci on a device without a
 * migration driver: MIGRATION is ENOTTY, as the kernel says). vfio-user
 * carries the same features as the kernel's uapi (include/uapi/linux/
 * vfio.h, VFIO_DEVICE_FEATURE) with three differences the bridge
 * translates:
 *   - MIG_DEVICE_STATE SET: the kernel returns a data fd for the states
 *     that move data; the bridge keeps it and serves MIG_DATA_READ/WRITE
 *     from it; the client gets data_fd -1;
 *   - DMA_LOGGING_START: ranges inline in vfio-user, a pointer in the
 *     kernel's struct;
 *   - DMA_LOGGING_REPORT: the bitmap comes back in the vfio-user reply,
 *     the kernel writes it through a pointer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vus/codec.h>
#include <vus/passthrough.h>

#include "vfio_priv.h"

/* The largest bitmap a report may ask for (one 4 KiB page per bit: 8 GiB
 * of IOVA per MiB); bounded again by the reply's room. */
#define MAX_BITMAP (1u << 20)

/* VFIO_DEVICE_FEATURE with data in place (GET: the answer lands in it). */
static int vfio_feature(struct vfio_bridge *b, uint32_t flags, void *data, size_t len)
{
	struct vfio_device_feature *f = calloc(1, sizeof(*f) + len);
	int rc = 0;

	if (!f)
		return -ENOMEM;
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	if (ioctl(b->device, VFIO_DEVICE_FEATURE, f) < 0)
		rc = -errno;
	else if (len)
		memcpy(data, f->data, len);
	free(f);
	return rc;
}

static ssize_t mig_state(struct vfio_bridge *b, uint32_t flags, const void *data, size_t len,
			 void *out, size_t cap)
{
	struct vfio_device_feature_mig_state st = { 0 };
	int rc;

	if (len > sizeof(st) || cap < sizeof(st))
		return -EINVAL;
	if (len)
		memcpy(&st, data, len);
	st.data_fd = -1;
	rc = vfio_feature(b, flags, &st, sizeof(st));
	if (rc < 0)
		return rc;
	if ((flags & VFIO_DEVICE_FEATURE_SET) && st.data_fd >= 0) {
		/* A new transfer session: the old one's fd is done with. */
		if (b->mig_fd >= 0)
			close(b->mig_fd);
		b->mig_fd = st.data_fd;
	}
	st.data_fd = -1; /* unused in vfio-user */
	memcpy(out, &st, sizeof(st));
	return sizeof(st);
}

static ssize_t logging_start(struct vfio_bridge *b, uint32_t flags, const void *data,
			     size_t len, void *out, size_t cap)
{
	struct vus_feature_dma_logging_control ctl;
	struct vfio_device_feature_dma_logging_control kc = { 0 };
	struct vfio_device_feature_dma_logging_range *ranges;
	uint32_t i;
	int rc;

	rc = vus_feature_logging_start_decode(data, len, &ctl);
	if (rc)
		return rc;
	if (len > cap)
		return -EINVAL;
	ranges = calloc(ctl.num_ranges ? ctl.num_ranges : 1, sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	for (i = 0; i < ctl.num_ranges; i++) {
		struct vus_dma_logging_range r;

		vus_dma_logging_range(data, i, &r);
		ranges[i].iova = r.iova;
		ranges[i].length = r.length;
	}
	kc.page_size = ctl.page_size;
	kc.num_ranges = ctl.num_ranges;
	kc.ranges = (uintptr_t)ranges;
	rc = vfio_feature(b, flags, &kc, sizeof(kc));
	free(ranges);
	if (rc < 0)
		return rc;
	/* The kernel may pick another page size and says which (uapi). */
	memcpy(out, data, len);
	memcpy(out, &kc.page_size, sizeof(kc.page_size));
	return (ssize_t)len;
}

static ssize_t logging_report(struct vfio_bridge *b, uint32_t flags, const void *data,
			      size_t len, void *out, size_t cap)
{
	struct vus_feature_dma_logging_report rep;
	struct vfio_device_feature_dma_logging_report kr = { 0 };
	uint64_t pages, bytes;
	int rc;

	rc = vus_feature_logging_report_decode(data, len, &rep);
	if (rc)
		return rc;
	pages = rep.length / rep.page_size + (rep.length % rep.page_size != 0);
	bytes = (pages + 63) / 64 * 8; /* whole u64s, as the kernel writes them */
	if (bytes > MAX_BITMAP)
		return -E2BIG;
	if (cap < sizeof(rep) + bytes)
		return -EINVAL;
	memset(out, 0, sizeof(rep) + bytes); /* the kernel only sets bits */
	memcpy(out, data, sizeof(rep));
	kr.iova = rep.iova;
	kr.length = rep.length;
	kr.page_size = rep.page_size;
	kr.bitmap = (uintptr_t)((uint8_t *)out + sizeof(rep));
	rc = vfio_feature(b, flags, &kr, sizeof(kr));
	return rc < 0 ? rc : (ssize_t)(sizeof(rep) + bytes);
}

static ssize_t feature(struct vus_dev *dev, void *opaque, uint32_t flags, const void *data,
		       size_t len, void *out, size_t cap)
{
	struct vfio_bridge *b = opaque;
	uint32_t index = flags & VFIO_DEVICE_FEATURE_MASK;
	int rc;

	(void)dev;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return vfio_feature(b, flags, NULL, 0);
	switch (index) {
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return mig_state(b, flags, data, len, out, cap);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		return logging_start(b, flags, data, len, out, cap);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return logging_report(b, flags, data, len, out, cap);
	default:
		/* Same layout both sides (MIGRATION, DMA_LOGGING_STOP, and
		 * whatever the kernel adds): the data in place, GET's answer
		 * as long as the room the client gave. */
		if (len > cap)
			return -EINVAL;
		memset(out, 0, cap);
		if (len)
			memcpy(out, data, len);
		if (flags & VFIO_DEVICE_FEATURE_GET)
			len = cap;
		rc = vfio_feature(b, flags, out, len);
		return rc < 0 ? rc : (ssize_t)len;
	}
}

static ssize_t mig_read(struct vus_dev *dev, void *opaque, void *buf, size_t size)
{
	struct vfio_bridge *b = opaque;
	ssize_t n;

	(void)dev;
	if (b->mig_fd < 0)
		return -EINVAL; /* no saving state entered */
	n = read(b->mig_fd, buf, size);
	if (n < 0 && errno == ENOMSG)
		return 0; /* PRE_COPY with nothing more for now (uapi) */
	return n < 0 ? -errno : n;
}

static int mig_write(struct vus_dev *dev, void *opaque, const void *data, size_t size)
{
	struct vfio_bridge *b = opaque;
	const uint8_t *p = data;
	ssize_t n;

	(void)dev;
	if (b->mig_fd < 0)
		return -EINVAL; /* not RESUMING */
	while (size) {
		n = write(b->mig_fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static const struct vus_feature_passthrough_ops feature_ops = {
	.feature = feature, .mig_read = mig_read, .mig_write = mig_write,
};

int vfio_bridge_features_setup(struct vfio_bridge *b)
{
	struct vfio_device_feature_migration mig = { 0 };
	int rc;

	b->mig_fd = -1;
	rc = vfio_feature(b, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			     VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0);
	if (rc == 0)
		rc = vfio_feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, &mig,
				  sizeof(mig));
	b->migratable = rc == 0;
	if (b->migratable)
		vfio_bridge_log(b, "migration: the kernel driver supports it (flags %#llx), "
				"passed through", (unsigned long long)mig.flags);
	else
		vfio_bridge_log(b, "migration: not offered by the kernel driver (%s)",
				strerror(-rc));
	return vus_dev_set_feature_passthrough(b->dev, &feature_ops, b);
}

int vfio_bridge_mig_state(struct vfio_bridge *b)
{
	struct vfio_device_feature_mig_state st = { .data_fd = -1 };
	int rc;

	if (!b->migratable)
		return -ENOTTY;
	rc = vfio_feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			  sizeof(st));
	return rc < 0 ? rc : (int)st.device_state;
}

void vfio_bridge_features_end(struct vfio_bridge *b)
{
	struct vfio_device_feature_mig_state st = { .device_state = VFIO_DEVICE_STATE_RUNNING,
						    .data_fd = -1 };

	if (b->mig_fd >= 0)
		close(b->mig_fd);
	b->mig_fd = -1;
	if (!b->migratable)
		return;
	/* The next client meets a running device that logs nothing. */
	if (vfio_feature(b, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
			 sizeof(st)) < 0)
		vfio_bridge_log(b, "migration state back to RUNNING: %s", strerror(errno));
	if (st.data_fd >= 0)
		close(st.data_fd);
	(void)vfio_feature(b, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			   NULL, 0);
}
