// Classifier: frames or tensors → top-k over a device list. The element, the CLI and the
// trainer's evaluation all go through it.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/device.h"
#include "alexnet/preprocess.h"
#include "alexnet/runner.h"
#include "alexnet/weights.h"

namespace alexnet {

struct Prediction {
  int index = 0;
  std::string label;
  float probability = 0.f;
};
using TopK = std::vector<Prediction>;  // best first

struct ClassifierOptions {
  std::string devices = "auto";
  int threads = 0;  // CPU threads in all, 0 = all cores; split evenly among CPU workers
  // Inference arithmetic: fp32; bf16 on GPUs and on CPUs that run it natively; fp16 on GPUs.
  // A precision a device cannot run is an Error naming it, except with devices = "auto"
  // falling back to the CPU, where fp16 becomes fp32 (describe() says so).
  Precision precision = Precision::F32;
  // Data: one worker per device, each with the whole network (frames alternate between
  // them). Model: one worker over exactly two devices, each holding half of every layer (the
  // paper's split; ModelParallel).
  Parallel parallel = Parallel::Data;
};

// What `threads = 0` means inside a media pipeline (the element), where the decoder, the
// converters and an encoder need cores too: 1 thread for a model under 100 M multiply-adds per
// image (forward_macs: the 28-64 pixel configs), else usable_cores(). A small model gains
// little from a second thread, and its OpenMP barriers stall whenever another stage of the
// pipeline holds a core. Measured on a 2-core VM (docs in benchmarks/README.md): the demo's
// model (10 M) in the demo pipeline was 5-30% faster on 1 thread than on 2 at batch 1-32;
// torchvision's (714 M) in the 1080p pipeline 1.5x faster on 2 than on 1.
int pipeline_cpu_threads(const NetConfig& cfg);

class Classifier {
 public:
  Classifier(Model model, const ClassifierOptions& options);
  ~Classifier();

  // The model's config, labels, preprocessing and calibration (its weights live in the
  // workers; `params` is empty).
  const Model& model() const;
  const std::vector<Device>& devices() const;
  int workers() const;
  std::string describe() const;  // "cpu (2 threads)", "cpu,cpu (1+1 threads)" …

  // What classify_frames computes for N frames: the top-k, the class probabilities
  // (N, classes), and with `embedding` the network's embedding (N, embedding_width: fc7 after
  // its ReLU), all on the host.
  struct Classification {
    std::vector<TopK> tops;
    Tensor probabilities;
    Tensor embedding;  // empty unless asked for
  };
  Classification classify_frames(std::span<const Frame> frames, int top_k, int worker,
                                 bool embedding);

  // Preprocesses and classifies frames on one worker (thread-safe across distinct workers;
  // calls on the same worker are serialised). The element gives each worker its frames.
  std::vector<TopK> classify(std::span<const Frame> frames, int top_k, int worker = 0);
  // Splits frames across all workers, runs them concurrently, returns results in order.
  std::vector<TopK> classify_parallel(std::span<const Frame> frames, int top_k);

  // Already preprocessed (N, C, H, W) inputs. logits() and probabilities() split the batch
  // across all workers concurrently; the _on variants use one worker.
  Tensor logits(const Tensor& input);
  Tensor logits_on(const Tensor& input, int worker);
  Tensor probabilities(const Tensor& input);
  std::vector<TopK> classify_tensor(const Tensor& input, int top_k);

  // The preprocessed input of frames, (N, C, H, W) — the same tensor classify() uses.
  Tensor preprocess_frames(std::span<const Frame> frames) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Row-wise softmax of (N, K) host logits (numerically stable).
Tensor softmax_rows(const Tensor& logits);
// Top-k of one row of probabilities, best first, ties broken by lower index.
TopK top_k(std::span<const float> probabilities, int k, const std::vector<std::string>& labels);

}  // namespace alexnet
