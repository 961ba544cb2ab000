/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dispatch (library-internal): what the loop (serve/) calls for each
 * command, and the handlers of handlers.c for dispatch.c's table. The
 * model's own handlers (DMA, migration) are declared in dev_priv.h.
 */
#ifndef VUS_DISPATCH_H
#define VUS_DISPATCH_H

#include "dev_priv.h"

/* Handle one command from the client (in order). */
void vus_dispatch(struct vus_dev *dev, struct vus_rx_msg *m);

/* bulk.c: the client socket's zero-copy sink (transport.h vus_conn_sink;
 * opaque is the device, head VUS_REGION_WRITE_HEAD). */
int vus_dispatch_sink(void *opaque, const struct vus_hdr *h, const uint8_t *head,
		      struct vus_sink_dst *d);

/* handlers.c */
int vus_h_version(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_device_info(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_region_info(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_region_io_fds(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_irq_info(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_set_irqs(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_region_read(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_region_write(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_device_reset(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);
int vus_h_write_multi(struct vus_dev *, struct vus_rx_msg *, struct vus_reply *);

#endif /* VUS_DISPATCH_H */
