#!/bin/bash
# Build vusd and serve the sample device (testdev) on a vfio-user socket.
# Usage: scripts/run-demo.sh [--guest] [extra vusd options, e.g. --trace]
#
# Only vusd and vusctl are built (the test suite is scripts/test.sh's
# business). The banner comes once vusd's socket is there; if vusd cannot
# start (the socket is taken, ...), its error is what you see, and this
# script exits with vusd's status.
#
# --guest: also boot a small Linux guest (Debian's kernel and busybox, as
# the guest tests do; docs/guests.md) attached to testdev and a gpio
# device, print what it sees (lspci, bound drivers, an interrupt
# arriving), power it off and stop (scripts/demo-guest.sh). Needs VUS_QEMU
# naming a QEMU >= 10.1 with vfio-user-pci (docs/qemu.md); without one it
# says so and exits 77.
#
# Environment: VUS_DEMO_SOCKET (default /tmp/vus-testdev.sock) and
# VUS_BUILD_DIR (default build/ in the tree) -- test/readme_demo.sh uses
# them to run this script inside the test suite.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sock=${VUS_DEMO_SOCKET:-/tmp/vus-testdev.sock}
build=${VUS_BUILD_DIR:-$root/build}
guest=0
if [[ ${1:-} == --guest ]]; then
	guest=1
	shift
fi

# shellcheck source=scripts/deps.sh
source "$root/scripts/deps.sh"
vus_install_deps

cmake -S "$root" -B "$build"
cmake --build "$build" -j"$(nproc)" --target vusd vusctl

if ((guest)); then
	exec "$root/scripts/demo-guest.sh" "$@"
fi

# A socket file may be there already (stale, or another server's): the
# banner waits for the one this vusd binds, a new inode.
old=$(stat -c %i "$sock" 2>/dev/null || true)
"$build/bin/vusd" --device testdev --socket-path "$sock" "$@" &
vusd=$!
trap 'kill -TERM "$vusd" 2>/dev/null || true' TERM INT HUP

while :; do
	if ! kill -0 "$vusd" 2>/dev/null; then
		status=0
		wait "$vusd" || status=$?
		echo "run-demo: vusd exited with status $status before serving $sock (its" \
			"error is above)" >&2
		exit "$status"
	fi
	if [[ -S $sock ]]; then
		now=$(stat -c %i "$sock" 2>/dev/null || true)
		[[ -n $now && $now != "$old" ]] && break
	fi
	sleep 0.05
done

cat <<MSG

vusd is serving testdev (PCI 1234:7e57) on $sock. Attach QEMU >= 10.1 (README
"Attaching QEMU": where to get it, the whole command line) with:

  -object memory-backend-memfd,id=mem,size=512M,share=on -machine q35,memory-backend=mem \\
  -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"$sock"}}'

Or look at it from here: $build/bin/vusctl info $sock
In the guest, 'lspci -nn -d 1234:7e57' shows the device. Stop vusd with Ctrl-C.

MSG
# Until vusd exits (Ctrl-C reaches it too; SIGTERM here is passed on).
# A trapped signal interrupts wait; wait again for vusd's own status.
while kill -0 "$vusd" 2>/dev/null; do
	wait "$vusd" || true
done
status=0
wait "$vusd" || status=$?
exit "$status"
