#!/bin/bash
# Run one test program under valgrind's memcheck (docs/testing.md,
# "valgrind"): scripts/valgrind_run.sh PROGRAM [ARGS...]
#
# The program's own exit status is kept (0 pass, 77 skipped, anything else
# failed) unless valgrind found something, which makes it 99:
#   * any memcheck error (invalid read/write, uninitialised value reaching
#     a branch or a syscall, bad free) in the program or in a program of
#     the build it exec()s (--trace-children; vus-gpio-example is
#     followed, vusd is not: valgrind 3.19 refuses the seccomp filter's
#     thread sync flag, "seccomp: thread sync: Operation not supported",
#     and vusd will not serve without its filter unless told to);
#   * memory definitely or indirectly lost at exit;
#   * a file descriptor the program opened and did not close by exit
#     (--track-fds; fds inherited from the caller do not count).
# Forked children that do not exec are silent (--child-silent-after-fork):
# they exit with the parent's heap and fds, which is not a leak.
# Programs outside the build (bash, sleep, lspci, ...) are not followed.
#
# With VUS_VALGRIND_VUSD=1, vusd runs under memcheck too: VUS_BUILD_DIR
# (where the tests find vusd and vusctl) is pointed at a copy of the build
# tree made of symlinks, whose bin/vusd starts the real one under valgrind
# with --no-seccomp (valgrind 3.19 cannot apply vusd's filter: its thread
# sync flag is unsupported). Its logs are checked like the program's.
# PROGRAM may then be bash running a shell test.
#
# Environment:
#   VUS_VALGRIND       valgrind to use (default: valgrind)
#   VUS_VALGRIND_VUSD  1: vusd under memcheck too (above)
#   VUS_VALGRIND_VUSD_NATIVE  a regex: the tests so named keep a native
#                      vusd even then (scripts/test.sh says which, and why)
#   VUS_VALGRIND_LOGS  keep the logs in this directory (default: a temp
#                      directory removed unless something was found)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prog=${1:?usage: $0 PROGRAM [ARGS...]}
vg=${VUS_VALGRIND:-valgrind}
name=$(basename "$prog")
# A shell test is named after its script.
[[ $name == bash && $# -ge 2 ]] && name=$(basename "$2" .sh)

if [[ -n ${VUS_VALGRIND_LOGS:-} ]]; then
	mkdir -p "$VUS_VALGRIND_LOGS"
	logs=$(mktemp -d "$VUS_VALGRIND_LOGS/$name.XXXXXX")
	keep=1
else
	logs=$(mktemp -d "/tmp/vus-valgrind-$name.XXXXXX")
	keep=0
fi

# Time bounds in tests stretch for slow builds (test_vusd_hostile etc.).
export VUS_TEST_TIME_SCALE=${VUS_TEST_TIME_SCALE:-20}

# shellcheck disable=SC2054 # the commas are inside option values
memcheck=(-q --tool=memcheck
	--leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect
	--track-fds=yes --num-callers=30
	--child-silent-after-fork=yes
	--suppressions="$root/scripts/valgrind.supp")

if [[ ${VUS_VALGRIND_VUSD:-0} == 1 && ! $name =~ ${VUS_VALGRIND_VUSD_NATIVE:-^$} ]]; then
	build=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}
	shadow=$logs/build
	# Tests that act as other users run vusctl from here (mktemp's 0700
	# would make vusd_tenant_ctl skip).
	chmod 755 "$logs"
	mkdir -p "$shadow/bin"
	for f in "$build"/* "$build"/bin/*; do
		case $f in
		"$build/bin" | "$build/bin/vusd") ;;
		"$build"/bin/*) ln -s "$f" "$shadow/bin/" ;;
		*) ln -s "$f" "$shadow/" ;;
		esac
	done
	{
		cat <<'EOF'
#!/bin/bash
# vusd under memcheck, written by scripts/valgrind_run.sh
extra=(--no-seccomp)
for a in "$@"; do case $a in --help | --version | --no-seccomp) extra=() ;; esac; done
EOF
		printf 'exec %q' "$vg"
		printf ' %q' "${memcheck[@]}" "--log-file=$logs/vusd.%p.log" "$build/bin/vusd"
		# shellcheck disable=SC2016 # expanded by the script written
		printf ' "${extra[@]}" "$@"\n'
	} >"$shadow/bin/vusd"
	chmod +x "$shadow/bin/vusd"
	export VUS_BUILD_DIR=$shadow
fi

status=0
if [[ $(basename "$prog") == bash ]]; then
	# A shell test: bash itself is not ours; vusd is (above).
	"$@" || status=$?
else
	"$vg" "${memcheck[@]}" \
		--trace-children=yes \
		--trace-children-skip='/usr/*,/bin/*,/sbin/*,*/bash,*/sh,*/vusd' \
		--log-file="$logs/$name.%p.log" \
		"$@" || status=$?
fi

# What each log says: "ERROR SUMMARY: N errors" (memcheck errors plus the
# leaks counted as errors) and "Open file descriptor N:" blocks; an fd
# block whose next line is "<inherited from parent>" is not ours, nor are
# 0-2.
found=0
for log in "$logs"/*.log; do
	[[ -e $log ]] || continue
	bad=$(awk '
		/ERROR SUMMARY: [1-9]/ { err = 1 }
		/Open file descriptor [0-9]+:/ {
			fd = $0; sub(/.*descriptor /, "", fd); sub(/:.*/, "", fd)
			pending = (fd + 0 > 2); next
		}
		pending { if ($0 !~ /inherited from parent/) fds++; pending = 0 }
		END { if (err || fds) print (err ? "errors" : "") (fds ? " " fds " fd(s) left open" : "") }
	' "$log")
	# A log of a process that valgrind did not finish (killed by SIGKILL)
	# has no summary; say so, it is not counted as found.
	if ! grep -q 'ERROR SUMMARY' "$log" && ! grep -q 'FILE DESCRIPTORS' "$log"; then
		[[ -s $log ]] && echo "valgrind: $(basename "$log"): no summary (process killed?)" >&2
	fi
	if [[ -n $bad ]]; then
		found=1
		echo "valgrind: $(basename "$log"): $bad" >&2
		sed 's/^/  /' "$log" >&2
	fi
done

if ((found)); then
	echo "valgrind: logs in $logs" >&2
	exit 99
fi
((keep)) || rm -rf "$logs"
# valgrind itself exits with the program's status (77 stays a skip).
exit "$status"
