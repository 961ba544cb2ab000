#!/bin/bash
# Process-isolated devices through vusctl (docs/security.md section 6,
# docs/control.md "Process-isolated devices"): the command line's
# isolation=process and budget.KEY=N, then vusctl's text output:
#  - list and info show the device's process, stats its effective budget
#    (its own dma_windows, the global rest);
#  - read/write/reset through vusd reach the child's device, as the
#    device's own socket shows;
#  - the child killed: vusd logs it, list says dead, info says how, the
#    shared device beside it still serves, remove cleans up;
#  - a bad budget key is a usage error (exit 2) naming it.
# test_vusd_isolation covers the same and more against the JSON replies.
set -euo pipefail

name=vusd_isolation_ctl
tag=isolation-ctl
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

run 2 "$bin/vusd" --device testdev,isolation=process,budget.dma_windowz=3 \
	--socket-path "$dir/x.sock"
has 'budget.*unknown key "dma_windowz"'

"$bin/vusd" --control "$dir/ctl.sock" \
	--device testdev,name=iso,isolation=process,budget.dma_windows=9 --socket-path "$dir/iso.sock" \
	--device testdev,name=sh --socket-path "$dir/sh.sock" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'

run 0 "${ctl[@]}" list
has '^iso +testdev +- '
run 0 "${ctl[@]}" info iso
has '^  process [0-9]+, running$'
has 'BAR0'
pid=$(sed -n 's/^  process \([0-9]*\), running$/\1/p' <<<"$out")
[[ -n $pid && $pid != "$vusd_pid" ]] || fail "no child pid in: $out"
[[ $(awk '$1 == "PPid:" { print $2 }' "/proc/$pid/status") == "$vusd_pid" ]] ||
	fail "process $pid is not vusd's child"
run 0 "${ctl[@]}" stats iso
has 'budget: dma_bytes 0/549755813888, dma_windows 0/9,'
run 0 "${ctl[@]}" stats sh
has 'dma_windows 0/1024,'

run 0 "${ctl[@]}" write iso bar0 4 0x5eed
run 0 "$bin/vusctl" read "$dir/iso.sock" bar0 4
has '0x00005eed'
run 0 "${ctl[@]}" read iso bar0 4
has '0x00005eed'
run 0 "${ctl[@]}" reset iso
run 0 "$bin/vusctl" read "$dir/iso.sock" bar0 4
has '0x00000000'

kill -KILL "$pid"
wait_for "$dir/vusd.log" "device iso: its process $pid killed by signal 9"
run 0 "${ctl[@]}" list
has '^iso +testdev +dead '
run 0 "${ctl[@]}" info iso
has "^  process $pid, dead, killed by SIGKILL$"
run 1 "${ctl[@]}" read iso bar0 4
has "its process $pid killed by signal 9"
run 0 "$bin/vusctl" read "$dir/sh.sock" bar0 0
has '0x7e570001'
run 0 "${ctl[@]}" remove iso
[[ ! -e $dir/iso.sock ]] || fail "remove left $dir/iso.sock"
run 0 "${ctl[@]}" list
! grep -q "^iso " <<<"$out" || fail "iso still listed: $out"

kill "$vusd_pid"
wait "$vusd_pid" || fail "vusd exited $? after SIGTERM"
vusd_pid=
echo "$name: ok"
