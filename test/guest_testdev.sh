#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Guest test for testdev: Debian's kernel boots under QEMU with both
# testdev variants attached through vfio-user-pci (1234:7e57 conventional,
# 1234:7e58 PCI Express, served by one vusd), and a driver built here
# against Debian's linux-headers for that kernel
# (test/guest/testdev_kmod/vus_testdev.c) checks what a real driver
# relies on: BARs, interrupts by MSI-X, MSI and INTx in turn (module
# parameter irq_mode, one insmod/rmmod each) with exact counts, DMA both
# ways with DMA-API buffers and the data compared, DMA errors, D3hot/D0
# and, on the PCI Express variant, FLR. Debian's lspci in the guest checks
# the capabilities the guest sees.
#
# Two boots, side by side: guest RAM shared (QEMU passes memfds with DMA_MAP, the device
# copies directly) and plain (every DMA is a DMA_READ/DMA_WRITE message in
# QEMU's layout). What this covers: docs/testdev.md; how guests are built:
# docs/guests.md.
#
# Needs VUS_QEMU naming a QEMU with vfio-user-pci (QEMU >= 10.1); without
# one it prints "skipped: <why>" and exits 77 (ctest: skipped).
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"
# shellcheck source=test/helpers/guest_kmod.bash
source "$src/test/helpers/guest_kmod.bash"

lspci_bin=$(PATH=$PATH:/usr/sbin:/sbin command -v lspci) ||
	guest_skip "lspci is not installed (scripts/deps.sh installs pciutils)"
guest_setup testdev

guest_kmod_build "$src/test/guest/testdev_kmod" "$work/kmod"
echo "module built against linux-headers-$GUEST_KVER ($((SECONDS - t0)) s)"

root=$(guest_root_new "$work/root")
cp "$work/kmod/vus_testdev.ko" "$root/vus_testdev.ko"
guest_add_binary "$root" "$lspci_bin" /bin/lspci
guest_script "$root" <<'EOF_GUEST'
echo "GUEST: script starts at $(cut -d' ' -f1 /proc/uptime) s"
fails=0
fail() { echo "GUEST: FAIL $*"; fails=$((fails + 1)); }
slot_of() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ] && echo "${d##*/}"
	done
}
conv=$(slot_of 0x1234:0x7e57)
pcie=$(slot_of 0x1234:0x7e58)
[ -n "$conv" ] || fail "no 1234:7e57 device"
[ -n "$pcie" ] || fail "no 1234:7e58 device"
[ "$fails" = 0 ] || exit 1

# What the guest sees of the capabilities.
lspci -vvv -n -s "$conv" >/tmp/conv.txt 2>/dev/null
lspci -vvv -n -s "$pcie" >/tmp/pcie.txt 2>/dev/null
for want in "Power Management version 3" "MSI: Enable" "MSI-X: Enable" "Region 2: Memory"; do
	grep -q "$want" /tmp/conv.txt || fail "7e57: no '$want' in lspci"
	grep -q "$want" /tmp/pcie.txt || fail "7e58: no '$want' in lspci"
done
grep -q "Express" /tmp/conv.txt && fail "7e57 shows a PCI Express capability"
for want in "Express (v2)" "FLReset+" "Advanced Error Reporting" \
	"Device Serial Number 7e-57-00-00-00-00-00-01"; do
	grep -q "$want" /tmp/pcie.txt || fail "7e58: no '$want' in lspci"
done
echo "GUEST: lspci 7e58: $(grep -E 'Express|Advanced Error|Serial' /tmp/pcie.txt | tr -s '\t ' ' ' | tr '\n' ';')"

for mode in msix msi intx; do
	insmod /vus_testdev.ko irq_mode=$mode || { fail "insmod irq_mode=$mode"; continue; }
	for s in "$conv" "$pcie"; do
		d=/sys/bus/pci/devices/$s
		if [ ! -e "$d/driver" ]; then
			fail "$mode: vus_testdev did not bind to $s"
			continue
		fi
		r=$(cat "$d/selftest")
		echo "GUEST: $s $(cat "$d/device") $r (per vector: $(cat "$d/irq_counts"))"
		case $r in PASS*) ;; *) fails=$((fails + 1)) ;; esac
	done
	rmmod vus_testdev || fail "rmmod after $mode"
	[ -e "/sys/bus/pci/devices/$conv/driver" ] && fail "$conv still bound after rmmod"
