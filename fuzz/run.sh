#!/bin/bash
# Run every fuzzer on the committed seeds plus a corpus kept in the build
# directory, FUZZ_JOBS of them at a time (default: the number of CPUs;
# each fuzzer is one thread): as soon as one ends the next starts.
#
# Each runs FUZZ_SECONDS (default: FUZZ_SECONDS_DEFAULT, else 30), but
# with FUZZ_DISPATCH_RUNS=N fuzz_dispatch instead runs until it has been
# fed N inputs (libFuzzer's -runs), for at most FUZZ_DISPATCH_MAX_SECONDS
# (default 600), and the run fails if it was fed fewer: the number of
# inputs is what says whether a run can find anything (fuzz/README.md
# "Speed"). It starts first, the others share the remaining CPUs.
# Usage: run.sh BINDIR SEEDDIR WORKDIR   (the fuzz-run target passes them)
# Exit status: non-zero if a fuzzer found a crash (its input is saved in
# WORKDIR/artifacts and the command to reproduce it is printed) or
# fuzz_dispatch fell short of FUZZ_DISPATCH_RUNS.
set -euo pipefail

bindir=$1 seeds=$2 work=$3
secs=${FUZZ_SECONDS:-${FUZZ_SECONDS_DEFAULT:-30}}
jobs=${FUZZ_JOBS:-$(nproc)}
((jobs >= 1)) || jobs=1
want_runs=${FUZZ_DISPATCH_RUNS:-0}
max_secs=${FUZZ_DISPATCH_MAX_SECONDS:-600}
names=(dispatch codec tenants nvme_sq)
status=0

# A harness's budget as libFuzzer options.
budget() {
	if [[ $1 == dispatch ]] && ((want_runs > 0)); then
		echo "-runs=$want_runs -max_total_time=$max_secs"
	else
		echo "-max_total_time=$secs"
	fi
}

# One fuzzer's run; its output goes to WORKDIR/fuzz_NAME.log.
run_one() {
	local name=$1 corpus=$work/corpus/$1
	mkdir -p "$corpus" "$work/artifacts"
	# New inputs go to the first directory (the build's); the committed
	# seeds are only read. -timeout: one input may not take over 10 s.
	# shellcheck disable=SC2046 # budget() is two words on purpose
	"$bindir/fuzz_$name" $(budget "$name") -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
		"$corpus" "$seeds/$name" 2>"$work/fuzz_$name.log"
}

# What a finished run found, and how many inputs it fed the harness in
# how long.
report() {
	local name=$1 rc=$2 took=$3 runs rate
	if ((rc != 0)); then
		tail -n 60 "$work/fuzz_$name.log"
		echo "fuzz_$name failed; reproduce with: $bindir/fuzz_$name $work/artifacts/$name-*"
		return 1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz_$name.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz_$name.log")
	echo "fuzz_$name: ${runs:-?} inputs in ${took} s (${rate:-?} exec/s)"
	if [[ $name == dispatch ]] && ((want_runs > 0)) && ((${runs:-0} < want_runs)); then
		echo "fuzz_dispatch: fed ${runs:-?} inputs, fewer than the $want_runs" \
			"FUZZ_DISPATCH_RUNS asks for in ${max_secs} s (fuzz/README.md \"Speed\")"
		return 1
	fi
}

declare -A started pid_name
next=0
running=0
while ((next < ${#names[@]} || running > 0)); do
	while ((running < jobs && next < ${#names[@]})); do
		name=${names[next]}
		echo "== fuzz_$name: $(budget "$name")"
		run_one "$name" &
		pid_name[$!]=$name
		started[$name]=$SECONDS
		next=$((next + 1))
		running=$((running + 1))
	done
	rc=0
	wait -n -p done_pid || rc=$?
	running=$((running - 1))
	name=${pid_name[$done_pid]}
	report "$name" "$rc" $((SECONDS - started[$name])) || status=1
done
exit $status
