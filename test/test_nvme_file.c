/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu's file backend through io_uring (samples/nvme-emu/nvme_uring.c,
 * docs/nvme.md "Backends"): data verified on many queues at high queue
 * depth with guest memory through fds (iovecs straight into it), without
 * fds (bounce buffers, worker thread) and in polling mode; completions out
 * of submission order; controller reset, DEVICE_RESET, FLR, shutdown,
 * migration STOP and DMA_UNMAP with backend I/O in flight; O_DIRECT (with unaligned guest
 * buffers bounced) and on tmpfs (refused cleanly where the kernel has none
 * there); the pread/pwrite path forced, and taken when io_uring cannot be
 * set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nvme_rig.h"

#define FILE_SIZE (64u << 20)
#define TMPFS_MAGIC_ 0x01021994

struct buf {
	uint8_t *p;
	uint64_t iova;
	size_t size;
};

static struct buf buf_new(struct nvme_rig *r, size_t size)
{
	struct buf b = { .size = size };

	b.p = nvme_drv_alloc(r->d, size, &b.iova);
	assert_non_null(b.p);
	return b;
}

/* A backing file in dir (a temporary name, removed by file_done). */
static int file_new(const char *dir, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/vus-nvme-file-XXXXXX", dir);
	fd = mkstemp(path);
	ASSERT_NONNEG(fd);
	return fd;
}

static void file_done(int fd, const char *path)
{
	close(fd);
	unlink(path);
}

static void start_file(struct nvme_rig *r, struct nvme_rig_opts *o, const char *path)
{
	o->emu.file = path;
	o->emu.size = FILE_SIZE;
	if (!o->mem_size)
		o->mem_size = 48u << 20;
	nvme_rig_start(r, o);
}

static void expect_uring(struct nvme_rig *r, bool on)
{
	struct nvme_emu_io_stats st;

	nvme_emu_io_stats(r->emu, &st);
	ASSERT_EQ(st.uring, on);
	if (on) {
		assert_true(st.submitted > 0);
		ASSERT_EQ(st.submitted >= st.completed, true);
	} else {
		ASSERT_EQ(st.submitted, 0);
	}
}

/*
 * NQ queue pairs of depth 128, PERQ commands in flight on each at once,
 * sizes from 4 KiB to 124 KiB, PRP and SGL, some at an offset in their
 * first page, every fourth with FUA; the file dropped from the page
 * cache; everything read back crosswise (queue q reads what q + 1 wrote),
 * compared, and checked in the file itself.
 */
static uint32_t slot_len(size_t k)
{
	static const uint32_t sizes[] = { 4096, 8192, 65536, 126976, 4096, 16384 };

	return sizes[k % 6];
}

static size_t slot_off(size_t k)
{
	return k % 3 == 1 ? 512 : 0;
}

