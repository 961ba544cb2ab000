# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# Out-of-tree kernel modules for guest tests, built against Debian's
# linux-headers for exactly the guest kernel guest_lib.bash boots. Source
# after guest_lib.bash and call guest_init first.
#
#   source "$src/test/helpers/guest_kmod.bash"
#   guest_kmod_build "$src/test/guest/testdev_kmod" "$work/kmod" # -> $work/kmod/NAME.ko
#
# The headers come like the kernel: linux-headers-<version>-amd64 and the
# two packages it depends on (linux-headers-<version>-common and
# linux-kbuild-<major.minor>), fetched with apt-get download and unpacked
# with dpkg-deb -x into one tree under BUILD/guest-cache, once. Their
# Makefile includes the common tree by absolute /usr/src path, which is
# rewritten to the cache. Building needs make and gcc-12 (the compiler
# Debian 12 built the kernel with; the host's gcc on Debian 12).

# guest_kmod_headers: GUEST_KHDR, the kernel's build tree in the cache.
guest_kmod_headers() {
	local cache=$GUEST_CACHE root pkg debs deps
	# kbuild (make) cannot work in a path with spaces, and a clone's path
	# may have them (CI's has): then the headers go to a cache of their own.
	case $cache in
	*[[:space:]]*) cache=${XDG_CACHE_HOME:-$HOME/.cache}/vus-guest-kbuild ;;
	esac
	case $cache in
	*[[:space:]]*) guest_skip "kbuild cannot build in a path with spaces ($cache)" ;;
	esac
	root=$cache/linux-headers-$GUEST_KVER
	GUEST_KHDR=$root/usr/src/linux-headers-$GUEST_KVER
	[ -e "$root/.unpacked" ] && return 0
	# Two guest tests run at once (ctest -j2) on a cold cache: one unpacks,
	# the other waits for it, instead of removing the tree under it.
	mkdir -p "$cache"
	exec {GUEST_KHDR_LOCK}>"$cache/.kbuild.lock"
	flock "$GUEST_KHDR_LOCK"
	if [ -e "$root/.unpacked" ]; then
		exec {GUEST_KHDR_LOCK}>&-
		return 0
	fi
	command -v make >/dev/null || guest_skip "make is not installed (needed to build guest modules)"
	command -v gcc-12 >/dev/null || guest_skip "gcc-12 is not installed (Debian 12 kernels are built with it)"
	deps=$(apt-cache depends "linux-headers-$GUEST_KVER" 2>/dev/null |
		awk '/Depends: linux-(headers|kbuild)-/ { print $2 }')
	[ -n "$deps" ] || guest_skip "apt-cache knows no linux-headers-$GUEST_KVER"
	rm -rf "$root"
	mkdir -p "$root" "$GUEST_CACHE/debs"
	for pkg in "linux-headers-$GUEST_KVER" $deps; do
		debs=("$GUEST_CACHE/debs/$pkg"_*.deb)
		if [ ! -f "${debs[0]}" ]; then
			(cd "$GUEST_CACHE/debs" && apt-get download "$pkg" >/dev/null 2>&1) ||
				guest_skip "apt-get download $pkg failed (no access to Debian's packages?)"
			debs=("$GUEST_CACHE/debs/$pkg"_*.deb)
		fi
		dpkg-deb -x "${debs[0]}" "$root"
	done
	[ -f "$GUEST_KHDR/Makefile" ] || guest_fail "linux-headers-$GUEST_KVER has no Makefile"
	sed -i "s|^include /usr/src/|include $root/usr/src/|" "$GUEST_KHDR/Makefile"
	touch "$root/.unpacked"
	exec {GUEST_KHDR_LOCK}>&-
}

# guest_kmod_build SRC OUT: build the module sources in SRC (a Kbuild file
# and .c files) in a copy (kbuild writes beside the sources) under
# GUEST_SOCKS, whose path has no spaces; the results land in OUT.
guest_kmod_build() {
	local src=$1 out=$2
	local kb=$GUEST_SOCKS/kmod-${src##*/} # no spaces here, whatever the clone's path
	guest_kmod_headers
	rm -rf "$out" "$kb"
	mkdir -p "$out" "$kb"
	cp "$src"/* "$kb"/
	make -s -C "$GUEST_KHDR" M="$kb" modules >"$kb/build.log" 2>&1 || {
		cat "$kb/build.log"
		guest_fail "building the module in ${src##*/} failed"
	}
	cp "$kb"/* "$out"/
}
