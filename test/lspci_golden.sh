#!/bin/bash
# Golden test with a real judge: pciutils' `lspci -F FILE -vvv -n` decodes
# the config space of vus's sample configurations (dumped by
# test_pci_dump in `lspci -x`/`-xxxx` format) and must print every line of
# test/golden/<name>.txt.
#
# Robust to pciutils versions: only the lines we control are compared.
# Whitespace runs are collapsed, each golden line must be a prefix of an
# output line (newer lspci appends fields, e.g. "Express (v2) Endpoint,
# IntMsgNum 0" for "MSI 00"), the golden lines must appear in order, and
# other output lines are ignored. -n keeps names from pci.ids out of it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${VUS_SOURCE_DIR:-$here/..}
build=${VUS_BUILD_DIR:-$src/build}
dumper=$build/bin/test_pci_dump

# VUS_LSPCI names the lspci to use (test/skips_honest.sh points it at
# nothing to see this test skip).
PATH=$PATH:/usr/sbin:/sbin
if ! lspci=$(command -v "${VUS_LSPCI:-lspci}"); then
	# ctest's SKIP_RETURN_CODE: reported as skipped, never as passed.
	echo "skipped: lspci not found (scripts/deps.sh installs pciutils)"
	exit 77
fi
if [[ ! -x $dumper ]]; then
	echo "lspci_golden: $dumper not built" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dumper" --dump "$tmp"

normalise() {
	sed -e 's/[[:space:]]\+/ /g' -e 's/^ //' -e 's/ $//' "$1"
}

status=0
count=0
for golden in "$src"/test/golden/*.txt; do
	name=$(basename "$golden" .txt)
	dump=$tmp/$name.dump
	if [[ ! -f $dump ]]; then
		echo "lspci_golden: $name: test_pci_dump wrote no $name.dump" >&2
		status=1
		continue
	fi
	# lspci may complain on stderr (no libkmod, no pci.ids): not ours.
	"$lspci" -F "$dump" -vvv -n 2>/dev/null >"$tmp/$name.raw"
	normalise "$tmp/$name.raw" >"$tmp/$name.out"
	normalise "$golden" >"$tmp/$name.want"
	missing=$(awk '
		NR == FNR { want[n++] = $0; next }
		k < n && index($0, want[k]) == 1 { k++ }
		END { if (k < n) print want[k] }
	' "$tmp/$name.want" "$tmp/$name.out")
	if [[ -n $missing ]]; then
		echo "lspci_golden: $name: no line (in order) starting with:" >&2
		echo "  $missing" >&2
		echo "lspci $("$lspci" --version 2>&1 | awk '{print $3}') printed:" >&2
		sed 's/^/  | /' "$tmp/$name.raw" >&2
		status=1
	else
		count=$((count + 1))
	fi
done
if ((status == 0)); then
	echo "lspci_golden: $count configurations decoded as expected by $("$lspci" --version 2>&1)"
fi
exit $status
