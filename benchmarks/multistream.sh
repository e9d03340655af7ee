#!/usr/bin/env bash
# Many camera streams through one process: N private alexnetclassify instances (batch-size 1,
# default threads: each uses all cores) against N elements sharing one model-instance-id
# (batch-size N: frames of all streams batched together), in the same run, on a generated
# 720p clip decoded N times, with the torchvision-sized model (1000 classes).
#
#   benchmarks/multistream.sh [BUILD_DIR]    (default BUILD_DIR: build)
#
# Environment (all optional):
#   STREAMS="1 4 8"   stream counts
#   FRAMES=40         frames per stream
#   RUNS=3            runs per case; the median is reported
#   DEVICE=cpu        the element's device property
#   NO_BUILD=1        use BUILD_DIR as it is (no ninja)
#   OUT=DIR           clip, model and log (default BUILD_DIR/bench-multistream)
#
# Timing: gst-launch-1.0's "Execution ended after T" (PLAYING to EOS of every stream; the model
# is loaded before). Aggregate fps = all streams' frames / T. The shared runs' mean batch comes
# from the elements' alexnet-stats at EOS. One RESULT line per case.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
STREAMS=${STREAMS:-1 4 8}
FRAMES=${FRAMES:-40}
RUNS=${RUNS:-3}
DEVICE=${DEVICE:-cpu}
die() { echo "multistream.sh: error: $*" >&2; exit 1; }
[[ $FRAMES =~ ^[1-9][0-9]*$ ]] || die "FRAMES must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
command -v gst-launch-1.0 >/dev/null || die "gst-launch-1.0 not found (gstreamer1.0-tools)"
if [[ ${NO_BUILD:-0} != 1 ]]; then
  ninja -C "$build" plugins/alexnet/libgstalexnet.so tests/cli/make_model
fi
out=${OUT:-$build/bench-multistream}
mkdir -p "$out"
log=$out/results.log
: > "$log"
say() { echo "$@" | tee -a "$log"; }
export GST_PLUGIN_PATH=$build/plugins/alexnet
export GST_REGISTRY_1_0=$out/registry.bin
gst-inspect-1.0 alexnetclassify >/dev/null 2>&1 || die "alexnetclassify does not load from $GST_PLUGIN_PATH"

clip=$out/clip-720p30.webm
say "== machine =="
say "date: $(date -u +%Y-%m-%dT%H:%MZ)"
say "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online"
say "libalexnet: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
say "settings: device=$DEVICE, $FRAMES frames per stream, $RUNS run(s) per case (median), clip 1280x720 vp8"
if [ ! -f "$clip" ] || [ "$(cat "$clip.frames" 2>/dev/null)" != "$FRAMES" ]; then
  gst-launch-1.0 -q videotestsrc num-buffers="$FRAMES" pattern=smpte horizontal-speed=8 \
    ! "video/x-raw,format=I420,width=1280,height=720,framerate=30/1" \
    ! vp8enc deadline=1 cpu-used=8 target-bitrate=4000000 ! webmmux ! filesink location="$clip"
  echo "$FRAMES" > "$clip.frames"
fi
model=$out/torchvision.safetensors
[ -f "$model" ] || "$build/tests/cli/make_model" "$model" torchvision 1000 1

# run_case NAME N SHARED: one gst-launch-1.0 with N branches; sets FPS_RESULT and BATCH_RESULT.
run_case() {
  local name=$1 n=$2 shared=$3 fpss=() batches=() r
  for ((r = 0; r < RUNS; r++)); do
    local args=() k
    for ((k = 0; k < n; k++)); do
      args+=(filesrc location="$clip" ! decodebin ! videoconvert ! alexnetclassify
             model="$model" device="$DEVICE" overlay=false)
      if [[ $shared == 1 ]]; then
        args+=(model-instance-id=bench batch-size="$n" batch-timeout=100)
      fi
      args+=(! fakesink sync=false)
    done
    local txt exec_s
    txt=$(gst-launch-1.0 -m "${args[@]}" 2>&1) || { echo "$txt" | tail -20 >&2; die "case $name failed"; }
    exec_s=$(sed -n 's/^Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\)$/\1 \2 \3/p' <<<"$txt" |
             awk '{print $1 * 3600 + $2 * 60 + $3}')
    [[ -n $exec_s ]] || { echo "$txt" | tail -20 >&2; die "case $name: no 'Execution ended' line"; }
    fpss+=("$(awk -v n="$((n * FRAMES))" -v t="$exec_s" 'BEGIN {printf "%.2f", n / t}')")
    batches+=("$( (grep -o 'mean-batch=(double)[0-9.]*' <<<"$txt" || true) | tail -1 | sed 's/.*)//')")
  done
  FPS_RESULT=$(printf '%s\n' "${fpss[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
  BATCH_RESULT=${batches[-1]:-}
  say "RESULT case=$name streams=$n aggregate_fps_median=$FPS_RESULT fps_runs=$(IFS=,; echo "${fpss[*]}") mean_batch=${BATCH_RESULT:-n/a}"
}

for n in $STREAMS; do
  say "== $n stream(s) =="
  run_case "private/$n" "$n" 0
  private=$FPS_RESULT
  run_case "shared/$n" "$n" 1
  say "SUMMARY streams=$n private_fps=$private shared_fps=$FPS_RESULT shared_mean_batch=$BATCH_RESULT"
done
say "log: $log"
