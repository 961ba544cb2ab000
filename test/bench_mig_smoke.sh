#!/bin/bash
# One quick vus-mig-bench run (4 MiB of state): it must finish, move the
# state intact (it checks byte for byte) and print its ratio. Speed is
# never asserted.
set -euo pipefail

build=${VUS_BUILD_DIR:?VUS_BUILD_DIR must point at the build tree}
out=$("$build/bin/vus-mig-bench" --quick 2>&1) || { echo "$out"; echo "bench_mig_smoke: failed" >&2; exit 1; }
echo "$out"
grep -q '^ratio migration / floor: [0-9.]\+$' <<<"$out" || { echo "bench_mig_smoke: no ratio line" >&2; exit 1; }
echo "bench_mig_smoke: ok"
