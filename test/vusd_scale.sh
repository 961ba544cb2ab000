#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# One vusd serving 256 devices (testdev and gpio mixed) from one config
# file: every socket appears, every device answers a config-space read,
# idle vusd uses (almost) no CPU -- no timer fires, nothing polls -- and
# its resident memory stays under 64 MiB (docs/performance.md "Scale").
# Times are the benchmark's business: the bounds here are generous and
# only catch a loop that spins or memory that grows per device.
set -euo pipefail

build=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}
ndev=${VUS_SCALE_DEVICES:-256}
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "vusd_scale: $*" >&2; [ -f "$dir/vusd.err" ] && tail -5 "$dir/vusd.err" >&2; exit 1; }

{
	echo '{ "log_level": "warn", "devices": ['
	for ((i = 0; i < ndev; i++)); do
		type=testdev; ((i % 2)) && type=gpio
		sep=,; ((i == ndev - 1)) && sep=
		echo "  { \"name\": \"d$i\", \"type\": \"$type\", \"socket\": \"$dir/d$i.sock\" }$sep"
	done
	echo '] }'
} >"$dir/vusd.json"

start=$(date +%s%N)
# An idle device holds 3 fds (listener, the library's epoll set and wake
# eventfd) and testdev one more (its BAR2 memfd): 256 devices fit under
# 1024, the usual hard limit, which the run is held to (soft and hard).
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && ((hard < 1024)); then
	echo "skipped: fd hard limit $hard is below 1024" >&2
	exit 77
fi
(ulimit -n 1024 && exec "$build/bin/vusd" --config "$dir/vusd.json") 2>"$dir/vusd.err" &
pid=$!
for ((t = 0; t < 300; t++)); do
	n=$(find "$dir" -name '*.sock' -type s | wc -l)
	((n == ndev)) && break
	kill -0 "$pid" 2>/dev/null || fail "vusd exited"
	sleep 0.1
done
((n == ndev)) || fail "only $n of $ndev sockets after 30 s"
echo "vusd_scale: $ndev sockets ready after $((($(date +%s%N) - start) / 1000000)) ms (not asserted)"

# Every device answers: config offset 0 is the vendor and device ID.
for ((i = 0; i < ndev; i++)); do
	out=$("$build/bin/vusctl" read "$dir/d$i.sock" config 0) ||
		fail "device d$i does not answer"
	[[ $out == *0x* ]] || fail "device d$i: unexpected answer '$out'"
done
echo "vusd_scale: all $ndev devices answered a config read"

# Idle: CPU ticks (utime + stime, fields 14 and 15) over 2 s.
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
sleep 0.5
t0=$(ticks)
sleep 2
t1=$(ticks)
idle=$((t1 - t0))
echo "vusd_scale: idle CPU over 2 s: $idle ticks of $((2 * hz))"
((idle * 20 <= 2 * hz)) || fail "idle vusd used $idle ticks in 2 s (over 5 %): something polls"

echo "vusd_scale: open fds: $(ls /proc/$pid/fd | wc -l)"
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
echo "vusd_scale: resident memory $rss KiB"
case ${VUS_BUILD_TYPE:-} in
ASan | TSan)
	# Shadow memory and quarantines are the sanitizer's, not vusd's.
	echo "vusd_scale: resident memory bound not checked in a $VUS_BUILD_TYPE build" ;;
*)
	((rss < 64 * 1024)) || fail "resident memory $rss KiB is not under 64 MiB" ;;
esac
echo "vusd_scale: ok"
