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
// Two reductions compute that sum:
//  - NCCL (when every device is a GPU, all distinct, and NCCL is available): each replica's
//    gradients are scaled by n_r / N on its GPU (0 for a replica without a slice), then
//    summed in place with ncclAllReduce (fp32, NCCL's order); nothing crosses host memory.
//  - host: every gradient comes to the host, summed in double in replica order, and goes
//    back to every replica. Correct for any mix of devices, and the only one for a list that
//    names one GPU twice (gpu:0,gpu:0): NCCL refuses two ranks on one GPU.
// Reduction::Auto picks NCCL when it can (the constructor tries a one-float all-reduce, which
// also makes the communicators), else host; $ALEXNET_REDUCE=host|nccl|auto overrides
// Auto (tests and benchmarks force a path that way). Asking for NCCL where it cannot run is
// an error that says why.
// Dropout: every replica has the same seed and indexes its masks by its rows' place in the
// whole batch (Runner::set_batch_offset), so the replicas draw exactly one device's masks and
// the result equals one-device training within float rounding, dropout on or off. (Before
// 2026-12, each replica drew its own masks, as PyTorch's DistributedDataParallel does, which
// equals one device in distribution only.)
#pragma once

#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alexnet/device.h"
#include "alexnet/network.h"
#include "alexnet/runner.h"

namespace alexnet {

enum class Reduction { Auto, Host, Nccl };

class DataParallel final : public Runner {
 public:
  // threads: CPU threads in all, split among the CPU replicas (0 = all cores).
  // reduce: Auto (NCCL when possible, else host; $ALEXNET_REDUCE overrides), Host, or Nccl
  // (throws alexnet::Error saying why when the devices or the host cannot do it).
  DataParallel(const NetConfig& cfg, const std::vector<Device>& devices, int threads,
               Reduction reduce = Reduction::Auto);
  ~DataParallel() override;
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  size_t replicas() const { return nets_.size(); }
  Network& replica(size_t i) { return *nets_.at(i); }
  const std::vector<Device>& devices() const { return devices_; }
  const NetConfig& config() const override { return nets_.front()->config(); }
  // "gpu:0,gpu:1 (2 replicas, NCCL all-reduce)", "gpu:0,gpu:0 (2 replicas, host reduction)",
  // "gpu:0 (1 replica)".
  std::string describe() const override;
  // The reduction in use (Host or Nccl; Host for one replica, which needs none), and why
  // Auto did not pick NCCL ("" when it did, or when NCCL was asked for).
  Reduction reduction() const { return reduction_; }
  const std::string& reduction_note() const { return reduction_note_; }

  void load(const Model& model) override;  // into every replica
  void set_params(const std::vector<NamedTensor>& host) override;
  std::vector<NamedTensor> get_params() override;                    // replica 0's (all are equal)
  std::vector<NamedTensor> get_momentum() override;                  // replica 0's (all are equal)
  void set_momentum(const std::vector<NamedTensor>& host) override;  // into every replica

  // Inference (evaluation) on replica 0: every replica holds the same weights.
  Tensor forward(const Tensor& x, bool training = false) override;
  // x (N, C, H, W) host, N >= replicas() is not required (replicas without a slice idle).
  // Returns the mean loss over the whole batch; logits_out (optional) gets (N, classes).
  float forward_backward(const Tensor& x, std::span<const int> labels,
                         Tensor* logits_out = nullptr) override;
  // After the reduction every replica holds the same gradients: replica 0's are checked.
  bool grads_finite() override { return nets_.front()->grads_finite(); }
  bool debug_poison_gradient() override { return nets_.front()->debug_poison_gradient(); }
  void sgd_step(float lr, float momentum, float weight_decay) override;
  void set_seed(uint64_t seed) override;
  void set_batch_offset(int64_t first_row) override;
  // Called once per step: host reduction: with the summed host tensors; NCCL: with replica
  // 0's (then copied to the others on the GPUs).
  void set_gradient_exchange(GradientExchange exchange) override;
  void set_step(uint64_t step) override;
  uint64_t step() const override { return nets_.front()->step(); }

 private:
  std::vector<Device> devices_;
  std::vector<std::unique_ptr<Network>> nets_;
  std::vector<int64_t> slice_sizes_;  // of the last forward_backward
  int64_t batch_offset_ = 0;          // set_batch_offset
  GradientExchange exchange_;
  Reduction reduction_ = Reduction::Host;
  std::string reduction_note_;
  std::string stalled_;  // "replica 1 (cpu)" once one missed the device timeout

  template <class T, class OnValue>
  void wait_replicas(std::vector<std::future<T>>& tasks, const char* what, OnValue on_value);
  void refuse_if_stalled() const;

  void reduce_on_host(int64_t N);
  void reduce_with_nccl(int64_t N);
};

}  // namespace alexnet
