/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Migrating testdev in the middle of DMA and interrupt storms (issue 14;
 * docs/migration.md "Storm test"). The test plays guest and VMM:
 *
 *  - the guest's driver (this thread) runs testdev DMA transfers one after
 *    another, each with its completion interrupt (MSI-X vector 0), to and
 *    from fd-backed guest memory and fd-less guest memory (DMA_READ/WRITE
 *    messages), its own CPU writes preparing the data;
 *  - a worker thread, as a device's engine would, writes random bytes into
 *    guest memory with vus_dma_write() from outside the loop thread;
 *  - testdev's storm thread raises MSI-X vector 5 at 20 kHz;
 *  - the VMM migrates: dirty logging on, pre-copy rounds between transfers
 *    (guest memory: the device's dirty report plus the pages the guest's
 *    CPU wrote; device state: MIG_DATA), then stop-copy with a transfer in
 *    flight, the destination resumed, and everything switches to it.
 *
 * Checked: every transfer completes (DMA_COUNT counts each once, on
 * whichever side finished it) and its data is byte for byte where it
 * belongs in the destination client's memory and BAR1; the worker's
 * writes all reached the destination's memory; each transfer's interrupt
 * arrived exactly once over both sides; nothing is signalled by the
 * source after STOP_COPY; the storm interrupt the source held at
 * STOP_COPY (the stream's interrupt state says whether there was one)
 * arrives exactly once on the destination.
 *
 * VUS_SEED=N replays a run (the seed is printed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "efd.h"
#include "mig_stream.h"
#include "testdev.h"
#include "vus_test.h"

#define NVEC       8u
#define V_DMA      0u   /* IRQ_STATUS bit 8 -> vector 0 */
#define V_STORM    5u
#define PG         4096u
#define FD_SIZE    (1u << 20)          /* fd-backed guest memory */
#define MSG_SIZE   (64u << 10)         /* fd-less guest memory */
#define IOVA_FD    0x10000000ull
#define IOVA_MSG   0x20000000ull
#define WORKER_END (FD_SIZE / 2)       /* the worker writes [0, 512 KiB) */
#define XFER_MAX   (16u << 10)
#define CHUNK      (256u << 10)
#define WAIT_MS    10000

struct side {
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
	uint8_t *fdmem, *msgmem;
	int efd[NVEC];
};

struct worker {
	struct vus_dev *_Atomic dev;  /* NULL: stop */
	uint8_t shadow[WORKER_END];   /* what the guest memory must hold */
	uint64_t seed;
	unsigned long done, refused;
	int bad_rc;                   /* an unexpected errno (asserted by main) */
	pthread_t th;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_r(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void *serve(void *arg)
{
	vus_dev_run(testdev_dev(arg));
	return NULL;
}

static uint32_t cfg_rd(struct side *s, uint32_t off, size_t n)
{
	uint32_t v = 0;

	ASSERT_OK(vus_client_region_read(s->c, VUS_PCI_CONFIG_REGION, off, &v, n));
	return v;
}

static uint32_t rd(struct side *s, uint32_t reg)
{
	uint32_t v = 0xdeadbeef;

	ASSERT_OK(vus_client_region_read(s->c, 0, reg, &v, 4));
	return v;
}

static void wr(struct side *s, uint32_t reg, uint32_t v)
{
	ASSERT_OK(vus_client_region_write(s->c, 0, reg, &v, 4));
}

/* Served, connected, guest memory mapped, MSI-X enabled with an eventfd
 * per vector: what a VMM sets up on both sides before a migration. */
static void side_start(struct side *s, const char *name)
{
	uint32_t cap, id;
	uint16_t ctl;
	int sv[2], fds[NVEC];
	unsigned i;

	ASSERT_OK(testdev_create(name, &s->td));
	vus_dev_set_log_level(testdev_dev(s->td), VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(testdev_dev(s->td), sv[1]));
	ASSERT_OK(pthread_create(&s->th, NULL, serve, s->td));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &s->c));
	ASSERT_OK(vus_client_dma_map(s->c, IOVA_FD, FD_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
				     (void **)&s->fdmem));
	ASSERT_OK(vus_client_dma_map(s->c, IOVA_MSG, MSG_SIZE,
				     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
				     (void **)&s->msgmem));
	for (i = 0; i < NVEC; i++)
		s->efd[i] = fds[i] = efd_new();
	ASSERT_OK(vus_client_set_irqs(s->c, VUS_PCI_MSIX_IRQ,
				      VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0,
				      NVEC, fds, NULL));
	/* MSI-X Enable in the capability's Message Control (PCI 3.0 6.8.2.3). */
	for (cap = cfg_rd(s, 0x34, 1); cap; cap = cfg_rd(s, cap + 1, 1)) {
		id = cfg_rd(s, cap, 1);
		if (id == 0x11)
			break;
	}
	assert_true(cap != 0);
	ctl = 0x8000;
	ASSERT_OK(vus_client_region_write(s->c, VUS_PCI_CONFIG_REGION, cap + 2, &ctl, 2));
}

static void side_stop(struct side *s)
{
	unsigned i;

	vus_client_close(s->c);
	vus_dev_stop(testdev_dev(s->td));
	pthread_join(s->th, NULL);
	testdev_free(s->td);
	for (i = 0; i < NVEC; i++)
		close(s->efd[i]);
}

/* ---- the worker: device writes from another thread -------------------- */

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[2048];
	struct vus_dev *dev;
	uint64_t s = w->seed;

	while ((dev = atomic_load(&w->dev))) {
		size_t len = 1 + rnd_r(&s) % sizeof(buf), i;
		size_t off = rnd_r(&s) % (WORKER_END - len);
		int rc;

		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)rnd_r(&s);
		rc = vus_dma_write(dev, IOVA_FD + off, buf, len);
		if (rc == 0) {
			memcpy(w->shadow + off, buf, len);
			w->done++;
		} else {
			/* Stopped: refused, nothing written (docs/migration.md
			 * "Stopped means stopped"); wait for the switch. */
			if (rc != -EBUSY) {
				w->bad_rc = rc;
				break;
			}
			w->refused++;
			while (atomic_load(&w->dev) == dev)
				usleep(200);
		}
		usleep(20);
	}
	return NULL;
}

