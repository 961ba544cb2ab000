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
# Environment:
#   VUS_VALGRIND       valgrind to use (default: valgrind)
#   VUS_VALGRIND_LOGS  keep the logs in this directory (default: a temp
#                      directory removed unless something was found)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prog=${1:?usage: $0 PROGRAM [ARGS...]}
vg=${VUS_VALGRIND:-valgrind}
name=$(basename "$prog")

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

status=0
"$vg" -q --tool=memcheck \
	--leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect \
	--track-fds=yes --num-callers=30 \
	--trace-children=yes --child-silent-after-fork=yes \
	--trace-children-skip='/usr/*,/bin/*,/sbin/*,*/bash,*/sh,*/vusd' \
	--suppressions="$root/scripts/valgrind.supp" \
	--log-file="$logs/$name.%p.log" \
	"$@" || status=$?

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
