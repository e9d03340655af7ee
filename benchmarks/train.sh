#!/usr/bin/env bash
# CPU training speed: our SGD step (bench_forward --mode train) beside PyTorch's training the
# same network (benchmarks/train_peers.py, Debian's torch), same batch, same run, each at 1
# and 2 threads. Prints the RESULT lines; record the best of 1 and 2 threads per side in
# benchmarks/README.md.
#
#   benchmarks/train.sh [BUILD_DIR]        (default build; run it on a quiet machine)
#   env: SMALL_BATCH (128), PAPER_BATCH (32), MIN_TIME (3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ninja -C "$build" benchmarks/bench_forward tests/cli/make_model >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small_batch=${SMALL_BATCH:-128}
paper_batch=${PAPER_BATCH:-32}
min_time=${MIN_TIME:-3}
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for spec in "small-28 10 $small_batch 5" "paper 1000 $paper_batch 3"; do
  read -r config classes batch runs <<<"$spec"
  model="$tmp/$config.safetensors"
  "$build/tests/cli/make_model" "$model" "$config" "$classes" 1 >/dev/null
  for threads in 1 2; do
    "$build/benchmarks/bench_forward" --model "$model" --mode train --batch "$batch" \
      --threads "$threads" --warmup 2 --min-runs "$runs" --min-time "$min_time" \
      | sed "s/config=[^ ]*/config=$config/"
  done
  /usr/bin/python3 benchmarks/train_peers.py "$model" --batch "$batch" --threads 1,2 \
    --min-runs "$runs" --min-time "$min_time"
done
