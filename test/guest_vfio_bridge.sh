#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Guest test of the kernel-VFIO bridge (vusd device type "vfio",
# docs/vfio-bridge.md), with no hardware: a q35 guest with QEMU's
# emulated Intel IOMMU (interrupt remapping on), QEMU's edu device and an
# emulated nvme controller. Inside the guest, Debian's kernel binds both
# to vfio-pci, vusd bridges them, and test/guest/vfio_bridge_client.c
# drives them with the vus client library:
#   - errors: a device bound to no driver, one bound to another driver
#     (nvme), a group that is not viable, a nonexistent device;
#   - edu: identity (REGION_READ and mmap of the VFIO fd passed on),
#     factorial, an MSI through the client's eventfd, INTx with mask, unmask and resample, DMA both ways
#     through the IOMMU, a read-only window the device cannot write, an
#     unmapped window it cannot read, a map without fd refused; a second
#     client finds bus master off; DEVICE_RESET of it (no reset in the
#     kernel) is ENOTTY; migration is absent (DEVICE_FEATURE as the kernel
#     answers: ENOTTY);
#   - two edu functions of one group behind a PCIe root port, served by one
#     vusd; DEVICE_RESET is a hot reset of the port's bus (no FLR);
#   - permission: vusd as nobody on /dev/vfio/N (or the cdev);
#   - nvme: its MSI-X BAR arrives MSIX_MAPPABLE as the kernel says; the
#     tests' userspace NVMe driver (test/helpers/nvme_drv.h), unchanged:
#     Identify, an I/O queue pair with MSI-X, 64 KiB written and read
#     back; DEVICE_RESET (FLR) leaves the controller disabled;
#   - the cost of a register read, a DMA map + unmap and an MSI through
#     the bridge against kernel VFIO directly (printed, not asserted).
# VFIO_BRIDGE_IOMMU=iommufd (test/guest_vfio_bridge_iommufd.sh) runs it all
# with iommu=iommufd on a kernel that has iommufd, or skips saying why;
# otherwise the served devices use iommu=auto (legacy on Debian 12's 6.1).
# How the guest is built: docs/guests.md. Needs VUS_QEMU; otherwise it
# prints "skipped: <why>" and exits 77.
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"

guest_need_qemu
vusd=$GUEST_BUILD/bin/vusd
client=$GUEST_BUILD/bin/vfio_bridge_client
[ -x "$vusd" ] || guest_fail "$vusd is not built"
[ -x "$client" ] || guest_fail "$client is not built"
# The whole text first: grep -q would close the pipe early and, with
# pipefail, vusd's SIGPIPE would read as "no such type".
vusd_help=$("$vusd" --help 2>&1)
grep -qE '^  vfio ' <<<"$vusd_help" || guest_skip "vusd has no vfio device type"
qemu_devices=$("$GUEST_QEMU" -device help 2>&1 || true)
for d in edu nvme intel-iommu; do
	grep -q "\"$d\"" <<<"$qemu_devices" || guest_skip "VUS_QEMU has no $d device"
done
guest_setup vfio
# The iommufd pass (test/guest_vfio_bridge_iommufd.sh): the same test on a
# kernel with iommufd and the VFIO cdev, vusd with iommu=iommufd.
iommu=${VFIO_BRIDGE_IOMMU:-legacy}
if [ "$iommu" = iommufd ]; then
	# Fetching trixie-backports' kernel costs a ~100 MB download only to
	# find that Debian builds it without CONFIG_IOMMUFD (6.1, 6.12 and 7.3
	# checked): opt in with VUS_GUEST_IOMMUFD=1 to check again.
	[ "${VUS_GUEST_IOMMUFD:-0}" = 1 ] ||
		guest_skip "no Debian kernel has CONFIG_IOMMUFD (6.1, 6.12, 7.3 checked); set VUS_GUEST_IOMMUFD=1 to fetch trixie-backports' kernel and try"
	# shellcheck source=test/helpers/guest_kernel_iommufd.bash
	source "$src/test/helpers/guest_kernel_iommufd.bash"
	guest_kernel_iommufd
fi
iommufd_mod=${GUEST_IOMMUFD_MODULE:-}
echo "guest kernel: $GUEST_KPKG, iommu=$iommu"

