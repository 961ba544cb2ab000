#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# testdev's fault injection through vusd's control socket
# (docs/testdev.md "Fault injection"): `vusctl` on a device socket is the
# VMM, `vusctl --control CTL testdev NAME ...` the fault switch. Failed
# commands carry the chosen errno; a held reply does not block vusd (the
# other device and the control socket answer meanwhile); disconnect now
# and after N commands, the device state kept; DMA failures reach
# DMA_STATUS; ERR (AER) and REQ without a client; storms; bad arguments.
set -euo pipefail

name=vusd_faults
tag=faults
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

cat >"$dir/vusd.json" <<JSON
{
  "control": "$dir/ctl.sock",
  "devices": [
    { "name": "td1", "type": "testdev", "socket": "$dir/td1.sock", "pcie": true },
    { "name": "td2", "type": "testdev", "socket": "$dir/td2.sock" }
  ]
}
JSON
"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
td=("${ctl[@]}" testdev td1)

# ---- a command fails with the chosen errno, COUNT times ---------------
run 0 "${td[@]}" fail REGION_READ EIO 1
has 'command: REGION_READ'
run 1 "$bin/vusctl" read "$dir/td1.sock" bar0 0
has 'Input/output error|EIO'
run 0 "$bin/vusctl" read "$dir/td1.sock" bar0 0
has '0x7e570001'

# ---- a held reply: the loop goes on -----------------------------------
run 0 "${td[@]}" delay REGION_READ 1500 1
start=$SECONDS
"$bin/vusctl" read "$dir/td1.sock" bar0 0 >"$dir/held.txt" 2>&1 &
held_pid=$!
sleep 0.3
# While td1's reply is held, vusd answers the control socket and serves
# td2's client at once.
t=$(date +%s%N)
run 0 "${ctl[@]}" read td2 0 0
run 0 "$bin/vusctl" read "$dir/td2.sock" bar0 0
has '0x7e570001'
ms=$((($(date +%s%N) - t) / 1000000))
((ms < 1000)) || fail "td2 waited $ms ms behind td1's held reply"
wait "$held_pid" || fail "the held read failed: $(cat "$dir/held.txt")"
grep -q 0x7e570001 "$dir/held.txt" || fail "held read: $(cat "$dir/held.txt")"
((SECONDS - start >= 1)) || fail "the reply was not held"
echo "held reply arrived after ~$((SECONDS - start)) s; td2 answered in $ms ms meanwhile"

# ---- disconnect after N commands; state kept --------------------------
run 0 "${ctl[@]}" write td1 0 4 0x600d
run 0 "${td[@]}" disconnect 1        # after VERSION
run 1 "$bin/vusctl" read "$dir/td1.sock" bar0 4
wait_for "$dir/vusd.log" 'fault injection: dropping the client'
run 0 "$bin/vusctl" read "$dir/td1.sock" bar0 4
has '0x0000600d'
run 1 "${td[@]}" disconnect
has 'no client is attached'

# ---- DMA failure, seen in DMA_STATUS ----------------------------------
run 0 "${td[@]}" dma-fail EIO 1
run 0 "${ctl[@]}" write td1 0 0x30 16       # DMA_LEN
run 0 "${ctl[@]}" write td1 0 0x34 1        # DMA_CMD start
run 0 "${ctl[@]}" read td1 0 0x38           # DMA_STATUS: errno 5, error bit
has '0x00050002'
run 0 "${ctl[@]}" write td1 0 0x30 0
run 0 "${ctl[@]}" write td1 0 0x34 1
run 0 "${ctl[@]}" read td1 0 0x38           # error bit gone, last errno kept
has '0x00050000'

# ---- ERR through AER, REQ; no client: recorded, nobody signalled ------
run 0 "${td[@]}" err
has 'aer_uncorrectable: 16384'
run 0 "${ctl[@]}" config td1
run 0 "${td[@]}" req
has 'signalled: false'
run 1 "${ctl[@]}" testdev td2 err
has 'no AER'

# ---- a storm runs for its time, one at a time -------------------------
run 0 "${td[@]}" storm 0 1000 300
run 1 "${td[@]}" storm 1 10 100
has 'already running'
sleep 0.5
run 0 "${td[@]}" storm-status
has 'running: false'

# ---- bad arguments ----------------------------------------------------
run 1 "${td[@]}" fail NOPE EIO
has 'vfio-user command'
run 1 "${td[@]}" fail REGION_READ EWHAT
has 'errno'
run 1 "${td[@]}" delay REGION_READ 0
run 1 "${td[@]}" storm 9 10 10
run 0 "${td[@]}" clear
run 0 "$bin/vusctl" read "$dir/td1.sock" bar0 0
has '0x7e570001'
echo "$name: passed"
