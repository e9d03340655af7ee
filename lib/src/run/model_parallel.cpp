// ModelParallel: the plan (which channels each half holds before and after every step) is
// built once from the layers; forward and backward walk it. See model_parallel.h.
#include "alexnet/model_parallel.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "alexnet/error.h"
#include "core/device_timeout.h"
#include "core/seed_mix.h"

namespace alexnet {

namespace {

struct Range {
  int64_t lo = 0, hi = 0;
  int64_t size() const { return hi - lo; }
  bool contains(const Range& r) const { return lo <= r.lo && r.hi <= hi; }
  bool operator==(const Range&) const = default;
};

Range intersect(Range a, Range b) {
  Range r{std::max(a.lo, b.lo), std::min(a.hi, b.hi)};
  return r.lo < r.hi ? r : Range{};
}

// An activation between two steps: its channel count, who owns which channels (half 0 owns
// [0, split), half 1 [split, channels)), and which channels each half holds. A half may hold
// more than it owns (a copy of the other half's channels); the owner's value is the one that
// counts, and gradients of copies flow back to the owner.
struct Layout {
  int64_t channels = 0;
  int64_t split = 0;
  std::array<Range, 2> held;
  Range own(size_t h) const { return h == 0 ? Range{0, split} : Range{split, channels}; }
  std::array<Range, 2> owned() const { return {own(0), own(1)}; }
  std::array<Range, 2> all() const { return {Range{0, channels}, Range{0, channels}}; }
};

// Layer: both halves run their half of layers[layer]. Exchange: each half assembles the
// channels `out.held[h]` from the owners' tensors (forward) and returns the gradients of the
// copies to their owners (backward).
struct Step {
  bool exchange = false;
  size_t layer = 0;
  std::array<LayerSpec, 2> spec;
  Layout in, out;
};

// Appends the steps of one layer after another to `steps`; `cur` is the layout the next
// step reads.
struct Planner {
  std::vector<Step>& steps;
  Layout cur;

  [[noreturn]] static void fail(const LayerSpec& l, const std::string& why) {
    throw Error("parallel=model cannot split " + l.name + ": " + why);
  }

  // An exchange, unless the halves already hold `want`.
  void hold(const std::array<Range, 2>& want) {
    if (cur.held == want) return;
    for (size_t h = 0; h < 2; ++h)
      if (!cur.held[h].contains(cur.own(h)))
        throw Error("parallel=model: internal plan error (a half lost its own channels)");
    Step s;
    s.exchange = true;
    s.in = cur;
    cur.held = want;
    s.out = cur;
    steps.push_back(s);
  }

  void push_layer(size_t i, const LayerSpec& l0, const LayerSpec& l1, Layout out) {
    Step s;
    s.layer = i;
    s.spec = {l0, l1};
    s.in = cur;
    s.out = out;
    steps.push_back(s);
    cur = out;
  }

  // Conv and Linear: each half computes half of the output channels.
  void weighted(size_t i, const LayerSpec& l) {
    LayerSpec half[2] = {l, l};
    const int64_t out = l.out_channels;
    if (out < 2) fail(l, "it has fewer than 2 outputs");
    int64_t split = (out + 1) / 2;
    if (l.kind == LayerKind::Conv && l.groups > 1) {
      // Groups 0..G/2-1 on half 0: their inputs are the first half of the channels.
      if (l.groups % 2 != 0) fail(l, "groups " + std::to_string(l.groups) + " is odd");
      if (cur.channels % 2 != 0 || cur.split != cur.channels / 2)
        fail(l, "its input is not split evenly between the devices");
      hold(cur.owned());
      split = out / 2;
      for (LayerSpec& hs : half) {
        hs.in_channels = l.in_channels / 2;
        hs.groups = l.groups / 2;
        hs.out_channels = static_cast<int>(split);
      }
    } else {
      hold(cur.all());  // reads every channel: fetch the other half's
      half[0].out_channels = static_cast<int>(split);
      half[1].out_channels = static_cast<int>(out - split);
    }
    push_layer(i, half[0], half[1], Layout{out, split, {Range{0, split}, Range{split, out}}});
  }

