#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The layer rule of docs/architecture.md, checked on what was built:
#
#   check_layers.sh                       all of it, from VUS_SOURCE_DIR and
#                                         VUS_BUILD_DIR (as ctest runs it)
#   check_layers.sh SRCDIR lib OBJ...     libvus: calls and includes
#   check_layers.sh SRCDIR group NAME OBJ...   a program: no call circle
#
# Calls come from the objects (nm: which file defines each symbol another
# file uses), includes from the sources. A file may call or include only
# its own folder or lower layers; the PCI core (lib/model/pci and
# lib/model/irq) is the one family whose files may call each other both
# ways. No call circle may run through more than one file outside it.
# Prints every violation; exit 1 if there is one.
set -u
if [ $# -eq 0 ]; then
	b=${VUS_BUILD_DIR:?VUS_BUILD_DIR or arguments needed}
	s=${VUS_SOURCE_DIR:?}
	# CMake puts a target's objects in CMakeFiles/<target>.dir/. An
	# object whose source is gone (a file moved or deleted since the
	# build tree was made) is stale, not part of the target: left out.
	objs() {
		local o d="$b/$1/CMakeFiles/$2.dir"
		find "$d" -name '*.o' | sort | while read -r o; do
			r=${o#"$d"/}
			[ -f "$s/$1/${r%.o}" ] && echo "$o"
		done
	}
	rc=0
	"$0" "$s" lib $(objs lib vus_obj) || rc=1
	"$0" "$s" group vusd $(objs server vusd) || rc=1
	"$0" "$s" group vusctl $(objs server vusctl) || rc=1
	exit $rc
fi
src=$1 mode=$2
shift 2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Object path -> source path relative to its target's directory: CMake
# names objects <target>.dir/<path>.c.o.
rel() { local p=${1#*.dir/}; echo "${p%.o}"; }

# edges FILE: "caller callee" lines, one per file pair, for the objects.
edges() {
	local o
	for o in "$@"; do
		nm --defined-only -g "$o" | awk -v f="$(rel "$o")" '$2 ~ /^[TDBRC]$/ {print $3, f}'
	done | sort -u >"$tmp/defs"
	for o in "$@"; do
		nm -u "$o" | awk -v f="$(rel "$o")" '{print $2, f}'
	done | sort -u >"$tmp/uses"
	# join on symbol: user file, defining file
	join "$tmp/uses" "$tmp/defs" | awk '$2 != $3 {print $2, $3}' | sort -u
}

# A circle among the edges (tsort reports each loop it breaks).
circles() {
	local out
	out=$(tsort "$1" 2>&1 >/dev/null | sed -n 's/^tsort: //p' | grep -v "input contains a loop")
	if [ -n "$out" ]; then
		echo "call circle through:"
		echo "$out" | sed 's/^/    /'
		return 1
	fi
	return 0
}

if [ "$mode" = group ]; then
	name=$1
	shift
	edges "$@" >"$tmp/edges"
	if ! circles "$tmp/edges"; then
		echo "FAIL: $name has a call circle"
		exit 1
	fi
	echo "ok: $name: $(wc -l <"$tmp/edges") file-to-file call edges, no circle"
	exit 0
fi

# ---- libvus ---------------------------------------------------------------

# Rank of a lib/ folder for calls (lower is called by higher), in $R.
rank() {
	case $1 in
	base/*) R=0 ;;
	codec/*) R=1 ;;
	transport/*) R=2 ;;
	session/* | client/*) R=3 ;;
	model/region/*) R=4 ;;
	model/pci/* | model/irq/* | model/dma/*) R=5 ;;
	model/migration/*) R=6 ;;
	model/*) R=7 ;;
	dispatch/*) R=8 ;;
	serve/*) R=9 ;;
	*) R=99 ;;
	esac
}
# Headers: the layers as a whole (the device model shares dev_priv.h).
hrank() {
	case $1 in
	base/*) R=0 ;;
	codec/*) R=1 ;;
	transport/*) R=2 ;;
	session/* | client/*) R=3 ;;
	model/*) R=4 ;;
	dispatch/*) R=5 ;;
	serve/*) R=6 ;;
	*) R=99 ;;
	esac
}
pci_core() { case $1 in model/pci/* | model/irq/*) return 0 ;; esac; return 1; }

# may RANKFN FROM TO: is FROM allowed to use TO?
may() {
	local rf=$1 a=$2 b=$3 ra rb ta=${2%%/*} tb=${3%%/*}
	$rf "$a"; ra=$R
	$rf "$b"; rb=$R
	[ "$ra" = 99 ] || [ "$rb" = 99 ] && return 1
	# The client stack is apart from the server side, both ways.
	[ "$tb" = client ] && [ "$ta" != client ] && return 1
	if [ "$ta" = client ] && [ "$tb" != client ]; then
		[ "$rb" -lt 3 ]
		return
	fi
	[ "$rb" -lt "$ra" ] && return 0
	[ "${a%/*}" = "${b%/*}" ] && return 0
	[ "$rf" = rank ] && pci_core "$a" && pci_core "$b" && return 0
	[ "$rf" = hrank ] && [ "$ra" = "$rb" ] && [ "$ta" = "$tb" ] && return 0
	return 1
}

edges "$@" >"$tmp/edges"
n=0
while read -r a b; do
	n=$((n + 1))
	if ! may rank "$a" "$b"; then
		echo "call up: $a -> $b ($(join <(nm -u "$(printf '%s\n' "$@" | grep "/$a.o\$")" |
			awk '{print $2}' | sort) <(nm --defined-only -g "$(printf '%s\n' "$@" |
			grep "/$b.o\$")" | awk '{print $3}' | sort) | tr '\n' ' '))"
		fail=1
	fi
done <"$tmp/edges"

# Circles outside the PCI core.
while read -r a b; do
	pci_core "$a" && pci_core "$b" && continue
	echo "$a $b"
done <"$tmp/edges" >"$tmp/edges_np"
circles "$tmp/edges_np" || fail=1

# Includes of library-internal headers.
cd "$src/lib" || exit 1
find . -name '*.h' | sed 's|^\./||' >"$tmp/headers"
ni=0
while IFS= read -r f; do
	while IFS= read -r h; do
		path=$(grep -E "(^|/)$h\$" "$tmp/headers" | head -n1)
		[ -z "$path" ] && continue
		[ "$path" = "$f" ] && continue
		ni=$((ni + 1))
		if ! may hrank "$f" "$path"; then
			echo "include up: $f includes $path"
			fail=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(find . -name '*.[ch]' | sed 's|^\./||' | sort)

if [ $fail = 0 ]; then
	echo "ok: libvus: $n file-to-file call edges, $ni internal includes, all downward;" \
	     "circles only inside the PCI core"
fi
exit $fail
