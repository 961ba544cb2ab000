#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Guest test for live update (docs/live-update.md): Debian's kernel boots
# under QEMU with a testdev and a gpio served by one `vusd --live-update`.
# In the guest, the testdev driver (test/guest/testdev_kmod) runs its
# selftest over and over -- BARs, MSI-X interrupts with exact counts, DMA
# both ways with the data compared -- while the gpio driver
# (gpio-pci-idio-16) has driven two outputs and waits for an input edge
# (test/guest/idio16_guest.c). Meanwhile the host upgrades vusd three
# times through the control socket; each upgrade's pause is printed. After
# the last one the host checks the outputs the guest set and raises the
# input: the edge's INTx crosses every upgrade on the eventfd QEMU gave
# before them. The guest must see no error, no lost interrupt, no data
# difference, and QEMU never reconnects (it cannot).
#
# Needs VUS_QEMU naming a QEMU with vfio-user-pci (QEMU >= 10.1); without
# one it prints "skipped: <why>" and exits 77 (ctest: skipped).
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"
# shellcheck source=test/helpers/guest_kmod.bash
source "$src/test/helpers/guest_kmod.bash"

vusd=$GUEST_BUILD/bin/vusd
vusctl=$GUEST_BUILD/bin/vusctl
[ -x "$vusd" ] || guest_fail "$vusd is not built"
guest_init

work=$(mktemp -d "$GUEST_BUILD/guest-live.XXXXXX")
trap 'guest_cleanup; [ -n "${VUS_KEEP:-}" ] || rm -rf "$work"' EXIT
t0=$SECONDS

guest_kmod_build "$src/test/guest/testdev_kmod" "$work/kmod"
root=$(guest_root_new "$work/root")
cp "$work/kmod/vus_testdev.ko" "$root/vus_testdev.ko"
guest_add_module "$root" gpio-pci-idio-16
guest_add_static "$root" "$src/test/guest/idio16_guest.c" /idio16-guest
guest_script "$root" <<'EOF_GUEST'
fails=0
fail() { echo "GUEST: FAIL $*"; fails=$((fails + 1)); }
slot_of() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ] && echo "${d##*/}"
	done
}
td=$(slot_of 0x1234:0x7e57)
gp=$(slot_of 0x494f:0x0dc8)
[ -n "$td" ] || fail "no testdev"
[ -n "$gp" ] || fail "no gpio"
[ "$fails" = 0 ] || exit 1
chip=$(ls -d /sys/bus/pci/devices/"$gp"/gpiochip* 2>/dev/null | head -n 1)
[ -n "$chip" ] || { fail "no gpiochip"; exit 1; }
/idio16-guest "/dev/${chip##*/}" >/tmp/gpio.txt 2>&1 &
gpio_pid=$!
insmod /vus_testdev.ko irq_mode=msix || { fail "insmod"; exit 1; }
d=/sys/bus/pci/devices/$td
i=0
# The host upgrades vusd while these run; it waits for "loop 1" and stops
# upgrading before the last rounds.
while [ "$i" -lt "${LOOPS:-30}" ]; do
	i=$((i + 1))
	echo 1 >"$d/selftest"
	r=$(cat "$d/selftest")
	case $r in
	PASS*) echo "GUEST: loop $i $r" ;;
	*) fail "loop $i: $r (per vector: $(cat "$d/irq_counts"))" ;;
	esac
done
echo "GUEST: spurious interrupts: $(cat "$d/spurious")"
[ "$(cat "$d/spurious")" = 0 ] || fail "spurious interrupts"
wait "$gpio_pid" || fail "gpio: $(grep FAIL /tmp/gpio.txt)"
sed 's/^/[gpio] /' /tmp/gpio.txt
rmmod vus_testdev || fail "rmmod"
exit "$fails"
EOF_GUEST
guest_pack "$root" "$work/initrd.gz"

ctl=$GUEST_SOCKS/ctl.sock
cat >"$work/vusd.json" <<EOF
{ "control": "$ctl", "live_update": true,
  "devices": [
    { "name": "td", "type": "testdev", "socket": "$GUEST_SOCKS/td.sock" },
    { "name": "g0", "type": "gpio", "socket": "$GUEST_SOCKS/g0.sock" } ] }
EOF
"$vusd" --config "$work/vusd.json" >"$work/vusd.log" 2>&1 &
vusd_pid=$!
guest_track "$vusd_pid"
guest_wait_socket "$GUEST_SOCKS/td.sock" 10
guest_wait_socket "$GUEST_SOCKS/g0.sock" 10

guest_start "$work/initrd.gz" "$work/guest.log" --sock "$GUEST_SOCKS/td.sock" \
	--sock "$GUEST_SOCKS/g0.sock"
guest_wait_for "$GUEST_LOG" "GUEST: loop 1 " 300
echo "guest runs its testdev selftest in a loop ($((SECONDS - t0)) s)"

pauses=()
for n in 1 2 3; do
	out=$("$vusctl" --control "$ctl" upgrade 2>&1) || {
		guest_show_log "$work/vusd.log"
		guest_fail "upgrade $n: $out"
	}
	pid=$(sed -n 's/^upgraded: pid \([0-9]*\)$/\1/p' <<<"$out")
	[ "$pid" = "$vusd_pid" ] || guest_fail "upgrade $n: pid '$pid', expected $vusd_pid: $out"
	pauses+=("$(sed -n 's/^pause: \(.*\) ms$/\1/p' <<<"$out")")
	echo "upgrade $n: pause ${pauses[-1]} ms (guest at loop $(grep -c 'GUEST: loop' "$GUEST_LOG"))"
	sleep 1
done

# The gpio: outputs the guest set before the upgrades, then an input edge
# whose interrupt goes out on QEMU's eventfd from before them.
deadline=$((SECONDS + 60))
while :; do
	outs=$("$vusctl" --control "$ctl" gpio g0 get-outputs 2>&1 || true)
	grep -q 513 <<<"$outs" && break
	((SECONDS < deadline)) || guest_fail "the guest's gpio outputs (0x0201) never showed: $outs"
	sleep 0.5
done
"$vusctl" --control "$ctl" gpio g0 set-input 3 1 >/dev/null

rc=0
guest_wait 300 || rc=$?
grep "^GUEST:\|^\[gpio\]" "$GUEST_LOG" | tail -n 12
if [ "$rc" != 0 ]; then
	guest_show_log "$work/vusd.log"
	guest_fail "guest result $rc (0 = passed, 124 = timed out, 125 = no result)"
fi
loops=$(grep -c "GUEST: loop [0-9]* PASS" "$GUEST_LOG" || true)
grep -q "edge on IIN3: rising" "$GUEST_LOG" || guest_fail "the gpio edge did not reach the guest"
echo "guest_live_update: passed in $((SECONDS - t0)) s: 3 upgrades (pauses ${pauses[*]} ms)," \
	"$loops selftests passed, gpio edge delivered"
