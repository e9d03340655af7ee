// The reference backend's ops: plain loops over plain host tensors, one file per layer.
//
// They are the oracle the fast backends are tested against, so they favour clarity and
// accuracy (double accumulators) over speed. Every op checks its inputs and throws
// alexnet::Error naming the layer and the problem.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "alexnet/error.h"
#include "alexnet/tensor.h"
#include "backends/op_common.h"

namespace alexnet::reference {

std::unique_ptr<Op> make_conv(const LayerSpec& spec);
std::unique_ptr<Op> make_relu(const LayerSpec& spec);
std::unique_ptr<Op> make_lrn(const LayerSpec& spec);
std::unique_ptr<Op> make_maxpool(const LayerSpec& spec);
std::unique_ptr<Op> make_adaptive_avgpool(const LayerSpec& spec);
std::unique_ptr<Op> make_linear(const LayerSpec& spec);
std::unique_ptr<Op> make_dropout(const LayerSpec& spec);

float softmax_cross_entropy(const Tensor& logits, std::span<const int> labels, Tensor* dlogits);
Tensor softmax(const Tensor& logits);
void sgd_update(Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                float weight_decay);

// --- helpers shared by the ops -------------------------------------------------------------
// `who` starts each error message: "layer conv1", "sgd_update", "reference to_host".

// The reference backend reads only plain host tensors; anything else is a caller's mistake.
inline void require_plain_host(const Tensor& t, const std::string& who, const char* what) {
  if (t.empty()) throw Error(who + ": " + what + " is empty");
  if (t.device() != DeviceKind::Cpu)
    throw Error(who + ": " + what + " is on a GPU; the reference backend needs host");
  if (!t.is_plain())
    throw Error(who + ": " + what +
                " is in a backend layout; the reference backend needs the plain layout");
}

inline void require_shape(const Tensor& t, const Shape& want, const std::string& who,
                          const char* what) {
  if (t.shape() != want)
    throw Error(who + ": " + what + " has shape " + shape_str(t.shape()) + ", expected " +
                shape_str(want));
}

// A parameter tensor (weight, bias) must exist, be plain host, and have its spec's shape.
inline const Tensor& require_param(const Tensor* t, const Shape& want, const std::string& who,
                                   const char* what) {
  if (t == nullptr) throw Error(who + ": missing " + what);
  require_plain_host(*t, who, what);
  require_shape(*t, want, who, what);
  return *t;
}

// Where backward writes a gradient: null means "not wanted", an empty tensor is allocated,
// anything else must already have the parameter's shape.
inline float* grad_target(Tensor* g, const Shape& want, const std::string& who, const char* what) {
  if (g == nullptr) return nullptr;
  if (g->empty()) *g = Tensor(want);
  require_plain_host(*g, who, what);
  require_shape(*g, want, who, what);
  return g->data();
}

// The op-owned output buffer: reused when the shape is unchanged (callers were told the
// previous result is valid only until the next call), reallocated otherwise. The contents
// are not cleared; every op writes all elements.
inline Tensor& reuse(Tensor& t, const Shape& shape) {
  if (t.empty() || t.shape() != shape) t = Tensor(shape);
  return t;
}

// backward's common checks: dy must have the shape forward produced for x.
inline void require_backward_shapes(const LayerSpec& spec, const Tensor& x, const Tensor& dy) {
  const std::string who = "layer " + spec.name;
  require_plain_host(x, who, "input x");
  require_plain_host(dy, who, "gradient dy");
  Shape out = spec.output_shape(x.shape());
  require_shape(dy, out, who, "gradient dy");
}

// Double accumulators rounded once each into floats (out has acc.size() elements).
inline void round_into(const std::vector<double>& acc, float* out) {
  for (size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<float>(acc[i]);
}

// What every reference op keeps: its spec, the start of its error messages ("layer conv1"),
// and its output and input-gradient buffers (reused while the shape stays).
class RefOp : public Op {
 protected:
  explicit RefOp(const LayerSpec& spec) : spec_(spec) { check_layer_spec(spec); }
  LayerSpec spec_;
  std::string who_ = "layer " + spec_.name;
  Tensor y_, dx_;

  // The start of a backward without parameters: checks x and dy; false, with dx_ emptied,
  // when the caller wants no dx (then there is nothing to compute).
  bool dx_wanted(const Tensor& x, const Tensor& dy, bool need_dx) {
    require_backward_shapes(spec_, x, dy);
    if (!need_dx) dx_ = Tensor();
    return need_dx;
  }

  // backward's answer when the caller wants no dx.
  const Tensor& no_dx() {
    dx_ = Tensor();
    return dx_;
  }

  // dx_ (of x's shape) from double accumulators, rounded once per element.
  const Tensor& dx_from(const std::vector<double>& dx, const Shape& x_shape) {
    round_into(dx, reuse(dx_, x_shape).data());
    return dx_;
  }

  // The parameters of a conv or fc layer (the weight, and the bias forward adds), checked.
  const float* weight(const OpParams& p) const {
    return require_param(p.weight, spec_.weight_shape(), who_, "weight").data();
  }
  const float* bias(const OpParams& p) const {
    return require_param(p.bias, spec_.bias_shape(), who_, "bias").data();
  }

  // The start of a conv or fc backward: checks x, dy and, when the ReLU is fused (backward
  // then reads y), y; returns the weight.
  const float* checked_backward_weight(const Tensor& x, const Tensor& y, const Tensor& dy,
                                       const OpParams& p) const {
    require_backward_shapes(spec_, x, dy);
    const float* w = weight(p);
    if (spec_.fused_relu) {
      require_plain_host(y, who_, "output y");
      require_shape(y, dy.shape(), who_, "output y");
    }
    return w;
  }

  // The gradient outputs of a conv or fc backward: null where the caller wants none.
  float* grad_weight(const OpParams& p) const {
    return grad_target(p.grad_weight, spec_.weight_shape(), who_, "grad_weight");
  }
  float* grad_bias(const OpParams& p) const {
    return grad_target(p.grad_bias, spec_.bias_shape(), who_, "grad_bias");
  }
};

}  // namespace alexnet::reference
