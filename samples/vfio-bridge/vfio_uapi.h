/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel uapi the bridge uses beyond what Debian 12's linux-libc-dev
 * (Linux 6.1 headers) defines: iommufd (include/uapi/linux/iommufd.h,
 * Linux 6.2+) and the VFIO device cdev (include/uapi/linux/vfio.h,
 * Linux 6.6+: VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT,
 * the hot reset's device-id mode). Written from those headers as of
 * Linux 6.12; each block is skipped when the system headers have it.
 * These are a stable ABI: layouts and numbers never change.
 */
#ifndef VUS_VFIO_UAPI_H
#define VUS_VFIO_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif

#ifndef IOMMU_IOAS_MAP
#define IOMMUFD_TYPE (';')
#define IOMMUFD_CMD_DESTROY 0x80
#define IOMMUFD_CMD_IOAS_ALLOC 0x81
#define IOMMUFD_CMD_IOAS_MAP 0x85
#define IOMMUFD_CMD_IOAS_UNMAP 0x86

struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)
#endif /* IOMMU_IOAS_MAP */

#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif /* VFIO_DEVICE_BIND_IOMMUFD */

/* GET_PCI_HOT_RESET_INFO on a cdev-opened device: devices[].group_id
 * holds a device id instead (the struct's union), 0 for a function owned
 * but not bound, -1 for one not owned; FLAG_DEV_ID_OWNED when every
 * affected function is owned, and then PCI_HOT_RESET takes no group fds. */
#ifndef VFIO_PCI_HOT_RESET_FLAG_DEV_ID
#define VFIO_PCI_HOT_RESET_FLAG_DEV_ID       (1 << 0)
#define VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED (1 << 1)
#define VFIO_PCI_DEVID_OWNED                 0
#define VFIO_PCI_DEVID_NOT_OWNED             -1
#endif

#endif /* VUS_VFIO_UAPI_H */
