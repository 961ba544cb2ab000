/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device model's part of a live update (docs/live-update.md "State
 * format"): what a client built up in the model and what the next vusd
 * image must find again -- config space, the MSI-X table, the INTx line,
 * per IRQ vector its eventfd, mask and pending bit, each DMA window with
 * its fd, and the id of our next server->client request. fds travel by
 * number: the next image inherits them across execve (or, in one process,
 * another vus_dev takes them over).
 *
 * Loop thread; the device is stopped (migration STOP_COPY or STOP), so no
 * interrupt or DMA changes what is read or written here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "blob.h"
#include "dev_priv.h"
#include "fd_cloexec.h"

/* int <-> u32 with -1 kept. */
static uint32_t fd_u32(int fd)
{
	return fd < 0 ? UINT32_MAX : (uint32_t)fd;
}

static int u32_fd(uint32_t v)
{
	return v > (uint32_t)INT32_MAX ? -1 : (int)v;
}

/* ---- config space and the region layout ----------------------------- */

int vus_live_save_config(struct vus_dev *dev, struct vus_blob *b)
{
	const struct vus_msix *x = &dev->cfg.pci.msix;
	uint32_t i;

	blob_u32(b, dev->nr_regions);
	for (i = 0; i < dev->nr_regions; i++) {
		blob_u64(b, dev->regions[i].size);
		blob_u32(b, dev->regions[i].flags);
	}
	pthread_mutex_lock(&dev->irq_lock);
	blob_bytes(b, dev->cfg.bytes, dev->cfg.size);
	blob_bytes(b, x->table, x->table ? (size_t)x->nvec * 16u : 0);
	blob_u32(b, x->table_live);
	blob_u32(b, dev->cfg.pci.intx_level);
	for (i = 0; i < VUS_MAX_VECTORS / 64; i++)
		blob_u64(b, dev->cfg.pci.intx_src[i]);
	pthread_mutex_unlock(&dev->irq_lock);
	return b->err;
}

int vus_live_load_config(struct vus_dev *dev, struct vus_blob_rd *r, bool apply)
{
	struct vus_msix *x = &dev->cfg.pci.msix;
	const void *cfg, *table;
	size_t cfg_len, table_len;
	uint32_t n, i, live, level;
	uint64_t src[VUS_MAX_VECTORS / 64];

	n = blob_rd_u32(r);
	if (blob_rd_ok(r) && n != dev->nr_regions) {
		vus_log(dev, VUS_LOG_ERR, "live update: %u regions saved, this device has %u", n,
			dev->nr_regions);
		return -EINVAL;
	}
	for (i = 0; i < n && blob_rd_ok(r); i++) {
		uint64_t size = blob_rd_u64(r);
		uint32_t flags = blob_rd_u32(r);

		if (blob_rd_ok(r) &&
		    (size != dev->regions[i].size || flags != dev->regions[i].flags)) {
			vus_log(dev, VUS_LOG_ERR, "live update: region %u differs (size %#llx "
				"flags %#x saved, %#llx %#x here)", i, (unsigned long long)size,
				flags, (unsigned long long)dev->regions[i].size,
				dev->regions[i].flags);
			return -EINVAL;
		}
	}
	cfg = blob_rd_bytes(r, &cfg_len);
	table = blob_rd_bytes(r, &table_len);
	live = blob_rd_u32(r);
	level = blob_rd_u32(r);
	for (i = 0; i < VUS_MAX_VECTORS / 64; i++)
		src[i] = blob_rd_u64(r);
	if (!blob_rd_ok(r))
		return -EINVAL;
	if (cfg_len != dev->cfg.size ||
	    table_len != (x->table ? (size_t)x->nvec * 16u : 0)) {
		vus_log(dev, VUS_LOG_ERR, "live update: config space or MSI-X table size differs");
		return -EINVAL;
	}
	if (!apply)
		return 0;
	pthread_mutex_lock(&dev->irq_lock);
	memcpy(dev->cfg.bytes, cfg, cfg_len);
	if (table_len)
		memcpy(x->table, table, table_len);
	x->table_live = live != 0;
	dev->cfg.pci.intx_level = level != 0;
	memcpy(dev->cfg.pci.intx_src, src, sizeof(src));
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

/* ---- interrupts and DMA windows: the client's fds ------------------- */

int vus_live_save_fds(struct vus_dev *dev, struct vus_blob *b)
{
	struct vus_dma_table *t = &dev->dma.table;
	uint32_t i, v;

	for (i = 0; i < VUS_PCI_NUM_IRQS; i++)
		if (dev->irqs[i].pt) {
			vus_log(dev, VUS_LOG_ERR, "live update: IRQ index %u is passed through "
				"to the device's own fds", i);
			return -EOPNOTSUPP;
		}
	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		const struct vus_irq_index *irq = &dev->irqs[i];

		blob_u32(b, irq->count);
		for (v = 0; v < irq->count; v++) {
			blob_u32(b, fd_u32(irq->vec[v].efd));
			blob_u32(b, irq->vec[v].masked);
			blob_u32(b, irq->vec[v].pending);
		}
		blob_u32(b, fd_u32(irq->resample_fd));
	}
	pthread_mutex_unlock(&dev->irq_lock);

	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->n; i++)
		if (t->r[i].vaddr && t->r[i].fd < 0) {
			pthread_rwlock_unlock(&t->lock);
			vus_log(dev, VUS_LOG_ERR, "live update: DMA window %#llx has no fd any "
				"more (vus_dev_set_dma_close_fds(true)); it cannot be handed on",
				(unsigned long long)t->r[i].iova);
			return -EOPNOTSUPP;
		}
	blob_u32(b, t->n);
	for (i = 0; i < t->n; i++) {
		blob_u64(b, t->r[i].iova);
		blob_u64(b, t->r[i].size);
		blob_u32(b, t->r[i].prot);
		blob_u32(b, fd_u32(t->r[i].fd));
		blob_u64(b, t->r[i].fd_offset);
	}
	pthread_rwlock_unlock(&t->lock);
	blob_u32(b, dev->dma.next_id);
	return b->err;
}

