#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Guest test for samples/gpio: Debian's own kernel (linux-image-amd64, 6.1
# on Debian 12) boots under QEMU with the gpio device attached through
# vfio-user-pci, and its gpio-pci-idio-16 driver must
#   1. bind to 494f:0dc8,
#   2. drive outputs the host sees (the guest sets OUT0 and OUT9; the
#      device, served by build/bin/vus-gpio-example, reports outputs=0x0201),
#   3. take an interrupt for an input the host toggles (set-input 3 1 once
#      the device reports the guest enabled its interrupt; the guest waits
#      for the edge on IIN3 through the GPIO character device).
# What the driver does: samples/gpio/README.md; how guests are built:
# docs/guests.md (test/helpers/guest_lib.bash).
#
# Needs VUS_QEMU naming a QEMU with vfio-user-pci (QEMU >= 10.1); without
# one it prints "skipped: <why>" and exits 77 (ctest: skipped).
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"

example=$GUEST_BUILD/bin/vus-gpio-example
[ -x "$example" ] || guest_fail "$example is not built"
guest_setup gpio

root=$(guest_root_new "$work/root")
guest_add_module "$root" gpio-pci-idio-16
guest_add_static "$root" "$src/test/guest/idio16_guest.c" /idio16-guest
guest_script "$root" <<'EOF_GUEST'
dev=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/vendor")" = 0x494f ] && [ "$(cat "$d/device")" = 0x0dc8 ]; then
		dev=$d
	fi
done
if [ -z "$dev" ]; then
	echo "GUEST: FAIL no 494f:0dc8 PCI device"
	exit 1
fi
if [ ! -e "$dev/driver" ]; then
	echo "GUEST: FAIL no driver bound to ${dev##*/}"
	exit 1
fi
echo "GUEST: ${dev##*/} bound to $(basename "$(readlink "$dev/driver")")"
chip=$(ls -d "$dev"/gpiochip* 2>/dev/null | head -n 1)
if [ -z "$chip" ]; then
	echo "GUEST: FAIL no gpiochip under ${dev##*/}"
	exit 1
fi
if ! /idio16-guest "/dev/${chip##*/}"; then
	# What the guest kernel saw, for the log: did the INTx arrive (its
	# count), which lines are requested with edges.
	echo "GUEST: /proc/interrupts:"
	sed 's/^/GUEST:   /' /proc/interrupts
	exit 1
fi
EOF_GUEST
guest_pack "$root" "$work/initrd.gz"

# ---- the device, then the guest --------------------------------------

sock=$GUEST_SOCKS/gpio.sock
ctl=$work/ctl
devlog=$work/device.log
mkfifo "$ctl"
"$example" --socket-path "$sock" <"$ctl" >"$devlog" 2>&1 &
guest_track $!
exec 3>"$ctl" # the example's stdin: set-input commands

guest_wait_for "$devlog" "^ready " 10
guest_start "$work/initrd.gz" "$work/guest.log" --sock "$sock"

# The guest drives OUT0 and OUT9 high; the device must see it.
guest_wait_for "$devlog" "outputs=0x0201" 300
echo "outputs from the guest reached the device"
# The guest's edge request enables the interrupt (read of offset 2):
# only then is an input edge latched.
guest_wait_for "$devlog" "irq=1" 120
echo "set-input 3 1" >&3
echo "input 3 raised on the host"

rc=0
guest_wait 120 || rc=$?
if [ "$rc" != 0 ]; then
	guest_show_log "$devlog"
	guest_fail "guest result $rc (0 = passed, 124 = timed out, 125 = no result)"
fi
grep -q "GUEST: .* bound to pci-idio-16" "$GUEST_LOG" || {
	guest_show_log "$devlog"
	guest_fail "the guest did not report the pci-idio-16 driver bound"
}
grep "^GUEST:" "$GUEST_LOG"
echo "guest_gpio: passed (driver bound, outputs reached the device, input edge interrupted)"
