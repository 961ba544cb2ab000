#!/bin/bash
# One quick vus-bench run: it must finish, succeed, and print its ratio
# table. Speed is never asserted (ratios vary by machine and sanitizer).
set -euo pipefail

build=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if ! "$build/bin/vus-bench" --quick >"$out" 2>&1; then
	cat "$out"
	echo "bench_smoke: vus-bench --quick failed" >&2
	exit 1
fi
cat "$out"
if ! grep -q 'ratio' "$out"; then
	echo "bench_smoke: no ratio line in vus-bench's output" >&2
	exit 1
fi
if ! grep -q '^REGION_READ 4 B' "$out"; then
	echo "bench_smoke: no REGION_READ row in vus-bench's output" >&2
	exit 1
fi
echo "bench_smoke: ok"
