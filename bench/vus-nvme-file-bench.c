/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vus-nvme-file-bench: nvme-emu with a file-backed namespace, its I/O
 * through io_uring (asynchronous, iovecs into guest memory) against
 * pread/pwrite on the processor thread (the baseline, opts.sync_io),
 * measured in the same run: both controllers served at once, each job
 * run on one then the other, R times (default 5 x 0.5 s each). Served on a
 * thread of this process, driven over a vfio-user socket by the tests'
 * userspace NVMe driver with fd-mapped memory and MSI-X eventfds.
 * Prints IOPS of both and the ratio io_uring / pread-pwrite; asserts
 * nothing (samples/nvme-emu/README.md has numbers and method).
 *
 *   vus-nvme-file-bench [--seconds S] [--rounds R] [--dir DIR] [--direct] [--job NAME]
 *
 * The file (256 MiB, filled once) is made in DIR (default /tmp); the
 * file system it lands on is printed. --direct opens it with O_DIRECT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <vus/client.h>
#include <vus/device.h>

#include "nvme_drv.h"
#include "nvme_emu.h"

#define NS_SIZE (256ull << 20)
#define MAX_QD 32

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

static void die(const char *what, int r)
{
	fprintf(stderr, "vus-nvme-file-bench: %s: %s (%d)\n", what,
		r < 0 ? strerror(-r) : "NVMe status", r);
	exit(1);
}

struct job {
	const char *name;
	uint8_t opc;
	uint32_t bs;
	unsigned qd;
	bool random;
};

struct rig {
	struct nvme_emu *emu;
	struct vus_dev *dev;
	pthread_t thread;
	struct vus_client *c;
	struct nvme_drv *d;
	uint64_t iova;
	char path[96];
};

static void *serve(void *arg)
{
	vus_dev_run(arg);
	return NULL;
}

static void rig_start(struct rig *g, const char *dir, const char *file, bool sync_io,
		      bool direct)
{
	struct nvme_drv_client_opts co = { .mem_size = 32u << 20 };
	struct nvme_drv_opts dopts = { .irq = true };
	struct nvme_drv_transport tr;
	struct nvme_emu_opts eo;
	int r;

	snprintf(g->path, sizeof(g->path), "%s/sock", dir);
	nvme_emu_opts_default(&eo);
	eo.file = file;
	eo.size = NS_SIZE;
	eo.max_queues = 1;
	eo.sync_io = sync_io;
	eo.odirect = direct;
	r = nvme_emu_create("nvme", &eo, &g->emu);
	if (r < 0)
		die("nvme_emu_create", r);
	g->dev = nvme_emu_dev(g->emu);
	vus_dev_set_log_level(g->dev, VUS_LOG_ERR);
	r = vus_dev_listen(g->dev, g->path);
	if (r < 0)
		die("listen", r);
	if (pthread_create(&g->thread, NULL, serve, g->dev) != 0)
		die("pthread_create", -EAGAIN);
	r = vus_client_connect(g->path, NULL, &g->c);
	if (r == 0)
		r = nvme_drv_client_transport(g->c, &co, &tr);
	if (r == 0)
		r = nvme_drv_open(&tr, &dopts, &g->d);
	if (r == 0)
		r = nvme_drv_set_num_queues(g->d, 1, 1, NULL, NULL);
	if (r == 0)
		r = nvme_drv_create_qpair(g->d, 1, 64);
	if (r != 0)
		die("controller set-up", r);
	if (!nvme_drv_alloc(g->d, MAX_QD * 131072u, &g->iova))
		die("buffers", -ENOMEM);
}

static void rig_stop(struct rig *g)
{
	struct nvme_emu_io_stats st;

	nvme_emu_io_stats(g->emu, &st);
	if (st.uring)
		printf("io_uring: %llu SQEs, %llu CQEs; inline: %llu cached reads, %llu writes "
		       "(ring idle)\n", (unsigned long long)st.submitted,
		       (unsigned long long)st.completed, (unsigned long long)st.inline_reads,
		       (unsigned long long)st.inline_writes);
	nvme_drv_close(g->d);
	vus_client_close(g->c);
	vus_dev_stop(g->dev);
	pthread_join(g->thread, NULL);
	nvme_emu_free(g->emu);
}

