/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live update: a served device, its attached client included, handed to
 * another vus_dev -- normally the same device created by a new image of
 * the server process after execve(), which inherits the fds -- without
 * the client reconnecting or noticing more than a pause
 * (docs/live-update.md).
 *
 * The old owner exports: the device is stopped through its migration
 * callbacks (STOP_COPY; it needs vus_dev_set_migration()), the client's
 * output queue written out, and the state -- the device's migration
 * stream, config space, the session's negotiated state and unhandled
 * input, every DMA window and IRQ eventfd by fd number -- returned as one
 * checksummed buffer. The fds it names stop being close-on-exec.
 * While exported the device serves nothing (vus_dev_process() returns 0).
 *
 * Then either the new owner took over and the old one releases (forgets
 * every fd without closing it, and never runs the device again before
 * vus_dev_free()), or it failed and the old one resumes (RUNNING again,
 * the fds close-on-exec again, serving as before).
 *
 * The new owner is a vus_dev created and configured like the old one (same
 * type, options, regions, IRQs), not listening yet. vus_dev_live_check()
 * is a dry run: the state's format and checksum, the device layout, and the
 * device's load of its migration stream -- no fd touched. vus_dev_live_adopt()
 * takes everything over and runs the device.
 *
 * Loop thread (the one that runs vus_dev_process()), every function.
 * DMA windows keep their fds only if vus_dev_set_dma_close_fds(false) (the
 * default); a device whose fds were closed cannot be exported (-EOPNOTSUPP).
 */
#ifndef VUS_LIVE_H
#define VUS_LIVE_H

#include <stddef.h>

#include <vus/api.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vus_dev;

/*
 * Stop the device and describe it: *state (free() it) and *len. Errors
 * leave the device serving: -EOPNOTSUPP (no migration support, IRQs passed
 * through, DMA fds closed), -EBUSY (a client's migration or dirty logging,
 * a reply held by fault injection, or exported already), -EAGAIN (try
 * again in a moment: input mid-way through fds), -ETIMEDOUT (the client
 * does not read its replies), -errno from the device's save.
 */
VUS_API int vus_dev_live_export(struct vus_dev *dev, void **state, size_t *len);
/* After a failed hand-over: serve again. 0, or -errno if the device's
 * STOP_COPY -> RUNNING failed (then it was reset to RUNNING). */
VUS_API int vus_dev_live_resume(struct vus_dev *dev);
/* After a successful hand-over: forget the listener, the client's sockets
 * and fds without closing them. vus_dev_free() may follow. */
VUS_API void vus_dev_live_release(struct vus_dev *dev);

/* Dry run on a fresh device: 0, or -EINVAL (format, checksum, layout, the
 * device's stream refused; logged), -EOPNOTSUPP. The device is left
 * stopped: free it. */
VUS_API int vus_dev_live_check(struct vus_dev *dev, const void *state, size_t len);
/* Take over and serve: the listener (if any), the client's session, DMA
 * windows, IRQ eventfds and the device's state. 0 or -errno. */
VUS_API int vus_dev_live_adopt(struct vus_dev *dev, const void *state, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VUS_LIVE_H */