root=$(guest_root_new "$work/root")
guest_add_module "$root" vfio
guest_add_module "$root" vfio_iommu_type1
guest_add_module "$root" vfio_pci
[ -z "$iommufd_mod" ] || guest_add_module "$root" iommufd
guest_add_module "$root" nvme # a host driver, for the "bound elsewhere" and group errors
guest_add_binary "$root" "$vusd" /bin/vusd
guest_add_binary "$root" "$vusctl" /bin/vusctl
guest_add_binary "$root" "$client" /bin/vfio_bridge_client
{
	echo "VUSD_TRACE=${VUSD_TRACE:-}"
	echo "IOMMU=$iommu"
	cat <<'EOF_GUEST'
fail() {
	echo "GUEST: FAIL $*"
	[ -f /tmp/vusd.log ] && sed 's/^/GUEST: vusd: /' /tmp/vusd.log
	exit 1
}
find_dev() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			echo "${d##*/}"
			return
		fi
	done
}
edu=$(find_dev 0x1234 0x11e8)
nvme=$(find_dev 0x1b36 0x0010)
[ -n "$edu" ] && [ -n "$nvme" ] || fail "edu ($edu) or nvme ($nvme) missing"
[ -e "/sys/bus/pci/devices/$edu/iommu_group" ] || fail "no IOMMU group: intel_iommu not on?"
if [ "$IOMMU" = iommufd ] && [ ! -e /dev/iommu ]; then
	echo "GUEST: skipped: the guest kernel $(uname -r) has no /dev/iommu"
	exit 77
fi
echo "GUEST: kernel $(uname -r), iommu=$IOMMU"

# Not bound to vfio-pci (edu has no guest driver): a clear error, vusd exits.
if vusd --device "vfio,iommu=$IOMMU,host=$edu" --socket-path /tmp/x.sock >/tmp/err.log 2>&1; then
	fail "vusd served an unbound device"
fi
grep -q "not bound to vfio-pci.*drivers_probe" /tmp/err.log || fail "unbound: $(cat /tmp/err.log)"
echo "GUEST: unbound device refused: $(cat /tmp/err.log)"
if vusd --device "vfio,iommu=$IOMMU,host=0000:00:1f.7" --socket-path /tmp/x.sock >/tmp/err.log 2>&1; then
	fail "vusd served a nonexistent device"
fi
grep -q "no PCI device" /tmp/err.log || fail "nonexistent: $(cat /tmp/err.log)"

# Bound to another driver (the guest's nvme driver took it).
[ "$(basename "$(readlink "/sys/bus/pci/devices/$nvme/driver")")" = nvme ] ||
	fail "$nvme is not bound to nvme"
if vusd --device "vfio,iommu=$IOMMU,host=$nvme" --socket-path /tmp/x.sock >/tmp/err.log 2>&1; then
	fail "vusd served a device bound to nvme"
fi
grep -q "is bound to nvme, not vfio-pci; rebind it" /tmp/err.log || fail "bound: $(cat /tmp/err.log)"
echo "GUEST: device bound to nvme refused"
echo "$nvme" >"/sys/bus/pci/devices/$nvme/driver/unbind"

# Group not viable: edu2 (06.0) shares its IOMMU group with the nvme
# function 06.1 (a multifunction slot without ACS), which nvme holds.
edu2=0000:00:06.0
echo vfio-pci >"/sys/bus/pci/devices/$edu2/driver_override"
echo "$edu2" >/sys/bus/pci/drivers_probe
[ "$(readlink /sys/bus/pci/devices/$edu2/iommu_group)" = "$(readlink /sys/bus/pci/devices/0000:00:06.1/iommu_group)" ] ||
	fail "06.0 and 06.1 are not in one IOMMU group"
if vusd --device "vfio,iommu=$IOMMU,host=$edu2" --socket-path /tmp/x.sock >/tmp/err.log 2>&1; then
	fail "vusd served a device of a group that is not viable"
fi
grep -q "is not viable.*0000:00:06.1 (nvme)" /tmp/err.log || fail "viable: $(cat /tmp/err.log)"
echo "GUEST: group not viable refused: $(cat /tmp/err.log)"

