#!/bin/bash
# The tree must stand on its own (issue 9): every document a comment or a
# doc cites is in it. Fails on
#   - a mention of a Markdown file (any WORD.md) that is not in the tree,
#     of notes named like WORD-facts, or of a .md under a "shared/" folder
#     (where vus's early notes lived, outside the repository);
#   - a cited docs/NAME.md or DIR/README.md that does not exist;
#   - a cited section of docs/qemu.md (docs/qemu.md "Name" or
#     docs/qemu.md, "Name") or of samples/gpio/README.md that has no
#     heading starting with that name.
# Scans the sources and docs (not build trees, not .git).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${VUS_SOURCE_DIR:-$here/..}
cd "$src"
status=0

files() {
	find . \( -name .git -o -name 'build*' -o -name corpus -o -name golden \) -prune -o \
		-type f \( -name '*.[ch]' -o -name '*.md' -o -name '*.sh' -o -name '*.bash' \
		-o -name '*.txt' -o -name '*.cmake' -o -name '*.json' -o -name '*.in' \
		-o -name '*.service' -o -name '*.sym' -o -name run \) -print0
}

self=./test/cites_in_tree.sh
# 1a. notes outside the tree, by the shape of their names
pattern='\b[a-z]+-facts\b|shared/[A-Za-z_-]+\.md'
while IFS= read -r hit; do
	echo "cites_in_tree: outside the tree: $hit" >&2
	status=1
done < <(files | xargs -0 grep -nHE -e "$pattern" | grep -v "^$self:" || true)

# 1b. every Markdown file named anywhere is a file of the tree
find . \( -name .git -o -name 'build*' \) -prune -o -name '*.md' -printf '%f\n' |
	sort -u >"${TMPDIR:-/tmp}/cites_in_tree.$$"
while IFS=: read -r file md; do
	if ! grep -qxF "$md" "${TMPDIR:-/tmp}/cites_in_tree.$$"; then
		echo "cites_in_tree: $file names $md, which is not in the tree" >&2
		status=1
	fi
done < <(files | xargs -0 grep -oHE -e '\b[A-Za-z0-9_-]+\.md\b' | grep -v "^$self:" | sort -u)
rm -f "${TMPDIR:-/tmp}/cites_in_tree.$$"

# 2. cited documents exist
while IFS=: read -r file doc; do
	if [[ ! -f $doc ]]; then
		echo "cites_in_tree: $file cites $doc, which is not in the tree" >&2
		status=1
	fi
done < <(files | xargs -0 grep -oHE -e '(docs/[a-z0-9_-]+\.md|[a-z0-9_/-]+/README\.md)' |
	sed 's|^\./||' | grep -v "^${self#./}:" | sort -u |
	# a path whose first folder is not in the tree (an install path) is not a citation
	while IFS=: read -r f d; do [[ -d ${d%%/*} ]] && echo "$f:$d"; done)

# 3. cited sections exist: docs/qemu.md "Name" and README.md, "Name"
check_sections() {
	local doc=$1 re=$2 name
	while IFS= read -r line; do
		file=${line%%:*}
		name=${line#*\"}
		name=${name%\"}
		[[ $file == "${self#./}" ]] && continue
		# "Permissions" cites "## 3. Permissions: a QEMU running as ..."
		if ! grep -qE "^#+ ([0-9.]+ )?$(sed 's/[][\.*^$/()|+?{}]/\\&/g' <<<"$name")" "$doc"; then
			echo "cites_in_tree: $file cites section \"$name\" of $doc: no such heading" >&2
			status=1
		fi
	done < <(files | xargs -0 grep -oHE -e "$re\"[^\"]+\"" | sed 's|^\./||' | sort -u)
}
check_sections docs/qemu.md 'docs/qemu\.md,? '
check_sections samples/gpio/README.md 'gpio/README\.md,? '
check_sections samples/gpio/README.md '\(README\.md,? '

if ((status == 0)); then
	echo "cites_in_tree: every cited document and section is in the tree"
fi
exit $status
