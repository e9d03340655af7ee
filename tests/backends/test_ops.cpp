// Every op of every fast backend against the reference backend (the oracle), forward and
// backward, on seeded random data: small and odd shapes, groups, strides, padding, fused
// ReLU on and off, both LRN parameter sets, and the real paper / torchvision layer shapes.
// Then the things only a fast backend has: native layouts chained between ops, cached
// weight reorders invalidated by OpParams::version, per-backend thread counts, dropout masks.
//
// Tolerances are relative to the scale of the reference result: max|Δ| ≤ tol · max|ref|.
//   forward        1e-4  float accumulation over at most ~10^4 terms (fc6: 9216) in a
//                        different order: the error grows like sqrt(terms)·2^-24 ≈ 6e-6 of
//                        the largest term, well inside; a wrong index or layout is O(1).
//   dx             1e-4  the same kind of sum (over output channels × kernel taps).
//   dW, db         2e-4  sums over N·OH·OW positions as well (conv1: 2·55·55 = 6050 terms
//                        per weight, times C·K·K summed over in blocks) whose random-sign
//                        terms cancel: max|ref| shrinks like sqrt(terms) while the rounding
//                        does not, so these get twice the forward's bound.
//   LRN            1e-4  oneDNN evaluates pow(s, -0.75) with its own fast path; still float
//                        accurate.
// Observed on AVX2 (oneDNN 2.6, ALEXNET_TEST_PRINT_ERRORS=1): forward ≤ 2.3e-6, dx ≤ 5e-7,
// dW/db ≤ 1.8e-6 — the bounds leave ~50× for other ISAs' summation orders.
// The reference's backward gets the device's y (see run_case). Dropout and SGD compare
// bit for bit; softmax and cross-entropy (both in double) to 1e-6.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../reference/test_util.h"
#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/error.h"
#include "alexnet/tensor.h"
#include "backends/cpu/cpu_debug.h"
#include "core/dropout_mask.h"

namespace {

using namespace alexnet;

// --- the backends under test -------------------------------------------------------------

struct BackendMaker {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};

void PrintTo(const BackendMaker& m, std::ostream* os) {
  *os << m.name;
}

// Every non-reference backend. CUDA joins where a GPU is present; elsewhere the
// CudaBackend.Available test below skips and says why.
std::vector<BackendMaker> fast_backends() {
  std::vector<BackendMaker> v{{"cpu", [] { return make_cpu_backend(0); }}};
  if (gpu_count() > 0) v.push_back({"cuda", [] { return make_cuda_backend(0); }});
  return v;
}

// --- data and comparison -----------------------------------------------------------------

// Uniform in [lo, hi) from mt19937_64's raw stream (fixed by the standard).
Tensor random_tensor(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
  std::mt19937_64 gen(seed);
  Tensor t(shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = static_cast<float>(lo + (hi - lo) * static_cast<double>(gen() >> 11) *
                                              (1.0 / 9007199254740992.0));
  return t;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, double(std::abs(t.data()[i])));
  return m;
}

// max|got - ref| ≤ tol · max|ref| (plain host tensors of one shape).
void expect_close(const Tensor& got, const Tensor& ref, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  ASSERT_TRUE(got.is_plain()) << what;
  double diff = 0;
  int64_t worst = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double d = std::abs(double(got.data()[i]) - ref.data()[i]);
    if (!(d <= diff)) {  // NaN-safe: a NaN becomes the worst
      diff = d;
      worst = i;
    }
  }
  double scale = max_abs(ref);
  // ALEXNET_TEST_PRINT_ERRORS=1 prints every comparison's relative error (to size tolerances).
  static const bool print = std::getenv("ALEXNET_TEST_PRINT_ERRORS") != nullptr;
  if (print) std::printf("  rel.err %.3g  %s\n", scale > 0 ? diff / scale : diff, what.c_str());
  EXPECT_GT(scale, 0) << what << ": the reference is all zeros, the case tests nothing";
  EXPECT_LE(diff, tol * scale) << what << ": max|Δ| = " << diff << " at flat index " << worst
                               << " (got " << got.data()[worst] << ", ref " << ref.data()[worst]
                               << "), max|ref| = " << scale << ", relative " << diff / scale
                               << " > " << tol;
}

void expect_equal(const Tensor& got, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  for (int64_t i = 0; i < ref.numel(); ++i)
    ASSERT_EQ(got.data()[i], ref.data()[i]) << what << " at flat index " << i;
}

