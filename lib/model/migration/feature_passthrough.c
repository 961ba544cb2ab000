/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DEVICE_FEATURE and the migration data messages handed to the device
 * (include/vus/passthrough.h): a bridge to kernel VFIO forwards them to
 * VFIO_DEVICE_FEATURE and the migration data fd instead of the library's
 * own migration (docs/vfio-bridge.md "DEVICE_FEATURE and migration").
 * The library still checks every message's framing; the reply's size is
 * bounded by what the client's argsz asks for and the session's
 * max_data_xfer_size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vus/passthrough.h>

#include "dev_priv.h"

int vus_dev_set_feature_passthrough(struct vus_dev *dev,
				    const struct vus_feature_passthrough_ops *ops, void *opaque)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (ops && (!ops->feature || !ops->mig_read || !ops->mig_write))
		return -EINVAL;
	dev->feat_pt = ops;
	dev->feat_pt_opaque = ops ? opaque : NULL;
	return 0;
}

int vus_feat_pt_feature(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_device_feature f, head;
	const uint8_t *data;
	size_t len, cap;
	uint8_t *out;
	ssize_t n;
	int rc;

	rc = vus_device_feature_decode(&m->v, &f, &data, &len);
	if (rc)
		return rc;
	cap = f.argsz - sizeof(f);
	if (cap < len)
		cap = len;
	if (cap > dev->max_xfer)
		cap = dev->max_xfer;
	out = calloc(1, cap ? cap : 1);
	if (!out)
		return -ENOMEM;
	n = dev->feat_pt->feature(dev, dev->feat_pt_opaque, f.flags, data, len, out, cap);
	if (n < 0 || (size_t)n > cap) {
		free(out);
		if (n < 0)
			return (int)n;
		vus_log(dev, VUS_LOG_ERR, "feature %u: device answered %zd > %zu bytes",
			f.flags & VUS_DEVICE_FEATURE_MASK, n, cap);
		return -EIO;
	}
	head.argsz = (uint32_t)(sizeof(head) + (size_t)n);
	head.flags = f.flags;
	memcpy(r->small, &head, sizeof(head));
	vus_reply_add(r, r->small, sizeof(head));
	if (n)
		vus_reply_add(r, out, (size_t)n);
	r->heap = out;
	return 0;
}

int vus_feat_pt_mig_read(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_mig_data md, head;
	uint8_t *buf;
	ssize_t n;
	int rc;

	rc = vus_mig_data_read_decode(&m->v, dev->max_xfer, &md);
	if (rc)
		return rc;
	buf = calloc(1, md.size ? md.size : 1);
	if (!buf)
		return -ENOMEM;
	n = md.size ? dev->feat_pt->mig_read(dev, dev->feat_pt_opaque, buf, md.size) : 0;
	if (n < 0 || n > (ssize_t)md.size) {
		free(buf);
		if (n < 0)
			return (int)n;
		vus_log(dev, VUS_LOG_ERR, "migration data read returned %zd > %u bytes", n,
			md.size);
		return -EIO;
	}
	head.argsz = (uint32_t)(sizeof(head) + (size_t)n);
	head.size = (uint32_t)n;
	memcpy(r->small, &head, sizeof(head));
	vus_reply_add(r, r->small, sizeof(head));
	if (n)
		vus_reply_add(r, buf, (size_t)n);
	r->heap = buf;
	return 0;
}

int vus_feat_pt_mig_write(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_mig_data md;
	const uint8_t *data;
	int rc;

	(void)r;
	rc = vus_mig_data_write_decode(&m->v, dev->max_xfer, &md, &data);
	if (rc)
		return rc;
	rc = md.size ? dev->feat_pt->mig_write(dev, dev->feat_pt_opaque, data, md.size) : 0;
	return rc < 0 ? rc : 0;
}
