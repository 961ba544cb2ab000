/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The loop (serve.c) as dev.c sees it (library-internal).
 */
#ifndef VUS_SERVE_H
#define VUS_SERVE_H

#include <stdint.h>

struct vus_dev;
struct vus_session_limits;

/* vus_dev_new/free: the epoll set, the wake eventfd, the timerfd and the
 * session; free also ends the session and closes the listener. */
int vus_serve_init(struct vus_dev *dev);
void vus_serve_free(struct vus_dev *dev);
/* struct vus_dma_loop's two services; opaque is the device. */
void vus_loop_wake(void *opaque);
void vus_loop_timer_arm(void *opaque, uint64_t deadline_ns);

/* What a session of this device may receive and queue (device.h limits). */
void vus_serve_session_limits(const struct vus_dev *dev, struct vus_session_limits *lim);

#endif /* VUS_SERVE_H */
