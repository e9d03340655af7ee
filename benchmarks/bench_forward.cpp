// bench_forward: times Network::forward (host input → host logits, inference) per config and
// batch size, and prints one machine-readable line per case:
//
//   RESULT impl=alexnet backend=cpu config=torchvision batch=1 threads=2 warmup=3 runs=25
//          median_ms=… min_ms=… ms_per_image=… images_per_s=…
//
// Method (the same as benchmarks/peers.py): `warmup` untimed forwards, then timed forwards
// until both `min-runs` runs and `min-time` seconds are reached (at most `max-runs`); the
// median and the minimum of those runs. ms_per_image and images_per_s come from the median.
//
//   bench_forward [--config torchvision|paper|all] [--batch 1,8,32] [--threads N]
//                 [--backend cpu|reference|cuda|cuda:N] [--precision fp32|fp16|bf16|int8]
//                 [--mode forward|train] [--model FILE] [--seed S] [--warmup W]
//                 [--min-runs R] [--max-runs R] [--min-time SECONDS]
//                 [--model-parallel DEV,DEV]
//
// --mode train times one training step instead (forward with dropout, softmax
// cross-entropy, backward, the SGD update; labels i % classes): the trainer's inner loop.
// --precision applies to the cuda and cpu backends' inference (training is always fp32; the
// cpu backend runs fp32, int8 and, where the CPU has avx512_bf16 or AMX, bf16). int8 on a
// model file without calibration calibrates on 16 of the benchmark's own inputs, and says so.
// --model-parallel cpu,cpu | gpu:0,gpu:1 | gpu:0,gpu:0 times alexnet::ModelParallel (the
// paper's split of every layer over the two devices) instead of one backend; --backend is
// then ignored and the lines say backend=model-parallel:DEV,DEV.
//
// --model loads a weights file (its config is used; --config is then ignored) so the peers
// can run the very same weights; without it each config gets random_model(cfg, seed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/calibrate.h"
#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/model_parallel.h"
#include "alexnet/network.h"
#include "alexnet/weights.h"
#include "npy.h"

