#!/bin/bash
# contrib/vusd.example.json works as written (issue 16): vusd serves it
# with only its /run/vus moved to a temporary directory (which the systemd
# unit's RuntimeDirectory= creates for the real one), the socket modes are
# the ones it asks for, the control socket answers; and a missing socket
# directory is an error that says what to do.
set -euo pipefail

name=contrib_example
tag=example
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"
src=${VUS_SOURCE_DIR:?VUS_SOURCE_DIR must point at the source tree}
example=$src/contrib/vusd.example.json

# Without its directory: told, exit 3, nothing left behind.
sed "s|/run/vus/|$dir/missing/|g" "$example" >"$dir/missing.json"
run 3 "$bin/vusd" --config "$dir/missing.json"
has "its directory does not exist \\(create it first"

sed "s|/run/vus/|$dir/|g" "$example" >"$dir/vusd.json"
cmp -s "$example" "$dir/vusd.json" && fail "the example no longer uses /run/vus"
"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
ctl=("$bin/vusctl" --control "$dir/ctl.sock")
run 0 "${ctl[@]}" list
has 'td0'
has 'td1'
# The file's socket_mode 0660 for all, 0600 for td1.
[[ $(stat -c %a "$dir/td0.sock") == 660 ]] || fail "td0.sock mode $(stat -c %a "$dir/td0.sock")"
[[ $(stat -c %a "$dir/td1.sock") == 600 ]] || fail "td1.sock mode $(stat -c %a "$dir/td1.sock")"
run 0 "$bin/vusctl" read "$dir/td1.sock" bar0 0
has '^0x7e570001$'
# td1 runs in a process of its own, with its own budget.
run 0 "${ctl[@]}" info td1
has '^  process [0-9]+, running$'
run 0 "${ctl[@]}" stats td1
has 'dma_windows 0/256,'
echo "$name: ok"
