#!/bin/bash
# vusd's command line: --version, --help, and a clear one-line error with
# exit status 2 for each kind of bad usage.
set -euo pipefail

vusd=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}/bin/vusd
fail() { echo "vusd_cli: $*" >&2; exit 1; }

# expect STATUS PATTERN ARGS...: exit status and a line of output matching PATTERN
expect() {
	local want=$1 pattern=$2 out status=0
	shift 2
	out=$("$vusd" "$@" 2>&1) || status=$?
	[[ $status -eq $want ]] || fail "vusd $* exited $status, expected $want: $out"
	grep -qE -- "$pattern" <<<"$out" || fail "vusd $* printed '$out', expected /$pattern/"
}

expect 0 '^vusd \(vus\) [0-9]+\.[0-9]+\.[0-9]+$' --version
expect 0 'Exit status' --help
expect 0 'testdev' --help
expect 2 'exactly one of --socket-path and --fd' --device testdev
expect 2 'exactly one of --socket-path and --fd' --device testdev --socket-path /tmp/x --fd 3
expect 2 '--device is required' --socket-path /tmp/x
expect 2 "unknown device type 'nope'" --device nope --socket-path /tmp/x
expect 2 '^  testdev ' --device nope --socket-path /tmp/x
expect 2 "--fd: 'x3' is not a file descriptor number" --device testdev --fd x3
expect 2 "unknown layout 'fast'" --device testdev --fd 3 --dma-layout fast
expect 2 "unknown level 'loud'" --device testdev --fd 3 --log-level loud
expect 2 "unexpected argument 'extra'" --device testdev --fd 3 extra
expect 2 'Try' --bogus
expect 3 'cannot listen on /nonexistent-dir/s.sock' --device testdev \
	--socket-path /nonexistent-dir/s.sock
echo "vusd_cli: ok"
