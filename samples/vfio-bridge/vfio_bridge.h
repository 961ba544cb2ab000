/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel-VFIO bridge: a PCI function bound to vfio-pci, served over
 * vfio-user (docs/vfio-bridge.md). Regions are the kernel's (mmap-able
 * BARs handed to the client as the VFIO device fd itself), config space
 * goes through the kernel's virtualisation, the client's interrupt
 * eventfds go straight to VFIO_DEVICE_SET_IRQS and its DMA maps straight
 * into the type1 IOMMU. The bridge keeps no device state.
 */
#ifndef VUS_VFIO_BRIDGE_H
#define VUS_VFIO_BRIDGE_H

#include <stddef.h>

#include <vus/device.h>

struct vfio_bridge;

/* How the device is opened and its DMA mapped. */
enum vfio_bridge_iommu {
	VFIO_BRIDGE_IOMMU_AUTO,   /* iommufd when the kernel offers it, else legacy */
	VFIO_BRIDGE_IOMMU_LEGACY, /* container/group API, type1 IOMMU */
	VFIO_BRIDGE_IOMMUFD,      /* VFIO device cdev bound to /dev/iommu */
};

/*
 * Open host ("0000:01:00.0", "01:00.0" or a sysfs path of the device)
 * through the legacy container/group API with the type1 IOMMU, or its
 * VFIO cdev with iommufd, and build the vus device (set up, not
 * listening). On failure -errno with a message for the user in err (what
 * is wrong and what to do).
 */
int vfio_bridge_open(const char *name, const char *host, enum vfio_bridge_iommu iommu,
		     struct vfio_bridge **out, char *err, size_t errlen);
struct vus_dev *vfio_bridge_dev(struct vfio_bridge *b);
/*
 * The kernel device's migration state (VFIO_DEVICE_STATE_*, the numbers
 * of enum vus_mig_state): migration is passed through to the kernel, so
 * the library's own state says nothing about it. -ENOTTY when the kernel
 * driver has no migration, another -errno when the kernel does not say.
 * Call it where the device is served (its loop's thread).
 */
int vfio_bridge_mig_state(struct vfio_bridge *b);
/* Frees the vus device, closes the VFIO device, group and container. */
void vfio_bridge_free(struct vfio_bridge *b);

#endif /* VUS_VFIO_BRIDGE_H */