// Layer specs: conv_spec, linear_spec, lrn_spec, pool_spec, avgpool_spec, simple_spec
// come from tests/reference/test_util.h, shared with the reference tests.
using testutil::avgpool_spec;
using testutil::conv_spec;
using testutil::linear_spec;
using testutil::lrn_spec;
using testutil::pool_spec;
using testutil::simple_spec;

struct Tol {
  double fwd = 1e-4, dx = 1e-4, dw = 2e-4;
};

struct Case {
  std::string label;
  LayerSpec spec;
  Shape in;
  double in_scale = 1;  // inputs uniform in [-in_scale, in_scale)
  Tol tol{};
};

// Parameters: uniform in ±1/sqrt(fan_in), so outputs stay O(input) through deep stacks.
struct Params {
  Tensor w, b;
  Params(const LayerSpec& spec, uint64_t seed) {
    if (!spec.has_params()) return;
    Shape ws = spec.weight_shape();
    double bound = 1.0 / std::sqrt(double(shape_numel(ws) / ws[0]));
    w = random_tensor(ws, seed, -bound, bound);
    b = random_tensor(spec.bias_shape(), seed + 1, -bound, bound);
  }
};

// The same op on the reference and on `dev`, with the same data; y, dx, dW, db compared.
void run_case(const BackendMaker& maker, const Case& c, uint64_t seed) {
  SCOPED_TRACE(maker.name + " " + c.label + " " + layer_kind_name(c.spec.kind) + " input " +
               shape_str(c.in));
  auto ref = make_reference_backend();
  auto dev = maker.make();
  auto rop = ref->make_op(c.spec);
  auto dop = dev->make_op(c.spec);
  Tensor x = random_tensor(c.in, seed, -c.in_scale, c.in_scale);
  Params host(c.spec, seed + 100);
  Tensor rgw, rgb, dgw, dgb;
  Tensor dw, db;
  OpParams rp, dp;
  rp.seed = dp.seed = seed ^ 0x5eed;
  rp.version = dp.version = 1;
  if (c.spec.has_params()) {
    dw = dev->from_host(host.w);
    db = dev->from_host(host.b);
    rgw = ref->zeros(host.w.shape());
    rgb = ref->zeros(host.b.shape());
    dgw = dev->zeros(host.w.shape());
    dgb = dev->zeros(host.b.shape());
    rp = {&host.w, &host.b, &rgw, &rgb, 1, rp.seed};
    dp = {&dw, &db, &dgw, &dgb, 1, dp.seed};
  }
  Tensor xd = dev->from_host(x);

  // Inference first (its own primitives), then training, whose y backward uses.
  {
    const Tensor& ry = rop->forward(x, rp, false);
    Tensor dy_host = dev->to_host(dop->forward(xd, dp, false));
    expect_close(dy_host, ry, c.tol.fwd, "forward (inference)");
  }
  const Tensor& ry = rop->forward(x, rp, true);
  const Tensor& dy_dev = dop->forward(xd, dp, true);
  Tensor y_host = dev->to_host(dy_dev);
  expect_close(y_host, ry, c.tol.fwd, "forward (training)");

  // The reference's backward is given the device's y: a ReLU mask comes from y > 0, and
  // a pre-activation within rounding of 0 would otherwise flip it (an O(1) difference in
  // one dy, not a bug). Max pooling recomputes its argmax from x, which is shared.
  Tensor gy = random_tensor(ry.shape(), seed + 7);
  Tensor gyd = dev->from_host(gy);
  const Tensor& rdx = rop->backward(x, y_host, gy, rp, true);
  const Tensor& ddx = dop->backward(xd, dy_dev, gyd, dp, true);
  expect_close(dev->to_host(ddx), rdx, c.tol.dx, "dx");
  if (c.spec.has_params()) {
    expect_close(dev->to_host(dgw), rgw, c.tol.dw, "dW");
    expect_close(dev->to_host(dgb), rgb, c.tol.dw, "db");
  }
}

