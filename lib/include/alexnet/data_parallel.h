// DataParallel: training on a device list, one Network replica per device (the paper trained
// on two GPUs; "cpu,cpu", "gpu:0,gpu:1" and "gpu:0,gpu:0" all work the same way).
//
// Each step splits the batch into contiguous slices (sizes differ by at most one), runs
// forward + backward on every replica concurrently, and reduces the gradients so that every
// replica holds the gradient of the whole batch's mean loss:
//     g = sum_r (n_r / N) g_r          (N = sum_r n_r; summed in double, replica order)
// then every replica applies the same SGD update to the same weights, so the replicas stay
// identical (bit for bit on identical devices) without copying weights.
//
// The reduction goes through host memory today: correct for any mix of devices, and cheap
// for the small configs; an NCCL all-reduce between distinct GPUs is the planned fast path.
// Dropout: each replica draws its own masks (seed, step, layer, replica), as in PyTorch's
// DistributedDataParallel, so with dropout on, the result equals one-device training in
// distribution, not number for number; with dropout off it equals it within float rounding.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "alexnet/device.h"
#include "alexnet/network.h"

namespace alexnet {

class DataParallel {
 public:
  // threads: CPU threads in all, split among the CPU replicas (0 = all cores).
  DataParallel(const NetConfig& cfg, const std::vector<Device>& devices, int threads);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  size_t replicas() const { return nets_.size(); }
  Network& replica(size_t i) { return *nets_.at(i); }
  const std::vector<Device>& devices() const { return devices_; }
  std::string describe() const;  // "gpu:0,gpu:0 (2 replicas)"

  void load(const Model& model);  // into every replica
  void set_params(const std::vector<NamedTensor>& host);
  std::vector<NamedTensor> get_params();  // replica 0's (all are equal)

  // x (N, C, H, W) host, N >= replicas() is not required (replicas without a slice idle).
  // Returns the mean loss over the whole batch; logits_out (optional) gets (N, classes).
  float forward_backward(const Tensor& x, std::span<const int> labels,
                         Tensor* logits_out = nullptr);
  void sgd_step(float lr, float momentum, float weight_decay);
  void set_seed(uint64_t seed);
  void set_step(uint64_t step);
  uint64_t step() const { return nets_.front()->step(); }

 private:
  std::vector<Device> devices_;
  std::vector<std::unique_ptr<Network>> nets_;
  std::vector<int64_t> slice_sizes_;  // of the last forward_backward
};

}  // namespace alexnet
