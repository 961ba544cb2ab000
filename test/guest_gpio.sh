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
# Guest facts: shared/device-facts.md sections 1 and 3.
#
# Needs VUS_QEMU naming a QEMU with vfio-user-pci (QEMU >= 10.1); without
# one it prints "skipped: <why>" and passes. Also needs apt-get (Debian's
# packages: the kernel and busybox-static, cached in BUILD/guest-cache),
# dpkg-deb, gcc with a static libc, gzip and xz.
set -euo pipefail

skip() {
	echo "skipped: $*"
	exit 0
}

fail() {
	echo "FAIL: $*"
	exit 1
}

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
build=${VUS_BUILD_DIR:-$src/build}

# ---- 1. a QEMU that can attach a vfio-user device --------------------

[ -n "${VUS_QEMU:-}" ] ||
	skip "VUS_QEMU is not set (it must name a QEMU >= 10.1 with vfio-user-pci)"
qemu=$(command -v "$VUS_QEMU") || skip "VUS_QEMU=$VUS_QEMU is not a program"
# Read the list whole: grep -q on a pipe would SIGPIPE QEMU under pipefail.
devices=$("$qemu" -device help 2>&1 || true)
grep -q '"vfio-user-pci"' <<<"$devices" ||
	skip "VUS_QEMU=$VUS_QEMU has no vfio-user-pci device (QEMU >= 10.1 has it)"

example=$build/bin/vus-gpio-example
[ -x "$example" ] || fail "$example is not built"
for tool in apt-get apt-cache dpkg-deb gcc gzip xz; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (needed to build the guest)"
done

# ---- 2. Debian's kernel and busybox, cached under the build dir ------