// Small, odd and edge shapes of every kind of op.
std::vector<Case> small_cases() {
  std::vector<Case> v;
  v.push_back({"small relu", conv_spec(3, 4, 3, 1, 0, 1, true), {2, 3, 9, 9}});
  v.push_back(
      {"odd sizes, stride 2, pad 2, no relu", conv_spec(5, 7, 5, 2, 2, 1, false), {3, 5, 13, 11}});
  v.push_back({"groups 2, pad 1", conv_spec(6, 8, 3, 1, 1, 2, true), {2, 6, 10, 10}});
  v.push_back(
      {"groups 2, 16 channels, no relu", conv_spec(16, 12, 3, 1, 1, 2, false), {1, 16, 7, 7}});
  v.push_back({"stride 4, 11x11", conv_spec(3, 16, 11, 4, 0, 1, true), {2, 3, 35, 35}});
  v.push_back({"stride 4, pad 2, odd input", conv_spec(3, 10, 11, 4, 2, 1, true), {1, 3, 30, 29}});
  // torchvision's conv1 in small: the cpu backend pads explicitly for its jit kernel.
  v.push_back({"stride 4, pad 2, 16 out", conv_spec(3, 16, 11, 4, 2, 1, true), {2, 3, 35, 35}});
  v.push_back({"1x1", conv_spec(8, 9, 1, 1, 0, 1, false), {2, 8, 5, 5}});
  v.push_back({"2-D input, relu", linear_spec(10, 7, true), {3, 10}});
  v.push_back({"4-D input, no relu", linear_spec(144, 5, false), {2, 16, 3, 3}});
  v.push_back({"4-D odd input, relu", linear_spec(45, 9, true), {2, 5, 3, 3}});
  v.push_back({"batch 1", linear_spec(33, 17, true), {1, 33}});
  v.push_back({"4-D", simple_spec(LayerKind::Relu, "relu"), {2, 5, 7, 7}});
  v.push_back({"2-D", simple_spec(LayerKind::Relu, "relu"), {3, 11}});
  v.push_back({"small params, strong", lrn_spec(3, 0.2, 0.75, 1.0), {2, 7, 5, 5}, 2});
  v.push_back({"size 5, beta 1", lrn_spec(5, 0.05, 1.0, 1.5), {2, 9, 4, 3}, 2});
  // The paper's: k = 2, n = 5, alpha = 1e-4, beta = 0.75, on inputs large enough (±20) for
  // alpha·Σx² to matter next to k.
  v.push_back({"paper params", lrn_spec(5, 1e-4, 0.75, 2.0), {2, 16, 6, 6}, 20});
  v.push_back({"paper params, 96 channels", lrn_spec(5, 1e-4, 0.75, 2.0), {2, 96, 5, 5}, 20});
  v.push_back({"3/2 overlapping", pool_spec(3, 2), {2, 5, 9, 9}});
  v.push_back({"3/2, 8 channels", pool_spec(3, 2), {1, 8, 13, 13}});
  v.push_back({"2/2", pool_spec(2, 2), {2, 3, 8, 8}});
  v.push_back({"3/3, partial window dropped, non-square", pool_spec(3, 3), {2, 4, 10, 7}});
  v.push_back({"identity 6 -> 6", avgpool_spec(6), {2, 5, 6, 6}});
  v.push_back({"divisible 12 -> 6", avgpool_spec(6), {2, 8, 12, 12}});
  v.push_back({"divisible, different strides 12x8 -> 4", avgpool_spec(4), {2, 4, 12, 8}});
  v.push_back({"overlapping 13 -> 6", avgpool_spec(6), {2, 3, 13, 13}});
  v.push_back({"upsampling 3 -> 6", avgpool_spec(6), {1, 2, 3, 3}});
  return v;
}

// The real layers of a configuration at batch 2 (conv1 … fc8, LRN, pools), dropout aside
// (tested exactly below).
std::vector<Case> network_cases(const NetConfig& cfg) {
  std::vector<Case> v;
  Shape shape{2, cfg.in_channels, cfg.input_size, cfg.input_size};
  for (const LayerSpec& s : build_layers(cfg)) {
    Shape in = shape;
    shape = s.output_shape(shape);
    if (s.kind == LayerKind::Dropout) continue;
    Case c{cfg.variant + " " + s.name, s, in};
    if (s.kind == LayerKind::Lrn) c.in_scale = 20;  // conv outputs are that large in practice
    v.push_back(c);
  }
  return v;
}

class Ops : public ::testing::TestWithParam<BackendMaker> {};

TEST_P(Ops, SmallAndOddShapesMatchReference) {
  uint64_t seed = 1;
  for (const Case& c : small_cases()) run_case(GetParam(), c, seed++);
}

