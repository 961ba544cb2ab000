/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA map table (dma_map.h): a sorted array of non-overlapping windows,
 * searched by binary search, plus the mmap() of fd-backed windows.
 *
 * Writers (add/remove, the loop thread) hold the write lock while the
 * array changes. A removed window leaves the array under the write lock,
 * which waits for every copy in progress (copies hold the read lock);
 * after that no copy can find it, so the callback, munmap() and close()
 * run unlocked. The callback may therefore use the table itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bits.h"
#include "dma_map.h"

#define VUS_DMA_PROT_ALL (VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE)

/* Last byte of a window; size > 0 and no overflow are add()'s invariants. */
static inline uint64_t win_last(const struct vus_dma_region *r)
{
	return r->iova + (r->size - 1);
}

uint64_t vus_dma_bitmap_words(uint64_t iova, uint64_t size, uint64_t pgsize)
{
	unsigned s = vus_log2_pow2(pgsize);
	uint64_t pages = ((iova + (size - 1)) >> s) - (iova >> s) + 1;

	return pages / 64 + (pages % 64 != 0);
}

uint64_t vus_dma_bitmap_bytes(uint64_t iova, uint64_t size, uint64_t pgsize)
{
	uint64_t words = vus_dma_bitmap_words(iova, size, pgsize);

	/* The log, then its summary: one bit per log word (dma_dirty.c). */
	return (words + words / 64 + (words % 64 != 0)) * sizeof(uint64_t);
}

uint64_t *vus_dma_bitmap_alloc(uint64_t iova, uint64_t size, uint64_t pgsize)
{
	uint64_t bytes = vus_dma_bitmap_bytes(iova, size, pgsize);

	if (bytes > SIZE_MAX)
		return NULL;
	return calloc(1, (size_t)bytes);
}

int vus_dma_table_init(struct vus_dma_table *t, uint32_t max_maps, uint64_t max_bytes)
{
	pthread_rwlockattr_t attr;
	int rc;

	memset(t, 0, sizeof(*t));
	/*
	 * Writer first: glibc's default lets a steady stream of device copies
	 * (readers) starve DMA_UNMAP, which must finish before its reply. No
	 * path takes the read lock twice, so this cannot self-deadlock.
	 */
	rc = pthread_rwlockattr_init(&attr);
	if (rc)
		return -rc;
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&t->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc)
		return -rc;
	t->max_maps = max_maps;
	t->max_bytes = max_bytes;
	return 0;
}

uint32_t vus_dma_table_lower(const struct vus_dma_table *t, uint64_t iova)
{
	uint32_t lo = 0, hi = t->n;

	/* Windows are sorted and disjoint, so their last bytes are sorted too. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (win_last(&t->r[mid]) < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct vus_dma_region *vus_dma_table_find(const struct vus_dma_table *t, uint64_t iova,
						uint64_t len, uint64_t *off)
{
	const struct vus_dma_region *r;
	uint64_t last;
	uint32_t i;

	/* len 0 asks for the window holding the single byte at iova. */
	last = iova + (len ? len - 1 : 0);
	if (last < iova)
		return NULL;
	i = vus_dma_table_lower(t, iova);
	if (i == t->n)
		return NULL;
	r = &t->r[i];
	if (r->iova > iova || last > win_last(r))
		return NULL;
	if (off)
		*off = iova - r->iova;
	return r;
}

static uint64_t page_size(void)
{
	long pg = sysconf(_SC_PAGESIZE);

	return pg > 0 ? (uint64_t)pg : 4096;
}

/*
 * mmap() wants a page-aligned file offset; the client's offset need not
 * be (the spec does not require it), so map from the page below it and
 * point vaddr at the exact byte.
 *
 * mmap() accepts a range past the end of a file, and the first access
 * there kills the server with SIGBUS (found by fuzz_dispatch): a window
 * must lie inside its file. Only regular files (memfd, tmpfs, hugetlbfs)
 * have a size to check; a client that shrinks the file after the map is
 * not caught (docs/protocol.md section 6).
 */
