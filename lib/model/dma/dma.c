/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA windows as the device sees them: DMA_MAP / DMA_UNMAP handlers, the
 * device's map/unmap callbacks, translate and the dirty mark, and the end
 * of a client's DMA. The table itself is dma_map.c; server->client copies
 * are dma_rw.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "dev_priv.h"
#include "dma_dirty.h"
#include "dma_guard.h"
#include "fd_reserve.h"
#include "dma_rw.h"

#define VUS_DMA_PROT_ALL (VUS_DMA_MAP_FLAG_READ | VUS_DMA_MAP_FLAG_WRITE)

int vus_dma_init(struct vus_dev *dev, const struct vus_dma_loop *loop)
{
	struct vus_dma *d = &dev->dma;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = vus_dma_table_init(&d->table, VUS_DEFAULT_MAX_DMA_MAPS, 0);
	if (rc)
		return rc;
	d->table.max_dirty_bytes = VUS_DEFAULT_DIRTY_LOG_MAX;
	rc = pthread_mutex_init(&d->qlock, NULL);
	if (rc) {
		vus_dma_table_destroy(&d->table);
		return -rc;
	}
	rc = vus_dma_pins_init(dev);
	if (rc) {
		pthread_mutex_destroy(&d->qlock);
		vus_dma_table_destroy(&d->table);
		return rc;
	}
	d->layout = VUS_DMA_LAYOUT_AUTO;
	d->loop = *loop;
	return 0;
}

void vus_dma_free(struct vus_dev *dev)
{
	vus_dma_rw_fail_all(dev, -ENOTCONN);
	/* No unmap callbacks: the device is going away with us (dma_map.h). */
	vus_dma_table_destroy(&dev->dma.table);
	pthread_mutex_destroy(&dev->dma.qlock);
	vus_dma_pins_free(dev);
}

int vus_dev_set_dma_ops(struct vus_dev *dev, const struct vus_dma_ops *ops, void *opaque)
{
	if (ops)
		dev->dma.ops = *ops;
	else
		memset(&dev->dma.ops, 0, sizeof(dev->dma.ops));
	dev->dma.ops_opaque = opaque;
	return 0;
}

