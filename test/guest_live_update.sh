#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Guest test for live update (docs/live-update.md): Debian's kernel boots
# under QEMU, twice side by side (guest RAM shared with vusd, and plain:
# every DMA a message), each guest with a testdev and a gpio served by one
# `vusd --live-update`.
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

guest_setup live

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
# Two guests side by side, each with its own testdev and gpio: RAM shared
# (DMA straight through the memfds QEMU passed) and plain (every DMA a
# DMA_READ/WRITE message: transfers in flight across an upgrade are
# cancelled into testdev's state and run again, docs/live-update.md).
cat >"$work/vusd.json" <<EOF
{ "control": "$ctl", "live_update": true,
  "devices": [
    { "name": "td-shared", "type": "testdev", "socket": "$GUEST_SOCKS/td-shared.sock" },
    { "name": "g-shared", "type": "gpio", "socket": "$GUEST_SOCKS/g-shared.sock" },
    { "name": "td-plain", "type": "testdev", "socket": "$GUEST_SOCKS/td-plain.sock" },
    { "name": "g-plain", "type": "gpio", "socket": "$GUEST_SOCKS/g-plain.sock" } ] }
EOF
"$vusd" --config "$work/vusd.json" >"$work/vusd.log" 2>&1 &
vusd_pid=$!
guest_track "$vusd_pid"
for s in td-shared g-shared td-plain g-plain; do
	guest_wait_socket "$GUEST_SOCKS/$s.sock" 10
done

declare -A pid log
for ram in shared plain; do
	args=(--sock "$GUEST_SOCKS/td-$ram.sock" --sock "$GUEST_SOCKS/g-$ram.sock")
	[ "$ram" = plain ] && args+=(--no-shared-ram)
	guest_start "$work/initrd.gz" "$work/guest-$ram.log" "${args[@]}"
	pid[$ram]=$GUEST_QEMU_PID
	log[$ram]=$GUEST_LOG
done
for ram in shared plain; do
	GUEST_QEMU_PID=${pid[$ram]}
	GUEST_LOG=${log[$ram]}
	guest_wait_for "$GUEST_LOG" "GUEST: loop 1 " 300
done
echo "both guests run their testdev selftest in a loop ($((SECONDS - t0)) s)"

pauses=()
for n in 1 2 3; do
	out=$("$vusctl" --control "$ctl" upgrade 2>&1) || {
		guest_show_log "$work/vusd.log"
		guest_fail "upgrade $n: $out"
	}
	pid_now=$(sed -n 's/^upgraded: pid \([0-9]*\)$/\1/p' <<<"$out")
	[ "$pid_now" = "$vusd_pid" ] || guest_fail "upgrade $n: pid '$pid_now', expected $vusd_pid: $out"
	pauses+=("$(sed -n 's/^pause: \(.*\) ms$/\1/p' <<<"$out")")
	echo "upgrade $n: pause ${pauses[-1]} ms (guests at loops" \
		"$(grep -c 'GUEST: loop' "${log[shared]}"), $(grep -c 'GUEST: loop' "${log[plain]}"))"
	sleep 0.5
done

# The gpios: outputs each guest set before the upgrades, then an input
# edge whose interrupt goes out on QEMU's eventfd from before them.
for ram in shared plain; do
	deadline=$((SECONDS + $(guest_secs 60)))
	while :; do
		outs=$("$vusctl" --control "$ctl" gpio "g-$ram" get-outputs 2>&1 || true)
		grep -q 513 <<<"$outs" && break
		((SECONDS < deadline)) ||
			guest_fail "$ram: the guest's gpio outputs (0x0201) never showed: $outs"
		sleep 0.5
	done
	"$vusctl" --control "$ctl" gpio "g-$ram" set-input 3 1 >/dev/null
done

status=0
for ram in shared plain; do
	GUEST_QEMU_PID=${pid[$ram]}
	GUEST_LOG=${log[$ram]}
	rc=0
	guest_wait 300 || rc=$?
	grep "^GUEST:\|^\[gpio\]" "$GUEST_LOG" | tail -n 6 | sed "s/^/[$ram] /"
	if [ "$rc" != 0 ]; then
		guest_show_log "$work/vusd.log"
		echo "FAIL: $ram RAM: guest result $rc (0 = passed, 124 = timed out, 125 = no result)"
		status=1
		continue
	fi
	if ! grep -q "edge on IIN3: rising" "$GUEST_LOG"; then
		echo "FAIL: $ram RAM: the gpio edge did not reach the guest"
		status=1
	fi
	echo "$ram RAM: passed, $(grep -c "GUEST: loop [0-9]* PASS" "$GUEST_LOG" || true) selftests"
done
[ "$status" = 0 ] || guest_fail "see above"
echo "guest_live_update: passed in $((SECONDS - t0)) s: 3 upgrades (pauses ${pauses[*]} ms)" \
	"under two guests (shared and plain RAM), gpio edges delivered"
