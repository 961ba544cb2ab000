#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# live-update-bench.sh BUILD_DIR [N]: the pause of a vusd live update
# (docs/live-update.md "The pause"). One vusd --live-update serves a
# testdev and a gpio; `vusctl irqs --watch` holds the testdev as its
# client (session, INTx eventfds), and N upgrades (default 9) each print
# the pause vusd reports. The floor, measured in the same run between
# the upgrades: a fresh vusd with the same devices started until its
# control socket answers -- what a restart would cost before any client
# could even reconnect (QEMU's cannot). Prints every pause, the median
# of each, and their ratio. Nothing is asserted.
set -euo pipefail

build=${1:?usage: live-update-bench.sh BUILD_DIR [N]}
n=${2:-9}
vusd=$build/bin/vusd
vusctl=$build/bin/vusctl
dir=$(mktemp -d /tmp/vus-lu-bench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

config() { # DIR: a config with a testdev, a gpio and a control socket there
	cat >"$1/vusd.json" <<EOF
{ "control": "$1/ctl.sock", "live_update": true, "log_level": "warn",
  "devices": [ { "name": "td0", "type": "testdev", "socket": "$1/td0.sock" },
               { "name": "g0", "type": "gpio", "socket": "$1/g0.sock" } ] }
EOF
}
now_ns() { date +%s%N; }
wait_ctl() { # CTL: until it answers list
	local i
	for ((i = 0; i < 2000; i++)); do
		"$vusctl" --control "$1" list >/dev/null 2>&1 && return 0
		sleep 0.005
	done
	echo "live-update-bench: $1 never answered" >&2
	exit 1
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

mkdir "$dir/a"
config "$dir/a"
"$vusd" --config "$dir/a/vusd.json" 2>"$dir/a/log" &
pids+=($!)
wait_ctl "$dir/a/ctl.sock"
"$vusctl" irqs "$dir/a/td0.sock" --watch >"$dir/watch.txt" 2>&1 &
pids+=($!)
for ((i = 0; i < 500; i++)); do
	grep -q '^watching' "$dir/watch.txt" 2>/dev/null && break
	sleep 0.01
done

pauses=() floors=() saves=() drys=() execs=()
for ((r = 1; r <= n; r++)); do
	out=$("$vusctl" --control "$dir/a/ctl.sock" upgrade)
	p=$(sed -n 's/^pause: \([0-9.]*\) ms$/\1/p' <<<"$out")
	pauses+=("$p")
	saves+=("$(sed -n 's/.*(save \([0-9.]*\) ms,.*/\1/p' <<<"$out")")
	drys+=("$(sed -n 's/.*dry run \([0-9.]*\) ms,.*/\1/p' <<<"$out")")
	execs+=("$(sed -n 's/.*take-over \([0-9.]*\) ms).*/\1/p' <<<"$out")")

	mkdir "$dir/f$r"
	config "$dir/f$r"
	t=$(now_ns)
	"$vusd" --config "$dir/f$r/vusd.json" 2>"$dir/f$r/log" &
	fp=$!
	wait_ctl "$dir/f$r/ctl.sock"
	f=$(awk -v a="$t" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	kill "$fp"
	wait "$fp" || true
	floors+=("$f")
	echo "round $r: upgrade pause $p ms (save ${saves[-1]}, dry run ${drys[-1]}," \
		"exec and take-over ${execs[-1]}), fresh start $f ms"
done
kill -0 "${pids[1]}" || { echo "live-update-bench: the client was dropped" >&2; exit 1; }
pm=$(median "${pauses[@]}")
fm=$(median "${floors[@]}")
echo "median upgrade pause: $pm ms over $n upgrades (client attached throughout)"
echo "  medians of its parts: save $(median "${saves[@]}") ms, dry run" \
	"$(median "${drys[@]}") ms, exec and take-over $(median "${execs[@]}") ms"
echo "median fresh start: $fm ms"
awk -v a="$pm" -v b="$fm" 'BEGIN { printf "ratio pause / fresh start: %.2f\n", a / b }'
