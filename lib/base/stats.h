/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device's counters (library-internal). Every layer adds to them under
 * one lock (any thread); vus_dev_get_stats() and the vus_dev_stat*()
 * accessors of device.h read them. The layout is the library's own: the
 * public API reads single counters, so sizes here are not ABI.
 */
#ifndef VUS_STATS_H
#define VUS_STATS_H

#include <pthread.h>
#include <stdint.h>

#include <vus/proto.h>

/* errnos counted one by one; larger ones only in errors. */
#define VUS_STATS_ERRNO_MAX 134

struct vus_counters {
	pthread_mutex_t lock;
	uint64_t msgs[VUS_CMD_MAX + 1];   /* commands received, by number (0: unknown) */
	uint64_t errors;                  /* error replies sent */
	uint64_t errnos[VUS_STATS_ERRNO_MAX];
	uint64_t bytes_in, bytes_out;     /* socket bytes */
	uint64_t irqs;                    /* eventfd signals */
	uint64_t dma_maps, dma_unmaps;
	uint64_t dma_msgs;                /* DMA_READ/WRITE messages sent */
	uint64_t clients;                 /* clients served so far */
	uint64_t cur_maps;
	uint64_t cur_mapped_bytes;
};

/* *field += n under the lock. */
static inline void vus_counters_add(struct vus_counters *c, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&c->lock);
	*field += n;
	pthread_mutex_unlock(&c->lock);
}

#endif /* VUS_STATS_H */
