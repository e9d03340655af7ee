#!/usr/bin/env bash
# The GPU suite, run on a GPU host from the repository root with the bundle made by
# scripts/gpu-bundle:
#
#   tests/gpu/run.sh .gpu-bundle.tgz OUT_DIR
#
# Prints the host facts first (card, driver, CUDA runtime, the cuDNN/cuBLAS it loaded), then
# runs each test group under its own time limit, writing each group's raw log into OUT_DIR
# as soon as the group ends, and a summary line per group (summary.log). About 4 minutes.
# Exit status: the number of failed groups (0 = all passed).
set -u
bundle_tgz=${1:?usage: tests/gpu/run.sh BUNDLE.tgz OUT_DIR}
out=${2:?usage: tests/gpu/run.sh BUNDLE.tgz OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
repo=$(pwd)
work=$(mktemp -d /tmp/alexnet-gpu.XXXXXX)
tar xzf "$bundle_tgz" -C "$work"
b="$work/.gpu-bundle"
. "$repo/tests/gpu/device-env.sh" "$b" > "$out/host.log" 2>&1
export ALEXNET_CUDA_MODULE="$b/lib/libalexnet-cuda.so"
export GST_PLUGIN_PATH="$b/gst-plugins"
data="$b/data"
[ -f "$data/model.safetensors" ] && export ALEXNET_TEST_MODEL="$data/model.safetensors"
[ -f "$data/fmnist-test-2000.npy" ] && export ALEXNET_TEST_IMAGES="$data/fmnist-test-2000.npy"

{
  echo "== host facts ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  uname -a
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1
  nvcc --version 2>/dev/null | tail -2
  echo "-- CUDA libraries on the search path (the module loads the first of each):"
  for l in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
    for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/$l" ] && { echo "$l: $(readlink -f "$d/$l")"; break; }; done
  done
  echo "-- what our CUDA module reports:"
  "$b/bin/test-cuda" --gtest_filter=Cuda.DescribesTheGpu 2>&1 | grep -E "gpu:0|OK|FAIL|SKIP"
  # Python with the host's own libraries (the bundle's libstdc++ may be older than torch's).
  env -u LD_LIBRARY_PATH python3 -c "import torch, torchvision; print('PyTorch', torch.__version__, 'torchvision', torchvision.__version__, 'CUDA', torch.version.cuda, 'cuDNN', torch.backends.cudnn.version())" 2>&1
  nproc; free -g | head -2
} >> "$out/host.log" 2>&1
cat "$out/host.log"

failed=0
export b work repo
# group NAME SECONDS COMMAND...: runs COMMAND (a program, or a function of this script,
# exported) under a time limit, its log to OUT_DIR/NAME.log.
group() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout -k 5 "$limit" bash -c '"$@"' "$name" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  local verdict=PASS
  [ $rc -ne 0 ] && verdict=FAIL && failed=$((failed + 1))
  [ $rc -eq 124 ] && verdict="FAIL (timed out after ${limit}s)"
  echo "$name: $verdict (exit $rc, $((SECONDS - t0)) s)" | tee -a "$out/summary.log"
}