static void many_queues(struct nvme_rig_opts *o, int fd, const char *path)
{
	enum { NQ = 4, PERQ = 60, SLOT = 128 * 1024 };
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	struct buf w, rd;
	uint16_t cids[NQ][PERQ];
	uint8_t *chk;
	unsigned q, i;

	o->mem_size = 72u << 20;
	start_file(&r, o, path);
	nvme_rig_io_queues(&r, NQ, 128);
	w = buf_new(&r, (size_t)NQ * PERQ * SLOT);
	rd = buf_new(&r, (size_t)NQ * PERQ * SLOT);
	nvme_rig_pattern(w.p, w.size, 501);
	for (i = 0; i < PERQ; i++)
		for (q = 0; q < NQ; q++) {
			size_t k = (size_t)q * PERQ + i;

			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1, k * SLOT / r.lba,
						  slot_len(k) / r.lba, w.iova + k * SLOT + slot_off(k),
						  slot_len(k), i % 2 ? NVME_DRV_PRP : NVME_DRV_SGL_LIST));
			/* Every fourth with FUA (write + fdatasync in the ring). */
			if (k % 4 == 0)
				cmd.sqe.cdw12 |= 1u << 30;
			ASSERT_OK(nvme_drv_submit(r.d, (uint16_t)(q + 1), &cmd, &cids[q][i]));
		}
	for (q = 0; q < NQ; q++)
		for (i = 0; i < PERQ; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, (uint16_t)(q + 1), cids[q][i], NULL));
	memset(rd.p, 0, rd.size);
	/* Out of the page cache: the reads wait for the disk, in the ring. */
	ASSERT_OK(fdatasync(fd));
	ASSERT_OK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	for (i = 0; i < PERQ; i++)
		for (q = 0; q < NQ; q++) {
			size_t k = (size_t)((q + 1) % NQ) * PERQ + i;

			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1, k * SLOT / r.lba,
						  slot_len(k) / r.lba, rd.iova + k * SLOT + slot_off(k),
						  slot_len(k), i % 2 ? NVME_DRV_SGL : NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, (uint16_t)(q + 1), &cmd, &cids[q][i]));
		}
	for (q = 0; q < NQ; q++)
		for (i = 0; i < PERQ; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, (uint16_t)(q + 1), cids[q][i], NULL));
	chk = malloc(SLOT);
	assert_non_null(chk);
	for (size_t k = 0; k < (size_t)NQ * PERQ; k++) {
		const uint8_t *src = w.p + k * SLOT + slot_off(k);

		if (memcmp(rd.p + k * SLOT + slot_off(k), src, slot_len(k)))
			fail_msg("slot %zu: read back differs from what was written", k);
		ASSERT_EQ(pread(fd, chk, slot_len(k), (off_t)(k * SLOT)), (ssize_t)slot_len(k));
		if (memcmp(chk, src, slot_len(k)))
			fail_msg("slot %zu: file content differs from what was written", k);
	}
	free(chk);
	expect_uring(&r, !o->emu.sync_io);
	nvme_rig_stop(&r);
}

static void test_many_queues_fd(void **state)
{
	struct nvme_rig_opts o = { 0 };
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path));

	(void)state;
	many_queues(&o, fd, path);
	file_done(fd, path);
}

static void test_many_queues_no_fd(void **state)
{
	struct nvme_rig_opts o = { .no_fd = true };
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path));

	(void)state;
	many_queues(&o, fd, path);
	file_done(fd, path);
}

static void test_many_queues_poll(void **state)
{
	struct nvme_rig_opts o = { .emu.poll = true };
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path));

	(void)state;
	many_queues(&o, fd, path);
	file_done(fd, path);
}

/* The pread/pwrite path, forced by option (also what runs when io_uring
 * cannot be set up). */
static void test_sync_forced(void **state)
{
	struct nvme_rig_opts o = { .emu.sync_io = true };
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path));

	(void)state;
	many_queues(&o, fd, path);
	file_done(fd, path);
}

/*
 * Completions out of submission order: each round, a 1 MiB FUA write
 * (write, then fdatasync) and after it small plain writes to other
 * blocks. The controller must complete each when its own backend request
 * ends, so the small ones may overtake; every CQE must carry the right
 * command id and the data must land. How often they overtook is printed.
 */
static void test_out_of_order(void **state)
{
	enum { ROUNDS = 8, SMALL = 16 };
	struct nvme_rig_opts o = { 0 };
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	struct buf big, small, back;
	uint16_t bcid, scid[SMALL];
	unsigned round, i, overtaken = 0;
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path));

	(void)state;
	start_file(&r, &o, path);
	nvme_rig_io_queues(&r, 1, 64);
	big = buf_new(&r, 1u << 20);
	small = buf_new(&r, SMALL * 4096);
	back = buf_new(&r, 1u << 20);
	for (round = 0; round < ROUNDS; round++) {
		nvme_rig_pattern(big.p, big.size, 700 + round);
		nvme_rig_pattern(small.p, small.size, 800 + round);
		/* A first write the controller may make inline (nothing in
		 * flight); the ones behind it go through the ring. */
		ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1, (8u << 20) / r.lba,
					  4096 / r.lba, small.iova, 4096, NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, NULL));
		ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1, 0, (1u << 20) / r.lba,
					  big.iova, 1u << 20, NVME_DRV_PRP));
		cmd.sqe.cdw12 |= 1u << 30; /* FUA */
		ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, &bcid));
		for (i = 0; i < SMALL; i++) {
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1,
						  ((4u << 20) + i * 4096) / r.lba, 4096 / r.lba,
						  small.iova + i * 4096, 4096, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, &scid[i]));
		}
		for (i = 0; i < SMALL; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, 1, scid[i], NULL));
		if (!nvme_drv_done(r.d, 1, bcid))
			overtaken++;
		assert_nvme_ok(nvme_drv_wait(r.d, 1, bcid, NULL));
		assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, (1u << 20) / r.lba,
					   back.iova, 1u << 20, NVME_DRV_PRP));
		assert_memory_equal(back.p, big.p, 1u << 20);
		assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, (4u << 20) / r.lba,
					   SMALL * 4096 / r.lba, back.iova, SMALL * 4096,
					   NVME_DRV_PRP));
		assert_memory_equal(back.p, small.p, SMALL * 4096);
	}
	fprintf(stderr, "out of order: the small writes completed before the 1 MiB FUA write "
		"in %u of %u rounds\n", overtaken, ROUNDS);
	expect_uring(&r, true);
	nvme_rig_stop(&r);
	file_done(fd, path);
}

