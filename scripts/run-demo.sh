#!/bin/bash
# Build vus and serve the sample device (testdev) on a vfio-user socket.
# Usage: scripts/run-demo.sh [extra vusd options, e.g. --trace]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sock=/tmp/vus-testdev.sock
# shellcheck source=scripts/deps.sh
source "$root/scripts/deps.sh"
vus_install_deps

cmake -S "$root" -B "$root/build"
cmake --build "$root/build" -j"$(nproc)"

cat <<MSG

vusd is serving testdev (PCI 1234:7e57) on $sock. Attach QEMU >= 10.1 with:

  qemu-system-x86_64 ... \\
    -object memory-backend-memfd,id=mem,size=1G,share=on -machine memory-backend=mem \\
    -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"$sock"}}'

In the guest, 'lspci -nn -d 1234:7e57' shows the device. Stop vusd with Ctrl-C.

MSG
exec "$root/build/bin/vusd" --device testdev --socket-path "$sock" "$@"
