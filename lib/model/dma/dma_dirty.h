/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dirty-page log over the DMA map table (library-internal): the bitmaps
 * behind DMA_LOGGING_START/STOP/REPORT (docs/protocol.md 5.3).
 *
 * Layout: while logging, t->dirty_pgsize is the log page size P (a power
 * of two) and t->dirty[i] is the bitmap of window t->r[i], or NULL for a
 * window without host mapping (fd-less: the client performs those writes
 * itself through DMA_WRITE, so they are never logged here; libvfio-user
 * issue #751). Bit k of a window's bitmap stands for the absolute IOVA
 * page (r.iova / P) + k, so a window that does not start on a page
 * boundary still maps each of its bytes to exactly one bit.
 * t->dirty has t->cap entries and may be NULL while the table is empty.
 * Behind each window's log lies its summary, one bit per log word, so a
 * REPORT visits only words that may be dirty (dma_dirty.c).
 *
 * Locking: start/stop/report take the table's write lock themselves;
 * vus_dma_dirty_mark_locked() runs under the read lock (any thread, bits
 * set with atomic OR).
 */
#ifndef VUS_DMA_DIRTY_H
#define VUS_DMA_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "dma_map.h"


/*
 * Start logging at page size pgsize (power of two, else -EINVAL): a bitmap
 * for every window with a host mapping, and for every such window added
 * later. Already logging at the same page size: 0, log kept (libvfio-user
 * does the same); at another page size: -EINVAL. -ENOMEM, also when the
 * bitmaps would exceed t->max_dirty_bytes: that budget bounds both the
 * memory and the work of every later DMA_LOGGING_REPORT, which reads at
 * most the log of one window (docs/security.md section 2).
 */
int vus_dma_dirty_start(struct vus_dma_table *t, uint64_t pgsize);
/* Stop logging and free the bitmaps. Idempotent. */
void vus_dma_dirty_stop(struct vus_dma_table *t);

/* Mark [iova, iova + len) written (parts outside windows are ignored).
 * No-op unless logging. Caller holds the read (or write) lock. */
void vus_dma_dirty_mark_locked(struct vus_dma_table *t, uint64_t iova, uint64_t len);

/* Bytes of a report bitmap for len bytes at page size pgsize:
 * ceil(ceil(len / pgsize) / 64) * 8 (docs/protocol.md 5.3). len > 0. */
uint64_t vus_dma_dirty_report_bytes(uint64_t len, uint64_t pgsize);

/*
 * DMA_LOGGING_REPORT for [iova, iova + len) at page size pgsize (a power
 * of two; may differ from the log's): bit j of out stands for
 * [iova + j * pgsize, iova + (j + 1) * pgsize) and is set if any logged
 * page overlapping that part of the range is dirty. out must hold
 * vus_dma_dirty_report_bytes() zeroed bytes. Log pages lying wholly
 * inside the range are cleared (UAPI: reading the report clears the log);
 * pages straddling its ends stay dirty, so nothing written outside the
 * range is ever lost (they are merely reported again).
 * -EINVAL: not logging, or the range does not lie inside one window.
 * A window without host mapping yields an all-zero bitmap.
 */
int vus_dma_dirty_report(struct vus_dma_table *t, uint64_t iova, uint64_t len, uint64_t pgsize,
			 uint64_t *out);

#endif /* VUS_DMA_DIRTY_H */
