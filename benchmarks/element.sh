#!/usr/bin/env bash
# Frames per second of the GStreamer element alexnetclassify in
#   filesrc ! decodebin ! videoconvert ! alexnetclassify ! fakesink sync=false
# on a generated 1080p30 clip, on CPU, with the torchvision-sized model (1000 classes) and a
# small one, at inference-interval=1 and at the smallest interval that keeps up with real time
# (>= the clip's 30 fps). See benchmarks/README.md ("The GStreamer element").
#
#   benchmarks/element.sh [BUILD_DIR]        (default BUILD_DIR: build, configured if absent)
#
# Environment (all optional):
#   RUNS=5          runs per case; the median is reported
#   SECONDS_=10     clip length in seconds (300 frames at 30 fps)
#   THREADS=0       the element's threads property (0 = all cores)
#   DEVICE=cpu      the element's device property
#   ENCODER=auto    mpeg4 (avenc_mpeg4 + mp4mux, gstreamer1.0-libav) | vp8 (vp8enc + webmmux);
#                   auto = mpeg4 if installed, else vp8
#   MAX_INTERVAL=30 give up the real-time search above this interval
#   EXTRA_INTERVALS="2 5"  further intervals measured for the table ("" for none)
#   NO_BUILD=1      use BUILD_DIR as it is (no ninja)
#   OUT=DIR         where the clip, the models and the log go (default BUILD_DIR/bench-element)
#
# Timing: gst-launch-1.0's "Execution ended after T" (PLAYING to EOS): the model is loaded and
# the first frame prerolled before that, so fps = (frames - 1) / T. The wall time of the whole
# run (model loading included) is logged too. One RESULT line per case.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
RUNS=${RUNS:-5}
SECONDS_=${SECONDS_:-10}
THREADS=${THREADS:-0}
DEVICE=${DEVICE:-cpu}
ENCODER=${ENCODER:-auto}
MAX_INTERVAL=${MAX_INTERVAL:-30}
EXTRA_INTERVALS=${EXTRA_INTERVALS-2 5}
FPS=30
die() { echo "element.sh: error: $*" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $SECONDS_ =~ ^[1-9][0-9]*$ ]] || die "SECONDS_ must be a positive integer"
command -v gst-launch-1.0 >/dev/null || die "gst-launch-1.0 not found (gstreamer1.0-tools)"

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release
fi
if [[ ${NO_BUILD:-0} == 1 ]]; then
  [[ -f $build/plugins/alexnet/libgstalexnet.so && -x $build/tests/cli/make_model ]] ||
    die "NO_BUILD=1 but $build has no plugins/alexnet/libgstalexnet.so or tests/cli/make_model"
else
  ninja -C "$build" plugins/alexnet/libgstalexnet.so tests/cli/make_model
fi
make_model=$build/tests/cli/make_model

out=${OUT:-$build/bench-element}
mkdir -p "$out"
log=$out/results.log
: > "$log"
say() { echo "$@" | tee -a "$log"; }

# The plugin from the build folder only, with a registry of its own.
export GST_PLUGIN_PATH=$build/plugins/alexnet
export GST_REGISTRY_1_0=$out/registry.bin
gst-inspect-1.0 alexnetclassify >/dev/null 2>&1 ||
  die "alexnetclassify does not load from $GST_PLUGIN_PATH (GST_DEBUG=GST_PLUGIN_LOADING:4 says why)"
have() { gst-inspect-1.0 --exists --atleast-version=0.0 "$1"; }

if [[ $ENCODER == auto ]]; then
  if have avenc_mpeg4 && have mp4mux && have avdec_mpeg4; then ENCODER=mpeg4; else ENCODER=vp8; fi
fi
case $ENCODER in
  mpeg4) enc=(avenc_mpeg4 bitrate=8000000 ! mp4mux); clip=$out/clip-1080p30.mp4 ;;
  vp8)   enc=(vp8enc deadline=1 cpu-used=8 target-bitrate=8000000 ! webmmux); clip=$out/clip-1080p30.webm ;;
  *) die "ENCODER must be auto, mpeg4 or vp8" ;;
esac
frames=$((SECONDS_ * FPS))

