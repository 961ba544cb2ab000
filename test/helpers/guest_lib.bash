# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# Shared helper for guest tests: a Linux guest built from Debian's own
# packages, booted under a QEMU that has vfio-user-pci, attached to vus
# devices. Every guest test (test/guest_*.sh, scripts/run-demo.sh --guest,
# bench/*guest*) sources this file instead of keeping its own copy.
# How the guests are built and why: docs/guests.md.
#
#   source "$src/test/helpers/guest_lib.bash"
#   guest_init                   # VUS_QEMU checked, kernel + busybox cached;
#                                # GUEST_SOCKS: a short directory for sockets
#   guest_setup NAME             # or: vusd/vusctl of the build, guest_init,
#                                # $work removed at exit, t0
#   root=$(guest_root_new)       # an initramfs tree with busybox and /init
#   guest_add_module "$root" nvme
#   guest_add_binary "$root" /sbin/mkfs.ext4
#   guest_add_static "$root" "$src/test/guest/prog.c" /prog
#   guest_script "$root" <<'EOF' ... EOF   # the test, run by /init
#   guest_pack "$root" "$work/initrd.gz"
#   guest_start "$work/initrd.gz" "$work/guest.log" --sock PATH [--no-shared-ram] [-- QEMU ARGS]
#   guest_wait "$timeout"        # 0 when the guest script exited 0
#
# Results: the guest's /init powers QEMU off through isa-debug-exit with the
# script's exit status, so a test needs no log parsing for pass/fail
# (test/guest/guest_exit.c; guest_wait turns QEMU's status back into it). A kernel
# panic (panic=-1 with -no-reboot) exits QEMU with 0, reported as a failure.
#
# Skipping: without a usable QEMU, or without Debian's packages, guest_skip
# prints "skipped: <why>" and exits 77, which ctest reports as skipped
# (SKIP_RETURN_CODE), never as passed.
#
# Needs: apt-get/apt-cache (Debian's packages), dpkg-deb, gcc with a static
# libc (libc6-dev), gzip, xz, cpio-capable busybox (comes from the package).

guest_skip() {
	echo "skipped: $*"
	exit 77
}

guest_fail() {
	echo "FAIL: $*"
	exit 1
}

GUEST_SRC=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
GUEST_BUILD=${VUS_BUILD_DIR:-$GUEST_SRC/build}
GUEST_CACHE=${VUS_GUEST_CACHE:-$GUEST_BUILD/guest-cache}
GUEST_QEMU_PID=
GUEST_LOG=
GUEST_PIDS=()
GUEST_SOCKS=

# guest_need_qemu: GUEST_QEMU names a QEMU with vfio-user-pci, or skip.
guest_need_qemu() {
	local devices
	[ -n "${VUS_QEMU:-}" ] ||
		guest_skip "VUS_QEMU is not set (it must name a QEMU >= 10.1 with vfio-user-pci)"
	GUEST_QEMU=$(command -v "$VUS_QEMU") || guest_skip "VUS_QEMU=$VUS_QEMU is not a program"
	# Read the list whole: grep -q on a pipe would SIGPIPE QEMU under pipefail.
	devices=$("$GUEST_QEMU" -device help 2>&1 || true)
	grep -q '"vfio-user-pci"' <<<"$devices" ||
		guest_skip "VUS_QEMU=$VUS_QEMU has no vfio-user-pci device (QEMU >= 10.1 has it)"
}

# guest_deb PACKAGE DIR: PACKAGE's .deb, downloaded once into the cache,
# unpacked into DIR once.
guest_deb() {
	local debs
	[ -e "$2/.unpacked" ] && return 0
	mkdir -p "$GUEST_CACHE/debs"
	debs=("$GUEST_CACHE/debs/$1"_*.deb)
	if [ ! -f "${debs[0]}" ]; then
		(cd "$GUEST_CACHE/debs" && apt-get download "$1" >/dev/null 2>&1) ||
			guest_skip "apt-get download $1 failed (no access to Debian's packages?)"
		debs=("$GUEST_CACHE/debs/$1"_*.deb)
	fi
	rm -rf "$2"
	dpkg-deb -x "${debs[0]}" "$2"
	touch "$2/.unpacked"
}

# guest_kernel_pkg: the versioned package linux-image-amd64 points at
# (Debian 12: linux-image-6.1.0-NN-amd64).
guest_kernel_pkg() {
	local k
	k=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$k" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		k=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	echo "$k"
}

