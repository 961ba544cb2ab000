/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dirty-page log over the DMA map table (dma_dirty.h).
 *
 * Each window's bitmap is its log (one bit per page) followed by a
 * summary (one bit per log word: "this word may be non-zero"). Marks set
 * both; a REPORT walks the summary and visits only the log words it
 * names, so its work follows what is dirty, not the window's size: a
 * REPORT over 512 GiB of clean pages reads 4 KiB of summary instead of
 * 16 MiB of log (docs/security.md section 2).
 */
#include <errno.h>
#include <stdlib.h>

#include "bits.h"
#include "dma_dirty.h"


/* Set bits [first, last] of bm; atomic where other readers may set too. */
static void bits_set(uint64_t *bm, uint64_t first, uint64_t last, bool atomic)
{
	uint64_t w;

	for (w = first / 64; w <= last / 64; w++) {
		uint64_t mask = ~0ull;

		if (w == first / 64)
			mask &= ~0ull << (first % 64);
		if (w == last / 64)
			mask &= ~0ull >> (63 - last % 64);
		if (atomic)
			__atomic_fetch_or(&bm[w], mask, __ATOMIC_RELAXED);
		else
			bm[w] |= mask;
	}
}

int vus_dma_dirty_start(struct vus_dma_table *t, uint64_t pgsize)
{
	uint64_t **dirty = NULL, need = 0;
	uint32_t i;
	int rc = 0;

	if (!vus_is_pow2(pgsize))
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	if (vus_dma_dirty_logging(t)) {
		rc = t->dirty_pgsize == pgsize ? 0 : -EINVAL;
		goto out;
	}
	for (i = 0; i < t->n; i++)
		if (t->r[i].vaddr)
			need += vus_dma_bitmap_bytes(t->r[i].iova, t->r[i].size, pgsize);
	if (t->max_dirty_bytes && need > t->max_dirty_bytes) {
		rc = -ENOMEM;
		goto out;
	}
	if (t->cap) {
		dirty = calloc(t->cap, sizeof(*dirty));
		if (!dirty) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < t->n; i++) {
		if (!t->r[i].vaddr)
			continue; /* fd-less: the client sees those writes itself */
		dirty[i] = vus_dma_bitmap_alloc(t->r[i].iova, t->r[i].size, pgsize);
		if (!dirty[i]) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	t->dirty = dirty;
	t->dirty_pgsize = pgsize;
	t->dirty_bytes = need;
	goto out;

out_free:
	while (i--)
		free(dirty[i]);
	free(dirty);
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

void vus_dma_dirty_stop(struct vus_dma_table *t)
{
	uint32_t i;

	pthread_rwlock_wrlock(&t->lock);
	if (t->dirty) {
		for (i = 0; i < t->n; i++)
			free(t->dirty[i]);
		free(t->dirty);
		t->dirty = NULL;
	}
	t->dirty_pgsize = 0;
	t->dirty_bytes = 0;
	pthread_rwlock_unlock(&t->lock);
}

void vus_dma_dirty_mark_locked(struct vus_dma_table *t, uint64_t iova, uint64_t len)
{
	unsigned s;
	uint64_t last;
	uint32_t i;

	if (!t->dirty || !len)
		return;
	s = vus_log2_pow2(t->dirty_pgsize);
	last = iova + (len - 1);
	if (last < iova)
		last = UINT64_MAX;
	for (i = vus_dma_table_lower(t, iova); i < t->n && t->r[i].iova <= last; i++) {
		const struct vus_dma_region *r = &t->r[i];
		uint64_t r_last = r->iova + (r->size - 1);
		uint64_t lo = iova > r->iova ? iova : r->iova;
		uint64_t hi = last < r_last ? last : r_last;
		uint64_t base = r->iova >> s;

		uint64_t first = (lo >> s) - base, last_bit = (hi >> s) - base;
		uint64_t *log = t->dirty[i];

		if (!log)
			continue;
		bits_set(log, first, last_bit, true);
		bits_set(log + vus_dma_bitmap_words(r->iova, r->size, t->dirty_pgsize),
			 first / 64, last_bit / 64, true);
	}
}

uint64_t vus_dma_dirty_report_bytes(uint64_t len, uint64_t pgsize)
{
	uint64_t bits = (len - 1) / pgsize + 1;

	return (bits / 64 + (bits % 64 != 0)) * sizeof(uint64_t);
}

/*
 * Fold log bits [first, last] (relative to the window's first page,
 * absolute page base + k) into report bits, clearing the log pages that
 * lie wholly inside [iova, last_byte]. Only the log words the summary
 * marks are read; a word cleared to zero leaves the summary.
 */
static void fold(uint64_t *log, uint64_t *sum, uint64_t base, uint64_t first, uint64_t last,
		 unsigned s, uint64_t iova, uint64_t last_byte, unsigned qs, uint64_t *out)
{
	uint64_t fw = first / 64, lw = last / 64, sw;

	for (sw = fw / 64; sw <= lw / 64; sw++) {
		uint64_t words = sum[sw], drop = 0;

		if (sw == fw / 64)
			words &= ~0ull << (fw % 64);
		if (sw == lw / 64)
			words &= ~0ull >> (63 - lw % 64);
		for (; words; words &= words - 1) {
			unsigned wb = (unsigned)__builtin_ctzll(words);
			uint64_t w = sw * 64 + wb, mask = ~0ull, bits, clear = 0;

			if (w == fw)
				mask &= ~0ull << (first % 64);
			if (w == lw)
				mask &= ~0ull >> (63 - last % 64);
			for (bits = log[w] & mask; bits; bits &= bits - 1) {
				unsigned b = (unsigned)__builtin_ctzll(bits);
				uint64_t page_lo = (base + w * 64 + b) << s;
				uint64_t page_last = page_lo + ((1ull << s) - 1);
				uint64_t lo = page_lo > iova ? page_lo : iova;
				uint64_t hi = page_last < last_byte ? page_last : last_byte;

				bits_set(out, (lo - iova) >> qs, (hi - iova) >> qs, false);
				if (page_lo >= iova && page_last <= last_byte)
					clear |= 1ull << b;
			}
			log[w] &= ~clear;
			if (!log[w])
				drop |= 1ull << wb;
		}
		sum[sw] &= ~drop;
	}
}

int vus_dma_dirty_report(struct vus_dma_table *t, uint64_t iova, uint64_t len, uint64_t pgsize,
			 uint64_t *out)
{
	const struct vus_dma_region *r;
	uint64_t *log;
	uint64_t base, last_byte;
	unsigned s;
	int rc = 0;

	if (!len || !vus_is_pow2(pgsize))
		return -EINVAL;
	/* Write lock: readers set bits concurrently, and we clear them. */
	pthread_rwlock_wrlock(&t->lock);
	r = vus_dma_table_find(t, iova, len, NULL);
	if (!vus_dma_dirty_logging(t) || !r) {
		rc = -EINVAL;
		goto out;
	}
	log = t->dirty ? t->dirty[r - t->r] : NULL;
	if (!log)
		goto out; /* fd-less window: nothing is ever logged */
	s = vus_log2_pow2(t->dirty_pgsize);
	base = r->iova >> s;
	last_byte = iova + (len - 1);
	fold(log, log + vus_dma_bitmap_words(r->iova, r->size, t->dirty_pgsize), base,
	     (iova >> s) - base, (last_byte >> s) - base, s, iova, last_byte,
	     vus_log2_pow2(pgsize), out);
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}
