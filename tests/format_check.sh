#!/usr/bin/env bash
# format_check.sh CLANG_FORMAT — fails if any C file in the source tree differs from
# what .clang-format says. Fix with: clang-format -i $(git ls-files '*.c' '*.h')
set -eu
cf=${1:-clang-format}
files=$(find proto node gateway tools tests -name '*.[ch]' -not -path '*/node_modules/*' | sort)
bad=0
for f in $files; do
    if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        bad=$((bad + 1))
    fi
done
n=$(echo "$files" | wc -w)
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
