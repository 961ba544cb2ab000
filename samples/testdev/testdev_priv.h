/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev internals, shared by its three files:
 *   testdev.c      device setup, BAR0 registers, BAR1/BAR2 memory, reset
 *   testdev_dma.c  the DMA engine (DMA_CMD)
 *   testdev_mig.c  migration: save/load of registers, BAR1 and BAR2
 *   testdev_fault.c  DMA failures and interrupt storms on demand
 *
 * Threads: every entry point here runs on the vus loop thread (region
 * callbacks, reset, migration callbacks and DMA completions all do, per
 * device.h), so the state needs no lock.
 */
#ifndef VUS_TESTDEV_PRIV_H
#define VUS_TESTDEV_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testdev.h"

/* The register file. Order and width are also the migration stream's
 * register block (testdev_mig.c), so append only, and bump the stream
 * version when this changes. */
struct testdev_regs {
	uint32_t scratch;
	uint32_t invert;       /* last value written; reads return ~invert */
	uint32_t irq_status;
	uint32_t dma_src_lo, dma_src_hi;
	uint32_t dma_dst_lo, dma_dst_hi;
	uint32_t dma_len;
	uint32_t dma_status;
	uint32_t dma_count;
	uint32_t hole_hits;
	uint32_t resets;
	/* Not a register: the DMA_CMD of a transfer migration cancelled
	 * (testdev_dma.c), restarted on RUNNING here or on the destination;
	 * 0 = none. In the record since version 2. */
	uint32_t dma_parked;
};
#define TESTDEV_NR_REGS (sizeof(struct testdev_regs) / sizeof(uint32_t))

struct testdev_xfer;     /* one DMA transfer in flight (testdev_dma.c) */

/* Migration save/load state (testdev_mig.c). */
struct testdev_mig {
	uint8_t *save;         /* records not yet read by the client */
	size_t save_len, save_pos;
	uint8_t *load;         /* record being received */
	size_t load_len;       /* bytes of it received so far */
	bool load_complete;    /* a whole valid record is in load */
	uint8_t *staged;       /* last complete record, applied at
				* RESUMING -> STOP */
};

struct testdev {
	struct vus_dev *dev;
	struct testdev_regs r;
	uint8_t *bar1;         /* bar1_size bytes, malloc'ed */
	uint32_t bar1_size;    /* testdev_opts.bar1_size, 0 made TESTDEV_BAR1_SIZE */
	uint8_t *bar2;         /* TESTDEV_BAR2_SIZE bytes, mapping of bar2_fd */
	int bar2_fd;           /* memfd until the library has its copy (setup), then -1 */
	uint32_t nr_vectors;   /* cause b goes to vector b % nr_vectors: 8, or
				* 4 (the MSI messages) without MSI-X */
	uint32_t dma_gen;      /* bumped by reset: older completions are stale */
	struct testdev_xfer *xfers; /* transfers in flight, newest first */
	struct testdev_mig mig;
	/* Faults (testdev_fault.c). */
	int dma_fail_errno;      /* loop thread */
	uint32_t dma_fail_count;
	pthread_t storm_th;
	bool storm_joinable;     /* loop thread */
	bool storm_running, storm_stop;   /* atomics */
	uint32_t storm_vector, storm_rate, storm_ms;
	uint64_t storm_sent;     /* atomic */
};

/* OR bits into IRQ_STATUS and raise their vectors (testdev.h). */
void testdev_raise_irq(struct testdev *td, uint32_t bits);
/* Clear bits from IRQ_STATUS; lower vectors left without a cause. */
void testdev_ack_irq(struct testdev *td, uint32_t bits);
/* Raise every vector with a cause in IRQ_STATUS, lower the others
 * (after IRQ_STATUS was replaced: reset, migration). */
void testdev_sync_irqs(struct testdev *td);

/* A write to DMA_CMD. */
void testdev_dma_cmd(struct testdev *td, uint32_t cmd);
/* RUNNING again (here, or on the destination): restart a transfer that
 * migration cancelled. */
void testdev_dma_resume(struct testdev *td);
/* Forget transfers in flight: their completions will change nothing. */
void testdev_dma_abandon(struct testdev *td);
/* Free the bookkeeping of transfers in flight (after vus_dev_free). */
void testdev_dma_free(struct testdev *td);

/* The DMA fault: the errno a transfer starting now fails with, or 0. */
int testdev_fault_dma_take(struct testdev *td);
/* End a storm and reap its thread. */
void testdev_storm_stop(struct testdev *td);

/* Register the migration callbacks. */
int testdev_mig_setup(struct testdev *td);
/* Drop save/load sessions (device reset or teardown). */
void testdev_mig_clear(struct testdev *td);

#endif /* VUS_TESTDEV_PRIV_H */
