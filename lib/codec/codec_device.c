/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device description messages: DEVICE_GET_INFO (4), GET_REGION_INFO (5)
 * with its capability chain, GET_REGION_IO_FDS (6), GET_IRQ_INFO (7) and
 * SET_IRQS (8) (docs/protocol.md 3.4 - 3.8).
 */
#include <errno.h>

#include <vus/codec.h>

#include "codec_priv.h"

/* UAPI capability versions; vus emits and expects version 1 of each. */
#define CAP_VERSION 1u

/* ---- GET_INFO / GET_IRQ_INFO: argsz, flags and two u32s ---------------- */

int vus_device_info_req_decode(const struct vus_msg_view *m, struct vus_device_info *out)
{
	return vus_device_info_decode(m, out);
}

/*
 * The request and the reply share the 16-byte layout and the same checks:
 * argsz is the largest reply the client takes (request) or the size it
 * needs (reply), 16 either way. Extra payload is tolerated: the kernel's
 * struct has a trailing cap_offset vfio-user dropped.
 */
int vus_device_info_decode(const struct vus_msg_view *m, struct vus_device_info *out)
{
	const uint8_t *p = m->payload;

	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	out->argsz = get_u32(p + offsetof(struct vus_device_info, argsz));
	out->flags = get_u32(p + offsetof(struct vus_device_info, flags));
	out->num_regions = get_u32(p + offsetof(struct vus_device_info, num_regions));
	out->num_irqs = get_u32(p + offsetof(struct vus_device_info, num_irqs));
	return out->argsz < sizeof(*out) ? -EINVAL : 0;
}

int vus_irq_info_req_decode(const struct vus_msg_view *m, struct vus_irq_info *out)
{
	return vus_irq_info_decode(m, out);
}

int vus_irq_info_decode(const struct vus_msg_view *m, struct vus_irq_info *out)
{
	const uint8_t *p = m->payload;

	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	out->argsz = get_u32(p + offsetof(struct vus_irq_info, argsz));
	out->flags = get_u32(p + offsetof(struct vus_irq_info, flags));
	out->index = get_u32(p + offsetof(struct vus_irq_info, index));
	out->count = get_u32(p + offsetof(struct vus_irq_info, count));
	return out->argsz < sizeof(*out) ? -EINVAL : 0;
}

/* ---- GET_REGION_IO_FDS ---------------------------------------------- */

int vus_region_io_fds_req_decode(const struct vus_msg_view *m, struct vus_region_io_fds *out)
{
	const uint8_t *p = m->payload;

	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	out->argsz = get_u32(p + offsetof(struct vus_region_io_fds, argsz));
	out->flags = get_u32(p + offsetof(struct vus_region_io_fds, flags));
	out->index = get_u32(p + offsetof(struct vus_region_io_fds, index));
	out->count = get_u32(p + offsetof(struct vus_region_io_fds, count));
	/* Spec: flags and count are 0 in the request; libvfio-user enforces it. */
	if (out->argsz < sizeof(*out) || out->flags != 0 || out->count != 0)
		return -EINVAL;
	return 0;
}

/* ---- GET_REGION_INFO ------------------------------------------------ */

static void region_info_get(const uint8_t *p, struct vus_region_info *out)
{
	out->argsz = get_u32(p + offsetof(struct vus_region_info, argsz));
	out->flags = get_u32(p + offsetof(struct vus_region_info, flags));
	out->index = get_u32(p + offsetof(struct vus_region_info, index));
	out->cap_offset = get_u32(p + offsetof(struct vus_region_info, cap_offset));
	out->size = get_u64(p + offsetof(struct vus_region_info, size));
	out->offset = get_u64(p + offsetof(struct vus_region_info, offset));
}

static void region_info_put(uint8_t *p, const struct vus_region_info *ri)
{
	put_u32(p + offsetof(struct vus_region_info, argsz), ri->argsz);
	put_u32(p + offsetof(struct vus_region_info, flags), ri->flags);
	put_u32(p + offsetof(struct vus_region_info, index), ri->index);
	put_u32(p + offsetof(struct vus_region_info, cap_offset), ri->cap_offset);
	put_u64(p + offsetof(struct vus_region_info, size), ri->size);
	put_u64(p + offsetof(struct vus_region_info, offset), ri->offset);
}