static int map_fd(struct vus_dma_region *r)
{
	uint64_t delta = r->fd_offset % page_size();
	uint64_t len = r->size + delta;
	struct stat st;
	int prot = 0;
	void *p;

	if (len < r->size || len > SIZE_MAX || r->fd_offset - delta > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (fstat(r->fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) &&
	    (st.st_size < 0 || r->fd_offset > (uint64_t)st.st_size ||
	     r->size > (uint64_t)st.st_size - r->fd_offset))
		return -EINVAL;
	if (r->prot & VUS_DMA_MAP_FLAG_READ)
		prot |= PROT_READ;
	if (r->prot & VUS_DMA_MAP_FLAG_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, (size_t)len, prot, MAP_SHARED, r->fd, (off_t)(r->fd_offset - delta));
	if (p == MAP_FAILED)
		return -errno;
	/* Client memory never goes to a child process: vusd forks its
	 * process-isolated devices from a process that may serve other
	 * tenants (docs/security.md "Isolation"). Advice only: on failure
	 * the window still works. */
	(void)madvise(p, (size_t)len, MADV_DONTFORK);
	r->vaddr = (uint8_t *)p + delta;
	return 0;
}

static void unmap_fd(const struct vus_dma_region *r)
{
	uint64_t delta = r->fd_offset % page_size();

	munmap((uint8_t *)r->vaddr - delta, (size_t)(r->size + delta));
}

/* A removed window's resources: its mapping and its fd. */
static void release(const struct vus_dma_region *r)
{
	if (r->vaddr)
		unmap_fd(r);
	if (r->fd >= 0)
		close(r->fd);
}

/* Room for one more window in r[] (and in dirty[] while logging). */
static int grow(struct vus_dma_table *t)
{
	struct vus_dma_region *nr;
	uint32_t cap;

	if (t->n < t->cap)
		return 0;
	cap = t->cap ? (t->cap > UINT32_MAX / 2 ? UINT32_MAX : t->cap * 2) : 8;
	nr = realloc(t->r, (size_t)cap * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	t->r = nr;
	if (vus_dma_dirty_logging(t)) {
		uint64_t **nd = realloc(t->dirty, (size_t)cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM; /* r[] merely stays larger than cap */
		t->dirty = nd;
	}
	t->cap = cap;
	return 0;
}

/* Overlap and limit checks for a new window at slot i (write lock held). */
static int check_new(const struct vus_dma_table *t, uint32_t i, uint64_t iova, uint64_t size)
{
	/* r[i] is the first window ending at or after iova: the only
	 * candidate for an overlap (spec DMA_MAP: EEXIST). */
	if (i < t->n && t->r[i].iova <= iova + (size - 1))
		return -EEXIST;
	if (t->n >= t->max_maps)
		return -ENOSPC;
	if (t->max_bytes && (t->total_bytes > t->max_bytes || size > t->max_bytes - t->total_bytes))
		return -ENOSPC;
	return 0;
}

int vus_dma_table_add(struct vus_dma_table *t, uint64_t iova, uint64_t size, uint32_t prot,
		      int fd, uint64_t fd_offset, struct vus_dma_region *out)
{
	struct vus_dma_region reg = {
		.iova = iova, .size = size, .prot = prot, .fd = fd, .fd_offset = fd_offset,
	};
	uint64_t *bitmap = NULL, log_bytes = 0;
	uint32_t i;
	int rc;

	/*
	 * A window nobody may read or write is refused like the kernel's
	 * VFIO_IOMMU_MAP_DMA does (vfio_iommu_type1: !prot -> EINVAL).
	 */
	if (size == 0 || iova + (size - 1) < iova || (fd < 0 && fd_offset))
		return -EINVAL;
	if (prot == 0 || (prot & ~VUS_DMA_PROT_ALL))
		return -EINVAL;

	pthread_rwlock_wrlock(&t->lock);
	i = vus_dma_table_lower(t, iova);
	rc = check_new(t, i, iova, size);
	if (rc)
		goto out_unlock;
	rc = grow(t);
	if (rc)
		goto out_unlock;
	if (fd >= 0) {
		rc = map_fd(&reg);
		if (rc)
			goto out_unlock;
		if (vus_dma_dirty_logging(t)) {
			log_bytes = vus_dma_bitmap_bytes(iova, size, t->dirty_pgsize);
			if (t->max_dirty_bytes && (log_bytes > t->max_dirty_bytes ||
						   t->dirty_bytes > t->max_dirty_bytes - log_bytes)) {
				rc = -ENOMEM;
				goto out_unmap;
			}
			bitmap = vus_dma_bitmap_alloc(iova, size, t->dirty_pgsize);
			if (!bitmap) {
				rc = -ENOMEM;
				goto out_unmap;
			}
		}
	}

	memmove(&t->r[i + 1], &t->r[i], (size_t)(t->n - i) * sizeof(t->r[0]));
	t->r[i] = reg;
	if (vus_dma_dirty_logging(t)) {
		memmove(&t->dirty[i + 1], &t->dirty[i], (size_t)(t->n - i) * sizeof(t->dirty[0]));
		t->dirty[i] = bitmap;
		if (bitmap)
			t->dirty_bytes += log_bytes;
	}
	/* The mapping keeps the file alive: the fd itself need not stay
	 * (vus_dev_set_dma_close_fds()). */
	if (t->close_fds && reg.fd >= 0 && reg.vaddr) {
		close(reg.fd);
		reg.fd = -1;
		t->r[i].fd = -1;
	}
	t->n++;
	t->total_bytes += size;
	pthread_rwlock_unlock(&t->lock);
	if (out)
		*out = reg;
	return 0;

out_unmap:
	/* The fd stays the caller's on failure: undo only the mapping. */
	unmap_fd(&reg);
out_unlock:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* Take slot i out of the array (write lock held); *bitmap gets its log. */
static void take_out(struct vus_dma_table *t, uint32_t i, struct vus_dma_region *reg,
		     uint64_t **bitmap)
{
	*reg = t->r[i];
	*bitmap = NULL;
	if (t->dirty) {
		*bitmap = t->dirty[i];
		if (*bitmap)
			t->dirty_bytes -= vus_dma_bitmap_bytes(t->r[i].iova, t->r[i].size,
								  t->dirty_pgsize);
		memmove(&t->dirty[i], &t->dirty[i + 1], (size_t)(t->n - i - 1) * sizeof(t->dirty[0]));
	}
	memmove(&t->r[i], &t->r[i + 1], (size_t)(t->n - i - 1) * sizeof(t->r[0]));
	t->n--;
	t->total_bytes -= reg->size;
}

int vus_dma_table_remove(struct vus_dma_table *t, uint64_t iova, uint64_t size,
			 void (*cb)(const struct vus_dma_region *r, void *arg), void *arg)
{
	struct vus_dma_region reg;
	uint64_t *bitmap;
	uint32_t i;

	pthread_rwlock_wrlock(&t->lock);
	i = vus_dma_table_lower(t, iova);
	/* Exact match only (spec DMA_UNMAP; libvfio-user: ENOENT). */
	if (i == t->n || t->r[i].iova != iova || t->r[i].size != size) {
		pthread_rwlock_unlock(&t->lock);
		return -ENOENT;
	}
	take_out(t, i, &reg, &bitmap);
	pthread_rwlock_unlock(&t->lock);

	free(bitmap);
	if (cb)
		cb(&reg, arg);
	release(&reg);
	return 0;
}

void vus_dma_table_remove_all(struct vus_dma_table *t,
			      void (*cb)(const struct vus_dma_region *r, void *arg), void *arg)
{
	struct vus_dma_region *r;
	uint32_t i, n;

	/* Steal the whole array so no allocation can fail on this path. */
	pthread_rwlock_wrlock(&t->lock);
	r = t->r;
	n = t->n;
	if (t->dirty) {
		for (i = 0; i < n; i++)
			free(t->dirty[i]);
		free(t->dirty);
		t->dirty = NULL; /* grow() re-creates it while logging */
		t->dirty_bytes = 0;
	}
	t->r = NULL;
	t->n = t->cap = 0;
	t->total_bytes = 0;
	pthread_rwlock_unlock(&t->lock);

	for (i = 0; i < n; i++) {
		if (cb)
			cb(&r[i], arg);
		release(&r[i]);
	}
	free(r);
}

void vus_dma_table_destroy(struct vus_dma_table *t)
{
	/* remove_all freed the bitmaps; logging ends with the table. */
	vus_dma_table_remove_all(t, NULL, NULL);
	t->dirty_pgsize = 0;
	pthread_rwlock_destroy(&t->lock);
}

void vus_dma_table_forget_fds(struct vus_dma_table *t)
{
	uint32_t i;

	pthread_rwlock_wrlock(&t->lock);
	for (i = 0; i < t->n; i++)
		t->r[i].fd = -1;
	pthread_rwlock_unlock(&t->lock);
}
