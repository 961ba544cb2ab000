#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# test/guest_nvme.sh with plain guest RAM: QEMU sends DMA_MAP without fds,
# so every DMA of the nvme device is a DMA_READ/DMA_WRITE message
# (docs/guests.md, docs/nvme-testing.md). Skips (exit 77) like it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VUS_GUEST_NVME_MODES=message-dma exec bash "$here/guest_nvme.sh"
