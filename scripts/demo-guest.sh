#!/bin/bash
# scripts/run-demo.sh --guest (run-demo.sh has built vusd and vusctl):
# vusd serves testdev and gpio; a small Linux guest -- Debian's own kernel
# and busybox, built the way the guest tests build theirs (docs/guests.md,
# test/helpers/guest_lib.bash) -- boots under QEMU with both attached
# through vfio-user-pci, and prints what it sees: lspci, the drivers
# bound, the gpio outputs it drives, and an interrupt arriving for an
# input the host raises. Then the guest powers off and vusd stops.
#
# Needs VUS_QEMU naming a QEMU >= 10.1 with vfio-user-pci (docs/qemu.md);
# without one it says so and exits 77, as the guest tests do. The kernel
# and busybox packages are downloaded once (apt-get download) into
# BUILD/guest-cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export VUS_SOURCE_DIR=$root
export VUS_BUILD_DIR=${VUS_BUILD_DIR:-$root/build}
# shellcheck source=test/helpers/guest_lib.bash
source "$root/test/helpers/guest_lib.bash"
bin=$VUS_BUILD_DIR/bin
start=$SECONDS

echo "demo: preparing the guest (Debian's kernel and busybox)"
guest_init
work=$(mktemp -d "$GUEST_BUILD/demo-guest.XXXXXX")
socks=$GUEST_SOCKS # short: a socket path must fit in 108 bytes
tail_pid=
trap '[[ -z $tail_pid ]] || kill "$tail_pid" 2>/dev/null; guest_cleanup; rm -rf "$work"' EXIT

rootfs=$(guest_root_new "$work/root")
guest_add_module "$rootfs" gpio-pci-idio-16
guest_add_static "$rootfs" "$root/test/guest/idio16_guest.c" /idio16-guest
guest_add_binary "$rootfs" "$(command -v lspci)" /usr/bin/lspci
[[ -f /usr/share/misc/pci.ids ]] && mkdir -p "$rootfs/usr/share/misc" &&
	cp /usr/share/misc/pci.ids "$rootfs/usr/share/misc/"
guest_script "$rootfs" <<'EOF_GUEST'
echo "GUEST: lspci -nn"
/usr/bin/lspci -nn | sed 's/^/GUEST:   /'
for d in /sys/bus/pci/devices/*; do
	id="$(cat "$d/vendor"):$(cat "$d/device")"
	case $id in
	0x1234:0x7e57 | 0x494f:0x0dc8) ;;
	*) continue ;;
	esac
	drv=none
	[ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
	echo "GUEST: ${d##*/} $id driver: $drv"
done
chip=$(ls -d /sys/bus/pci/drivers/pci-idio-16/*/gpiochip* 2>/dev/null | head -n 1)
if [ -z "$chip" ]; then
	echo "GUEST: FAIL no gpiochip from pci-idio-16"
	exit 1
fi
/idio16-guest "/dev/${chip##*/}" || exit 1
echo "GUEST: /proc/interrupts: $(grep -i idio /proc/interrupts | tr -s ' ')"
EOF_GUEST
guest_pack "$rootfs" "$work/initrd.gz"

ctl=("$bin/vusctl" --control "$socks/ctl.sock")
"$bin/vusd" --device testdev,name=td0 --socket-path "$socks/td0.sock" \
	--device gpio,name=g0 --socket-path "$socks/g0.sock" \
	--control "$socks/ctl.sock" 2>"$work/vusd.log" &
guest_track $!
guest_wait_socket "$socks/ctl.sock" 10
echo "demo: vusd serves testdev (td0) and gpio (g0); booting the guest under QEMU"
guest_start "$work/initrd.gz" "$work/guest.log" --sock "$socks/td0.sock" --sock "$socks/g0.sock"
touch "$work/guest.log"
tail -n +1 -f "$work/guest.log" | grep --line-buffered '^GUEST:' &
tail_pid=$!

# The guest's edge request enables the board's interrupt; then the host
# raises input 3, as a wire on the field side would.
deadline=$((SECONDS + 120))
until "${ctl[@]}" --json gpio g0 get 2>/dev/null | grep -q '"irq_enabled": *true'; do
	if ! kill -0 "$GUEST_QEMU_PID" 2>/dev/null || ((SECONDS > deadline)); then
		guest_show_log "$work/vusd.log"
		guest_fail "the guest did not enable the gpio interrupt"
	fi
	sleep 0.2
done
outs=$("${ctl[@]}" gpio g0 get-outputs | tr -dc '0-9')
printf 'demo: host: the guest drives the outputs to 0x%04x (OUT0 and OUT9)\n' "$outs"
"${ctl[@]}" gpio g0 set-input 3 1 >/dev/null
echo "demo: host: input 3 raised (vusctl --control CTL gpio g0 set-input 3 1)"

rc=0
guest_wait 120 || rc=$?
sleep 0.3
kill "$tail_pid" 2>/dev/null || true
tail_pid=
if ((rc != 0)); then
	guest_show_log "$work/vusd.log"
	guest_fail "guest result $rc (0 = all seen, 124 = timed out, 125 = no result)"
fi
echo "demo: host: what vusd counted"
"${ctl[@]}" stats | sed 's/^/  /'
echo "demo: done in $((SECONDS - start)) s"