  // LRN: a halo of lrn_size channels past each edge covers any window centred in the half;
  // it is widened to whole blocks of 8 channels where the layer has them, because oneDNN's
  // fast LRN takes only those (53 channels ran 15x slower than 56).
  void lrn(size_t i, const LayerSpec& l) {
    std::array<Range, 2> want;
    for (size_t h = 0; h < 2; ++h) {
      Range r{std::max<int64_t>(0, cur.own(h).lo - l.lrn_size),
              std::min<int64_t>(cur.channels, cur.own(h).hi + l.lrn_size)};
      while (r.size() % 8 != 0 && (r.lo > 0 || r.hi < cur.channels)) {
        if (r.hi < cur.channels)
          ++r.hi;
        else
          --r.lo;
      }
      want[h] = r;
    }
    if (!cur.held[0].contains(want[0]) || !cur.held[1].contains(want[1])) hold(want);
    push_layer(i, l, l, cur);
    hold(cur.owned());  // keep the owned channels of the result
  }

  void add(size_t i, const LayerSpec& l) {
    switch (l.kind) {
      case LayerKind::Conv:
      case LayerKind::Linear:
        weighted(i, l);
        break;
      case LayerKind::Lrn:
        lrn(i, l);
        break;
      case LayerKind::Dropout:
        hold(cur.all());  // on the gathered input of the next fc layer: one device's masks
        push_layer(i, l, l, cur);
        break;
      case LayerKind::Relu:
      case LayerKind::MaxPool:
      case LayerKind::AdaptiveAvgPool:
        push_layer(i, l, l, cur);  // per channel: on whatever the half holds
        break;
    }
  }
};

// Two persistent threads, one per half, that run each half's share of a step. The caller
// waits for both, at most the device timeout ($ALEXNET_DEVICE_TIMEOUT_S): a half that fails
// ends the step with its error, a half that stalls with an error naming it, never a hang.
// (Half 0 has its own thread too, so that a stall of either is seen.)
class HalfThreads {
 public:
  HalfThreads() : threads_{std::thread([this] { loop(0); }), std::thread([this] { loop(1); })} {}
  ~HalfThreads() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cond_.notify_all();
    for (std::thread& t : threads_)
      if (stalled_ < 0)
        t.join();
      else
        t.detach();  // the stalled one never returns; ModelParallel leaks what it uses
  }
  bool stalled() const { return stalled_ >= 0; }
  // Runs f(0) and f(1), one per thread; rethrows the first error (half 0's first). `names`:
  // the halves' devices, for the error.
  void both(const std::function<void(size_t)>& f, const std::array<std::string, 2>& names) {
    if (stalled_ >= 0)
      throw Error("model-parallel: half " + std::to_string(stalled_) + " (" +
                  names[static_cast<size_t>(stalled_)] +
                  ") stalled in an earlier step; this runner cannot be used any more");
    const double limit = device_timeout_seconds();
    std::unique_lock lock(mutex_);
    job_ = &f;
    errors_ = {};
    done_ = {false, false};
    ++generation_;
    cond_.notify_all();
    const bool finished = cond_.wait_for(lock, std::chrono::duration<double>(limit),
                                         [this] { return done_[0] && done_[1]; });
    if (!finished) {
      stalled_ = done_[0] ? 1 : 0;
      throw Error("model-parallel: half " + std::to_string(stalled_) + " (" +
                  names[static_cast<size_t>(stalled_)] +
                  ") did not finish its part of the step within " + device_timeout_text(limit) +
                  "; the device failed or is stuck");
    }
    job_ = nullptr;
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void loop(size_t h) {
    std::unique_lock lock(mutex_);
    uint64_t seen = 0;
    for (;;) {
      cond_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      const std::function<void(size_t)>* job = job_;
      lock.unlock();
      std::exception_ptr err;
      try {
        (*job)(h);
      } catch (...) {
        err = std::current_exception();
      }
      lock.lock();
      errors_[h] = err;
      done_[h] = true;
      cond_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cond_;
  const std::function<void(size_t)>* job_ = nullptr;
  std::array<std::exception_ptr, 2> errors_;
  std::array<bool, 2> done_ = {true, true};
  uint64_t generation_ = 0;
  bool stop_ = false;
  int stalled_ = -1;                    // the half that missed the timeout
  std::array<std::thread, 2> threads_;  // last: they start after the members they use exist
};

// Rows [r.lo, r.hi) of a host tensor whose first dimension is split (a copy).
}  // namespace

struct ModelParallel::Impl {
  NetConfig cfg;
  std::vector<LayerSpec> layers;
  std::array<std::unique_ptr<Backend>, 2> be;
  std::string description;
  std::vector<Step> steps;
  std::array<std::vector<std::unique_ptr<Op>>, 2> ops;  // per step; null for exchanges
  std::array<std::vector<Param>, 2> params;             // each half's rows, file order
  std::vector<int> param_index;                         // per layer: its weight, or -1
  std::vector<std::array<Range, 2>> param_rows;         // per param: each half's rows
  Layout logits;                                        // after the last step
  uint64_t version = 1, seed = 0, step = 0;
  std::array<Tensor, 2> input;
  std::array<std::vector<Tensor>, 2> acts;   // acts[h][k]: input of step k on half h
  std::array<std::vector<Tensor>, 2> grads;  // grads[h][k]: dL/d acts[h][k]
  // The exchanges' outputs (forward, backward) and dL/dlogits per half, kept from call to
  // call: asking a GPU for new memory every step would wait for the device on every free.
  std::array<std::vector<Tensor>, 2> exchanged, exchanged_grad;
  std::array<Tensor, 2> dlogits_half;
  Tensor logits_full, dlogits_full;  // on half 0
  HalfThreads workers;
  std::array<std::string, 2> names;  // the halves' devices ("cpu", "gpu:1")
  // Runs f(0) and f(1) at once, one thread per half (bounded by the device timeout).
  void both(const std::function<void(size_t)>& f) { workers.both(f, names); }

  Tensor& zeroed(size_t h, Tensor& slot, const Shape& shape) {
    if (slot.empty() || slot.shape() != shape)
      slot = be[h]->zeros(shape);
    else
      be[h]->fill_zero(slot);
    return slot;
  }
  // An exchange step: both halves in turn on this thread. A half reads the other's tensors
  // then, so no backend is ever used by two threads at once.
  template <class F>
  void each_half(F&& f) {
    for (size_t h = 0; h < 2; ++h) f(h);
  }

  void build_plan();
  OpParams op_params(size_t h, const Step& s);
  Tensor gather_channels(size_t h, Tensor& slot, const std::array<const Tensor*, 2>& src,
                         const std::array<Range, 2>& src_held, Range dst,
                         const std::array<Range, 2>& take);
  Tensor exchange_forward(size_t h, const Step& s, const Tensor& src0, const Tensor& src1);
  Tensor exchange_backward(size_t h, const Step& s, const Tensor& d0, const Tensor& d1);
  void run_forward(bool training);
  Tensor join_rows(const std::function<Tensor(size_t h, size_t param)>& half_tensor, size_t param);
  void split_rows(const std::vector<NamedTensor>& host, const char* what,
                  const std::function<void(size_t h, size_t param, Tensor host_rows)>& store);
};

void ModelParallel::Impl::build_plan() {
  const int64_t c0 = cfg.in_channels;
  Planner plan{steps, Layout{c0, c0, {Range{0, c0}, Range{0, c0}}}};  // both hold the image
  for (size_t i = 0; i < layers.size(); ++i) plan.add(i, layers[i]);
  if (plan.cur.held != plan.cur.owned())
    throw Error("parallel=model: internal plan error (logits)");
  logits = plan.cur;
}

OpParams ModelParallel::Impl::op_params(size_t h, const Step& s) {
  OpParams p;
  const int w = param_index[s.layer];
  if (w >= 0) {
    Param& weight = params[h][static_cast<size_t>(w)];
    Param& bias = params[h][static_cast<size_t>(w) + 1];
    p.weight = &weight.value;
    p.bias = &bias.value;
    p.grad_weight = &weight.grad;
    p.grad_bias = &bias.grad;
  }
  p.version = version;
  p.seed = layer_seed(seed, step, s.layer);  // the layer's index in the whole network
  return p;
}

// Into `slot` on half h, zeroed and laid out as the channels `dst`, adds from each half g's
// tensor src[g] (which holds the channels src_held[g]) the channels take[g].
Tensor ModelParallel::Impl::gather_channels(size_t h, Tensor& slot,
                                            const std::array<const Tensor*, 2>& src,
                                            const std::array<Range, 2>& src_held, Range dst,
                                            const std::array<Range, 2>& take) {
  Shape shape = src[h]->shape();
  shape[1] = dst.size();
  Tensor& out = zeroed(h, slot, shape);
  for (size_t g = 0; g < 2; ++g) {
    const Range r = take[g];
    if (r.size() > 0)
      be[h]->add_channels(*src[g], *be[g], r.lo - src_held[g].lo, out, r.lo - dst.lo, r.size());
  }
  return out;
}

// Half h's copy of channels s.out.held[h], each channel taken from its owner.
Tensor ModelParallel::Impl::exchange_forward(size_t h, const Step& s, const Tensor& src0,
                                             const Tensor& src1) {
  const Range want = s.out.held[h];
  return gather_channels(h, exchanged[h][&s - steps.data()], {&src0, &src1}, s.in.held, want,
                         {intersect(want, s.in.own(0)), intersect(want, s.in.own(1))});
}

// dL/d(half h's input of the exchange): for each channel h owns, the sum of the gradients of
// every copy of it (in half order); zero for the channels it only held as copies.
Tensor ModelParallel::Impl::exchange_backward(size_t h, const Step& s, const Tensor& d0,
                                              const Tensor& d1) {
  const Range own = s.in.own(h);
  return gather_channels(h, exchanged_grad[h][&s - steps.data()], {&d0, &d1}, s.out.held,
                         s.in.held[h],
                         {intersect(own, s.out.held[0]), intersect(own, s.out.held[1])});
}

void ModelParallel::Impl::run_forward(bool training) {
  for (size_t h = 0; h < 2; ++h) {
    acts[h].assign(steps.size() + 1, Tensor());
    acts[h][0] = input[h];
    exchanged[h].resize(steps.size());
    exchanged_grad[h].resize(steps.size());
  }
  for (size_t k = 0; k < steps.size(); ++k) {
    const Step& s = steps[k];
    if (s.exchange)
      each_half([&](size_t h) { acts[h][k + 1] = exchange_forward(h, s, acts[0][k], acts[1][k]); });
    else
      both([&](size_t h) {
        acts[h][k + 1] = ops[h][k]->forward(acts[h][k], op_params(h, s), training);
      });
  }
}

Tensor ModelParallel::Impl::join_rows(const std::function<Tensor(size_t, size_t)>& half_tensor,
                                      size_t p) {
  Tensor parts[2] = {half_tensor(0, p), half_tensor(1, p)};
  Shape s = parts[0].shape();
  s[0] = param_rows[p][1].hi;
  Tensor full(s);
  const int64_t per = full.numel() / s[0];
  for (size_t h = 0; h < 2; ++h)
    std::memcpy(full.data() + param_rows[p][h].lo * per, parts[h].data(), parts[h].nbytes());
  return full;
}

void ModelParallel::Impl::split_rows(const std::vector<NamedTensor>& host, const char* what,
                                     const std::function<void(size_t, size_t, Tensor)>& store) {
  check_param_tensors(cfg, host, std::string("ModelParallel ") + what);
  for (size_t p = 0; p < param_rows.size(); ++p)
    for (size_t h = 0; h < 2; ++h)
      store(h, p, copy_rows(host[p].value, param_rows[p][h].lo, param_rows[p][h].hi));
}

ModelParallel::ModelParallel(const NetConfig& cfg, std::unique_ptr<Backend> half0,
                             std::unique_ptr<Backend> half1)
    : impl_(std::make_unique<Impl>()) {
  init(cfg, std::move(half0), std::move(half1));
}

void ModelParallel::init(const NetConfig& cfg, std::unique_ptr<Backend> half0,
                         std::unique_ptr<Backend> half1) {
  Impl& m = *impl_;
  if (!half0 || !half1) throw Error("ModelParallel: a backend is missing");
  m.cfg = cfg;
  m.cfg.validate();
  m.be = {std::move(half0), std::move(half1)};
  m.description = m.be[0]->name() + "," + m.be[1]->name() + " (model-parallel)";
  m.names = {m.be[0]->name(), m.be[1]->name()};
  m.layers = build_layers(m.cfg);
  m.build_plan();
  m.param_index.assign(m.layers.size(), -1);
  for (size_t h = 0; h < 2; ++h) m.ops[h].resize(m.steps.size());
  for (size_t k = 0; k < m.steps.size(); ++k) {
    const Step& s = m.steps[k];
    if (s.exchange) continue;
    for (size_t h = 0; h < 2; ++h) m.ops[h][k] = m.be[h]->make_op(s.spec[h]);
    const LayerSpec& l = m.layers[s.layer];
    if (!l.has_params()) continue;
    m.param_index[s.layer] = static_cast<int>(m.params[0].size());
    const std::array<Range, 2> rows = {s.out.own(0), s.out.own(1)};
    for (const char* suffix : {".weight", ".bias"}) {
      m.param_rows.push_back(rows);
      for (size_t h = 0; h < 2; ++h) {
        const Shape shape =
            std::string(suffix) == ".weight" ? s.spec[h].weight_shape() : s.spec[h].bias_shape();
        m.params[h].push_back(
            Param{l.name + suffix, m.be[h]->zeros(shape), m.be[h]->zeros(shape), {}});
      }
    }
  }
}

namespace {

std::array<std::unique_ptr<Backend>, 2> make_halves(const std::vector<Device>& devices, int threads,
                                                    Precision precision,
                                                    std::string& threads_desc) {
  const std::string list = join_devices(devices);
  if (devices.size() != 2)
    throw Error("parallel=model needs exactly two devices (e.g. gpu:0,gpu:1 or cpu,cpu); got \"" +
                list + "\"");
  if (threads < 0) throw Error("threads must be >= 0 (0 = all cores)");
  if (devices[0].kind != devices[1].kind)
    throw Error("parallel=model needs two devices of one kind (cpu,cpu or two GPUs); got \"" +
                list + "\"");
  // The halves' exchanges move f32 channels: bf16/int8 activations (CPU) and fp16/bf16 (GPU)
  // are not split yet.
  if (precision != Precision::F32)
    throw Error(std::string("parallel=model runs fp32 only; precision=") +
                precision_name(precision) +
                " is for data-parallel inference (parallel=data) for now");
  const std::vector<int> split = split_cpu_threads(devices, threads);
  std::array<std::unique_ptr<Backend>, 2> out;
  for (size_t h = 0; h < 2; ++h) {
    const int t = split[h];
    if (devices[h].kind == DeviceKind::Cpu) {
      if (!threads_desc.empty()) threads_desc.append("+");
      threads_desc.append(std::to_string(t));
    }
    out[h] = make_backend(devices[h], t, precision);
  }
  return out;
}

}  // namespace

ModelParallel::ModelParallel(const NetConfig& cfg, const std::vector<Device>& devices, int threads,
                             Precision precision)
    : impl_(std::make_unique<Impl>()) {
  std::string threads_desc;
  auto halves = make_halves(devices, threads, precision, threads_desc);
  init(cfg, std::move(halves[0]), std::move(halves[1]));
  impl_->description = devices[0].str() + "," + devices[1].str() +
                       " (model-parallel: half of every layer on each" +
                       (threads_desc.empty() ? "" : "; " + threads_desc + " CPU threads") + ")";
}

ModelParallel::~ModelParallel() {
  if (impl_->workers.stalled()) (void)impl_.release();  // a stalled half may still use it
}

const NetConfig& ModelParallel::config() const {
  return impl_->cfg;
}
Backend& ModelParallel::backend(size_t half) {
  return *impl_->be.at(half);
}
std::string ModelParallel::describe() const {
  return impl_->description;
}

void ModelParallel::set_params(const std::vector<NamedTensor>& host) {
  Impl& m = *impl_;
  m.split_rows(host, "parameter", [&](size_t h, size_t p, Tensor rows) {
    m.params[h][p].value = m.be[h]->from_host(rows);
  });
  ++m.version;
}

std::vector<NamedTensor> ModelParallel::get_params() {
  Impl& m = *impl_;
  std::vector<NamedTensor> out;
  for (size_t p = 0; p < m.params[0].size(); ++p)
    out.push_back(
        {m.params[0][p].name,
         m.join_rows([&](size_t h, size_t q) { return m.be[h]->to_host(m.params[h][q].value); },
                     p)});
  return out;
}

void ModelParallel::load(const Model& model) {
  if (!(model.config == impl_->cfg))
    throw Error("ModelParallel: the model's config differs from the network's");
  set_params(model.params);
}

std::vector<NamedTensor> ModelParallel::get_momentum() {
  Impl& m = *impl_;
  std::vector<NamedTensor> out;
  for (size_t p = 0; p < m.params[0].size(); ++p)
    out.push_back({m.params[0][p].name, m.join_rows(
                                            [&](size_t h, size_t q) {
                                              const Param& x = m.params[h][q];
                                              return x.momentum.empty()
                                                         ? Tensor(x.value.shape())
                                                         : m.be[h]->to_host(x.momentum);
                                            },
                                            p)});
  return out;
}

void ModelParallel::set_momentum(const std::vector<NamedTensor>& host) {
  Impl& m = *impl_;
  m.split_rows(host, "momentum", [&](size_t h, size_t p, Tensor rows) {
    m.params[h][p].momentum = m.be[h]->from_host(rows);
  });
}

Tensor ModelParallel::grad(const std::string& name) {
  Impl& m = *impl_;
  for (size_t p = 0; p < m.params[0].size(); ++p)
    if (m.params[0][p].name == name)
      return m.join_rows([&](size_t h, size_t q) { return m.be[h]->to_host(m.params[h][q].grad); },
                         p);
  throw Error("ModelParallel: no parameter named " + name);
}

bool ModelParallel::grads_finite() {
  Impl& m = *impl_;
  for (size_t h = 0; h < 2; ++h)
    for (const Param& p : m.params[h]) {
      const Tensor t = m.be[h]->to_host(p.grad);
      for (int64_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t.data()[i])) return false;
    }
  return true;
}

Tensor ModelParallel::forward(const Tensor& x, bool training) {
  return forward_impl(x, training, nullptr);
}

Tensor ModelParallel::forward_embedding(const Tensor& x, Tensor* embedding) {
  return forward_impl(x, false, embedding);
}

Tensor ModelParallel::forward_impl(const Tensor& x, bool training, Tensor* embedding) {
  Impl& m = *impl_;
  check_input(m.cfg, x);
  m.both([&](size_t h) { m.be[h]->upload(x, m.input[h]); });
  m.run_forward(training);
  if (embedding) {
    // The last weighted layer reads every channel (the plan gathers them on both halves
    // before it): half 0's copy of its input is the whole embedding.
    const size_t layer = embedding_layer(m.layers);
    for (size_t k = 0; k < m.steps.size(); ++k)
      if (!m.steps[k].exchange && m.steps[k].layer == layer) {
        const Tensor e = m.be[0]->to_host(m.acts[0][k]);
        *embedding = e.reshaped({e.dim(0), e.numel() / e.dim(0)});
      }
  }
  // The logits' halves come to the host and are joined there: (N, classes).
  const int64_t n = x.dim(0), k = m.logits.channels;
  Tensor out({n, k});
  for (size_t h = 0; h < 2; ++h) {
    const Tensor part = m.be[h]->to_host(m.acts[h].back());
    const Range r = m.logits.own(h);
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(out.data() + i * k + r.lo, part.data() + i * r.size(),
                  static_cast<size_t>(r.size()) * sizeof(float));
  }
  if (!training)
    for (auto& a : m.acts) a.clear();  // inference keeps no activations alive
  return out;
}

float ModelParallel::forward_backward(const Tensor& x, std::span<const int> labels,
                                      Tensor* logits_out) {
  Impl& m = *impl_;
  check_input(m.cfg, x);
  if (static_cast<int64_t>(labels.size()) != x.dim(0))
    throw Error("forward_backward: " + std::to_string(labels.size()) + " labels for a batch of " +
                std::to_string(x.dim(0)));
  m.both([&](size_t h) {
    debug_stall_point(h, m.step + 1);
    m.be[h]->upload(x, m.input[h]);
  });
  m.run_forward(/*training=*/true);

  // The loss on half 0, over the logits gathered there: (N, classes).
  const int64_t n = x.dim(0), k = m.logits.channels;
  Backend& b0 = *m.be[0];
  m.zeroed(0, m.logits_full, {n, k});
  for (size_t h = 0; h < 2; ++h)
    b0.add_channels(m.acts[h].back(), *m.be[h], 0, m.logits_full, m.logits.own(h).lo,
                    m.logits.own(h).size());
  const float loss = b0.softmax_cross_entropy(m.logits_full, labels, &m.dlogits_full);
  if (logits_out) *logits_out = b0.to_host(m.logits_full);

  const size_t last = m.steps.size();
  for (size_t h = 0; h < 2; ++h) m.grads[h].assign(last + 1, Tensor());
  m.each_half([&](size_t h) {  // each half's columns of dL/dlogits
    const Range r = m.logits.own(h);
    m.grads[h][last] = m.zeroed(h, m.dlogits_half[h], {n, r.size()});
    m.be[h]->add_channels(m.dlogits_full, b0, r.lo, m.grads[h][last], 0, r.size());
  });
  for (size_t k1 = last; k1-- > 0;) {
    const Step& s = m.steps[k1];
    if (s.exchange)
      m.each_half([&](size_t h) {
        m.grads[h][k1] = m.exchange_backward(h, s, m.grads[0][k1 + 1], m.grads[1][k1 + 1]);
      });
    else
      m.both([&](size_t h) {
        m.grads[h][k1] = m.ops[h][k1]->backward(m.acts[h][k1], m.acts[h][k1 + 1],
                                                m.grads[h][k1 + 1], m.op_params(h, s),
                                                /*need_dx=*/k1 > 0);
      });
  }
  return loss;
}

void ModelParallel::sgd_step(float lr, float momentum, float weight_decay) {
  Impl& m = *impl_;
  m.both([&](size_t h) {
    for (Param& p : m.params[h]) {
      if (p.momentum.empty()) p.momentum = m.be[h]->zeros(p.value.shape());
      m.be[h]->sgd_update(p.value, p.grad, p.momentum, lr, momentum, weight_decay);
    }
  });
  ++m.version;
  ++m.step;
}

void ModelParallel::set_seed(uint64_t seed) {
  impl_->seed = seed;
}
void ModelParallel::set_step(uint64_t step) {
  impl_->step = step;
}
uint64_t ModelParallel::step() const {
  return impl_->step;
}

}  // namespace alexnet
