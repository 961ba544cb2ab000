/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DEVICE_RESET for a bridged function (docs/vfio-bridge.md "Reset"):
 * the kernel's function reset (FLR, PM or a reset of a slot or bus the
 * function has alone) when VFIO_DEVICE_GET_INFO says it has one
 * (VFIO_DEVICE_FLAGS_RESET); otherwise a hot reset of the function's
 * slot or bus (VFIO_DEVICE_PCI_HOT_RESET), which resets every function
 * there and which the kernel allows only with the fd of every IOMMU
 * group those functions belong to (Linux Documentation/driver-api/
 * vfio.rst and include/uapi/linux/vfio.h, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO):
 * the bridge passes the groups this vusd holds and refuses, naming the
 * functions, when one of them is in a group it does not hold.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vfio_priv.h"

#define PCI_SLOT(devfn) (((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn) ((devfn) & 7)

/* The functions a hot reset of b's slot or bus affects; *out malloc'ed. */
static int hot_reset_info(struct vfio_bridge *b, struct vfio_pci_hot_reset_info **out)
{
	struct vfio_pci_hot_reset_info probe = { .argsz = sizeof(probe) }, *info;
	size_t size;

	/* The first call sizes the list (ENOSPC with count filled in). */
	if (ioctl(b->device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &probe) == 0)
		return -ENODEV; /* an empty list: nothing would be reset */
	if (errno != ENOSPC)
		return -errno;
	size = sizeof(*info) + (size_t)probe.count * sizeof(info->devices[0]);
	info = calloc(1, size);
	if (!info)
		return -ENOMEM;
	info->argsz = (uint32_t)size;
	if (ioctl(b->device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info) < 0) {
		int rc = -errno;

		free(info);
		return rc;
	}
	*out = info;
	return 0;
}

static void dep_name(const struct vfio_pci_dependent_device *d, char *out, size_t len)
{
	snprintf(out, len, "%04x:%02x:%02x.%x", d->segment, d->bus, PCI_SLOT(d->devfn),
		 PCI_FUNC(d->devfn));
}

/* Does this process hold the function? Legacy: its group; cdev (device
 * id mode): the kernel says, -1 is "not owned". */
static bool dep_owned(const struct vfio_pci_hot_reset_info *info, uint32_t i)
{
	if (info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID)
		return (int32_t)info->devices[i].group_id != VFIO_PCI_DEVID_NOT_OWNED;
	return vfio_bridge_group_fd((int)info->devices[i].group_id) >= 0;
}

/* "0000:01:00.0 (group 7), ..." of the list (device ids in cdev mode);
 * only those this process does not hold when missing_only. */
static size_t dep_list(const struct vfio_pci_hot_reset_info *info, bool missing_only, char *out,
		       size_t len)
{
	bool devid = info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID;
	char name[32];
	size_t used = 0, n = 0;
	uint32_t i;

	out[0] = '\0';
	for (i = 0; i < info->count && used < len; i++) {
		if (missing_only && dep_owned(info, i))
			continue;
		dep_name(&info->devices[i], name, sizeof(name));
		if (devid && (int32_t)info->devices[i].group_id == VFIO_PCI_DEVID_NOT_OWNED)
			used += (size_t)snprintf(out + used, len - used, "%s%s (not ours)",
						 used ? ", " : "", name);
		else
			used += (size_t)snprintf(out + used, len - used, "%s%s (%s %u)",
						 used ? ", " : "", name, devid ? "device" : "group",
						 info->devices[i].group_id);
		n++;
	}
	return n;
}

void vfio_bridge_describe_reset(struct vfio_bridge *b)
{
	struct vfio_pci_hot_reset_info *info;
	char list[1024];
	int rc;

	if (b->info.flags & VFIO_DEVICE_FLAGS_RESET) {
		vfio_bridge_log(b, "reset: the kernel's function reset (VFIO_DEVICE_FLAGS_RESET)");
		return;
	}
	rc = hot_reset_info(b, &info);
	if (rc < 0) {
		vfio_bridge_log(b, "reset: none (no function reset; hot reset info: %s)",
				strerror(-rc));
		return;
	}
	dep_list(info, false, list, sizeof(list));
	vfio_bridge_log(b, "reset: no function reset; a hot reset of its slot or bus, which "
			"resets %s", list);
	free(info);
}

static int hot_reset(struct vfio_bridge *b)
{
	struct vfio_pci_hot_reset_info *info;
	struct vfio_pci_hot_reset *hr;
	char list[1024];
	uint32_t i, j, nfds = 0;
	int rc, fd;

	rc = hot_reset_info(b, &info);
	if (rc < 0) {
		vfio_bridge_log(b, "reset refused: the kernel offers neither a function reset nor "
				"a hot reset of its slot or bus (%s)", strerror(-rc));
		return -ENOTTY;
	}
	if (dep_list(info, true, list, sizeof(list))) {
		vfio_bridge_log(b, "hot reset refused (EPERM): it would also reset %s, which this "
				"vusd does not hold; serve them from this vusd "
				"(--device vfio,host=...) to allow it", list);
		free(info);
		return -EPERM;
	}
	if (info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID) {
		/* cdev: ownership is proven by the iommufd context, no fds. */
		struct vfio_pci_hot_reset none = { .argsz = sizeof(none) };

		rc = ioctl(b->device, VFIO_DEVICE_PCI_HOT_RESET, &none) < 0 ? -errno : 0;
		dep_list(info, false, list, sizeof(list));
		if (rc < 0)
			vfio_bridge_log(b, "hot reset (iommufd) of %s: %s", list, strerror(-rc));
		else
			vfio_bridge_log(b, "hot reset (iommufd) reset %s", list);
		free(info);
		return rc;
	}
	hr = calloc(1, sizeof(*hr) + (size_t)info->count * sizeof(hr->group_fds[0]));
	if (!hr) {
		free(info);
		return -ENOMEM;
	}
	for (i = 0; i < info->count; i++) {
		fd = vfio_bridge_group_fd((int)info->devices[i].group_id);
		for (j = 0; j < nfds && hr->group_fds[j] != fd; j++)
			;
		if (j == nfds)
			hr->group_fds[nfds++] = fd;
	}
	hr->argsz = (uint32_t)(sizeof(*hr) + nfds * sizeof(hr->group_fds[0]));
	hr->count = nfds;
	rc = ioctl(b->device, VFIO_DEVICE_PCI_HOT_RESET, hr) < 0 ? -errno : 0;
	dep_list(info, false, list, sizeof(list));
	if (rc < 0)
		vfio_bridge_log(b, "hot reset (%u groups) of %s: %s", nfds, list, strerror(-rc));
	else
		vfio_bridge_log(b, "hot reset (%u group%s) reset %s", nfds, nfds == 1 ? "" : "s",
				list);
	free(hr);
	free(info);
	return rc;
}

int vfio_bridge_reset(struct vfio_bridge *b)
{
	if (b->info.flags & VFIO_DEVICE_FLAGS_RESET)
		return ioctl(b->device, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
	return hot_reset(b);
}
