/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-nvme-bench: nvme-emu (samples/nvme-emu, RAM namespace) served on a
 * thread of this process, driven over a vfio-user socket by the tests'
 * userspace NVMe driver (test/helpers/nvme_drv.c) the way a good real
 * driver drives it: DMA memory shared through an fd (DMA_MAP), shadow
 * doorbells with EventIdx (Doorbell Buffer Config), submissions queued
 * per batch and published once, completions read from the CQ in shared
 * memory, one new command queued per completion and the tail published
 * once per reap. Jobs: 4 KiB random read and write at QD1 and QD32, 128
 * KiB sequential read and write at QD8, each against a floor measured in
 * the same run, memcpy of the same bytes. Prints IOPS, MB/s, the server
 * threads' CPU use (and per I/O: 1 / that is what one fully fed server
 * core would serve), the driver thread's CPU per I/O, the mean
 * completions per reap (batch), the ratios and the load average; asserts
 * nothing (docs/nvme-testing.md) but that every completion matched an
 * outstanding command with status 0.
 *
 *   vus-nvme-bench [--seconds S] [--quick] [--mode irq|hybrid|poll|all]
 *                  [--dma fd|nofd|all] [--no-shadow] [--job NAME] [--thp]
 *                  [--spin-us N] [--pin] [--holdoff US]
 *
 * Modes: irq, the controller's default (work done inline on the doorbell
 * message, interrupts as eventfds the driver sleeps on whenever its CQ is
 * empty, no CPU when idle); hybrid, the same controller with a driver
 * that, its CQ empty, looks at it for up to --spin-us (default 50) before
 * sleeping on the interrupt (Linux's hybrid polling), so it takes each
 * completion as the controller posts it and the controller, fed while
 * it works, runs without a doorbell or an interrupt per batch; poll, the
 * controller's poll option (a thread polls the shadow doorbells) with a
 * driver polling its CQ: no system call per I/O.
 * DMA: fd (guest memory mapped through fds: memcpy) or nofd (every DMA a
 * DMA_READ/DMA_WRITE message, as QEMU without shared guest RAM).
 * --no-shadow leaves Doorbell Buffer Config off (a doorbell message per
 * batch and per CQ head update). --quick: 0.2 s per job. --thp: the
 * namespace (and the floor's namespace-sized memfd) madvise'd
 * MADV_HUGEPAGE; huge only where the kernel's shmem_enabled allows it
 * (printed). --pin: the server's loop thread on CPU 1, the driver on CPU
 * 0 (two CPUs needed; the scheduler otherwise tends to put a thread woken
 * by the other on the waker's CPU, where they take turns). --holdoff US:
 * the controller's adaptive interrupt holdoff bound (docs/nvme.md section
 * 5; 0 turns it off), default the controller's; held/IO: the interrupts
 * it held back per I/O.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#include "nvme_drv.h"
#include "nvme_emu.h"

#define NS_SIZE (256ull << 20)
#define QDEPTH 64 /* I/O queue entries; jobs use up to 32 */
#define DMA_SIZE (32u << 20) /* the driver's DMA memory (one memfd window) */

static bool thp_wanted; /* --thp */
/* --holdoff US: the controller's interrupt holdoff bound (0 off); -1 its default. */
static long holdoff_us = -1;

static struct vus_dev *dev;
static pthread_t server;

static bool pin; /* --pin: server thread on CPU 1, driver on CPU 0 */
static unsigned spin_ns = 50000; /* --spin-us: hybrid's spin before sleeping */

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		fprintf(stderr, "vus-nvme-bench: --pin: CPU %d not available, not pinned\n", cpu);
}

static void *server_main(void *arg)
{
	if (pin)
		pin_to(1);
	vus_dev_run(dev);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct job {
	const char *name;
	uint8_t opc;
	uint32_t bs;
	unsigned qd;
	bool random;
};

struct result {
	double iops, mbs, cpu, drv_cpu, batch;
};



static _Noreturn void die(const char *what, int r)
{
	fprintf(stderr, "vus-nvme-bench: %s: %s (%d)\n", what, r < 0 ? strerror(-r) : "NVMe status",
		r);
	exit(1);
}

static uint64_t next_lba(const struct job *j, uint64_t *seed, uint64_t *pos)
{
	uint64_t blocks = NS_SIZE / 512, nlb = j->bs / 512;

	if (j->random)
		return rnd(seed) % (blocks / nlb) * nlb;
	*pos = (*pos + nlb) % blocks;
	return *pos;
}

/* Queue one command using buffer b; the cid's buffer is remembered. */
static void queue_one(struct nvme_drv *d, const struct job *j, uint64_t iova, unsigned b,
		      uint64_t lba, unsigned *buf_of)
{
	struct nvme_drv_cmd cmd;
	uint16_t cid;
	int r;

	r = nvme_drv_rw_cmd(d, &cmd, j->opc, 1, lba, j->bs / 512, iova + b * (uint64_t)j->bs, j->bs,
			    NVME_DRV_PRP);
	if (r == 0)
		r = nvme_drv_queue(d, 1, &cmd, &cid);
	if (r < 0)
		die("submit", r);
	buf_of[cid] = b;
}

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double process_cpu(void)
{
	struct timespec p, t;

	/* The server's threads (loop, worker or poller): the process less
	 * this, the driver's thread. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (p.tv_sec - t.tv_sec) + (p.tv_nsec - t.tv_nsec) / 1e9;
}

/*
 * Keep qd commands in flight: reap what completed (every status checked;
 * a completion whose cid is not outstanding is counted by the driver and
 * fails the run below), queue one new command per completion, publish the
 * tail once per reap. spin: nvme_drv_reap_spin()'s spin before sleeping
 * (hybrid), 0: sleep on the interrupt whenever the CQ is empty.
 */
static struct result run(struct nvme_drv *d, const struct job *j, double secs, uint64_t iova,
			 unsigned spin)
{
	uint64_t seed = 88172645463325252ull, pos = 0, ops = 0, batches = 0;
	struct nvme_drv_done done[QDEPTH];
	unsigned buf_of[QDEPTH], k;
	double t0, t1, c0, c1, dc0, dc1;
	int n, r, i;

	for (k = 0; k < j->qd; k++)
		queue_one(d, j, iova, k, next_lba(j, &seed, &pos), buf_of);
	r = nvme_drv_sq_ring(d, 1);
	if (r < 0)
		die("doorbell", r);
	t0 = now();
	c0 = process_cpu();
	dc0 = thread_cpu();
	for (;;) {
		n = nvme_drv_reap_spin(d, 1, done, QDEPTH, spin);
		if (n < 0)
			die("reap", n);
		for (i = 0; i < n; i++)
			if (done[i].status != 0)
				die("I/O", done[i].status);
		ops += (uint64_t)n;
		if ((++batches & 15) == 0 && now() - t0 >= secs)
			break;
		for (i = 0; i < n; i++)
			queue_one(d, j, iova, buf_of[done[i].cid], next_lba(j, &seed, &pos), buf_of);
		r = nvme_drv_sq_ring(d, 1);
		if (r < 0)
			die("doorbell", r);
	}
	t1 = now();
	dc1 = thread_cpu();
	c1 = process_cpu();
	/* Drain what is still in flight (not counted). */
	while (nvme_drv_inflight(d, 1) && nvme_drv_reap(d, 1, done, QDEPTH, true) > 0)
		;
	if (nvme_drv_inflight(d, 1) || nvme_drv_stray(d))
		die("completions lost or not matching a command", -EPROTO);
	return (struct result){ .iops = ops / (t1 - t0),
				.mbs = ops * (double)j->bs / (t1 - t0) / 1e6,
				.cpu = (c1 - c0) / (t1 - t0),
				.drv_cpu = (dc1 - dc0) / (t1 - t0),
				.batch = batches ? (double)ops / batches : 0 };
}

/* Write the whole namespace once, untimed: the memfd's pages exist
 * before the jobs, which then measure I/O, not first-touch faults. */
static void warm_up(struct nvme_drv *d, uint64_t iova)
{
	static const struct job fill = { "fill", NVD_CMD_WRITE, 131072, 8, false };
	struct nvme_drv_done done[QDEPTH];
	uint64_t lba = 0, blocks = NS_SIZE / 512, nlb = fill.bs / 512;
	unsigned buf_of[QDEPTH], k;
	int n, i;

	for (k = 0; k < fill.qd && lba < blocks; k++, lba += nlb)
		queue_one(d, &fill, iova, k, lba, buf_of);
	while (nvme_drv_sq_ring(d, 1) == 0 && nvme_drv_inflight(d, 1)) {
		n = nvme_drv_reap(d, 1, done, QDEPTH, true);
		if (n < 0)
			die("warm-up", n);
		for (i = 0; i < n && lba < blocks; i++, lba += nlb)
			queue_one(d, &fill, iova, buf_of[done[i].cid], lba, buf_of);
	}
}

/* A memfd of size bytes mapped shared and touched once (no fault is
 * timed), madvise'd MADV_HUGEPAGE with --thp. */
static uint8_t *memfd_map(const char *name, size_t size, bool thp)
{
	uint8_t *p;
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		die("memfd_create", -errno);
	if (ftruncate(fd, (off_t)size) < 0)
		die("ftruncate", -errno);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		die("mmap", -errno);
	if (thp)
		(void)madvise(p, size, MADV_HUGEPAGE);
	memset(p, 1, size);
	return p;
}

struct floor {
	double ops;    /* copies per second of wall time */
	double us;     /* CPU microseconds per copy */
	double pf_us;  /* the same, next copy's namespace bytes prefetched */
};

/*
 * The floor: the copy an I/O must make and nothing else, between the
 * same kinds of memory as the I/O path: a memfd the namespace's size
 * mapped shared (as nvme_ns.c maps a RAM namespace) and one the size of
 * the driver's DMA memory (as the library maps a DMA_MAP window), both
 * touched beforehand. Per op the job's namespace place (same generator:
 * random or sequential) and the next of qd buffers in turn (the I/O path
 * reuses a completed command's buffer); reads copy namespace -> buffer,
 * writes buffer -> namespace. Timed in this thread's CPU time, like the
 * server's per-I/O figure. pf_us: the same with the next op's first
 * namespace lines prefetched before each copy, as the controller does
 * for the next Read of a fetched batch (nvme_io_prefetch(); for writes
 * here too, where it shows why the controller does not).
 */
static double floor_run(const struct job *j, double secs, bool prefetch, double *wall_ops)
{
	static uint8_t *ns, *mem;
	static bool thp_done;
	uint64_t ops = 0, seed = 88172645463325252ull, pos = 0, next;
	double t0, c0;

	if (!ns || thp_done != thp_wanted) {
		if (ns) {
			munmap(ns, NS_SIZE);
			munmap(mem, DMA_SIZE);
		}
		ns = memfd_map("floor-ns", NS_SIZE, thp_wanted);
		mem = memfd_map("floor-dma", DMA_SIZE, false);
		thp_done = thp_wanted;
	}
	next = next_lba(j, &seed, &pos) * 512;
	t0 = now();
	c0 = thread_cpu();
	do {
		for (int i = 0; i < 64; i++) {
			uint64_t off = next;
			uint8_t *buf = mem + (ops % j->qd) * j->bs;

			next = next_lba(j, &seed, &pos) * 512;
			/* As nvme_io_prefetch(): 4 lines; for reads only
			 * there, here for writes too (to show why not). */
			if (prefetch)
				for (int k = 0; k < 4; k++)
					__builtin_prefetch(ns + next + k * 64, 0);
			if (j->opc == NVD_CMD_WRITE)
				memcpy(ns + off, buf, j->bs);
			else
				memcpy(buf, ns + off, j->bs);
			ops++;
		}
	} while (now() - t0 < secs);
	*wall_ops = ops / (now() - t0);
	return (thread_cpu() - c0) / ops * 1e6;
}

static struct floor floor_measure(const struct job *j, double secs)
{
	struct floor f;
	double pf_ops;

	f.us = floor_run(j, secs, false, &f.ops);
	f.pf_us = floor_run(j, secs, true, &pf_ops);
	return f;
}

/* With --thp: did the namespace get huge pages? (/proc/meminfo counts
 * every shmem huge page of the system; the namespace is 256 MiB of them
 * when it did.) */
static void shmem_huge_report(void)
{
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "ShmemHugePages:", 15) == 0)
			printf("--thp: %s", line);
	fclose(f);
}

static double loadavg(void);

/* I/O queue 1's commands fetched and interrupts raised so far. */
static void q1_stats(struct nvme_emu *emu, uint64_t *cmds, uint64_t *irqs, uint64_t *holds)
{
	struct nvme_emu_qstats st[2];
	int n, i;

	*cmds = *irqs = *holds = 0;
	while ((n = nvme_emu_queue_stats(emu, st, 2)) == -EAGAIN)
		sched_yield();
	for (i = 0; i < n; i++)
		if (st[i].qid == 1) {
			*cmds = st[i].cmds;
			*irqs = st[i].irqs;
			*holds = st[i].holds;
		}
}

struct config {
	bool poll;      /* controller poll option + polling driver */
	bool no_fd;     /* DMA by messages */
	bool no_shadow; /* no Doorbell Buffer Config */
	bool hybrid;    /* irq controller, driver spins spin_ns before sleeping */
};

static void run_config(const struct config *cf, double secs, const char *only)
{
	static const struct job jobs[] = {
		{ "randread-4k-qd1", NVD_CMD_READ, 4096, 1, true },
		{ "randread-4k-qd32", NVD_CMD_READ, 4096, 32, true },
		{ "randwrite-4k-qd1", NVD_CMD_WRITE, 4096, 1, true },
		{ "randwrite-4k-qd32", NVD_CMD_WRITE, 4096, 32, true },
		{ "seqread-128k-qd8", NVD_CMD_READ, 131072, 8, false },
		{ "seqwrite-128k-qd8", NVD_CMD_WRITE, 131072, 8, false },
	};
	struct nvme_drv_client_opts co = { .mem_size = DMA_SIZE, .no_fd = cf->no_fd };
	/* Polling: MSI-X for the admin queue, the I/O queue polled (IEN = 0)
	 * as Linux's poll queues; the controller refuses shadow doorbells
	 * to a host without MSI or MSI-X (INTx needs head doorbells). */
	struct nvme_drv_opts dopts = { .irq = true, .poll_queues = cf->poll };
	char dir[] = "/tmp/vus-nvme-bench-XXXXXX", path[64];
	struct nvme_drv_transport tr;
	struct nvme_emu_opts eo;
	struct nvme_emu *emu;
	struct vus_client *c;
	struct nvme_drv *d;
	bool shadow;
	uint64_t iova;
	size_t i;
	int r;

	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(path, sizeof(path), "%s/sock", dir);
	nvme_emu_opts_default(&eo);
	eo.size = NS_SIZE;
	eo.max_queues = 1;
	eo.poll = cf->poll;
	eo.thp = thp_wanted;
	if (holdoff_us >= 0) {
		eo.holdoff_us = (uint32_t)holdoff_us;
		eo.no_holdoff = holdoff_us == 0;
	}
	r = nvme_emu_create("nvme", &eo, &emu);
	if (r < 0)
		die("nvme_emu_create", r);
	dev = nvme_emu_dev(emu);
	vus_dev_set_log_level(dev, VUS_LOG_ERR);
	r = vus_dev_listen(dev, path);
	if (r < 0)
		die("listen", r);
	if (pthread_create(&server, NULL, server_main, NULL) != 0)
		die("pthread_create", -EAGAIN);
	r = vus_client_connect(path, NULL, &c);
	if (r == 0)
		r = nvme_drv_client_transport(c, &co, &tr);
	if (r == 0)
		r = nvme_drv_open(&tr, &dopts, &d);
	if (r == 0)
		r = nvme_drv_set_num_queues(d, 1, 1, NULL, NULL);
	if (r == 0)
		r = nvme_drv_create_qpair(d, 1, QDEPTH);
	if (r != 0)
		die("controller set-up", r);
	/* The controller refuses Doorbell Buffer Config without DMA fds
	 * (every shadow access would be a message): plain doorbells then. */
	shadow = !cf->no_shadow && nvme_drv_dbbuf_enable(d) == 0;
	if (!nvme_drv_alloc(d, QDEPTH * 131072u, &iova))
		die("buffers", -ENOMEM);

	warm_up(d, iova);
	if (thp_wanted)
		shmem_huge_report();

	printf("\n== mode %s, %s DMA%s: controller %s, driver %s%s ==\n",
	       cf->poll ? "poll" : cf->hybrid ? "hybrid" : "irq",
	       cf->no_fd ? "message (no fds)" : "fd-mapped",
	       shadow ? ", shadow doorbells + EventIdx" : cf->no_shadow ? ", no shadow doorbells" :
	       ", shadow doorbells refused (no fds): doorbell messages",
	       cf->poll ? "poll=true" : "inline on doorbells", cf->poll ? "polls its CQ" :
	       cf->hybrid ? "spins on its CQ, then sleeps on MSI-X eventfds" :
	       "sleeps on MSI-X eventfds", pin ? "; threads pinned to CPUs 1 and 0" : "");
	if (cf->hybrid)
		printf("hybrid: the driver looks at its CQ for up to %.0f us after each reap before "
		       "sleeping\n", spin_ns / 1e3);
	{
		/* Idle: queues set up, nothing submitted. */
		struct timespec nap = { 0, 500000000L };
		double c0 = process_cpu(), t0 = now();

		nanosleep(&nap, NULL);
		double cpu = (process_cpu() - c0) / (now() - t0) * 100;

		printf("idle: server CPU %.1f%% (queues set up, no I/O for %.1f s)\n",
		       cpu > 0 ? cpu : 0, now() - t0);
	}
	printf("%-20s %9s %8s %6s %9s %9s %6s %6s %7s %8s %8s %9s %7s %7s %5s\n", "job", "IOPS",
	       "MB/s", "server", "server/IO", "driver/IO", "batch", "irq/IO", "held/IO", "floor/op",
	       "+prefetch", "floor ops/s", "IOPS/fl", "fl/srv", "load");
	for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		uint64_t cmds0, irqs0, holds0, cmds1, irqs1, holds1;
		struct result res;
		struct floor fl;
		double per_io;

		if (only && strcmp(only, jobs[i].name) != 0)
			continue;
		q1_stats(emu, &cmds0, &irqs0, &holds0);
		res = run(d, &jobs[i], secs, iova, cf->hybrid ? spin_ns : 0);
		q1_stats(emu, &cmds1, &irqs1, &holds1);
		fl = floor_measure(&jobs[i], secs / 8);
		per_io = res.cpu / res.iops * 1e6;
		printf("%-20s %9.0f %8.1f %5.0f%% %7.3fus %7.3fus %6.1f %6.3f %7.3f %6.3fus %7.3fus "
		       "%11.0f %7.3f %7.3f %5.2f\n", jobs[i].name, res.iops, res.mbs, res.cpu * 100,
		       per_io, res.drv_cpu / res.iops * 1e6, res.batch,
		       cmds1 > cmds0 ? (double)(irqs1 - irqs0) / (double)(cmds1 - cmds0) : 0,
		       cmds1 > cmds0 ? (double)(holds1 - holds0) / (double)(cmds1 - cmds0) : 0, fl.us,
		       fl.pf_us, fl.ops, res.iops / fl.ops, fl.us / per_io, loadavg());
		fflush(stdout);
	}
	{
		uint64_t cmds, irqs, holds;

		q1_stats(emu, &cmds, &irqs, &holds);
		printf("I/O queue: %llu commands, %llu interrupts in all (warm-up included)\n",
		       (unsigned long long)cmds, (unsigned long long)irqs);
	}
	nvme_drv_close(d);
	vus_client_close(c);
	vus_dev_stop(dev);
	pthread_join(server, NULL);
	nvme_emu_free(emu);
	rmdir(dir);
}