# guest_setup NAME: the start the guest tests share: vusd and vusctl
# of the build (fails if vusd is not built), guest_init, a work directory
# $work (guest-NAME.XXXXXX in the build tree, kept with VUS_KEEP=1) removed
# with every tracked process by the EXIT trap, and t0 for timings. Sets
# vusd, vusctl, work, t0 (read by the calling script, hence SC2034).
guest_setup() {
	# shellcheck disable=SC2034
	vusd=$GUEST_BUILD/bin/vusd vusctl=$GUEST_BUILD/bin/vusctl
	[ -x "$vusd" ] || guest_fail "$vusd is not built"
	guest_init
	work=$(mktemp -d "$GUEST_BUILD/guest-$1.XXXXXX")
	trap 'guest_cleanup; [ -n "${VUS_KEEP:-}" ] || rm -rf "$work"' EXIT
	# shellcheck disable=SC2034
	t0=$SECONDS
}

# guest_init: QEMU checked; Debian's kernel and busybox in the cache.
# Sets GUEST_KPKG, GUEST_KVER, GUEST_KROOT, GUEST_KERNEL (an ELF vmlinux
# when it can be extracted: QEMU boots it through PVH, seconds faster under
# TCG than the bzImage through SeaBIOS), GUEST_BUSYBOX.
guest_init() {
	local tool vmlinuz off
	guest_need_qemu
	for tool in apt-get apt-cache dpkg-deb gcc gzip xz; do
		command -v "$tool" >/dev/null || guest_skip "$tool is not installed (needed to build the guest)"
	done
	GUEST_KPKG=$(guest_kernel_pkg)
	[ -n "$GUEST_KPKG" ] || guest_skip "apt-cache cannot resolve linux-image-amd64 (run apt-get update)"
	GUEST_KVER=${GUEST_KPKG#linux-image-}
	GUEST_KROOT=$GUEST_CACHE/$GUEST_KPKG
	guest_deb "$GUEST_KPKG" "$GUEST_KROOT"
	guest_deb busybox-static "$GUEST_CACHE/busybox-static"
	GUEST_BUSYBOX=$GUEST_CACHE/busybox-static/bin/busybox
	[ -x "$GUEST_BUSYBOX" ] || guest_fail "busybox-static has no /bin/busybox"
	vmlinuz=$GUEST_KROOT/boot/vmlinuz-$GUEST_KVER
	[ -f "$vmlinuz" ] || guest_fail "$GUEST_KPKG has no /boot/vmlinuz-$GUEST_KVER"
	GUEST_KERNEL=$vmlinuz
	if [ ! -s "$GUEST_KROOT/vmlinux" ]; then
		# Debian compresses the payload with xz: find its stream magic.
		off=$(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$vmlinuz" | head -n 1 | cut -d: -f1)
		if [ -n "$off" ] &&
			tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream >"$GUEST_KROOT/vmlinux.tmp" 2>/dev/null; then
			mv "$GUEST_KROOT/vmlinux.tmp" "$GUEST_KROOT/vmlinux"
		else
			rm -f "$GUEST_KROOT/vmlinux.tmp"
		fi
	fi
	[ -s "$GUEST_KROOT/vmlinux" ] && GUEST_KERNEL=$GUEST_KROOT/vmlinux
	GUEST_MODDIR=$GUEST_KROOT/lib/modules/$GUEST_KVER/kernel
	# Sockets (and kbuild trees) go here, not under the build tree: a
	# socket path must fit sun_path's 108 bytes, kbuild cannot work in a
	# path with spaces, and a clone's path may be long and have spaces
	# (CI's has). guest_cleanup removes it.
	GUEST_SOCKS=$(mktemp -d /tmp/vus-guest-XXXXXX)
	return 0
}

# guest_root_new [DIR]: an initramfs tree with busybox, the exit helper and
# the standard /init; prints its path (a fresh temporary folder under the
# build dir unless DIR is given).
guest_root_new() {
	local root=${1:-$(mktemp -d "$GUEST_BUILD/guest-root.XXXXXX")}
	mkdir -p "$root/bin" "$root/sbin" "$root/modules" "$root/proc" "$root/sys" "$root/dev" \
		"$root/tmp" "$root/lib" "$root/lib64" "$root/etc" "$root/mnt"
	cp "$GUEST_BUSYBOX" "$root/bin/busybox"
	guest_add_static "$root" "$GUEST_SRC/test/guest/guest_exit.c" /bin/guest-exit >&2
	# /init: mount the pseudo file systems, load the modules in the order
	# they were added, run /test.sh, power off with its exit status.
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
for m in /modules/*.ko; do
	[ -e "$m" ] || continue
	insmod "$m" || echo "GUEST: FAIL insmod $m"
done
code=1
if [ -x /test.sh ]; then
	/test.sh
	code=$?
else
	echo "GUEST: no /test.sh"
fi
echo "GUEST: done, code $code"
/bin/guest-exit "$code"
poweroff -f
EOF
	chmod +x "$root/init"
	echo "$root"
}

# guest_modfile NAME: the module's file in the guest kernel's tree
# ('-' and '_' are the same in module names).
guest_modfile() {
	find "$GUEST_MODDIR" -type f -name "${1//[-_]/[-_]}.ko*" -print -quit
}

# guest_add_module ROOT NAME: copy a module after the modules it depends on
# (read from its .modinfo), each once, numbered in load order.
guest_add_module() {
	local root=$1 name=${2//-/_} file dep n
	[ -e "$root/modules/.have-$name" ] && return 0
	file=$(guest_modfile "$name")
	[ -n "$file" ] || guest_fail "module $2 is not in $GUEST_KPKG"
	for dep in $(guest_modcat "$file" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do
		guest_add_module "$root" "$dep"
	done
	n=$(find "$root/modules" -name '*.ko' | wc -l)
	guest_modcat "$file" >"$root/modules/$(printf '%02d' $((n + 1)))-$name.ko"
	touch "$root/modules/.have-$name"
}

# guest_modcat FILE: a module's ELF bytes (6.12 ships .ko.xz).
guest_modcat() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

# guest_add_static ROOT SOURCE.c DEST [CFLAGS...]: compile a static test
# program into the guest tree.
guest_add_static() {
	local root=$1 c=$2 dest=$3
	shift 3
	mkdir -p "$(dirname "$root$dest")"
	gcc -std=gnu11 -O2 -static -Wall -Wextra -Werror "$@" -o "$root$dest" "$c" ||
		guest_skip "gcc cannot link a static program from ${c##*/} (libc6-dev?)"
}

# guest_add_binary ROOT HOST_PATH [DEST]: a dynamically linked host program
# with every shared library ldd names (and the loader), at the same paths.
# Debian 12's host and guest userland are the same release, so host binaries
# (mkfs.ext4, fio, ...) run in the guest.
guest_add_binary() {
	local root=$1 bin=$2 dest=${3:-$2} lib
	[ -x "$bin" ] || guest_fail "$bin is not installed"
	mkdir -p "$(dirname "$root$dest")"
	cp -L "$bin" "$root$dest"
	for lib in $(ldd "$bin" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$(dirname "$root$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# guest_script ROOT: stdin becomes the guest's /test.sh (busybox sh); its
# exit status is the guest's result. The script finds the host's time
# factor (guest_secs) in GUEST_SCALE, from the kernel command line
# (guest_start): its own waits scale with it as the host's do.
guest_script() {
	{
		cat <<'EOF'
#!/bin/busybox sh
GUEST_SCALE=$(sed -n 's/.*vus_time_scale=\([0-9][0-9]*\).*/\1/p' /proc/cmdline)
[ "${GUEST_SCALE:-0}" -gt 0 ] 2>/dev/null || GUEST_SCALE=1
EOF
		cat
	} >"$1/test.sh"
	chmod +x "$1/test.sh"
}

# guest_pack ROOT OUT: the initramfs (cpio newc, gzip -1).
guest_pack() {
	(cd "$1" && find . ! -name '.have-*' | "$GUEST_BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null |
		gzip -1) >"$2"
}

# guest_start INITRD LOG [--sock PATH]... [--no-shared-ram] [--mem SIZE]
#             [--append ARGS] [-- EXTRA QEMU ARGS]
# Boots the guest in the background with one vfio-user-pci per --sock (in
# order), guest RAM a shared memfd unless --no-shared-ram (then QEMU sends
# DMA_MAP without fds and every DMA is a DMA_READ/WRITE message). Sets
# GUEST_QEMU_PID and GUEST_LOG.
guest_start() {
	local initrd=$1 log=$2 mem=512M shared=1 append="" socks=() dev args=()
	shift 2
	while (($#)); do
		case $1 in
		--sock) socks+=("$2"); shift 2 ;;
		--no-shared-ram) shared=0; shift ;;
		--mem) mem=$2; shift 2 ;;
		--append) append=$2; shift 2 ;;
		--) shift; break ;;
		*) guest_fail "guest_start: unknown argument $1" ;;
		esac
	done
	# shellcheck disable=SC2054 # the commas are inside option values
	if ((shared)); then
		args+=(-machine q35,accel=tcg,memory-backend=mem
			-object "memory-backend-memfd,id=mem,size=$mem,share=on")
	else
		args+=(-machine q35,accel=tcg -m "$mem")
	fi
	for dev in "${socks[@]}"; do
		args+=(-device "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"$dev\"}}")
	done
	GUEST_LOG=$log
	# no_timer_check: under TCG on a loaded host, Linux's boot-time check
	# of the IO-APIC timer can fail ("IO-APIC + timer doesn't work") and
	# panic; QEMU's timer is fine, the check is only too impatient.
	"$GUEST_QEMU" "${args[@]}" -nodefaults -no-user-config -display none -serial stdio \
		-monitor none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$GUEST_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=4 no_timer_check vus_time_scale=$(guest_secs 1) $append" "$@" \
		</dev/null >"$log" 2>&1 &
	GUEST_QEMU_PID=$!
	GUEST_PIDS+=("$GUEST_QEMU_PID")
}

