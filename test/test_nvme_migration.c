/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu migrates like testdev (docs/nvme.md "Migration",
 * docs/migration.md "Stream format"): its record travels in the library's
 * framed stream. Two controllers served in this process, the userspace
 * NVMe driver (test/helpers/nvme_drv.h) on the first one; writes are
 * queued and the doorbell rung, and the controller is migrated while they
 * run; the driver then goes on with the destination (its transport
 * switched, as a VMM switches the device under a paused guest) and every
 * command completes there, the data read back byte for byte. Bad streams
 * (truncated, a flipped bit, another device type, another version) are
 * refused at RESUMING -> STOP and the source runs on.
 *
 * Guest memory is one memfd mapped into both controllers (as a VMM with
 * shared guest memory): the test is about the device's state, dirty
 * logging of guest memory has its own tests (test_migration.c,
 * test_migration_storm.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vus/client.h>
#include <vus/device.h>

#include "efd.h"
#include "mig_stream.h"
#include "nvme_drv.h"
#include "nvme_emu.h"
#include "testdev.h"
#include "vus_test.h"

#define ARENA      (16u << 20)
#define ARENA_IOVA (1ull << 30)
#define NS_BYTES   (8u << 20)
#define QDEPTH     64u
#define NCMD       48u          /* in flight when the migration starts */
#define XFER       (128u << 10) /* bytes per command */
#define CHUNK      (1u << 20)
#define NOFD_IOVA  (1ull << 40)
#define NOFD_SIZE  (64u << 10)

struct srv {
	struct nvme_emu *emu;
	struct vus_dev *dev;
	struct vus_client *c;
	pthread_t th;
};

/* The driver's transport: its client can be switched to another server. */
struct tr {
	struct vus_client *c;
	int memfd;
	void *mem;
};

struct fx {
	struct srv src, dst;
	struct tr *t;
	struct nvme_drv *d;
	uint32_t lba;
	uint8_t *stream;
	size_t len;
	uint8_t *nofd_src, *nofd_dst; /* the window without fd, each client's */
};

static void *serve(void *arg)
{
	vus_dev_run(arg);
	return NULL;
}

static char file_path[64]; /* non-empty: both controllers on this file (shared storage) */
static bool poller; /* the controllers' queues processed by a polling thread */
static bool worker; /* ... by the worker thread (a window without fd is mapped) */

static void srv_start(struct srv *s, const char *name)
{
	struct nvme_emu_opts o;
	int sv[2];

	nvme_emu_opts_default(&o);
	o.poll = poller;
	o.size = NS_BYTES;
	o.max_queues = 2;
	o.serial = "VUSMIG1";
	if (file_path[0]) {
		/* O_DIRECT: the writes wait for the disk, so they are still in
		 * flight when the source stops. */
		o.file = file_path;
		o.odirect = true;
	}
	ASSERT_OK(nvme_emu_create(name, &o, &s->emu));
	s->dev = nvme_emu_dev(s->emu);
	vus_dev_set_log_level(s->dev, VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(s->dev, sv[1]));
	ASSERT_OK(pthread_create(&s->th, NULL, serve, s->dev));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &s->c));
}

static void srv_stop(struct srv *s)
{
	vus_client_close(s->c);
	vus_dev_stop(s->dev);
	pthread_join(s->th, NULL);
	nvme_emu_free(s->emu);
}

/* ---- the switchable transport (nvme_drv.h "transport") ---------------- */

static int t_bar_read(void *ctx, uint32_t off, void *buf, size_t len)
{
	return vus_client_region_read(((struct tr *)ctx)->c, VUS_PCI_BAR0_REGION, off, buf, len);
}

static int t_bar_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
	return vus_client_region_write(((struct tr *)ctx)->c, VUS_PCI_BAR0_REGION, off, buf, len);
}

static int t_doorbell(void *ctx, uint32_t off, uint32_t val)
{
	return vus_client_region_write_posted(((struct tr *)ctx)->c, VUS_PCI_BAR0_REGION, off,
					      &val, 4);
}

static int t_cfg_read(void *ctx, uint32_t off, void *buf, size_t len)
{
	return vus_client_region_read(((struct tr *)ctx)->c, VUS_PCI_CONFIG_REGION, off, buf,
				      len);
}

