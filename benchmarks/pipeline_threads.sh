#!/usr/bin/env bash
# The element's `threads` default against explicit settings, in whole pipelines where other
# stages need the cores too (issue 15: "the defaults must be fast in a real pipeline"):
#   demo:  scripts/demo's pipeline, decode ! alexnetclassify ! x264enc ! mp4mux, its 28x28
#          Fashion-MNIST model (10 M multiply-adds per image) on its 2000-frame 640x480 video;
#   1080p: element_precision.sh's pipeline, decode ! alexnetclassify ! fakesink, the
#          torchvision-sized model (714 M) on its 300-frame 1080p clip, at fp32 and int8.
# Each at threads=0 (the default), 1 and usable cores, RUNS times interleaved; wall seconds,
# median.
#
#   benchmarks/pipeline_threads.sh [BUILD_DIR]   (needs demo-run/ from scripts/demo, and
#                                                   element_precision.sh's clip and models)
# Environment: RUNS=3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
RUNS=${RUNS:-3}
el=$build/bench-element
export GST_PLUGIN_PATH=$build/plugins/alexnet GST_REGISTRY_1_0=$el/registry.bin
for f in "$root/demo-run/fashion-mnist.safetensors" "$root/demo-run/fashion-mnist-test-200x10.mp4" \
  "$el/torchvision.safetensors" "$el/torchvision-int8.safetensors"; do
  [[ -f $f ]] || { echo "missing $f: run scripts/demo and benchmarks/element_precision.sh first" >&2; exit 2; }
done
clip=$(ls "$el"/clip-1080p30.* | grep -v '\.frames$' | head -1)
cores=$(nproc)
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores cores"
echo "libalexnet: $(git -C "$root" rev-parse --short HEAD); $RUNS runs each, interleaved, median wall s"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

demo() {
  gst-launch-1.0 -q filesrc location="$root/demo-run/fashion-mnist-test-200x10.mp4" ! decodebin \
    ! videoconvert ! alexnetclassify model="$root/demo-run/fashion-mnist.safetensors" device=cpu \
    threads="$1" top-k=3 post-messages=true ! videoconvert ! x264enc speed-preset=veryfast \
    ! mp4mux ! filesink location="$el/pipeline-threads.mp4"
}
hd() {  # threads precision
  local m=$el/torchvision.safetensors
  [[ $2 == int8 ]] && m=$el/torchvision-int8.safetensors
  gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! videoconvert \
    ! alexnetclassify model="$m" device=cpu threads="$1" precision="$2" inference-interval=1 \
    ! fakesink sync=false
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for case in "demo -" "hd fp32" "hd int8"; do
  declare -A times=()
  for ((r = 0; r < RUNS; r++)); do
    for t in 0 1 "$cores"; do
      s=$(date +%s.%N)
      # shellcheck disable=SC2086
      ${case%% *} "$t" ${case#* } > /dev/null
      times[$t]+="$(echo "$(date +%s.%N) - $s" | bc) "
    done
  done
  for t in 0 1 "$cores"; do
    label=${case% -}
    # shellcheck disable=SC2086
    echo "RESULT pipeline=\"${label/hd/1080p}\" threads=$t median_s=$(median ${times[$t]}) runs=\"${times[$t]% }\""
  done
  unset times
done