/* Many 128 KiB writes in flight on two queues; then 'reset' with them in
 * flight; the controller comes back and works, and the file holds data. */
static void submit_writes(struct nvme_rig *r, uint16_t qid, struct buf *b, unsigned n)
{
	struct nvme_drv_cmd cmd;

	for (unsigned i = 0; i < n; i++) {
		ASSERT_OK(nvme_drv_rw_cmd(r->d, &cmd, NVD_CMD_WRITE, 1,
					  ((uint64_t)qid * n + i) * 131072 / r->lba,
					  131072 / r->lba, b->iova + (size_t)i * 131072, 131072,
					  NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_submit(r->d, qid, &cmd, NULL));
	}
}

enum reset_kind { RESET_CC, RESET_DEVICE, RESET_SHUTDOWN, RESET_FLR };

static uint32_t cfg_rd(struct nvme_rig *r, unsigned off, unsigned len)
{
	uint8_t b[4] = { 0 };

	ASSERT_OK(vus_client_region_read(r->c, VUS_PCI_CONFIG_REGION, off, b, len));
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Initiate Function Level Reset in the PCI Express capability (ID 10h,
 * Device Control bit 15). */
static void flr(struct nvme_rig *r)
{
	unsigned off = cfg_rd(r, 0x34, 1), n;
	uint32_t v;
	uint8_t b[2];

	for (n = 0; off && n < 48 && cfg_rd(r, off, 1) != 0x10; n++)
		off = cfg_rd(r, off + 1, 1);
	assert_true(off && cfg_rd(r, off, 1) == 0x10);
	v = cfg_rd(r, off + 8, 2) | 0x8000;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	ASSERT_OK(vus_client_region_write(r->c, VUS_PCI_CONFIG_REGION, off + 8, b, 2));
}

static void reset_in_flight(enum reset_kind kind, bool no_fd)
{
	struct nvme_rig_opts o = { .no_fd = no_fd };
	struct nvme_rig r;
	struct buf b, back;
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path));
	int round;

	start_file(&r, &o, path);
	b = buf_new(&r, 60 * 131072);
	back = buf_new(&r, 131072);
	nvme_rig_pattern(b.p, b.size, 900);
	for (round = 0; round < 3; round++) {
		nvme_rig_io_queues(&r, 2, 64);
		submit_writes(&r, 1, &b, 60);
		submit_writes(&r, 2, &b, 60);
		switch (kind) {
		case RESET_CC:
			assert_true(nvme_drv_disable(r.d) >= 0);
			break;
		case RESET_DEVICE:
			ASSERT_OK(vus_client_reset(r.c));
			ASSERT_OK(nvme_drv_pci_restore(r.d));
			assert_true(nvme_drv_disable(r.d) >= 0);
			break;
		case RESET_SHUTDOWN:
			ASSERT_OK(nvme_drv_shutdown(r.d));
			assert_true(nvme_drv_disable(r.d) >= 0);
			break;
		case RESET_FLR:
			flr(&r);
			ASSERT_OK(nvme_drv_pci_restore(r.d));
			assert_true(nvme_drv_disable(r.d) >= 0);
			break;
		}
		ASSERT_OK(nvme_drv_enable(r.d));
	}
	{
		struct nvme_emu_io_stats st;

		nvme_emu_io_stats(r.emu, &st);
		fprintf(stderr, "%s: the resets waited for %llu backend requests in flight\n",
			kind == RESET_CC ? "CC.EN 1->0" : kind == RESET_DEVICE ? "DEVICE_RESET" :
			kind == RESET_FLR ? "FLR" : "shutdown", (unsigned long long)st.drained);
	}
	/* Usable again, and no completion of the old queues lands in the
	 * new ones (the driver would see a foreign command id). */
	nvme_rig_io_queues(&r, 2, 64);
	for (unsigned i = 0; i < 8; i++) {
		assert_nvme_ok(nvme_drv_rw(r.d, (uint16_t)(1 + i % 2), NVD_CMD_WRITE, 1,
					   (uint64_t)i * 131072 / r.lba, 131072 / r.lba,
					   b.iova + (size_t)i * 131072, 131072, NVME_DRV_PRP));
		assert_nvme_ok(nvme_drv_rw(r.d, (uint16_t)(1 + i % 2), NVD_CMD_READ, 1,
					   (uint64_t)i * 131072 / r.lba, 131072 / r.lba, back.iova,
					   131072, NVME_DRV_PRP));
		assert_memory_equal(back.p, b.p + (size_t)i * 131072, 131072);
	}
	nvme_rig_stop(&r);
	file_done(fd, path);
}

