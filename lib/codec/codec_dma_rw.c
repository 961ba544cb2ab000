/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server -> client DMA_READ (11) / DMA_WRITE (12) in the two layouts in
 * use (docs/protocol.md 4.1 "DMA_READ/DMA_WRITE layouts"):
 *
 *   SPEC: addr u64 @0, count u64 @8, data @16.
 *         READ request 16, READ reply 16 + count,
 *         WRITE request 16 + count, WRITE reply 16 (echo).
 *   QEMU: addr u64 @0, count u32 @8, data @12, then 4 pad bytes
 *         (sizeof(VFIOUserDMARW) is 32 with the header).
 *         READ request 16 (addr, count, pad), READ reply 16 + count,
 *         WRITE request 16 + count, WRITE reply empty.
 *
 * Both READ requests are 16 bytes with addr and the low 32 bits of count
 * at the same places, so on little-endian hosts they are interchangeable;
 * the data offset and the WRITE reply are what differ.
 *
 * VUS_DMA_LAYOUT_AUTO is resolved by the caller after VERSION; here it
 * reads as SPEC.
 */
#include <errno.h>

#include <vus/codec.h>

#include "codec_bulk.h"
#include "codec_priv.h"

static bool is_qemu(enum vus_dma_layout layout)
{
	return layout == VUS_DMA_LAYOUT_QEMU;
}

size_t vus_dma_rw_data_off(enum vus_dma_layout layout)
{
	return is_qemu(layout) ? VUS_DMA_RW_QEMU_DATA_OFF : sizeof(struct vus_dma_rw);
}

/*
 * Both layouts come to 16 + count (QEMU: 12 fixed + count + 4 pad).
 * Saturates at SIZE_MAX, which no allocation or message can meet.
 */
size_t vus_dma_rw_payload_len(enum vus_dma_layout layout, uint64_t count)
{
	size_t len;

	_Static_assert(VUS_DMA_RW_QEMU_FIXED == sizeof(struct vus_dma_rw),
		       "both layouts have 16 fixed payload bytes");
	if (count > SIZE_MAX || __builtin_add_overflow(sizeof(struct vus_dma_rw), (size_t)count,
						       &len))
		return SIZE_MAX;
	return len;
}

/*
 * Only the fixed part: bytes 0..11 (QEMU) or 0..15 (spec). The caller
 * zeroes the rest of a QEMU READ request (its pad) and fills the data.
 */
void vus_dma_rw_encode(uint8_t *buf, enum vus_dma_layout layout, uint64_t addr, uint64_t count)
{
	put_u64(buf + offsetof(struct vus_dma_rw, addr), addr);
	if (is_qemu(layout))
		put_u32(buf + offsetof(struct vus_dma_rw_qemu, count), (uint32_t)count);
	else
		put_u64(buf + offsetof(struct vus_dma_rw, count), count);
}

static void dma_rw_get(const uint8_t *p, enum vus_dma_layout layout, struct vus_dma_rw *out)
{
	out->addr = get_u64(p + offsetof(struct vus_dma_rw, addr));
	if (is_qemu(layout))
		out->count = get_u32(p + offsetof(struct vus_dma_rw_qemu, count));
	else
		out->count = get_u64(p + offsetof(struct vus_dma_rw, count));
}

/* Client side: what the server asks of us. Sizes are exact. */
int vus_dma_rw_req_decode(const struct vus_msg_view *m, enum vus_dma_layout layout,
			  bool is_write, uint32_t max_xfer, struct vus_dma_rw *out,
			  const uint8_t **data)
{
	*data = NULL;
	if (m->len < sizeof(*out) || m->nfds != 0)
		return -EINVAL;
	dma_rw_get(m->payload, layout, out);
	if (out->count > max_xfer)
		return -E2BIG;
	if (!range_ok(out->addr, out->count))
		return -EINVAL;
	if (m->len != vus_dma_rw_payload_len(layout, is_write ? out->count : 0))
		return -EINVAL;
	if (is_write)
		*data = m->payload + vus_dma_rw_data_off(layout);
	return 0;
}

/*
 * Server side: the client's answer to our request for (addr, count).
 * QEMU's READ reply is the request buffer it allocated (16 + count), read
 * leniently as ">=" the way QEMU reads ours; the spec's is exact, and the
 * spec's WRITE reply is exactly the 16-byte echo, as libvfio-user checks.
 * Anything else means the peer and we disagree on the layout: -EPROTO.
 */
int vus_dma_rw_reply_decode(const struct vus_msg_view *m, enum vus_dma_layout layout,
			    bool is_write, uint64_t addr, uint64_t count,
			    const uint8_t **data)
{
	struct vus_dma_rw r;
	size_t want = vus_dma_rw_payload_len(layout, is_write ? 0 : count);
	uint64_t echo = is_qemu(layout) ? (uint32_t)count : count;

	*data = NULL;
	if (m->nfds != 0)
		return -EINVAL;
	if (is_write && is_qemu(layout))
		return m->len == 0 ? 0 : -EPROTO;
	if (is_qemu(layout) ? m->len < want : m->len != want)
		return -EPROTO;
	dma_rw_get(m->payload, layout, &r);
	if (r.addr != addr || r.count != echo)
		return -EPROTO;
	if (!is_write)
		*data = m->payload + vus_dma_rw_data_off(layout);
	return 0;
}

int vus_dma_rw_reply_head_decode(const struct vus_msg_view *m, enum vus_dma_layout layout,
				 uint64_t bulk, uint64_t addr, uint64_t count)
{
	struct vus_dma_rw r;
	uint64_t echo = is_qemu(layout) ? (uint32_t)count : count;

	if (m->nfds != 0 || m->len != vus_dma_rw_payload_len(layout, 0) || bulk != count)
		return -EPROTO;
	dma_rw_get(m->payload, layout, &r);
	if (r.addr != addr || r.count != echo)
		return -EPROTO;
	return 0;
}
