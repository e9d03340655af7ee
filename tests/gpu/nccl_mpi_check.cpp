// NCCL between processes, bootstrapped over MPI the way `alexnet-train --distributed mpi`
// does it (training/src/trainer.cpp, exchange_gradients): rank 0 makes the NCCL unique id, the
// MPI cluster (training/src/cluster.h, with its watchdog) broadcasts it, every rank joins with
// the GPU of its place on its machine (gpu:local) and the ranks sum tensors, each scaled by
// 1/size, in place. Without the rest of the trainer (OpenCV …), so that the GPU bundle can
// carry it with the bundled Open MPI (scripts/gpu-bundle, tests/gpu/run.sh group mpi-nccl):
//
//   mpirun -np 1 nccl-mpi-check     the one-rank job
//   mpirun -np 2 nccl-mpi-check     two ranks: needs two GPUs (NCCL refuses two ranks on one
//                                   GPU), else skipped, saying so
//
// Exit status: 0 every rank's sums are right (exact for 1, 2 or 4 ranks); 77 skipped (no GPU, no
// NCCL, too few GPUs, or no MPI in this build), with the reason; 1 a failure, named.
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/device.h"
#include "alexnet/tensor.h"
#include "cluster.h"

namespace {

// Small integers: with 1, 2 or 4 ranks (scales 1, 1/2, 1/4) every product and sum below is
// exact in fp32; other rank counts round the scale, so they get a relative 1e-6.
float value(int64_t i) {
  return static_cast<float>(i % 61) - 30.0f;
}

}  // namespace

int main() {
  if (!train::mpi_built_in()) {
    std::printf("SKIP: this build has no MPI (libopenmpi-dev, Meson option mpi)\n");
    return 77;
  }
  std::unique_ptr<train::Cluster> cl;
  try {
    cl = train::make_cluster("mpi");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nccl-mpi-check: %s\n", e.what());
    return 1;
  }
  const int rank = cl->rank(), size = cl->size(), local = cl->local_rank();
  std::string why;
  if (alexnet::gpu_count() == 0)
    why = "no GPU: " + alexnet::gpu_unavailable_reason();
  else if (!alexnet::nccl_unavailable_reason().empty())
    why = "no NCCL: " + alexnet::nccl_unavailable_reason();
  else if (local >= alexnet::gpu_count())
    why = cl->me() + " is local rank " + std::to_string(local) + " but its machine has " +
          std::to_string(alexnet::gpu_count()) + " GPU(s), and NCCL refuses two ranks on one GPU";
  double skipping = why.empty() ? 0 : 1;  // every rank skips, or none
  cl->allreduce_sum(&skipping, 1, "the skip decision");
  if (skipping > 0) {
    if (!why.empty()) std::printf("SKIP: %s\n", why.c_str());
    cl->finish();
    return 77;
  }
  double failed = 0;
  try {
    const std::string device = "gpu:" + std::to_string(local);
    auto backend = alexnet::make_backend(alexnet::parse_devices(device)[0], 0);
    std::string id = cl->root() ? alexnet::nccl_unique_id() : std::string();
    cl->broadcast(id, "the NCCL unique id");
    alexnet::NcclGroup* group = alexnet::nccl_join(id, size, rank, *backend);
    // Rank r holds (r + 1) * value(i); the sum over the ranks of 1/size of each is
    // value(i) * (size + 1) / 2.
    alexnet::Tensor a({3, 1000}), b({7});
    for (alexnet::Tensor* t : {&a, &b})
      for (int64_t i = 0; i < t->numel(); ++i)
        t->data()[i] = static_cast<float>(rank + 1) * value(i);
    alexnet::Tensor da = backend->from_host(a), db = backend->from_host(b);
    alexnet::Tensor* grads[] = {&da, &db};
    alexnet::nccl_group_allreduce(group, *backend, grads, 1.0f / static_cast<float>(size));
    const float factor = static_cast<float>(size + 1) / 2.0f;
    int64_t wrong = 0;
    for (const alexnet::Tensor* t : {&da, &db}) {
      const alexnet::Tensor h = backend->to_host(*t);
      for (int64_t i = 0; i < h.numel(); ++i) {
        const float want = factor * value(i);
        const float tol = (size & (size - 1)) == 0 ? 0.0f : 1e-6f * std::fabs(want);
        if (std::fabs(h.data()[i] - want) > tol && wrong++ < 3)
          std::fprintf(stderr, "%s: element %lld is %g, expected %g\n", cl->me().c_str(),
                       static_cast<long long>(i), static_cast<double>(h.data()[i]),
                       static_cast<double>(want));
      }
    }
    if (wrong) failed = 1;
    std::printf("%s: %s, %s the sum over %d rank(s) with NCCL %s (id over MPI)\n",
                cl->me().empty() ? "rank 0" : cl->me().c_str(), device.c_str(),
                wrong ? "WRONG" : "right", size, alexnet::nccl_version().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nccl-mpi-check: %s: %s\n", cl->me().c_str(), e.what());
    cl->abort(cl->me() + ": " + e.what(), 1);  // the other ranks may wait in NCCL
  }
  cl->allreduce_sum(&failed, 1, "the result");
  cl->finish();
  return failed > 0 ? 1 : 0;
}
