/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA map table (library-internal): the client's DMA_MAP windows, sorted
 * by IOVA, with their host mappings. A pure data structure plus mmap():
 * no sockets, no callbacks, unit-tested on its own.
 *
 * Rules (spec DMA_MAP/DMA_UNMAP, docs/protocol.md 3.2, 3.3):
 *  - a new window overlapping an existing one: -EEXIST;
 *  - more than max_maps windows or max_bytes in total: -ENOSPC;
 *  - unmap must match an earlier map exactly: -ENOENT otherwise;
 *  - fd-backed windows are mmap'ed MAP_SHARED at fd offset with the
 *    window's prot; the table owns the fd from a successful add on.
 *
 * Locking: the rwlock is taken for reading around copies through host
 * pointers (any thread) and for writing by add/remove (loop thread), so an
 * unmap waits for copies in progress and none starts afterwards.
 */
#ifndef VUS_DMA_MAP_H
#define VUS_DMA_MAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <vus/device.h>

/* Dirty-log bitmaps a device may hold by default: QEMU's max_bitmap_size
 * (vus_dev_set_dirty_log_limit()). */
#define VUS_DEFAULT_DIRTY_LOG_MAX (256ull << 20)

struct vus_dma_table {
	pthread_rwlock_t lock;
	struct vus_dma_region *r;     /* sorted by iova, non-overlapping */
	uint32_t n, cap;
	uint32_t max_maps;
	uint64_t max_bytes;           /* 0 = unlimited */
	uint64_t total_bytes;
	/* dirty logging (migration.c): one bitmap per region, or NULL */
	uint64_t **dirty;
	uint64_t dirty_pgsize;
	uint64_t dirty_bytes;         /* held by the bitmaps */
	uint64_t max_dirty_bytes;     /* 0 = unlimited; beyond: -ENOMEM */
	bool close_fds;               /* close a window's fd once it is mapped */
};

/* Logging dirty pages (dma_dirty.h starts and stops it; the table keeps
 * one bitmap per window while it does). */
static inline bool vus_dma_dirty_logging(const struct vus_dma_table *t)
{
	return t->dirty_pgsize != 0;
}
/* Words of the log of a window [iova, iova + size) at page size pgsize (a
 * power of two): one bit per page. */
uint64_t vus_dma_bitmap_words(uint64_t iova, uint64_t size, uint64_t pgsize);
/* Bytes of its bitmap: the log plus a summary of one bit per log word
 * (dma_dirty.c); what the dirty-log budget counts. */
uint64_t vus_dma_bitmap_bytes(uint64_t iova, uint64_t size, uint64_t pgsize);
/* Zeroed bitmap for a window [iova, iova + size) at page size pgsize (a
 * power of two), NULL on ENOMEM. */
uint64_t *vus_dma_bitmap_alloc(uint64_t iova, uint64_t size, uint64_t pgsize);

int vus_dma_table_init(struct vus_dma_table *t, uint32_t max_maps, uint64_t max_bytes);
/* Unmaps everything (no callbacks) and frees. */
void vus_dma_table_destroy(struct vus_dma_table *t);
/* Add a window; fd (or -1) becomes the table's on success. mmap failure: -errno. */
int vus_dma_table_add(struct vus_dma_table *t, uint64_t iova, uint64_t size, uint32_t prot,
		      int fd, uint64_t fd_offset, struct vus_dma_region *out);
/* Remove the window exactly matching (iova, size); before munmap/close,
 * cb(r, arg) is called (may be NULL). -ENOENT if none matches. */
int vus_dma_table_remove(struct vus_dma_table *t, uint64_t iova, uint64_t size,
			 void (*cb)(const struct vus_dma_region *r, void *arg), void *arg);
/* Remove every window, calling cb for each. */
void vus_dma_table_remove_all(struct vus_dma_table *t,
			      void (*cb)(const struct vus_dma_region *r, void *arg), void *arg);
/* Live update: every window forgets its fd (left open, now another
 * owner's), so removing or destroying never closes it. Loop thread. */
void vus_dma_table_forget_fds(struct vus_dma_table *t);
/*
 * Find the window holding [iova, iova+len) entirely. Caller holds the lock
 * (read or write). Returns the region or NULL (-EFAULT case); *off is
 * iova's offset inside it.
 */
const struct vus_dma_region *vus_dma_table_find(const struct vus_dma_table *t, uint64_t iova,
						uint64_t len, uint64_t *off);
/* Index of the first window whose last byte is >= iova (t->n if none).
 * Caller holds the lock. */
uint32_t vus_dma_table_lower(const struct vus_dma_table *t, uint64_t iova);
#endif /* VUS_DMA_MAP_H */
