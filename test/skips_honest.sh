#!/bin/bash
# A skip must be reported as a skip (docs/testing.md, "Skips"): a test that
# prints "skipped: <why>" exits 77, which ctest (SKIP_RETURN_CODE 77)
# reports as skipped, never as passed. This test fails if one does not:
#   1. the cmocka support library itself (build/bin/vus_test_selftest):
#      a skipped test makes the program exit 77 with its reason, a failed
#      assertion prints the expression, the value and the errno name,
#      VUS_TEST_FILTER selects tests;
#   2. the skips this tree has, forced: test_gpio_example without its
#      program, lspci_golden without lspci, every guest_*.sh without QEMU;
#   3. every test ctest knows in the build has SKIP_RETURN_CODE 77;
#   4. by reading the sources: no C test calls cmocka's bare skip() (no
#      reason, exit 0) or returns cmocka_run_group_tests() itself (a skip
#      would exit 0); every shell line that prints "skipped:" exits 77.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${VUS_SOURCE_DIR:-$here/..}
build=${VUS_BUILD_DIR:-$src/build}
bin=$build/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

bad() {
	echo "skips_honest: $*" >&2
	status=1
}

# expect RC PATTERN NAME CMD...: CMD exits RC and prints a line matching
# PATTERN (grep -E) on stdout or stderr.
expect() {
	local want=$1 pat=$2 name=$3 rc=0
	shift 3
	"$@" >"$tmp/out" 2>&1 || rc=$?
	if ((rc != want)); then
		bad "$name: exit $rc, expected $want; it printed:"
		sed 's/^/  | /' "$tmp/out" >&2
	elif ! grep -qE -- "$pat" "$tmp/out"; then
		bad "$name: no line matching '$pat'; it printed:"
		sed 's/^/  | /' "$tmp/out" >&2
	fi
}

# ---- 1. the support library ---------------------------------------------
st=$bin/vus_test_selftest
[[ -x $st ]] || { echo "skips_honest: $st not built" >&2; exit 1; }
expect 0 'test_mode' "selftest pass" "$st" pass
expect 77 '^skipped: vus_test_selftest\.c:[0-9]+: selftest skip, with a reason$' \
	"selftest skip" "$st" skip
VUS_TEST_FILTER=test_holds expect 0 '1 test\(s\) run' "VUS_TEST_FILTER" "$st" skip
expect 1 'minus\(ENOENT\) is -2 \(-ENOENT: No such file or directory\), expected 0' \
	"ASSERT_OK" "$st" fail-ok
expect 1 'minus\(ENOENT\) is -ENOENT \(No such file or directory\), expected -EINVAL \(Invalid argument\)' \
	"ASSERT_ERR" "$st" fail-err
expect 1 'minus\(2\) == 0 failed: -2 \(0xfffffffffffffffe\) != 0' \
	"ASSERT_EQ" "$st" fail-eq
expect 1 'minus\(EBADF\) is -9 \(-EBADF: Bad file descriptor\), expected >= 0' \
	"ASSERT_NONNEG" "$st" fail-nonneg
expect 1 'minus\(-EAGAIN\) is 11 \(as an errno: EAGAIN\), expected 0' \
	"ASSERT_OK, positive errno" "$st" fail-pos

# ---- 2. this tree's skips, forced ---------------------------------------
expect 77 '^skipped: .*vus-gpio-example not found' "test_gpio_example without its program" \
	env VUS_BUILD_DIR="$tmp/nothing" "$bin/test_gpio_example"
expect 77 '^skipped: lspci not found' "lspci_golden without lspci" \
	env VUS_LSPCI="$tmp/no-lspci" VUS_BUILD_DIR="$build" VUS_SOURCE_DIR="$src" \
	bash "$src/test/lspci_golden.sh"
for g in "$src"/test/guest_*.sh; do
	[[ -e $g ]] || continue
	expect 77 '^skipped: VUS_QEMU is not set' "$(basename "$g") without QEMU" \
		env -u VUS_QEMU VUS_BUILD_DIR="$build" VUS_SOURCE_DIR="$src" bash "$g"
done

# ---- 3. every registered test takes 77 for a skip ------------------------
# (ctest's own description of the build's tests). ctest rewrites
# Testing/Temporary/LastTest.log even for --show-only, and the running
# ctest's log is what scripts/ctest_skips.sh reads the skip reasons from:
# ask it about a copy of the build's CTestTestfile.cmake files instead.
(cd "$build" && find . -name Testing -prune -o -name CTestTestfile.cmake -print) |
	while IFS= read -r f; do
		mkdir -p "$tmp/ctest/$(dirname "$f")"
		cp "$build/$f" "$tmp/ctest/$f"
	done
if ctest --test-dir "$tmp/ctest" --show-only=json-v1 >"$tmp/tests.json" 2>/dev/null; then
	awk '
		/"tests" :/ { in_tests = 1 }
		!in_tests { next }
		/^      "name" : "/ {
			if (name != "" && !ok) print name
			name = $0; sub(/^[^:]*: "/, "", name); sub(/",?$/, "", name); ok = 0
		}
		/"name" : "SKIP_RETURN_CODE"/ { want = 1; next }
		want { ok = ($0 ~ /"value" : 77/); want = 0 }
		END { if (name != "" && !ok) print name }
	' "$tmp/tests.json" >"$tmp/no77"
	n=$(grep -c '^      "name" : "' "$tmp/tests.json" || true)
	((n > 0)) || bad "ctest --show-only=json-v1 listed no tests"
	while IFS= read -r t; do
		bad "ctest test $t has no SKIP_RETURN_CODE 77: a skip would count as a failure or a pass"
	done <"$tmp/no77"
else
	bad "ctest --show-only=json-v1 on $build's test files failed"
fi

# ---- 4. the sources -------------------------------------------------------
while IFS= read -r hit; do
	bad "$hit: cmocka's bare skip() gives no reason and exits 0: use VUS_SKIP(\"why\")"
done < <(grep -nE '(^|[^_A-Za-z])skip\(\)' "$src"/test/*.c | sed "s|^$src/||")
while IFS= read -r hit; do
	bad "$hit: return VUS_RUN_TESTS(...) so that a skip exits 77"
done < <(grep -n 'cmocka_run_group_tests' "$src"/test/*.c "$src"/test/selftest/*.c |
	sed "s|^$src/||")
for f in "$src"/test/*.c; do
	grep -q 'VUS_RUN_TESTS' "$f" || grep -q 'int main' "$f" || continue
	grep -q 'VUS_RUN_TESTS' "$f" || bad "${f#"$src"/}: main does not return VUS_RUN_TESTS(...)"
done
# A shell line printing "skipped:" is followed by exit 77 within two lines.
for f in "$src"/test/*.sh "$src"/test/helpers/*.bash; do
	awk -v f="${f#"$src"/}" '
		/echo[^#]*"skipped:/ { pending = NR; what = $0 }
		pending && /exit 77/ { pending = 0 }
		pending && NR > pending + 2 {
			printf "%s:%d: prints a skip reason without exit 77\n", f, pending
			pending = 0; bad = 1
		}
		END { if (pending) printf "%s:%d: prints a skip reason without exit 77\n", f, pending }
	' "$f" >>"$tmp/shell"
done
while IFS= read -r hit; do
	bad "$hit"
done <"$tmp/shell"

if ((status == 0)); then
	echo "skips_honest: skips exit 77 with a reason; assertions name what failed"
fi
exit $status
