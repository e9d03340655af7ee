#!/usr/bin/env bash
# The element at each CPU precision: frames per second of
#   filesrc ! decodebin ! videoconvert ! alexnetclassify precision=P ! fakesink sync=false
# on element.sh's 1080p30 clip with the torchvision-sized model at inference-interval=1,
# decoding included. int8 runs the model calibrated by alexnet-calibrate on the photo in
# tests/data (the clip's test pattern would calibrate to its own colours). A precision the
# CPU cannot run is reported, not fatal.
#
#   benchmarks/element_precision.sh [BUILD_DIR]     (element.sh's clip and model, made if absent)
#
# Environment: RUNS=3 (median), THREADS=0, OUT=DIR (default BUILD_DIR/bench-element).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
RUNS=${RUNS:-3}
THREADS=${THREADS:-0}
out=${OUT:-$build/bench-element}
mkdir -p "$out"
export GST_PLUGIN_PATH=$build/plugins/alexnet GST_REGISTRY_1_0=$out/registry.bin
clip=$(ls "$out"/clip-1080p30.* 2>/dev/null | grep -v '\.frames$' | head -1 || true)
if [[ -z $clip ]]; then  # element.sh's clip: 10 s of 1080p30 test pattern, mpeg4 or vp8
  clip=$out/clip-1080p30.webm
  enc=(vp8enc deadline=1 cpu-used=8 target-bitrate=8000000 ! webmmux)
  if gst-inspect-1.0 --exists avenc_mpeg4 && gst-inspect-1.0 --exists avdec_mpeg4; then
    clip=$out/clip-1080p30.mp4
    enc=(avenc_mpeg4 bitrate=8000000 ! mp4mux)
  fi
  gst-launch-1.0 -q videotestsrc num-buffers=300 pattern=smpte horizontal-speed=8 \
    ! "video/x-raw,format=I420,width=1920,height=1080,framerate=30/1" ! "${enc[@]}" \
    ! filesink location="$clip"
  echo 300 > "$clip.frames"
fi
[[ -f $out/torchvision.safetensors ]] ||
  "$build/tests/cli/make_model" "$out/torchvision.safetensors" torchvision 1000 1
frames=$(cat "$clip.frames")
log=$out/precision.log
: > "$log"
say() { echo "$@" | tee -a "$log"; }
say "date: $(date -u +%Y-%m-%dT%H:%MZ); cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
say "libalexnet: $(git -C "$root" rev-parse --short HEAD); clip $clip ($frames frames); threads=$THREADS; $RUNS runs, median"
say "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

photos=$out/calibration-photos/any
mkdir -p "$photos" && cp "$root/tests/data/astronaut-320.jpg" "$photos/"
"$build/training/alexnet-calibrate" --model "$out/torchvision.safetensors" \
  --data "$out/calibration-photos" --images 8 --out "$out/torchvision-int8.safetensors" > /dev/null

for p in fp32 bf16 int8; do
  model=$out/torchvision.safetensors
  [[ $p == int8 ]] && model=$out/torchvision-int8.safetensors
  fpss=()
  for ((r = 0; r < RUNS; r++)); do
    if ! txt=$(gst-launch-1.0 filesrc location="$clip" ! decodebin ! videoconvert \
        ! alexnetclassify model="$model" device=cpu threads="$THREADS" precision="$p" \
        inference-interval=1 ! fakesink sync=false 2>&1); then
      say "RESULT precision=$p not run: $(grep -m1 -o 'Could not run.*' <<<"$txt")"
      continue 2
    fi
    t=$(sed -n 's/^Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\)$/\1 \2 \3/p' <<<"$txt" |
        awk '{print $1 * 3600 + $2 * 60 + $3}')
    fpss+=("$(awk -v n="$frames" -v t="$t" 'BEGIN {printf "%.2f", (n - 1) / t}')")
  done
  med=$(printf '%s\n' "${fpss[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  say "RESULT precision=$p fps_median=$med fps_runs=$(IFS=,; echo "${fpss[*]}")"
done
say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
