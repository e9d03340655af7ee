// Runner: the network on a device list, however it is spread over the devices, behind one
// interface. The trainer and the classifier hold a Runner and never ask which kind it is.
//
//   Network        one device (lib: network.h)
//   DataParallel   one replica per device, the batch split between them (data_parallel.h)
//   ModelParallel  the paper's split of every layer over two devices (model_parallel.h)
//
// make_runner() picks one from the device list and the Parallel mode. Every runner owns its
// parameters, gradients and SGD momenta, and checks its own gradients' finiteness; the
// parameters and momenta cross the interface as full host tensors in file order
// (param_infos), whatever the runner keeps on its devices.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/preprocess.h"
#include "alexnet/tensor.h"
#include "alexnet/weights.h"

namespace alexnet {

// How a device list is used: replicas taking slices of the batch (the default), or the
// paper's split of every layer over two devices.
enum class Parallel { Data, Model };
const char* parallel_name(Parallel p);  // "data", "model"
// "data" | "model"; throws alexnet::Error quoting the text otherwise.
Parallel parse_parallel(const std::string& text);

class Runner {
 public:
  virtual ~Runner() = default;

  virtual const NetConfig& config() const = 0;
  // The devices and how they are used: "cpu", "cpu,cpu (2 replicas, host reduction)",
  // "gpu:0,gpu:1 (model-parallel: half of every layer on each)".
  virtual std::string describe() const = 0;

  // Full host tensors in file order (names and shapes as param_infos), in and out.
  virtual void set_params(const std::vector<NamedTensor>& host) = 0;
  virtual std::vector<NamedTensor> get_params() = 0;
  virtual void load(const Model& model) = 0;  // the model's config must equal config()
  // SGD velocities as full host tensors (zeros before the first step), out and in.
  virtual std::vector<NamedTensor> get_momentum() = 0;
  virtual void set_momentum(const std::vector<NamedTensor>& host) = 0;

  // x: (N, C, H, W) host batch; returns the logits (N, classes) on the host.
  virtual Tensor forward(const Tensor& x, bool training = false) = 0;
  // Inference that also returns the embedding (config.h: embedding_layer; (N, width) on the
  // host) in *embedding. Network and ModelParallel have it; others throw alexnet::Error.
  virtual Tensor forward_embedding(const Tensor& x, Tensor* embedding);
  // Frames → logits: preprocessed on the host (preprocess_batch), or on the device where the
  // runner can (a GPU Network). With `embedding`, as forward_embedding.
  virtual Tensor forward_frames(std::span<const Frame> frames, const PreprocessConfig& preprocess,
                                Tensor* embedding = nullptr);
  // One training forward and backward: the batch's mean cross-entropy; the gradients stay in
  // the runner for sgd_step. logits_out (optional) gets (N, classes).
  virtual float forward_backward(const Tensor& x, std::span<const int> labels,
                                 Tensor* logits_out = nullptr) = 0;
  // Whether every gradient of the last forward_backward is finite.
  virtual bool grads_finite() = 0;
  // SGD with momentum and weight decay on every parameter (the paper's rule); then step + 1.
  virtual void sgd_step(float lr, float momentum, float weight_decay) = 0;

  // Dropout masks are a function of (seed, step, layer): the same on every runner.
  virtual void set_seed(uint64_t seed) = 0;
  virtual void set_step(uint64_t step) = 0;
  virtual uint64_t step() const = 0;

  // Distributed training (training/src/distributed.h) runs one runner per process, each on a
  // slice of the global batch.
  // The next batches are rows [first_row, first_row + N) of a larger batch: dropout masks
  // index that batch, so the slices together draw the masks one process would draw for the
  // whole. Runners that cannot (model-parallel) throw alexnet::Error for first_row != 0.
  virtual void set_batch_offset(int64_t first_row);
  // Called at the end of every forward_backward with the runner's gradients (its own
  // reduction done; the mean over its N rows), in param_infos order, to be combined in place
  // with other processes'. `backend`: the device they are on, or null for plain host tensors.
  // Called exactly once per forward_backward (a data-parallel runner: with its host sums, or
  // with replica 0's gradients on its GPU). Runners that cannot throw alexnet::Error for a
  // non-empty exchange.
  using GradientExchange = std::function<void(Backend* backend, std::span<Tensor* const> grads)>;
  virtual void set_gradient_exchange(GradientExchange exchange);

  // Tests of the trainer's non-finite refusal: one NaN into a gradient of the last
  // forward_backward, as an overflow would leave it. False where the runner cannot (then the
  // caller poisons the loss alone).
  virtual bool debug_poison_gradient() { return false; }
};

// devices: from parse_devices. Parallel::Model needs exactly two devices; Parallel::Data
// makes a Network for one device and a DataParallel for several. threads: CPU threads in
// all (0 = usable_cores()), split between CPU devices. precision: for inference (fp16/bf16
// on GPUs); training and data-parallel runners are fp32. Throws alexnet::Error saying why a
// device list, mode or precision cannot run.
std::unique_ptr<Runner> make_runner(const NetConfig& cfg, const std::vector<Device>& devices,
                                    Parallel parallel, int threads,
                                    Precision precision = Precision::F32);

}  // namespace alexnet
