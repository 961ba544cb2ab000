/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Introspection for local tools (device.h "introspection"): descriptions
 * of regions and IRQs, and region access and reset without a client.
 *
 * vusd's control socket uses these from its event loop, which is also the
 * device's loop thread, so a local access is just one more step in the
 * same sequence as the client's commands: no lock, no race with them.
 */
#include <errno.h>
#include <string.h>

#include "dev_priv.h"

/* Config space exists from vus_dev_listen*() on (vus_config_init). */
static bool serving(const struct vus_dev *dev)
{
	return dev->cfg.bytes != NULL;
}

/* Another thread than a running loop would race the device's callbacks. */
static bool wrong_thread(const struct vus_dev *dev)
{
	return dev->loop_thread_known && !vus_on_loop_thread(dev);
}

uint32_t vus_dev_num_regions(const struct vus_dev *dev)
{
	return dev->nr_regions;
}

int vus_dev_region_desc(const struct vus_dev *dev, uint32_t index,
			struct vus_dev_region_desc *out)
{
	const struct vus_region *r;

	if (!serving(dev))
		return -ENODEV;
	if (index >= dev->nr_regions)
		return -EINVAL;
	r = &dev->regions[index];
	memset(out, 0, sizeof(*out));
	out->size = r->size;
	out->flags = r->flags;
	/* Config space (7) is the library's own: neither callbacks nor fd. */
	out->callbacks = r->ops.read || r->ops.write;
	out->fd_backed = r->fd >= 0;
	out->mmap = r->mmap && r->fd >= 0;
	out->nr_areas = r->nr_areas;
	out->areas = r->areas;
	out->has_type = r->has_type;
	out->type = r->type;
	out->subtype = r->subtype;
	return 0;
}

int vus_dev_irq_desc(struct vus_dev *dev, uint32_t index, struct vus_dev_irq_desc *out)
{
	const struct vus_irq_index *irq;
	uint32_t i;

	if (!serving(dev))
		return -ENODEV;
	if (index >= VUS_PCI_NUM_IRQS)
		return -EINVAL;
	irq = &dev->irqs[index];
	memset(out, 0, sizeof(*out));
	out->count = irq->count;
	out->flags = irq->count ? vus_irq_info_flags(dev, index) : 0;
	out->passthrough = irq->pt != NULL;
	/* irq.c: the lock guards per-vector state, which a device thread's
	 * vus_irq_trigger() changes while the loop applies SET_IRQS. */
	pthread_mutex_lock(&dev->irq_lock);
	for (i = 0; i < irq->count; i++) {
		out->assigned += irq->vec[i].efd >= 0;
		out->masked += irq->vec[i].masked;
		out->pending += irq->vec[i].pending;
	}
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

int vus_dev_access_region(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
			  uint32_t count, bool is_write)
{
	if (!serving(dev))
		return -ENODEV;
	if (wrong_thread(dev))
		return -EPERM;
	/* docs/protocol.md 3.9 (E2BIG): the client's limit applies here too,
	 * so a local access never asks more of a device than a client may. */
	if (count > dev->max_xfer)
		return -E2BIG;
	return vus_region_access(dev, index, offset, buf, count, is_write);
}

int vus_dev_reset(struct vus_dev *dev)
{
	if (!serving(dev))
		return -ENODEV;
	if (wrong_thread(dev))
		return -EPERM;
	if (!dev->reset_cb)
		return -EINVAL;
	/* Config space to power-on values, Command included (handlers.c
	 * DEVICE_RESET). */
	vus_config_reset(dev);
	vus_mig_reset(dev);
	return dev->reset_cb(dev, dev->reset_opaque, VUS_RESET_CLIENT);
}