# guest_secs SECONDS: a time bound stretched by VUS_TEST_TIME_SCALE, the
# factor the C tests use (test/helpers/clock.h): a positive integer, else
# 1 (docs/testing.md "Time bounds"). Every wait below goes through it, so
# a loaded or slow host stretches the bounds, never the assertions.
guest_secs() {
	local k=${VUS_TEST_TIME_SCALE:-1}
	[[ $k =~ ^[0-9]+$ ]] && ((k > 0)) || k=1
	echo $(($1 * k))
}

# guest_wait SECONDS: wait for the guest to power off; returns the guest
# script's exit status (0 passed), 124 on time-out (QEMU is killed), 125
# when QEMU exited without the guest reporting (panic, QEMU error).
# SECONDS is scaled (guest_secs); a time-out says so on stdout.
guest_wait() {
	local limit rc=0
	limit=$(guest_secs "$1")
	local deadline=$((SECONDS + limit))
	while kill -0 "$GUEST_QEMU_PID" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if kill -0 "$GUEST_QEMU_PID" 2>/dev/null; then
		echo "guest still running after $limit s (guest_wait $1, VUS_TEST_TIME_SCALE=${VUS_TEST_TIME_SCALE:-1}): killed"
		kill "$GUEST_QEMU_PID" 2>/dev/null || true
		wait "$GUEST_QEMU_PID" 2>/dev/null || true
		GUEST_QEMU_PID=
		return 124
	fi
	wait "$GUEST_QEMU_PID" || rc=$?
	GUEST_QEMU_PID=
	# isa-debug-exit: QEMU's status is (v << 1) | 1 for a guest write of v,
	# and guest-exit writes the script's status + 1 (test/guest/guest_exit.c).
	if ((rc & 1)) && ((rc >= 3)); then
		return $(((rc >> 1) - 1))
	fi
	return 125
}