void vus_live_fds_cloexec(struct vus_dev *dev, bool on)
{
	struct vus_dma_table *t = &dev->dma.table;
	uint32_t i, v;

	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		for (v = 0; v < dev->irqs[i].count; v++)
			vus_fd_cloexec(dev->irqs[i].vec[v].efd, on);
		vus_fd_cloexec(dev->irqs[i].resample_fd, on);
	}
	pthread_mutex_unlock(&dev->irq_lock);
	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->n; i++)
		vus_fd_cloexec(t->r[i].fd, on);
	pthread_rwlock_unlock(&t->lock);
}

void vus_live_forget_fds(struct vus_dev *dev)
{
	uint32_t i, v;

	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		for (v = 0; v < dev->irqs[i].count; v++)
			dev->irqs[i].vec[v].efd = -1;
		if (dev->irqs[i].resample_fd >= 0)
			epoll_ctl(dev->epfd, EPOLL_CTL_DEL, dev->irqs[i].resample_fd, NULL);
		dev->irqs[i].resample_fd = -1;
	}
	pthread_mutex_unlock(&dev->irq_lock);
	vus_dma_table_forget_fds(&dev->dma.table);
}

/* An inherited fd must be open; an IRQ fd an eventfd is checked by use. */
static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

int vus_live_adopt_fds(struct vus_dev *dev, struct vus_blob_rd *r)
{
	uint32_t i, v, n;
	int rc = 0;

	for (i = 0; i < VUS_PCI_NUM_IRQS; i++) {
		struct vus_irq_index *irq = &dev->irqs[i];
		int rfd;

		n = blob_rd_u32(r);
		if (!blob_rd_ok(r) || n != irq->count) {
			vus_log(dev, VUS_LOG_ERR, "live update: IRQ index %u: %u vectors saved, %u "
				"here", i, n, irq->count);
			return -EINVAL;
		}
		pthread_mutex_lock(&dev->irq_lock);
		for (v = 0; v < n; v++) {
			int efd = u32_fd(blob_rd_u32(r));
			bool masked = blob_rd_u32(r) != 0;
			bool pending = blob_rd_u32(r) != 0;

			if (efd >= 0 && !fd_open(efd)) {
				rc = -EBADF;
				efd = -1;
			}
			vus_fd_cloexec(efd, true);
			irq->vec[v].efd = efd;
			irq->vec[v].masked = masked;
			irq->vec[v].pending = pending;
		}
		pthread_mutex_unlock(&dev->irq_lock);
		rfd = u32_fd(blob_rd_u32(r));
		if (rfd >= 0 && fd_open(rfd)) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = rfd };

			vus_fd_cloexec(rfd, true);
			if (epoll_ctl(dev->epfd, EPOLL_CTL_ADD, rfd, &ev) < 0)
				rc = -errno;
			else
				irq->resample_fd = rfd;
		}
	}
	n = blob_rd_u32(r);
	for (i = 0; i < n && blob_rd_ok(r); i++) {
		struct vus_dma_region w = { 0 };
		int err;

		w.iova = blob_rd_u64(r);
		w.size = blob_rd_u64(r);
		w.prot = blob_rd_u32(r);
		w.fd = u32_fd(blob_rd_u32(r));
		w.fd_offset = blob_rd_u64(r);
		if (!blob_rd_ok(r))
			break;
		if (w.fd >= 0 && !fd_open(w.fd)) {
			rc = -EBADF;
			continue;
		}
		err = vus_dma_adopt_window(dev, &w);
		if (err) {
			vus_log(dev, VUS_LOG_ERR, "live update: DMA window %#llx+%#llx: %s",
				(unsigned long long)w.iova, (unsigned long long)w.size,
				strerror(-err));
			if (w.fd >= 0)
				close(w.fd);
			rc = err;
		}
	}
	dev->dma.next_id = (uint16_t)blob_rd_u32(r);
	if (!blob_rd_ok(r))
		return -EINVAL;
	return rc;
}