int vus_region_info_req_decode(const struct vus_msg_view *m, struct vus_region_info *out)
{
	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	region_info_get(m->payload, out);
	return out->argsz < sizeof(*out) ? -EINVAL : 0;
}

static uint64_t sparse_cap_len(uint32_t nr_areas)
{
	return sizeof(struct vus_cap_sparse_mmap) +
	       (uint64_t)nr_areas * sizeof(struct vus_sparse_area);
}

static uint64_t region_caps_len(const struct vus_region_caps *caps)
{
	uint64_t len = 0;

	if (!caps)
		return 0;
	if (caps->sparse)
		len += sparse_cap_len(caps->nr_areas);
	if (caps->has_type)
		len += sizeof(struct vus_cap_type);
	if (caps->msix_mappable)
		len += sizeof(struct vus_cap_hdr);
	return len;
}

static void cap_hdr_put(uint8_t *p, uint16_t id, uint32_t next)
{
	put_u16(p + offsetof(struct vus_cap_hdr, id), id);
	put_u16(p + offsetof(struct vus_cap_hdr, version), CAP_VERSION);
	put_u32(p + offsetof(struct vus_cap_hdr, next), next);
}

/*
 * Chain at offset 32: sparse, type, MSIX_MAPPABLE, each present one in
 * that order. next = offset of the following cap from the start of the
 * region-info struct, 0 for the last (UAPI vfio_info_cap_header). Every
 * cap is a multiple of 8 bytes long, so each header stays 8-aligned as
 * the kernel's are.
 */
static void region_caps_put(uint8_t *buf, uint32_t total, const struct vus_region_caps *caps)
{
	uint32_t off = sizeof(struct vus_region_info), end;
	uint32_t i;

	if (caps->sparse) {
		end = off + (uint32_t)sparse_cap_len(caps->nr_areas);
		cap_hdr_put(buf + off, VUS_REGION_INFO_CAP_SPARSE_MMAP, end < total ? end : 0);
		put_u32(buf + off + offsetof(struct vus_cap_sparse_mmap, nr_areas), caps->nr_areas);
		put_u32(buf + off + offsetof(struct vus_cap_sparse_mmap, reserved), 0);
		for (i = 0; i < caps->nr_areas; i++) {
			uint8_t *a = buf + off + sizeof(struct vus_cap_sparse_mmap) +
				     (size_t)i * sizeof(struct vus_sparse_area);

			put_u64(a + offsetof(struct vus_sparse_area, offset), caps->areas[i].offset);
			put_u64(a + offsetof(struct vus_sparse_area, size), caps->areas[i].size);
		}
		off = end;
	}
	if (caps->has_type) {
		end = off + sizeof(struct vus_cap_type);
		cap_hdr_put(buf + off, VUS_REGION_INFO_CAP_TYPE, end < total ? end : 0);
		put_u32(buf + off + offsetof(struct vus_cap_type, type), caps->type);
		put_u32(buf + off + offsetof(struct vus_cap_type, subtype), caps->subtype);
		off = end;
	}
	if (caps->msix_mappable)
		cap_hdr_put(buf + off, VUS_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
}

/*
 * A client whose argsz cannot hold the caps gets the bare struct with the
 * same flags as the full reply but CAPS, cap_offset 0 and argsz the size
 * needed, as kernel VFIO answers (vfio_pci_core ioctl: only CAPS and
 * cap_offset tell the short reply; QEMU 10.2 rejects a CAPS flag with a
 * cap_offset below 32), and re-asks with that argsz. *fd_allowed is true
 * only for the full reply of an MMAP region: the fd goes with the sparse
 * areas that say where it may be mapped (docs/protocol.md 3.5). A chain
 * longer than a message can describe (argsz is 32-bit) cannot be sent at
 * all: -ENOSPC as well.
 */
ssize_t vus_region_info_reply_encode(uint8_t *buf, size_t cap, uint32_t client_argsz,
				     const struct vus_region_info *ri,
				     const struct vus_region_caps *caps, bool *fd_allowed)
{
	uint64_t caps_len = region_caps_len(caps);
	uint64_t total = sizeof(struct vus_region_info) + caps_len;
	struct vus_region_info out = *ri;
	size_t len;

	if (total > UINT32_MAX)
		return -ENOSPC;
	out.argsz = (uint32_t)total;
	out.flags &= ~VUS_REGION_INFO_FLAG_CAPS;
	out.cap_offset = 0;
	*fd_allowed = false;
	if (total > client_argsz) {
		len = sizeof(struct vus_region_info);
	} else {
		len = (size_t)total;
		if (caps_len) {
			out.flags |= VUS_REGION_INFO_FLAG_CAPS;
			out.cap_offset = sizeof(struct vus_region_info);
		}
	}
	if (cap < len)
		return -ENOSPC;

	region_info_put(buf, &out);
	if (out.cap_offset)
		region_caps_put(buf, out.argsz, caps);
	if (len == total)
		*fd_allowed = (out.flags & VUS_REGION_INFO_FLAG_MMAP) != 0;
	return (ssize_t)len;
}

/* The sparse-mmap cap at p; room = bytes from p to the end of the walk. */
static int sparse_cap_get(const uint8_t *p, size_t room, const struct vus_region_info *ri,
			  struct vus_region_caps *caps, struct vus_sparse_area *areas,
			  uint32_t areas_cap, size_t *cap_len)
{
	uint32_t nr, i;

	if (room < sizeof(struct vus_cap_sparse_mmap))
		return -EINVAL;
	nr = get_u32(p + offsetof(struct vus_cap_sparse_mmap, nr_areas));
	/* Division, not nr * 16: the product is what must not be trusted. */
	if ((room - sizeof(struct vus_cap_sparse_mmap)) / sizeof(struct vus_sparse_area) < nr)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		const uint8_t *a = p + sizeof(struct vus_cap_sparse_mmap) +
				   (size_t)i * sizeof(struct vus_sparse_area);
		struct vus_sparse_area area = {
			.offset = get_u64(a + offsetof(struct vus_sparse_area, offset)),
			.size = get_u64(a + offsetof(struct vus_sparse_area, size)),
		};

		/* The client mmaps these: they must lie inside the region. */
		if (!range_ok(area.offset, area.size) || area.offset + area.size > ri->size)
			return -EINVAL;
		if (i < areas_cap)
			areas[i] = area;
	}
	caps->sparse = true;
	caps->nr_areas = nr;
	*cap_len = (size_t)sparse_cap_len(nr);
	return 0;
}

