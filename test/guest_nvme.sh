#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Guest test for samples/nvme-emu: vusd serves an nvme device (64 MiB in
# RAM), QEMU attaches it through vfio-user-pci, and Debian's own kernel
# (linux-image-amd64) must
#   1. bind its stock nvme driver to 1234:7e59 and show /dev/nvme0n1 of
#      exactly 64 MiB,
#   2. make an ext4 file system on it (mkfs.ext4 from the host's
#      e2fsprogs), write files of random data, drop the caches and read
#      them back with the same checksums,
#   3. survive a controller reset from sysfs with a write in flight (the
#      write completes, its data reads back),
#   4. find the file system clean (e2fsck -fn),
#   5. run a short fio verify job on the raw device when fio is installed
#      on the host (copied into the guest; skipped with a message if not).
# With guest RAM shared with vusd (DMA through mapped memory);
# test/guest_nvme_message_dma.sh runs the same with plain RAM (every DMA a
# DMA_READ/DMA_WRITE message) through VUS_GUEST_NVME_MODES=message-dma;
# test/guest_nvme_file.sh with a file-backed namespace (io_uring) through
# VUS_GUEST_NVME_MODES=file.
# How the guest is built: docs/guests.md; what is tested and why:
# docs/nvme-testing.md.
#
# Needs VUS_QEMU naming a QEMU with vfio-user-pci (QEMU >= 10.1) and a
# vusd that has the nvme device type; otherwise it prints "skipped: <why>"
# and exits 77 (ctest: skipped).
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"

guest_need_qemu
vusd=$GUEST_BUILD/bin/vusd
[ -x "$vusd" ] || guest_fail "$vusd is not built"
# The whole text first: grep -q would close the pipe early and, with
# pipefail, vusd's SIGPIPE would read as "no such type".
vusd_help=$("$vusd" --help 2>&1)
grep -qE '^  nvme ' <<<"$vusd_help" || guest_skip "vusd has no nvme device type"
for tool in mkfs.ext4 e2fsck; do
	command -v "$tool" >/dev/null || guest_skip "$tool is not installed (e2fsprogs)"
done
guest_setup nvme

size_mb=64
root=$(guest_root_new "$work/root")
guest_add_module "$root" nvme
guest_add_module "$root" crc32c_generic # ext4's metadata checksums (crypto API)
guest_add_module "$root" ext4
guest_add_binary "$root" "$(command -v mkfs.ext4)" /sbin/mkfs.ext4
guest_add_binary "$root" "$(command -v e2fsck)" /sbin/e2fsck
fio_note="fio not installed on the host: fio verify skipped"
if command -v fio >/dev/null; then
	guest_add_binary "$root" "$(command -v fio)" /bin/fio
	fio_note="fio verify ran"
fi
{
	echo "expect_sectors=$((size_mb * 2048))"
	cat <<'EOF_GUEST'
fail() {
	echo "GUEST: FAIL $*"
	exit 1
}
dev=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x7e59 ]; then
		dev=$d
	fi
done
[ -n "$dev" ] || fail "no 1234:7e59 PCI device"
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt $((300 * GUEST_SCALE)) ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -e "$dev/driver" ] || fail "no driver bound to ${dev##*/}"
echo "GUEST: ${dev##*/} bound to $(basename "$(readlink "$dev/driver")")"
[ -b /dev/nvme0n1 ] || fail "no /dev/nvme0n1"
sectors=$(cat /sys/block/nvme0n1/size)
[ "$sectors" = "$expect_sectors" ] || fail "nvme0n1 has $sectors sectors, expected $expect_sectors"
echo "GUEST: nvme0n1 $sectors sectors"

mkfs.ext4 -q -F /dev/nvme0n1 || fail "mkfs.ext4"
mount -t ext4 /dev/nvme0n1 /mnt || fail "mount"
for n in 1 2 3 4; do
	dd if=/dev/urandom of=/mnt/f$n bs=64k count=$((n * 8)) 2>/dev/null || fail "write f$n"
done
md5sum /mnt/f* >/tmp/sums
umount /mnt || fail "umount"
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/nvme0n1 /mnt || fail "mount again"
md5sum -c /tmp/sums >/dev/null || fail "checksums after drop_caches"
echo "GUEST: files read back after drop_caches"

