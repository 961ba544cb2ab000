#!/bin/bash
# vusctl migrate by name through two vusd's control sockets
# (docs/migration.md "Migrating by name"): the destination device is made
# from the source's type and options (info's spec), the state moves, both
# read back byte for byte; a device with a client is refused (busy) and
# nothing is created; a refused add leaves nothing; --remove-source and
# --create-only do what they say.
set -euo pipefail

name=vusctl_migrate_name
tag=migname
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"
vusd2_pid=
trap '[[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null; [[ -n $vusd2_pid ]] && kill "$vusd2_pid" 2>/dev/null; cleanup' EXIT

uid=$(id -u)
mkdir -p "$dir/a" "$dir/b"
# Non-default options, so that a copy with defaults would show.
cat >"$dir/a/vusd.json" <<JSON
{ "control": "$dir/a/ctl.sock", "admin_uid": $uid, "add_socket_dir": "$dir/a",
  "devices": [ { "name": "td", "type": "testdev", "socket": "$dir/a/td.sock",
                 "pcie": true, "msix": false, "dma_layout": "spec",
                 "budget": { "dma_windows": 64 } },
               { "name": "gp", "type": "gpio", "socket": "$dir/a/gp.sock", "loopback": true } ] }
JSON
cat >"$dir/b/vusd.json" <<JSON
{ "control": "$dir/b/ctl.sock", "admin_uid": $uid, "add_socket_dir": "$dir/b" }
JSON
"$bin/vusd" --config "$dir/a/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
"$bin/vusd" --config "$dir/b/vusd.json" 2>"$dir/vusd-b.log" &
vusd2_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
wait_for "$dir/vusd-b.log" 'control socket on'
vc="$bin/vusctl"
A=("$vc" --control "$dir/a/ctl.sock")
B=("$vc" --control "$dir/b/ctl.sock")

# ---- info carries the spec add takes -----------------------------------
run 0 "${A[@]}" --json info td
has '"spec":\{"type":"testdev","socket_mode":"0600","dma_layout":"spec"'
has '"pcie":true'
has '"msix":false'
src_spec=$(grep -oE '"spec":\{[^}]*\}' <<<"$out")
run 0 "${A[@]}" info td
has '^spec: type=testdev socket_mode=0600 dma_layout=spec .*pcie=true'

# ---- state on the source ---------------------------------------------
pat1=$(head -c 512 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
pat2=$(head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
run 0 "$vc" write "$dir/a/td.sock" bar0 0x4 0x5eed1234
run 0 "$vc" write "$dir/a/td.sock" bar1 0x2000 "$pat1" --hex
run 0 "$vc" write "$dir/a/td.sock" bar2 0x80 "$pat2" --hex

# ---- refused: a client attached (busy), nothing created ------------------
"$vc" irqs "$dir/a/td.sock" --watch >"$dir/watch.out" 2>&1 &
watch_pid=$!
wait_for "$dir/watch.out" 'watching'
run 4 "${A[@]}" migrate td --to "$dir/b/ctl.sock" --socket "$dir/b/td2.sock"
has 'has a client'
run 0 "${B[@]}" list
[[ $out != *td* ]] || fail "a device was created for a refused migration: $out"
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true
watch_pid=
# ---- refused: the destination will not add it (outside its socket dir) ---
run 1 "${A[@]}" migrate td --to "$dir/b/ctl.sock" --socket "$dir/a/elsewhere.sock"
has 'could not create td'
has 'nothing moved'
# ---- usage -----------------------------------------------------------------
run 2 "${A[@]}" migrate td --to "$dir/b/ctl.sock"
has 'needed'

# ---- the move --------------------------------------------------------------
run 0 "${A[@]}" migrate td --to "$dir/b/ctl.sock" --name td2 --socket "$dir/b/td2.sock"
has '^round 1: [0-9]+ bytes, dirty rate [0-9.]+ MB/s, copy rate [0-9.]+ MB/s, estimated downtime [0-9.]+ ms'
has 'converged: nothing new'
has "^migrated td \(.*\) -> td2 \(.*\): [0-9]+ pre-copy rounds .*downtime [0-9.]+ ms \(estimated [0-9.]+\), total [0-9.]+ ms$"
has 'stays in its vusd'
run 0 "${B[@]}" --json info td2
has '"migration":"running"'
has '"budget":\{"dma_windows":64\}'
dst_spec=$(grep -oE '"spec":\{[^}]*\}' <<<"$out")
[[ $dst_spec == "$src_spec" ]] || fail "spec differs: source $src_spec, destination $dst_spec"
for r in "bar0 0x04" "bar0 0x08" "bar0 0x0c" "bar0 0x10" "bar0 0x18" "bar0 0x20" \
	"bar1 0x2000 --len 512" "bar2 0x80 --len 64" "config 0 --len 64"; do
	# shellcheck disable=SC2086
	run 0 "$vc" read "$dir/a/td.sock" $r
	src=$out
	# shellcheck disable=SC2086
	run 0 "$vc" read "$dir/b/td2.sock" $r
	[[ $out == "$src" ]] || fail "read $r differs after migrate: source $src, destination $out"
done
run 0 "$vc" --json read "$dir/b/td2.sock" bar1 0x2000 --len 512
has "\"data\":\"$pat1\""
# And back again, with JSON progress, the source removed.
run 0 "${B[@]}" --json migrate td2 --to "$dir/a/ctl.sock" --name td-back \
	--socket "$dir/a/td-back.sock" --remove-source
has '^\{"event":"round","round":1,"bytes":[0-9]+,"dirty_bytes_per_s":[0-9]+,"estimated_downtime_us":[0-9]+\}$'
has '"stop":"converged: nothing new"'
has '^\{"rounds":[0-9]+,"precopy_bytes":[0-9]+,"stopcopy_bytes":[0-9]+,"estimated_downtime_us":[0-9]+,"downtime_us":[0-9]+,"total_us":[0-9]+\}$'
run 0 "$vc" --json read "$dir/a/td-back.sock" bar1 0x2000 --len 512
has "\"data\":\"$pat1\""
run 0 "${B[@]}" list
[[ $out != *td2* ]] || fail "--remove-source left td2: $out"
# The name is taken now: a second move is refused before anything moves.
run 1 "${A[@]}" migrate td --to "$dir/a/ctl.sock" --name td-back --socket "$dir/a/td3.sock"
has 'nothing moved'

# ---- gpio, JSON, the source removed ---------------------------------------
run 0 "$vc" write "$dir/a/gp.sock" bar2 0 0x5a --width 1
run 0 "${A[@]}" --json migrate gp --to "$dir/b/ctl.sock" --socket "$dir/b/gp.sock" \
	--remove-source --max-rounds 4 --max-time 2000
has '"downtime_us":[0-9]+'
has '"stopcopy_bytes":121'
run 0 "${A[@]}" list
[[ $out != *gp* ]] || fail "--remove-source left the source: $out"
run 0 "$vc" read "$dir/b/gp.sock" bar2 0 --len 1
has '^0x5a$'
run 0 "${B[@]}" --json info gp
has '"loopback":true'

# ---- --create-only: a destination for a VMM that migrates it itself -------
run 0 "${A[@]}" migrate td --to "$dir/b/ctl.sock" --name td9 --socket "$dir/b/td9.sock" \
	--create-only
has '^created td9 \(testdev\)'
run 0 "${B[@]}" --json info td9
has '"pcie":true'
echo "$name: ok"