TEST_P(Ops, PaperLayersMatchReference) {
  uint64_t seed = 100;
  for (const Case& c : network_cases(NetConfig::paper())) run_case(GetParam(), c, seed++);
}

TEST_P(Ops, TorchvisionLayersMatchReference) {
  uint64_t seed = 200;
  for (const Case& c : network_cases(NetConfig::torchvision())) run_case(GetParam(), c, seed++);
}

// Dropout: the mask is dropout_mask.h's on every backend, so y and dx are bit-identical.
// Also fed a native-layout input (a conv's output), whose mask must still follow the plain
// index.
TEST_P(Ops, DropoutMaskEqualsReference) {
  auto ref = make_reference_backend();
  auto dev = GetParam().make();
  for (double p : {0.5, 0.3}) {
    LayerSpec s = simple_spec(LayerKind::Dropout, "drop");
    s.drop_p = p;
    for (Shape shape : {Shape{4, 100}, Shape{2, 3, 5, 5}}) {
      SCOPED_TRACE("p " + std::to_string(p) + " " + shape_str(shape));
      auto rop = ref->make_op(s);
      auto dop = dev->make_op(s);
      Tensor x = random_tensor(shape, 11);
      OpParams params;
      params.seed = 12345;
      const Tensor& ry = rop->forward(x, params, true);
      const Tensor& dy_dev = dop->forward(dev->from_host(x), params, true);
      expect_equal(dev->to_host(dy_dev), ry, "y");
      int64_t kept = 0;
      for (int64_t i = 0; i < x.numel(); ++i) kept += dropout_keep(12345, uint64_t(i), p);
      EXPECT_GT(kept, 0);
      EXPECT_LT(kept, x.numel());
      Tensor g = random_tensor(shape, 13);
      const Tensor& rdx = rop->backward(x, ry, g, params, true);
      expect_equal(dev->to_host(dop->backward(x, dy_dev, dev->from_host(g), params, true)), rdx,
                   "dx");
      // Inference is the identity.
      expect_equal(dev->to_host(dop->forward(dev->from_host(x), params, false)), x, "inference");
    }
  }
  // Native input: conv output (16 channels: a blocked layout on the cpu backend).
  LayerSpec cs = conv_spec(3, 16, 3, 1, 1, 1, true);
  Params prm(cs, 21);
  Tensor x = random_tensor({2, 3, 6, 6}, 22);
  OpParams cp{&prm.w, &prm.b, nullptr, nullptr, 1, 0};
  auto rconv = ref->make_op(cs);
  auto dconv = dev->make_op(cs);
  Tensor w = dev->from_host(prm.w), b = dev->from_host(prm.b);
  OpParams dcp{&w, &b, nullptr, nullptr, 1, 0};
  const Tensor& rx = rconv->forward(x, cp, true);
  const Tensor& dx_native = dconv->forward(dev->from_host(x), dcp, true);
  LayerSpec s = simple_spec(LayerKind::Dropout, "drop");
  auto rop = ref->make_op(s);
  auto dop = dev->make_op(s);
  OpParams params;
  params.seed = 99;
  // Conv results differ in the last bits between backends, so compare the mask: zero where
  // the reference dropped, x·scale (to float tolerance) where it kept.
  Tensor got = dev->to_host(dop->forward(dx_native, params, true));
  const Tensor& want = rop->forward(rx, params, true);
  for (int64_t i = 0; i < want.numel(); ++i) {
    bool keep = dropout_keep(99, uint64_t(i), 0.5);
    if (!keep)
      ASSERT_EQ(got.data()[i], 0.f) << i;
    else
      ASSERT_NEAR(got.data()[i], want.data()[i], 1e-4 * (1 + std::abs(want.data()[i]))) << i;
  }
}

// A chain conv → LRN → pool → conv (groups 2) → pool → avgpool (identity, as torchvision's
// at 224) → fc → fc, forward and backward, each
// op fed the previous one's device tensor as is (native layouts in between): only the ends
// go through to_host.
struct Chain {
  std::vector<LayerSpec> specs;
  std::vector<Params> params;
  Shape in{2, 3, 32, 32};
  Chain() {
    specs = {conv_spec(3, 16, 5, 1, 2, 1, true),
             lrn_spec(5, 1e-4, 0.75, 2.0),
             pool_spec(3, 2),
             conv_spec(16, 32, 3, 1, 1, 2, true),
             pool_spec(3, 2),
             avgpool_spec(7),
             linear_spec(32 * 7 * 7, 32, true),
             linear_spec(32, 10, false)};
    for (size_t i = 0; i < specs.size(); ++i) params.emplace_back(specs[i], 300 + i);
  }
};