/* ---- the VMM's side: guest memory and device state ---------------------- */

struct vmm {
	struct side *src, *dst;
	uint8_t cpu_dirty[FD_SIZE / PG];   /* pages the guest's CPU wrote */
	uint8_t *stream;                   /* every byte moved, for the IRQS look */
	size_t stream_len, stop_copy_at;
	unsigned rounds;
	uint64_t pages_copied;
};

static void logging_start(struct side *s)
{
	struct {
		struct vus_feature_dma_logging_control ctl;
		struct vus_dma_logging_range r;
	} d = { { .page_size = PG, .num_ranges = 1 }, { IOVA_FD, FD_SIZE } };

	ASSERT_OK(vus_client_device_feature(s->c, VUS_FEATURE_DMA_LOGGING_START |
					    VUS_DEVICE_FEATURE_SET, &d, sizeof(d), NULL, 0,
					    NULL));
}

/* One dirty report of the fd-backed memory; copy the dirty pages and the
 * pages the guest wrote itself to the destination. */
static void copy_dirty(struct vmm *m)
{
	struct vus_feature_dma_logging_report q = { IOVA_FD, FD_SIZE, PG };
	uint8_t out[sizeof(q) + FD_SIZE / PG / 8];
	size_t got = 0, p;

	ASSERT_OK(vus_client_device_feature(m->src->c, VUS_FEATURE_DMA_LOGGING_REPORT |
					    VUS_DEVICE_FEATURE_GET, &q, sizeof(q), out,
					    sizeof(out), &got));
	ASSERT_EQ(got, sizeof(out));
	for (p = 0; p < FD_SIZE / PG; p++) {
		if (!(out[sizeof(q) + p / 8] >> (p % 8) & 1) && !m->cpu_dirty[p])
			continue;
		memcpy(m->dst->fdmem + p * PG, m->src->fdmem + p * PG, PG);
		m->cpu_dirty[p] = 0;
		m->pages_copied++;
	}
}

