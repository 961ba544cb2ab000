#!/bin/bash
# Issue 12 hole 1: the control socket's own trust model (docs/security.md
# section 1, docs/control.md "Access"). Two tenants' testdevs in one vusd.
#  - by default the control socket is 0600 whatever the devices' mode, so
#    a VMM user (here "nobody") cannot even connect;
#  - opened to everyone (control_mode 0666), a non-admin may only look:
#    list, info, stats, config; read, write, reset, remove, add and
#    log-level changes are refused with EPERM and change nothing;
#  - an admin (admin_uid) may add, but only directly inside add_socket_dir
#    (no "..", no symlinked directory, nowhere else) and with a socket
#    mode within add_socket_mode.
# Needs root (to run vusctl as other users with setpriv): else skipped.
set -euo pipefail

name=vusd_tenant_ctl
tag=tenant-ctl
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

if [[ $(id -u) -ne 0 ]] || ! command -v setpriv >/dev/null; then
	echo "skipped: needs root and setpriv to act as other users"
	exit 77
fi
nobody=65534
admin=4242
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
# Other users must reach the build tree and the test directory.
if ! as $nobody test -x "$bin/vusctl"; then
	echo "skipped: $bin/vusctl is not executable by uid $nobody"
	exit 77
fi
chmod 0755 "$dir"
mkdir -m 0755 "$dir/vms" "$dir/other"
ln -s "$dir/other" "$dir/vms/link"

start_vusd() {
	: >"$dir/vusd.log"
	"$bin/vusd" --config "$dir/vusd.json" "$@" 2>"$dir/vusd.log" &
	vusd_pid=$!
	wait_for "$dir/vusd.log" 'control socket on'
}
stop_vusd() {
	kill "$vusd_pid"
	wait "$vusd_pid" || fail "vusd exited $? after SIGTERM"
	vusd_pid=
}

cat >"$dir/vusd.json" <<JSON
{
  "control": "$dir/ctl.sock",
  "socket_mode": "0660",
  "log_level": "info",
  "devices": [
    { "name": "td0", "type": "testdev", "socket": "$dir/td0.sock", "socket_mode": "0666" },
    { "name": "td1", "type": "testdev", "socket": "$dir/td1.sock", "socket_mode": "0666" }
  ]
}
JSON

# ---- default: the control socket is root's alone ----------------------
start_vusd
[[ $(stat -c %a "$dir/ctl.sock") == 600 ]] || fail "control socket mode $(stat -c %a "$dir/ctl.sock"), expected 600"
[[ $(stat -c %a "$dir/td0.sock") == 666 ]] || fail "td0 socket mode $(stat -c %a "$dir/td0.sock"), expected 666"
run 3 as $nobody "${ctl[@]}" list
run 0 "${ctl[@]}" list
has '^td1 '
stop_vusd

# ---- open to all: others look, admins act, add is fenced --------------
start_vusd --control-mode 0666 --admin-uid $admin --add-socket-dir "$dir/vms"
[[ $(stat -c %a "$dir/ctl.sock") == 666 ]] || fail "control socket mode $(stat -c %a "$dir/ctl.sock"), expected 666"
run 0 "${ctl[@]}" write td1 bar0 4 0x1111
for c in "list" "info td0" "stats td1" "config td0 --header"; do
	# shellcheck disable=SC2086
	run 0 as $nobody "${ctl[@]}" $c
done
refused=("read td1 bar0 4" "write td1 bar0 4 0xbad --force" "reset td1 --force"
	 "remove td1 --force" "log-level debug"
	 "add testdev,name=evil,socket=$dir/vms/evil.sock")
for c in "${refused[@]}"; do
	# shellcheck disable=SC2086
	run 1 as $nobody "${ctl[@]}" $c
	has 'not allowed'
done
run 0 "${ctl[@]}" read td1 bar0 4
has '0x00001111'
run 0 "${ctl[@]}" list
has '^td1 '
[[ ! -e $dir/vms/evil.sock ]] || fail "a refused add created its socket"

# The admin: only in add_socket_dir, only modes within 0660.
run 0 as $admin "${ctl[@]}" add "testdev,name=t2,socket=$dir/vms/t2.sock"
[[ -S $dir/vms/t2.sock ]] || fail "add did not create $dir/vms/t2.sock"
for path in "$dir/other/t3.sock" "$dir/vms/../other/t3.sock" "$dir/vms/link/t3.sock" \
	    "$dir/t3.sock" "$dir/td0.sock" "$dir/vms/.."; do
	run 1 as $admin "${ctl[@]}" add "testdev,name=t3,socket=$path"
	has 'not directly in add_socket_dir'
done
run 1 as $admin "${ctl[@]}" add "testdev,name=t3,socket=$dir/vms/t3.sock,socket_mode=0666"
has 'not within add_socket_mode'
[[ ! -e $dir/other/t3.sock ]] || fail "a refused add created its socket"
run 0 as $admin "${ctl[@]}" remove t2
run 0 as $admin "${ctl[@]}" write td0 bar0 4 7
stop_vusd
[[ ! -e $dir/ctl.sock ]] || fail "control socket left behind"
echo "$name: ok"
