/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Zero-copy REGION_WRITE (docs/performance.md "Zero-copy bulk
 * transfers"): the transport's sink (transport.h vus_conn_sink) for the
 * client socket. When a REGION_WRITE's header and region access have
 * arrived but its data has not, and the data is bound for memory the
 * device backs the region with, the data is received straight into that
 * memory; the handler then only answers (handlers.c vus_h_region_write).
 *
 * MIG_DATA_WRITE in a framed stream goes straight into the library's
 * stream buffer (migration.c vus_mig_data_sink).
 *
 * Replies to our DMA_READ requests on this socket (when no twin socket
 * was negotiated) go to the DMA engine's sink (dma_rw.c
 * vus_dma_reply_sink): their data straight into the device's buffer.
 *
 * Everything that would stop the handler from writing is decided here,
 * before a byte lands: the session is negotiated, no fault-injection rule
 * is armed (one could fail the command), the access decodes as the
 * handler would decode it, and the region checks pass (bounds,
 * permission; model/access.c vus_region_access_direct). Anything else
 * takes the buffered path and gets its answer there.
 */
#include <errno.h>

#include "codec_bulk.h"
#include "dispatch.h"
#include "fault.h"

int vus_dispatch_sink(void *opaque, const struct vus_hdr *h, const uint8_t *head,
		      struct vus_sink_dst *d)
{
	struct vus_dev *dev = opaque;
	struct vus_msg_view v = {
		.hdr = *h, .payload = head, .len = VUS_REGION_WRITE_HEAD,
	};
	struct vus_region_access ra;
	void *p;

	/* Our DMA_READs' answers on this socket (no twin socket). */
	if (vus_hdr_is_reply(h))
		return vus_dma_reply_sink(dev, h, head, d);
	if (!dev->sess.negotiated || vus_fault_armed(dev))
		return 0;
	if (h->cmd == VUS_CMD_MIG_DATA_WRITE)
		return vus_mig_data_sink(dev, h, head, d);
	if (h->cmd != VUS_CMD_REGION_WRITE)
		return 0;
	if (vus_region_write_head_decode(&v, h->size - VUS_HDR_SIZE - VUS_REGION_WRITE_HEAD,
					 dev->max_xfer, &ra) < 0)
		return 0;
	if (vus_region_access_direct(dev, ra.region, ra.offset, ra.count, true, &p) < 0 || !p)
		return 0;
	*d = (struct vus_sink_dst){ .base = p, .skip = VUS_REGION_WRITE_HEAD, .len = ra.count };
	return 1;
}