static void test_cc_reset_in_flight(void **state)
{
	(void)state;
	reset_in_flight(RESET_CC, false);
}

static void test_device_reset_in_flight(void **state)
{
	(void)state;
	reset_in_flight(RESET_DEVICE, false);
}

static void test_device_reset_in_flight_no_fd(void **state)
{
	(void)state;
	reset_in_flight(RESET_DEVICE, true);
}

static void test_shutdown_in_flight(void **state)
{
	(void)state;
	reset_in_flight(RESET_SHUTDOWN, false);
}

static void test_flr_in_flight(void **state)
{
	(void)state;
	reset_in_flight(RESET_FLR, false);
}

/*
 * Migration STOP with backend I/O in flight (uncached reads and 128 KiB
 * writes): the transition drains the ring; while stopped no completion
 * is posted (DMA is stopped); back in RUNNING every command completes
 * successfully and the data is right.
 */
static void test_mig_stop_in_flight(void **state)
{
	enum { N = 24, LEN = 131072 };
	struct nvme_rig_opts o = { 0 };
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	struct buf w, rd;
	uint16_t cids[2 * N];
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path)), i, round;

	(void)state;
	start_file(&r, &o, path);
	nvme_rig_io_queues(&r, 2, 64);
	w = buf_new(&r, (size_t)N * LEN);
	rd = buf_new(&r, (size_t)N * LEN);
	for (round = 0; round < 3; round++) {
		nvme_rig_pattern(w.p, w.size, 990 + round);
		/* Queue 1 writes the upper half; queue 2 reads back the lower
		 * half written in the round before (uncached: dropped). */
		for (i = 0; i < N; i++)
			assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1,
						   (uint64_t)i * LEN / r.lba, LEN / r.lba,
						   w.iova + (size_t)i * LEN, LEN, NVME_DRV_PRP));
		ASSERT_OK(fdatasync(fd));
		ASSERT_OK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
		memset(rd.p, 0, rd.size);
		for (i = 0; i < N; i++) {
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1,
						  (uint64_t)i * LEN / r.lba, LEN / r.lba,
						  rd.iova + (size_t)i * LEN, LEN, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, 2, &cmd, &cids[i]));
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_WRITE, 1,
						  (uint64_t)(N + i) * LEN / r.lba, LEN / r.lba,
						  w.iova + (size_t)i * LEN, LEN, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, &cids[N + i]));
		}
		ASSERT_OK(vus_client_mig_set_state(r.c, VUS_MIG_STATE_STOP));
		ASSERT_OK(vus_client_mig_set_state(r.c, VUS_MIG_STATE_RUNNING));
		for (i = 0; i < N; i++) {
			assert_nvme_ok(nvme_drv_wait(r.d, 2, cids[i], NULL));
			assert_nvme_ok(nvme_drv_wait(r.d, 1, cids[N + i], NULL));
		}
		assert_memory_equal(rd.p, w.p, rd.size);
		for (i = 0; i < N; i++)
			assert_nvme_ok(nvme_drv_rw(r.d, 2, NVD_CMD_READ, 1,
						   (uint64_t)(N + i) * LEN / r.lba, LEN / r.lba,
						   rd.iova + (size_t)i * LEN, LEN, NVME_DRV_PRP));
		assert_memory_equal(rd.p, w.p, rd.size);
	}
	expect_uring(&r, true);
	nvme_rig_stop(&r);
	file_done(fd, path);
}

