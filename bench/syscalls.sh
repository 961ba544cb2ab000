#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# System calls per 4-byte config-space read round trip, counted on the
# server by strace -c over N requests of one client (connection setup is
# included, spread over N). Three servers: the library's own loop
# (vus_dev_run), an application's poll() loop (vus_dev_process), vusd.
#
#   bench/syscalls.sh BUILD_DIR [N]      (docs/performance.md shows a run)
set -eu
bin=${1:?usage: syscalls.sh BUILD_DIR [N]}/bin
n=${2:-20000}
command -v strace >/dev/null || { echo "syscalls.sh: strace not installed" >&2; exit 77; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

count() { # name, then the server command line (it serves $dir/s)
	local name=$1 spid tpid i
	shift
	rm -f "$dir/s"
	"$@" >"$dir/srv.out" 2>"$dir/srv.err" &
	spid=$!
	for i in $(seq 100); do [ -S "$dir/s" ] && break; sleep 0.05; done
	strace -c -f -q -p "$spid" -o "$dir/strace.txt" &
	tpid=$!
	sleep 0.5 # strace attaches
	"$bin/vus-rtt" --connect "$dir/s" -n "$n" >/dev/null
	sleep 0.2
	kill -INT "$tpid"; wait "$tpid" 2>/dev/null || true
	kill -TERM "$spid"; wait "$spid" 2>/dev/null || true
	printf '%-34s' "$name"
	awk -v n="$n" '
		$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { name = $NF; calls = $4
			if (calls > n / 50) { per[name] = calls / n; tot += calls / n } }
		END { for (k in per) printf " %s %.2f", k, per[k]; printf "  | total %.2f\n", tot }
	' "$dir/strace.txt"
}

echo "system calls per request on the server, N=$n (calls under N/50 in all left out)"
count "library loop (vus_dev_run)" "$bin/vus-rtt" --serve "$dir/s" --loop run
count "application poll loop" "$bin/vus-rtt" --serve "$dir/s" --loop poll
count "vusd (testdev)" "$bin/vusd" --device testdev --socket-path "$dir/s" --log-level warn
count "vusd (gpio)" "$bin/vusd" --device gpio --socket-path "$dir/s" --log-level warn
