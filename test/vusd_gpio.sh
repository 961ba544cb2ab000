#!/bin/bash
# The gpio device under vusd, driven from outside while a client holds its
# socket (issue 5): `vusctl irqs --watch` is the VMM, the guest driver's
# register accesses go through the control socket, and
# `vusctl --control CTL gpio NAME set-input` toggles an input, which must
# reach the client as an INTx. Also: outputs read back with get-outputs,
# loopback refusing set-input, bad arguments.
set -euo pipefail

name=vusd_gpio
tag=gpio
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

cat >"$dir/vusd.json" <<JSON
{
  "control": "$dir/ctl.sock",
  "devices": [
    { "name": "g0", "type": "gpio", "socket": "$dir/g0.sock" },
    { "name": "g1", "type": "gpio", "socket": "$dir/g1.sock", "loopback": true }
  ]
}
JSON
"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'

run 0 "${ctl[@]}" info g0
has '494f:0dc8'

# The VMM attaches and wires INTx; the "guest" probes like Linux 6.1:
# filters off, interrupt off, clear; then enables it with a read of 2.
"$bin/vusctl" irqs "$dir/g0.sock" --watch --count 1 >"$dir/watch.txt" 2>&1 &
watch_pid=$!
wait_for "$dir/watch.txt" '^watching [0-9]+ vectors?: INTx\[0\]'
run 0 "${ctl[@]}" write g0 bar2 3 0 --width 1 --force
run 0 "${ctl[@]}" write g0 bar2 2 0 --width 1 --force
run 0 "${ctl[@]}" write g0 bar2 1 0 --width 1 --force
# gpio's registers are served by its read callback, and reading offset 2
# enables interrupts: with the VMM attached a read needs --force too.
run 4 "${ctl[@]}" read g0 bar2 2 --len 1
has 'side effects'
run 0 "${ctl[@]}" read g0 bar2 6 --len 1 --force
has '^0x00$'
run 0 "${ctl[@]}" read g0 bar2 2 --len 1 --force

# An input edge from outside: the client sees INTx, status says "mine".
run 0 "${ctl[@]}" gpio g0 set-input 3 1
has '"?inputs"?[ :=]+8'
wait_for "$dir/watch.txt" '^[0-9.]+ INTx\[0\]$'
wait "$watch_pid" || fail "irqs --watch exited $?: $(cat "$dir/watch.txt")"
watch_pid=
run 0 "${ctl[@]}" read g0 bar2 6 --len 1 --force
has '^0x05$'
run 0 "${ctl[@]}" read g0 bar2 1 --len 1 --force
has '^0x08$'

# Outputs written by the guest are visible from outside.
run 0 "${ctl[@]}" write g0 bar2 0 0x5a --width 1 --force
run 0 "${ctl[@]}" write g0 bar2 4 0x81 --width 1 --force
run 0 "${ctl[@]}" --json gpio g0 get-outputs
has '"outputs":33114[,}]'

# Loopback: outputs drive inputs; inputs cannot be set from outside.
run 0 "${ctl[@]}" write g1 bar2 0 0x0f --width 1
run 0 "${ctl[@]}" --json gpio g1 get-inputs
has '"inputs":15[,}]'
run 1 "${ctl[@]}" gpio g1 set-input 0 1
has 'loopback'

# Bad arguments are refused with a usage line.
run 1 "${ctl[@]}" gpio g0 set-input 16 1
has 'expected 0\.\.15'
run 1 "${ctl[@]}" gpio g0 set-input 2 7
has 'expected 0 or 1'
run 1 "${ctl[@]}" gpio g0 frobnicate
has 'usage: set-input N 0\|1'

kill "$vusd_pid"
wait "$vusd_pid" || fail "vusd exited $? on SIGTERM"
vusd_pid=
[[ ! -e $dir/g0.sock && ! -e $dir/g1.sock ]] || fail "sockets left behind"
# The spec's backend-program form: one device on the command line.
: >"$dir/vusd.log" # the last vusd's lines must not answer wait_for
"$bin/vusd" --device gpio,loopback=true --socket-path "$dir/one.sock" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'serving gpio'
run 0 "$bin/vusctl" info "$dir/one.sock"
has '494f:0dc8'
run 0 "$bin/vusctl" write "$dir/one.sock" bar2 0 0x3c --width 1
run 0 "$bin/vusctl" read "$dir/one.sock" bar2 1 --len 1
has '^0x3c$'
kill "$vusd_pid"
wait "$vusd_pid" || fail "vusd exited $? on SIGTERM"
vusd_pid=
[[ ! -e $dir/one.sock ]] || fail "socket left behind"
echo "vusd_gpio: ok"
