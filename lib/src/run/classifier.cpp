#include "alexnet/classifier.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <mutex>
#include <numeric>
#include <thread>

#include "alexnet/error.h"
#include "alexnet/runner.h"

namespace alexnet {

struct Classifier::Impl {
  struct Worker {
    Device device;
    int threads = 0;
    // parallel=data: the whole network on `device`; parallel=model: half of it on each
    // of the two devices.
    std::unique_ptr<Runner> runner;
    std::mutex mutex;  // one call at a time per worker
  };
  Model model;
  std::vector<Device> devices;
  std::vector<std::unique_ptr<Worker>> workers;
  std::string description;

  Worker& worker(int i) {
    if (i < 0 || i >= static_cast<int>(workers.size()))
      throw Error("classifier: worker " + std::to_string(i) + " out of range (have " +
                  std::to_string(workers.size()) + ")");
    return *workers[static_cast<size_t>(i)];
  }
};

int pipeline_cpu_threads(const NetConfig& cfg) {
  constexpr double kSmallModelMacs = 100e6;
  return forward_macs(cfg) < kSmallModelMacs ? 1 : usable_cores();
}

Classifier::Classifier(Model model, const ClassifierOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->model = std::move(model);
  impl_->devices = parse_devices(options.devices);
  if (options.threads < 0) throw Error("threads must be >= 0 (0 = all cores)");
  ClassifierOptions opt = options;
  std::string precision_note;
  const bool auto_on_cpu = options.devices == "auto" && impl_->devices.size() == 1 &&
                           impl_->devices.front().kind == DeviceKind::Cpu;
  if (auto_on_cpu && !cpu_precision_unavailable_reason(opt.precision).empty()) {
    precision_note = std::string(", ") + precision_name(opt.precision) + " → fp32 (" +
                     cpu_precision_unavailable_reason(opt.precision) + ")";
    opt.precision = Precision::F32;
  }
  const NetConfig& cfg = impl_->model.config;
  if (static_cast<int>(impl_->model.labels.size()) != cfg.classes)
    throw Error("classifier: " + std::to_string(impl_->model.labels.size()) + " labels for " +
                std::to_string(cfg.classes) + " classes");

  // CPU workers share the cores: `threads` (or every usable core) split between them.
  const std::vector<int> split = split_cpu_threads(impl_->devices, opt.threads);
  int cpu_workers =
      static_cast<int>(std::count_if(impl_->devices.begin(), impl_->devices.end(),
                                     [](const Device& d) { return d.kind == DeviceKind::Cpu; }));
  int cpu_seen = 0;
  std::string threads_desc;
  if (opt.parallel == Parallel::Model) {
    auto w = std::make_unique<Impl::Worker>();
    w->device = impl_->devices.front();
    w->runner = make_runner(cfg, impl_->devices, Parallel::Model, opt.threads, opt.precision);
    w->runner->load(impl_->model);
    impl_->workers.push_back(std::move(w));
  }
  for (size_t i = 0; i < impl_->devices.size(); ++i) {
    if (opt.parallel == Parallel::Model) break;
    const Device& d = impl_->devices[i];
    auto w = std::make_unique<Impl::Worker>();
    w->device = d;
    if (d.kind == DeviceKind::Cpu) {
      w->threads = split[i];
      if (cpu_seen++) threads_desc.append("+");
      threads_desc.append(std::to_string(w->threads));
    }
    w->runner = make_runner(cfg, {d}, Parallel::Data, w->threads, opt.precision);
    w->runner->load(impl_->model);
    impl_->workers.push_back(std::move(w));
  }
  // Every worker holds its own copy of the weights now: the host copy would only add the
  // model's size to every instance's resident memory (244 MB for torchvision's).
  impl_->model.params.clear();
  impl_->model.params.shrink_to_fit();
  impl_->description = join_devices(impl_->devices);
  if (opt.parallel == Parallel::Model)
    impl_->description = impl_->workers.front()->runner->describe();
  else if (cpu_workers)
    impl_->description += " (" + threads_desc + " CPU threads)";
  if (opt.precision != Precision::F32)
    impl_->description += std::string(", ") + precision_name(opt.precision);
  impl_->description += precision_note;
  if (options.devices == "auto") {
    std::string why = gpu_unavailable_reason();
    impl_->description = "auto → " + impl_->description + (why.empty() ? "" : "; no GPU: " + why);
  }
}

Classifier::~Classifier() = default;

const Model& Classifier::model() const {
  return impl_->model;
}
const std::vector<Device>& Classifier::devices() const {
  return impl_->devices;
}
int Classifier::workers() const {
  return static_cast<int>(impl_->workers.size());
}
std::string Classifier::describe() const {
  return impl_->description;
}

Tensor Classifier::preprocess_frames(std::span<const Frame> frames) const {
  const NetConfig& cfg = impl_->model.config;
  return preprocess_batch(frames, impl_->model.preprocess, cfg.in_channels, cfg.input_size);
}

Tensor Classifier::logits_on(const Tensor& input, int worker) {
  Impl::Worker& w = impl_->worker(worker);
  std::lock_guard lock(w.mutex);
  return w.runner->forward(input);
}

Tensor Classifier::logits(const Tensor& input) {
  const int nw = workers();
  if (nw == 1 || input.rank() != 4 || input.dim(0) < 2) return logits_on(input, 0);
  // Contiguous slices of the batch, one per worker, run concurrently; rows stay in order.
  const int64_t n = input.dim(0), per = input.numel() / n;
  const int parts = static_cast<int>(std::min<int64_t>(nw, n));
  std::vector<std::future<Tensor>> futures;
  std::vector<int64_t> starts;
  for (int p = 0; p < parts; ++p) {
    int64_t begin = n * p / parts, end = n * (p + 1) / parts;
    Shape s = input.shape();
    s[0] = end - begin;
    Tensor slice(s, const_cast<float*>(input.data()) + begin * per,
                 static_cast<size_t>((end - begin) * per), nullptr);
    starts.push_back(begin);
    futures.push_back(
        std::async(std::launch::async, [this, slice, p] { return logits_on(slice, p); }));
  }
  std::vector<Tensor> parts_out;
  for (auto& f : futures) parts_out.push_back(f.get());  // rethrows a worker's error
  const int64_t k = parts_out[0].dim(1);
  Tensor out({n, k});
  for (int p = 0; p < parts; ++p)
    std::copy(parts_out[static_cast<size_t>(p)].data(),
              parts_out[static_cast<size_t>(p)].data() + parts_out[static_cast<size_t>(p)].numel(),
              out.data() + starts[static_cast<size_t>(p)] * k);
  return out;
}

Tensor Classifier::probabilities(const Tensor& input) {
  return softmax_rows(logits(input));
}

static std::vector<TopK> top_k_rows(const Tensor& probs, int k,
                                    const std::vector<std::string>& labels) {
  std::vector<TopK> out;
  const int64_t classes = probs.dim(1);
  for (int64_t i = 0; i < probs.dim(0); ++i)
    out.push_back(top_k({probs.data() + i * classes, static_cast<size_t>(classes)}, k, labels));
  return out;
}

std::vector<TopK> Classifier::classify_tensor(const Tensor& input, int k) {
  return top_k_rows(probabilities(input), k, impl_->model.labels);
}

Classifier::Classification Classifier::classify_frames(std::span<const Frame> frames, int k,
                                                       int worker, bool embedding) {
  Classification out;
  if (frames.empty()) return out;
  Impl::Worker& w = impl_->worker(worker);
  Tensor logits;
  {
    std::lock_guard lock(w.mutex);
    // A GPU worker preprocesses on its GPU (Backend::preprocess); others on the host.
    logits = w.runner->forward_frames(frames, impl_->model.preprocess,
                                      embedding ? &out.embedding : nullptr);
  }
  out.probabilities = softmax_rows(logits);
  out.tops = top_k_rows(out.probabilities, k, impl_->model.labels);
  return out;
}

std::vector<TopK> Classifier::classify(std::span<const Frame> frames, int k, int worker) {
  return classify_frames(frames, k, worker, false).tops;
}

std::vector<TopK> Classifier::classify_parallel(std::span<const Frame> frames, int k) {
  if (frames.empty()) return {};
  return classify_tensor(preprocess_frames(frames), k);
}

Tensor softmax_rows(const Tensor& logits) {
  if (logits.rank() != 2)
    throw Error("softmax_rows: expected (N, K), got " + shape_str(logits.shape()));
  Tensor out(logits.shape());
  const int64_t n = logits.dim(0), k = logits.dim(1);
  for (int64_t i = 0; i < n; ++i) {
    const float* x = logits.data() + i * k;
    float* y = out.data() + i * k;
    float mx = *std::max_element(x, x + k);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += (y[j] = std::exp(x[j] - mx));
    for (int64_t j = 0; j < k; ++j) y[j] = static_cast<float>(y[j] / sum);
  }
  return out;
}

TopK top_k(std::span<const float> p, int k, const std::vector<std::string>& labels) {
  if (k < 1) throw Error("top-k must be >= 1");
  std::vector<int> idx(p.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t kk = std::min(static_cast<size_t>(k), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(),
                    [&](int a, int b) {
                      return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)] ||
                             (p[static_cast<size_t>(a)] == p[static_cast<size_t>(b)] && a < b);
                    });
  TopK out;
  for (size_t i = 0; i < kk; ++i) {
    int c = idx[i];
    out.push_back({c,
                   static_cast<size_t>(c) < labels.size() ? labels[static_cast<size_t>(c)]
                                                          : "class_" + std::to_string(c),
                   p[static_cast<size_t>(c)]});
  }
  return out;
}

}  // namespace alexnet
