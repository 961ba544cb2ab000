/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migration v2 on the wire: DEVICE_FEATURE (16) with its feature data,
 * MIG_DATA_READ (17) and MIG_DATA_WRITE (18) (docs/protocol.md 3.12, 3.13).
 */
#include <errno.h>

#include <vus/codec.h>

#include "codec_bulk.h"
#include "codec_priv.h"

/* ---- DEVICE_FEATURE ------------------------------------------------- */

static void feature_head_get(const struct vus_msg_view *m, struct vus_device_feature *out,
			     const uint8_t **data, size_t *data_len)
{
	out->argsz = get_u32(m->payload + offsetof(struct vus_device_feature, argsz));
	out->flags = get_u32(m->payload + offsetof(struct vus_device_feature, flags));
	*data = m->payload + sizeof(*out);
	*data_len = m->len - sizeof(*out);
}

/*
 * The kernel's rules (vfio_ioctl_device_feature, vfio_check_feature):
 * GET and SET exclude each other unless PROBE is set, and without PROBE
 * one of them is required.
 */
int vus_device_feature_decode(const struct vus_msg_view *m, struct vus_device_feature *out,
			      const uint8_t **data, size_t *data_len)
{
	const uint32_t ops = VUS_DEVICE_FEATURE_GET | VUS_DEVICE_FEATURE_SET;

	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	feature_head_get(m, out, data, data_len);
	if (out->argsz < sizeof(*out))
		return -EINVAL;
	if (out->flags & ~(VUS_DEVICE_FEATURE_MASK | ops | VUS_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (out->flags & VUS_DEVICE_FEATURE_PROBE)
		return *data_len == 0 ? 0 : -EINVAL;
	if ((out->flags & ops) != VUS_DEVICE_FEATURE_GET &&
	    (out->flags & ops) != VUS_DEVICE_FEATURE_SET)
		return -EINVAL;
	return 0;
}

int vus_device_feature_reply_decode(const struct vus_msg_view *m, struct vus_device_feature *out,
				    const uint8_t **data, size_t *data_len)
{
	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	feature_head_get(m, out, data, data_len);
	return 0;
}

int vus_feature_mig_state_decode(const uint8_t *data, size_t len,
				 struct vus_feature_mig_state *out)
{
	if (len != sizeof(*out))
		return -EINVAL;
	out->device_state = get_u32(data + offsetof(struct vus_feature_mig_state, device_state));
	out->data_fd = get_u32(data + offsetof(struct vus_feature_mig_state, data_fd));
	return out->device_state < VUS_MIG_STATE_NR ? 0 : -EINVAL;
}

/*
 * vfio-user inlines the range array the kernel passes by pointer
 * (docs/protocol.md 3.12); num_ranges 0 means "log everything".
 */
int vus_feature_logging_start_decode(const uint8_t *data, size_t len,
				     struct vus_feature_dma_logging_control *out)
{
	const size_t head = sizeof(*out), rsz = sizeof(struct vus_dma_logging_range);
	uint32_t i;

	if (len < head)
		return -EINVAL;
	out->page_size = get_u64(data + offsetof(struct vus_feature_dma_logging_control, page_size));
	out->num_ranges = get_u32(data + offsetof(struct vus_feature_dma_logging_control,
						  num_ranges));
	out->reserved = get_u32(data + offsetof(struct vus_feature_dma_logging_control, reserved));
	if (!vus_is_pow2(out->page_size))
		return -EINVAL;
	if ((len - head) % rsz != 0 || (len - head) / rsz != out->num_ranges)
		return -EINVAL;
	for (i = 0; i < out->num_ranges; i++) {
		struct vus_dma_logging_range r;

		vus_dma_logging_range(data, i, &r);
		if (!range_ok(r.iova, r.length))
			return -EINVAL;
	}
	return 0;
}

/* Only for i < the num_ranges vus_feature_logging_start_decode() accepted. */
void vus_dma_logging_range(const uint8_t *data, uint32_t i, struct vus_dma_logging_range *out)
{
	const uint8_t *r = data + sizeof(struct vus_feature_dma_logging_control) +
			   (size_t)i * sizeof(struct vus_dma_logging_range);

	out->iova = get_u64(r + offsetof(struct vus_dma_logging_range, iova));
	out->length = get_u64(r + offsetof(struct vus_dma_logging_range, length));
}

int vus_feature_logging_report_decode(const uint8_t *data, size_t len,
				      struct vus_feature_dma_logging_report *out)
{
	if (len != sizeof(*out))
		return -EINVAL;
	out->iova = get_u64(data + offsetof(struct vus_feature_dma_logging_report, iova));
	out->length = get_u64(data + offsetof(struct vus_feature_dma_logging_report, length));
	out->page_size = get_u64(data + offsetof(struct vus_feature_dma_logging_report,
						 page_size));
	if (!vus_is_pow2(out->page_size) || out->length == 0 || !range_ok(out->iova, out->length))
		return -EINVAL;
	return 0;
}

/* ---- MIG_DATA_READ / MIG_DATA_WRITE --------------------------------- */

static void mig_data_get(const uint8_t *p, struct vus_mig_data *out)
{
	out->argsz = get_u32(p + offsetof(struct vus_mig_data, argsz));
	out->size = get_u32(p + offsetof(struct vus_mig_data, size));
}

/* argsz bounds the reply: the head plus size bytes must fit in it. */
static bool mig_argsz_ok(const struct vus_mig_data *d)
{
	return d->argsz >= sizeof(*d) + (uint64_t)d->size;
}

int vus_mig_data_read_decode(const struct vus_msg_view *m, uint32_t max_xfer,
			     struct vus_mig_data *out)
{
	if (m->len != sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	mig_data_get(m->payload, out);
	if (out->size > max_xfer)
		return -E2BIG;
	return mig_argsz_ok(out) ? 0 : -EINVAL;
}

int vus_mig_data_write_decode(const struct vus_msg_view *m, uint32_t max_xfer,
			      struct vus_mig_data *out, const uint8_t **data)
{
	*data = NULL;
	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	mig_data_get(m->payload, out);
	if (out->size > max_xfer)
		return -E2BIG;
	if (!mig_argsz_ok(out) || m->len - sizeof(*out) != out->size)
		return -EINVAL;
	*data = m->payload + sizeof(*out);
	return 0;
}

int vus_mig_data_write_head_decode(const struct vus_msg_view *m, uint64_t bulk,
				   uint32_t max_xfer, struct vus_mig_data *out)
{
	if (m->len != sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	mig_data_get(m->payload, out);
	if (out->size > max_xfer)
		return -E2BIG;
	if (!mig_argsz_ok(out) || out->size != bulk)
		return -EINVAL;
	return 0;
}

/*
 * Parse by size, not by the message length: libvfio-user sizes its reply
 * from the request, so the message may be longer than 8 + size
 * (docs/protocol.md 8.1 "libvfio-user's MIG_DATA_READ reply"). A size
 * below the ask is the end of the stream.
 */
int vus_mig_data_read_reply_decode(const struct vus_msg_view *m, uint32_t asked,
				   struct vus_mig_data *out, const uint8_t **data)
{
	*data = NULL;
	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	mig_data_get(m->payload, out);
	if (out->size > asked || m->len - sizeof(*out) < out->size)
		return -EINVAL;
	*data = m->payload + sizeof(*out);
	return 0;
}
