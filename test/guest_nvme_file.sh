#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# test/guest_nvme.sh with a file-backed namespace: vusd creates a 64 MiB
# file and serves its I/O through io_uring (docs/nvme.md section 7b) under
# its seccomp filter; guest RAM shared. After the guest's checks the host
# runs e2fsck on the file itself. Skips (exit 77) like guest_nvme.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VUS_GUEST_NVME_MODES=file exec bash "$here/guest_nvme.sh"
