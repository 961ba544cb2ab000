/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device object's life (device.h vus_dev_new/vus_dev_free): it
 * assembles every layer -- regions, IRQs, config space, DMA, the loop and
 * its session -- so it sits at the top, beside the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev_priv.h"
#include "serve.h"

struct vus_dev *vus_dev_new(const char *name)
{
	struct vus_dma_loop loop = { vus_loop_wake, vus_loop_timer_arm, NULL };
	struct vus_dev *dev;
	int err = -ENOMEM;
	uint32_t i;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->listen_fd = -1;
	dev->epfd = -1;
	dev->wake_fd = -1;
	dev->max_xfer = VUS_DEFAULT_MAX_DATA_XFER;
	dev->mig.state = VUS_MIG_STATE_RUNNING;
	for (i = 0; i < VUS_PCI_NUM_IRQS; i++)
		dev->irqs[i].resample_fd = -1;

	dev->name = strdup(name ? name : "vus");
	if (!dev->name)
		goto err_dev;
	dev->log.fn = vus_log_default;
	dev->log.opaque = dev->name;
	dev->log.level = VUS_LOG_WARN;

	err = vus_regions_init(dev);
	if (err)
		goto err_name;
	err = -pthread_mutex_init(&dev->irq_lock, NULL);
	if (err)
		goto err_regions;
	err = -pthread_mutex_init(&dev->stats.lock, NULL);
	if (err)
		goto err_irq_lock;
	err = vus_serve_init(dev);
	if (err)
		goto err_stats_lock;
	loop.opaque = dev;
	err = vus_dma_init(dev, &loop);
	if (err)
		goto err_serve;
	return dev;

err_serve:
	vus_serve_free(dev);
err_stats_lock:
	pthread_mutex_destroy(&dev->stats.lock);
err_irq_lock:
	pthread_mutex_destroy(&dev->irq_lock);
err_regions:
	vus_regions_free(dev);
err_name:
	free(dev->name);
err_dev:
	free(dev);
	errno = -err;
	return NULL;
}

void vus_dev_free(struct vus_dev *dev)
{
	if (!dev)
		return;
	/* Ends the session first: the device hears about every unmap and
	 * the lost connection while its regions still exist. */
	vus_serve_free(dev);
	vus_dma_free(dev);
	vus_mig_free(dev);
	vus_irq_free(dev);
	vus_config_free(dev);
	vus_regions_free(dev);
	pthread_mutex_destroy(&dev->stats.lock);
	pthread_mutex_destroy(&dev->irq_lock);
	free(dev->name);
	free(dev);
}