struct ChainResult {
  Tensor logits, dx;
  std::vector<Tensor> gw, gb;            // per layer (empty for layers without parameters)
  std::vector<Tensor> xs, ys, dys, dxs;  // per layer, host copies of what it saw and gave
  std::vector<bool> plain_outputs;       // per layer: was the device output plain?
};

ChainResult run_chain(Backend& be, const Chain& ch, const Tensor& x_host, const Tensor& g_host) {
  const size_t n = ch.specs.size();
  std::vector<std::unique_ptr<Op>> ops;
  std::vector<Tensor> w(n), b(n), gw(n), gb(n);
  std::vector<OpParams> p(n);
  for (size_t i = 0; i < n; ++i) {
    ops.push_back(be.make_op(ch.specs[i]));
    if (ch.specs[i].has_params()) {
      w[i] = be.from_host(ch.params[i].w);
      b[i] = be.from_host(ch.params[i].b);
      gw[i] = be.zeros(w[i].shape());
      gb[i] = be.zeros(b[i].shape());
      p[i] = {&w[i], &b[i], &gw[i], &gb[i], 1, 0};
    }
  }
  ChainResult r;
  std::vector<const Tensor*> in(n);
  Tensor x = be.from_host(x_host);
  const Tensor* cur = &x;
  for (size_t i = 0; i < n; ++i) {
    in[i] = cur;
    r.xs.push_back(be.to_host(*cur));
    cur = &ops[i]->forward(*cur, p[i], true);
    r.ys.push_back(be.to_host(*cur));
    r.plain_outputs.push_back(cur->is_plain());
  }
  r.logits = be.to_host(*cur);
  Tensor g = be.from_host(g_host);
  const Tensor* dy = &g;
  r.dys.resize(n);
  r.dxs.resize(n);
  for (size_t i = n; i-- > 0;) {
    const Tensor& y = i + 1 < n ? *in[i + 1] : *cur;
    r.dys[i] = be.to_host(*dy);
    dy = &ops[i]->backward(*in[i], y, *dy, p[i], true);
    r.dxs[i] = be.to_host(*dy);
  }
  r.dx = be.to_host(*dy);
  for (size_t i = 0; i < n; ++i) {
    r.gw.push_back(ch.specs[i].has_params() ? be.to_host(gw[i]) : Tensor());
    r.gb.push_back(ch.specs[i].has_params() ? be.to_host(gb[i]) : Tensor());
  }
  return r;
}

// Forward: the device chain's logits against the reference chain's (forward is continuous
// in its inputs, so small differences stay small). Backward is not — a pre-activation within
// rounding of 0 flips a ReLU mask, a near-tie flips a pooling argmax — so each device
// layer's backward is checked against the reference op given that layer's own device x, y
// and dy (host copies): the masks then agree exactly, and what is tested is still the
// device op reading and writing native layouts.
TEST_P(Ops, NativeLayoutChainMatchesReference) {
  Chain ch;
  Tensor x = random_tensor(ch.in, 401);
  Tensor g = random_tensor({2, 10}, 402);
  auto ref = make_reference_backend();
  auto dev = GetParam().make();
  ChainResult want = run_chain(*ref, ch, x, g);
  ChainResult got = run_chain(*dev, ch, x, g);
  expect_close(got.logits, want.logits, 1e-4, "logits");
  for (size_t i = 0; i < ch.specs.size(); ++i) {
    const LayerSpec& s = ch.specs[i];
    SCOPED_TRACE("layer " + std::to_string(i) + " " + layer_kind_name(s.kind));
    auto op = ref->make_op(s);
    Tensor rgw, rgb;
    Params prm = ch.params[i];
    OpParams rp;
    if (s.has_params()) rp = {&prm.w, &prm.b, &rgw, &rgb, 1, 0};
    expect_close(got.ys[i], op->forward(got.xs[i], rp, true), 1e-4, "y");
    expect_close(got.dxs[i], op->backward(got.xs[i], got.ys[i], got.dys[i], rp, true), 1e-4, "dx");
    if (s.has_params()) {
      expect_close(got.gw[i], rgw, 2e-4, "dW");
      expect_close(got.gb[i], rgb, 2e-4, "db");
    }
  }
  EXPECT_TRUE(got.plain_outputs.back()) << "the logits must come out plain (N, K)";
  if (GetParam().name == "cpu") {
    // 16 and 32 channels (8 → 16 per group): oneDNN's AVX2/AVX-512 convolutions keep
    // nChw8c/nChw16c, and LRN and pooling follow — the point of the chain.
    for (size_t i : {0, 1, 2, 3, 4, 5})
      EXPECT_FALSE(got.plain_outputs[i]) << "layer " << i << " output was converted to plain";
  }
}

