#!/bin/bash
# vusd's and vusctl's command lines: --version, --help, and a clear
# one-line error with exit status 2 for each kind of bad usage.
set -euo pipefail

bin=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}/bin
fail() { echo "vusd_cli: $*" >&2; exit 1; }

# expect PROGRAM STATUS PATTERN ARGS...: exit status and a line of output matching PATTERN
expect() {
	local prog=$1 want=$2 pattern=$3 out status=0
	shift 3
	out=$("$bin/$prog" "$@" 2>&1) || status=$?
	[[ $status -eq $want ]] || fail "$prog $* exited $status, expected $want: $out"
	grep -qE -- "$pattern" <<<"$out" || fail "$prog $* printed '$out', expected /$pattern/"
}

expect vusd 0 '^vusd \(vus\) [0-9]+\.[0-9]+\.[0-9]+$' --version
expect vusd 0 'Exit status' --help
expect vusd 0 '^  testdev ' --help
expect vusd 0 '^  socket_mode ' --help
expect vusd 2 'nothing to serve' --log-level info
expect vusd 2 'exactly one of --socket-path, --fd' --device testdev
expect vusd 2 'exactly one of --socket-path, --fd' --device testdev --socket-path /tmp/x --fd 3
expect vusd 2 'exactly one of --socket-path, --fd' --device testdev,socket=/tmp/y --socket-path /tmp/x
expect vusd 2 'belong to --device' --socket-path /tmp/x
expect vusd 2 '--device: unknown device type "nope" \(known: gpio, nvme, testdev, vfio\)' --device nope --socket-path /tmp/x
expect vusd 2 '--device: unknown key "colour"' --device testdev,colour=red --socket-path /tmp/x
expect vusd 2 '--device: expected key=value, got "junk"' --device testdev,junk --socket-path /tmp/x
expect vusd 2 'key "socket_mode": expected permission bits' --device testdev,socket_mode=rw --socket-path /tmp/x
expect vusd 2 "--fd: 'x3' is not a file descriptor number" --device testdev --fd x3
expect vusd 2 "--dma-layout: unknown value 'fast' \(auto, spec, qemu\)" --device testdev --fd 3 --dma-layout fast
expect vusd 2 "--log-level: unknown value 'loud'" --device testdev --fd 3 --log-level loud
expect vusd 2 "unexpected argument 'extra'" --device testdev --fd 3 extra
expect vusd 2 'Try' --bogus
expect vusd 2 '/nonexistent.json: cannot open' --config /nonexistent.json
expect vusd 3 'cannot listen on /nonexistent-dir/s.sock: its directory does not exist' --device testdev \
	--socket-path /nonexistent-dir/s.sock
# Several --device options (issue 16): each takes the --socket-path/--fd
# after it; a second one for the same device is refused, never replaces.
expect vusd 2 '--device testdev: give exactly one of --socket-path' \
	--device testdev --socket-path /tmp/x --socket-path /tmp/y
expect vusd 2 '--device gpio: give exactly one of .*another --device before its --fd' \
	--device testdev --socket-path /tmp/x --device gpio --socket-path /tmp/y --fd 3
expect vusd 2 '--device gpio: --dma-layout given twice' \
	--device gpio --socket-path /tmp/y --dma-layout spec --dma-layout qemu
expect vusd 2 '--device #1 \(testdev\): give exactly one of --socket-path' \
	--device testdev --device gpio --socket-path /tmp/y
expect vusd 2 '--device #2 \(testdev\): key "name": "testdev" is already the name' \
	--device testdev --socket-path /tmp/x --device testdev --socket-path /tmp/y
expect vusd 2 'socket.*already' \
	--device testdev --socket-path /tmp/x --device gpio --socket-path /tmp/x

# ... and both are served.
dir=$(mktemp -d /tmp/vus-test-cli-XXXXXX)
pid=
trap '[[ -z $pid ]] || kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin/vusd" --device testdev --socket-path "$dir/a.sock" \
	--device gpio,name=g0 --socket-path "$dir/b.sock" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do
	[[ -S $dir/a.sock && -S $dir/b.sock ]] && break
	sleep 0.05
done
out=$("$bin/vusctl" read "$dir/a.sock" bar0 0 2>&1) || fail "testdev: $out $(cat "$dir/log")"
[[ $out == 0x7e570001 ]] || fail "testdev ID read $out"
out=$("$bin/vusctl" info "$dir/b.sock" 2>&1) || fail "gpio: $out $(cat "$dir/log")"
grep -q '494f:0dc8' <<<"$out" || fail "gpio info: $out"
kill "$pid"
status=0
wait "$pid" || status=$?
pid=
((status == 0)) || fail "vusd exited $status on SIGTERM"
[[ ! -e $dir/a.sock && ! -e $dir/b.sock ]] || fail "sockets left behind"

expect vusctl 0 '^vusctl \(vus\) [0-9]+\.[0-9]+\.[0-9]+$' --version
expect vusctl 0 'Exit status' --help
expect vusctl 2 'a command is needed'
expect vusctl 2 "unknown command 'fly'" fly /tmp/x
expect vusctl 2 "unknown command 'list' \(it goes through vusd: --control CTL\)" list
expect vusctl 2 'read: missing arguments' read /tmp/x
expect vusctl 2 "'bar9' is not a region" read /tmp/x bar9 0
expect vusctl 2 "--width: expected 1, 2, 4 or 8" write /tmp/x 0 0 1 --width 3
expect vusctl 2 "0x100 does not fit in 1 bytes" write /tmp/x 0 0 0x100 --width 1
expect vusctl 2 "option '--len' does not go with write" write /tmp/x 0 0 1 --len 4
expect vusctl 2 "unknown option '--bogus'" info /tmp/x --bogus
expect vusctl 2 "--count goes with --watch" irqs /tmp/x --count 1
expect vusctl 2 "--timeout: expected" --timeout 0 info /tmp/x
expect vusctl 3 'No such file or directory \(is the device server running\?\)' info /nonexistent.sock
expect vusctl 5 'is not a socket' info /dev/null
expect vusctl 3 'is vusd running with --control' --control /nonexistent.sock list
echo "vusd_cli: ok"