/* Move what the source has now (MIG_DATA_READ until short) to the destination. */
static void copy_state(struct vmm *m)
{
	uint32_t got;

	do {
		m->stream = realloc(m->stream, m->stream_len + CHUNK);
		assert_non_null(m->stream);
		ASSERT_OK(vus_client_mig_data_read(m->src->c, m->stream + m->stream_len, CHUNK,
						   &got));
		if (got)
			ASSERT_OK(vus_client_mig_data_write(m->dst->c, m->stream + m->stream_len,
							    got));
		m->stream_len += got;
	} while (got == CHUNK);
}

static void migration_begin(struct vmm *m)
{
	logging_start(m->src);
	ASSERT_OK(vus_client_mig_set_state(m->dst->c, VUS_MIG_STATE_RESUMING));
	ASSERT_OK(vus_client_mig_set_state(m->src->c, VUS_MIG_STATE_PRE_COPY));
	/* Round 0: all of guest memory, then what the device has. */
	memcpy(m->dst->fdmem, m->src->fdmem, FD_SIZE);
	memset(m->cpu_dirty, 0, sizeof(m->cpu_dirty));
	copy_dirty(m); /* clears the log of what round 0 copied */
	copy_state(m);
}

static void precopy_round(struct vmm *m)
{
	copy_dirty(m);
	copy_state(m);
	m->rounds++;
}

/* Is vector v pending in the stream's interrupt state (lib/model/irq/irq_state.c)? */
static bool stream_irq_pending(const struct vmm *m, uint32_t index, uint32_t v)
{
	size_t off = m->stop_copy_at;

	/* The stop-copy part starts on a section boundary: walk to IRQS. */
	while (off + VUS_MIG_FRAME_HDR <= m->stream_len) {
		uint32_t tag, len, cnt[3], nsrc, i;
		const uint8_t *p;

		memcpy(&tag, m->stream + off, 4);
		memcpy(&len, m->stream + off + 4, 4);
		if (tag != VUS_MIG_FRAME_IRQS) {
			off += VUS_MIG_FRAME_HDR + len;
			continue;
		}
		p = m->stream + off + VUS_MIG_FRAME_HDR;
		memcpy(cnt, p, 12);
		memcpy(&nsrc, p + 16, 4);
		p += 20 + 8 * (size_t)nsrc;
		for (i = 0; i < index; i++)
			p += (cnt[i] + 7) / 8;
		assert_true(v < cnt[index]);
		return p[v / 8] >> (v % 8) & 1;
	}
	fail_msg("no IRQS section in the stop-copy data");
	return false;
}

/* Stop-copy with a transfer in flight; the destination runs afterwards. */
static void migration_finish(struct vmm *m, uint64_t src_seen[NVEC])
{
	unsigned i;

	ASSERT_OK(vus_client_mig_set_state(m->src->c, VUS_MIG_STATE_STOP_COPY));
	/* Whatever the source signalled before it stopped is the guest's
	 * (the transfer's interrupt: the driver looks for it on both sides). */
	for (i = 0; i < NVEC; i++)
		if (i != V_DMA)
			src_seen[i] += efd_wait(m->src->efd[i], 0);
	copy_dirty(m);
	/* Guest memory the VMM wrote itself serving DMA_WRITE messages. */
	memcpy(m->dst->msgmem, m->src->msgmem, MSG_SIZE);
	m->stop_copy_at = m->stream_len;
	copy_state(m);
	ASSERT_OK(vus_client_mig_set_state(m->dst->c, VUS_MIG_STATE_STOP));
	ASSERT_OK(vus_client_mig_set_state(m->dst->c, VUS_MIG_STATE_RUNNING));
}

/* ---- the guest's driver ------------------------------------------------- */

struct guest {
	uint8_t bar1[TESTDEV_BAR1_SIZE];   /* what BAR1 must hold */
	uint8_t fdmem[FD_SIZE];            /* what guest memory must hold */
	uint8_t msgmem[MSG_SIZE];
	uint64_t dma_irqs;                 /* vector 0 signals, both sides */
};

