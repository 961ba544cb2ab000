#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# testdev's fault injection against QEMU with a Linux guest: what QEMU and
# the guest do when the device misbehaves (docs/testdev.md "Fault
# injection", which records the outcome). The guest has both variants
# (td conventional, tdx PCI Express) with the testdev driver bound; at
# each step the guest announces itself, the host injects a fault through
# vusctl, and the guest reads the ID register (one REGION_READ):
#   1. fail REGION_READ EIO  -> the guest reads 0xffffffff, QEMU logs it
#   2. delay REGION_READ 1500 -> the read takes >= 1.5 s and succeeds
#   3. req                    -> QEMU's reaction to the device request
#   3b. storm (tdx, vector 0) -> the guest counts interrupts without a cause
#   4. delay 6000 (td)        -> beyond QEMU's 5 s x-msg-timeout
#   5. disconnect (td)        -> td reads 0xffffffff; tdx still works
#   6. err (tdx, AER)         -> QEMU stops the VM ("Unrecoverable error")
# Every outcome is printed and checked.
#
# Needs VUS_QEMU (QEMU >= 10.1 with vfio-user-pci); without one it prints
# "skipped: <why>" and exits 77.
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"
# shellcheck source=test/helpers/guest_kmod.bash
source "$src/test/helpers/guest_kmod.bash"

guest_setup faults

guest_kmod_build "$src/test/guest/testdev_kmod" "$work/kmod"
root=$(guest_root_new "$work/root")
cp "$work/kmod/vus_testdev.ko" "$root/vus_testdev.ko"
guest_script "$root" <<'EOF_GUEST'
slot_of() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ] && echo "${d##*/}"
	done
}
td=/sys/bus/pci/devices/$(slot_of 0x1234:0x7e57)
tdx=/sys/bus/pci/devices/$(slot_of 0x1234:0x7e58)
insmod /vus_testdev.ko irq_mode=msix || exit 1
for d in "$td" "$tdx"; do
	case $(cat "$d/selftest") in PASS*) ;; *) echo "GUEST: FAIL self-test ${d##*/}"; exit 1 ;; esac
done
# step N DEV: announce, give the host 1 s (scaled) to inject, read ID timed.
step() {
	echo "GUEST: step $1 ready"
	sleep "$GUEST_SCALE"
	t=$(cut -d' ' -f1 /proc/uptime)
	v=$(cat "$2/id")
	e=$(cut -d' ' -f1 /proc/uptime)
	echo "GUEST: step $1 id=$v took $(echo "$t $e" | awk '{ printf "%.2f", $2 - $1 }') s"
}
step 1 "$tdx"
step 2 "$tdx"
step 3 "$tdx"
before=$(cat "$tdx/spurious")
echo "GUEST: step storm ready"
sleep $((2 * GUEST_SCALE))
echo "GUEST: storm: $(($(cat "$tdx/spurious") - before)) interrupts without a cause"
step 4 "$td"
step 5 "$td"
echo "GUEST: tdx after td's disconnect: id=$(cat "$tdx/id")"
echo "GUEST: step 6 ready"
sleep $((3 * GUEST_SCALE))
echo "GUEST: still running after ERR"
exit 0
EOF_GUEST
guest_pack "$root" "$work/initrd.gz"

"$vusd" --device testdev,name=td,socket="$GUEST_SOCKS/td.sock" \
	--device testdev,name=tdx,pcie=on,socket="$GUEST_SOCKS/tdx.sock" \
	--control "$GUEST_SOCKS/ctl.sock" >"$work/vusd.log" 2>&1 &
guest_track $!
guest_wait_socket "$GUEST_SOCKS/td.sock" 10
guest_wait_socket "$GUEST_SOCKS/tdx.sock" 10
guest_wait_socket "$GUEST_SOCKS/ctl.sock" 10
ctl() { "$vusctl" --control "$GUEST_SOCKS/ctl.sock" "$@" >/dev/null; }

