/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device type "vfio": a PCI function bound to the kernel's vfio-pci,
 * served over vfio-user by the bridge of samples/vfio-bridge
 * (docs/vfio-bridge.md). Options: host, the function's address
 * (0000:01:00.0) or its sysfs path; iommu, auto|legacy|iommufd.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "devtypes.h"
#include "vfio_bridge.h"

struct vfio_type_opts {
	char *host;
	char *iommu;
};

static const struct vusd_opt vfio_type_opts_schema[] = {
	{ .key = "host", .kind = VUSD_OPT_STRING, .required = true,
	  .offset = offsetof(struct vfio_type_opts, host),
	  .help = "PCI address (0000:01:00.0) or sysfs path of a device bound to vfio-pci" },
	{ .key = "iommu", .kind = VUSD_OPT_STRING,
	  .offset = offsetof(struct vfio_type_opts, iommu),
	  .help = "auto (default: iommufd when the kernel has it), legacy or iommufd" },
	{ .key = NULL },
};

static int vfio_type_create(const char *name, const void *opts, struct vusd_inst *out,
			    struct vusd_err *err)
{
	const struct vfio_type_opts *o = opts;
	enum vfio_bridge_iommu iommu = VFIO_BRIDGE_IOMMU_AUTO;
	struct vfio_bridge *b;
	int rc;

	if (o->iommu && strcmp(o->iommu, "legacy") == 0) {
		iommu = VFIO_BRIDGE_IOMMU_LEGACY;
	} else if (o->iommu && strcmp(o->iommu, "iommufd") == 0) {
		iommu = VFIO_BRIDGE_IOMMUFD;
	} else if (o->iommu && strcmp(o->iommu, "auto") != 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "vfio: iommu=%s: expected auto, legacy or iommufd", o->iommu);
		return -EINVAL;
	}
	rc = vfio_bridge_open(name, o->host, iommu, &b, err->msg, sizeof(err->msg));
	if (rc < 0)
		return rc;
	out->dev = vfio_bridge_dev(b);
	out->handle = b;
	return 0;
}

static void vfio_type_destroy(struct vusd_inst *inst)
{
	vfio_bridge_free(inst->handle);
}

/* Migration is the kernel's (docs/vfio-bridge.md "DEVICE_FEATURE and
 * migration"): info shows the kernel device's state. */
static int vfio_type_mig_state(struct vusd_inst *inst)
{
	return vfio_bridge_mig_state(inst->handle);
}

/* The VFIO container, group and device ioctls (docs/vfio-bridge.md). */
static const char *const vfio_type_syscalls[] = { "ioctl", NULL };

const struct vusd_type vusd_type_vfio = {
	.name = "vfio",
	.help = "a real PCI device bound to vfio-pci, passed through (docs/vfio-bridge.md)",
	.opts = vfio_type_opts_schema,
	.opts_size = sizeof(struct vfio_type_opts),
	.create = vfio_type_create,
	.destroy = vfio_type_destroy,
	.mig_state = vfio_type_mig_state,
	.syscalls = vfio_type_syscalls,
};
