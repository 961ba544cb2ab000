#!/bin/bash
# Issue 12 sandbox, first part: vusd drops its privileges once its
# sockets are bound (--user/--group) and always sets no_new_privs
# (docs/security.md section 1). Two testdevs and a control socket:
#  - /proc/PID/status shows uid and gid 65534, no capabilities left,
#    NoNewPrivs 1; a client still gets served on both devices;
#  - a device added at run time gets its socket from the unprivileged
#    vusd, in an add_socket_dir that user may write;
#  - without --user vusd keeps its uid but still sets no_new_privs;
#  - SIGTERM: exit 0, every socket removed (their directory is the user's).
# Needs root (to drop anything): else skipped.
set -euo pipefail

name=vusd_tenant_priv
tag=tenant-priv
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

if [[ $(id -u) -ne 0 ]]; then
	echo "skipped: needs root to drop privileges"
	exit 77
fi
chmod 0755 "$dir"
mkdir -m 0755 "$dir/run"
chown 65534:65534 "$dir/run"

status_field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$vusd_pid/status"; }

cat >"$dir/vusd.json" <<JSON
{
  "control": "$dir/ctl.sock",
  "add_socket_dir": "$dir/run",
  "devices": [
    { "name": "td0", "type": "testdev", "socket": "$dir/run/td0.sock" },
    { "name": "td1", "type": "testdev", "socket": "$dir/run/td1.sock" }
  ]
}
JSON
"$bin/vusd" --config "$dir/vusd.json" --user 65534 --group 65534 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'running as uid 65534 gid 65534'
[[ $(status_field Uid) == 65534 ]] || fail "uid $(status_field Uid), expected 65534"
[[ $(status_field Gid) == 65534 ]] || fail "gid $(status_field Gid), expected 65534"
[[ $(status_field CapEff) == 0000000000000000 ]] || fail "capabilities left: $(status_field CapEff)"
[[ $(status_field NoNewPrivs) == 1 ]] || fail "no_new_privs not set"
run 0 "$bin/vusctl" read "$dir/run/td0.sock" bar0 0
has '0x7e570001'
run 0 "${ctl[@]}" add "testdev,name=td2,socket=$dir/run/td2.sock"
[[ $(stat -c %u "$dir/run/td2.sock") == 65534 ]] || fail "td2.sock not created by uid 65534"
run 0 "$bin/vusctl" read "$dir/run/td2.sock" bar0 0
has '0x7e570001'
kill "$vusd_pid"
wait "$vusd_pid" || fail "vusd exited $? after SIGTERM"
vusd_pid=
for s in td0 td1 td2; do
	[[ ! -e $dir/run/$s.sock ]] || fail "$s.sock left behind"
done

# Without --user: the same uid, but no_new_privs all the same.
: >"$dir/vusd.log" # the last vusd's lines must not answer wait_for
"$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
vusd_pid=$!
wait_for "$dir/vusd.log" 'control socket on'
[[ $(status_field Uid) == 0 ]] || fail "uid $(status_field Uid) without --user"
for _ in $(seq 50); do [[ $(status_field NoNewPrivs) == 1 ]] && break; sleep 0.05; done
[[ $(status_field NoNewPrivs) == 1 ]] || fail "no_new_privs not set without --user"
kill "$vusd_pid"
wait "$vusd_pid" || fail "vusd exited $? after SIGTERM"
vusd_pid=

# A user that does not exist: setup fails (exit 3), nothing left behind.
run 3 "$bin/vusd" --config "$dir/vusd.json" --user no-such-user-here
has 'no such user'
[[ -z $(ls "$dir/run") ]] || fail "left behind: $(ls "$dir/run")"
echo "$name: ok"