int vus_dev_set_dma_limits(struct vus_dev *dev, uint32_t max_maps, uint64_t max_bytes)
{
	struct vus_dma_table *t = &dev->dma.table;

	if (!max_maps)
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	t->max_maps = max_maps;
	t->max_bytes = max_bytes;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

int vus_dev_set_dma_close_fds(struct vus_dev *dev, bool close_fds)
{
	struct vus_dma_table *t = &dev->dma.table;

	pthread_rwlock_wrlock(&t->lock);
	t->close_fds = close_fds;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

int vus_dev_set_dirty_log_limit(struct vus_dev *dev, uint64_t bytes)
{
	struct vus_dma_table *t = &dev->dma.table;

	pthread_rwlock_wrlock(&t->lock);
	t->max_dirty_bytes = bytes;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

int vus_dev_set_dma_layout(struct vus_dev *dev, enum vus_dma_layout layout)
{
	switch (layout) {
	case VUS_DMA_LAYOUT_AUTO:
	case VUS_DMA_LAYOUT_SPEC:
	case VUS_DMA_LAYOUT_QEMU:
		dev->dma.layout = layout;
		return 0;
	}
	return -EINVAL;
}

enum vus_dma_layout vus_dev_dma_layout(const struct vus_dev *dev)
{
	/* VERSION (handlers.c) resolves AUTO into sess.layout. */
	if (dev->sess.attached && dev->sess.negotiated)
		return dev->sess.layout;
	return VUS_DMA_LAYOUT_SPEC;
}

/* Mirror the table into the statistics. Loop thread: the table's only
 * writer, so n and total_bytes are stable here. */
static void stats_update(struct vus_dev *dev, uint64_t maps, uint64_t unmaps)
{
	struct vus_counters *c = &dev->stats;

	pthread_mutex_lock(&c->lock);
	c->dma_maps += maps;
	c->dma_unmaps += unmaps;
	c->cur_maps = dev->dma.table.n;
	c->cur_mapped_bytes = dev->dma.table.total_bytes;
	pthread_mutex_unlock(&c->lock);
}

struct unmap_ctx {
	struct vus_dev *dev;
	uint64_t count;
};

/* Runs once the window left the table and before its munmap/close. */
static void unmap_cb(const struct vus_dma_region *r, void *arg)
{
	struct unmap_ctx *c = arg;
	struct vus_dev *dev = c->dev;

	c->count++;
	vus_dma_pin_drop(dev, r->iova, r->size);
	if (dev->dma.ops.unmap)
		dev->dma.ops.unmap(dev, dev->dma.ops_opaque, r);
}

int vus_h_dma_map(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_dma_map dm;
	struct vus_dma_region reg;
	uint64_t quiet;
	int fd, rc;

	rc = vus_dma_map_decode(&m->v, &dm);
	if (rc)
		return rc;
	fd = m->v.nfds ? m->fds[0] : -1;
	if (fd >= 0) {
		/* Copies through this mapping must survive a shrinking file. */
		rc = vus_dma_guard_install();
		if (rc < 0)
			return rc;
		rc = vus_fd_check_reserve(fd);
		if (rc < 0) {
			if (vus_ratelimit_pass(&dev->dma.fd_log, &quiet))
				vus_log(dev, VUS_LOG_WARN, "DMA_MAP: fd %d would leave fewer than "
					"the reserved free fds: refused (EMFILE; %llu refused so "
					"far)", fd, (unsigned long long)dev->dma.fd_log.events);
			return rc;
		}
	}
	rc = vus_dma_table_add(&dev->dma.table, dm.addr, dm.size, dm.flags, fd, dm.offset, &reg);
	if (rc) {
		vus_log(dev, VUS_LOG_DEBUG, "DMA_MAP %#llx+%#llx refused (%d)",
			(unsigned long long)dm.addr, (unsigned long long)dm.size, rc);
		return rc; /* the fd is still the message's: dispatch closes it */
	}
	if (fd >= 0)
		m->fds[0] = -1; /* the table's now */
	if (dev->dma.ops.map) {
		rc = dev->dma.ops.map(dev, dev->dma.ops_opaque, &reg);
		if (rc < 0) {
			/* The device never accepted it: no unmap callback. */
			vus_dma_table_remove(&dev->dma.table, dm.addr, dm.size, NULL, NULL);
			return rc;
		}
	}
	stats_update(dev, 1, 0);
	return 0;
}

int vus_h_dma_unmap(struct vus_dev *dev, struct vus_rx_msg *m, struct vus_reply *r)
{
	struct vus_dma_unmap um;
	struct unmap_ctx c = { .dev = dev };
	int rc;

	rc = vus_dma_unmap_decode(&m->v, &um);
	if (rc)
		return rc;
	/*
	 * Removal waits for copies in progress and runs the device's unmap
	 * callback, so every reference is gone before the reply (spec
	 * DMA_UNMAP). ALL: QEMU's whole-space unmap (docs/protocol.md 3.3).
	 */
	if (um.flags & VUS_DMA_UNMAP_FLAG_ALL) {
		vus_dma_table_remove_all(&dev->dma.table, unmap_cb, &c);
	} else {
		rc = vus_dma_table_remove(&dev->dma.table, um.addr, um.size, unmap_cb, &c);
		if (rc)
			return rc;
	}
	stats_update(dev, 0, c.count);

	/* The reply echoes the 24-byte request (argsz 24). */
	um.argsz = sizeof(um);
	memcpy(r->small, &um, sizeof(um));
	vus_reply_add(r, r->small, sizeof(um));
	return 0;
}

void *vus_dma_translate(struct vus_dev *dev, uint64_t iova, uint64_t len, uint32_t prot)
{
	struct vus_dma_table *t = &dev->dma.table;
	const struct vus_dma_region *r;
	uint64_t off;
	void *p = NULL;
	int err = EFAULT;

	if (prot & ~VUS_DMA_PROT_ALL) {
		errno = EINVAL;
		return NULL;
	}
	pthread_rwlock_rdlock(&t->lock);
	r = vus_dma_table_find(t, iova, len, &off);
	if (__atomic_load_n(&dev->dma.stopped, __ATOMIC_ACQUIRE)) {
		r = NULL;
		err = EBUSY; /* stopped by migration (vus_dma_quiesce()) */
	} else if (r && !r->vaddr) {
		err = ENOTSUP;
	} else if (r && (r->prot & prot) != prot) {
		err = EACCES;
	} else if (r) {
		p = (uint8_t *)r->vaddr + off;
		/* Writes through the pointer are the device's: log them now,
		 * and again at every report while it may be kept (dma_pin.c). */
		if (prot & VUS_DMA_MAP_FLAG_WRITE)
			vus_dma_dirty_mark_locked(t, iova, len);
	}
	pthread_rwlock_unlock(&t->lock);
	if (!p)
		errno = err;
	else if (prot & VUS_DMA_MAP_FLAG_WRITE)
		vus_dma_pin_add(dev, iova, len);
	return p;
}

void vus_dma_mark_dirty(struct vus_dev *dev, uint64_t iova, uint64_t len)
{
	struct vus_dma_table *t = &dev->dma.table;

	pthread_rwlock_rdlock(&t->lock);
	vus_dma_dirty_mark_locked(t, iova, len);
	pthread_rwlock_unlock(&t->lock);
}

void vus_dma_session_end(struct vus_dev *dev)
{
	struct unmap_ctx c = { .dev = dev };

	/* Transfers first: their done callbacks may still look at windows. */
	vus_dma_rw_fail_all(dev, -ENOTCONN);
	vus_dma_table_remove_all(&dev->dma.table, unmap_cb, &c);
	stats_update(dev, 0, c.count);
	vus_ratelimit_reset(&dev->dma.stray);
	__atomic_store_n(&dev->dma.faulted, 0, __ATOMIC_RELEASE);
}

/* ---- live update (docs/live-update.md) ------------------------------- */

int vus_dma_adopt_window(struct vus_dev *dev, const struct vus_dma_region *w)
{
	struct vus_dma_region reg;
	int fd = -1, rc;

	if (w->fd >= 0) {
		rc = vus_dma_guard_install();
		if (rc < 0)
			return rc;
		/* The table owns a copy: every failure below closes only
		 * that, and the caller's fd stays for its error path. */
		fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
	}
	rc = vus_dma_table_add(&dev->dma.table, w->iova, w->size, w->prot, fd, w->fd_offset,
			       &reg);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (dev->dma.ops.map) {
		rc = dev->dma.ops.map(dev, dev->dma.ops_opaque, &reg);
		if (rc < 0) {
			vus_dma_table_remove(&dev->dma.table, w->iova, w->size, NULL, NULL);
			return rc;
		}
	}
	stats_update(dev, 1, 0);
	if (w->fd >= 0)
		close(w->fd);
	return 0;
}
