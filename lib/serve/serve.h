/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loop (serve.c) as dev.c sees it (library-internal).
 */
#ifndef VUS_SERVE_H
#define VUS_SERVE_H

#include <stdint.h>

struct vus_dev;
struct vus_session_limits;

/* vus_dev_new/free: the epoll set, the wake eventfd and the session (the
 * timerfd comes with the first DMA deadline); free also ends the session
 * and closes the listener. */
int vus_serve_init(struct vus_dev *dev);
void vus_serve_free(struct vus_dev *dev);
/* struct vus_dma_loop's two services; opaque is the device. */
void vus_loop_wake(void *opaque);
int vus_loop_timer_arm(void *opaque, uint64_t deadline_ns);

/* What a session of this device may receive and queue (device.h limits). */
void vus_serve_session_limits(const struct vus_dev *dev, struct vus_session_limits *lim);
/* Route large REGION_WRITE payloads of the device's session straight into
 * memory-backed regions (docs/performance.md); after every session start,
 * live adoption included. */
void vus_serve_set_sink(struct vus_dev *dev);

#endif /* VUS_SERVE_H */
