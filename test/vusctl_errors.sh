#!/bin/bash
# vusctl's errors on a device socket (issue 16): an out-of-range,
# unaligned or absent-region access says which; --control pointed at a
# device's vfio-user socket fails at once and says what the socket is;
# a busy device or vusd's control socket are still told apart; --force,
# which only means something through vusd, is refused there, not ignored.
set -euo pipefail

name=vusctl_errors
tag=vusctl-err
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

"$bin/vusd" --device testdev --socket-path "$dir/td.sock" --control "$dir/ctl.sock" \
	2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
vc=("$bin/vusctl")

run 1 "${vc[@]}" read "$dir/td.sock" bar0 0x1000
has 'REGION_READ of 4 bytes at region 0 offset 0x1000 failed: Invalid argument \(out of bounds: region 0 is 0x1000 bytes\)'
run 1 "${vc[@]}" read "$dir/td.sock" bar0 0xffe
has 'out of bounds'
run 1 "${vc[@]}" read "$dir/td.sock" bar0 3
has 'within region 0.s 0x1000 bytes: the device does not take this size or alignment'
run 1 "${vc[@]}" write "$dir/td.sock" bar0 2 0x1 --width 2
has 'REGION_WRITE of 2 bytes .* does not take this size or alignment'
run 1 "${vc[@]}" read "$dir/td.sock" 6 0
has 'the device has no region 6'
# The connection stays usable after the refusal: a good read works.
run 0 "${vc[@]}" read "$dir/td.sock" bar0 0
has '^0x7e570001$'

# --force on a device socket: refused with the reason (vusctl is the
# device's one client there), and nothing written or reset.
run 0 "${vc[@]}" write "$dir/td.sock" bar0 4 0x1234
for cmd in "write $dir/td.sock bar0 4 0x5678" "reset $dir/td.sock" "read $dir/td.sock bar0 4"; do
	# shellcheck disable=SC2086 # the words of cmd are the arguments
	run 2 "${vc[@]}" $cmd --force
	has "^vusctl: ${cmd%% *}: --force goes only with --control .* on a device socket vusctl is the device's only client"
done
run 0 "${vc[@]}" read "$dir/td.sock" bar0 4
has '^0x00001234$'

# --control on a device socket: at once (the default timeout is 5 s), and
# what to do instead.
start=$SECONDS
run 5 "${vc[@]}" --control "$dir/td.sock" list
((SECONDS - start < 3)) || fail "--control on a device socket took $((SECONDS - start)) s"
has "is a device's vfio-user socket, not vusd's control socket"
# ... and on the right socket it works.
run 0 "${vc[@]}" --control "$dir/ctl.sock" list
has 'testdev'
echo "$name: ok"
