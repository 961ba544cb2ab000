#!/bin/bash
# vusctl end to end against a running vusd: a config file with two
# testdevs and a control socket; vusctl on a device socket (as its client)
# and by name through vusd; config space checked by pciutils' `lspci -F`;
# `irqs --watch` holding a device while vusd raises its interrupt; busy,
# no-server and not-vfio-user exit codes; run-time add/remove; SIGTERM.
set -euo pipefail

name=vusd_ctl
tag=ctl
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

cat >"$dir/vusd.json" <<JSON
{
  "control": "$dir/ctl.sock",
  "log_level": "info",
  "devices": [
    { "name": "td0", "type": "testdev", "socket": "$dir/td0.sock" },
    { "name": "td1", "type": "testdev", "socket": "$dir/td1.sock", "socket_mode": "0660" }
  ]
}
JSON
"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'

# ---- the control socket: list, info by name --------------------------
run 0 "${ctl[@]}" list
has '^td0 +testdev +- +.*/td0.sock$'
has '^td1 +testdev +- +.*/td1.sock$'
run 0 "${ctl[@]}" --json list
has '"devices":\[\{"name":"td0","type":"testdev"'
run 0 "${ctl[@]}" info td1
has '^device td1 \(testdev\) on .*td1.sock, client attached: no$'
has '^  BAR2 +size 0x10000 +rw mem32 callbacks fd-backed mmap \[0x0-0x4000\) \[0x8000-0x10000\)$'
has 'INTx +1 vector eventfd maskable automasked; client eventfds 0'

# ---- a device socket, vusctl as the client ----------------------------
run 0 "$bin/vusctl" info "$dir/td0.sock"
has '^PCI 1234:7e57 subsystem 1234:7e57 class ff0000 rev 01$'
has '^reset: supported$'
has '^  BAR0 +size 0x1000 +rw mem32$'
has '^  BAR2 .* fd-backed mmap \[0x0-0x4000\) \[0x8000-0x10000\)$'
has '^  config +size 0x100 +rw$'
run 0 "$bin/vusctl" --json info "$dir/td0.sock"
has '"regions":\[\{"index":0,"size":4096,"read":true,"write":true'
run 0 "$bin/vusctl" read "$dir/td0.sock" bar0 0
has '^0x7e570001$'
run 0 "$bin/vusctl" write "$dir/td0.sock" bar0 4 0xabcd
run 0 "${ctl[@]}" read td0 bar0 4
has '^0x0000abcd$'
run 0 "${ctl[@]}" --json read td0 0 4
has '"data":"cdab0000","value":43981'
run 0 "$bin/vusctl" write "$dir/td0.sock" bar1 0x10 --hex 00112233445566778899
run 0 "$bin/vusctl" read "$dir/td0.sock" bar1 0x10 --len 10
has '^00000010: 00 11 22 33 44 55 66 77 88 99$'
run 1 "$bin/vusctl" read "$dir/td0.sock" bar0 2 --len 2
has 'REGION_READ of 2 bytes at region 0 offset 0x2 failed: Invalid argument \(within region 0.s 0x1000 bytes: the device does not take this size or alignment\)'
run 0 "$bin/vusctl" reset "$dir/td0.sock"
run 0 "$bin/vusctl" read "$dir/td0.sock" bar0 0x44
has '^0x00000001$'

# ---- config space, judged by pciutils ----------------------------------
"$bin/vusctl" config "$dir/td0.sock" >"$dir/cfg.txt" || fail "config exited $?"
out=$(cat "$dir/cfg.txt")
has '^00:00.0 '
has '^00: 34 12 57 7e'
has '^f0: '
run 0 "${ctl[@]}" config td1 --header
has '^30: '
if command -v lspci >/dev/null; then
	run 0 lspci -F "$dir/cfg.txt" -vvv -nn
	has '^00:00.0 Unassigned class \[ff00\]: Device \[1234:7e57\] \(rev 01\)'
	has 'Subsystem: Device \[1234:7e57\]'
	has 'Interrupt: pin A'
	# lspci reads back exactly the bytes vusctl printed
	lspci -F "$dir/cfg.txt" -xxx 2>/dev/null | tail -n +2 >"$dir/lspci.txt"
	tail -n +2 "$dir/cfg.txt" | diff -u - "$dir/lspci.txt" >&2 || fail "lspci -xxx differs"
	"${ctl[@]}" config td1 >"$dir/cfg1.txt" || fail "config td1 exited $?"
	run 0 lspci -F "$dir/cfg1.txt" -vv -nn
	has 'Device \[1234:7e57\]'