/*
 * DMA_UNMAP of the window that reads land in, with reads in flight (the
 * file's pages dropped from the cache first, so they wait for the disk).
 * The server unmaps the window once its unmap callback returns: a read
 * still in flight then would fail (EFAULT: an Unrecovered Read Error) or
 * write into whatever is mapped there next. Every read must complete
 * successfully, and the controller stay usable.
 */
static void test_unmap_in_flight(void **state)
{
	enum { N = 32, LEN = 131072, WIN = N * LEN };
	const uint64_t win_iova = 8ull << 30;
	struct nvme_rig_opts o = { 0 };
	struct nvme_drv_cmd cmd;
	struct nvme_rig r;
	struct nvme_emu_io_stats st0, st1;
	uint16_t cids[N];
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path)), i, round;
	struct buf b;
	void *host;

	(void)state;
	start_file(&r, &o, path);
	nvme_rig_io_queues(&r, 1, 64);
	b = buf_new(&r, LEN);
	nvme_rig_pattern(b.p, LEN, 950);
	for (i = 0; i < N; i++)
		assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, (uint64_t)i * LEN / r.lba,
					   LEN / r.lba, b.iova, LEN, NVME_DRV_PRP));
	ASSERT_OK(fdatasync(fd));
	for (round = 0; round < 4; round++) {
		ASSERT_OK(vus_client_dma_map(r.c, win_iova, WIN,
					     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, true,
					     &host));
		ASSERT_OK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
		nvme_emu_io_stats(r.emu, &st0);
		for (i = 0; i < N; i++) {
			ASSERT_OK(nvme_drv_rw_cmd(r.d, &cmd, NVD_CMD_READ, 1,
						  (uint64_t)i * LEN / r.lba, LEN / r.lba,
						  win_iova + (uint64_t)i * LEN, LEN, NVME_DRV_PRP));
			ASSERT_OK(nvme_drv_submit(r.d, 1, &cmd, &cids[i]));
		}
		ASSERT_OK(vus_client_dma_unmap(r.c, win_iova, WIN, 0));
		nvme_emu_io_stats(r.emu, &st1);
		fprintf(stderr, "round %d: of %d reads, %llu went to the ring, %llu were served "
			"from the page cache (readahead); the unmap waited for %llu\n", round, N,
			(unsigned long long)(st1.submitted - st0.submitted),
			(unsigned long long)(st1.inline_reads - st0.inline_reads),
			(unsigned long long)(st1.drained - st0.drained));
		for (i = 0; i < N; i++)
			assert_nvme_ok(nvme_drv_wait(r.d, 1, cids[i], NULL));
	}
	/* And the controller still works. */
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, LEN / r.lba, b.iova, LEN,
				   NVME_DRV_PRP));
	expect_uring(&r, true);
	nvme_rig_stop(&r);
	file_done(fd, path);
}

/*
 * A Read into a window the client mapped read-only: the controller has a
 * pointer into it (mapped read-only here too), the kernel's copy fails,
 * and the command completes with Data Transfer Error (not a media error),
 * cached (inline) and uncached (through the ring) alike; a Write from it
 * works.
 */
