/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hooks for a device that is not emulated but forwarded: the kernel-VFIO
 * bridge (docs/vfio-bridge.md). Everything here is a setup call
 * (-EBUSY once listening).
 */
#ifndef VUS_PASSTHROUGH_H
#define VUS_PASSTHROUGH_H

#include <vus/api.h>
#include <vus/device.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Config space (region 7) goes to ops instead of the library's emulated
 * config space: every REGION_READ/WRITE of it (and vus_dev_access_region())
 * after the library's bounds and permission checks. The device then owns
 * config space whole: capabilities, BARs and the interrupt routing the
 * library derives from config space (vus_irq_raise()) are not used; the
 * device also gives its interrupts to the client through
 * vus_dev_set_irq_passthrough(). size: 256 or 4096 (the region's size).
 * ops NULL: back to the library's config space.
 */
VUS_API int vus_dev_set_config_passthrough(struct vus_dev *dev, size_t size,
					   const struct vus_region_ops *ops, void *opaque);

#ifdef __cplusplus
}
#endif
#endif /* VUS_PASSTHROUGH_H */
