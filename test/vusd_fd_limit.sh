#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# vusd out of fds (docs/performance.md "fds per device"): with the limit
# too low for the config file's 256 devices, vusd stops at start with an
# error that names the cause and the numbers ("too many open files: N
# open, limit L; each device needs about K") -- not a misleading ENOMEM,
# not a crash -- and a control socket `add` past the limit is refused with
# the same words while the devices already served keep answering.
set -euo pipefail

build=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "vusd_fd_limit: $*" >&2; [ -f "$dir/vusd.err" ] && tail -5 "$dir/vusd.err" >&2; exit 1; }

config() { # N [control]
	echo '{ "log_level": "info",'
	[ -n "${2:-}" ] && echo "  \"control\": \"$dir/ctl.sock\","
	echo '  "devices": ['
	for ((i = 0; i < $1; i++)); do
		type=testdev; ((i % 2)) && type=gpio
		sep=,; (($1 - 1 == i)) && sep=
		echo "  { \"name\": \"d$i\", \"type\": \"$type\", \"socket\": \"$dir/d$i.sock\" }$sep"
	done
	echo '] }'
}

# 1. Start: 256 devices under a limit of 200 fds (soft and hard).
config 256 >"$dir/big.json"
set +e
(ulimit -n 200 && exec "$build/bin/vusd" --config "$dir/big.json") 2>"$dir/vusd.err"
rc=$?
set -e
((rc > 0 && rc < 128)) || fail "vusd with too few fds: exit status $rc, expected a plain failure"
err=$(cat "$dir/vusd.err")
[[ $err == *"too many open files:"*" open, limit 200; each device needs about "* ]] ||
	fail "start: no clear out-of-fds error"
[[ $err != *"Cannot allocate memory"* ]] || fail "start: still reports ENOMEM"
echo "vusd_fd_limit: start: $(grep -o 'device d[0-9]*: too many open files[^(]*' "$dir/vusd.err")"

# 2. The control socket: fill the limit with `add`, then one more.
config 4 ctl >"$dir/small.json"
rm -f "$dir"/*.sock
(ulimit -n 60 && exec "$build/bin/vusd" --config "$dir/small.json") 2>"$dir/vusd.err" &
pid=$!
for ((t = 0; t < 100; t++)); do
	[ -S "$dir/ctl.sock" ] && break
	kill -0 "$pid" 2>/dev/null || fail "vusd exited"
	sleep 0.1
done
[ -S "$dir/ctl.sock" ] || fail "no control socket after 10 s"
refused=
for ((i = 4; i < 60; i++)); do
	if ! out=$("$build/bin/vusctl" --control "$dir/ctl.sock" add "gpio,name=a$i,socket=$dir/a$i.sock" 2>&1); then
		refused=$out
		break
	fi
done
[ -n "$refused" ] || fail "60 devices fit under a limit of 60 fds?"
[[ $refused == *"too many open files:"*" limit 60; each device needs about "* ]] ||
	fail "add: unclear refusal: $refused"
echo "vusd_fd_limit: add #$i: $refused"
kill -0 "$pid" 2>/dev/null || fail "vusd died"
out=$("$build/bin/vusctl" read "$dir/d1.sock" config 0) || fail "d1 does not answer after the refusal"
[[ $out == *0x* ]] || fail "d1: unexpected answer '$out'"
echo "vusd_fd_limit: ok"