// Weights are reordered once and cached; OpParams::version tells the backend they changed.
TEST_P(Ops, WeightVersionBumpInvalidatesCachedReorder) {
  auto ref = make_reference_backend();
  auto dev = GetParam().make();
  for (const LayerSpec& s :
       {conv_spec(8, 16, 3, 1, 1, 1, true), linear_spec(8 * 5 * 5, 12, false)}) {
    SCOPED_TRACE(layer_kind_name(s.kind));
    Params prm(s, 500);
    Tensor x = random_tensor({2, 8, 5, 5}, 501);
    auto rop = ref->make_op(s);
    auto dop = dev->make_op(s);
    Tensor w = dev->from_host(prm.w), b = dev->from_host(prm.b);
    Tensor xd = dev->from_host(x);
    OpParams dp{&w, &b, nullptr, nullptr, 1, 0};
    OpParams rp{&prm.w, &prm.b, nullptr, nullptr, 1, 0};
    expect_close(dev->to_host(dop->forward(xd, dp, false)), rop->forward(x, rp, false), 1e-4,
                 "before");
    // New weights in a new tensor with a new version (what a load does).
    Params fresh(s, 777);
    prm.w = fresh.w;
    w = dev->from_host(fresh.w);
    dp.version = 2;
    expect_close(dev->to_host(dop->forward(xd, dp, false)), rop->forward(x, rp, false), 1e-4,
                 "new weights, version 2");
    // New values written in place, same pointer, and a new version (what an optimiser step
    // does): the cached reorders of forward and of backward-data must both follow.
    if (dev->device() == DeviceKind::Cpu) {
      Params third(s, 888);
      std::copy(third.w.data(), third.w.data() + third.w.numel(), w.data());
      prm.w = third.w;
      dp.version = 3;
      expect_close(dev->to_host(dop->forward(xd, dp, false)), rop->forward(x, rp, false), 1e-4,
                   "in-place change, version 3");
      const Tensor& ry = rop->forward(x, rp, true);
      const Tensor& dy_dev = dop->forward(xd, dp, true);
      expect_close(dev->to_host(dy_dev), ry, 1e-4, "in-place change, version 3, training");
      Tensor g = random_tensor(ry.shape(), 889);
      const Tensor& rdx = rop->backward(x, ry, g, rp, true);
      expect_close(dev->to_host(dop->backward(xd, dy_dev, dev->from_host(g), dp, true)), rdx, 1e-4,
                   "dx after the in-place change");
      // And once more, after backward-data has cached its own reorder.
      Params fourth(s, 999);
      std::copy(fourth.w.data(), fourth.w.data() + fourth.w.numel(), w.data());
      prm.w = fourth.w;
      dp.version = 4;
      const Tensor& ry4 = rop->forward(x, rp, true);
      const Tensor& dy4 = dop->forward(xd, dp, true);
      expect_close(dev->to_host(dy4), ry4, 1e-4, "version 4, training");
      const Tensor& rdx4 = rop->backward(x, ry4, g, rp, true);
      expect_close(dev->to_host(dop->backward(xd, dy4, dev->from_host(g), dp, true)), rdx4, 1e-4,
                   "dx, version 4");
    }
  }
}

