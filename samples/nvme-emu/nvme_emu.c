/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvme-emu: creation, PCI identity and capabilities, DMA-map and reset
 * callbacks (docs/nvme.md section 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme_priv.h"

/* Warnings go to stderr (device.h has no logger for devices), at most
 * 10 a second: a guest can cause them at will. */
void nvme_log(struct nvme_emu *n, enum vus_log_level lvl, const char *fmt, ...)
{
	struct timespec ts;
	char msg[256];
	va_list ap;

	if (lvl > VUS_LOG_WARN)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&n->log_lock);
	if (ts.tv_sec != n->log_sec) {
		n->log_sec = ts.tv_sec;
		n->log_count = 0;
	}
	if (++n->log_count > 10) {
		pthread_mutex_unlock(&n->log_lock);
		return;
	}
	pthread_mutex_unlock(&n->log_lock);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "nvme-emu %s: %s\n", n->name, msg);
}

void nvme_emu_opts_default(struct nvme_emu_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->size = 64ull << 20;
	o->lba_size = 512;
	o->max_queues = 4;
	o->max_qsize = 1024;
	o->mdts = 8;
}

/* FNV-1a: stable per-device identifiers (NGUID, DSN) from name and serial. */
static uint64_t fnv1a(const char *a, const char *b)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *s;

	for (s = a; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (s = b; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static bool printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= max || s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static int check_opts(const struct nvme_emu_opts *o)
{
	if (o->lba_size != 512 && o->lba_size != 4096)
		return -EINVAL;
	if (o->max_queues < 1 || o->max_queues > NVME_EMU_MAX_QUEUES)
		return -EINVAL;
	if (o->max_qsize && (o->max_qsize < 2 || o->max_qsize > 65536))
		return -EINVAL;
	if (o->mdts && o->mdts > 10)
		return -EINVAL;
	if (o->holdoff_us > 10000)
		return -EINVAL;
	if (o->serial && !printable(o->serial, 20))
		return -EINVAL;
	if (o->model && !printable(o->model, 40))
		return -EINVAL;
	if (!o->file && o->size < o->lba_size)
		return -EINVAL;
	if (o->namespaces > NVME_EMU_MAX_NS || (o->file && o->namespaces > 1))
		return -EINVAL;
	return 0;
}

/* ---- callbacks from the library -------------------------------------- */

/* Guest memory without an fd can only be reached by DMA messages, which
 * the loop thread must answer: queue work moves to the worker. "Mapped"
 * is vaddr, not fd: vusd closes each window's fd once it is mapped
 * (vus_dev_set_dma_close_fds(), docs/security.md), so fd is -1 there.
 * Read-only windows without fd (QEMU's ROMs, mapped so even when guest
 * RAM has fds) do not move it: a device only reads them, a command that
 * does is handed to the worker (nvme_queue.c execute), and every other
 * command stays inline. */
static int nvme_dma_map(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r)
{
	struct nvme_emu *n = opaque;
	int rc;

	if (r->vaddr)
		return 0;
	/* From now on the processor may run on the worker, which never
	 * uses guest pointers: backend requests holding some finish first
	 * (only the loop thread's processor made them, so proc_lock is
	 * never held across a DMA message here). */
	if (nvme_uring_zc_busy(n)) {
		pthread_mutex_lock(&n->proc_lock);
		nvme_uring_drain(n, NVME_DRAIN_WAIT);
		pthread_mutex_unlock(&n->proc_lock);
	}
	rc = nvme_worker_start(n);
	if (rc < 0)
		return rc;
	atomic_fetch_add(&n->nofd_maps, 1);
	if (r->prot & VUS_DMA_MAP_FLAG_WRITE)
		atomic_fetch_add(&n->nofd_rw_maps, 1);
	return 0;
}

static void nvme_dma_unmap(struct vus_dev *dev, void *opaque, const struct vus_dma_region *r)
{
	struct nvme_emu *n = opaque;

	/* The only guest pointers kept past a pass are those of backend
	 * requests in flight (nvme_uring.c): the window must not be written
	 * once this returns, so they finish first; their completions are
	 * posted by the next pass (the ring's eventfd asks for it). Such
	 * requests exist only while every window has an fd, so the
	 * processor runs inline and never holds proc_lock waiting for this
	 * thread. */
	if (nvme_uring_zc_busy(n)) {
		pthread_mutex_lock(&n->proc_lock);
		nvme_uring_drain(n, NVME_DRAIN_WAIT);
		pthread_mutex_unlock(&n->proc_lock);
	}
	if (!r->vaddr) {
		atomic_fetch_sub(&n->nofd_maps, 1);
		if (r->prot & VUS_DMA_MAP_FLAG_WRITE)
			atomic_fetch_sub(&n->nofd_rw_maps, 1);
	}
}

static const struct vus_dma_ops nvme_dma_ops = {
	.map = nvme_dma_map,
	.unmap = nvme_dma_unmap,
};

/*
 * DEVICE_RESET and FLR reset the whole function: registers to power-on
 * values; the processor then drops every queue. A command the worker is
 * executing finishes against the old generation and is not completed
 * (its queues are gone, NVMe 1.4 7.3.2). A lost connection keeps all
 * state (vfio-user "Socket Disconnection Behavior"); DMA in flight fails
 * and those commands complete with Data Transfer Error, if at all.
 */
static int nvme_reset_cb(struct vus_dev *dev, void *opaque, enum vus_reset_reason reason)
{
	struct nvme_emu *n = opaque;

	if (reason == VUS_RESET_LOST_CONN)
		return 0;
	/* The library puts migration back to RUNNING. */
	nvme_mig_clear(n);
	pthread_mutex_lock(&n->regs_lock);
	nvme_regs_power_on(n);
	n->reset_pending = true;
	n->smart.power_cycles++;
	/* DEVICE_RESET puts migration back to RUNNING (the library does). */
	atomic_store(&n->mig_stopped, false);
	atomic_store(&n->ctrl_change, true);
	pthread_mutex_unlock(&n->regs_lock);
	nvme_kick(n);
	return 0;
}

/* ---- PCI ----------------------------------------------------------- */

static int nvme_pci_setup(struct nvme_emu *n)
{
	static const struct vus_pci_id id = {
		.vendor = NVME_EMU_VENDOR,
		.device = NVME_EMU_DEVICE,
		.subsys_vendor = NVME_EMU_VENDOR,
		.subsys = NVME_EMU_DEVICE,
		.class_code = NVME_EMU_CLASS,
		.revision = 1,
	};
	static const struct vus_msix_layout msix = {
		.table_bar = 0, .table_offset = NVME_MSIX_TABLE,
		.pba_bar = 0, .pba_offset = NVME_MSIX_PBA,
	};
	static const struct vus_pcie_cfg pcie = {
		.type = VUS_PCIE_ENDPOINT, .max_payload = 1, .link_speed = 3,
		.link_width = 4, .flr = true,
	};
	struct vus_dev *dev = n->dev;
	int rc;

	/* BAR0 has callbacks only: with no mmap-able region anywhere QEMU
	 * posts BAR writes, so a doorbell costs the guest one posted message
	 * instead of a round trip (docs/nvme.md "Doorbells"). */
	if ((rc = vus_dev_set_pci_id(dev, &id)) < 0 ||
	    (rc = vus_dev_set_config_size(dev, 4096)) < 0 ||
	    (rc = vus_dev_set_intx_pin(dev, 1)) < 0 ||
	    (rc = vus_dev_setup_irq(dev, VUS_PCI_INTX_IRQ, 1)) < 0 ||
	    (rc = vus_dev_setup_region(dev, 0, NVME_BAR0_SIZE,
				       VUS_REGION_RW | VUS_REGION_BAR_MEM64, &nvme_bar0_ops,
				       n)) < 0 ||
	    (rc = vus_dev_add_cap_pm(dev, VUS_CAP_OFFSET_AUTO, 0)) < 0 ||
	    (rc = vus_dev_add_cap_msi(dev, VUS_CAP_OFFSET_AUTO, 1, VUS_MSI_64BIT)) < 0 ||
	    (rc = vus_dev_add_cap_pcie(dev, VUS_CAP_OFFSET_AUTO, &pcie)) < 0 ||
	    (rc = vus_dev_add_cap_msix(dev, VUS_CAP_OFFSET_AUTO, n->nvec, &msix)) < 0 ||
	    (rc = vus_dev_add_ext_cap_dsn(dev, VUS_CAP_OFFSET_AUTO,
					  fnv1a(n->name, n->serial))) < 0 ||
	    (rc = vus_dev_set_reset(dev, nvme_reset_cb, n)) < 0 ||
	    (rc = vus_dev_set_dma_ops(dev, &nvme_dma_ops, n)) < 0 ||
	    (rc = nvme_mig_setup(n)) < 0)
		return rc;
	return 0;
}

/* ---- life cycle ----------------------------------------------------- */

int nvme_emu_create(const char *name, const struct nvme_emu_opts *o, struct nvme_emu **out)
{
	struct nvme_emu *n;
	struct timespec ts;
	uint32_t i;
	uint64_t h;
	int rc;

	rc = check_opts(o);
	if (rc < 0)
		return rc;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->regs_lock, NULL);
	pthread_mutex_init(&n->log_lock, NULL);
	pthread_mutex_init(&n->proc_lock, NULL);
	pthread_cond_init(&n->worker_cv, NULL);
	for (i = 0; i < NVME_EMU_MAX_NS; i++)
		n->ns[i].fd = -1;
	n->nn = o->namespaces ? o->namespaces : 1;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (o->serial && *o->serial)
		snprintf(n->serial, sizeof(n->serial), "%s", o->serial);
	else
		snprintf(n->serial, sizeof(n->serial), "VUS%.17s", name);
	snprintf(n->model, sizeof(n->model), "%s", o->model && *o->model ? o->model :
		 "vus nvme-emu");
	n->max_queues = o->max_queues;
	n->max_qsize = o->max_qsize ? o->max_qsize : 1024;
	n->mdts = o->mdts ? o->mdts : 8;
	n->nvec = n->max_queues + 1;
	n->shadow = !o->no_shadow;
	n->poll = o->poll;
	n->holdoff_ns = o->no_holdoff ? 0 : 1000ull * (o->holdoff_us ? o->holdoff_us : 500);
	n->bounce_len = (uint64_t)NVME_PAGE_SIZE << n->mdts;
	n->bounce = aligned_alloc(4096, n->bounce_len);
	if (!n->bounce) {
		rc = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < n->nn; i++) {
		char label[96];

		snprintf(label, sizeof(label), "%s-%u", name, i + 1);
		rc = nvme_ns_open(&n->ns[i], o, label);
		if (rc < 0)
			goto fail;
		/* NGUID: unique per namespace, stable for a name and serial. */
		h = fnv1a(n->serial, label);
		memcpy(n->ns[i].nguid, &h, 8);
		h = fnv1a(label, n->model);
		memcpy(n->ns[i].nguid + 8, &h, 8);
	}
	rc = nvme_uring_init(n, !o->sync_io);
	if (rc < 0)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n->smart.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	n->smart.power_cycles = 1;
	nvme_regs_power_on(n);
	nvme_features_default(n);

	n->dev = vus_dev_new(name);
	if (!n->dev) {
		rc = -ENOMEM;
		goto fail;
	}
	vus_dev_set_private(n->dev, n);
	rc = nvme_pci_setup(n);
	if (rc < 0)
		goto fail;
	rc = nvme_uring_watch(n);
	if (rc < 0)
		goto fail;
	if (n->poll) {
		rc = nvme_worker_start(n);
		if (rc < 0)
			goto fail;
	}
	*out = n;
	return 0;
fail:
	nvme_emu_free(n);
	return rc;
}

struct vus_dev *nvme_emu_dev(struct nvme_emu *n)
{
	return n->dev;
}

void nvme_emu_free(struct nvme_emu *n)
{
	if (!n)
		return;
	/* The worker may be inside a DMA the library is about to fail:
	 * stop it before the device goes away. */
	nvme_worker_stop(n);
	/* Backend requests may point into guest memory that goes with the
	 * device (vus_dev_free runs no unmap callbacks). */
	nvme_uring_drain(n, NVME_DRAIN_DROP);
	nvme_uring_free(n);
	if (n->dev)
		vus_dev_free(n->dev);
	for (uint32_t i = 0; i < NVME_EMU_MAX_NS; i++)
		nvme_ns_close(&n->ns[i]);
	nvme_mig_clear(n);
	free(n->bounce);
	pthread_cond_destroy(&n->worker_cv);
	pthread_mutex_destroy(&n->proc_lock);
	pthread_mutex_destroy(&n->regs_lock);
	pthread_mutex_destroy(&n->log_lock);
	free(n);
}

int nvme_emu_queue_stats(struct nvme_emu *n, struct nvme_emu_qstats *out, int max)
{
	int i, k = 0;

	/* The worker may hold proc_lock across a DMA message exchange that
	 * the caller's (loop) thread must serve: never wait for it. */
	if (pthread_mutex_trylock(&n->proc_lock) != 0)
		return -EAGAIN;
	for (i = 0; i < NVME_NR_QUEUES && k < max; i++) {
		const struct nvme_sq *sq = &n->sq[i];

		if (!sq->live)
			continue;
		out[k].qid = (uint16_t)i;
		out[k].cqid = sq->cqid;
		out[k].size = sq->size;
		out[k].cmds = atomic_load(&sq->cmds);
		out[k].errors = atomic_load(&sq->errors);
		out[k].irqs = n->cq[sq->cqid].irqs;
		out[k].holds = n->cq[sq->cqid].holds;
		k++;
	}
	pthread_mutex_unlock(&n->proc_lock);
	return k;
}
