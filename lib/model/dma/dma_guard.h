/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copies through the client's shared memory that survive the client
 * shrinking its file under us (docs/security.md section 3).
 *
 * A DMA window is an mmap() of a file the client owns. If the client
 * truncates that file after DMA_MAP, touching the vanished pages raises
 * SIGBUS, which by default kills the whole server and every other
 * device in it. The library's own copies (vus_dma_read/write and their
 * async forms) go through vus_dma_guarded_copy(): a SIGBUS inside it
 * fails that copy with -EFAULT instead, and the session of that client
 * ends. Pointers a device takes with vus_dma_translate() are the
 * device's to use: a fault there is not caught (include/vus/device.h).
 *
 * The handler is process-wide and installed once, on the first fd-backed
 * DMA_MAP. A SIGBUS outside a guarded copy goes to whatever handler was
 * installed before (or the default action: the process dies as it would
 * have without vus).
 */
#ifndef VUS_DMA_GUARD_H
#define VUS_DMA_GUARD_H

#include <stddef.h>

/* Install the SIGBUS handler (once; any thread). 0 or -errno. */
int vus_dma_guard_install(void);

/* memcpy(dst, src, n); -EFAULT (and a partial copy) if it raised SIGBUS.
 * Any thread. */
int vus_dma_guarded_copy(void *dst, const void *src, size_t n);

/* The same for n >= 4 bytes whose last 4 (at a 4-byte aligned dst + n - 4)
 * say the rest is there: the first n - 4 are copied, then the last 4 are
 * stored as one 4-byte store with release order. */
int vus_dma_guarded_copy_release(void *dst, const void *src, size_t n);

#endif /* VUS_DMA_GUARD_H */
