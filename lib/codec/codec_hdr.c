/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The 16-byte message header, command names and the per-command fd table
 * (docs/protocol.md 2, 1.3).
 */
#include <errno.h>

#include <vus/codec.h>

#include "codec_priv.h"

void vus_hdr_decode(const void *bytes16, struct vus_hdr *out)
{
	const uint8_t *b = bytes16;

	out->id = get_u16(b + offsetof(struct vus_hdr, id));
	out->cmd = get_u16(b + offsetof(struct vus_hdr, cmd));
	out->size = get_u32(b + offsetof(struct vus_hdr, size));
	out->flags = get_u32(b + offsetof(struct vus_hdr, flags));
	out->error = get_u32(b + offsetof(struct vus_hdr, error));
}

void vus_hdr_encode(void *bytes16, const struct vus_hdr *h)
{
	uint8_t *b = bytes16;

	put_u16(b + offsetof(struct vus_hdr, id), h->id);
	put_u16(b + offsetof(struct vus_hdr, cmd), h->cmd);
	put_u32(b + offsetof(struct vus_hdr, size), h->size);
	put_u32(b + offsetof(struct vus_hdr, flags), h->flags);
	put_u32(b + offsetof(struct vus_hdr, error), h->error);
}

int vus_hdr_check(const struct vus_hdr *h, uint32_t max_size)
{
	uint32_t type = h->flags & VUS_F_TYPE_MASK;

	/* QEMU treats both as fatal too (docs/protocol.md 2). */
	if (h->size < VUS_HDR_SIZE)
		return -EINVAL;
	if (type != VUS_F_TYPE_COMMAND && type != VUS_F_TYPE_REPLY)
		return -EINVAL;
	if (h->flags & ~VUS_F_KNOWN)
		return -EINVAL;
	/* Checked last: a well-formed but oversized message can be skipped. */
	if (h->size > max_size)
		return -E2BIG;
	return 0;
}

static const char *const cmd_names[] = {
	[VUS_CMD_VERSION] = "VERSION",
	[VUS_CMD_DMA_MAP] = "DMA_MAP",
	[VUS_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[VUS_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[VUS_CMD_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[VUS_CMD_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[VUS_CMD_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[VUS_CMD_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[VUS_CMD_REGION_READ] = "REGION_READ",
	[VUS_CMD_REGION_WRITE] = "REGION_WRITE",
	[VUS_CMD_DMA_READ] = "DMA_READ",
	[VUS_CMD_DMA_WRITE] = "DMA_WRITE",
	[VUS_CMD_DEVICE_RESET] = "DEVICE_RESET",
	/* Retired with migration v1 (docs/protocol.md 3); named for traces. */
	[VUS_CMD_DIRTY_PAGES_RETIRED] = "DIRTY_PAGES",
	[VUS_CMD_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[VUS_CMD_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[VUS_CMD_MIG_DATA_READ] = "MIG_DATA_READ",
	[VUS_CMD_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *vus_cmd_name(unsigned cmd)
{
	if (cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) && cmd_names[cmd])
		return cmd_names[cmd];
	return "UNKNOWN";
}

/*
 * Who may carry fds, per direction (docs/protocol.md 1.3). SET_IRQS
 * and REGION_IO_FDS carry a variable number; the exact count is each
 * decoder's to check, this is only the ceiling for the receive buffer.
 */
struct fd_limit {
	uint8_t command;
	uint8_t reply;
};

static const struct fd_limit fd_limits[] = {
	[VUS_CMD_VERSION] = { .reply = 1 },   /* twin socket */
	[VUS_CMD_DMA_MAP] = { .command = 1 }, /* mmap-able guest memory */
	[VUS_CMD_DEVICE_GET_REGION_INFO] = { .reply = 1 },
	[VUS_CMD_DEVICE_GET_REGION_IO_FDS] = { .reply = VUS_MAX_FDS_PER_MSG },
	[VUS_CMD_DEVICE_SET_IRQS] = { .command = VUS_MAX_FDS_PER_MSG },
};

_Static_assert(VUS_MAX_FDS_PER_MSG <= UINT8_MAX, "fd_limit fields are 8-bit");

unsigned vus_cmd_max_fds(unsigned cmd, bool is_reply)
{
	if (cmd >= sizeof(fd_limits) / sizeof(fd_limits[0]))
		return 0;
	return is_reply ? fd_limits[cmd].reply : fd_limits[cmd].command;
}
