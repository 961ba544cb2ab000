/* SPDX-License-Identifier: BSD-3-Clause */
/* The bridge's state, shared by vfio_open.c (opening the device) and
 * vfio_bridge.c (serving it). */
#ifndef VUS_VFIO_PRIV_H
#define VUS_VFIO_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "vfio_uapi.h"

#include "vfio_bridge.h"

struct vfio_bridge {
	char name[64];
	char bdf[16];            /* dddd:bb:dd.f */
	/* group and container belong to the shared group (vfio_open.c): a
	 * second function of the group reuses both. */
	int container, group, device;
	int group_id;
	struct vfio_group_ref *grp;
	/* iommufd mode (docs/vfio-bridge.md "iommufd"): the device fd is the
	 * cdev, iommufd the process's /dev/iommu (not owned), ioas the
	 * group's; container and group are -1. */
	enum vfio_bridge_iommu iommu_mode; /* asked for, before opening */
	int iommufd;
	uint32_t devid;
	struct vfio_device_info info;
	uint64_t cfg_offset;     /* config region's offset in the device fd */
	uint64_t cfg_size;
	struct vus_dev *dev;
	/* MSI and MSI-X: the client's eventfds (dups) and how many vectors
	 * the kernel has enabled, to grow the block (vfio_bridge.c). */
	struct {
		int *fds;
		uint32_t count;   /* vectors of the index */
		uint32_t enabled; /* vectors enabled in the kernel, 0: off */
	} msi[2];
	/* vfio_feature.c: migration passthrough */
	bool migratable; /* the kernel driver has VFIO_DEVICE_FEATURE_MIGRATION */
	int mig_fd;      /* the data fd of the current transfer session, or -1 */
};

/* vfio_open.c: container, group and device fd, with user-facing errors. */
int vfio_bridge_open_fds(struct vfio_bridge *b, const char *host, char *err, size_t errlen);
void vfio_bridge_close_fds(struct vfio_bridge *b);
/* The IOAS of b's group (iommufd mode). */
uint32_t vfio_bridge_ioas(const struct vfio_bridge *b);
/* The fd of IOMMU group `group` if this process holds it through the
 * legacy API, else -1. */
int vfio_bridge_group_fd(int group);

/* vfio_reset.c: DEVICE_RESET, a function reset or else a hot (bus)
 * reset with the fd of every group it affects. */
int vfio_bridge_reset(struct vfio_bridge *b);
/* vfio_feature.c: DEVICE_FEATURE and migration to VFIO_DEVICE_FEATURE;
 * _end at a client's disconnect (back to RUNNING, logging stopped). */
int vfio_bridge_features_setup(struct vfio_bridge *b);
void vfio_bridge_features_end(struct vfio_bridge *b);
/* Logs which reset the kernel offers for the function (at open). */
void vfio_bridge_describe_reset(struct vfio_bridge *b);

void vfio_bridge_log(const struct vfio_bridge *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* VUS_VFIO_PRIV_H */
