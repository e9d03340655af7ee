// make_runner: a device list and a Parallel mode → the Runner that runs them (runner.h).
#include "alexnet/runner.h"

#include "alexnet/data_parallel.h"
#include "alexnet/error.h"
#include "alexnet/model_parallel.h"
#include "alexnet/network.h"

namespace alexnet {

const char* parallel_name(Parallel p) {
  return p == Parallel::Model ? "model" : "data";
}

Parallel parse_parallel(const std::string& text) {
  if (text == "data") return Parallel::Data;
  if (text == "model") return Parallel::Model;
  throw Error("parallel \"" + text + "\": unknown (expected data or model)");
}

void Runner::set_batch_offset(int64_t first_row) {
  if (first_row != 0)
    throw Error(describe() + ": cannot train on a slice of a larger batch (distributed training)");
}

void Runner::set_gradient_exchange(GradientExchange exchange) {
  if (exchange)
    throw Error(describe() + ": cannot exchange gradients with other processes " +
                "(distributed training); use the data-parallel mode");
}

Tensor Runner::forward_embedding(const Tensor&, Tensor*) {
  throw Error(describe() + ": this runner does not hand out the embedding");
}

Tensor Runner::forward_frames(std::span<const Frame> frames, const PreprocessConfig& preprocess,
                              Tensor* embedding) {
  if (frames.empty()) throw Error("forward_frames: no frames");
  const NetConfig& cfg = config();
  Tensor x = preprocess_batch(frames, preprocess, cfg.in_channels, cfg.input_size);
  return embedding ? forward_embedding(x, embedding) : forward(x);
}

std::unique_ptr<Runner> make_runner(const NetConfig& cfg, const std::vector<Device>& devices,
                                    Parallel parallel, int threads, Precision precision) {
  if (devices.empty()) throw Error("no devices to run on");
  if (parallel == Parallel::Model)
    return std::make_unique<ModelParallel>(cfg, devices, threads, precision);
  if (devices.size() == 1)
    return std::make_unique<Network>(
        cfg, make_backend(devices.front(), split_cpu_threads(devices, threads).front(), precision));
  if (precision != Precision::F32)
    throw Error(std::string("data-parallel training on ") + join_devices(devices) +
                " runs fp32; precision=" + precision_name(precision) +
                " is for inference (one worker per device)");
  return std::make_unique<DataParallel>(cfg, devices, threads);
}

}  // namespace alexnet
