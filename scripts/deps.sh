#!/bin/bash
# Install the Debian packages vus needs, only those missing (checked with
# dpkg -s). Needs root to install; as another user it names what is
# missing and fails. Sourced or run by run-demo.sh and test.sh.
set -euo pipefail

# make, gcc-12, libelf1, libssl3: guest tests build a kernel module against
# Debian's linux-headers (test/helpers/guest_kmod.bash); kbuild's tools
# link libelf and libssl.
vus_deps=(cmake gcc pkg-config libjson-c-dev libevent-dev libseccomp-dev liburing-dev libcmocka-dev pciutils help2man
	make gcc-12 libelf1 libssl3)

vus_install_deps() {
	local missing=() p
	for p in "${vus_deps[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "vus: missing packages: ${missing[*]}" >&2
		echo "vus: install them with: sudo apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	echo "vus: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q "${missing[@]}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	vus_install_deps
fi