cache=$build/guest-cache
mkdir -p "$cache/debs"
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kpkg" ] && [ "$(id -u)" = 0 ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$kpkg" ] || skip "apt-cache cannot resolve linux-image-amd64 (run apt-get update)"
kver=${kpkg#linux-image-}

# unpack PACKAGE DIR: the package's .deb (downloaded once into the cache)
# unpacked into DIR, once.
unpack() {
	local debs
	[ -e "$2/.unpacked" ] && return 0
	debs=("$cache/debs/$1"_*.deb)
	if [ ! -f "${debs[0]}" ]; then
		(cd "$cache/debs" && apt-get download "$1" >/dev/null 2>&1) ||
			skip "apt-get download $1 failed (no access to Debian's packages?)"
		debs=("$cache/debs/$1"_*.deb)
	fi
	rm -rf "$2"
	dpkg-deb -x "${debs[0]}" "$2"
	touch "$2/.unpacked"
}

kroot=$cache/$kpkg
broot=$cache/busybox-static
unpack "$kpkg" "$kroot"
unpack busybox-static "$broot"
kernel=$kroot/boot/vmlinuz-$kver
busybox=$broot/bin/busybox
[ -f "$kernel" ] || fail "$kpkg has no /boot/vmlinuz-$kver"
[ -x "$busybox" ] || fail "busybox-static has no /bin/busybox"

# ---- 3. the initramfs: busybox, the driver and its deps, the helper --

work=$(mktemp -d "$build/guest-gpio.XXXXXX")
dev_pid=
qemu_pid=
cleanup() {
	if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
	if [ -n "$dev_pid" ]; then kill "$dev_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

moddir=$kroot/lib/modules/$kver/kernel
init=$work/initramfs
mkdir -p "$init/bin" "$init/modules" "$init/proc" "$init/sys" "$init/dev"

modfile() { # module name -> its file; '-' and '_' are the same in names
	find "$moddir" -type f -name "${1//[-_]/[-_]}.ko*" -print -quit
}
modcat() { # module file -> its ELF bytes on stdout (6.12 ships .ko.xz)
	case $1 in
	*.xz) xz -dc "$1" ;;
	*) cat "$1" ;;
	esac
}
loaded=()
nmods=0
addmod() { # copy a module after the modules it depends on (.modinfo)
	local name=${1//-/_} file dep m
	for m in "${loaded[@]}"; do
		[ "$m" = "$name" ] && return 0
	done
	file=$(modfile "$name")
	[ -n "$file" ] || fail "module $1 is not in $kpkg"
	for dep in $(modcat "$file" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do
		addmod "$dep"
	done
	loaded+=("$name")
	nmods=$((nmods + 1))
	modcat "$file" >"$init/modules/$(printf '%02d' "$nmods")-$name.ko"
}
addmod gpio-pci-idio-16

cp "$busybox" "$init/bin/busybox"
gcc -std=gnu11 -O2 -static -Wall -Wextra -Werror -o "$init/idio16-guest" \
	"$src/test/guest/idio16_guest.c" || skip "gcc cannot link a static program (libc6-dev?)"

# Exit codes through isa-debug-exit: QEMU exits with (code << 1) | 1, so
# 85 means the guest wrote 42 (all passed); a kernel panic reboots, and
# -no-reboot turns that into exit 0.
cat >"$init/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /modules/*.ko; do
	insmod "$m" || echo "GUEST: FAIL insmod $m"
done
code=1
dev=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/vendor")" = 0x494f ] && [ "$(cat "$d/device")" = 0x0dc8 ]; then
		dev=$d
	fi
done
if [ -z "$dev" ]; then
	echo "GUEST: FAIL no 494f:0dc8 PCI device"
elif [ ! -e "$dev/driver" ]; then
	echo "GUEST: FAIL no driver bound to ${dev##*/}"
else
	echo "GUEST: ${dev##*/} bound to $(basename "$(readlink "$dev/driver")")"
	chip=$(ls -d "$dev"/gpiochip* 2>/dev/null | head -n 1)
	if [ -z "$chip" ]; then
		echo "GUEST: FAIL no gpiochip under ${dev##*/}"
	elif /idio16-guest "/dev/${chip##*/}"; then
		code=42
	fi
fi
echo "GUEST: done, code $code"
/idio16-guest exit "$code"
poweroff -f
EOF
chmod +x "$init/init"
(cd "$init" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) >"$work/initrd.gz"

# ---- 4. the device, then the guest -----------------------------------

sock=$work/gpio.sock
ctl=$work/ctl
devlog=$work/device.log
guestlog=$work/guest.log
mkfifo "$ctl"
"$example" --socket-path "$sock" <"$ctl" >"$devlog" 2>&1 &
dev_pid=$!
exec 3>"$ctl" # the example's stdin: set-input commands

show_logs() {
	echo "---- device ($devlog)"
	cat "$devlog" || true
	echo "---- guest ($guestlog)"
	cat "$guestlog" 2>/dev/null || true
}

# wait_for FILE PATTERN SECONDS: grep FILE until PATTERN shows up; fail if
# time runs out or QEMU (once started) exits first.
wait_for() {
	local deadline=$((SECONDS + $3))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		if [ -n "$qemu_pid" ] && ! kill -0 "$qemu_pid" 2>/dev/null; then
			show_logs
			fail "QEMU exited before '$2' appeared in ${1##*/}"
		fi
		if ((SECONDS >= deadline)); then
			show_logs
			fail "no '$2' in ${1##*/} within $3 s"
		fi
		sleep 0.2
	done
}

wait_for "$devlog" "^ready " 10
"$qemu" -machine q35,accel=tcg,memory-backend=mem -m 512M \
	-object memory-backend-memfd,id=mem,size=512M,share=on \
	-nodefaults -no-user-config -display none -serial stdio -monitor none -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-device "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"$sock\"}}" \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4" \
	</dev/null >"$guestlog" 2>&1 &
qemu_pid=$!

# The guest drives OUT0 and OUT9 high; the device must see it.
wait_for "$devlog" "outputs=0x0201" 300
echo "outputs from the guest reached the device"
# The guest's edge request enables the interrupt (read of offset 2):
# only then is an input edge latched.
wait_for "$devlog" "irq=1" 120
echo "set-input 3 1" >&3
echo "input 3 raised on the host"

deadline=$((SECONDS + 120))
while kill -0 "$qemu_pid" 2>/dev/null && ((SECONDS < deadline)); do
	sleep 0.2
done
if kill -0 "$qemu_pid" 2>/dev/null; then
	show_logs
	fail "the guest did not finish within 120 s of the input edge"
fi
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=
if [ "$rc" != 85 ]; then
	show_logs
	fail "QEMU exit status $rc (85 = guest passed)"
fi
grep -q "GUEST: .* bound to pci-idio-16" "$guestlog" || {
	show_logs
	fail "the guest did not report the pci-idio-16 driver bound"
}
grep "^GUEST:" "$guestlog"
echo "guest_gpio: passed (driver bound, outputs reached the device, input edge interrupted)"
