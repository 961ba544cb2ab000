#!/bin/bash
# Build vus with warnings as errors and run the whole test suite.
# Usage: scripts/test.sh   (from anywhere; builds into <repo>/build)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps.sh
source "$root/scripts/deps.sh"
vus_install_deps

cmake -S "$root" -B "$root/build" -DVUS_WERROR=ON
cmake --build "$root/build" -j"$(nproc)"
ctest --test-dir "$root/build" --output-on-failure -j2
