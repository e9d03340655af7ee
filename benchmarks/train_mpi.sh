#!/usr/bin/env bash
# Distributed training speed on one machine: alexnet-train's images/s (training only, from
# metrics.csv) for
#   1 process, 1 network thread
#   1 process, 2 network threads            (the threaded alternative to ranks)
#   2 MPI ranks, 1 network thread each      (mpirun --oversubscribe -np 2 ... --distributed mpi)
# in the same run, REPEATS times each (interleaved), the median of each, and the scaling
# efficiency of the ranks: (2-rank images/s) / (2 x 1-process-1-thread images/s).
# small-28 on Fashion-MNIST, the global batch the same in every case.
#
#   benchmarks/train_mpi.sh [BUILD_DIR]     (default build; run it on a quiet machine)
#   env: IMAGES (6400), BATCH (64), REPEATS (3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
images=${IMAGES:-6400}
batch=${BATCH:-64}
repeats=${REPEATS:-3}
train=$build/training/alexnet-train
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cores=$(nproc --all)
isa=none
for f in avx2 avx512f avx512_vnni avx512_bf16 amx_tile; do  # the widest the CPU has
  grep -q -w -m1 "$f" /proc/cpuinfo && isa=$f
done
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $cores cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" \
  "(widest ISA flag: $isa; ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-native})"
echo "# small-28, $images training images, global batch $batch, $repeats runs each, median images/s"
common=(--data "$data" --val-split 0.1 --limit-train "$images" --limit-val 200 --config small-28
  --batch-size "$batch" --epochs 1 --workers 1 --seed 1 --checkpoint-minutes 0)

run() {  # name, then the command; prints images/s
  local dir=$tmp/$1
  shift
  rm -rf "$dir"
  "$@" --run-dir "$dir" >/dev/null 2>&1 || {
    echo "FAILED: $*" >&2
    exit 1
  }
  tail -1 "$dir/metrics.csv" | awk -F, 'NR==1{for(i=1;i<=NF;i++)if($i=="images_per_second")c=i}
    {print $c}' <(head -1 "$dir/metrics.csv") - | tail -1
}

declare -A all
for r in $(seq "$repeats"); do
  all[p1t1]+="$(run p1t1 "$train" "${common[@]}" --threads 1) "
  all[p1t2]+="$(run p1t2 "$train" "${common[@]}" --threads 2) "
  all[r2t1]+="$(run r2t1 mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 \
    "$train" --distributed mpi "${common[@]}" --threads 1) "
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
m1=$(median <<<"${all[p1t1]}")
m2=$(median <<<"${all[p1t2]}")
mr=$(median <<<"${all[r2t1]}")
printf 'RESULT %-34s %8.0f img/s   (runs: %s)\n' "1 process, 1 thread" "$m1" "${all[p1t1]}"
printf 'RESULT %-34s %8.0f img/s   (runs: %s)\n' "1 process, 2 threads" "$m2" "${all[p1t2]}"
printf 'RESULT %-34s %8.0f img/s   (runs: %s)\n' "2 MPI ranks, 1 thread each" "$mr" "${all[r2t1]}"
awk -v r="$mr" -v one="$m1" -v two="$m2" 'BEGIN{
  printf "RESULT scaling efficiency of 2 ranks: %.0f%% (2 ranks / (2 x 1 process, 1 thread)); 2 ranks / 1 process with 2 threads: %.2fx\n", 100*r/(2*one), r/two}'
