/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The queue processor and where it runs (docs/nvme.md "Threads").
 *
 * Inline (default): a doorbell or register write runs the processor right
 * in the region callback on the loop thread. With guest memory mapped
 * through fds every DMA is a memcpy and a RAM namespace a mapping, so a
 * command completes within the callback: no thread hop, no wakeup, and
 * zero CPU while idle. A file's I/O that would block stays in flight in
 * io_uring; the ring's eventfd kicks the pass that completes it
 * (nvme_uring.c).
 *
 * Worker: while the client has mapped guest memory without fds, DMA is a
 * DMA_READ/DMA_WRITE exchange that the loop thread itself must serve, so
 * kicks wake a worker thread that runs the same processor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <string.h>

#include "nvme_priv.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() do { } while (0)
#endif

/* One pass after another until nothing is left (proc_lock held). The
 * time spent is SMART's Controller Busy Time. */
static void nvme_process(struct nvme_emu *n)
{
	uint64_t t0 = nvme_now_ns();
	bool more;

	do {
		atomic_store_explicit(&n->work, false, memory_order_seq_cst);
		nvme_ctrl_apply(n);
		more = false;
		/* Backend completions first: they free CQ entries and
		 * request slots for the fetches below (nvme_uring.c). */
		nvme_uring_complete(n);
		if (n->ready && !n->fatal)
			more = nvme_queues_run(n);
		if (nvme_uring_flush(n))
			more = true;
		nvme_irqs_flush(n);
		if (atomic_load(&n->proc_wanted)) {
			/* A loop-thread callback waits for proc_lock: end
			 * here; the work left is seen again (work). */
			if (more || !nvme_uring_idle(n))
				atomic_store_explicit(&n->work, true, memory_order_seq_cst);
			break;
		}
	} while (more || atomic_load_explicit(&n->work, memory_order_seq_cst) ||
		 !nvme_uring_idle(n));
	atomic_fetch_add_explicit(&n->smart.busy_ns, nvme_now_ns() - t0, memory_order_relaxed);
}

/*
 * Polling mode: passes back to back while there is work, a pause between
 * idle passes (no system call), and after POLL_IDLE_NS (50 us) without a command
 * the poller arms EventIdx as the inline mode does (nvme_queues_arm) and
 * sleeps until a doorbell kicks it: a polling controller that costs no
 * CPU while idle and never spins while the host is not submitting.
 * Measured first (vus-nvme-bench, samples/nvme-emu/README.md): a poller
 * that yielded after every idle pass got almost no CPU on a loaded host
 * (the scheduler ranks a task that keeps yielding behind every other
 * runnable one; 4 KiB writes at QD1: 110 IOPS), and one that spun all
 * the time took the slices the host's own threads needed.
 */
#define POLL_IDLE_NS 50000ull

/*
 * One wait of the worker or the sleeping poller on worker_cv (regs_lock
 * held): untimed, unless INTx entries stay unconsumed (a pass within
 * 5 ms, nvme_queue.c intx_flush) or Interrupt Coalescing or the
 * holdoff holds an interrupt (a pass when it falls due). True when that
 * time came.
 */
static bool cv_wait_step(struct nvme_emu *n)
{
	uint64_t due = atomic_load(&n->coalesce_due_ns), wait_ns = UINT64_MAX, now;
	struct timespec ts;

	if (atomic_load(&n->intx_busy))
		wait_ns = 5000000;
	if (due) {
		now = nvme_now_ns();
		if (due <= now)
			return true;
		if (due - now < wait_ns)
			wait_ns = due - now;
	}
	if (wait_ns == UINT64_MAX) {
		pthread_cond_wait(&n->worker_cv, &n->regs_lock);
		return false;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(wait_ns / 1000000000u);
	ts.tv_nsec += (long)(wait_ns % 1000000000u);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_cond_timedwait(&n->worker_cv, &n->regs_lock, &ts) != ETIMEDOUT)
		return false;
	if (atomic_load(&n->intx_busy))
		return true;
	/* A held interrupt's deadline may have moved on meanwhile (the
	 * holdoff's does with every pass, without a wake-up): wait on for
	 * the new one rather than run a pass that finds nothing due. */
	due = atomic_load(&n->coalesce_due_ns);
	return due && due <= nvme_now_ns();
}

static void poller_sleep(struct nvme_emu *n)
{
	pthread_mutex_lock(&n->regs_lock);
	atomic_store(&n->poller_asleep, true);
	while (!n->worker_stop && !atomic_load(&n->work) && !atomic_load(&n->stopping))
		if (cv_wait_step(n))
			break;
	atomic_store(&n->poller_asleep, false);
	pthread_mutex_unlock(&n->regs_lock);
}

/*
 * Between passes of the poller or the worker: while a loop-thread
 * callback waits for proc_lock (nvme_mig.c proc_lock_brief), leave it
 * free. A mutex is not fair: a thread that unlocks and relocks back to
 * back would win against the callback's try-locks for its whole wait,
 * and a migration STOP would fail with EBUSY only because the device
 * was busy. The callback holds 'proc_wanted' at most 200 ms.
 */
