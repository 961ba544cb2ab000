/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device object's own settings (device.h): name, private pointer,
 * logging, PCI identity, config space size, reset callback, transfer
 * size, statistics. Creation and teardown are serve/dev.c, regions
 * model/region/, IRQ setup model/irq/irq_setup.c.
 *
 * Setup calls run on one thread before vus_dev_listen*(). Listening builds
 * config space (vus_config_init) from the layout; from then on the loop
 * thread reads regions and IRQ tables without locks, so calls that change
 * the layout the client sees return -EBUSY.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_priv.h"

const char *vus_dev_name(const struct vus_dev *dev)
{
	return dev->name;
}

void vus_dev_set_private(struct vus_dev *dev, void *priv)
{
	dev->priv = priv;
}

void *vus_dev_private(const struct vus_dev *dev)
{
	return dev->priv;
}

/* ---- logging -------------------------------------------------------- */

void vus_dev_set_log(struct vus_dev *dev, vus_log_fn fn, void *opaque, enum vus_log_level level)
{
	if (fn) {
		dev->log.fn = fn;
		dev->log.opaque = opaque;
	} else {
		dev->log.fn = vus_log_default;
		dev->log.opaque = dev->name;
	}
	dev->log.level = level;
}

void vus_dev_set_log_level(struct vus_dev *dev, enum vus_log_level level)
{
	__atomic_store_n(&dev->log.level, level, __ATOMIC_RELAXED);
}

/* ---- PCI identity --------------------------------------------------- */

int vus_dev_set_pci_id(struct vus_dev *dev, const struct vus_pci_id *id)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (!id || id->class_code > 0xffffff)
		return -EINVAL;
	dev->id = *id;
	return 0;
}

int vus_dev_set_config_size(struct vus_dev *dev, size_t size)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (size != 256 && size != 4096)
		return -EINVAL;
	dev->cfg.size = size;
	dev->regions[VUS_PCI_CONFIG_REGION].size = size;
	return 0;
}

/* ---- reset, limits, statistics -------------------------------------- */

int vus_dev_set_reset(struct vus_dev *dev, vus_reset_fn cb, void *opaque)
{
	/* GET_INFO's RESET flag is part of what the client caches. */
	if (vus_dev_started(dev))
		return -EBUSY;
	dev->reset_cb = cb;
	dev->reset_opaque = cb ? opaque : NULL;
	return 0;
}

int vus_dev_set_max_data_xfer(struct vus_dev *dev, uint32_t bytes)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if (!bytes || bytes > VUS_MAX_DATA_XFER_LIMIT)
		return -EINVAL;
	dev->max_xfer = bytes;
	return 0;
}

void vus_dev_get_stats(const struct vus_dev *dev, struct vus_dev_stats *out)
{
	/* The locks are logically not part of the device's value. */
	struct vus_counters *c = (struct vus_counters *)&dev->stats;
	pthread_rwlock_t *tlock = (pthread_rwlock_t *)&dev->dma.table.lock;

	pthread_mutex_lock(&c->lock);
	out->errors = vus_counters_read(&c->errors);
	out->bytes_in = vus_counters_read(&c->bytes_in);
	out->bytes_out = vus_counters_read(&c->bytes_out);
	out->irqs = c->irqs;
	out->dma_maps = c->dma_maps;
	out->dma_unmaps = c->dma_unmaps;
	out->dma_msgs = c->dma_msgs;
	out->clients = c->clients;
	out->cur_maps = (uint32_t)c->cur_maps;
	out->cur_mapped_bytes = c->cur_mapped_bytes;
	pthread_mutex_unlock(&c->lock);
	pthread_rwlock_rdlock(tlock);
	out->cur_dirty_bytes = dev->dma.table.dirty_bytes;
	pthread_rwlock_unlock(tlock);
}

/* One counter of an array the loop thread writes alone (base/stats.h);
 * 0 outside it. */
static uint64_t stat_at(const uint64_t *arr, size_t n, size_t i)
{
	return i < n ? vus_counters_read(&arr[i]) : 0;
}

uint64_t vus_dev_stat_cmd(const struct vus_dev *dev, unsigned cmd)
{
	return stat_at(dev->stats.msgs, VUS_CMD_MAX + 1, cmd);
}

uint64_t vus_dev_stat_errno(const struct vus_dev *dev, int err)
{
	return err > 0 ? stat_at(dev->stats.errnos, VUS_STATS_ERRNO_MAX, (size_t)err) : 0;
}