# 1. Every op, forward and backward, CUDA against the CPU reference (tests/backends), with
#    the cuDNN algorithms chosen logged; then the kernels' fp16/bf16 and edge paths.
ops() {
  ALEXNET_CUDA_LOG_ALGOS=1 "$b/bin/test-backend-ops" --gtest_filter='Backends/Ops.*/cuda:CudaBackend.*'
  local rc=$?
  "$b/bin/test-cuda-kernels" || rc=1
  return $rc
}
export -f ops
group ops 90 ops
# 2. Whole networks, training steps, gpu:0,gpu:0, fp16/bf16 (real images), errors.
group cuda 100 "$b/bin/test-cuda"
# 2a. The opt-in fast paths (CUDA graphs, GPU preprocessing) against the plain path.
group fast-paths 90 "$b/bin/test-cuda-fast-paths"
# 2b. Model parallelism (the paper's split): gpu:0,gpu:0 vs one GPU; gpu:0,gpu:1 with two.
group model-parallel 60 "$b/bin/test-cuda-model-parallel"
# 2c. The fault injector: each kind of injected failure is an error naming the device and the
# call, and the process goes on (issue 16).
faults() {
  local rc=0
  for f in malloc:3 launch:2 cudnn:2; do
    echo "== ALEXNET_CUDA_FAULT=$f"
    ALEXNET_CUDA_FAULT=$f "$b/bin/test-cuda" \
      --gtest_filter=CudaFault.InjectedFailureNamesTheDeviceAndTheCall || rc=1
    # the element: an element error naming the device, no move to the CPU, memory returned
    ALEXNET_CUDA_FAULT=$f "$b/bin/test_element" \
      --gtest_filter=Element.GpuInjectedFaultIsAnElementErrorAndReleasesTheDevice || rc=1
  done
  return $rc
}
export -f faults
group faults 60 faults
# 2d. NCCL between processes, its id broadcast over MPI, as alexnet-train --distributed mpi does
# it (issue 17), with the bundle's Open MPI (scripts/openmpi-bundle): one rank; two ranks need
# two GPUs (NCCL refuses two ranks on one GPU: skipped, exit 77, saying so).
mpi_nccl() {
  [ -f "$b/openmpi/env.sh" ] || { echo "no Open MPI in the bundle (scripts/openmpi-bundle)"; return 1; }
  . "$b/openmpi/env.sh"
  local flags=(--allow-run-as-root --oversubscribe --bind-to none)
  echo "== mpirun -np 1"
  mpirun "${flags[@]}" -np 1 "$b/bin/nccl-mpi-check" || return 1
  echo "== mpirun -np 2"
  mpirun "${flags[@]}" -np 2 "$b/bin/nccl-mpi-check"
  local rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 77 ]
}
export -f mpi_nccl
group mpi-nccl 60 mpi_nccl
# 3. The element on the GPU (GstHarness): order, batches, replicas, fp16.
group element 45 "$b/bin/test_element" --gtest_filter='Element.Gpu*:Element.NegotiatesEvery*'
# 3b. The same with the opt-in fast paths on (GPU preprocessing, CUDA graphs): they become the
# default once this group has passed on a GPU.
fast_element() {
  ALEXNET_CUDA_PREPROCESS=1 ALEXNET_CUDA_GRAPHS=1 "$b/bin/test_element" \
    --gtest_filter='Element.Gpu*:Element.NegotiatesEvery*'
}
export -f fast_element
group element-fast 45 fast_element
# 4. Real pipelines through gst-launch on the GPU, torchvision-size model: frames per second.
pipeline() {
  local model="$work/tv.safetensors"
  "$b/bin/make_model" "$model" torchvision 1000 7 || return 1
  for dev in gpu:0 gpu:0,gpu:0; do
    for prec in fp32 fp16; do
      echo "== device=$dev precision=$prec batch-size=8, 600 frames of 640x480"
      local t0=$(date +%s.%N)
      gst-launch-1.0 -q videotestsrc num-buffers=600 pattern=ball ! video/x-raw,format=I420,width=640,height=480 \
        ! alexnetclassify model="$model" device=$dev precision=$prec batch-size=8 ! fakesink sync=false || return 1
      local t1=$(date +%s.%N)
      echo "fps=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 600 / (b - a) }')"
    done
  done
}
export -f pipeline
group pipeline 60 pipeline
# 5. Benchmarks: ours and PyTorch on the same card, one after the other.
bench() {
  "$b/bin/bench_forward" --backend cuda --config torchvision --batch 1,8,32,256 --precision fp32 --min-time 1 --warmup 5 || return 1
  "$b/bin/bench_forward" --backend cuda --config torchvision --batch 1,8,32,256 --precision fp16 --min-time 1 --warmup 5 || return 1
  # CUDA graphs (ALEXNET_CUDA_GRAPHS, lib/src/backends/cuda/graph.h) at batch 1, where launch overhead
  # matters most: the same run with graphs off, then on.
  echo "== CUDA graphs off: torchvision fp32 batch 1"
  ALEXNET_CUDA_GRAPHS=0 "$b/bin/bench_forward" --backend cuda --config torchvision --batch 1 --precision fp32 --min-time 1 --warmup 5 || return 1
  echo "== CUDA graphs on (ALEXNET_CUDA_GRAPHS=1): torchvision fp32 batch 1"
  ALEXNET_CUDA_GRAPHS=1 "$b/bin/bench_forward" --backend cuda --config torchvision --batch 1 --precision fp32 --min-time 1 --warmup 5 || return 1
  "$b/bin/bench_forward" --backend cuda --config torchvision --batch 128 --mode train --min-time 2 --warmup 3 || return 1
  # The paper's split (parallel=model) on one GPU twice, beside one GPU: what the exchanges
  # cost (on gpu:0,gpu:0 both halves share one GPU, so no speed-up is expected here).
  echo "== model-parallel gpu:0,gpu:0 vs one GPU: paper fp32"
  "$b/bin/bench_forward" --backend cuda --config paper --batch 1,32,128 --precision fp32 --min-time 1 --warmup 3 || return 1
  "$b/bin/bench_forward" --model-parallel gpu:0,gpu:0 --config paper --batch 1,32,128 --precision fp32 --min-time 1 --warmup 3 || return 1
  "$b/bin/bench_forward" --model-parallel gpu:0,gpu:0 --config paper --batch 128 --mode train --min-time 2 --warmup 3 || return 1
  "$b/bin/bench_forward" --backend cuda --config paper --batch 128 --mode train --min-time 2 --warmup 3 || return 1
  env -u LD_LIBRARY_PATH python3 "$repo/benchmarks/peers_gpu.py" --batch 1,8,32,256 --train-batch 128 --min-time 1
}
export -f bench
group bench 200 bench

echo "groups failed: $failed" | tee -a "$out/summary.log"
rm -rf "$work"
exit "$failed"
