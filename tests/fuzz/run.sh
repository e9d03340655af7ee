#!/usr/bin/env bash
# Runs a libFuzzer target for a while, under ASan + UBSan (clang 14, Debian's clang-14 and
# libclang-rt-14-dev): builds build-fuzz/ once (the whole project instrumented), copies the
# target's seed corpus into build-fuzz/corpus/T (which grows across runs), and prints
# libFuzzer's last status line (execs, cov, ft, exec/s). A crash leaves its input in
# build-fuzz/artifacts/T/: copy it into tests/fuzz/regressions/T/ once fixed, so every CI run
# replays it.
#
# Each run's log is kept (build-fuzz/logs/T-DATE.log) and its summary line appended to
# build-fuzz/logs/summary.tsv: what docs/RELIABILITY.md's campaign tables report.
#
#   tests/fuzz/run.sh TARGET SECONDS [RUNS]   TARGET: npy dataset image strings frame weights
# Stops after SECONDS of wall time or RUNS executions, whichever comes first. The summary
# records the CPU time the fuzzer used (user + sys), which is what "1 CPU-hour" counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:?target}
seconds=${2:?seconds}
runs=${3:--1}
build=${FUZZ_BUILD:-$root/build-fuzz}
if [[ ! -f $build/build.ninja ]]; then
  CC=clang-14 CXX=clang++-14 meson setup "$build" "$root" -Dfuzz=true -Dcuda=disabled \
    -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args=-fsanitize=fuzzer-no-link -Dc_args=-fsanitize=fuzzer-no-link > /dev/null
fi
ninja -C "$build" "tests/fuzz/fuzz_$target" plugins/alexnet/libgstalexnet.so > /dev/null
corpus=$build/corpus/$target
artifacts=$build/artifacts/$target
mkdir -p "$corpus" "$artifacts"
cp -n "$root/tests/fuzz/corpus/$target/"* "$corpus/" 2> /dev/null || true
export GST_PLUGIN_PATH=$build/plugins/alexnet GST_REGISTRY_1_0=$build/fuzz-registry.bin
export GST_REGISTRY_FORK=no
# The registry is brought up to date before the fuzzer starts, by gst-inspect-1.0 with the ASan
# runtime preloaded (the plugin is instrumented). Otherwise the fuzzer's first input scans
# every system plugin in-process, and what their init keeps for the process's life (pango's
# fontconfig, GLib tables) is reported by LeakSanitizer as leaks of that input.
LD_PRELOAD=$(clang-14 -print-file-name=libclang_rt.asan-x86_64.so) ASAN_OPTIONS=detect_leaks=0 \
  gst-inspect-1.0 alexnetclassify > /dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
# frame: full malloc stacks, so that lsan.supp can tell GLib's load-time block from ours
[[ $target == frame ]] && ASAN_OPTIONS+=:fast_unwind_on_malloc=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp
mkdir -p "$build/logs"
log=$build/logs/$target-$(date -u +%Y%m%dT%H%M%S).log
TIMEFORMAT='%U %S'
cpu=$( { time "$build/tests/fuzz/fuzz_$target" "$corpus" -max_total_time="$seconds" -runs="$runs" \
  -max_len=1048576 -artifact_prefix="$artifacts/" -print_final_stats=1 > "$log" 2>&1; } 2>&1) ||
  { echo "fuzz_$target: FAILED, see $log and $artifacts"; tail -40 "$log"; exit 1; }
cpu_s=$(awk '{printf "%.0f", $1 + $2}' <<< "$cpu")
last=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1)
echo "$last"
grep -E '^stat::' "$log" || true
echo "cpu time: ${cpu_s} s"
printf '%s\t%s\tcpu %ss\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$cpu_s" "$(git -C "$root" rev-parse --short HEAD)" "$last" \
  >> "$build/logs/summary.tsv"
