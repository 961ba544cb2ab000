#!/bin/bash
# vusctl save / load / migrate between two vusd (docs/migration.md): a
# testdev with registers and BAR memory set moves from one vusd to the
# other and reads back byte for byte; a saved file loads into a fresh
# device; a damaged file is refused and the device recovers by reset; a
# gpio's outputs move too.
set -euo pipefail

name=vusctl_migrate
tag=mig
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"
vusd2_pid=
trap '[[ -n $vusd2_pid ]] && kill "$vusd2_pid" 2>/dev/null; cleanup' EXIT

for side in a b; do
	mkdir -p "$dir/$side"
	cat >"$dir/$side/vusd.json" <<JSON
{
  "control": "$dir/$side/ctl.sock",
  "log_level": "info",
  "devices": [ { "name": "td", "type": "testdev", "socket": "$dir/$side/td.sock" },
               { "name": "gp", "type": "gpio", "socket": "$dir/$side/gp.sock" } ]
}
JSON
done
"$bin/vusd" --config "$dir/a/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
"$bin/vusd" --config "$dir/b/vusd.json" 2>"$dir/vusd-b.log" &
vusd2_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
wait_for "$dir/vusd-b.log" 'control socket on'
vc="$bin/vusctl"
a=$dir/a/td.sock
b=$dir/b/td.sock

# ---- state on the source: a register, BAR1 and BAR2 bytes --------------
pat1=$(head -c 256 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
pat2=$(head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
run 0 "$vc" write "$a" bar0 0x4 0x5eed1234
run 0 "$vc" write "$a" bar1 0x1000 "$pat1" --hex
run 0 "$vc" write "$a" bar2 0x40 "$pat2" --hex

# ---- save and load -----------------------------------------------------
run 0 "$vc" save "$a" "$dir/td.state"
has '^saved [0-9]+ bytes$'
# A damaged copy is refused at RESUMING -> STOP, nothing loaded, ERROR.
cp "$dir/td.state" "$dir/bad.state"
printf '\xff' | dd of="$dir/bad.state" bs=1 seek=5000 conv=notrunc status=none
run 1 "$vc" load "$b" "$dir/bad.state"
has 'refused'
grep -q 'migration stream refused' "$dir/vusd-b.log" || fail "no refusal in vusd-b's log"
run 0 "$vc" read "$b" bar0 0x4
has '^0x00000000$'
run 0 "$vc" reset "$b"
# A truncated one too.
head -c 3000 "$dir/td.state" >"$dir/cut.state"
run 1 "$vc" load "$b" "$dir/cut.state"
run 0 "$vc" reset "$b"
run 0 "$vc" load "$b" "$dir/td.state"
has '^loaded [0-9]+ bytes$'
run 0 "$vc" read "$b" bar0 0x4
has '^0x5eed1234$'
run 0 "$vc" reset "$b"

# ---- migrate: the destination reads back what the source holds ---------
run 0 "$vc" write "$a" bar0 0x4 0x600dcafe
run 0 "$vc" migrate "$a" "$b"
has '^round 1: [0-9]+ bytes'
has "^migrated .* pre-copy rounds .*downtime [0-9.]+ ms \(estimated [0-9.]+\), total [0-9.]+ ms$"
regs=()
for off in 0x04 0x08 0x0c 0x10 0x14 0x18 0x1c 0x20 0x24 0x28 0x2c 0x30 0x34 0x38; do
	regs+=("bar0 $off")
done
for r in "${regs[@]}" "bar1 0x1000 --len 256" "bar2 0x40 --len 64"; do
	# shellcheck disable=SC2086
	run 0 "$vc" read "$a" $r
	src=$out
	# shellcheck disable=SC2086
	run 0 "$vc" read "$b" $r
	[[ $out == "$src" ]] || fail "read $r differs after migrate: source $src, destination $out"
done
run 0 "$vc" --json read "$b" bar1 0x1000 --len 256
has "\"data\":\"$pat1\""
run 0 "$vc" --json migrate "$a" "$b"
has '"downtime_us":[0-9]+'

# ---- gpio: its outputs move too ------------------------------------------
run 0 "$vc" write "$dir/a/gp.sock" bar2 0 0x5a --width 1
run 0 "$vc" write "$dir/a/gp.sock" bar2 4 0xc3 --width 1
run 0 "$vc" read "$dir/a/gp.sock" bar2 2 --len 1 # reading IRQ_CTL enables it
run 0 "$vc" migrate "$dir/a/gp.sock" "$dir/b/gp.sock"
has 'stop-copy 121 bytes' # stream header 32, the 16-byte record in a section (28), the interrupt state (12 + 29: one INTx vector), the end marker (20)
run 0 "$vc" read "$dir/b/gp.sock" bar2 0 --len 1
has '^0x5a$'
run 0 "$vc" read "$dir/b/gp.sock" bar2 4 --len 1
has '^0xc3$'
echo "$name: ok"
