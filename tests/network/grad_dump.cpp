// grad-dump: one training step of a seeded case on one backend, written out for
// tests/network/test_gradients_torch.py, which rebuilds the step in torch float64 autograd.
//
//   grad-dump --config NAME --backend reference|cpu --model-seed S --input-seed S
//             [--input normal|relu] [--batch N] [--input-size N] [--no-dropout]
//             [--labels A,B,...] --out FILE
//
// The safetensors file holds, all float32 and plain (N, C, H, W):
//   input                the batch, N(0, 1), or max(N(0, 1) - 0.25, 0) ("relu": ~60% zeros)
//   labels               the labels as floats (N)
//   <param>              conv1.weight … fc8.bias, the weights the step started from
//   grad.<param>         the backend's gradients of the mean cross-entropy
//   act.<i>              the backend's activations: act.0 the input, act.<i+1> layer i's output
//   mask.<i>             for dropout layer i, the kept elements (1) and dropped ones (0)
// and metadata: "layers" (JSON: the executed plan), "loss", "isa" (the cpu backend's oneDNN
// instruction set).
//
// The activations are what lets the test hold the backend to its own branches: where a ReLU
// input or a max-pool window is within float rounding of a tie, float32 and float64 may take
// different branches, and then the gradients differ by O(dy) with both right.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/error.h"
#include "alexnet/network.h"
#include "alexnet/weights.h"
#include "core/dropout_mask.h"
#include "core/seed_mix.h"

using namespace alexnet;

namespace {

struct Args {
  std::string config, backend, input = "normal", out;
  std::vector<int> labels;  // empty: drawn from the input's generator
  uint64_t model_seed = 1, input_seed = 1;
  int batch = 4, input_size = 0;
  bool dropout = true;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "grad-dump: %s\nusage: grad-dump --config NAME --backend reference|cpu "
               "--model-seed S --input-seed S [--input normal|relu] [--batch N] "
               "[--input-size N] [--no-dropout] [--labels A,B,...] --out FILE\n",
               why.c_str());
  std::exit(2);
}

uint64_t to_u64(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end) usage(flag + " wants a number, got '" + v + "'");
  return n;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    if (f == "--no-dropout") {
      a.dropout = false;
      continue;
    }
    if (i + 1 >= argc) usage(f + " needs a value");
    std::string v = argv[++i];
    if (f == "--config")
      a.config = v;
    else if (f == "--backend")
      a.backend = v;
    else if (f == "--input")
      a.input = v;
    else if (f == "--out")
      a.out = v;
    else if (f == "--labels") {
      for (size_t p = 0; p <= v.size();) {
        size_t q = std::min(v.find(',', p), v.size());
        a.labels.push_back(static_cast<int>(to_u64(f, v.substr(p, q - p))));
        p = q + 1;
      }
    } else if (f == "--model-seed")
      a.model_seed = to_u64(f, v);
    else if (f == "--input-seed")
      a.input_seed = to_u64(f, v);
    else if (f == "--batch")
      a.batch = static_cast<int>(to_u64(f, v));
    else if (f == "--input-size")
      a.input_size = static_cast<int>(to_u64(f, v));
    else
      usage("unknown argument " + f);
  }
  if (a.config.empty() || a.backend.empty() || a.out.empty())
    usage("--config, --backend and --out are required");
  if (a.input != "normal" && a.input != "relu") usage("--input is normal or relu");
  if (a.batch < 1 || a.batch > 64) usage("--batch must be in [1, 64]");
  if (!a.labels.empty() && a.labels.size() != static_cast<size_t>(a.batch))
    usage("--labels needs one label per example of --batch");
  return a;
}

std::string layers_json(const std::vector<LayerSpec>& layers) {
  std::string j = "[";
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"kind\":\"%s\",\"name\":\"%s\",\"kernel\":%d,\"stride\":%d,\"pad\":%d,"
                  "\"groups\":%d,\"relu\":%s,\"lrn_size\":%d,\"lrn_alpha\":%.17g,"
                  "\"lrn_beta\":%.17g,\"lrn_k\":%.17g,\"out_size\":%d,\"drop_p\":%.17g}",
                  i ? "," : "", layer_kind_name(l.kind), l.name.c_str(), l.kernel, l.stride, l.pad,
                  l.groups, l.fused_relu ? "true" : "false", l.lrn_size, l.lrn_alpha, l.lrn_beta,
                  l.lrn_k, l.out_size, l.drop_p);
    j += buf;
  }
  return j + "]";
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  NetConfig cfg = NetConfig::by_name(a.config, 10);
  if (a.input_size) cfg.input_size = a.input_size;
  if (!a.dropout) cfg.dropout = 0;
  cfg.validate();
  const Model m = random_model(cfg, a.model_seed);

  Tensor x({a.batch, cfg.in_channels, cfg.input_size, cfg.input_size});  // (N, C, H, W)
  std::mt19937_64 rng(a.input_seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = normal(rng);
    x.data()[i] = a.input == "relu" ? std::max(v - 0.25f, 0.f) : v;
  }
  std::vector<int> labels(static_cast<size_t>(a.batch));
  Tensor label_values({a.batch});
  for (int i = 0; i < a.batch; ++i) {
    labels[static_cast<size_t>(i)] =
        a.labels.empty() ? static_cast<int>(rng() % static_cast<uint64_t>(cfg.classes))
                         : a.labels[static_cast<size_t>(i)];
    label_values.data()[i] = static_cast<float>(labels[static_cast<size_t>(i)]);
  }

  const uint64_t seed = 5;
  Network net(cfg, make_backend(a.backend, 0));
  net.load(m);
  net.set_seed(seed);
  const float loss = net.forward_backward(x, labels);

  std::vector<NamedTensor> out{{"input", x}, {"labels", label_values}};
  for (const NamedTensor& p : m.params) out.push_back(p);
  for (const Param& p : net.params())
    out.push_back({"grad." + p.name, net.backend().to_host(p.grad)});
  const auto acts = net.activations();
  for (size_t i = 0; i < acts.size(); ++i)
    out.push_back({"act." + std::to_string(i), net.backend().to_host(acts[i])});
  const std::vector<LayerSpec>& layers = net.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind != LayerKind::Dropout) continue;
    Tensor mask(acts[i].shape());
    // Network's seed for layer i at step 0, and the mask rule every backend shares.
    const uint64_t s = layer_seed(seed, 0, i);
    for (int64_t k = 0; k < mask.numel(); ++k)
      mask.data()[k] = dropout_keep(s, static_cast<uint64_t>(k), layers[i].drop_p) ? 1.f : 0.f;
    out.push_back({"mask." + std::to_string(i), mask});
  }
  char loss_text[64];
  std::snprintf(loss_text, sizeof loss_text, "%.9g", loss);
  write_safetensors(
      a.out, out,
      {{"layers", layers_json(layers)}, {"loss", loss_text}, {"isa", cpu_backend_isa()}});
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "grad-dump: %s\n", e.what());
  return 1;
}