# guest_wait_for FILE PATTERN SECONDS: grep FILE until PATTERN shows up;
# fails when time runs out (SECONDS scaled: guest_secs) or the guest
# (once started) exits first.
guest_wait_for() {
	local limit
	limit=$(guest_secs "$3")
	local deadline=$((SECONDS + limit))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		if [ -n "$GUEST_QEMU_PID" ] && ! kill -0 "$GUEST_QEMU_PID" 2>/dev/null; then
			guest_show_log
			guest_fail "QEMU exited before '$2' appeared in ${1##*/}"
		fi
		if ((SECONDS >= deadline)); then
			guest_show_log
			guest_fail "no '$2' in ${1##*/} within $limit s (VUS_TEST_TIME_SCALE=${VUS_TEST_TIME_SCALE:-1})"
		fi
		sleep 0.2
	done
}

# guest_show_log [FILE...]: the guest's console (and any other logs named).
# shellcheck disable=SC2120 # the guest tests pass their logs; some callers none
guest_show_log() {
	local f
	for f in "$@" "$GUEST_LOG"; do
		[ -n "$f" ] || continue
		echo "---- ${f##*/}"
		cat "$f" 2>/dev/null || true
	done
}

# guest_track PID: a helper process (vusd, a device) to end at exit.
guest_track() {
	GUEST_PIDS+=("$1")
}

# guest_cleanup: end QEMU and every tracked process; for an EXIT trap.
guest_cleanup() {
	local p
	for p in "${GUEST_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	[ -z "$GUEST_SOCKS" ] || rm -rf "$GUEST_SOCKS"
}

# guest_wait_socket PATH SECONDS: until a UNIX socket exists at PATH
# (SECONDS scaled: guest_secs).
guest_wait_socket() {
	local limit
	limit=$(guest_secs "$2")
	local deadline=$((SECONDS + limit))
	until [ -S "$1" ]; do
		((SECONDS < deadline)) || guest_fail "no socket at $1 within $limit s"
		sleep 0.05
	done
}