# A controller reset while a write is in flight: Linux requeues it.
dd if=/dev/urandom of=/mnt/g bs=64k count=96 conv=fsync 2>/dev/null &
pid=$!
sleep 0.2
echo 1 >/sys/class/nvme/nvme0/reset_controller || fail "reset_controller"
wait $pid || fail "write across the reset"
md5sum /mnt/g >/tmp/g
umount /mnt || fail "umount after reset"
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/nvme0n1 /mnt || fail "mount after reset"
md5sum -c /tmp/g >/dev/null || fail "checksum of the write across the reset"
md5sum -c /tmp/sums >/dev/null || fail "checksums after the reset"
umount /mnt || fail "umount"
echo "GUEST: reset with a write in flight, data intact"
e2fsck -fn /dev/nvme0n1 >/tmp/fsck 2>&1 || { cat /tmp/fsck; fail "e2fsck"; }
echo "GUEST: e2fsck clean"

if [ -x /bin/fio ]; then
	fio --name=verify --filename=/dev/nvme0n1 --direct=1 --ioengine=psync \
		--rw=randwrite --bs=4k --size=4M --verify=crc32c --do_verify=1 \
		--eta=never --output=/tmp/fio.txt || { cat /tmp/fio.txt; fail "fio verify"; }
	grep -q "err= 0" /tmp/fio.txt || { cat /tmp/fio.txt; fail "fio reported errors"; }
	echo "GUEST: fio verify passed"
fi
exit 0
EOF_GUEST
} | guest_script "$root"
guest_pack "$root" "$work/initrd.gz"

run_guest() {
	local mode=$1 sock=$GUEST_SOCKS/nvme-$1.sock log=$work/vusd-$1.log args=() rc=0
	local spec="nvme,size=${size_mb}M" img=$work/ns-$1.img
	case $mode in *message-dma) args=(--no-shared-ram) ;; esac
	# file: the namespace is a file vusd creates, I/O through io_uring
	# under vusd's seccomp filter (docs/nvme.md section 7b);
	# file-message-dma: the same without shared RAM (bounce buffers).
	case $mode in file*) spec="nvme,file=$img,size=${size_mb}M" ;; esac
	# VUS_GUEST_NVME_VUSD_ARGS: more vusd options (e.g. --log-level trace).
	# shellcheck disable=SC2086
	"$vusd" ${VUS_GUEST_NVME_VUSD_ARGS:-} --device "$spec" --socket-path "$sock" \
		>"$log" 2>&1 &
	local pid=$!
	guest_track "$pid"
	guest_wait_socket "$sock" 10
	guest_start "$work/initrd.gz" "$work/guest-$mode.log" --sock "$sock" "${args[@]}"
	guest_wait 120 || rc=$?
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cp "$GUEST_LOG" "$GUEST_BUILD/guest_nvme-$mode.log" # the last run's console
	if [ "$rc" != 0 ]; then
		guest_show_log "$log" | tail -n 400
		cp "$log" "$GUEST_BUILD/guest_nvme-$mode-vusd.log"
		guest_fail "$mode: guest result $rc (0 = passed, 124 = timed out, 125 = no result)"
	fi
	grep "^GUEST:" "$GUEST_LOG" | sed "s/^/$mode: /"
	if [[ $mode == file* ]]; then
		local vlog
		vlog=$(cat "$log")
		[[ $vlog != *"io_uring unavailable"* ]] || guest_fail "file: vusd fell back to pread/pwrite"
		[[ $vlog != *"seccomp: denied"* ]] || guest_fail "file: the seccomp filter denied a call"
		# The guest's data is in the file itself: with fio's raw-device
		# job (the first 4 MiB) the file system no longer checks, so
		# e2fsck only without it; always, the file is the namespace's
		# size and holds data past fio's range.
		[ "$(stat -c %s "$img")" = $((size_mb << 20)) ] || guest_fail "file: backing file size"
		if cmp -s -n $((32 << 20)) <(tail -c +$(((4 << 20) + 1)) "$img") /dev/zero; then
			guest_fail "file: nothing written past 4 MiB of the backing file"
		fi
		if ! grep -q "GUEST: fio verify passed" "$GUEST_LOG"; then
			e2fsck -fn "$img" >"$work/fsck-host.txt" 2>&1 ||
				{ cat "$work/fsck-host.txt"; guest_fail "file: e2fsck of the backing file"; }
			echo "file: the backing file holds a clean ext4 (host e2fsck)"
		fi
		echo "file: the backing file holds the guest's data"
	fi
}

# VUS_GUEST_NVME_MODES: the runs, shared-ram (default), message-dma, file,
# file-message-dma.
modes=${VUS_GUEST_NVME_MODES:-shared-ram}
for mode in $modes; do
	SECONDS_START=$SECONDS
	run_guest "$mode"
	echo "$mode: $((SECONDS - SECONDS_START)) s"
done
echo "guest_nvme: passed (nvme bound, ext4 written and verified, reset mid-I/O survived, fsck clean; $fio_note; $modes)"
