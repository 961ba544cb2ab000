/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dma_rw.c internals used by dma.c (library-internal).
 */
#ifndef VUS_DMA_RW_H
#define VUS_DMA_RW_H

struct vus_dev;

/*
 * Finish every queued and in-flight transfer now: those with work left
 * fail with err (their outstanding chunks are abandoned), those already
 * complete report their own result. Done callbacks run in the caller's
 * thread (the loop thread, or vus_dev_free()'s).
 */
void vus_dma_rw_fail_all(struct vus_dev *dev, int err);

#endif /* VUS_DMA_RW_H */
