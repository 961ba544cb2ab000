#!/bin/bash
# Run every fuzzer for FUZZ_SECONDS (default: FUZZ_SECONDS_DEFAULT, else
# 30) on the committed seeds plus a corpus kept in the build directory.
# Usage: run.sh BINDIR SEEDDIR WORKDIR   (the fuzz-run target passes them)
# Exit status: non-zero if a fuzzer found a crash; its input is saved in
# WORKDIR/artifacts and the command to reproduce it is printed.
set -euo pipefail

bindir=$1 seeds=$2 work=$3
secs=${FUZZ_SECONDS:-${FUZZ_SECONDS_DEFAULT:-30}}
status=0

for name in codec dispatch tenants nvme_sq; do
	corpus=$work/corpus/$name
	mkdir -p "$corpus" "$work/artifacts"
	echo "== fuzz_$name: ${secs}s"
	# New inputs go to the first directory (the build's); the committed
	# seeds are only read. -timeout: one input may not take over 10 s.
	if ! "$bindir/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
		"$corpus" "$seeds/$name" 2>"$work/fuzz_$name.log"; then
		status=1
		tail -n 60 "$work/fuzz_$name.log"
		echo "fuzz_$name failed; reproduce with: $bindir/fuzz_$name $work/artifacts/$name-*"
		continue
	fi
	# How many inputs the run fed the harness: the number that says
	# whether it can find anything in this time (fuzz/README.md).
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz_$name.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz_$name.log")
	echo "fuzz_$name: ${runs:-?} inputs in ${secs} s (${rate:-?} exec/s)"
done
exit $status