/* The 1-minute load average: the machine may be shared. */
static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* Huge pages for memfd mappings come from transparent huge pages for
 * shmem, which madvise() can ask for only where shmem_enabled allows. */
static void shmem_thp_report(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		fclose(f);
	}
	line[strcspn(line, "\n")] = 0;
	printf("shmem THP (shmem_enabled): %s; --thp %s\n", line[0] ? line : "unknown",
	       !thp_wanted ? "off: 4 KiB pages" :
	       strstr(line, "[never]") || strstr(line, "[deny]") ?
	       "on, but shmem_enabled refuses it: 4 KiB pages" : "on: MADV_HUGEPAGE");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "quick", no_argument, NULL, 'q' },
		{ "mode", required_argument, NULL, 'm' },
		{ "dma", required_argument, NULL, 'd' },
		{ "no-shadow", no_argument, NULL, 'S' },
		{ "job", required_argument, NULL, 'j' },
		{ "thp", no_argument, NULL, 'T' },
		{ "spin-us", required_argument, NULL, 'P' },
		{ "pin", no_argument, NULL, 'I' },
		{ "holdoff", required_argument, NULL, 'H' },
		/* Earlier spellings: --no-fd is --dma nofd, --polled --mode poll. */
		{ "no-fd", no_argument, NULL, 'n' },
		{ "polled", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *mode = "all", *dma = "all", *only = NULL;
	bool no_shadow = false;
	double secs = 1;
	int o, m, f;

	while ((o = getopt_long(argc, argv, "s:qm:d:Sj:TP:IH:nph", lopts, NULL)) != -1) {
		switch (o) {
		case 's':
			secs = atof(optarg);
			break;
		case 'q':
			secs = 0.2;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'd':
			dma = optarg;
			break;
		case 'S':
			no_shadow = true;
			break;
		case 'j':
			only = optarg;
			break;
		case 'T':
			thp_wanted = true;
			break;
		case 'I':
			pin = true;
			pin_to(0);
			break;
		case 'P':
			spin_ns = (unsigned)(atof(optarg) * 1000);
			break;
		case 'H':
			holdoff_us = atol(optarg);
			if (holdoff_us < 0 || holdoff_us > 10000) {
				fprintf(stderr, "vus-nvme-bench: --holdoff takes 0..10000 (us)\n");
				return 2;
			}
			break;
		case 'n':
			dma = "nofd";
			break;
		case 'p':
			mode = "poll";
			break;
		default:
			printf("usage: %s [--seconds S] [--quick] [--mode irq|hybrid|poll|all] "
			       "[--dma fd|nofd|all] [--no-shadow] [--job NAME] [--thp] [--spin-us N] "
			       "[--pin] [--holdoff US]\n", argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if ((strcmp(mode, "all") && strcmp(mode, "irq") && strcmp(mode, "hybrid") &&
	     strcmp(mode, "poll")) ||
	    (strcmp(dma, "all") && strcmp(dma, "fd") && strcmp(dma, "nofd")) || !(secs > 0)) {
		fprintf(stderr, "vus-nvme-bench: bad --mode, --dma or --seconds (see --help)\n");
		return 2;
	}
	printf("vus-nvme-bench: nvme-emu RAM namespace %llu MiB, one I/O queue of %u, %.1f s per "
	       "job;\nfloor = memcpy of the same bytes per op between memfd mappings of the same "
	       "sizes, measured in this run\n(floor/op, +prefetch: CPU per copy; IOPS/fl = IOPS / "
	       "floor copies per second; fl/srv = floor/op / server CPU per I/O)\n",
	       (unsigned long long)(NS_SIZE >> 20), QDEPTH, secs);
	shmem_thp_report();
	for (f = 0; f < 2; f++) {
		for (m = 0; m < 3; m++) {
			static const char *const names[] = { "irq", "hybrid", "poll" };
			struct config cf = { .hybrid = m == 1, .poll = m == 2, .no_fd = f == 1,
					     .no_shadow = no_shadow };

			if (strcmp(mode, "all") && strcmp(mode, names[m]))
				continue;
			if (strcmp(dma, "all") && strcmp(dma, f ? "nofd" : "fd"))
				continue;
			run_config(&cf, secs, only);
		}
	}
	return 0;
}
