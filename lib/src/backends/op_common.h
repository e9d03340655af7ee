// What the backends' ops agree on, written once: the backends never include each other, so
// the pieces they share live here, above their folders. Plain C++ only (no fast path): the
// reference backend includes it too.
//
// - OpFactories: the table a backend's make_op picks the op for a LayerKind from;
// - check_layer_spec: the spec checks an op makes before it is built, with one wording;
// - for_each_adaptive_window: PyTorch's adaptive average pooling windows, and the window sums;
// - softmax_row: one row of softmax in double, as the loss and softmax of the host backends.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/error.h"

namespace alexnet {

// One factory per LayerKind, in LayerKind's order (a backend lists its seven in one braced
// list); `Context` is what a backend's factories take before the spec (its shared context, or
// nothing).
template <class... Context>
struct OpFactories {
  using Make = std::unique_ptr<Op> (*)(Context..., const LayerSpec&);
  Make conv, relu, lrn, maxpool, adaptive_avgpool, linear, dropout;

  // The op for spec.kind; null for a kind outside the table (the caller says whose).
  std::unique_ptr<Op> make(const LayerSpec& spec, Context... ctx) const {
    switch (spec.kind) {
      case LayerKind::Conv:
        return conv(ctx..., spec);
      case LayerKind::Relu:
        return relu(ctx..., spec);
      case LayerKind::Lrn:
        return lrn(ctx..., spec);
      case LayerKind::MaxPool:
        return maxpool(ctx..., spec);
      case LayerKind::AdaptiveAvgPool:
        return adaptive_avgpool(ctx..., spec);
      case LayerKind::Linear:
        return linear(ctx..., spec);
      case LayerKind::Dropout:
        return dropout(ctx..., spec);
    }
    return nullptr;
  }
};

// Throws, naming the layer, when spec describes no computable layer of its kind: the checks
// the reference and cuda ops make on construction (LRN's ranges differ between them and stay
// with the ops).
inline void check_layer_spec(const LayerSpec& spec) {
  const std::string who = "layer " + spec.name;
  switch (spec.kind) {
    case LayerKind::Conv:
      if (spec.in_channels < 1 || spec.out_channels < 1)
        throw Error(who + ": channel counts must be positive");
      if (spec.kernel < 1 || spec.stride < 1 || spec.pad < 0)
        throw Error(who + ": kernel and stride must be >= 1 and pad >= 0");
      if (spec.groups < 1 || spec.in_channels % spec.groups || spec.out_channels % spec.groups)
        throw Error(who + ": groups (" + std::to_string(spec.groups) +
                    ") must divide the input and output channels");
      return;
    case LayerKind::Linear:
      if (spec.in_channels < 1 || spec.out_channels < 1)
        throw Error(who + ": feature counts must be positive");
      return;
    case LayerKind::MaxPool:
      if (spec.kernel < 1 || spec.stride < 1)
        throw Error(who + ": pooling kernel and stride must be >= 1");
      return;
    case LayerKind::AdaptiveAvgPool:
      if (spec.out_size < 1) throw Error(who + ": adaptive pooling output size must be >= 1");
      return;
    case LayerKind::Dropout:
      if (!(spec.drop_p >= 0 && spec.drop_p < 1))
        throw Error(who + ": dropout probability must be in [0, 1)");
      return;
    case LayerKind::Relu:
    case LayerKind::Lrn:
      return;
  }
}

// Adaptive average pooling, PyTorch's windows: output cell i of `out` averages the input
// cells [start, end) of a side of `in`; windows overlap when out does not divide in.
inline int64_t adaptive_pool_start(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
inline int64_t adaptive_pool_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The input cells one pooled cell covers: rows [y0, y1), columns [x0, x1).
struct PoolWindow {
  int64_t y0, y1, x0, x1;
  int64_t size() const { return (y1 - y0) * (x1 - x0); }
};

// Calls f(cell, window) for every cell of one (h, w) plane pooled to (s, s); cell is the
// row-major index oy * s + ox.
template <class F>
void for_each_adaptive_window(int64_t h, int64_t w, int64_t s, F f) {
  for (int64_t oy = 0; oy < s; ++oy)
    for (int64_t ox = 0; ox < s; ++ox)
      f(oy * s + ox, PoolWindow{adaptive_pool_start(oy, h, s), adaptive_pool_end(oy, h, s),
                                adaptive_pool_start(ox, w, s), adaptive_pool_end(ox, w, s)});
}

// The sum of a window of a row-major plane `w` wide, accumulated in Acc row by row.
template <class Acc>
Acc window_sum(const float* plane, int64_t w, const PoolWindow& win) {
  Acc sum = 0;
  for (int64_t iy = win.y0; iy < win.y1; ++iy)
    for (int64_t ix = win.x0; ix < win.x1; ++ix) sum += plane[iy * w + ix];
  return sum;
}

// Adds v to every element of a window of a row-major plane `w` wide (a pooled gradient).
template <class T>
void add_to_window(T* plane, int64_t w, const PoolWindow& win, T v) {
  for (int64_t iy = win.y0; iy < win.y1; ++iy)
    for (int64_t ix = win.x0; ix < win.x1; ++ix) plane[iy * w + ix] += v;
}

// One row of k logits: p = softmax(z), and returns log Σ exp(z) (the log-partition). In
// double, shifted by the row's maximum so that exp never overflows.
inline double softmax_row(const float* z, double* p, int64_t k) {
  double m = z[0];
  for (int64_t j = 1; j < k; ++j) m = z[j] > m ? z[j] : m;
  double sum = 0;
  for (int64_t j = 0; j < k; ++j) {
    p[j] = std::exp(double(z[j]) - m);  // <= 1: no overflow
    sum += p[j];
  }
  for (int64_t j = 0; j < k; ++j) p[j] /= sum;
  return m + std::log(sum);
}

}  // namespace alexnet
