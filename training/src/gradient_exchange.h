// The ranks of a distributed job sum their gradients every step (training/README.md, "Several
// machines"): the runner calls exchange() once per forward_backward with this rank's
// gradients (the mean over its rows), and after it every rank holds the global batch's mean.
// GPU ranks sum on their GPUs with NCCL, its unique id broadcast over MPI; CPU ranks (or any
// rank without NCCL) through host memory with the cluster's all-reduce. Plus the two small
// pieces of rank bookkeeping the trainer shares with tests/gpu/nccl_mpi_check.cpp's way of
// doing it: gpu:local, and the weight checksum the ranks compare.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/device.h"
#include "alexnet/tensor.h"
#include "alexnet/weights.h"
#include "cluster.h"

namespace train {

class GradientExchange {
 public:
  explicit GradientExchange(Cluster& cluster) : cl_(cluster) {}

  // Chooses the reduction between the ranks, the same on every rank (a collective): NCCL when
  // every rank's devices are all GPUs and every rank has NCCL ($ALEXNET_REDUCE=host forces
  // the host path), else MPI through host memory. `devices`: this rank's, resolved. Returns
  // the log line saying which and why ("" for CPU ranks, where there is no choice).
  std::string choose(const std::string& devices);
  bool nccl() const { return use_nccl_; }

  // This rank's share of the step's global batch (its rows / all rows): its gradients are the
  // mean over its rows, so they are weighted by it before the sum. 0 for a rank with no rows.
  void set_weight(double w) { weight_ = w; }

  // Sums `grads` (on `backend`, or on the host when null) over the ranks, weighted, in place.
  // `what` names the collective for the watchdog ("the gradient all-reduce of step 57").
  void exchange(alexnet::Backend* backend, std::span<alexnet::Tensor* const> grads,
                const std::string& what);

 private:
  Cluster& cl_;
  bool use_nccl_ = false;
  double weight_ = 1;
  std::vector<float> flat_;  // the gradients in one buffer for the host all-reduce
  std::map<alexnet::Backend*, alexnet::NcclGroup*> nccl_groups_;  // one per replica's GPU
};

// --device with gpu:local: "gpu:local" becomes the GPU of the rank's place on its machine
// ("cpu,gpu:local" with local rank 1 → "cpu,gpu:1"); the rest is kept as written.
std::string resolve_local_devices(const std::string& devices, int local_rank);

// FNV-1a over the bytes of `tensors`, continuing from `h` (start with kChecksumStart): the
// ranks compare it to find one whose weights or momenta diverged.
inline constexpr uint64_t kChecksumStart = 1469598103934665603ull;
uint64_t checksum(const std::vector<alexnet::NamedTensor>& tensors, uint64_t h);

}  // namespace train