/* Wait for transfer's interrupt on either side, serving DMA messages. */
static void wait_dma_irq(struct guest *g, struct side *src, struct side *cur)
{
	struct timespec t0, t;
	uint64_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		n = efd_wait(src->efd[V_DMA], 0);
		if (cur != src)
			n += efd_wait(cur->efd[V_DMA], 0);
		if (!n)
			vus_client_process(cur->c, 1);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!n && (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 <
		 WAIT_MS);
	if (n != 1)
		printf("storm: transfer %" PRIu64 ": %" PRIu64 " interrupts; IRQ_STATUS %#x "
		       "DMA_STATUS %#x DMA_COUNT %u\n", g->dma_irqs, n,
		       rd(cur, TESTDEV_REG_IRQ_STATUS), rd(cur, TESTDEV_REG_DMA_STATUS),
		       rd(cur, TESTDEV_REG_DMA_COUNT));
	ASSERT_EQ(n, 1);
	g->dma_irqs += n;
}

static void test_migrate_under_storms(void **state)
{
	static struct guest g;
	static struct worker w;
	static struct vmm m;
	struct side src = { 0 }, dst = { 0 };
	uint64_t seed = 0, src_seen[NVEC] = { 0 }, n;
	const char *env = getenv("VUS_SEED");
	unsigned i, mig_start, mig_stop, nxfer, v;
	bool migrated = false;

	(void)state;
	seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	if (!seed)
		seed = 1;
	printf("storm: VUS_SEED=%" PRIu64 "\n", seed);
	rng_state = seed;
	mig_start = 3 + (unsigned)(rnd() % 5);
	mig_stop = mig_start + 2 + (unsigned)(rnd() % 6);
	nxfer = mig_stop + 8;

	memset(&g, 0, sizeof(g));
	memset(&m, 0, sizeof(m));
	side_start(&src, "storm-src");
	side_start(&dst, "storm-dst");
	m.src = &src;
	m.dst = &dst;

	memset(w.shadow, 0, sizeof(w.shadow));
	w.seed = seed * 31 + 7;
	w.done = w.refused = 0;
	w.bad_rc = 0;
	atomic_store(&w.dev, testdev_dev(src.td));
	ASSERT_OK(pthread_create(&w.th, NULL, worker_run, &w));
	ASSERT_OK(testdev_storm(src.td, V_STORM, 20000, 600000));

	for (i = 0; i < nxfer; i++) {
		struct side *cur = migrated ? &dst : &src;
		bool to_host = rnd() % 2, msg = rnd() % 3 == 0;
		uint32_t len = 1 + (uint32_t)(rnd() % XFER_MAX);
		uint32_t bar = (uint32_t)(rnd() % (TESTDEV_BAR1_SIZE - len));
		uint32_t host = msg ? (uint32_t)(rnd() % (MSG_SIZE - len))
				    : WORKER_END + (uint32_t)(rnd() % (FD_SIZE - WORKER_END - len));
		uint64_t iova = (msg ? IOVA_MSG : IOVA_FD) + host;
		uint8_t *hmem = msg ? cur->msgmem : cur->fdmem;
		uint8_t *gmem = msg ? g.msgmem : g.fdmem;
		uint32_t k, st;

		if (!to_host) {
			/* The guest's CPU prepares the data in its memory. */
			for (k = 0; k < len; k++)
				gmem[host + k] = hmem[host + k] = (uint8_t)rnd();
			if (!msg)
				for (k = host / PG; k <= (host + len - 1) / PG; k++)
					m.cpu_dirty[k] = 1;
		}
		wr(cur, TESTDEV_REG_DMA_SRC_LO, to_host ? bar : (uint32_t)iova);
		wr(cur, TESTDEV_REG_DMA_SRC_HI, to_host ? 0 : (uint32_t)(iova >> 32));
		wr(cur, TESTDEV_REG_DMA_DST_LO, to_host ? (uint32_t)iova : bar);
		wr(cur, TESTDEV_REG_DMA_DST_HI, to_host ? (uint32_t)(iova >> 32) : 0);
		wr(cur, TESTDEV_REG_DMA_LEN, len);
		wr(cur, TESTDEV_REG_DMA_CMD, TESTDEV_DMA_START | TESTDEV_DMA_IRQ |
		   (to_host ? TESTDEV_DMA_TO_HOST : 0));
		if (to_host)
			memcpy(gmem + host, g.bar1 + bar, len);
		else
			memcpy(g.bar1 + bar, gmem + host, len);

		/* The VMM, while this transfer is in flight. */
		if (i == mig_start)
			migration_begin(&m);
		else if (i > mig_start && i < mig_stop)
			precopy_round(&m);
		if (i == mig_stop) {
			migration_finish(&m, src_seen);
			/* Everything runs on the destination from here. */
			atomic_store(&w.dev, testdev_dev(dst.td));
			migrated = true;
			/* The storm interrupt held at STOP_COPY, if any: once. */
			n = 0;
			for (k = 0; k < 200 && !n; k++)
				n = efd_wait(dst.efd[V_STORM], 5);
			ASSERT_EQ(n, stream_irq_pending(&m, VUS_PCI_MSIX_IRQ, V_STORM));
			cur = &dst;
		}

		wait_dma_irq(&g, &src, cur);
		st = rd(cur, TESTDEV_REG_IRQ_STATUS);
		ASSERT_EQ(st, TESTDEV_IRQ_DMA);
		wr(cur, TESTDEV_REG_IRQ_ACK, TESTDEV_IRQ_DMA);
		st = rd(cur, TESTDEV_REG_DMA_STATUS);
		ASSERT_EQ(st & (TESTDEV_DMA_BUSY | TESTDEV_DMA_ERROR), 0);
		ASSERT_EQ(rd(cur, TESTDEV_REG_DMA_COUNT), i + 1);
		if (to_host) {
			/* In the memory of the side the guest now runs on. */
			struct side *now = migrated ? &dst : &src;

			assert_memory_equal((msg ? now->msgmem : now->fdmem) + host, gmem + host,
					    len);
		}
	}

	/* Quiet for a moment: no late or doubled interrupt anywhere. */
	atomic_store(&w.dev, NULL);
	pthread_join(w.th, NULL);
	ASSERT_EQ(w.bad_rc, 0);
	usleep(50 * 1000);
	for (v = 0; v < NVEC; v++)
		ASSERT_EQ(efd_wait(src.efd[v], 0), 0); /* the source stopped for good */
	ASSERT_EQ(efd_wait(dst.efd[V_DMA], 0), 0);
	ASSERT_EQ(efd_wait(dst.efd[V_STORM], 0), 0);
	ASSERT_EQ(g.dma_irqs, nxfer);
	assert_true(src_seen[V_STORM] > 0 || testdev_storm_sent(src.td) == 0);

	/* Byte for byte: the destination client's memory and BAR1. */
	assert_memory_equal(dst.fdmem, w.shadow, WORKER_END);
	assert_memory_equal(dst.fdmem + WORKER_END, g.fdmem + WORKER_END, FD_SIZE - WORKER_END);
	assert_memory_equal(dst.msgmem, g.msgmem, MSG_SIZE);
	{
		static uint8_t bar1[TESTDEV_BAR1_SIZE];

		ASSERT_OK(vus_client_region_read(dst.c, 1, 0, bar1, sizeof(bar1)));
		assert_memory_equal(bar1, g.bar1, sizeof(bar1));
	}
	printf("storm: %u transfers (migration from %u, stop-copy at %u, %u pre-copy rounds, "
	       "%" PRIu64 " pages copied), worker %lu writes (%lu refused while stopped), "
	       "storm %" PRIu64 " raised, %" PRIu64 " delivered by the source\n", nxfer,
	       mig_start, mig_stop, m.rounds, m.pages_copied, w.done, w.refused,
	       testdev_storm_sent(src.td), src_seen[V_STORM]);
	free(m.stream);
	side_stop(&src);
	side_stop(&dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_under_storms),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
