// ModelParallel: the paper's two-GPU split (Krizhevsky et al. 2012, section 3.2 and figure 2).
//
// Each of two devices holds half of every layer's kernels or neurons (the first half of the
// output channels on device 0, the rest on device 1; an odd count gives device 0 one more):
//  - conv1 reads the whole image on both devices;
//  - conv2, conv4, conv5 (groups 2) read only their own device's half of the previous layer;
//  - conv3 and fc6, fc7, fc8 read both halves: the other device's half is copied over
//    (Backend::add_channels: a peer copy between GPUs);
//  - ReLU and pooling work on their own half;
//  - LRN sums over neighbouring channels, so each device first fetches the few channels
//    beyond its half's edge from the other (a halo of `lrn_size` channels) — the result equals
//    one device's LRN over all channels, which is what the weights were trained with;
//  - dropout runs on the gathered input of the next fully connected layer, on both devices,
//    with the same masks one device would draw (same seed, same element indices);
//  - the loss runs on device 0 over the gathered logits; each device gets its half of dL/dz.
// Backward runs the same plan in reverse: where a layer read the other device's channels, the
// gradient of those copies goes back to their owner and is added there.
//
// So a model-parallel network computes what one device computes, up to the order of float
// sums: the same logits, gradients and SGD steps, with dropout on or off (tests/network/
// test_model_parallel.cpp, tests/gpu/test_cuda.cpp). Weight files are the same: set_params
// and get_params split and join the full tensors.
//
// Devices: exactly two of one kind (cpu,cpu and gpu:0,gpu:0 test the plan on one machine).
// GPUs run fp32 only in this mode for now; fp16/bf16 inference is a data-parallel feature.
// The two halves of each layer run concurrently, one host thread each; exchanges run on the
// caller's thread, one half after the other, so no backend is used by two threads at once.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/device.h"
#include "alexnet/network.h"
#include "alexnet/runner.h"

namespace alexnet {

class ModelParallel final : public Runner {
 public:
  // devices: exactly two. threads: CPU threads in all (0 = all cores), split between CPU
  // halves. Throws alexnet::Error saying why when the list or the config cannot be split.
  ModelParallel(const NetConfig& cfg, const std::vector<Device>& devices, int threads,
                Precision precision = Precision::F32);
  // Any two backends (tests run the plan on two reference backends).
  ModelParallel(const NetConfig& cfg, std::unique_ptr<Backend> half0,
                std::unique_ptr<Backend> half1);
  ~ModelParallel() override;
  ModelParallel(const ModelParallel&) = delete;
  ModelParallel& operator=(const ModelParallel&) = delete;

  const NetConfig& config() const override;
  Backend& backend(size_t half);
  // "gpu:0,gpu:1 (model-parallel: half of every layer on each)".
  std::string describe() const override;

  // Full tensors (file order and shapes, as Network), split / joined by output channel.
  void set_params(const std::vector<NamedTensor>& host) override;
  std::vector<NamedTensor> get_params() override;
  void load(const Model& model) override;
  // SGD velocities as full host tensors (zeros before the first step), and back.
  std::vector<NamedTensor> get_momentum() override;
  void set_momentum(const std::vector<NamedTensor>& host) override;
  // Whether every gradient of the last forward_backward is finite.
  bool grads_finite() override;

  // As Network::forward / forward_backward / sgd_step.
  Tensor forward(const Tensor& x, bool training = false) override;
  Tensor forward_embedding(const Tensor& x, Tensor* embedding) override;
  float forward_backward(const Tensor& x, std::span<const int> labels,
                         Tensor* logits_out = nullptr) override;
  void sgd_step(float lr, float momentum, float weight_decay) override;

  void set_seed(uint64_t seed) override;
  void set_step(uint64_t step) override;
  uint64_t step() const override;

  // Tests: the gradient of parameter `name` as a full host tensor.
  Tensor grad(const std::string& name);

 private:
  struct Impl;
  Tensor forward_impl(const Tensor& x, bool training, Tensor* embedding);
  std::unique_ptr<Impl> impl_;
  void init(const NetConfig& cfg, std::unique_ptr<Backend> half0, std::unique_ptr<Backend> half1);
};

}  // namespace alexnet
