/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * testdev's own faults, for testing a VMM's error paths (docs/testdev.md
 * "Fault injection"); the protocol-level ones (failed or delayed
 * commands, disconnects) are the library's (include/vus/fault.h).
 *
 *   DMA failure   the next COUNT transfers end with an errno instead of
 *                 moving data, as if the IOMMU or the VMM refused them
 *                 (EFAULT also sets Received Master Abort, as unmapped
 *                 memory does);
 *   storm         a thread signals one vector RATE times a second for a
 *                 while, with no cause in IRQ_STATUS: the guest sees
 *                 interrupts its driver cannot account for (vus_irq_raise
 *                 and vus_irq_lower are any-thread calls).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "testdev_priv.h"

int testdev_fault_dma(struct testdev *td, int error, uint32_t count)
{
	if (error < 0 || error > 0xffff)
		return -EINVAL;
	td->dma_fail_errno = error;
	td->dma_fail_count = error ? count : 0;
	return 0;
}

/* A transfer starting now: the errno to fail it with, or 0. */
int testdev_fault_dma_take(struct testdev *td)
{
	if (!td->dma_fail_errno)
		return 0;
	if (td->dma_fail_count && --td->dma_fail_count == 0) {
		int e = td->dma_fail_errno;

		td->dma_fail_errno = 0;
		return e;
	}
	return td->dma_fail_errno;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *storm_thread(void *arg)
{
	struct testdev *td = arg;
	uint64_t period = 1000000000u / td->storm_rate, next = now_ns();
	uint64_t end = next + (uint64_t)td->storm_ms * 1000000u;

	while (!__atomic_load_n(&td->storm_stop, __ATOMIC_ACQUIRE) && next < end) {
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000u),
				       .tv_nsec = (long)(next % 1000000000u) };

		/* A message per raise with MSI/MSI-X; an INTx edge. */
		if (vus_irq_raise(td->dev, td->storm_vector) == 0)
			__atomic_add_fetch(&td->storm_sent, 1, __ATOMIC_RELAXED);
		(void)vus_irq_lower(td->dev, td->storm_vector);
		next += period;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	__atomic_store_n(&td->storm_running, false, __ATOMIC_RELEASE);
	return NULL;
}

void testdev_storm_stop(struct testdev *td)
{
	if (!td->storm_joinable)
		return;
	__atomic_store_n(&td->storm_stop, true, __ATOMIC_RELEASE);
	pthread_join(td->storm_th, NULL);
	td->storm_joinable = false;
}

int testdev_storm(struct testdev *td, uint32_t vector, uint32_t rate_hz, uint32_t ms)
{
	if (vector >= td->nr_vectors || !rate_hz || rate_hz > 1000000 || !ms || ms > 600000)
		return -EINVAL;
	if (__atomic_load_n(&td->storm_running, __ATOMIC_ACQUIRE))
		return -EBUSY;
	testdev_storm_stop(td);      /* reap the last one */
	td->storm_vector = vector;
	td->storm_rate = rate_hz;
	td->storm_ms = ms;
	td->storm_stop = false;
	__atomic_store_n(&td->storm_sent, 0, __ATOMIC_RELAXED);
	td->storm_running = true;
	if (pthread_create(&td->storm_th, NULL, storm_thread, td)) {
		td->storm_running = false;
		return -EAGAIN;
	}
	td->storm_joinable = true;
	return 0;
}

uint64_t testdev_storm_sent(const struct testdev *td)
{
	return __atomic_load_n(&td->storm_sent, __ATOMIC_RELAXED);
}

bool testdev_storm_running(const struct testdev *td)
{
	return __atomic_load_n(&td->storm_running, __ATOMIC_ACQUIRE);
}
