#!/bin/bash
# The README's first command as a newcomer runs it (issue 16): the
# dependency check, the configure and the build (of this build tree, so it
# is already up to date and costs a second or two), then vusd serving
# testdev. Checks that
#   - the banner comes only once the socket answers (a vusctl read right
#     after it succeeds),
#   - SIGTERM to the script stops vusd with status 0 and removes the socket,
#   - when the socket is taken by a live server, no banner: vusd's own
#     error and a non-zero status.
# The README's second command, scripts/test.sh, is what CI runs (.ci/run),
# from a path with spaces; running it from inside its own suite would
# recurse.
set -euo pipefail

name=readme_demo
tag=demo
# shellcheck source=test/helpers/vusd_lib.bash
source "$(dirname "$0")/helpers/vusd_lib.bash"
src=${VUS_SOURCE_DIR:?VUS_SOURCE_DIR must point at the source tree}
[[ $(id -u) -eq 0 ]] || [[ -z $(for p in cmake gcc; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done) ]] ||
	{ echo "skipped: build tools missing and not root"; exit 77; }

export VUS_DEMO_SOCKET=$dir/td.sock
demo_pid=
stop_demo() { [[ -z $demo_pid ]] || kill "$demo_pid" 2>/dev/null || true; }
trap 'stop_demo; cleanup' EXIT

"$src/scripts/run-demo.sh" >"$dir/demo.out" 2>&1 &
demo_pid=$!
for _ in $(seq 1200); do
	grep -q 'vusd is serving testdev' "$dir/demo.out" && break
	kill -0 "$demo_pid" 2>/dev/null || fail "run-demo.sh exited early: $(cat "$dir/demo.out")"
	sleep 0.05
done
grep -q 'vusd is serving testdev' "$dir/demo.out" || fail "no banner within 60 s: $(cat "$dir/demo.out")"
# The banner promises a socket that answers now.
run 0 "$bin/vusctl" read "$VUS_DEMO_SOCKET" bar0 0
has '^0x7e570001$'
grep -q "path\":\"$VUS_DEMO_SOCKET\"" "$dir/demo.out" || fail "banner lacks the QEMU option: $(cat "$dir/demo.out")"

# The socket is taken now: a second demo must show vusd's error, no banner.
status=0
"$src/scripts/run-demo.sh" >"$dir/second.out" 2>&1 || status=$?
((status != 0)) || fail "a second demo on a taken socket exited 0"
grep -q 'vusd is serving' "$dir/second.out" && fail "banner printed although vusd failed: $(cat "$dir/second.out")"
grep -q "vusd: .*$VUS_DEMO_SOCKET" "$dir/second.out" || fail "vusd's error not shown: $(cat "$dir/second.out")"

status=0
kill -TERM "$demo_pid"
wait "$demo_pid" || status=$?
demo_pid=
((status == 0)) || fail "run-demo.sh exited $status on SIGTERM: $(cat "$dir/demo.out")"
[[ ! -e $VUS_DEMO_SOCKET ]] || fail "socket left behind"
echo "readme_demo: ok"
