#!/bin/bash
# vusd's device path (server/devloop.c, docs/performance.md "vusd's device
# path"): requests to devices are served from vusd's own epoll set with
# libevent's nested in it; with libevent on another backend (EVENT_NOEPOLL)
# libevent stays the loop. Both ways: which loop runs (its debug line); a
# client keeping td0 busy with back-to-back round trips while td1 answers
# on its socket and the control socket answers list and a read by name --
# the busy client is still running when they are done, so they did not
# wait for it; and SIGTERM ends vusd cleanly.
set -euo pipefail

name=vusd_devloop
tag=devloop
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"

cat >"$dir/vusd.json" <<JSON
{
  "control": "$dir/ctl.sock",
  "log_level": "debug",
  "devices": [
    { "name": "td0", "type": "testdev", "socket": "$dir/td0.sock" },
    { "name": "td1", "type": "testdev", "socket": "$dir/td1.sock" }
  ]
}
JSON

# serve_both LOOP_LINE [ENV...]: one vusd run, its loop checked by its line.
serve_both() {
	local line=$1 busy_pid status=0 i
	shift
	: >"$dir/vusd.log"
	env "$@" "$bin/vusd" --config "$dir/vusd.json" 2>"$dir/vusd.log" &
	vusd_pid=$!
	wait_for "$dir/vusd.log" 'control socket on'
	grep -qE -- "$line" "$dir/vusd.log" || fail "expected /$line/ in vusd's log"

	# Far more than the checks below take (about 10 s on one CPU).
	"$bin/vus-rtt" --connect "$dir/td0.sock" -n 1000000 --region 0 --offset 4 \
		>"$dir/busy.out" 2>&1 &
	busy_pid=$!
	# The busy client is connected and served before the others ask.
	for i in $(seq 100); do
		grep -q 'client attached: yes' <<<"$("${ctl[@]}" info td0 2>&1)" && break
		sleep 0.02
	done
	for i in 1 2 3; do
		run 0 "$bin/vusctl" write "$dir/td1.sock" bar0 4 "0x$i$i"
		run 0 "$bin/vusctl" read "$dir/td1.sock" bar0 4
		has "^0x000000$i$i\$"
		run 0 "${ctl[@]}" list
		has '^td0 +testdev'
		has '^td1 +testdev'
		run 0 "${ctl[@]}" read td1 bar0 4
		has "^0x000000$i$i\$"
	done
	kill -0 "$busy_pid" 2>/dev/null ||
		fail "the busy client ended before the checks did: $(cat "$dir/busy.out")"
	kill "$busy_pid"
	wait "$busy_pid" 2>/dev/null || true
	run 0 "${ctl[@]}" read td0 bar0 0
	has '^0x7e570001$'

	kill -TERM "$vusd_pid"
	wait "$vusd_pid" || status=$?
	vusd_pid=
	[[ $status -eq 0 ]] || fail "vusd exited $status after SIGTERM"
}

serve_both 'device loop: an epoll set of its own'
serve_both 'device loop: libevent.s \(its [a-z]+ backend\)' EVENT_NOEPOLL=1
echo "vusd_devloop: ok"
