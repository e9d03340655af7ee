#!/usr/bin/env bash
# Runs our forward benchmark and every peer in one go, on the same weights, and prints one
# table. See benchmarks/README.md.
#
#   benchmarks/run.sh [BUILD_DIR]            (default BUILD_DIR: build-bench, created if absent)
#
# Environment (all optional):
#   BATCHES=1,8,32   THREADS=1,2   WARMUP=3   MIN_RUNS=10   MIN_TIME=3   MAX_RUNS=200
#   PEERS_VENV=1     0 skips ONNX Runtime and OpenVINO (they need benchmarks/.venv, created
#                    here with pip on first use: numpy, onnxruntime, openvino, onnx, nncf)
#   OUT=DIR          where the model, the ONNX export and the log go (default BUILD_DIR/bench)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
BATCHES=${BATCHES:-1,8,32}
THREADS=${THREADS:-1,2}
WARMUP=${WARMUP:-3}
MIN_RUNS=${MIN_RUNS:-10}
MIN_TIME=${MIN_TIME:-3}
MAX_RUNS=${MAX_RUNS:-200}
PEERS_VENV=${PEERS_VENV:-1}
sys_python=/usr/bin/python3
venv=$root/benchmarks/.venv
peers=$root/benchmarks/peers.py

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release
fi
ninja -C "$build" benchmarks/bench_forward tools/alexnet-classify

out=${OUT:-$build/bench}
mkdir -p "$out"
log=$out/results.log
: > "$log"
say() { echo "$@" | tee -a "$log"; }

say "== machine =="
say "date: $(date -u +%Y-%m-%dT%H:%MZ)"
say "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online, $(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s)/core"
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
simd=$(for f in avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_tile; do
         if [[ " $flags " == *" $f "* ]]; then printf '%s ' "$f"; fi; done)
say "simd flags: ${simd:-none of avx2/avx512}"
say "cpu MHz: $(awk -F': *' '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo) (nominal, /proc/cpuinfo; the % of peak below uses it)"
say "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}'), kernel $(uname -r)"
say "libalexnet: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)'), $(c++ --version | head -1)"
say "debian packages: $(dpkg-query -W -f '${Package} ${Version}; ' libdnnl2 python3-torch python3-torchvision python3-opencv libblas3 2>/dev/null || true)"
say "settings: batches $BATCHES, threads {$THREADS} (best per engine and batch), warm-up $WARMUP, then >= $MIN_RUNS runs and >= $MIN_TIME s (at most $MAX_RUNS)"
say "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

say "== model =="
"$sys_python" "$peers" make-model "$out" | tee -a "$log"

common=(--warmup "$WARMUP" --min-runs "$MIN_RUNS" --max-runs "$MAX_RUNS" --min-time "$MIN_TIME")
say "== libalexnet (cpu backend, oneDNN) =="
for t in ${THREADS//,/ }; do
  "$build/benchmarks/bench_forward" --model "$out/alexnet-tv.safetensors" --batch "$BATCHES" --threads "$t" "${common[@]}" | tee -a "$log"
done
# bf16 where the CPU runs it natively (avx512_bf16, AMX); elsewhere bench_forward says why not.
for t in ${THREADS//,/ }; do
  "$build/benchmarks/bench_forward" --model "$out/alexnet-tv.safetensors" --precision bf16 \
    --batch "$BATCHES" --threads "$t" "${common[@]}" 2>&1 | tee -a "$log" || say "(no bf16 here)"
done
# int8, calibrated on the same inputs as the peers' int8 (calib.npy)
for t in ${THREADS//,/ }; do
  "$build/benchmarks/bench_forward" --model "$out/alexnet-tv.safetensors" --precision int8 \
    --calibration-npy "$out/calib.npy" --batch "$BATCHES" --threads "$t" "${common[@]}" 2>&1 |
    tee -a "$log" || say "(no int8 here)"
done
for t in ${THREADS//,/ }; do
  "$build/benchmarks/bench_forward" --config paper --batch "$BATCHES" --threads "$t" "${common[@]}" | tee -a "$log"
done
"$build/tools/alexnet-classify" --model "$out/alexnet-tv.safetensors" --device cpu --top-k 1 \
  --logits "$out/logits-alexnet.npy" "$out/check-input.npy" > /dev/null

say "== peers: Debian's PyTorch and OpenCV =="
"$sys_python" "$peers" run "$out" --peers pytorch,opencv --batches "$BATCHES" --threads "$THREADS" \
  "${common[@]}" | tee -a "$log" || true

if [ "$PEERS_VENV" = 1 ]; then
  if ! "$venv/bin/python" -c 'import numpy, onnxruntime, openvino, onnx, nncf' 2>/dev/null; then
    echo "creating $venv (pip: numpy onnxruntime openvino onnx nncf)"
    "$sys_python" -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy onnxruntime openvino onnx nncf
  fi
  say "== peers: ONNX Runtime and OpenVINO (PyPI, $venv) =="
  "$venv/bin/python" "$peers" run "$out" --peers onnxruntime,openvino --batches "$BATCHES" \
    --threads "$THREADS" "${common[@]}" | tee -a "$log" || true
fi

say "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$sys_python" "$peers" table "$log" --check-dir "$out" | tee "$out/table.md"
echo
echo "log: $log   table: $out/table.md"
