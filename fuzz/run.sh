#!/bin/bash
# Run every fuzzer for FUZZ_SECONDS (default: FUZZ_SECONDS_DEFAULT, else
# 30) on the committed seeds plus a corpus kept in the build directory,
# FUZZ_JOBS of them at a time (default: the number of CPUs; each fuzzer
# is one thread, so on 2 CPUs two run side by side and the whole takes
# half as long).
# Usage: run.sh BINDIR SEEDDIR WORKDIR   (the fuzz-run target passes them)
# Exit status: non-zero if a fuzzer found a crash; its input is saved in
# WORKDIR/artifacts and the command to reproduce it is printed.
set -euo pipefail

bindir=$1 seeds=$2 work=$3
secs=${FUZZ_SECONDS:-${FUZZ_SECONDS_DEFAULT:-30}}
jobs=${FUZZ_JOBS:-$(nproc)}
((jobs >= 1)) || jobs=1
names=(codec dispatch tenants nvme_sq)
status=0

# One fuzzer's run; its output goes to WORKDIR/fuzz_NAME.log.
run_one() {
	local name=$1 corpus=$work/corpus/$1
	mkdir -p "$corpus" "$work/artifacts"
	# New inputs go to the first directory (the build's); the committed
	# seeds are only read. -timeout: one input may not take over 10 s.
	"$bindir/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
		"$corpus" "$seeds/$name" 2>"$work/fuzz_$name.log"
}

# What a finished run found, and how many inputs it fed the harness: the
# number that says whether it can find anything in this time
# (fuzz/README.md "Speed").
report() {
	local name=$1 rc=$2 runs rate
	if ((rc != 0)); then
		tail -n 60 "$work/fuzz_$name.log"
		echo "fuzz_$name failed; reproduce with: $bindir/fuzz_$name $work/artifacts/$name-*"
		return 1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz_$name.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz_$name.log")
	echo "fuzz_$name: ${runs:-?} inputs in ${secs} s (${rate:-?} exec/s)"
}

for ((i = 0; i < ${#names[@]}; i += jobs)); do
	batch=("${names[@]:i:jobs}")
	pids=()
	echo "== ${batch[*]/#/fuzz_}: ${secs}s"
	for name in "${batch[@]}"; do
		run_one "$name" &
		pids+=($!)
	done
	for k in "${!batch[@]}"; do
		rc=0
		wait "${pids[k]}" || rc=$?
		report "${batch[k]}" "$rc" || status=1
	done
done
exit $status