guest_start "$work/initrd.gz" "$work/guest.log" --sock "$GUEST_SOCKS/td.sock" --sock "$GUEST_SOCKS/tdx.sock"
guest_wait_for "$GUEST_LOG" "GUEST: step 1 ready" 180
ctl testdev tdx fail REGION_READ EIO 1
guest_wait_for "$GUEST_LOG" "GUEST: step 2 ready" 30
ctl testdev tdx delay REGION_READ 1500 1
guest_wait_for "$GUEST_LOG" "GUEST: step 3 ready" 30
req_out=$("$vusctl" --control "$GUEST_SOCKS/ctl.sock" testdev tdx req)
guest_wait_for "$GUEST_LOG" "GUEST: step storm ready" 30
ctl testdev tdx storm 0 1000 500
guest_wait_for "$GUEST_LOG" "GUEST: step 4 ready" 30
storm_out=$("$vusctl" --control "$GUEST_SOCKS/ctl.sock" testdev tdx storm-status)
ctl testdev td delay REGION_READ 6000 1
guest_wait_for "$GUEST_LOG" "GUEST: step 5 ready" 30
ctl testdev td disconnect || echo "td: no client to drop (QEMU already dropped it)"
guest_wait_for "$GUEST_LOG" "GUEST: step 6 ready" 30
ctl testdev tdx err
sleep "$(guest_secs 4)"
status=0
stopped=0
if kill -0 "$GUEST_QEMU_PID" 2>/dev/null && ! grep -q "still running after ERR" "$GUEST_LOG"; then
	stopped=1
fi
kill "$GUEST_QEMU_PID" 2>/dev/null || true
wait "$GUEST_QEMU_PID" 2>/dev/null || true
GUEST_QEMU_PID=

echo "---- what the guest saw"
grep "^GUEST:" "$GUEST_LOG"
echo "---- what QEMU said"
grep -v "^GUEST:\|^\[" "$GUEST_LOG" | grep -i "vfio\|error\|qemu" | sed 's|/[^ ]*/\(tdx\?\.sock\)|\1|g' | sort | uniq -c
check() {
	if grep -q -- "$2" "$GUEST_LOG"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (no '$2')"
		status=1
	fi
}
check "failed read: the guest reads all ones" "GUEST: step 1 id=0xffffffff"
check "failed read: QEMU reports the errno" "vfio_region_read(.*tdx.sock:region0+0x0, 4) failed: Input/output error"
check "delayed read: correct value" "GUEST: step 2 id=0x7e570001"
if awk '/GUEST: step 2 id=/ { exit !($NF + 0 >= 1.4 || $(NF-1) + 0 >= 1.4) }' "$GUEST_LOG"; then
	echo "ok: delayed read took >= 1.4 s"
else
	echo "FAIL: delayed read was not delayed"
	status=1
fi
check "after REQ the device still answers" "GUEST: step 3 id=0x7e570001"
storm_sent=$(sed -n 's/^sent: *//p' <<<"$storm_out")
storm_seen=$(sed -n 's/.*GUEST: storm: \([0-9]*\) interrupts.*/\1/p' "$GUEST_LOG")
echo "storm: vusd signalled ${storm_sent:-?} times in 0.5 s, the guest counted ${storm_seen:-?} interrupts without a cause"
if [ "${storm_sent:-0}" -gt 0 ] && [ "${storm_seen:-0}" -gt 0 ]; then
	echo "ok: storm reached the guest"
else
	echo "FAIL: storm"
	status=1
fi
check "reply later than x-msg-timeout: the guest reads all ones" "GUEST: step 4 id=0xffffffff"
check "reply later than x-msg-timeout: QEMU gives up" "timed out waiting for reply"
check "disconnected device reads all ones" "GUEST: step 5 id=0xffffffff"
check "the other device is unaffected" "GUEST: tdx after td's disconnect: id=0x7e570001"
check "ERR: QEMU reports an unrecoverable error" "Unrecoverable error detected"
if ((stopped)); then
	echo "ok: ERR: QEMU stopped the VM (the guest printed nothing more)"
else
	echo "FAIL: ERR: the VM kept running"
	status=1
fi
# QEMU 10.2 wires REQ only with vfio-pci's x-req, which vfio-user-pci
# lacks: the request reaches nobody (docs/testdev.md).
echo "REQ: $req_out (signalled: QEMU had an eventfd on REQ)"
[ "$status" = 0 ] || { guest_show_log "$work/vusd.log"; guest_fail "see above"; }
echo "guest_testdev_faults: passed in $((SECONDS - t0)) s"