namespace {

struct Options {
  std::vector<std::string> configs{"torchvision", "paper"};
  std::vector<int> batches{1, 8, 32};
  int threads = 0;
  std::string backend = "cpu";
  std::string precision = "fp32";
  std::string mode = "forward";
  std::string model;
  std::string model_parallel;   // "" = one backend
  std::string calibration_npy;  // int8: calibrate on these (N, C, H, W) inputs
  uint64_t seed = 1;
  int warmup = 3;
  int min_runs = 10;
  int max_runs = 200;
  double min_time = 3.0;
};

[[noreturn]] void usage(const std::string& msg, int code = 2) {
  if (!msg.empty()) std::fprintf(stderr, "bench_forward: %s\n", msg.c_str());
  std::fprintf(
      code ? stderr : stdout,
      "usage: bench_forward [--config torchvision|paper|all] [--batch 1,8,32] "
      "[--threads N] [--backend cpu|reference|cuda|cuda:N] [--precision fp32|fp16|bf16|int8] "
      "[--mode forward|train] [--model FILE] [--calibration-npy FILE] [--model-parallel DEV,DEV] "
      "[--seed S] [--warmup W] "
      "[--min-runs R] [--max-runs R] [--min-time SECONDS]\n");
  std::exit(code);
}

long to_long(const std::string& opt, const std::string& s, long lo, long hi) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v < lo || v > hi)
    usage(opt + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
          "], got '" + s + "'");
  return v;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (true) {
    size_t e = s.find(',', b);
    out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") usage("", 0);
    if (i + 1 >= argc) usage("option " + a + " needs a value (or is unknown)");
    std::string v = argv[++i];
    if (a == "--config") {
      if (v == "all")
        o.configs = {"torchvision", "paper"};
      else
        o.configs = split(v);
    } else if (a == "--batch") {
      o.batches.clear();
      for (const std::string& b : split(v))
        o.batches.push_back(static_cast<int>(to_long(a, b, 1, 4096)));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(to_long(a, v, 0, 4096));
    } else if (a == "--backend") {
      o.backend = v;
    } else if (a == "--precision") {
      o.precision = v;
      if (v != "fp32" && v != "fp16" && v != "bf16" && v != "int8")
        usage("--precision: fp32, fp16, bf16 or int8");
    } else if (a == "--mode") {
      o.mode = v;
      if (v != "forward" && v != "train") usage("--mode: forward or train");
    } else if (a == "--model-parallel") {
      o.model_parallel = v;
    } else if (a == "--model") {
      o.model = v;
    } else if (a == "--calibration-npy") {
      o.calibration_npy = v;
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(to_long(a, v, 0, 1L << 40));
    } else if (a == "--warmup") {
      o.warmup = static_cast<int>(to_long(a, v, 0, 1000));
    } else if (a == "--min-runs") {
      o.min_runs = static_cast<int>(to_long(a, v, 1, 100000));
    } else if (a == "--max-runs") {
      o.max_runs = static_cast<int>(to_long(a, v, 1, 100000));
    } else if (a == "--min-time") {
      char* end = nullptr;
      o.min_time = std::strtod(v.c_str(), &end);
      if (*end || !(o.min_time >= 0)) usage("--min-time: expected seconds >= 0");
    } else {
      usage("unknown option " + a);
    }
  }
  if (o.max_runs < o.min_runs) o.max_runs = o.min_runs;
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench(const alexnet::Model& model, const Options& o, int threads_shown) {
  using clock = std::chrono::steady_clock;
  const alexnet::NetConfig& cfg = model.config;
  alexnet::Precision precision = alexnet::parse_precision(o.precision);
  std::unique_ptr<alexnet::Network> net;
  std::unique_ptr<alexnet::ModelParallel> halves;
  std::string shown = o.backend;
  if (!o.model_parallel.empty()) {
    halves = std::make_unique<alexnet::ModelParallel>(cfg, alexnet::parse_devices(o.model_parallel),
                                                      o.threads, precision);
    halves->load(model);
    shown = "model-parallel:" + o.model_parallel;
  } else {
    std::unique_ptr<alexnet::Backend> backend;
    if (o.backend.rfind("cuda", 0) == 0)
      backend = alexnet::make_backend(
          alexnet::Device{alexnet::DeviceKind::Gpu,
                          o.backend.size() > 5 ? std::stoi(o.backend.substr(5)) : 0},
          o.threads, precision);
    else if (o.backend == "cpu")
      backend = alexnet::make_cpu_backend(o.threads, precision);
    else
      backend = alexnet::make_backend(o.backend, o.threads);
    net = std::make_unique<alexnet::Network>(cfg, std::move(backend));
    if (precision == alexnet::Precision::INT8 &&
        (model.calibration.empty() || !o.calibration_npy.empty())) {
      // Calibrate on the given inputs (the peers' calibration set), or, when the file has no
      // ranges, on inputs like the benchmark's own (seeded N(0, 1)).
      alexnet::Tensor cal({16, cfg.in_channels, cfg.input_size, cfg.input_size});
      std::mt19937 rng(777);
      std::normal_distribution<float> nd(0.f, 1.f);
      for (int64_t i = 0; i < cal.numel(); ++i) cal.data()[i] = nd(rng);
      if (!o.calibration_npy.empty()) cal = alexnet::npy::read(o.calibration_npy);
      alexnet::Model calibrated = model;
      calibrated.calibration = alexnet::calibrate(model, cal, o.threads);
      std::printf("# int8: calibrated on %lld inputs (%s)\n", static_cast<long long>(cal.dim(0)),
                  o.calibration_npy.empty() ? "the model has none: the benchmark's own seeded "
                                              "N(0, 1)"
                                            : o.calibration_npy.c_str());
      net->load(calibrated);
    } else {
      net->load(model);
    }
  }
  const bool train = o.mode == "train";
  for (int batch : o.batches) {
    alexnet::Tensor x({batch, cfg.in_channels, cfg.input_size, cfg.input_size});
    std::mt19937 rng(12345);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = nd(rng);

    std::vector<int> labels(static_cast<size_t>(batch));
    for (int i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = i % cfg.classes;
    // One timed unit: an inference forward (host in, host logits out), or a training step
    // (forward_backward returns the loss to the host, so the step is complete when timed).
    auto run_once = [&]() -> double {
      if (!train) return (net ? net->forward(x) : halves->forward(x)).data()[0];
      double loss = net ? net->forward_backward(x, labels) : halves->forward_backward(x, labels);
      net ? net->sgd_step(1e-4f, 0.9f, 5e-4f) : halves->sgd_step(1e-4f, 0.9f, 5e-4f);
      return loss;
    };
    double checksum = 0;
    for (int i = 0; i < o.warmup; ++i) checksum = run_once();
    std::vector<double> ms;
    double total = 0;
    while (static_cast<int>(ms.size()) < o.max_runs &&
           (static_cast<int>(ms.size()) < o.min_runs || total < o.min_time)) {
      auto t0 = clock::now();
      checksum = run_once();
      if (train) {  // the SGD update is asynchronous on a GPU
        if (net) net->backend().synchronize();
        for (size_t h = 0; halves && h < 2; ++h) halves->backend(h).synchronize();
      }
      auto t1 = clock::now();
      double s = std::chrono::duration<double>(t1 - t0).count();
      ms.push_back(s * 1e3);
      total += s;
    }
    if (!std::isfinite(checksum)) throw std::runtime_error("non-finite logits/loss");
    double med = median(ms);
    double mn = *std::min_element(ms.begin(), ms.end());
    std::printf(
        "RESULT impl=alexnet backend=%s precision=%s mode=%s config=%s batch=%d threads=%d "
        "isa=%s warmup=%d runs=%zu median_ms=%.3f min_ms=%.3f ms_per_image=%.3f "
        "images_per_s=%.2f\n",
        shown.c_str(), o.precision.c_str(), o.mode.c_str(), cfg.variant.c_str(), batch,
        threads_shown, alexnet::cpu_backend_isa().c_str(), o.warmup, ms.size(), med, mn,
        med / batch, 1e3 * batch / med);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  int threads_shown =
      o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  // The instruction set oneDNN runs here (the CPU's best, or ONEDNN_MAX_CPU_ISA's cap): CPU
  // timings mean nothing without it. Every RESULT line carries it as isa=.
  std::printf("# cpu backend: oneDNN ISA %s%s\n", alexnet::cpu_backend_isa().c_str(),
              std::getenv("ONEDNN_MAX_CPU_ISA") ? " (capped by ONEDNN_MAX_CPU_ISA)" : "");
  try {
    if (!o.model.empty()) {
      bench(alexnet::load_model(o.model), o, threads_shown);
    } else {
      for (const std::string& name : o.configs)
        bench(alexnet::random_model(alexnet::NetConfig::by_name(name, 1000), o.seed), o,
              threads_shown);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_forward: %s\n", e.what());
    return 1;
  }
  return 0;
}
