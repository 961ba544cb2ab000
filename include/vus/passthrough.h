/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hooks for a device that is not emulated but forwarded: the kernel-VFIO
 * bridge (docs/vfio-bridge.md). Everything here is a setup call
 * (-EBUSY once listening).
 */
#ifndef VUS_PASSTHROUGH_H
#define VUS_PASSTHROUGH_H

#include <sys/types.h>

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

/*
 * GET_REGION_INFO of region index carries the MSIX_MAPPABLE capability
 * (docs/protocol.md 3.5): the client may mmap the MSI-X table's part of
 * the region, as the kernel says for a BAR of a vfio-pci device. Any
 * region with a size but config space; -EINVAL otherwise.
 */
VUS_API int vus_dev_region_set_msix_mappable(struct vus_dev *dev, uint32_t index);

/*
 * GET_IRQ_INFO of index reports flags (VUS_IRQ_INFO_*) instead of the
 * library's own for that index: a device that passes SET_IRQS on
 * (vus_dev_set_irq_passthrough()) reports what its backend supports, as
 * the bridge copies the kernel's VFIO_DEVICE_GET_IRQ_INFO flags.
 */
VUS_API int vus_dev_set_irq_info_flags(struct vus_dev *dev, uint32_t index, uint32_t flags);

/*
 * DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE handed to the device
 * instead of the library's migration (vus_dev_set_migration() is then not
 * used): a bridge forwards them to a device that implements them itself
 * (the kernel's VFIO_DEVICE_FEATURE and migration data fd). The library
 * checks the message's framing (docs/protocol.md DEVICE_FEATURE) and
 * sends the reply; the device interprets the features.
 */
struct vus_feature_passthrough_ops {
	/*
	 * DEVICE_FEATURE: flags as sent (feature index | GET/SET/PROBE), the
	 * request's data. Put the reply's data (at most cap bytes: what the
	 * request's argsz leaves room for, or its own length if larger,
	 * bounded by the session's max data transfer size) in out; return its
	 * length, or -errno for an error reply (ENOTTY: no such feature).
	 */
	ssize_t (*feature)(struct vus_dev *dev, void *opaque, uint32_t flags, const void *data,
			   size_t len, void *out, size_t cap);
	/* MIG_DATA_READ: at most size bytes into buf; bytes read (fewer:
	 * no more for now) or -errno. */
	ssize_t (*mig_read)(struct vus_dev *dev, void *opaque, void *buf, size_t size);
	/* MIG_DATA_WRITE: all of data, or -errno. */
	int (*mig_write)(struct vus_dev *dev, void *opaque, const void *data, size_t size);
};

/* ops NULL: back to the library's migration (if set up). All three
 * callbacks are required. */
VUS_API int vus_dev_set_feature_passthrough(struct vus_dev *dev,
					    const struct vus_feature_passthrough_ops *ops,
					    void *opaque);

#ifdef __cplusplus
}
#endif
#endif /* VUS_PASSTHROUGH_H */