// Softmax, cross-entropy and the SGD step.
TEST_P(Ops, LossSoftmaxAndSgdMatchReference) {
  auto ref = make_reference_backend();
  auto dev = GetParam().make();
  Tensor logits = random_tensor({5, 1000}, 601, -8, 8);
  std::vector<int> labels{0, 999, 17, 500, 3};
  Tensor rd, dd;
  float rl = ref->softmax_cross_entropy(logits, labels, &rd);
  float dl = dev->softmax_cross_entropy(dev->from_host(logits), labels, &dd);
  EXPECT_NEAR(dl, rl, 1e-6 * std::abs(rl));
  expect_close(dev->to_host(dd), rd, 1e-6, "dlogits");
  EXPECT_NEAR(dev->softmax_cross_entropy(dev->from_host(logits), labels, nullptr), rl,
              1e-6 * std::abs(rl));
  expect_close(dev->softmax(dev->from_host(logits)), ref->softmax(logits), 1e-6, "softmax");
  EXPECT_THROW(dev->softmax_cross_entropy(dev->from_host(logits), std::vector<int>{0, 1}, &dd),
               Error);
  EXPECT_THROW(
      dev->softmax_cross_entropy(dev->from_host(logits), std::vector<int>{0, 1, 2, 3, 1000}, &dd),
      Error);

  // SGD: the same formula evaluated the same way, so bit-identical.
  for (int64_t n : {int64_t{7}, int64_t{300000}}) {
    Tensor w = random_tensor({n}, 602), g = random_tensor({n}, 603, -10, 10),
           v = random_tensor({n}, 604, -0.1, 0.1);
    Tensor rw = w.clone(), rv = v.clone();
    Tensor dw = dev->from_host(w), dv = dev->from_host(v);
    for (int step = 0; step < 3; ++step) {
      ref->sgd_update(rw, g, rv, 0.01f, 0.9f, 5e-4f);
      dev->sgd_update(dw, dev->from_host(g), dv, 0.01f, 0.9f, 5e-4f);
    }
    expect_equal(dev->to_host(dw), rw, "w after 3 SGD steps");
    expect_equal(dev->to_host(dv), rv, "v after 3 SGD steps");
  }
}

// Mistakes are reported as alexnet::Error naming the layer, never a crash or a oneDNN error.
TEST_P(Ops, BadInputsThrowErrorsNamingTheLayer) {
  auto dev = GetParam().make();
  auto expect_error = [](auto&& fn, const std::string& what) {
    try {
      fn();
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("conv7"), std::string::npos) << what << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": not an alexnet::Error: " << e.what();
    }
  };
  LayerSpec s = conv_spec(4, 8, 3, 1, 1, 1, true);
  s.name = "conv7";
  auto op = dev->make_op(s);
  Params prm(s, 1);
  Tensor w = dev->from_host(prm.w), b = dev->from_host(prm.b);
  OpParams p{&w, &b, nullptr, nullptr, 1, 0};
  Tensor good = dev->from_host(random_tensor({1, 4, 5, 5}, 2));
  Tensor bad = dev->from_host(random_tensor({1, 3, 5, 5}, 3));
  expect_error([&] { op->forward(bad, p, false); }, "wrong channel count");
  Tensor w_bad = dev->from_host(random_tensor({8, 4, 5, 5}, 4));
  OpParams pb{&w_bad, &b, nullptr, nullptr, 1, 0};
  expect_error([&] { op->forward(good, pb, false); }, "wrong weight shape");
  const Tensor& y = op->forward(good, p, true);
  Tensor dy_bad = dev->from_host(random_tensor({1, 8, 4, 4}, 5));
  expect_error([&] { op->backward(good, y, dy_bad, p, true); }, "wrong dy shape");
}

std::string backend_name(const ::testing::TestParamInfo<BackendMaker>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Backends, Ops, ::testing::ValuesIn(fast_backends()), backend_name);

// Where no GPU can run the cuda cases above, say so in the test log instead of silently
// testing less.
TEST(CudaBackend, Available) {
  if (gpu_count() == 0)
    GTEST_SKIP() << "no GPU: the cuda backend's cases did not run (" << gpu_unavailable_reason()
                 << ")";
  std::printf("cuda cases ran on %s\n", gpu_describe(0).c_str());
}

// --- cpu backend specifics ---------------------------------------------------------------

