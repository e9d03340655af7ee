// Helpers for the reference-backend tests: seeded random tensors, layer specs, and the
// finite-difference gradient check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/network.h"
#include "alexnet/tensor.h"

namespace testutil {

using alexnet::LayerKind;
using alexnet::LayerSpec;
using alexnet::Op;
using alexnet::OpParams;
using alexnet::Shape;
using alexnet::Tensor;

// Uniform in [lo, hi) from the raw mt19937_64 stream (whose output the standard fixes, unlike
// std::uniform_real_distribution's), so the cases are the same with every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(gen_() >> 11) * (1.0 / 9007199254740992.0);
  }
  uint64_t next() { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

// Largest |t|, and largest |a - b| (a failure when the shapes differ): plain host tensors.
inline float max_abs(const Tensor& t) {
  float m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.data()[i]));
  return m;
}
inline float max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  float m = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
    m = std::max(m, std::fabs(a.data()[i] - b.data()[i]));
  return m;
}

// A network input (n, C, S, S) of N(0, 1) values for `cfg`, seeded (whole-network tests).
inline Tensor random_input(const alexnet::NetConfig& cfg, int64_t n, uint64_t seed) {
  Tensor x({n, cfg.in_channels, cfg.input_size, cfg.input_size});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = d(rng);
  return x;
}

inline Tensor random_tensor(const Shape& shape, Rng& rng, double lo = -1, double hi = 1) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(rng.uniform(lo, hi));
  return t;
}

inline Tensor make_tensor(const Shape& shape, const std::vector<float>& values) {
  Tensor t(shape);
  EXPECT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.numel()); ++i)
    t.data()[i] = values[i];
  return t;
}

inline std::vector<float> values(const Tensor& t) {
  return std::vector<float>(t.data(), t.data() + t.numel());
}

// A spec of `kind` named `name`, every other field at its default.
inline LayerSpec simple_spec(LayerKind kind, const char* name) {
  LayerSpec s;
  s.kind = kind;
  s.name = name;
  return s;
}

inline LayerSpec conv_spec(int in, int out, int kernel, int stride, int pad, int groups,
                           bool relu) {
  LayerSpec s = simple_spec(LayerKind::Conv, "conv_test");
  s.in_channels = in;
  s.out_channels = out;
  s.kernel = kernel;
  s.stride = stride;
  s.pad = pad;
  s.groups = groups;
  s.fused_relu = relu;
  return s;
}

inline LayerSpec linear_spec(int in, int out, bool relu) {
  LayerSpec s = simple_spec(LayerKind::Linear, "fc_test");
  s.in_channels = in;
  s.out_channels = out;
  s.fused_relu = relu;
  return s;
}

inline LayerSpec lrn_spec(int size, double alpha, double beta, double k) {
  LayerSpec s = simple_spec(LayerKind::Lrn, "lrn_test");
  s.lrn_size = size;
  s.lrn_alpha = alpha;
  s.lrn_beta = beta;
  s.lrn_k = k;
  return s;
}

inline LayerSpec pool_spec(int kernel, int stride) {
  LayerSpec s = simple_spec(LayerKind::MaxPool, "pool_test");
  s.kernel = kernel;
  s.stride = stride;
  return s;
}

inline LayerSpec avgpool_spec(int out_size) {
  LayerSpec s = simple_spec(LayerKind::AdaptiveAvgPool, "avgpool_test");
  s.out_size = out_size;
  return s;
}

// One op with its input and (for conv/linear) parameters and gradient buffers.
struct OpCase {
  LayerSpec spec;
  std::unique_ptr<Op> op;
  Tensor x, w, b, gw, gb;
  uint64_t seed = 0;

  OpParams params() {
    OpParams p;
    if (spec.has_params()) {
      p.weight = &w;
      p.bias = &b;
      p.grad_weight = &gw;
      p.grad_bias = &gb;
    }
    p.seed = seed;
    return p;
  }
};

// L = sum_i y_i * r_i of a training forward, accumulated in double.
inline double weighted_loss(OpCase& c, const Tensor& r) {
  const Tensor& y = c.op->forward(c.x, c.params(), /*training=*/true);
  EXPECT_EQ(y.shape(), r.shape());
  double sum = 0;
  for (int64_t i = 0; i < y.numel(); ++i) sum += double(y.data()[i]) * r.data()[i];
  return sum;
}

// Central differences dL/dt_i for every element of t (x, w or b of the case). The step is
// taken in float and the true step (t+ - t-) is what we divide by, so float rounding of the
// perturbed value does not bias the quotient.
template <class LossFn>
std::vector<double> numeric_grad(Tensor& t, double eps, LossFn loss) {
  std::vector<double> g(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    float orig = t.data()[i];
    float plus = static_cast<float>(orig + eps), minus = static_cast<float>(orig - eps);
    t.data()[i] = plus;
    double lp = loss();
    t.data()[i] = minus;
    double lm = loss();
    t.data()[i] = orig;
    g[static_cast<size_t>(i)] = (lp - lm) / (double(plus) - double(minus));
  }
  return g;
}

struct GradDiff {
  double max_err = 0;  // max_i |num_i - ana_i|
  double max_ana = 0;  // max_i |ana_i|: the scale the error is judged against
};

inline GradDiff compare(const std::vector<double>& num, const Tensor& ana) {
  GradDiff d;
  EXPECT_EQ(static_cast<int64_t>(num.size()), ana.numel());
  for (size_t i = 0; i < num.size() && i < static_cast<size_t>(ana.numel()); ++i) {
    d.max_err = std::max(d.max_err, std::abs(num[i] - ana.data()[i]));
    d.max_ana = std::max(d.max_ana, double(std::abs(ana.data()[i])));
  }
  return d;
}

// Labels for a batch of n in a training step: (3i + step) mod classes, every class seen.
inline std::vector<int> labels_for(int64_t n, int classes, int step) {
  std::vector<int> l;
  for (int64_t i = 0; i < n; ++i) l.push_back(int((i * 3 + step) % classes));
  return l;
}

// max|a - b| / max|b| over two host tensors of one shape (plain max|a - b| when b is all
// zero); a NaN difference gives infinity, and a shape mismatch fails the test.
inline double rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return INFINITY;
  double m = 0, s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(double(a.data()[i]) - double(b.data()[i]));
    if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
    s = std::max(s, double(std::fabs(b.data()[i])));
  }
  return s > 0 ? m / s : m;
}

// The host copy of the gradient of net's parameter `name` (a test failure when there is none).
inline Tensor grad_of(alexnet::Network& net, const std::string& name) {
  for (alexnet::Param& p : net.params())
    if (p.name == name) return net.backend().to_host(p.grad);
  ADD_FAILURE() << "no parameter " << name;
  return Tensor({1});
}

}  // namespace testutil