/*
 * Walk the chain inside the first limit payload bytes. Each header must be
 * 4-byte aligned: the producers seen (recent kernels, libvfio-user, vus)
 * 8-align, but 4 is all the header's u32 fields need, and with memcpy
 * access a stricter rule would only reject harmless peers. Each next
 * must point past the end of the current cap, so offsets strictly
 * increase by >= 8 and the walk ends within limit / 8 steps; duplicate
 * known caps are refused, unknown ids skipped (header only).
 */
static int region_caps_walk(const uint8_t *p, size_t limit, const struct vus_region_info *ri,
			    struct vus_region_caps *caps, struct vus_sparse_area *areas,
			    uint32_t areas_cap)
{
	size_t off = ri->cap_offset;

	while (off != 0) {
		uint16_t id;
		uint32_t next;
		size_t cap_len = sizeof(struct vus_cap_hdr);
		int rc = 0;

		if (off < sizeof(struct vus_region_info) || off % 4 != 0 || off > limit ||
		    limit - off < sizeof(struct vus_cap_hdr))
			return -EINVAL;
		id = get_u16(p + off + offsetof(struct vus_cap_hdr, id));
		next = get_u32(p + off + offsetof(struct vus_cap_hdr, next));

		switch (id) {
		case VUS_REGION_INFO_CAP_SPARSE_MMAP:
			if (caps->sparse)
				return -EINVAL;
			rc = sparse_cap_get(p + off, limit - off, ri, caps, areas, areas_cap,
					    &cap_len);
			break;
		case VUS_REGION_INFO_CAP_TYPE:
			if (caps->has_type || limit - off < sizeof(struct vus_cap_type))
				return -EINVAL;
			caps->has_type = true;
			caps->type = get_u32(p + off + offsetof(struct vus_cap_type, type));
			caps->subtype = get_u32(p + off + offsetof(struct vus_cap_type, subtype));
			cap_len = sizeof(struct vus_cap_type);
			break;
		case VUS_REGION_INFO_CAP_MSIX_MAPPABLE:
			if (caps->msix_mappable)
				return -EINVAL;
			caps->msix_mappable = true;
			break;
		default:
			break;
		}
		if (rc)
			return rc;
		if (next != 0 && next < off + cap_len)
			return -EINVAL;
		off = next;
	}
	return 0;
}