// Two cpu backends with one thread each, on two std::threads at once, give the results a
// single one-thread backend gives alone (bit for bit: same primitives, same split).
TEST(CpuBackend, TwoSingleThreadBackendsConcurrently) {
  Chain ch;
  std::vector<Tensor> xs, gs;
  for (int i = 0; i < 2; ++i) {
    xs.push_back(random_tensor(ch.in, 700 + i));
    gs.push_back(random_tensor({2, 10}, 710 + i));
  }
  std::vector<ChainResult> alone;
  {
    auto be = make_cpu_backend(1);
    for (int i = 0; i < 2; ++i) alone.push_back(run_chain(*be, ch, xs[i], gs[i]));
  }
  std::vector<ChainResult> together(2);
  std::vector<std::string> errors(2);
  std::atomic<int> ready{0};
  auto work = [&](int i) {
    try {
      auto be = make_cpu_backend(1);
      ready++;
      while (ready.load() < 2) std::this_thread::yield();  // start together
      for (int rep = 0; rep < 3; ++rep) together[i] = run_chain(*be, ch, xs[i], gs[i]);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  };
  std::thread t0(work, 0), t1(work, 1);
  t0.join();
  t1.join();
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("thread " + std::to_string(i));
    ASSERT_EQ(errors[i], "");
    expect_equal(together[i].logits, alone[i].logits, "logits");
    expect_equal(together[i].dx, alone[i].dx, "dx");
    for (size_t j = 0; j < alone[i].gw.size(); ++j) {
      if (alone[i].gw[j].empty()) continue;
      expect_equal(together[i].gw[j], alone[i].gw[j], "dW");
      expect_equal(together[i].gb[j], alone[i].gb[j], "db");
    }
  }
}

int count_os_threads() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// oneDNN (OpenMP runtime) honours the per-calling-thread thread count: in a fresh
// std::thread, a 1-thread backend starts no OpenMP workers, a 2-thread one starts one —
// even though this process's main thread created the same primitives with all cores first
// (oneDNN's primitive cache keys on the thread count).
TEST(CpuBackend, ThreadCountIsHonoured) {
  if (!std::filesystem::exists("/proc/self/task")) GTEST_SKIP() << "no /proc/self/task";
  Chain ch;
  Tensor x = random_tensor(ch.in, 801), g = random_tensor({2, 10}, 802);
  {
    auto all = make_cpu_backend(0);
    run_chain(*all, ch, x, g);
  }
  int before = 0, after1 = 0, after2 = 0;
  std::thread t([&] {
    before = count_os_threads();
    auto one = make_cpu_backend(1);
    run_chain(*one, ch, x, g);
    after1 = count_os_threads();
    auto two = make_cpu_backend(2);
    run_chain(*two, ch, x, g);
    after2 = count_os_threads();
  });
  t.join();
  EXPECT_EQ(after1, before) << "a 1-thread backend started OpenMP worker threads";
  EXPECT_EQ(after2, before + 1) << "a 2-thread backend should run one OpenMP worker";
}

// The implementations oneDNN picks for torchvision's convolutions (batch 1 and 32, inference)
// and for one training step at batch 2, printed for the record: none may be oneDNN's
// reference kernel ("ref:"), which is correct but ~20x slower (it takes over when a layout
// or shape has no optimised kernel at this ISA; the backend-ops-avx2 run checks AVX2's).
TEST(CpuBackend, TorchvisionConvsRunOptimisedKernels) {
  auto be = make_cpu_backend(0);
  NetConfig cfg = NetConfig::torchvision();
  for (int64_t batch : {1, 32, 2}) {
    bool training = batch == 2;
    Shape shape{batch, 3, cfg.input_size, cfg.input_size};
    Tensor x = random_tensor(shape, 900);
    for (const LayerSpec& s : build_layers(cfg)) {
      Shape out = s.output_shape(shape);
      if (s.kind == LayerKind::Conv) {
        auto op = be->make_op(s);
        Params prm(s, 901);
        Tensor gw, gb;
        OpParams p{&prm.w, &prm.b, &gw, &gb, 1, 0};
        Tensor in = random_tensor(shape, 902);
        const Tensor& y = op->forward(in, p, training);
        if (training) op->backward(in, y, random_tensor(out, 903), p, true);
        std::string d = cpu::describe_op(*op);
        EXPECT_FALSE(d.empty());
        EXPECT_EQ(d.find("ref:"), std::string::npos) << s.name << " at batch " << batch << ":\n"
                                                     << d;
        std::printf("[batch %lld] %s %s -> %s\n%s", static_cast<long long>(batch), s.name.c_str(),
                    shape_str(shape).c_str(), shape_str(out).c_str(), d.c_str());
      }
      shape = out;
    }
  }
}

}  // namespace
