#!/bin/bash
# Build vus and run everything CI runs (from anywhere):
#   1. the whole test suite, warnings as errors        (build/)
#   clang: everything compiled again with clang -Werror, nothing run
#      (build-clang/; -O0 without debug info: clang's warnings come from
#      its front end; about 32 s of CPU, docs/testing.md "clang")
#   2. the whole suite again under ASan + UBSan       (build-asan/)
#   3. the whole suite again under TSan               (build-tsan/)
#   4. each libFuzzer harness, one per CPU at a time  (build-fuzz/, clang):
#      fuzz_dispatch until FUZZ_DISPATCH_RUNS inputs (default 1,000,000;
#      fails with fewer within FUZZ_DISPATCH_MAX_SECONDS, default 480),
#      the others FUZZ_SECONDS each (default 50) beside it
#   after each ctest stage: the skipped tests with their reasons
#   valgrind (only when asked for): the C tests and the shell tests that
#      start vusd, with vusd, under valgrind's memcheck, Debug build
#      without sanitizers (build-valgrind/); VALGRIND_TESTS=REGEX picks
#      the tests, VALGRIND_EXCLUDE=REGEX leaves some out (default: those
#      that cannot hold under valgrind); docs/testing.md "valgrind"
# The sanitizer stages leave out the guest tests (label "guest": QEMU
# booting Linux under TCG; they run once, in stage 1).
# Usage: scripts/test.sh [normal] [clang] [asan] [tsan] [fuzz] [valgrind]
#   (no argument: normal clang asan tsan fuzz)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
stages=("$@")
((${#stages[@]})) || stages=(normal clang asan tsan fuzz)

want() {
	local s
	for s in "${stages[@]}"; do
		[[ $s == "$1" ]] && return 0
	done
	return 1
}

for s in "${stages[@]}"; do
	case $s in
	normal | clang | asan | tsan | fuzz | valgrind) ;;
	*) echo "usage: $0 [normal] [clang] [asan] [tsan] [fuzz] [valgrind]" >&2; exit 2 ;;
	esac
done

# shellcheck source=scripts/deps.sh
source "$root/scripts/deps.sh"
# libFuzzer comes with clang's runtime libraries (Debian 12: clang 14).
want fuzz && vus_deps+=(clang libclang-rt-14-dev)
want clang && vus_deps+=(clang)
want valgrind && vus_deps+=(valgrind)
vus_install_deps

jobs=$(nproc)

# run_ctest BUILD_DIR CTEST_ARGS...: the suite, then the list of skipped
# tests with their reasons (scripts/ctest_skips.sh); fails if either fails.
run_ctest() {
	local dir=$1 rc=0 skips=0
	shift
	ctest --test-dir "$dir" --output-on-failure -j2 "$@" 2>&1 | tee "$dir/ctest.out" || rc=$?
	"$root/scripts/ctest_skips.sh" "$dir" "$dir/ctest.out" || skips=$?
	((rc == 0 && skips == 0))
}

if want normal; then
	echo "== tests"
	cmake -S "$root" -B "$root/build" -DVUS_WERROR=ON
	cmake --build "$root/build" -j"$jobs"
	run_ctest "$root/build"
fi

if want clang; then
	# clang warns where gcc does not (and the other way round): the code
	# must build clean with both. CMAKE_BUILD_TYPE=None: no -O, no -g.
	echo "== clang -Werror build"
	CC=clang cmake -S "$root" -B "$root/build-clang" -DCMAKE_BUILD_TYPE=None -DVUS_WERROR=ON
	cmake --build "$root/build-clang" -j"$jobs"
fi

if want asan; then
	echo "== tests under ASan + UBSan"
	cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=ASan -DVUS_WERROR=ON
	cmake --build "$root/build-asan" -j"$jobs"
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
		run_ctest "$root/build-asan" -LE guest
fi

if want tsan; then
	echo "== tests under TSan"
	cmake -S "$root" -B "$root/build-tsan" -DCMAKE_BUILD_TYPE=TSan -DVUS_WERROR=ON
	cmake --build "$root/build-tsan" -j"$jobs"
	TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
		run_ctest "$root/build-tsan" -LE guest
fi

if want valgrind; then
	# Each C test under scripts/valgrind_run.sh (memcheck errors, definite
	# and indirect leaks, fds left open: exit 99; a skip stays 77), with
	# the sample programs it starts; vusd under memcheck too, for the C
	# tests and the shell tests that start it (VUS_VALGRIND_VUSD=1: without
	# its seccomp filter, which valgrind cannot apply). Left out:
	# test_migration_stop (needs two messages in one 5 ms loop turn),
	# vusd_seccomp (tests the filter), vusd_isolation_ctl (a child must
	# answer in 250 ms), vusd_fd_limit (valgrind keeps fds under vusd's
	# limit for itself), vusd_scale (asserts vusd's resident memory). test_vusd_isolation and test_vusd_tenant keep a
	# native vusd: under valgrind an isolated device's process starts
	# slower than vusd's 2 s bound and sees valgrind's own fds, and vusd
	# cannot map tenant's 512 GiB sparse windows in valgrind's address
	# space. Suppressions, each with its reason:
	# scripts/valgrind.supp. docs/testing.md "valgrind".
	echo "== tests under valgrind"
	cmake -S "$root" -B "$root/build-valgrind" -DCMAKE_BUILD_TYPE=Debug -DVUS_WERROR=ON \
		-DVUS_TEST_WRAPPER="$root/scripts/valgrind_run.sh"
	cmake --build "$root/build-valgrind" -j"$jobs"
	VUS_VALGRIND_VUSD=${VUS_VALGRIND_VUSD:-1} \
	VUS_VALGRIND_VUSD_NATIVE=${VUS_VALGRIND_VUSD_NATIVE:-^test_vusd_(isolation|tenant)\$} \
	VUS_VALGRIND_LOGS=${VUS_VALGRIND_LOGS:-$root/build-valgrind/valgrind-logs} \
		run_ctest "$root/build-valgrind" -LE guest \
		-R "${VALGRIND_TESTS:-^(test_|vusd_|vusctl_|contrib_example)}" \
		-E "${VALGRIND_EXCLUDE:-^(test_migration_stop|vusd_seccomp|vusd_isolation_ctl|vusd_fd_limit|vusd_scale)\$}"
fi

if want fuzz; then
	# fuzz_dispatch is fed a million inputs (fuzz/README.md "Speed"):
	# on CI's 2 CPUs it has one to itself for as long as that takes
	# (minutes), while the other three take 50 s each, one after
	# another, on the other.
	: "${FUZZ_SECONDS:=50}"
	: "${FUZZ_DISPATCH_RUNS:=1000000}"
	: "${FUZZ_DISPATCH_MAX_SECONDS:=480}"
	echo "== fuzzers, ${jobs} at a time: fuzz_dispatch ${FUZZ_DISPATCH_RUNS} inputs" \
		"(at most ${FUZZ_DISPATCH_MAX_SECONDS} s), the others ${FUZZ_SECONDS} s each"
	# Only the fuzzers and what they need are built; warnings are the
	# business of the builds above (the clang stage's for clang's).
	CC=clang cmake -S "$root" -B "$root/build-fuzz" -DVUS_FUZZ=ON -DVUS_BUILD_TESTS=OFF \
		-DVUS_WERROR=OFF
	FUZZ_SECONDS=$FUZZ_SECONDS FUZZ_DISPATCH_RUNS=$FUZZ_DISPATCH_RUNS \
		FUZZ_DISPATCH_MAX_SECONDS=$FUZZ_DISPATCH_MAX_SECONDS \
		cmake --build "$root/build-fuzz" -j"$jobs" --target fuzz-run
fi
