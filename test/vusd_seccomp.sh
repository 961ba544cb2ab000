#!/bin/bash
# Issue 12 sandbox, the seccomp filter (docs/security.md "Seccomp filter"):
#  - by default /proc/PID/status shows Seccomp 2 (filter) and NoNewPrivs 1,
#    and clients are still served, on a device added at run time too;
#  - an nvme with a file backend added at run time gets its io_uring;
#  - a call outside the list made on vusd's behalf (testdev's
#    sandbox-probe: getpgid) fails with EPERM, and vusd logs it once;
#  - --no-seccomp (and "seccomp": false in the config): Seccomp 0, and
#    the same call succeeds.
# Sanitizer builds leave the filter off (their runtimes' calls): skipped.
set -euo pipefail

name=vusd_seccomp
tag=seccomp
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

status_field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$vusd_pid/status"; }
stop() {
	kill "$vusd_pid"
	wait "$vusd_pid" || fail "vusd exited $? after SIGTERM"
	vusd_pid=
}

cat >"$dir/vusd.json" <<JSON
{ "control": "$dir/ctl.sock", "add_socket_dir": "$dir",
  "devices": [ { "name": "td0", "type": "testdev", "socket": "$dir/td0.sock" } ] }
JSON

"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'seccomp filter (on|off)'
if grep -q 'seccomp filter off: sanitizer build' "$dir/vusd.log"; then
	echo "skipped: sanitizer build, vusd leaves the seccomp filter off"
	exit 77
fi
[[ $(status_field Seccomp) == 2 ]] || fail "Seccomp $(status_field Seccomp), expected 2 (filter)"
[[ $(status_field NoNewPrivs) == 1 ]] || fail "NoNewPrivs $(status_field NoNewPrivs), expected 1"
run 0 "$bin/vusctl" read "$dir/td0.sock" bar0 0
has '0x7e570001'
run 0 "${ctl[@]}" add "testdev,name=td1,socket=$dir/td1.sock"
run 0 "$bin/vusctl" read "$dir/td1.sock" bar0 0
has '0x7e570001'
run 0 "${ctl[@]}" testdev td0 sandbox-probe
has "errno: 1$"
has "ret: -1$"
run 0 "${ctl[@]}" testdev td1 sandbox-probe
has "errno: 1$"
[[ $(grep -c 'seccomp: denied system call' "$dir/vusd.log") == 1 ]] ||
	fail "the denied call was not logged exactly once"
run 0 "$bin/vusctl" read "$dir/td0.sock" bar0 0
has '0x7e570001'
# An nvme with a file backend added under the filter sets up its io_uring
# (io_uring_setup and io_uring_register, which the nvme type declares):
# no fallback line, no denied call.
run 0 "${ctl[@]}" add "nvme,name=nv1,file=$dir/nv1.img,size=1M,socket=$dir/nv1.sock"
run 0 "$bin/vusctl" read "$dir/nv1.sock" bar0 0x8
has '0x00010400'
run 0 "${ctl[@]}" nvme nv1 stats
has 'io_uring.*true'
log=$(cat "$dir/vusd.log")
[[ $log != *"io_uring unavailable"* ]] || fail "nvme fell back to pread/pwrite under the filter"
[[ $(grep -c 'seccomp: denied system call' "$dir/vusd.log") == 1 ]] ||
	fail "adding an nvme with a file backend made a call the filter denied"
stop

# --no-seccomp: no filter, and the same call goes through.
: >"$dir/vusd.log" # the last vusd's lines must not answer wait_for
"$bin/vusd" --config "$dir/vusd.json" --no-seccomp 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
run 0 "${ctl[@]}" testdev td0 sandbox-probe
has "errno: 0$"
[[ $(status_field Seccomp) == 0 ]] || fail "--no-seccomp: Seccomp $(status_field Seccomp), expected 0"
[[ $(status_field NoNewPrivs) == 1 ]] || fail "--no-seccomp: no_new_privs not set"
stop

# "seccomp": false in the config file does the same.
sed -i 's/^{ /{ "seccomp": false, /' "$dir/vusd.json"
: >"$dir/vusd.log" # the last vusd's lines must not answer wait_for
"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
run 0 "${ctl[@]}" testdev td0 sandbox-probe
has "errno: 0$"
[[ $(status_field Seccomp) == 0 ]] || fail "\"seccomp\": false: Seccomp $(status_field Seccomp)"
stop
echo "$name: ok"