say "== machine =="
say "date: $(date -u +%Y-%m-%dT%H:%MZ)"
say "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online"
say "libalexnet: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)'), gstreamer $(gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1)"
say "settings: device=$DEVICE threads=$THREADS, $RUNS run(s) per case (median), clip ${SECONDS_} s 1080p${FPS} $ENCODER"
say "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ ! -f "$clip" ] || [ "$(cat "$clip.frames" 2>/dev/null)" != "$frames" ]; then
  say "== clip: $frames frames 1920x1080 @ $FPS fps, $ENCODER =="
  gst-launch-1.0 -q videotestsrc num-buffers="$frames" pattern=smpte horizontal-speed=8 \
    ! "video/x-raw,format=I420,width=1920,height=1080,framerate=$FPS/1" \
    ! "${enc[@]}" ! filesink location="$clip"
  echo "$frames" > "$clip.frames"
fi
for m in torchvision:1000 small-32:10; do
  f=$out/${m%%:*}.safetensors
  [ -f "$f" ] || "$make_model" "$f" "${m%%:*}" "${m##*:}" 1
done

# run_case NAME ELEMENT...: median fps over RUNS runs; sets FPS_RESULT.
run_case() {
  local name=$1; shift
  local fpss=() walls=() r t0 t1 exec_s fps load
  load=$(cut -d' ' -f1 /proc/loadavg)
  for ((r = 0; r < RUNS; r++)); do
    t0=$(date +%s.%N)
    local txt
    txt=$(gst-launch-1.0 filesrc location="$clip" ! decodebin ! videoconvert ! "$@" \
          ! fakesink sync=false 2>&1) || { echo "$txt" >&2; die "case $name failed"; }
    t1=$(date +%s.%N)
    exec_s=$(sed -n 's/^Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\)$/\1 \2 \3/p' <<<"$txt" |
             awk '{print $1 * 3600 + $2 * 60 + $3}')
    [[ -n $exec_s ]] || { echo "$txt" >&2; die "case $name: no 'Execution ended' line"; }
    fps=$(awk -v n="$frames" -v t="$exec_s" 'BEGIN {printf "%.2f", (n - 1) / t}')
    fpss+=("$fps")
    walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
  done
  FPS_RESULT=$(printf '%s\n' "${fpss[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
  say "RESULT case=$name device=$DEVICE threads=$THREADS frames=$frames fps_median=$FPS_RESULT fps_runs=$(IFS=,; echo "${fpss[*]}") wall_s=$(IFS=,; echo "${walls[*]}") load_before=$load"
}

say "== decode only (no alexnetclassify): the ceiling =="
run_case decode-only identity
decode_fps=$FPS_RESULT

declare -A table
for model in torchvision small-32; do
  say "== $model =="
  el=(alexnetclassify model="$out/$model.safetensors" device="$DEVICE" threads="$THREADS")
  run_case "$model/interval=1" "${el[@]}" inference-interval=1
  table[$model,1]=$FPS_RESULT
  rt=""
  if awk -v f="$FPS_RESULT" -v r="$FPS" 'BEGIN {exit !(f >= r)}'; then
    rt=1
  else
    for ((i = 2; i <= MAX_INTERVAL; i++)); do
      run_case "$model/interval=$i" "${el[@]}" inference-interval="$i"
      if awk -v f="$FPS_RESULT" -v r="$FPS" 'BEGIN {exit !(f >= r)}'; then rt=$i; break; fi
    done
  fi
  table[$model,rt]=${rt:-none up to $MAX_INTERVAL}
  table[$model,rtfps]=${rt:+$FPS_RESULT}
  extra=""
  for i in $EXTRA_INTERVALS; do
    (( i > 1 && i != ${rt:-0} )) || continue  # measured already
    run_case "$model/interval=$i" "${el[@]}" inference-interval="$i"
    extra+="${extra:+, }$i: $FPS_RESULT"
  done
  table[$model,extra]=$extra
done

say "== table =="
{
  echo "| model | interval=1 fps | smallest interval ≥ $FPS fps | fps there | other intervals: fps |"
  echo "|---|---|---|---|---|"
  for model in torchvision small-32; do
    echo "| $model | ${table[$model,1]} | ${table[$model,rt]} | ${table[$model,rtfps]:-—} | ${table[$model,extra]:-—} |"
  done
  echo "| (decode only, no element) | $decode_fps | | | |"
} | tee "$out/table.md" | tee -a "$log"
say "log: $log, table: $out/table.md"
