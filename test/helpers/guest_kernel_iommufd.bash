# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# A guest kernel for the bridge's iommufd pass (test/guest_vfio_bridge.sh
# with VFIO_BRIDGE_IOMMU=iommufd; docs/vfio-bridge.md "iommufd"): the
# newest Debian has, trixie-backports' linux-image-amd64, fetched with
# Debian's apt through a private apt state in the guest cache (no change
# to the host's sources), unpacked once, then used in place of
# guest_init's kernel:
#
#   guest_init
#   guest_kernel_iommufd     # GUEST_KPKG, GUEST_KVER, GUEST_KERNEL,
#                            # GUEST_MODDIR switched, GUEST_IOMMUFD_MODULE
#                            # (iommufd.ko or empty); or exit 77 with why
#
# Debian builds none of its kernels with CONFIG_IOMMUFD (6.1, 6.12 and
# 7.3 checked): the helper finds that out from the image before booting
# and skips with the reason. A kernel that has it (built in, or as
# iommufd.ko) is used as it comes.
#
# 7.x kernels come in two packages (linux-binary-VER with the vmlinuz
# under /usr/lib/modules/VER, linux-modules-VER); the vmlinuz payload is
# zstd: extracted to an ELF vmlinux for a PVH boot when zstd is there,
# else the bzImage boots as it is (a few seconds slower under TCG).
# The GUEST_* variables set here are guest_lib.bash's, read by its
# functions (hence SC2034).
# shellcheck disable=SC2034

guest_kernel_iommufd() {
	local apt="$GUEST_CACHE/apt-iommufd" opts img ver pkg vmlinuz off debs
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main" >"$apt/sources.list"
	opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o Dir::State::Status=/dev/null)
	if [ ! -e "$apt/.updated" ]; then
		apt-get "${opts[@]}" update >/dev/null 2>&1 ||
			guest_skip "apt-get update of trixie-backports failed (no access to Debian's archive?)"
		touch "$apt/.updated"
	fi
	img=$(apt-cache "${opts[@]}" depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$img" ] || guest_skip "trixie-backports has no linux-image-amd64 (apt-cache found none)"
	ver=${img#linux-image-}
	GUEST_KPKG=$img
	GUEST_KVER=$ver
	GUEST_KROOT=$GUEST_CACHE/$img
	if [ ! -e "$GUEST_KROOT/.unpacked" ]; then
		rm -rf "$GUEST_KROOT"
		mkdir -p "$GUEST_CACHE/debs" "$GUEST_KROOT"
		for pkg in "linux-binary-$ver" "linux-modules-$ver"; do
			(cd "$GUEST_CACHE/debs" && apt-get "${opts[@]}" download "$pkg" >/dev/null 2>&1) ||
				guest_skip "apt-get download $pkg failed (a kernel that is not split in two?)"
			debs=("$GUEST_CACHE/debs/${pkg}"_*.deb)
			dpkg-deb -x "${debs[0]}" "$GUEST_KROOT"
		done
		touch "$GUEST_KROOT/.unpacked"
	fi
	vmlinuz=$GUEST_KROOT/usr/lib/modules/$ver/vmlinuz
	[ -f "$vmlinuz" ] || guest_fail "linux-binary-$ver has no vmlinuz"
	GUEST_KERNEL=$vmlinuz
	if [ ! -s "$GUEST_KROOT/vmlinux" ] && command -v zstd >/dev/null; then
		off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -n 1 | cut -d: -f1)
		if [ -n "$off" ] &&
			tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq 2>/dev/null >"$GUEST_KROOT/vmlinux.tmp"; then
			:
		fi
		# zstd stops at the frame's end and may complain about the trailing
		# bytes: keep the output when it is an ELF.
		if [ "$(head -c 4 "$GUEST_KROOT/vmlinux.tmp" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; then
			mv "$GUEST_KROOT/vmlinux.tmp" "$GUEST_KROOT/vmlinux"
		else
			rm -f "$GUEST_KROOT/vmlinux.tmp"
		fi
	fi
	[ -s "$GUEST_KROOT/vmlinux" ] && GUEST_KERNEL=$GUEST_KROOT/vmlinux
	GUEST_MODDIR=$GUEST_KROOT/usr/lib/modules/$ver/kernel
	[ -d "$GUEST_MODDIR" ] || guest_fail "linux-modules-$ver has no modules"
	# iommufd built in exports iommufd_device_bind (its name is in the
	# image's export table); as a module it is iommufd.ko. Neither: the
	# kernel has no /dev/iommu, and booting it would only tell the same.
	GUEST_IOMMUFD_MODULE=$(guest_modfile iommufd)
	if [ -z "$GUEST_IOMMUFD_MODULE" ] && [ -s "$GUEST_KROOT/vmlinux" ] &&
		! LC_ALL=C grep -q iommufd_device_bind "$GUEST_KROOT/vmlinux"; then
		guest_skip "Debian's kernels are built without CONFIG_IOMMUFD (checked: $img from trixie-backports exports no iommufd_device_bind and ships no iommufd.ko; bookworm-backports' 6.12 and Debian 12's 6.1 lack it too): no kernel with /dev/iommu to test iommu=iommufd on"
	fi
	return 0
}
