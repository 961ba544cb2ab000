#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The library boundary (docs/architecture.md "Library boundary"): the
# symbols the built libvus.so exports are exactly lib/vus.sym, and each
# of them is declared with VUS_API in include/vus/. Run by ctest with
# VUS_BUILD_DIR and VUS_SOURCE_DIR set.
set -u
b=${VUS_BUILD_DIR:?} s=${VUS_SOURCE_DIR:?}
so=$(find "$b/lib" -maxdepth 1 -name 'libvus.so' | head -n1)
if [ -z "$so" ]; then
	echo "no libvus.so under $b/lib" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort -u >"$tmp/exported"
grep -v '^#' "$s/lib/vus.sym" | sed '/^$/d' | sort -u >"$tmp/listed"
cat "$s"/include/vus/*.h | tr '\n' ' ' | grep -o 'VUS_API [^;(]*(' |
	grep -o 'vus_[a-z0-9_]*($' | tr -d '(' | sort -u >"$tmp/declared"
rc=0
if ! diff -u "$tmp/listed" "$tmp/exported" >"$tmp/diff"; then
	echo "libvus.so exports differ from lib/vus.sym (- listed only, + exported only):"
	tail -n +3 "$tmp/diff" | grep '^[-+]'
	rc=1
fi
undeclared=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$undeclared" ]; then
	echo "exported but not declared with VUS_API in include/vus/:"
	echo "$undeclared" | sed 's/^/    /'
	rc=1
fi
# The other way round: a function declared in include/vus/ without
# VUS_API is part of the API on paper and missing from libvus.so.
cat "$s"/include/vus/*.h | tr '\n' ' ' | tr ';{}' '\n\n\n' | grep -v 'VUS_API\|static inline\|typedef\|#define' |
	grep -o '\bvus_[a-z0-9_]* *(' | grep -v '(\*' | tr -d ' (' | sort -u >"$tmp/bare"
bare=$(comm -23 "$tmp/bare" "$tmp/declared")
if [ -n "$bare" ]; then
	echo "declared in include/vus/ without VUS_API (not exported):"
	echo "$bare" | sed 's/^/    /'
	rc=1
fi
[ $rc = 0 ] && echo "ok: libvus.so exports the $(wc -l <"$tmp/exported") symbols of lib/vus.sym, all VUS_API"
exit $rc
