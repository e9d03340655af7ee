#!/usr/bin/env bash
# meson install -C BUILD --destdir TMP, then check what a user of the prefix gets.
#   test_install.sh BUILD PREFIX LIBDIR BINDIR INCLUDEDIR gst|no-gst
set -euo pipefail
build=$1 prefix=$2 libdir=$3 bindir=$4 includedir=$5 gst=$6
[[ $libdir == /* ]] || libdir=$prefix/$libdir
[[ $bindir == /* ]] || bindir=$prefix/$bindir
[[ $includedir == /* ]] || includedir=$prefix/$includedir
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then ok "$name"; else fail "$name"; sed 's/^/     /' "$tmp/out"; fi
}

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  echo "FAIL meson install --destdir"
  exit 1
}
ok "meson install --destdir $dest (prefix $prefix)"

L=$dest$libdir B=$dest$bindir I=$dest$includedir
for f in "$L/libalexnet.so" "$L/pkgconfig/alexnet.pc" "$I/alexnet/classifier.h" \
  "$I/alexnet/weights.h" "$B/alexnet-classify" "$B/alexnet-train"; do
  check "installed: ${f#"$dest"}" test -e "$f"
done

export LD_LIBRARY_PATH=$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The installed .pc files, relocated into the DESTDIR (prefix= rewritten; the rest of each
# file is relative to it), ahead of the system's (gstreamer-1.0.pc and friends).
mkdir -p "$tmp/pc"
for pc in "$L"/pkgconfig/*.pc; do
  grep -q "^prefix=$prefix\$" "$pc" || fail "${pc#"$dest"}: prefix=$prefix"
  sed "s|^prefix=.*|prefix=$dest$prefix|" "$pc" >"$tmp/pc/$(basename "$pc")"
done
export PKG_CONFIG_PATH=$tmp/pc
check "pkg-config finds alexnet.pc" pkg-config --exists alexnet
check "alexnet-classify --help runs from the prefix" "$B/alexnet-classify" --help
check "alexnet-train --help runs from the prefix" "$B/alexnet-train" --help

# A program built against the installed headers and library only.
cat >"$tmp/use.cpp" <<'CPP'
#include <alexnet/weights.h>
#include <alexnet/classifier.h>
int main() {
  alexnet::NetConfig cfg = alexnet::NetConfig::by_name("small-28", 10);
  alexnet::Model m = alexnet::random_model(cfg, 1);
  return m.params.empty();
}
CPP
# shellcheck disable=SC2046
check "a program builds with pkg-config --cflags --libs alexnet and runs" bash -c \
  "g++ -std=c++20 -o '$tmp/use' '$tmp/use.cpp' $(pkg-config --cflags --libs alexnet) && '$tmp/use'"

if [[ $gst == gst ]]; then
  P=$L/gstreamer-1.0
  for f in "$P/libgstalexnet.so" "$L/libgstalexnetmeta-1.0.so" \
    "$L/pkgconfig/gstalexnetmeta-1.0.pc" "$I/gstreamer-1.0/gst/alexnet/gstalexnetmeta.h" \
    "$I/gstreamer-1.0/gst/alexnet/gstalexnettensormeta.h" "$B/alexnet-analyze"; do
    check "installed: ${f#"$dest"}" test -e "$f"
  done
  export GST_PLUGIN_PATH=$P GST_REGISTRY=$tmp/registry.bin GST_PLUGIN_SYSTEM_PATH_1_0=""
  unset GST_PLUGIN_SYSTEM_PATH || true
  if gst-inspect-1.0 alexnetclassify >"$tmp/inspect" 2>&1 &&
    grep -q "Filename *$P/libgstalexnet.so" "$tmp/inspect"; then
    ok "gst-inspect-1.0 loads alexnetclassify from $P"
  else
    fail "gst-inspect-1.0 loads alexnetclassify from $P"
    sed 's/^/     /' "$tmp/inspect"
  fi
  check "pkg-config finds gstalexnetmeta-1.0.pc" pkg-config --exists gstalexnetmeta-1.0
  cat >"$tmp/meta.c" <<'C'
#include <gstalexnetmeta.h>
#include <gstalexnettensormeta.h>
int main (void) {
  gst_init (NULL, NULL);
  return gst_alexnet_meta_api_get_type () == 0 || gst_alexnet_tensor_meta_api_get_type () == 0;
}
C
  check "a C program builds with pkg-config gstalexnetmeta-1.0" bash -c \
    "cc -o '$tmp/meta' '$tmp/meta.c' $(pkg-config --cflags --libs gstalexnetmeta-1.0) && '$tmp/meta'"
fi

if ((failures)); then
  echo "$failures failed"
  exit 1
fi
echo "all passed"