else
	echo "vusd_ctl: lspci not installed (pciutils): config space not checked by lspci"
fi

# ---- irqs --watch holds td0; vusd raises its interrupt ----------------
"$bin/vusctl" irqs "$dir/td0.sock" --watch --count 2 >"$dir/watch.txt" 2>&1 &
watch_pid=$!
wait_for "$dir/watch.txt" '^watching [0-9]+ vectors?: INTx\[0\]'
run 4 "$bin/vusctl" info "$dir/td0.sock"
has 'busy: .*another client .* is attached'
run 4 "${ctl[@]}" write td0 bar0 0x14 1
has 'has a client attached .*--force'
run 0 "${ctl[@]}" write td0 bar0 0x14 1 --force
wait_for "$dir/watch.txt" '^[0-9.]+ INTx\[0\]$'
# INTx is a level: while it stays asserted, watch prints nothing more
# (it once printed thousands of lines a second), and a second cause on
# the asserted line is no change either.
sleep 0.5
run 0 "${ctl[@]}" write td0 bar0 0x14 2 --force
sleep 0.3
[[ $(wc -l <"$dir/watch.txt") -eq 2 ]] || fail "watch while asserted: $(head -20 "$dir/watch.txt")"
run 0 "${ctl[@]}" read td0 bar0 0x10 --force   # attached: callbacks need --force
has '^0x00000003$'
# Acknowledged: the line drops (printed), then a new cause raises it again.
run 0 "${ctl[@]}" write td0 bar0 0x18 3 --force
wait_for "$dir/watch.txt" '^[0-9.]+ INTx\[0\] deasserted$'
run 0 "${ctl[@]}" write td0 bar0 0x14 4 --force
wait "$watch_pid" || fail "irqs --watch exited $?: $(cat "$dir/watch.txt")"
watch_pid=
[[ $(grep -cE '^[0-9.]+ INTx\[0\]$' "$dir/watch.txt") -eq 2 ]] || fail "watch: $(cat "$dir/watch.txt")"
run 0 "${ctl[@]}" read td0 bar0 0x10 --force
has '^0x00000004$'
run 0 "${ctl[@]}" --json stats td0
has '"irqs":([2-9]|[1-9][0-9]+)[,}]'
has '"DEVICE_SET_IRQS":[0-9]'

# ---- run-time add and remove, log level --------------------------------
run 0 "${ctl[@]}" add "testdev,name=td2,socket=$dir/td2.sock"
run 0 "$bin/vusctl" read "$dir/td2.sock" 0 0
has '^0x7e570001$'
run 1 "${ctl[@]}" add "testdev,name=td3,socket=$dir/td2.sock"
has 'is the socket of another device'
run 0 "${ctl[@]}" remove td2
[[ ! -e $dir/td2.sock ]] || fail "td2.sock left behind"
run 1 "${ctl[@]}" info td2
has 'no device named "td2"'
run 0 "${ctl[@]}" log-level debug
has '^debug$'
run 0 "${ctl[@]}" log-level
has '^debug$'
run 1 "${ctl[@]}" testdev td0 anything
has 'unknown testdev command'
run 0 "${ctl[@]}" types
has '^testdev: '

# ---- wrong sockets ------------------------------------------------------
run 5 "$bin/vusctl" --timeout 500 info "$dir/ctl.sock"
has 'not a vfio-user server'
run 5 "$bin/vusctl" --timeout 300 --control "$dir/td0.sock" list
has "is a device's vfio-user socket, not vusd's control socket"

# ---- SIGTERM: exit 0, every socket removed -----------------------------
kill -TERM "$vusd_pid"
status=0
wait "$vusd_pid" || status=$?
vusd_pid=
[[ $status -eq 0 ]] || fail "vusd exited $status after SIGTERM"
for s in ctl td0 td1; do
	[[ ! -e $dir/$s.sock ]] || fail "$s.sock left behind"
done

# ---- contrib/vusd.example.json is a working configuration ----------------
src=${VUS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
mkdir "$dir/run"
sed "s|/run/vus|$dir/run|g" "$src/contrib/vusd.example.json" >"$dir/example.json"
: >"$dir/vusd.log" # the last vusd's lines must not answer wait_for
"$bin/vusd" --config "$dir/example.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
run 0 "$bin/vusctl" --control "$dir/run/ctl.sock" list
has '^td1 '
kill -TERM "$vusd_pid"
wait "$vusd_pid" || fail "vusd with the example configuration exited $?"
vusd_pid=
[[ -z $(ls -A "$dir/run") ]] || fail "sockets left in $dir/run: $(ls "$dir/run")"
echo "vusd_ctl: ok"