static int t_cfg_write(void *ctx, uint32_t off, const void *buf, size_t len)
{
	return vus_client_region_write(((struct tr *)ctx)->c, VUS_PCI_CONFIG_REGION, off, buf,
				       len);
}

static int t_set_msix(void *ctx, uint32_t n, const int *efds)
{
	return vus_client_set_irqs(((struct tr *)ctx)->c, VUS_PCI_MSIX_IRQ,
				   VUS_IRQ_SET_DATA_EVENTFD | VUS_IRQ_SET_ACTION_TRIGGER, 0, n,
				   efds, NULL);
}

static int t_wait(void *ctx, const int *efds, unsigned n, int timeout_ms)
{
	struct pollfd p[9];
	unsigned i;
	uint64_t v;
	int r;

	for (i = 0; i < n && i < 8; i++)
		p[i] = (struct pollfd){ .fd = efds[i], .events = POLLIN };
	p[i] = (struct pollfd){ .fd = vus_client_fd(((struct tr *)ctx)->c), .events = POLLIN };
	r = poll(p, i + 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	for (n = 0; n < i; n++)
		if (p[n].revents & POLLIN)
			(void)!read(p[n].fd, &v, sizeof(v));
	/* The controller's DMA messages (guest memory without fd). */
	return vus_client_process(((struct tr *)ctx)->c, 0);
}

static void t_destroy(void *ctx)
{
	struct tr *t = ctx;

	munmap(t->mem, ARENA);
	close(t->memfd);
	free(t);
}

static const struct nvme_drv_transport_ops tr_ops = {
	.bar_read = t_bar_read, .bar_write = t_bar_write, .doorbell = t_doorbell,
	.cfg_read = t_cfg_read, .cfg_write = t_cfg_write, .set_msix = t_set_msix,
	.wait = t_wait, .destroy = t_destroy,
};

/* DMA_MAP of the arena's memfd into a server (the client library maps
 * memory it allocates itself; a VMM maps the guest's). */
static void map_arena(struct vus_client *c, int memfd)
{
	struct vus_dma_map m = { .argsz = sizeof(m),
				 .flags = VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE,
				 .offset = 0, .addr = ARENA_IOVA, .size = ARENA };
	struct vus_hdr rh;

	ASSERT_OK(vus_client_raw(c, VUS_CMD_DMA_MAP, 0, &m, sizeof(m), &memfd, 1, &rh, NULL, 0,
				 NULL));
	ASSERT_EQ(rh.flags & VUS_F_ERROR, 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct nvme_drv_opts o = { .irq = true };
	struct nvme_drv_transport tr;
	uint16_t sq = 0, cq = 0;
	uint8_t *id;

	assert_non_null(f);
	srv_start(&f->src, "nvme-src");
	srv_start(&f->dst, "nvme-dst");
	f->t = calloc(1, sizeof(*f->t));
	assert_non_null(f->t);
	f->t->c = f->src.c;
	f->t->memfd = memfd_new(ARENA);
	f->t->mem = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_SHARED, f->t->memfd, 0);
	assert_true(f->t->mem != MAP_FAILED);
	map_arena(f->src.c, f->t->memfd);
	if (worker) {
		void *h;

		/* One window without fd: the controller then runs every
		 * command on its worker thread (docs/nvme.md "Threads"). */
		ASSERT_OK(vus_client_dma_map(f->src.c, NOFD_IOVA, NOFD_SIZE,
					     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
					     &h));
		f->nofd_src = h;
		ASSERT_OK(vus_client_dma_map(f->dst.c, NOFD_IOVA, NOFD_SIZE,
					     VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE, false,
					     &h));
		f->nofd_dst = h;
	}
	tr = (struct nvme_drv_transport){ .ops = &tr_ops, .ctx = f->t, .mem = f->t->mem,
					  .mem_iova = ARENA_IOVA, .mem_size = ARENA,
					  .serve_dma = worker };
	ASSERT_OK(nvme_drv_open(&tr, &o, &f->d));
	ASSERT_OK(nvme_drv_set_num_queues(f->d, 1, 1, &sq, &cq));
	ASSERT_OK(nvme_drv_create_qpair(f->d, 1, QDEPTH));
	id = malloc(NVD_PAGE);
	assert_non_null(id);
	ASSERT_OK(nvme_drv_identify(f->d, 0, 1, id));
	f->lba = 1u << ((nvd_le32(id, NVD_IDN_LBAF0 + 4 * (id[NVD_IDN_FLBAS] & 0xf)) >> 16) &
			0xff);
	free(id);
	*state = f;
	return 0;
}

/* The poller fetches commands on its own thread: they are in flight,
 * in the middle of their data transfers, when the source stops. */
static int setup_poller(void **state)
{
	poller = true;
	return setup(state);
}

static int setup_worker(void **state)
{
	worker = true;
	return setup(state);
}

/* A file namespace (io_uring, docs/nvme.md section 7b): the writes are in
 * flight in the backend when the source stops; their SQEs travel in the
 * record and the destination runs them again. */
static int setup_file(void **state)
{
	int fd;

	snprintf(file_path, sizeof(file_path), "/tmp/vus-nvme-mig-XXXXXX");
	fd = mkstemp(file_path);
	if (fd < 0)
		return -1;
	close(fd);
	return setup(state);
}

/* The same with a window without fd: the worker runs the commands with
 * bounce buffers, STOP does not wait for it, and what is in flight then
 * travels as SQEs that the destination runs again. */
static int setup_file_worker(void **state)
{
	worker = true;
	return setup_file(state);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nvme_drv_close(f->d); /* destroys the transport */
	/* After a migration the source runs again when its client leaves
	 * (the library's disconnect), with its guest memory gone: it may log
	 * a fatal controller status reading an SQ nobody serves any more. */
	srv_stop(&f->src);
	srv_stop(&f->dst);
	free(f->stream);
	free(f);
	poller = worker = false;
	if (file_path[0])
		unlink(file_path);
	file_path[0] = 0;
	return 0;
}

/* Fill len bytes from seed (xorshift), so every block's data differs. */
static void pattern(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* Queue NCMD writes of XFER bytes each (block range k) and ring once. */
static void queue_writes(struct fx *f, uint8_t **bufs, uint64_t *iovas, uint16_t *cids,
			 uint32_t seed)
{
	struct nvme_drv_cmd cmd;
	unsigned k;

	for (k = 0; k < NCMD; k++) {
		bufs[k] = nvme_drv_alloc(f->d, XFER, &iovas[k]);
		assert_non_null(bufs[k]);
		pattern(bufs[k], XFER, seed + k);
		ASSERT_OK(nvme_drv_rw_cmd(f->d, &cmd, NVD_CMD_WRITE, 1, (uint64_t)k * XFER / f->lba,
					  XFER / f->lba, iovas[k], XFER, NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_queue(f->d, 1, &cmd, &cids[k]));
	}
	ASSERT_OK(nvme_drv_sq_ring(f->d, 1));
}

/* Every block range k reads back as written with seed. */
static void verify(struct fx *f, uint32_t seed)
{
	uint8_t *buf, *want = malloc(XFER);
	uint64_t iova;
	unsigned k;

	assert_non_null(want);
	buf = nvme_drv_alloc(f->d, XFER, &iova);
	assert_non_null(buf);
	for (k = 0; k < NCMD; k++) {
		memset(buf, 0, XFER);
		assert_int_equal(nvme_drv_rw(f->d, 1, NVD_CMD_READ, 1, (uint64_t)k * XFER / f->lba,
					     XFER / f->lba, iova, XFER, NVME_DRV_PRP), 0);
		pattern(want, XFER, seed + k);
		assert_memory_equal(buf, want, XFER);
	}
	nvme_drv_free(f->d, buf, XFER);
	free(want);
}

/* Source to STOP_COPY (RUNNING -> STOP -> STOP_COPY: no PRE_COPY), all of
 * its stream into f->stream. */
static void save(struct fx *f)
{
	uint32_t got;

	ASSERT_OK(vus_client_mig_set_state(f->src.c, VUS_MIG_STATE_STOP_COPY));
	f->len = 0;
	do {
		f->stream = realloc(f->stream, f->len + CHUNK);
		assert_non_null(f->stream);
		ASSERT_OK(vus_client_mig_data_read(f->src.c, f->stream + f->len, CHUNK, &got));
		f->len += got;
	} while (got == CHUNK);
}

/* RESUMING, the bytes, RESUMING -> STOP: its result. */
static int load(struct fx *f, const uint8_t *s, size_t len)
{
	size_t off;
	int rc;

	ASSERT_OK(vus_client_mig_set_state(f->dst.c, VUS_MIG_STATE_RESUMING));
	for (off = 0; off < len; off += CHUNK) {
		rc = vus_client_mig_data_write(f->dst.c, s + off,
					       len - off < CHUNK ? len - off : CHUNK);
		if (rc < 0) {
			ASSERT_ERR(rc, -EINVAL);
			break;
		}
	}
	return vus_client_mig_set_state(f->dst.c, VUS_MIG_STATE_STOP);
}

/* The VMM's half on the destination: guest memory, interrupts, config. */
static void switch_to_dst(struct fx *f)
{
	int efds[32];
	unsigned i, n = nvme_drv_nvec(f->d);

	assert_true(n <= 32);
	map_arena(f->dst.c, f->t->memfd);
	for (i = 0; i < n; i++)
		efds[i] = nvme_drv_vector_efd(f->d, i);
	f->t->c = f->dst.c;
	ASSERT_OK(t_set_msix(f->t, n, efds));
	ASSERT_OK(nvme_drv_pci_restore(f->d));
}

static void test_migrate_mid_io(void **state)
{
	struct fx *f = *state;
	uint8_t *bufs[NCMD];
	uint64_t iovas[NCMD];
	uint16_t cids[NCMD];
	struct nvd_cqe cqe;
	unsigned k;

	/* Some state written before: it must be there afterwards. */
	queue_writes(f, bufs, iovas, cids, 100);
	for (k = 0; k < NCMD; k++) {
		assert_int_equal(nvme_drv_wait(f->d, 1, cids[k], &cqe), 0);
		nvme_drv_free(f->d, bufs[k], XFER);
	}
	/* Then writes in flight when the source stops (the poller: after a
	 * moment, so that some ran and some did not). */
	queue_writes(f, bufs, iovas, cids, 7);
	if (poller || worker) {
		/* Stop as soon as the first completions show: the poller is
		 * in the middle of the batch. */
		for (k = 0; k < 1000000 && nvme_drv_inflight(f->d, 1) == NCMD; k++)
			(void)nvme_drv_poll(f->d, 1);
	}
	save(f);
	/* A framed stream: the library's header first (and a RAM
	 * namespace's contents; a file is shared storage). */
	assert_true(f->len > VUS_MIG_STREAM_HDR + (file_path[0] ? 0 : NS_BYTES));
	ASSERT_EQ(f->stream[0] | f->stream[1] << 8 | f->stream[2] << 16 |
		  (uint32_t)f->stream[3] << 24, VUS_MIG_STREAM_MAGIC);
	ASSERT_OK(load(f, f->stream, f->len));
	switch_to_dst(f);
	ASSERT_OK(vus_client_mig_set_state(f->dst.c, VUS_MIG_STATE_RUNNING));
	/* Every command completes on the destination, once. */
	for (k = 0; k < NCMD; k++) {
		assert_int_equal(nvme_drv_wait(f->d, 1, cids[k], &cqe), 0);
		nvme_drv_free(f->d, bufs[k], XFER);
	}
	ASSERT_EQ(nvme_drv_inflight(f->d, 1), 0);
	{
		struct nvme_emu_qstats qs[4];
		int i, n = nvme_emu_queue_stats(f->src.emu, qs, 4);

		for (i = 0; i < n; i++)
			if (qs[i].qid == 1)
				printf("nvme migration%s: %llu of %u commands ran on the source\n",
				       file_path[0] ? (worker ? " (file, io_uring, worker)" :
						       " (file, io_uring)") :
				       poller ? " (poller)" : worker ? " (worker)" : "",
				       (unsigned long long)qs[i].cmds - NCMD, NCMD);
		/* Those in flight in the source's backend ran again here. */
		while ((n = nvme_emu_queue_stats(f->dst.emu, qs, 4)) == -EAGAIN)
			sched_yield();
		for (i = 0; i < n && file_path[0]; i++)
			if (qs[i].qid == 1)
				printf("nvme migration (file, io_uring%s): %llu commands in flight in "
				       "the source's backend ran again on the destination\n",
				       worker ? ", worker" : "", (unsigned long long)qs[i].cmds);
	}
	verify(f, 7);
}

/*
 * Writes whose data is in guest memory without fd: the worker executes
 * them with DMA_READ messages, and the source is stopped while it waits
 * for the client's answer (the client reads its socket only inside the
 * STOP_COPY request).
 */
static void test_migrate_message_dma_in_flight(void **state)
{
	struct fx *f = *state;
	struct nvme_drv_cmd cmd;
	uint16_t cids[8];
	struct nvd_cqe cqe;
	uint8_t *buf;
	uint64_t iova;
	unsigned k;
	int rc;

	for (k = 0; k < 8; k++) {
		pattern(f->nofd_src + k * 4096, 4096, 900 + k);
		/* The VMM's copy of guest memory: the same bytes there. */
		memcpy(f->nofd_dst + k * 4096, f->nofd_src + k * 4096, 4096);
		ASSERT_OK(nvme_drv_rw_cmd(f->d, &cmd, NVD_CMD_WRITE, 1, (uint64_t)k * 4096 / f->lba,
					  4096 / f->lba, NOFD_IOVA + k * 4096, 4096, NVME_DRV_PRP));
		ASSERT_OK(nvme_drv_queue(f->d, 1, &cmd, &cids[k]));
	}
	ASSERT_OK(nvme_drv_sq_ring(f->d, 1));
	usleep(20 * 1000);
	rc = vus_client_mig_set_state(f->src.c, VUS_MIG_STATE_STOP_COPY);
	if (rc == -EBUSY) {
		enum vus_mig_state st;
		uint32_t csts = 0;

		/* docs/nvme.md "Migration": the command waits for a DMA
		 * message that only the loop thread could carry, and the loop
		 * thread is in the controller's STOP callback: after 200 ms the
		 * arc fails. Refused loudly, nothing lost behind the driver's
		 * back: the source is in ERROR, its controller not failed, and
		 * a reset brings it back. */
		printf("nvme migration (message DMA in flight): refused with EBUSY, the "
		       "documented limitation\n");
		ASSERT_OK(vus_client_mig_get_state(f->src.c, &st));
		ASSERT_EQ(st, VUS_MIG_STATE_ERROR);
		ASSERT_OK(nvme_drv_reg32(f->d, NVD_REG_CSTS, &csts));
		ASSERT_EQ(csts & NVD_CSTS_CFS, 0);
		ASSERT_OK(vus_client_reset(f->src.c));
		ASSERT_OK(vus_client_mig_get_state(f->src.c, &st));
		ASSERT_EQ(st, VUS_MIG_STATE_RUNNING);
		return;
	}
	printf("nvme migration (message DMA in flight): migrated\n");
	ASSERT_OK(rc);
	f->len = 0;
	{
		uint32_t got;

		do {
			f->stream = realloc(f->stream, f->len + CHUNK);
			assert_non_null(f->stream);
			ASSERT_OK(vus_client_mig_data_read(f->src.c, f->stream + f->len, CHUNK,
							   &got));
			f->len += got;
		} while (got == CHUNK);
	}
	ASSERT_OK(load(f, f->stream, f->len));
	switch_to_dst(f);
	ASSERT_OK(vus_client_mig_set_state(f->dst.c, VUS_MIG_STATE_RUNNING));
	for (k = 0; k < 8; k++)
		assert_int_equal(nvme_drv_wait(f->d, 1, cids[k], &cqe), 0);
	buf = nvme_drv_alloc(f->d, 4096, &iova);
	assert_non_null(buf);
	for (k = 0; k < 8; k++) {
		assert_int_equal(nvme_drv_rw(f->d, 1, NVD_CMD_READ, 1, (uint64_t)k * 4096 / f->lba,
					     4096 / f->lba, iova, 4096, NVME_DRV_PRP), 0);
		assert_memory_equal(buf, f->nofd_src + k * 4096, 4096);
	}
	nvme_drv_free(f->d, buf, 4096);
}

/* A refused stream leaves the destination in ERROR until reset, and the
 * source runs on: the driver's writes and reads work there. */
static void check_refused(struct fx *f, int rc)
{
	enum vus_mig_state s;
	uint8_t *bufs[NCMD];
	uint64_t iovas[NCMD];
	uint16_t cids[NCMD];
	unsigned k;

	ASSERT_ERR(rc, -EINVAL);
	ASSERT_OK(vus_client_mig_get_state(f->dst.c, &s));
	ASSERT_EQ(s, VUS_MIG_STATE_ERROR);
	ASSERT_OK(vus_client_reset(f->dst.c));
	ASSERT_OK(vus_client_mig_set_state(f->src.c, VUS_MIG_STATE_RUNNING));
	queue_writes(f, bufs, iovas, cids, 55);
	for (k = 0; k < NCMD; k++) {
		assert_int_equal(nvme_drv_wait(f->d, 1, cids[k], NULL), 0);
		nvme_drv_free(f->d, bufs[k], XFER);
	}
	verify(f, 55);
}

static void header_reseal(uint8_t *s)
{
	uint32_t crc = vus_crc32c(0, s, 28);

	memcpy(s + 28, &crc, 4);
}

static void saved(struct fx *f)
{
	uint8_t *bufs[NCMD];
	uint64_t iovas[NCMD];
	uint16_t cids[NCMD];
	unsigned k;

	queue_writes(f, bufs, iovas, cids, 3);
	for (k = 0; k < NCMD; k++) {
		assert_int_equal(nvme_drv_wait(f->d, 1, cids[k], NULL), 0);
		nvme_drv_free(f->d, bufs[k], XFER);
	}
	save(f);
}

static void test_truncated_refused(void **state)
{
	struct fx *f = *state;

	saved(f);
	check_refused(f, load(f, f->stream, f->len - 100));
}

static void test_flipped_bit_refused(void **state)
{
	struct fx *f = *state;

	saved(f);
	f->stream[f->len / 3] ^= 0x04;
	check_refused(f, load(f, f->stream, f->len));
}

static void test_other_type_refused(void **state)
{
	struct fx *f = *state;

	saved(f);
	f->stream[10] ^= 0x01; /* PCI device id */
	header_reseal(f->stream);
	check_refused(f, load(f, f->stream, f->len));
}

static void test_other_version_refused(void **state)
{
	struct fx *f = *state;

	saved(f);
	f->stream[4] = VUS_MIG_STREAM_VERSION + 1;
	header_reseal(f->stream);
	check_refused(f, load(f, f->stream, f->len));
}

/* A testdev's stream into the nvme controller: another device type. */
static void test_testdev_stream_refused(void **state)
{
	struct fx *f = *state;
	struct testdev *td;
	struct vus_client *c;
	pthread_t th;
	uint32_t got;
	int sv[2];

	ASSERT_OK(testdev_create("td", &td));
	vus_dev_set_log_level(testdev_dev(td), VUS_LOG_ERR);
	ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_OK(vus_dev_attach_fd(testdev_dev(td), sv[1]));
	ASSERT_OK(pthread_create(&th, NULL, serve, testdev_dev(td)));
	ASSERT_OK(vus_client_connect_fd(sv[0], NULL, &c));
	ASSERT_OK(vus_client_mig_set_state(c, VUS_MIG_STATE_STOP_COPY));
	f->len = 0;
	do {
		f->stream = realloc(f->stream, f->len + CHUNK);
		assert_non_null(f->stream);
		ASSERT_OK(vus_client_mig_data_read(c, f->stream + f->len, CHUNK, &got));
		f->len += got;
	} while (got == CHUNK);
	vus_client_close(c);
	vus_dev_stop(testdev_dev(td));
	pthread_join(th, NULL);
	testdev_free(td);
	/* The source was never stopped here: check_refused resumes it anyway. */
	ASSERT_OK(vus_client_mig_set_state(f->src.c, VUS_MIG_STATE_STOP));
	check_refused(f, load(f, f->stream, f->len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_mid_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_mid_io, setup_poller, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_mid_io, setup_worker, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_mid_io, setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_mid_io, setup_file_worker, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_message_dma_in_flight, setup_worker,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_bit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_type_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_testdev_stream_refused, setup, teardown),
	};

	return VUS_RUN_TESTS(tests, NULL, NULL);
}
