/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA_MAP (2) and DMA_UNMAP (3) requests (docs/protocol.md 3.2, 3.3).
 */
#include <errno.h>

#include <vus/codec.h>

#include "codec_priv.h"

int vus_dma_map_decode(const struct vus_msg_view *m, struct vus_dma_map *out)
{
	const uint8_t *p = m->payload;

	if (m->len < sizeof(*out) || m->nfds > vus_cmd_max_fds(VUS_CMD_DMA_MAP, false))
		return -EINVAL;
	out->argsz = get_u32(p + offsetof(struct vus_dma_map, argsz));
	out->flags = get_u32(p + offsetof(struct vus_dma_map, flags));
	out->offset = get_u64(p + offsetof(struct vus_dma_map, offset));
	out->addr = get_u64(p + offsetof(struct vus_dma_map, addr));
	out->size = get_u64(p + offsetof(struct vus_dma_map, size));

	/* argsz is the request's own size here (docs/protocol.md 3, argsz). */
	if (out->argsz < sizeof(*out))
		return -EINVAL;
	/* libvfio-user's MMAP/FILE_IO extension bits are not spoken here. */
	if (out->flags & ~(VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE))
		return -EINVAL;
	if (out->size == 0 || !range_ok(out->addr, out->size) ||
	    !range_ok(out->offset, out->size))
		return -EINVAL;
	/* The spec: offset is 0 without an fd; anything else is a confused peer. */
	if (m->nfds == 0 && out->offset != 0)
		return -EINVAL;
	return 0;
}

int vus_dma_unmap_decode(const struct vus_msg_view *m, struct vus_dma_unmap *out)
{
	const uint8_t *p = m->payload;

	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	out->argsz = get_u32(p + offsetof(struct vus_dma_unmap, argsz));
	out->flags = get_u32(p + offsetof(struct vus_dma_unmap, flags));
	out->addr = get_u64(p + offsetof(struct vus_dma_unmap, addr));
	out->size = get_u64(p + offsetof(struct vus_dma_unmap, size));

	/* The reply echoes the 24-byte struct: the client must accept it. */
	if (out->argsz < sizeof(*out))
		return -EINVAL;
	switch (out->flags) {
	case 0:
		if (out->size == 0 || !range_ok(out->addr, out->size))
			return -EINVAL;
		return 0;
	case VUS_DMA_UNMAP_FLAG_ALL:
		/* UAPI: UNMAP_ALL takes addr = size = 0; QEMU sends exactly that. */
		if (out->addr != 0 || out->size != 0)
			return -EINVAL;
		return 0;
	case VUS_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP:
		/* Migration v1 dirty bitmap, retired (docs/protocol.md 3.3). */
		return -ENOTSUP;
	default:
		/* Unknown bits, or ALL combined with the bitmap (UAPI forbids it). */
		return -EINVAL;
	}
}