static void step_aside(struct nvme_emu *n)
{
	struct timespec ts = { 0, 50000 };

	while (atomic_load(&n->proc_wanted) && !atomic_load(&n->stopping))
		nanosleep(&ts, NULL);
}

static void *poller_main(struct nvme_emu *n)
{
	uint64_t before, idle_since = 0;
	bool found;

	while (!atomic_load(&n->stopping)) {
		step_aside(n);
		pthread_mutex_lock(&n->proc_lock);
		before = n->executed;
		n->on_worker = true;
		nvme_process(n);
		if (n->executed != before) {
			idle_since = 0;
		} else if (!idle_since) {
			idle_since = nvme_now_ns();
		} else if (nvme_now_ns() - idle_since >= POLL_IDLE_NS) {
			/* Idle long enough: ask the host to ring, then look
			 * once more (a submission before the arm is seen now,
			 * one after it rings and kicks). */
			found = nvme_queues_arm(n);
			n->on_worker = false;
			pthread_mutex_unlock(&n->proc_lock);
			idle_since = 0;
			if (!found)
				poller_sleep(n);
			continue;
		}
		n->on_worker = false;
		pthread_mutex_unlock(&n->proc_lock);
		if (idle_since)
			cpu_relax();
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct nvme_emu *n = arg;

	if (n->poll)
		return poller_main(n);

	pthread_mutex_lock(&n->regs_lock);
	for (;;) {
		while (!n->worker_stop && !atomic_load(&n->work))
			if (cv_wait_step(n))
				break;
		if (n->worker_stop)
			break;
		pthread_mutex_unlock(&n->regs_lock);
		step_aside(n);
		pthread_mutex_lock(&n->proc_lock);
		n->on_worker = true;
		nvme_process(n);
		/* Idle again: a handed-over pass is done, kicks run inline
		 * again (a kick that still saw the flag set 'work', which the
		 * loop below sees). */
		atomic_store(&n->handoff, false);
		n->on_worker = false;
		pthread_mutex_unlock(&n->proc_lock);
		pthread_mutex_lock(&n->regs_lock);
	}
	pthread_mutex_unlock(&n->regs_lock);
	return NULL;
}

void nvme_kick(struct nvme_emu *n)
{
	atomic_store_explicit(&n->work, true, memory_order_seq_cst);
	if (n->poll) {
		/* The poller sees it on its next pass, or sleeps: wake it.
		 * 'work' is stored before 'poller_asleep' is loaded and the
		 * poller stores 'poller_asleep' before it loads 'work' (both
		 * sequentially consistent): one of the two sees the other. */
		if (atomic_load(&n->poller_asleep)) {
			pthread_mutex_lock(&n->regs_lock);
			pthread_cond_signal(&n->worker_cv);
			pthread_mutex_unlock(&n->regs_lock);
		}
		return;
	}
	/* Inline unless a writable window has no fd (DMA by messages) or a
	 * pass handed its queues to the worker (nvme_queue.c execute). */
	if (atomic_load(&n->nofd_rw_maps) == 0 && !atomic_load(&n->handoff) &&
	    pthread_mutex_trylock(&n->proc_lock) == 0) {
		nvme_process(n);
		pthread_mutex_unlock(&n->proc_lock);
		if (!atomic_load(&n->handoff))
			return;
		atomic_store_explicit(&n->work, true, memory_order_seq_cst);
	}
	/* The worker runs the processor (or is running it: it re-checks
	 * 'work' before sleeping, so this kick is not lost). */
	if (n->worker_started) {
		pthread_mutex_lock(&n->regs_lock);
		pthread_cond_signal(&n->worker_cv);
		pthread_mutex_unlock(&n->regs_lock);
	}
}

int nvme_worker_start(struct nvme_emu *n)
{
	int rc;

	if (n->worker_started)
		return 0;
	n->worker_stop = false;
	rc = pthread_create(&n->worker, NULL, worker_main, n);
	if (rc)
		return -rc;
	n->worker_started = true;
	return 0;
}

/*
 * The worker may be waiting for a DMA reply that only this (the loop)
 * thread can read: keep serving the device until it has left. A client
 * that never answers is cut off by the library's DMA timeout, which fails
 * the transfer and lets the worker go.
 */
void nvme_worker_stop(struct nvme_emu *n)
{
	if (!n->worker_started)
		return;
	atomic_store(&n->stopping, true);
	pthread_mutex_lock(&n->regs_lock);
	n->worker_stop = true;
	pthread_cond_signal(&n->worker_cv);
	pthread_mutex_unlock(&n->regs_lock);
	while (pthread_tryjoin_np(n->worker, NULL) == EBUSY) {
		struct pollfd p = { .fd = n->dev ? vus_dev_poll_fd(n->dev) : -1, .events = POLLIN };

		if (p.fd < 0) {
			pthread_join(n->worker, NULL);
			break;
		}
		(void)poll(&p, 1, 10);
		(void)vus_dev_process(n->dev);
	}
	n->worker_started = false;
}