static void test_read_into_readonly_window(void **state)
{
	const uint64_t win_iova = 12ull << 30;
	struct nvme_rig_opts o = { 0 };
	struct nvme_rig r;
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path)), round;
	uint8_t smart[512];
	struct buf b;
	void *host;

	(void)state;
	start_file(&r, &o, path);
	nvme_rig_io_queues(&r, 1, 16);
	b = buf_new(&r, 65536);
	nvme_rig_pattern(b.p, 65536, 1001);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 0, 65536 / r.lba, b.iova, 65536,
				   NVME_DRV_PRP));
	ASSERT_OK(vus_client_dma_map(r.c, win_iova, 65536, VUS_DMA_MAP_FLAG_READ, true, &host));
	for (round = 0; round < 2; round++) {
		if (round == 1) {
			ASSERT_OK(fdatasync(fd));
			ASSERT_OK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
		}
		assert_nvme_status(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 0, 65536 / r.lba, win_iova,
					       65536, NVME_DRV_PRP),
				   0, 0x04);
	}
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 256, 65536 / r.lba, win_iova, 65536,
				   NVME_DRV_PRP));
	/* SMART Media and Data Integrity Errors (bytes 160..175): none. */
	assert_nvme_ok(nvme_drv_get_log(r.d, 0x02, 0xffffffff, smart, sizeof(smart)));
	for (int i = 160; i < 176; i++)
		ASSERT_EQ(smart[i], 0);
	ASSERT_OK(vus_client_dma_unmap(r.c, win_iova, 65536, 0));
	nvme_rig_stop(&r);
	file_done(fd, path);
}

/* O_DIRECT on a file system that has it: guest buffers at odd offsets
 * (PRP1 at 512 bytes into a page) are bounced, aligned ones go straight. */
static void test_odirect(void **state)
{
	struct nvme_rig_opts o = { .emu.odirect = true, .emu.lba_size = 4096 };
	struct nvme_emu_opts e;
	struct nvme_emu *n = NULL;
	struct nvme_rig r;
	struct buf w, rd;
	char path[128];
	int fd = file_new("/tmp", path, sizeof(path)), rc;

	(void)state;
	/* Probe: /tmp may be a tmpfs (no O_DIRECT there). */
	nvme_emu_opts_default(&e);
	e.file = path;
	e.size = FILE_SIZE;
	e.odirect = true;
	e.lba_size = 4096;
	rc = nvme_emu_create("probe", &e, &n);
	nvme_emu_free(n);
	if (rc == -EINVAL) {
		file_done(fd, path);
		VUS_SKIP("/tmp refuses O_DIRECT (tmpfs?): nothing to test here");
		return;
	}
	ASSERT_OK(rc);
	start_file(&r, &o, path);
	nvme_rig_io_queues(&r, 2, 64);
	w = buf_new(&r, 1u << 20);
	rd = buf_new(&r, 1u << 20);
	nvme_rig_pattern(w.p, w.size, 960);
	/* Aligned: straight into guest memory. */
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 0, 65536 / r.lba, w.iova, 65536,
				   NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_rw(r.d, 2, NVD_CMD_READ, 1, 0, 65536 / r.lba, rd.iova, 65536,
				   NVME_DRV_SGL));
	assert_memory_equal(rd.p, w.p, 65536);
	/* PRP1 at an offset of 512: bounced. */
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 100, 32768 / r.lba, w.iova + 512, 32768,
				   NVME_DRV_PRP));
	memset(rd.p, 0, 65536);
	assert_nvme_ok(nvme_drv_rw(r.d, 2, NVD_CMD_READ, 1, 100, 32768 / r.lba, rd.iova + 1024, 32768,
				   NVME_DRV_PRP));
	assert_memory_equal(rd.p + 1024, w.p + 512, 32768);
	expect_uring(&r, true);
	nvme_rig_stop(&r);
	file_done(fd, path);
}

/*
 * O_DIRECT on tmpfs: kernels before 6.6 have none there, and the
 * controller is then refused at creation (-EINVAL, a line on stderr says
 * why), never silently buffered; newer kernels have it, and it works.
 */
