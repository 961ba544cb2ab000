/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Region access for REGION_READ/WRITE and local tools: the bounds and
 * permission checks, then config space (model/pci/config.c), the MSI-X
 * table and PBA (model/pci/config_msix.c), or the device's own part
 * (model/region/region.c).
 */
#include <errno.h>
#include <stdint.h>

#include "dev_priv.h"

/* docs/protocol.md 3.9: a bad index, range or direction is EINVAL. */
static int region_check(const struct vus_dev *dev, uint32_t index, uint64_t offset,
			uint32_t count, bool is_write)
{
	const struct vus_region *r;

	if (index >= dev->nr_regions)
		return -EINVAL;
	r = &dev->regions[index];
	if (!r->size || offset > r->size || count > r->size - offset)
		return -EINVAL;
	if (!(r->flags & (is_write ? VUS_REGION_WRITE : VUS_REGION_READ)))
		return -EINVAL;
	return 0;
}

int vus_region_access(struct vus_dev *dev, uint32_t index, uint64_t offset, void *buf,
		      uint32_t count, bool is_write)
{
	int rc;

	rc = region_check(dev, index, offset, count, is_write);
	if (rc)
		return rc;
	if (!count)
		return 0;
	if (index == VUS_PCI_CONFIG_REGION && dev->cfg_pt)
		return vus_config_pt_access(dev, offset, buf, count, is_write);
	if (index == VUS_PCI_CONFIG_REGION)
		return vus_config_access(dev, offset, buf, count, is_write);
	/* The MSI-X table and PBA are the library's (config_msix.c). */
	if (vus_msix_in_bar(dev, index))
		return vus_msix_bar_access(dev, index, offset, buf, count, is_write);
	return vus_region_dev_access(dev, index, offset, buf, count, is_write);
}

/* The checks of vus_region_access(), in its order. */
int vus_region_access_direct(struct vus_dev *dev, uint32_t index, uint64_t offset,
			     uint32_t count, bool is_write, void **p)
{
	int rc;

	*p = NULL;
	rc = region_check(dev, index, offset, count, is_write);
	if (rc)
		return rc;
	if (!count || index == VUS_PCI_CONFIG_REGION || vus_msix_in_bar(dev, index))
		return 0;
	*p = vus_region_dev_mem(dev, index, offset, is_write);
	return 0;
}
