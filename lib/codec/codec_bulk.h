/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Decoding a message whose body did not pass through the receive buffer
 * (library-internal): a large REGION_WRITE's data is received straight
 * into the region's memory, and a client's large REGION_READ reply into
 * the caller's buffer (docs/performance.md "Zero-copy bulk transfers"),
 * so only the fixed part is in the view. Pure, like the rest
 * of the codec: the same checks as the whole-message decoder, with the
 * data's length given instead of its bytes.
 */
#ifndef VUS_CODEC_BULK_H
#define VUS_CODEC_BULK_H

#include <stdint.h>

#include <vus/codec.h>

/* Bytes of a REGION_WRITE before its data: struct vus_region_access. */
#define VUS_REGION_WRITE_HEAD ((uint32_t)sizeof(struct vus_region_access))

/*
 * m->payload/len: the fixed part only (len VUS_REGION_WRITE_HEAD); bulk:
 * the data bytes that follow it on the wire. What
 * vus_region_access_decode(is_write) would say of the whole message.
 */
int vus_region_write_head_decode(const struct vus_msg_view *m, uint64_t bulk,
				 uint32_t max_xfer, struct vus_region_access *out);

/*
 * The same for a REGION_READ reply whose data (bulk bytes) went straight
 * to the caller's buffer: what vus_region_access_reply_decode(read) would
 * say, *count the data's length.
 */
int vus_region_read_reply_head_decode(const struct vus_msg_view *m, uint64_t bulk,
				      const struct vus_region_access *asked, uint32_t *count);

/*
 * A DMA_READ reply whose data (bulk bytes) went straight to the device's
 * buffer: m holds the fixed part and, in QEMU's layout, the 4 pad bytes
 * after the data (16 bytes either way). What vus_dma_rw_reply_decode()
 * would say of the exact reply to (addr, count). Also checks just the
 * first 16 bytes of such a reply before its data arrives.
 */
int vus_dma_rw_reply_head_decode(const struct vus_msg_view *m, enum vus_dma_layout layout,
				 uint64_t bulk, uint64_t addr, uint64_t count);

/*
 * A MIG_DATA_WRITE whose data (bulk bytes) went straight to the library's
 * migration stream buffer: m holds struct vus_mig_data (8 bytes). What
 * vus_mig_data_write_decode() would say of the whole message.
 */
#define VUS_MIG_DATA_HEAD ((uint32_t)sizeof(struct vus_mig_data))
int vus_mig_data_write_head_decode(const struct vus_msg_view *m, uint64_t bulk,
				   uint32_t max_xfer, struct vus_mig_data *out);

#endif /* VUS_CODEC_BULK_H */
