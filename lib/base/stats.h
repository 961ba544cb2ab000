/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device's counters (library-internal). Every layer adds to them under
 * one lock (any thread); vus_dev_get_stats() and the vus_dev_stat*()
 * accessors of device.h read them. The layout is the library's own: the
 * public API reads single counters, so sizes here are not ABI.
 *
 * Except the per-message ones (msgs, errors, errnos, bytes_in,
 * bytes_out): only the loop thread writes them, once per message, so it
 * adds without the lock (vus_counters_add_loop: a relaxed atomic load and
 * store, no locked instruction) and readers load them atomically. A lock
 * and unlock per message was a twentieth of the server's instructions
 * per request (docs/performance.md "Instructions per request"). A reader
 * may then see a message counted and its bytes not yet: each counter is
 * exact, a snapshot of several is not atomic.
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

/* *field += n for a field only the loop thread writes (see the top). */
static inline void vus_counters_add_loop(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Read such a field from any thread. */
static inline uint64_t vus_counters_read(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

#endif /* VUS_STATS_H */
