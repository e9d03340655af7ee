#!/usr/bin/env bash
# Resident memory of one element instance per precision: VmRSS after WAIT seconds of
#   videotestsrc ! videoconvert ! alexnetclassify precision=P batch-size=B ! fakesink
# (steady state while classifying), and VmHWM (the peak, reached while loading the model),
# with the torchvision-sized model, at batch-size 1 and 8 (at 8 with batch-timeout=20 ms,
# so partial batches meet the network too). A many-streams user multiplies this by
# the instances that do not share a model (model-instance-id shares one).
#
#   benchmarks/element_memory.sh [BUILD_DIR]   (element_precision.sh's models, made if absent)
# Environment: WAIT=10.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
WAIT=${WAIT:-10}
el=$build/bench-element
mkdir -p "$el"
export GST_PLUGIN_PATH=$build/plugins/alexnet GST_REGISTRY_1_0=$el/registry.bin
[[ -f $el/torchvision.safetensors ]] ||
  "$build/tests/cli/make_model" "$el/torchvision.safetensors" torchvision 1000 1
if [[ ! -f $el/torchvision-int8.safetensors ]]; then
  mkdir -p "$el/calibration-photos/any" && cp "$root/tests/data/astronaut-320.jpg" "$el/calibration-photos/any/"
  "$build/training/alexnet-calibrate" --model "$el/torchvision.safetensors" \
    --data "$el/calibration-photos" --images 8 --out "$el/torchvision-int8.safetensors" > /dev/null
fi
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "libalexnet: $(git -C "$root" rev-parse --short HEAD); torchvision-sized model (244 MB of fp32 weights), VmRSS after ${WAIT} s"
for b in 1 8; do
  for p in fp32 bf16 int8; do
    m=$el/torchvision.safetensors
    [[ $p == int8 ]] && m=$el/torchvision-int8.safetensors
    gst-launch-1.0 -q videotestsrc num-buffers=100000 ! video/x-raw,width=640,height=480 \
      ! videoconvert ! alexnetclassify model="$m" device=cpu precision="$p" batch-size="$b" \
      batch-timeout=20 ! fakesink > /dev/null 2>&1 &
    pid=$!
    sleep "$WAIT"
    if ! kill -0 "$pid" 2> /dev/null; then
      echo "RESULT precision=$p batch_size=$b not run (this CPU cannot run it?)"
      continue
    fi
    rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    echo "RESULT precision=$p batch_size=$b steady_rss_mb=$rss peak_rss_mb=$hwm"
  done
done
