/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-nvme-bench: nvme-emu (samples/nvme-emu, RAM namespace) served on a
 * thread of this process, driven over a vfio-user socket by the tests'
 * userspace NVMe driver (test/helpers/nvme_drv.c): 4 KiB random read and
 * write at QD1 and QD32, 128 KiB sequential read and write, each against
 * a floor measured in the same run, memcpy of the same bytes. Prints
 * IOPS, MB/s, the server thread's CPU use and the ratios; asserts nothing
 * (docs/nvme-testing.md).
 *
 *   vus-nvme-bench [--seconds S] [--no-fd] [--polled]
 *
 * --no-fd maps the client's memory without fds (DMA by messages, as
 * QEMU without shared guest RAM); --polled asks for no interrupts (the
 * driver polls its completion queues).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#include "nvme_drv.h"
#include "nvme_emu.h"

#define NS_SIZE (256ull << 20)

static struct vus_dev *dev;
static pthread_t server;

static void *server_main(void *arg)
{
	vus_dev_run(dev);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double server_cpu(void)
{
	struct timespec ts;
	clockid_t id;

	if (pthread_getcpuclockid(server, &id) != 0 || clock_gettime(id, &ts) != 0)
		return 0;
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
	double iops, mbs, cpu;
};

static void die(const char *what, int r)
{
	fprintf(stderr, "vus-nvme-bench: %s: %s (%d)\n", what, r < 0 ? strerror(-r) : "NVMe status",
		r);
	exit(1);
}

static struct result run(struct nvme_drv *d, const struct job *j, double secs, uint64_t iova)
{
	uint64_t blocks = NS_SIZE / 512, nlb = j->bs / 512, seed = 88172645463325252ull, pos = 0;
	uint16_t cids[64];
	struct nvme_drv_cmd cmd;
	double t0, t1, c0;
	uint64_t ops = 0;
	unsigned k;
	int r;

	for (k = 0; k < j->qd; k++) {
		uint64_t lba = j->random ? rnd(&seed) % (blocks / nlb) * nlb : (pos += nlb) % blocks;

		r = nvme_drv_rw_cmd(d, &cmd, j->opc, 1, lba, (uint32_t)nlb, iova + k * (uint64_t)j->bs,
				    j->bs, NVME_DRV_PRP);
		if (r == 0)
			r = nvme_drv_submit(d, 1, &cmd, &cids[k]);
		if (r < 0)
			die("submit", r);
	}
	t0 = now();
	c0 = server_cpu();
	for (k = 0;; k = (k + 1) % j->qd) {
		uint64_t lba;

		r = nvme_drv_wait(d, 1, cids[k], NULL);
		if (r != 0)
			die("I/O", r);
		ops++;
		if ((ops & 63) == 0 && now() - t0 >= secs)
			break;
		lba = j->random ? rnd(&seed) % (blocks / nlb) * nlb : (pos += nlb) % blocks;
		r = nvme_drv_rw_cmd(d, &cmd, j->opc, 1, lba, (uint32_t)nlb, iova + k * (uint64_t)j->bs,
				    j->bs, NVME_DRV_PRP);
		if (r == 0)
			r = nvme_drv_submit(d, 1, &cmd, &cids[k]);
		if (r < 0)
			die("submit", r);
	}
	t1 = now();
	/* Drain what is still in flight (not counted). */
	for (unsigned i = 1; i < j->qd; i++)
		nvme_drv_wait(d, 1, cids[(k + i) % j->qd], NULL);
	return (struct result){ .iops = ops / (t1 - t0),
				.mbs = ops * (double)j->bs / (t1 - t0) / 1e6,
				.cpu = (server_cpu() - c0) / (t1 - t0) };
}

/* The floor: memcpy of the same bytes per operation, at random places
 * in 64 MiB buffers touched once beforehand (no page faults timed). */
static double memcpy_ops(uint32_t bs, double secs)
{
	static uint8_t *src, *dst;
	static const size_t span = 64u << 20;
	uint64_t ops = 0, seed = 1;
	double t0;

	if (!src) {
		src = malloc(span);
		dst = malloc(span);
		if (!src || !dst)
			die("malloc", -ENOMEM);
		memset(src, 1, span);
		memset(dst, 2, span);
	}
	t0 = now();
	do {
		for (int i = 0; i < 64; i++) {
			size_t off = rnd(&seed) % (span / bs) * bs;

			memcpy(dst + off, src + (span - bs - off), bs);
			ops++;
		}
	} while (now() - t0 < secs);
	return ops / (now() - t0) + 0 * dst[seed % span];
}

int main(int argc, char **argv)
{
	static const struct job jobs[] = {
		{ "randread-4k-qd1", NVD_CMD_READ, 4096, 1, true },
		{ "randread-4k-qd32", NVD_CMD_READ, 4096, 32, true },
		{ "randwrite-4k-qd1", NVD_CMD_WRITE, 4096, 1, true },
		{ "randwrite-4k-qd32", NVD_CMD_WRITE, 4096, 32, true },
		{ "seqread-128k-qd8", NVD_CMD_READ, 131072, 8, false },
		{ "seqwrite-128k-qd8", NVD_CMD_WRITE, 131072, 8, false },
	};
	static const struct option lopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "no-fd", no_argument, NULL, 'n' },
		{ "polled", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct nvme_drv_client_opts co = { .mem_size = 32u << 20 };
	struct nvme_drv_opts dopts = { .irq = true };
	char dir[] = "/tmp/vus-nvme-bench-XXXXXX", path[64];
	struct nvme_drv_transport tr;
	struct nvme_emu_opts eo;
	struct nvme_emu *emu;
	struct vus_client *c;
	struct nvme_drv *d;
	double secs = 2;
	uint64_t iova;
	size_t i;
	int o, r;

	while ((o = getopt_long(argc, argv, "s:nph", lopts, NULL)) != -1) {
		switch (o) {
		case 's':
			secs = atof(optarg);
			break;
		case 'n':
			co.no_fd = true;
			break;
		case 'p':
			dopts.irq = false;
			break;
		default:
			printf("usage: %s [--seconds S] [--no-fd] [--polled]\n", argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(path, sizeof(path), "%s/sock", dir);
	nvme_emu_opts_default(&eo);
	eo.size = NS_SIZE;
	eo.max_queues = 1;
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
		r = nvme_drv_create_qpair(d, 1, 64);
	if (r != 0)
		die("controller set-up", r);
	if (!nvme_drv_alloc(d, 32u * 131072, &iova))
		die("buffers", -ENOMEM);

	printf("vus-nvme-bench: nvme-emu RAM namespace %llu MiB, %s DMA, %s, %.1f s per job\n",
	       (unsigned long long)(NS_SIZE >> 20), co.no_fd ? "message" : "fd-mapped",
	       dopts.irq ? "MSI-X eventfds" : "polled completions", secs);
	printf("%-20s %10s %9s %11s %13s %8s\n", "job", "IOPS", "MB/s", "server CPU",
	       "memcpy ops/s", "ratio");
	for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		struct result res = run(d, &jobs[i], secs, iova);
		double floor_ops = memcpy_ops(jobs[i].bs, secs / 4);

		printf("%-20s %10.0f %9.1f %10.0f%% %13.0f %8.4f\n", jobs[i].name, res.iops, res.mbs,
		       res.cpu * 100, floor_ops, res.iops / floor_ops);
	}
	nvme_drv_close(d);
	vus_client_close(c);
	vus_dev_stop(dev);
	pthread_join(server, NULL);
	nvme_emu_free(emu);
	rmdir(dir);
	return 0;
}