# Two edu functions behind a PCIe root port (a multifunction device
# without ACS: one IOMMU group, and no function reset, since a bus reset
# would hit the sibling).
hr0=$(ls -d /sys/bus/pci/devices/0000:0[1-9a-f]:00.0 | head -n 1)
hr0=${hr0##*/}
hr1=${hr0%.0}.1
[ "$(cat "/sys/bus/pci/devices/$hr0/device")" = 0x11e8 ] || fail "no edu behind the root port ($hr0)"
[ "$(readlink "/sys/bus/pci/devices/$hr0/iommu_group")" = "$(readlink "/sys/bus/pci/devices/$hr1/iommu_group")" ] ||
	fail "$hr0 and $hr1 are not in one IOMMU group"
# What the kernel can reset, as it says (sysfs reset_method; empty: none).
for d in $edu $nvme $hr0 $hr1; do
	echo "GUEST: reset_method $d: $(cat "/sys/bus/pci/devices/$d/reset_method" 2>/dev/null || echo none)"
done

for d in $edu $nvme $hr0 $hr1; do
	echo vfio-pci >"/sys/bus/pci/devices/$d/driver_override"
	echo "$d" >/sys/bus/pci/drivers_probe
	[ "$(basename "$(readlink "/sys/bus/pci/devices/$d/driver")")" = vfio-pci ] ||
		fail "$d not bound to vfio-pci"
done
echo "GUEST: edu $edu, nvme $nvme, edu $hr0 and $hr1 bound to vfio-pci"

# Permission: an ordinary user cannot open /dev/vfio/N (root's, 0600).
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
echo 'nogroup:x:65534:' >>/etc/group
if su -s /bin/sh nobody -c "vusd --device vfio,iommu=$IOMMU,host=$hr0 --socket-path /tmp/x.sock" \
	>/tmp/err.log 2>&1; then
	fail "vusd as nobody opened the device"
fi
grep -q "/dev/[a-z/]*[0-9]*: permission denied; run vusd as root or give its user the" /tmp/err.log ||
	fail "permission: $(cat /tmp/err.log)"
echo "GUEST: permission on the VFIO node refused: $(cat /tmp/err.log)"

# The served devices: the pass's mode, the default (auto) in the legacy
# pass (no /dev/iommu on Debian 12's kernel: legacy, which the log says).
MAIN_IOMMU=$IOMMU
[ "$IOMMU" = legacy ] && MAIN_IOMMU=auto

# Baseline before vusd holds the group.
vfio_bridge_client direct "$edu" 200 "$IOMMU" >/tmp/direct.log || fail "direct: $(cat /tmp/direct.log)"
cat /tmp/direct.log

vusd ${VUSD_TRACE:-} --device "vfio,name=edu,iommu=$MAIN_IOMMU,host=$edu" --socket-path /tmp/edu.sock \
	--device "vfio,name=nvme,iommu=$MAIN_IOMMU,host=/sys/bus/pci/devices/$nvme" --socket-path /tmp/nvme.sock \
	--device "vfio,name=hr0,iommu=$MAIN_IOMMU,host=$hr0" --socket-path /tmp/hr0.sock \
	--device "vfio,name=hr1,iommu=$MAIN_IOMMU,host=$hr1" --socket-path /tmp/hr1.sock \
	--control /tmp/ctl.sock >/tmp/vusd.log 2>&1 &
vusd_pid=$!
i=0
while { [ ! -S /tmp/edu.sock ] || [ ! -S /tmp/hr1.sock ]; } && [ $i -lt $((100 * GUEST_SCALE)) ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -S /tmp/hr1.sock ] || fail "vusd did not listen"
grep "reset:" /tmp/vusd.log | sed 's/^/GUEST: /'
grep -q "hr0 ($hr0): reset: no function reset; a hot reset of its slot or bus, which resets .*$hr1" /tmp/vusd.log ||
	fail "hr0's reset is not a hot reset"
vfio_bridge_client edu /tmp/edu.sock 200 >/tmp/edu.log 2>&1 || { cat /tmp/edu.log; fail edu; }
cat /tmp/edu.log
vfio_bridge_client edu-after /tmp/edu.sock || fail "edu after disconnect"
vfio_bridge_client hot-reset /tmp/hr0.sock /tmp/hr1.sock || fail "hot reset"
if [ "$IOMMU" = iommufd ]; then
	grep -q "edu ($edu): opened through its VFIO cdev, bound to iommufd" /tmp/vusd.log ||
		fail "edu not opened through iommufd"
	grep -q "hr0 ($hr0): hot reset (iommufd) reset .*$hr1" /tmp/vusd.log ||
		fail "no hot reset log line"
else
	grep -q "edu ($edu): opened through IOMMU group [0-9]*, legacy container" /tmp/vusd.log ||
		fail "edu not opened through the legacy container"
	grep -q "hr0 ($hr0): hot reset (1 group) reset $hr0 (group [0-9]*), $hr1" /tmp/vusd.log ||
		grep -q "hr0 ($hr0): hot reset (1 group) reset $hr1 (group [0-9]*), $hr0" /tmp/vusd.log ||
		fail "no hot reset log line"
fi
grep -q "edu ($edu): migration: not offered by the kernel driver (Inappropriate ioctl" /tmp/vusd.log ||
	fail "no log line for migration absent"
grep -q "edu ($edu): reset refused: the kernel offers neither" /tmp/vusd.log ||
	fail "no log line for the reset refused"
vfio_bridge_client nvme /tmp/nvme.sock || fail nvme
# Migration is the kernel's, and edu's driver (vfio-pci) has none: info
# says passthrough, not the library's constant "running".
vusctl --control /tmp/ctl.sock info edu >/tmp/info.txt 2>&1 || fail "info edu: $(cat /tmp/info.txt)"
grep -q "^migration state: passthrough$" /tmp/info.txt || fail "info edu: $(cat /tmp/info.txt)"
vusctl --json --control /tmp/ctl.sock info edu >/tmp/info.json 2>&1 || fail "info edu --json"
grep -qE '"migration": ?"passthrough"' /tmp/info.json && grep -qE '"migration_passthrough": ?true' /tmp/info.json ||
	fail "info edu --json: $(cat /tmp/info.json)"
echo "GUEST: vusctl info edu: $(grep '^migration' /tmp/info.txt)"
grep -q "without an fd refused" /tmp/vusd.log || fail "no log line for the map without fd"
direct=$(sed -n 's/.*direct_ns \([0-9]*\).*/\1/p' /tmp/direct.log)
bridge=$(sed -n 's/.*bridge_ns \([0-9]*\).*/\1/p' /tmp/edu.log)
echo "GUEST: register read: bridge ${bridge} ns, kernel VFIO ${direct} ns," \
	"ratio $((bridge / (direct > 0 ? direct : 1)))"
dmap=$(sed -n 's/.*direct_map_ns \([0-9]*\).*/\1/p' /tmp/direct.log)
bmap=$(sed -n 's/.*bridge_map_ns \([0-9]*\).*/\1/p' /tmp/edu.log)
echo "GUEST: 4 KiB map+unmap: bridge ${bmap} ns, kernel VFIO ${dmap} ns," \
	"ratio $((bmap / (dmap > 0 ? dmap : 1)))"
kill "$vusd_pid"
wait "$vusd_pid" || true
# The direct baseline once more, after the bridge: the host's load drifts.
vfio_bridge_client direct "$edu" 200 "$IOMMU" >/tmp/direct2.log || fail "direct: $(cat /tmp/direct2.log)"
dirq=$(sed -n 's/.*direct_irq_ns \([0-9]*\).*/\1/p' /tmp/direct.log)
dirq2=$(sed -n 's/.*direct_irq_ns \([0-9]*\).*/\1/p' /tmp/direct2.log)
birq=$(sed -n 's/.*bridge_irq_ns \([0-9]*\).*/\1/p' /tmp/edu.log)
davg=$(((dirq + dirq2) / 2))
echo "GUEST: MSI raise to eventfd (median): bridge ${birq} ns, kernel VFIO ${davg} ns" \
	"(${dirq} before, ${dirq2} after), ratio x100 $((birq * 100 / (davg > 0 ? davg : 1)))"
# An ASan/UBSan build (VUS_BUILD_DIR=build-asan) reports here.
if grep -qE "Sanitizer|runtime error" /tmp/vusd.log /tmp/edu.log; then
	fail "sanitizer report"
fi
dmesg | grep -i -E "DMAR|vfio" | tail -5
exit 0
EOF_GUEST
} | guest_script "$root"
guest_pack "$root" "$work/initrd.gz"
truncate -s 16M "$work/nvme.img"
# QEMU's option syntax separates with commas: a comma in the clone's path
# is written twice.
img=${work//,/,,}/nvme.img
start=$SECONDS
rc=0
guest_start "$work/initrd.gz" "$work/guest.log" --append "intel_iommu=on" -- \
	-device intel-iommu,intremap=on -device edu \
	-device edu,addr=06.0,multifunction=on -device nvme,addr=06.1,serial=vus-group \
	-drive "if=none,id=nvm,file=$img,format=raw" -device nvme,serial=vus-bridge,drive=nvm \
	-device pcie-root-port,id=rp1,chassis=1,slot=1,addr=08.0 \
	-device edu,bus=rp1,addr=00.0,multifunction=on -device edu,bus=rp1,addr=00.1
guest_wait 280 || rc=$?
grep '^GUEST' "$GUEST_LOG" || true
if ((rc == 77)); then
	guest_skip "$(sed -n 's/^GUEST: skipped: //p' "$GUEST_LOG" | head -n 1)"
fi
if ((rc != 0)); then
	guest_show_log
	guest_fail "guest exited with $rc"
fi
echo "guest_vfio_bridge (iommu=$iommu, $GUEST_KPKG): passed in $((SECONDS - start)) s"