static double run(struct nvme_drv *d, const struct job *j, double secs, uint64_t iova)
{
	uint64_t blocks = NS_SIZE / 512, nlb = j->bs / 512, seed = 88172645463325252ull, pos = 0;
	uint16_t cids[MAX_QD];
	struct nvme_drv_cmd cmd;
	uint64_t ops = 0;
	double t0, t1;
	unsigned k;
	int r;

	for (k = 0; k < j->qd; k++) {
		uint64_t lba = j->random ? rnd(&seed) % (blocks / nlb) * nlb : (pos += nlb) % blocks;

		r = nvme_drv_rw_cmd(d, &cmd, j->opc, 1, lba, (uint32_t)nlb,
				    iova + k * (uint64_t)j->bs, j->bs, NVME_DRV_PRP);
		if (r == 0)
			r = nvme_drv_submit(d, 1, &cmd, &cids[k]);
		if (r < 0)
			die("submit", r);
	}
	t0 = now();
	for (k = 0;; k = (k + 1) % j->qd) {
		uint64_t lba;

		r = nvme_drv_wait(d, 1, cids[k], NULL);
		if (r != 0)
			die("I/O", r);
		ops++;
		if ((ops & 63) == 0 && now() - t0 >= secs)
			break;
		lba = j->random ? rnd(&seed) % (blocks / nlb) * nlb : (pos += nlb) % blocks;
		r = nvme_drv_rw_cmd(d, &cmd, j->opc, 1, lba, (uint32_t)nlb,
				    iova + k * (uint64_t)j->bs, j->bs, NVME_DRV_PRP);
		if (r == 0)
			r = nvme_drv_submit(d, 1, &cmd, &cids[k]);
		if (r < 0)
			die("submit", r);
	}
	t1 = now();
	for (unsigned i = 1; i < j->qd; i++)
		nvme_drv_wait(d, 1, cids[(k + i) % j->qd], NULL);
	return ops / (t1 - t0);
}

static const char *fs_name(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) < 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xef53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683e: return "btrfs";
	case 0x794c7630: return "overlayfs";
	default: return "other";
	}
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
	enum { NJ = sizeof(jobs) / sizeof(jobs[0]) };
	static const struct option lopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "direct", no_argument, NULL, 'D' },
		{ "job", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double sum[2][NJ] = { { 0 } }, secs = 0.5;
	char sub[2][64];
	struct rig g[2];
	const char *fdir = "/tmp";
	char sdir[] = "/tmp/vus-nvme-fbench-XXXXXX", file[256];
	const char *only = NULL;
	bool direct = false;
	int rounds = 5, o, fd, round, mode;
	char *chunk;
	size_t i;

	while ((o = getopt_long(argc, argv, "s:r:d:Dh", lopts, NULL)) != -1) {
		switch (o) {
		case 's':
			secs = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'd':
			fdir = optarg;
			break;
		case 'D':
			direct = true;
			break;
		case 'j':
			only = optarg;
			break;
		default:
			printf("usage: %s [--seconds S] [--rounds R] [--dir DIR] [--direct] "
			       "[--job NAME]\n", argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || secs <= 0)
		die("options", -EINVAL);
	if (!mkdtemp(sdir))
		die("mkdtemp", -errno);
	snprintf(file, sizeof(file), "%s/vus-nvme-fbench-XXXXXX", fdir);
	fd = mkstemp(file);
	if (fd < 0)
		die("backing file", -errno);
	/* Filled once, so reads find data (page cache, unless --direct). */
	chunk = malloc(1u << 20);
	if (!chunk)
		die("malloc", -ENOMEM);
	memset(chunk, 0x5a, 1u << 20);
	for (i = 0; i < NS_SIZE >> 20; i++)
		if (pwrite(fd, chunk, 1u << 20, (off_t)(i << 20)) != 1 << 20)
			die("fill", -errno);
	free(chunk);
	fsync(fd);

	printf("vus-nvme-file-bench: file namespace %llu MiB on %s (%s)%s, fd-mapped DMA, "
	       "MSI-X eventfds, %.1f s x %d rounds per job and mode, modes alternated\n",
	       (unsigned long long)(NS_SIZE >> 20), fdir, fs_name(fdir),
	       direct ? ", O_DIRECT" : "", secs, rounds);
	/* Both controllers up at once (on the same file, used in turn);
	 * every job alternates them round by round, so load that comes and
	 * goes on the machine falls on both. */
	snprintf(sub[0], sizeof(sub[0]), "%s/a", sdir);
	snprintf(sub[1], sizeof(sub[1]), "%s/b", sdir);
	for (mode = 0; mode < 2; mode++) {
		if (mkdir(sub[mode], 0700) < 0)
			die("mkdir", -errno);
		rig_start(&g[mode], sub[mode], file, mode == 1, direct);
	}
	for (i = 0; i < NJ; i++)
		for (round = 0; round < rounds && (!only || !strcmp(only, jobs[i].name)); round++)
			for (mode = 0; mode < 2; mode++) {
				int m = (mode + round) % 2;

				sum[m][i] += run(g[m].d, &jobs[i], secs, g[m].iova);
			}
	for (mode = 0; mode < 2; mode++) {
		rig_stop(&g[mode]);
		rmdir(sub[mode]);
	}
	printf("%-20s %14s %14s %8s\n", "job", "io_uring IOPS", "pread IOPS", "ratio");
	for (i = 0; i < NJ; i++)
		if (!only || !strcmp(only, jobs[i].name))
			printf("%-20s %14.0f %14.0f %8.2f\n", jobs[i].name, sum[0][i] / rounds,
		       sum[1][i] / rounds, sum[0][i] / sum[1][i]);
	close(fd);
	unlink(file);
	rmdir(sdir);
	return 0;
}