done
dmesg | grep -E "vus_testdev|vfio" | tail -n 20
echo "GUEST: script ends at $(cut -d' ' -f1 /proc/uptime) s"
exit "$fails"
EOF_GUEST
guest_pack "$root" "$work/initrd.gz"

# ---- one vusd, four devices, both guests at once --------------------

# Each guest gets its own pair (a device serves one client at a time).
# The two boots run side by side to halve the wall time; each guest has
# one vCPU.
# VUS_GUEST_ISOLATION=process serves every device from a process of its
# own (docs/security.md section 6); default shared, vusd's own loop.
iso=${VUS_GUEST_ISOLATION:-shared}
cat >"$work/vusd.json" <<EOF
{ "control": "$GUEST_SOCKS/ctl.sock",
  "devices": [
    { "name": "td-shared", "type": "testdev", "socket": "$GUEST_SOCKS/td-shared.sock", "isolation": "$iso" },
    { "name": "tdx-shared", "type": "testdev", "socket": "$GUEST_SOCKS/tdx-shared.sock", "pcie": true, "isolation": "$iso" },
    { "name": "td-plain", "type": "testdev", "socket": "$GUEST_SOCKS/td-plain.sock", "isolation": "$iso" },
    { "name": "tdx-plain", "type": "testdev", "socket": "$GUEST_SOCKS/tdx-plain.sock", "pcie": true, "isolation": "$iso" } ] }
EOF
"$vusd" --config "$work/vusd.json" >"$work/vusd.log" 2>&1 &
guest_track $!
for s in td-shared tdx-shared td-plain tdx-plain; do
	guest_wait_socket "$GUEST_SOCKS/$s.sock" 10
done

declare -A pid log
t=$SECONDS
for ram in shared plain; do
	args=(--sock "$GUEST_SOCKS/td-$ram.sock" --sock "$GUEST_SOCKS/tdx-$ram.sock")
	[ "$ram" = plain ] && args+=(--no-shared-ram)
	guest_start "$work/initrd.gz" "$work/guest-$ram.log" "${args[@]}"
	pid[$ram]=$GUEST_QEMU_PID
	log[$ram]=$GUEST_LOG
done

status=0
for ram in shared plain; do
	GUEST_QEMU_PID=${pid[$ram]}
	GUEST_LOG=${log[$ram]}
	rc=0
	guest_wait 300 || rc=$?
	grep "^GUEST:" "$GUEST_LOG" | sed "s/^/[$ram] /"
	if [ "$rc" != 0 ]; then
		guest_show_log "$work/vusd.log"
		echo "FAIL: $ram RAM: guest result $rc (0 = passed, 124 = timed out, 125 = no result)"
		status=1
		continue
	fi
	# The PCI Express variant has one ERR vector: QEMU wires it for AER
	# instead of complaining (it still does for the conventional one).
	if grep -q "tdx-$ram.sock: Could not enable error recovery" "$GUEST_LOG"; then
		echo "FAIL: $ram RAM: QEMU did not wire the ERR interrupt of the PCI Express variant"
		status=1
	fi
	echo "$ram RAM: passed (both guests done after $((SECONDS - t)) s)"
done
# DMA took both paths: messages only without shared RAM (vusd's
# per-device counters).
dma_messages() {
	"$vusctl" --control "$GUEST_SOCKS/ctl.sock" stats "$1" |
		sed -n 's|.*DMA_READ/WRITE messages \([0-9]*\).*|\1|p'
}
shared_msgs=$(dma_messages td-shared)
plain_msgs=$(dma_messages td-plain)
echo "DMA_READ/WRITE messages: ${shared_msgs:-?} with shared RAM, ${plain_msgs:-?} without"
if [ "${shared_msgs:-x}" != 0 ] || [ "${plain_msgs:-0}" -lt 6 ]; then
	echo "FAIL: DMA did not take the expected paths"
	status=1
fi
[ "$status" = 0 ] || guest_fail "see above"
echo "guest_testdev: passed in $((SECONDS - t0)) s (both variants, msix/msi/intx, shared and plain RAM, isolation $iso)"
