/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Config space handed to the device (include/vus/passthrough.h): a bridge
 * to a real function lets the kernel's config virtualisation answer, not
 * the library's emulation (docs/vfio-bridge.md).
 */
#include <errno.h>

#include <vus/passthrough.h>

#include "dev_priv.h"

int vus_dev_set_config_passthrough(struct vus_dev *dev, size_t size,
				   const struct vus_region_ops *ops, void *opaque)
{
	if (vus_dev_started(dev))
		return -EBUSY;
	if ((ops && (!ops->read || !ops->write)) || (size != 256 && size != 4096))
		return -EINVAL;
	dev->cfg.size = size;
	dev->regions[VUS_PCI_CONFIG_REGION].size = size;
	dev->cfg_pt = ops;
	dev->cfg_pt_opaque = ops ? opaque : NULL;
	return 0;
}

int vus_config_pt_access(struct vus_dev *dev, uint64_t offset, void *buf, uint32_t count,
			 bool is_write)
{
	if (is_write)
		return dev->cfg_pt->write(dev, dev->cfg_pt_opaque, offset, buf, count);
	return dev->cfg_pt->read(dev, dev->cfg_pt_opaque, offset, buf, count);
}
