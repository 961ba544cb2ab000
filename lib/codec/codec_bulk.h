/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Decoding a message whose body did not pass through the receive buffer
 * (library-internal): a large REGION_WRITE's data is received straight
 * into the region's memory (docs/performance.md "Zero-copy bulk
 * transfers"), so only its fixed part is in the view. Pure, like the rest
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

#endif /* VUS_CODEC_BULK_H */
