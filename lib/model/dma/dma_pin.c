/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pointers the device holds into guest memory, for dirty logging
 * (docs/migration.md "Dirty tracking").
 *
 * vus_dma_translate() with WRITE hands out a pointer that stays valid
 * until the window is unmapped, so the library cannot see the writes made
 * through it. Marking the range once, when the pointer is handed out,
 * loses every write made after the next DMA_LOGGING_REPORT cleared it.
 * So the range is remembered here until its window goes, and every
 * report marks all remembered ranges again before it reads the log: a
 * write through a kept pointer is always in the report that follows it.
 * The price is over-reporting those pages in every round, which costs
 * copying, never data.
 *
 * The list is bounded (VUS_DMA_PINS_MAX ranges, exact duplicates merged);
 * past it, every report marks the whole range it covers, which is still
 * correct.
 */
#include <errno.h>
#include <stdlib.h>

#include "dev_priv.h"
#include "dma_dirty.h"

#define VUS_DMA_PINS_MAX 4096u

void vus_dma_pin_add(struct vus_dev *dev, uint64_t iova, uint64_t len)
{
	struct vus_dma_pins *p = &dev->dma.pins;
	uint32_t i;

	if (!len)
		return;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++)
		if (p->r[i].iova == iova && p->r[i].len == len)
			goto out;
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 16;
		struct vus_dma_pin *r;

		if (p->cap >= VUS_DMA_PINS_MAX ||
		    !(r = realloc(p->r, (size_t)cap * sizeof(*r)))) {
			p->overflow = true;
			goto out;
		}
		p->r = r;
		p->cap = cap;
	}
	p->r[p->n].iova = iova;
	p->r[p->n].len = len;
	p->n++;
out:
	pthread_mutex_unlock(&p->lock);
}

void vus_dma_pin_drop(struct vus_dev *dev, uint64_t iova, uint64_t size)
{
	struct vus_dma_pins *p = &dev->dma.pins;
	uint64_t last = iova + (size - 1);
	uint32_t i = 0;

	pthread_mutex_lock(&p->lock);
	while (i < p->n) {
		const struct vus_dma_pin *r = &p->r[i];

		/* A pointer lies inside one window (translate's rule). */
		if (r->iova >= iova && r->iova <= last)
			p->r[i] = p->r[--p->n];
		else
			i++;
	}
	if (!p->n)
		p->overflow = false;
	pthread_mutex_unlock(&p->lock);
}

void vus_dma_pin_remark(struct vus_dev *dev, uint64_t iova, uint64_t len)
{
	struct vus_dma_pins *p = &dev->dma.pins;
	struct vus_dma_table *t = &dev->dma.table;
	struct vus_dma_pin *copy = NULL;
	uint32_t i, n;
	bool all;

	/* Copied out: the unmap path takes the table lock, then ours. */
	pthread_mutex_lock(&p->lock);
	n = p->n;
	all = p->overflow;
	if (n && !all) {
		copy = malloc((size_t)n * sizeof(*copy));
		if (copy)
			for (i = 0; i < n; i++)
				copy[i] = p->r[i];
		else
			all = true;
	}
	pthread_mutex_unlock(&p->lock);

	pthread_rwlock_rdlock(&t->lock);
	if (all)
		vus_dma_dirty_mark_locked(t, iova, len);
	else
		for (i = 0; i < n; i++)
			vus_dma_dirty_mark_locked(t, copy[i].iova, copy[i].len);
	pthread_rwlock_unlock(&t->lock);
	free(copy);
}

int vus_dma_pins_init(struct vus_dev *dev)
{
	struct vus_dma_pins *p = &dev->dma.pins;
	int rc;

	p->r = NULL;
	p->n = p->cap = 0;
	p->overflow = false;
	rc = pthread_mutex_init(&p->lock, NULL);
	return -rc;
}

void vus_dma_pins_free(struct vus_dev *dev)
{
	struct vus_dma_pins *p = &dev->dma.pins;

	free(p->r);
	p->r = NULL;
	p->n = p->cap = 0;
	pthread_mutex_destroy(&p->lock);
}
