#!/bin/bash
# One quick vus-nvme-bench run (every mode: irq, hybrid and poll, fd and fd-less
# DMA): it must finish, succeed, and print a ratio row for every job in
# every mode. Speed is never asserted (docs/nvme-testing.md).
set -euo pipefail

build=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}
bench=$build/bin/vus-nvme-bench
if [ ! -x "$bench" ]; then
	echo "skipped: $bench is not built (samples/nvme-emu left out)"
	exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if ! "$bench" --seconds 0.05 >"$out" 2>&1; then
	cat "$out"
	echo "nvme_bench_smoke: vus-nvme-bench failed" >&2
	exit 1
fi
cat "$out"
modes=$(grep -c '^== mode ' "$out" || true)
if [ "$modes" -ne 6 ]; then
	echo "nvme_bench_smoke: expected 6 modes (irq/hybrid/poll x fd/nofd), saw $modes" >&2
	exit 1
fi
for job in randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 \
	seqread-128k-qd8 seqwrite-128k-qd8; do
	rows=$(grep -cE "^$job +[0-9]+ " "$out" || true)
	if [ "$rows" -ne 6 ]; then
		echo "nvme_bench_smoke: $job has $rows result rows, expected 6" >&2
		exit 1
	fi
done
if grep -q 'fatal' "$out"; then
	echo "nvme_bench_smoke: the controller reported a fatal status" >&2
	exit 1
fi
echo "nvme_bench_smoke: ok"
