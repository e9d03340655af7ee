#!/usr/bin/env bash
# Runs a test binary with oneDNN capped at an instruction set, and optionally with forced
# activation blocking:  run_isa.sh PRINT_ISA ISA|native BLOCK|- BINARY [ARGS...]
#   PRINT_ISA  tests/network/print-isa (prints the ISA the cpu backend runs with)
#   ISA        a ONEDNN_MAX_CPU_ISA value (AVX2, AVX512_CORE, ...) or "native"
#   BLOCK      8 or 16 (ALEXNET_CPU_BLOCK), or - for oneDNN's own layouts
# A cap that changes nothing (the CPU's best is already at or below it) is a skip (77) with
# the reason, so a run on an AVX2-only machine does not count the same tests twice; with a
# forced layout it runs all the same (that layout is what it tests).
set -uo pipefail
print_isa=$1 isa=$2 block=$3
shift 3
native=$(env -u ONEDNN_MAX_CPU_ISA "$print_isa") || { echo "cannot read the oneDNN ISA"; exit 1; }
if [ "$isa" != native ]; then
  capped=$(ONEDNN_MAX_CPU_ISA=$isa "$print_isa") || exit 1
  if [ "$capped" = "$native" ] && [ "$block" = - ]; then
    echo "SKIP: this CPU's oneDNN ISA is $native already; ONEDNN_MAX_CPU_ISA=$isa changes nothing"
    exit 77
  fi
  export ONEDNN_MAX_CPU_ISA=$isa
  echo "oneDNN ISA: $capped (native $native, capped with ONEDNN_MAX_CPU_ISA=$isa)"
else
  unset ONEDNN_MAX_CPU_ISA
  echo "oneDNN ISA: $native (native)"
fi
if [ "$block" != - ]; then
  export ALEXNET_CPU_BLOCK=$block
  echo "activations forced to nChw${block}c (ALEXNET_CPU_BLOCK=$block)"
else
  unset ALEXNET_CPU_BLOCK
fi
exec "$@"
