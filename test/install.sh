#!/bin/bash
# Install vus into a temporary prefix and build a small consumer program
# against it twice: with pkg-config (libvus.pc) and with CMake
# (find_package(vus) -> vus::vus). Both binaries must run and print what
# the library computed.
#
# Uses the build tree in $VUS_BUILD_DIR when set (as under ctest), else
# configures and builds one from the source tree first.
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

if [[ -n ${VUS_BUILD_DIR:-} ]]; then
	build=$VUS_BUILD_DIR
else
	build=$tmp/build
	cmake -S "$src" -B "$build" -DVUS_BUILD_TESTS=OFF >/dev/null
	cmake --build "$build" -j2 >/dev/null
fi
cmake --install "$build" --prefix "$prefix" >/dev/null

# A sanitizer build's libvus.so needs the sanitizer runtime in the
# consumer too (ASan must come first in the library list).
san=
case $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt") in
ASan) san="-fsanitize=address,undefined" ;;
TSan) san="-fsanitize=thread" ;;
esac

for f in include/vus/proto.h include/vus/codec.h include/vus/device.h include/vus/client.h \
	 bin/vusd bin/vusctl; do
	[[ -e $prefix/$f ]] || { echo "install: $f missing from the install tree" >&2; exit 1; }
done
# What a packager expects besides (issue 16): docs, the example
# configuration, the systemd unit with this prefix's paths, man pages
# (when help2man was there at build time), bash completion.
for f in share/doc/vus/README.md share/doc/vus/control.md share/doc/vus/protocol.md \
	 share/doc/vus/qemu.md share/doc/vus/vusd.example.json lib/systemd/system/vusd.service \
	 share/bash-completion/completions/vusctl; do
	[[ -e $prefix/$f ]] || { echo "install: $f missing from the install tree" >&2; exit 1; }
done
unit=$prefix/lib/systemd/system/vusd.service
grep -qx "ExecStart=$prefix/bin/vusd --config /etc/vus/vusd.json" "$unit" ||
	{ echo "install: the unit's ExecStart is not $prefix/bin/vusd:" >&2; grep ExecStart "$unit" >&2; exit 1; }
grep -qx 'RuntimeDirectory=vus' "$unit" || { echo "install: no RuntimeDirectory=vus" >&2; exit 1; }
# Every file:// the unit's Documentation= names is installed.
for doc in $(sed -n 's/^Documentation=//p' "$unit"); do
	case $doc in
	file://*) [[ -f ${doc#file://} ]] || { echo "install: unit documents $doc, not installed" >&2; exit 1; } ;;
	man:*) page=${doc#man:}; page=${page%(1)}
		if grep -q '^HELP2MAN:FILEPATH=/' "$build/CMakeCache.txt"; then
			[[ -s $prefix/share/man/man1/$page.1 ]] ||
				{ echo "install: unit documents $doc, no man page" >&2; exit 1; }
			grep -q -- '--socket-path' "$prefix/share/man/man1/vusd.1" ||
				{ echo "install: vusd.1 does not hold vusd --help" >&2; exit 1; }
		fi ;;
	esac
done
bash -n "$prefix/share/bash-completion/completions/vusctl" ||
	{ echo "install: the bash completion does not parse" >&2; exit 1; }

libdir=$(dirname "$(find "$prefix" -name 'libvus.so' -print -quit)")
[[ -f $libdir/pkgconfig/libvus.pc ]] || { echo "install: libvus.pc missing" >&2; exit 1; }
[[ -f $libdir/cmake/vus/vusConfig.cmake && -f $libdir/cmake/vus/vusConfigVersion.cmake ]] ||
	{ echo "install: CMake package files missing" >&2; exit 1; }
"$prefix/bin/vusd" --version | grep -q '^vusd (vus) ' ||
	{ echo "install: vusd --version failed" >&2; exit 1; }
"$prefix/bin/vusctl" --version | grep -q '^vusctl (vus) ' ||
	{ echo "install: vusctl --version failed" >&2; exit 1; }

mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/consumer.c" <<'C'
#include <stdio.h>
#include <stdint.h>

#include <vus/codec.h>
#include <vus/device.h>

int main(void)
{
	struct vus_hdr h = { .id = 7, .cmd = VUS_CMD_REGION_READ, .size = 32 }, back;
	uint8_t wire[16];
	struct vus_dev *dev = vus_dev_new("consumer");

	if (!dev)
		return 1;
	printf("device %s\n", vus_dev_name(dev));
	vus_dev_free(dev);
	vus_hdr_encode(wire, &h);
	vus_hdr_decode(wire, &back);
	printf("%s id %u size %u\n", vus_cmd_name(back.cmd), back.id, back.size);
	return 0;
}
C
expected=$'device consumer\nREGION_READ id 7 size 32'

check_output() { # name binary
	local out
	out=$(LD_LIBRARY_PATH=$libdir "$2")
	if [[ $out != "$expected" ]]; then
		printf 'install: %s consumer printed:\n%s\nexpected:\n%s\n' "$1" "$out" "$expected" >&2
		exit 1
	fi
	echo "install: $1 consumer ok"
}

# 1. pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046 # word splitting of pkg-config's flags is wanted
gcc $san -o "$tmp/consumer/pc" "$tmp/consumer/consumer.c" $(pkg-config --cflags --libs libvus)
check_output pkg-config "$tmp/consumer/pc"

# 2. CMake
cat >"$tmp/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(vus_consumer C)
find_package(vus REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE vus::vus)
CMAKE
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
check_output cmake "$tmp/consumer/build/consumer"
echo "install: ok"