/*
 * A reply with CAPS but cap_offset 0 is the kernel's way of saying "argsz
 * too small for the caps": no caps, not an error; the caller sees
 * argsz > payload and may re-ask.
 */
int vus_region_info_decode(const struct vus_msg_view *m, struct vus_region_info *out,
			   struct vus_region_caps *caps, struct vus_sparse_area *areas,
			   uint32_t areas_cap)
{
	size_t limit;
	int rc;

	if (m->len < sizeof(*out) ||
	    m->nfds > vus_cmd_max_fds(VUS_CMD_DEVICE_GET_REGION_INFO, true))
		return -EINVAL;
	region_info_get(m->payload, out);
	*caps = (struct vus_region_caps){ .areas = areas };
	if (out->argsz < sizeof(*out))
		return -EINVAL;
	if (!(out->flags & VUS_REGION_INFO_FLAG_CAPS) || out->cap_offset == 0)
		return 0;

	limit = out->argsz < m->len ? out->argsz : m->len;
	rc = region_caps_walk(m->payload, limit, out, caps, areas, areas_cap);
	if (rc)
		return rc;
	/* Checked after the walk so nr_areas tells the caller what to allocate. */
	return caps->nr_areas > areas_cap ? -ENOSPC : 0;
}

/* ---- SET_IRQS ------------------------------------------------------- */

int vus_irq_set_decode(const struct vus_msg_view *m, struct vus_irq_set *out,
		       const uint8_t **bools)
{
	const uint8_t *p = m->payload;
	uint32_t data, action, end;

	*bools = NULL;
	if (m->len < sizeof(*out) ||
	    m->nfds > vus_cmd_max_fds(VUS_CMD_DEVICE_SET_IRQS, false))
		return -EINVAL;
	out->argsz = get_u32(p + offsetof(struct vus_irq_set, argsz));
	out->flags = get_u32(p + offsetof(struct vus_irq_set, flags));
	out->index = get_u32(p + offsetof(struct vus_irq_set, index));
	out->start = get_u32(p + offsetof(struct vus_irq_set, start));
	out->count = get_u32(p + offsetof(struct vus_irq_set, count));

	/* argsz is the request's own size here (docs/protocol.md 3, argsz). */
	if (out->argsz < sizeof(*out))
		return -EINVAL;
	data = out->flags & VUS_IRQ_SET_DATA_MASK;
	action = out->flags & VUS_IRQ_SET_ACTION_MASK_ALL;
	if (out->flags != (data | action) || !vus_is_pow2(data) || !vus_is_pow2(action))
		return -EINVAL;
	if (__builtin_add_overflow(out->start, out->count, &end))
		return -EINVAL;
	/* The only count-0 form: "disable every vector of the index". */
	if (out->count == 0 &&
	    (out->start != 0 ||
	     out->flags != (VUS_IRQ_SET_DATA_NONE | VUS_IRQ_SET_ACTION_TRIGGER)))
		return -EINVAL;

	switch (data) {
	case VUS_IRQ_SET_DATA_BOOL:
		/* count bytes after the struct, covered by argsz as in the UAPI. */
		if (m->nfds != 0 || m->len - sizeof(*out) < out->count ||
		    out->argsz - sizeof(*out) < out->count)
			return -EINVAL;
		*bools = p + sizeof(*out);
		return 0;
	case VUS_IRQ_SET_DATA_EVENTFD:
		/* One fd per vector, or none to de-assign (docs/protocol.md 3.8). */
		return m->nfds == 0 || m->nfds == out->count ? 0 : -EINVAL;
	default:
		return m->nfds == 0 ? 0 : -EINVAL;
	}
}
