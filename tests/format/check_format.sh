#!/usr/bin/env bash
# Every C, C++ and CUDA source of the tree follows its .clang-format (the root one, or
# plugins/meta/.clang-format for the GStreamer-style C meta library). Formatting differs
# between clang-format releases, so the check is Debian 12's clang-format 14; with another
# version, or none, it skips (exit 77) and says why.
#   check_format.sh SOURCE_ROOT
set -uo pipefail
root=${1:?usage: check_format.sh SOURCE_ROOT}
cd "$root" || exit 1

tool=""
for c in clang-format-14 clang-format; do
  if command -v "$c" >/dev/null 2>&1; then tool=$c; break; fi
done
if [ -z "$tool" ]; then
  echo "SKIP: clang-format is not installed (Debian 12: apt-get install clang-format)"
  exit 77
fi
version=$("$tool" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
  echo "SKIP: $tool is version ${version:-unknown}; the tree is formatted with clang-format 14"
  exit 77
fi

if [ -d .git ] && command -v git >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.cu' '*.cuh')
else
  mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o \
    \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o -name '*.cuh' \) \
    -type f -print | sed 's|^\./||' | sort)
fi

bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$tool" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (fix: $tool -i $f)"
    "$tool" "$f" | diff -u "$f" - | head -20
    bad=$((bad + 1))
  fi
done
echo "$tool $version: ${#files[@]} files checked, $bad not formatted"
[ "$bad" = 0 ]
