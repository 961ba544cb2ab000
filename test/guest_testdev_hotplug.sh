#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Hot plug of a vus device into a running guest: QEMU (q35) starts with an
# empty pcie-root-port; through QMP the test device_adds a vfio-user-pci
# for testdev's PCI Express variant (served by vusd), the guest's driver
# (test/guest/testdev_kmod) binds and passes its self-test, writes a
# marker into BAR2 and is unbound; device_del removes the device while
# the guest runs, vusd still holds the marker (read through its control
# socket), and after a second device_add the guest driver binds again and
# reads the marker back: vusd kept the device's state across the unplug
# (QEMU resets the device at each plug: RESETS grows, RAM stays).
#
# QMP goes through a pipe chardev (two FIFOs), so no socat is needed.
# Needs VUS_QEMU (QEMU >= 10.1 with vfio-user-pci); without one it prints
# "skipped: <why>" and exits 77.
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"
# shellcheck source=test/helpers/guest_kmod.bash
source "$src/test/helpers/guest_kmod.bash"

guest_setup hotplug

guest_kmod_build "$src/test/guest/testdev_kmod" "$work/kmod"
root=$(guest_root_new "$work/root")
cp "$work/kmod/vus_testdev.ko" "$root/vus_testdev.ko"
guest_script "$root" <<'EOF_GUEST'
marker=0x5eed0bad
slot_of() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1234:0x7e58 ] && echo "${d##*/}"
	done
}
# wait_dev present|absent
wait_dev() {
	i=0
	while [ $i -lt $((600 * GUEST_SCALE)) ]; do
		s=$(slot_of)
		[ "$1" = present ] && [ -n "$s" ] && return 0
		[ "$1" = absent ] && [ -z "$s" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "GUEST: FAIL device not $1 after $((60 * GUEST_SCALE)) s"
	exit 1
}
# The driver's "mark" attribute: BAR2 offset 0x100.
mark() {
	cat "/sys/bus/pci/devices/$(slot_of)/mark"
}
selftest() {
	d=/sys/bus/pci/devices/$(slot_of)
	i=0
	# The attributes appear once probe (which runs the self-test) is done.
	while [ ! -e "$d/selftest" ] && [ $i -lt $((300 * GUEST_SCALE)) ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$d/selftest" ] || { echo "GUEST: FAIL vus_testdev did not bind to ${d##*/}"; exit 1; }
	r=$(cat "$d/selftest")
	echo "GUEST: ${d##*/} $r"
	case $r in PASS*) ;; *) exit 1 ;; esac
}
insmod /vus_testdev.ko irq_mode=msi || exit 1
echo "GUEST: ready for plug"
wait_dev present
echo "GUEST: plugged at $(slot_of)"
selftest
echo $marker >"/sys/bus/pci/devices/$(slot_of)/mark"
echo "GUEST: wrote $(mark) to BAR2+0x100"
echo "$(slot_of)" >/sys/bus/pci/drivers/vus_testdev/unbind
echo "GUEST: unbound"
wait_dev absent
echo "GUEST: unplugged"
wait_dev present
echo "GUEST: plugged again at $(slot_of)"
selftest
got=$(mark)
echo "GUEST: BAR2+0x100 reads $got after re-plug"
[ "$(printf '%d' "$got")" = "$(printf '%d' $marker)" ] || { echo "GUEST: FAIL marker lost"; exit 1; }
rmmod vus_testdev || exit 1
exit 0
EOF_GUEST
guest_pack "$root" "$work/initrd.gz"

# msix=off: QEMU 10.2 aborts on device_del of a vfio-user-pci with MSI-X
# (docs/testdev.md, "Hot plug").
"$vusd" --device testdev,name=tdx,pcie=on,msix=off,socket="$GUEST_SOCKS/tdx.sock" \
	--control "$GUEST_SOCKS/ctl.sock" >"$work/vusd.log" 2>&1 &
guest_track $!
guest_wait_socket "$GUEST_SOCKS/tdx.sock" 10
guest_wait_socket "$GUEST_SOCKS/ctl.sock" 10

# The QMP pipes live in the short socket directory: QEMU's option syntax
# splits at commas, and a clone's path may hold one. Both ends are opened
# read-write so that a QEMU that died at start cannot block the open: the
# reads below time out instead.
qmp_pipe=$GUEST_SOCKS/qmp
mkfifo "$qmp_pipe.in" "$qmp_pipe.out"
guest_start "$work/initrd.gz" "$work/guest.log" -- \
	-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1 \
	-chardev pipe,id=qmp,path="$qmp_pipe" -mon chardev=qmp,mode=control
exec 7<>"$qmp_pipe.in" 8<>"$qmp_pipe.out"

# qmp JSON: send one command, print its reply (events before it skipped).
qmp() {
	local line
	echo "$1" >&7
	while IFS= read -r -t 30 line <&8; do
		case $line in
		*'"return"'* | *'"error"'*) echo "$line"; return 0 ;;
		esac
	done
	guest_fail "no QMP reply to $1"
}
qmp_ok() {
	local r
	r=$(qmp "$1")
	grep -q '"return"' <<<"$r" || { guest_show_log "$work/vusd.log"; guest_fail "QMP $1: $r"; }
}
read -r -t "$(guest_secs 30)" _ <&8 || guest_fail "no QMP greeting"
qmp_ok '{"execute":"qmp_capabilities"}'
add='{"execute":"device_add","arguments":{"driver":"vfio-user-pci","id":"hp1","bus":"rp1",'
add+='"socket":{"type":"unix","path":"'$GUEST_SOCKS/tdx.sock'"}}}'

guest_wait_for "$GUEST_LOG" "GUEST: ready for plug" 120
resets0=$("$vusctl" --control "$GUEST_SOCKS/ctl.sock" read tdx 0 0x44)
qmp_ok "$add"
echo "device_add: done"
guest_wait_for "$GUEST_LOG" "GUEST: unbound" 60
qmp_ok '{"execute":"device_del","arguments":{"id":"hp1"}}'
guest_wait_for "$GUEST_LOG" "GUEST: unplugged" 60
echo "device_del: the guest saw the device go"
# QEMU has dropped the connection once the device is finalized.
for _ in $(seq $(($(guest_secs 5) * 10))); do
	grep -q 'tdx.*client session ends' "$work/vusd.log" && break
	sleep 0.1
done
held=$("$vusctl" --control "$GUEST_SOCKS/ctl.sock" read tdx 2 0x100)
echo "vusd holds BAR2+0x100 = $held while unplugged"
grep -qi "5eed0bad" <<<"$held" || guest_fail "vusd lost the marker: $held"
qmp_ok "$add"
echo "device_add again: done"

rc=0
guest_wait 120 || rc=$?
grep "^GUEST:" "$GUEST_LOG"
if [ "$rc" != 0 ]; then
	guest_show_log "$work/vusd.log"
	guest_fail "guest result $rc (0 = passed, 124 = timed out, 125 = no result)"
fi
resets1=$("$vusctl" --control "$GUEST_SOCKS/ctl.sock" read tdx 0 0x44)
echo "RESETS before the first plug: $resets0, at the end: $resets1 (QEMU resets at each plug)"
(($((resets1)) >= $((resets0)) + 2)) || guest_fail "QEMU did not reset the device at each plug"
echo "guest_testdev_hotplug: passed in $((SECONDS - t0)) s (plug, bind, unbind, unplug, state kept, re-plug)"
