/* SPDX-License-Identifier: BSD-3-Clause */
/* nvme-emu on a thread, a client and nvme_drv (nvme_rig.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nvme_rig.h"

static void *server_main(void *arg)
{
	struct nvme_rig *r = arg;

	vus_dev_run(r->dev);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct vus_client *rig_connect(const char *path)
{
	int64_t deadline = mono_ms() + 2000;
	struct timespec pause = { 0, 5 * 1000000L };
	struct vus_client *c = NULL;
	int r;

	for (;;) {
		r = vus_client_connect(path, NULL, &c);
		if (r == 0 || (r != -ECONNRESET && r != -EPIPE && r != -ETIMEDOUT) ||
		    mono_ms() >= deadline)
			break;
		nanosleep(&pause, NULL);
	}
	ASSERT_OK(r);
	return c;
}

void nvme_rig_start(struct nvme_rig *r, const struct nvme_rig_opts *opts)
{
	static const struct nvme_rig_opts none;
	struct nvme_drv_client_opts co = { 0 };
	struct nvme_drv_opts dopts = { 0 };
	struct nvme_drv_transport tr;
	uint8_t *id;
	uint32_t lbaf;

	if (!opts)
		opts = &none;
	memset(r, 0, sizeof(*r));
	nvme_emu_opts_default(&r->emu_opts);
	if (opts->emu.size)
		r->emu_opts.size = opts->emu.size;
	if (opts->emu.lba_size)
		r->emu_opts.lba_size = opts->emu.lba_size;
	if (opts->emu.max_queues)
		r->emu_opts.max_queues = opts->emu.max_queues;
	if (opts->emu.max_qsize)
		r->emu_opts.max_qsize = opts->emu.max_qsize;
	if (opts->emu.mdts)
		r->emu_opts.mdts = opts->emu.mdts;
	if (opts->emu.file)
		r->emu_opts.file = opts->emu.file;
	r->emu_opts.serial = opts->emu.serial ? opts->emu.serial : NVME_RIG_SERIAL;
	r->emu_opts.no_shadow = opts->emu.no_shadow;
	r->emu_opts.poll = opts->emu.poll;
	r->emu_opts.holdoff_us = opts->emu.holdoff_us;
	r->emu_opts.no_holdoff = opts->emu.no_holdoff;
	r->emu_opts.odirect = opts->emu.odirect;
	r->emu_opts.sync_io = opts->emu.sync_io;
	snprintf(r->dir, sizeof(r->dir), "/tmp/vus-nvme-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/sock", r->dir);
	ASSERT_OK(nvme_emu_create("nvme", &r->emu_opts, &r->emu));
	r->dev = nvme_emu_dev(r->emu);
	vus_dev_set_log_level(r->dev, VUS_LOG_ERR);
	if (opts->close_fds)
		ASSERT_OK(vus_dev_set_dma_close_fds(r->dev, true));
	ASSERT_OK(vus_dev_listen(r->dev, r->path));
	ASSERT_OK(pthread_create(&r->thread, NULL, server_main, r));
	r->running = true;

	r->c = rig_connect(r->path);
	co.no_fd = opts->no_fd;
	co.mem_size = opts->mem_size;
	ASSERT_OK(nvme_drv_client_transport(r->c, &co, &tr));
	dopts.irq = !opts->no_irq;
	ASSERT_OK(nvme_drv_open(&tr, &dopts, &r->d));

	id = malloc(NVD_PAGE);
	assert_non_null(id);
	ASSERT_OK(nvme_drv_identify(r->d, 0, 1, id));
	r->nsze = nvd_le64(id, NVD_IDN_NSZE);
	lbaf = nvd_le32(id, NVD_IDN_LBAF0 + 4 * (id[NVD_IDN_FLBAS] & 0xf));
	r->lba = 1u << ((lbaf >> 16) & 0xff);
	free(id);
}

void nvme_rig_stop(struct nvme_rig *r)
{
	nvme_drv_close(r->d);
	r->d = NULL;
	if (r->c)
		vus_client_close(r->c);
	r->c = NULL;
	if (!r->running)
		return;
	vus_dev_stop(r->dev);
	pthread_join(r->thread, NULL);
	r->running = false;
	nvme_emu_free(r->emu); /* unlinks the socket vus_dev_listen() made */
	r->emu = NULL;
	r->dev = NULL;
	rmdir(r->dir);
}

void nvme_rig_io_queues(struct nvme_rig *r, uint16_t n, uint16_t depth)
{
	uint16_t sq = 0, cq = 0, q;

	ASSERT_OK(nvme_drv_set_num_queues(r->d, n, n, &sq, &cq));
	assert_true(sq >= n && cq >= n);
	for (q = 1; q <= n; q++)
		ASSERT_OK(nvme_drv_create_qpair(r->d, q, depth));
}

void nvme_rig_pattern(void *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1, *w = buf;
	size_t i;

	for (i = 0; i < len / 4; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		w[i] = x;
	}
	for (i = len / 4 * 4; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(x >> (8 * (i % 4)));
}

bool nvme_rig_known(int got, int sct, int sc, const char *issue, const char *what)
{
	if (got >= 0 && NVD_STATUS_CODE(got) == NVD_STATUS(sct, sc))
		return false;
	print_message("KNOWN ISSUE %s: %s: expected SCT %d SC 0x%02x, got %s %d (SCT %d SC 0x%02x)\n",
		      issue, what, sct, sc, got < 0 ? "errno" : "status", got < 0 ? -got : got,
		      got < 0 ? -1 : (int)NVD_SCT(got), got < 0 ? 0 : (int)NVD_SC(got));
	return true;
}

void nvme_rig_skip_known(struct nvme_rig *r, bool known)
{
	if (!known)
		return;
	nvme_rig_stop(r);
	VUS_SKIP("a known controller issue (KNOWN ISSUE lines above; docs/nvme-testing.md)");
}
