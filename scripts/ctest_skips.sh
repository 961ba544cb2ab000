#!/bin/bash
# List the tests ctest skipped in its last run, each with the reason it
# printed ("skipped: <why>" lines, docs/testing.md "Skips").
# Usage: scripts/ctest_skips.sh BUILD_DIR CTEST_OUTPUT
#   CTEST_OUTPUT: what ctest printed (its "(Skipped)" lines name the
#   skipped tests; LastTest.log does not mark them) -- the reasons come
#   from BUILD_DIR/Testing/Temporary/LastTest.log.
# Exits 1 if a test printed a skip reason yet ctest counted it as passed
# (a silent pass), or was skipped without printing a reason.
set -euo pipefail

build=$1
out=$2
log=$build/Testing/Temporary/LastTest.log
[[ -f $log ]] || { echo "ctest_skips: no $log" >&2; exit 1; }

mapfile -t skipped < <(sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(Skipped\)$/\1/p' "$out")

# name<TAB>reason for every "skipped:" line of every test's output; a
# cmocka program's closing list repeats its reasons: printed once.
awk '
	/^[0-9]+\/[0-9]+ Test: / { name = $3; next }
	/^skipped: [0-9]+ test\(s\) of this program/ { next }
	/^skipped:/ {
		r = $0; sub(/^skipped:[[:space:]]*/, "", r)
		if (!seen[name SUBSEP r]++) print name "\t" r
	}
' "$log" >"$build/Testing/Temporary/skip-reasons.tsv"

status=0
echo "== ${#skipped[@]} test(s) skipped"
for t in "${skipped[@]}"; do
	reasons=$(awk -F'\t' -v t="$t" '$1 == t { print "     " $2 }' \
		"$build/Testing/Temporary/skip-reasons.tsv")
	echo "  $t"
	if [[ -z $reasons ]]; then
		echo "     (printed no reason)"
		echo "ctest_skips: $t skipped without printing \"skipped: <why>\"" >&2
		status=1
	else
		echo "$reasons"
	fi
done

while IFS=$'\t' read -r name reason; do
	found=0
	for t in "${skipped[@]}"; do
		[[ $t == "$name" ]] && found=1
	done
	if ((!found)); then
		echo "ctest_skips: $name printed \"skipped: $reason\" but ctest counted it as run" >&2
		status=1
	fi
done <"$build/Testing/Temporary/skip-reasons.tsv"
exit $status