static void test_odirect_tmpfs(void **state)
{
	struct nvme_rig_opts o = { .emu.odirect = true };
	struct nvme_emu_opts e;
	struct nvme_emu *n = NULL;
	struct statfs sf;
	struct nvme_rig r;
	struct buf w, rd;
	char path[128];
	int fd, rc;

	(void)state;
	if (statfs("/dev/shm", &sf) < 0 || sf.f_type != TMPFS_MAGIC_) {
		VUS_SKIP("no tmpfs at /dev/shm to try O_DIRECT on");
		return;
	}
	fd = file_new("/dev/shm", path, sizeof(path));
	nvme_emu_opts_default(&e);
	e.file = path;
	e.size = 1u << 20;
	e.odirect = true;
	rc = nvme_emu_create("tmpfs", &e, &n);
	if (rc < 0) {
		ASSERT_ERR(rc, -EINVAL);
		assert_null(n);
		fprintf(stderr, "tmpfs: O_DIRECT refused at creation\n");
		/* Without O_DIRECT the same file is fine. */
		e.odirect = false;
		ASSERT_OK(nvme_emu_create("tmpfs", &e, &n));
		nvme_emu_free(n);
		file_done(fd, path);
		return;
	}
	nvme_emu_free(n);
	fprintf(stderr, "tmpfs: this kernel has O_DIRECT there; data checked through it\n");
	o.emu.file = path;
	o.emu.size = 1u << 20;
	nvme_rig_start(&r, &o);
	nvme_rig_io_queues(&r, 1, 16);
	w = buf_new(&r, 65536);
	rd = buf_new(&r, 65536);
	nvme_rig_pattern(w.p, w.size, 970);
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_WRITE, 1, 8, 32768 / r.lba, w.iova + 512, 32768,
				   NVME_DRV_PRP));
	assert_nvme_ok(nvme_drv_rw(r.d, 1, NVD_CMD_READ, 1, 8, 32768 / r.lba, rd.iova, 32768,
				   NVME_DRV_PRP));
	assert_memory_equal(rd.p, w.p + 512, 32768);
	nvme_rig_stop(&r);
	file_done(fd, path);
}

/*
 * io_uring_queue_init failing (here: a seccomp filter makes io_uring_setup
 * fail with ENOSYS, as an old kernel or a container's profile would): the
 * controller still comes up, on pread/pwrite, and says why in one line.
 * In a child process, so the filter stays there.
 */
static void test_fallback_when_unavailable(void **state)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { .len = sizeof(prog) / sizeof(prog[0]), .filter = prog };
	char path[128], out[4096] = { 0 };
	int fd = file_new("/tmp", path, sizeof(path)), pfd[2], status = 0;
	ssize_t got, len = 0;
	pid_t pid;

	(void)state;
	ASSERT_OK(pipe(pfd));
	pid = fork();
	ASSERT_NONNEG(pid);
	if (pid == 0) {
		struct nvme_emu_opts e;
		struct nvme_emu_io_stats st;
		struct nvme_emu *n = NULL;

		dup2(pfd[1], 2);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0)
			_exit(3);
		nvme_emu_opts_default(&e);
		e.file = path;
		e.size = 1u << 20;
		if (nvme_emu_create("nouring", &e, &n) < 0)
			_exit(4);
		nvme_emu_io_stats(n, &st);
		nvme_emu_free(n);
		_exit(st.uring ? 5 : 0);
	}
	close(pfd[1]);
	while ((got = read(pfd[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
		len += got;
	close(pfd[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child: status %#x (3 filter, 4 create, 5 io_uring still on); stderr: %s",
			 status, out);
	fprintf(stderr, "child said: %s", out);
	assert_non_null(strstr(out, "io_uring unavailable"));
	file_done(fd, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_queues_fd),
		cmocka_unit_test(test_many_queues_no_fd),
		cmocka_unit_test(test_many_queues_poll),
		cmocka_unit_test(test_sync_forced),
		cmocka_unit_test(test_fallback_when_unavailable),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_cc_reset_in_flight),
		cmocka_unit_test(test_device_reset_in_flight),
		cmocka_unit_test(test_device_reset_in_flight_no_fd),
		cmocka_unit_test(test_shutdown_in_flight),
		cmocka_unit_test(test_flr_in_flight),
		cmocka_unit_test(test_mig_stop_in_flight),
		cmocka_unit_test(test_unmap_in_flight),
		cmocka_unit_test(test_read_into_readonly_window),
		cmocka_unit_test(test_odirect),
		cmocka_unit_test(test_odirect_tmpfs),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
