/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loop (serve.c) as dev.c sees it (library-internal).
 */
#ifndef VUS_SERVE_H
#define VUS_SERVE_H

#include <stdint.h>

struct vus_dev;

/* vus_dev_new/free: the epoll set, the wake eventfd and the session (the
 * timerfd comes with the first DMA deadline); free also ends the session
 * and closes the listener. */
int vus_serve_init(struct vus_dev *dev);
void vus_serve_free(struct vus_dev *dev);
/* struct vus_dma_loop's two services; opaque is the device. */
void vus_loop_wake(void *opaque);
int vus_loop_timer_arm(void *opaque, uint64_t deadline_ns);

#endif /* VUS_SERVE_H */
