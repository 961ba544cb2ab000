# Shared by the shell tests that drive a running vusd with vusctl
# (vusd_ctl.sh, vusd_gpio.sh). Source it after setting `name` (used in
# messages) and `tag` (the temp directory's name); it sets bin, dir, ctl,
# vusd_pid and watch_pid, and removes everything on exit.
bin=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}/bin
dir=$(mktemp -d "/tmp/vus-test-$tag-XXXXXX")
ctl=("$bin/vusctl" --control "$dir/ctl.sock")
vusd_pid=
watch_pid=
cleanup() {
	[[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null
	[[ -n $vusd_pid ]] && kill "$vusd_pid" 2>/dev/null && wait "$vusd_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
# fail MSG: say what failed, with vusd's log, and stop.
fail() { echo "$name: $*" >&2; [[ -f $dir/vusd.log ]] && sed 's/^/  vusd: /' "$dir/vusd.log" >&2; exit 1; }
# run STATUS CMD...: run it, check the exit status, keep the output in $out
run() {
	local want=$1 status=0
	shift
	out=$("$@" 2>&1) || status=$?
	[[ $status -eq $want ]] || fail "$* exited $status, expected $want: $out"
}
# has REGEX: $out (from run) must match it.
has() { grep -qE -- "$1" <<<"$out" || fail "expected /$1/ in: $out"; }
# wait_for FILE PATTERN: up to 5 s
wait_for() {
	local i
	for i in $(seq 100); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no /$2/ in $1: $(cat "$1")"
}
