#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The kernel-VFIO bridge's guest test (test/guest_vfio_bridge.sh) a second
# time, on a guest kernel with iommufd and the VFIO device cdev (Debian
# 13's backports kernel, test/helpers/guest_kernel_iommufd.bash) and vusd
# with iommu=iommufd: the device opened through /dev/vfio/devices/vfioN,
# bound to /dev/iommu, DMA through IOMMU_IOAS_MAP, the hot reset proven by
# the iommufd context (docs/vfio-bridge.md "iommufd"). Skips (77, with the
# reason) when that kernel cannot be fetched or has no /dev/iommu.
set -euo pipefail
VFIO_BRIDGE_IOMMU=iommufd exec bash "$(dirname "${BASH_SOURCE[0]}")/guest_vfio_bridge.sh"
