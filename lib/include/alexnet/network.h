// Network: the layers of a NetConfig on one backend, forward and backward.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/runner.h"
#include "alexnet/tensor.h"
#include "alexnet/weights.h"

namespace alexnet {

struct Param {
  std::string name;  // "conv1.weight"
  Tensor value;      // on the backend's device
  Tensor grad;       // same shape; written by backward()
  Tensor momentum;   // SGD velocity (allocated on first use)
};

// Throws alexnet::Error unless x is an (N, C, H, W) host batch of the config's input, N >= 1.
void check_input(const NetConfig& cfg, const Tensor& x);

// The one-device Runner.
class Network final : public Runner {
 public:
  Network(const NetConfig& cfg, std::unique_ptr<Backend> backend);
  ~Network() override;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const NetConfig& config() const override { return cfg_; }
  std::string describe() const override;  // the backend's name: "cpu", "cuda:0 (H100 …)"
  Backend& backend() { return *backend_; }
  const std::vector<LayerSpec>& layers() const { return layers_; }

  std::vector<Param>& params() { return params_; }
  // Copies host tensors in (names and shapes must match param_infos) / out.
  void set_params(const std::vector<NamedTensor>& host) override;
  std::vector<NamedTensor> get_params() override;
  // Also takes the model's calibration (int8); a cpu int8 backend refuses a model without.
  void load(const Model& model) override;
  // The activation ranges int8 inference scales by (one per weighted layer, as
  // Model::calibration; empty = none).
  void set_calibration(const std::vector<LayerRange>& ranges);
  std::vector<NamedTensor> get_momentum() override;
  void set_momentum(const std::vector<NamedTensor>& host) override;

  // x: (N, C, H, W) host tensor → logits (N, classes) as a host tensor.
  // training = dropout on and activations kept for backward().
  Tensor forward(const Tensor& x, bool training = false) override;
  // Inference on frames: preprocessed on the device when the backend can
  // (Backend::preprocess), else on the host; logits (N, classes) as a host tensor.
  Tensor forward_frames(std::span<const Frame> frames, const PreprocessConfig& preprocess,
                        Tensor* embedding = nullptr) override;
  // Runs without the backend's inference replay (CUDA graphs), which keeps no activations.
  Tensor forward_embedding(const Tensor& x, Tensor* embedding) override;

  // One training step's gradients: forward(training) + softmax cross-entropy + backward.
  // Returns the mean loss; fills Param::grad. `logits_out` (optional) receives the logits.
  float forward_backward(const Tensor& x, std::span<const int> labels,
                         Tensor* logits_out = nullptr) override;
  bool grads_finite() override;  // plain CPU gradients are read in place
  bool debug_poison_gradient() override;

  // An inference forward that keeps every activation (activations() below; no CUDA-graph
  // replay): calibration and debugging tools. Returns the logits on the host.
  Tensor forward_inspect(const Tensor& x);

  // The tensors of the last training forward (or forward_inspect), on the backend's device and
  // in its layouts:
  // activations()[0] is the input, activations()[i + 1] the output of layers()[i]. For tests
  // and debugging tools (Backend::to_host makes them plain); valid until the next forward.
  std::span<const Tensor> activations() const { return acts_; }

  // SGD with momentum and weight decay on every parameter (the paper's rule); then step+1.
  void sgd_step(float lr, float momentum, float weight_decay) override;

  // Dropout masks derive from (seed, step, layer) and the row's place in the whole batch
  // (set_batch_offset): reproducible runs.
  void set_seed(uint64_t seed) override { seed_ = seed; }
  void set_batch_offset(int64_t first_row) override;
  void set_gradient_exchange(GradientExchange exchange) override {
    exchange_ = std::move(exchange);
  }
  void set_step(uint64_t step) override { step_ = step; }
  uint64_t step() const override { return step_; }

 private:
  NetConfig cfg_;
  std::unique_ptr<Backend> backend_;
  std::vector<LayerSpec> layers_;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<Param> params_;
  std::vector<int> param_index_;  // per layer: index of its weight in params_, or -1
  uint64_t version_ = 1;
  uint64_t seed_ = 0;
  uint64_t step_ = 0;
  int64_t batch_offset_ = 0;  // rows of the whole batch before this one's
  GradientExchange exchange_;
  Tensor input_;              // the device copy of the batch, reused from call to call
  std::vector<Tensor> acts_;  // acts_[i] = input of layer i; acts_.back() = logits
  Tensor dlogits_;

  uint64_t training_forwards_ = 0;  // part of the inference key (run_inference)
  std::vector<LayerRange> ranges_;  // per layer (weighted ones filled) when has_ranges_
  bool has_ranges_ = false;

  OpParams op_params(size_t layer);
  const Tensor& run_forward(const Tensor& x_device, bool training);
  Tensor run_inference();                   // on input_, through Backend::run_inference
  Tensor run_embedding(Tensor* embedding);  // on input_, every op called
};

}  // namespace alexnet
