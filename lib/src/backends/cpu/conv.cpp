// Convolution (+ bias, + fused ReLU) on oneDNN.
//
//   x (N, C, H, W) any layout · w (O, C/g, K, K) plain · b (O) → y (N, O, OH, OW) native
//
// The forward primitive picks its own activation and weight layouts (format_tag::any); on
// AVX2 that is nChw8c activations and OIhw8i8o weights (Ohwi8o for the 3-channel input).
// Grouped weights are the same memory seen as 5-D goihw (g, O/g, C/g, K, K).
// Backward: dpre = relu'(y) ⊙ dy from y itself (relu_use_dst_for_bwd: y > 0 ⇔ pre > 0),
// then backward-data for dx and backward-weights for dW, db.
#include <cstring>
#include <string>
#include <vector>

#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
namespace dn = dnnl;

class ConvOp final : public CpuOp {
 public:
  using CpuOp::CpuOp;

 protected:
  const Tensor& run_forward(const Tensor& x, const OpParams& p, bool training) override;
  const Tensor& run_backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                             bool need_dx) override;

 public:
  std::string describe() const override {
    std::string s;
    for (const auto& f : plans_) {
      s += describe_pd(f->training   ? (f->padded ? "fwd_training(explicit pad)" : "fwd_training")
                       : f->padded   ? "fwd_inference(explicit pad)"
                       : f->winograd ? "fwd_inference(winograd)"
                                     : "fwd_inference",
                       f->pd);
      if (f->bwd) {
        s += describe_pd("bwd_data", f->bwd->data_pd);
        s += describe_pd("bwd_weights", f->bwd->weights.pd());
      }
    }
    return s;
  }

 private:
  struct Bwd {
    // relu'(y) ⊙ dy, in y's layout
    ReluBackward relu;
    Buffer dpre;
    Converter y_conv, dy_conv;
    // dx
    dn::convolution_backward_data::primitive_desc data_pd;
    dn::convolution_backward_data data;
    memory d_ddst, d_wei, d_dsrc;
    Converter d_dy_conv;
    Output dx;
    // dW, db
    WeightGradients weights;
    Converter w_x_conv, w_dy_conv;
  };
  struct Fwd {
    Md x_md;
    bool training = false;
    bool has_bias = true;
    // int8 inference (Int8Layer): the quantisation, the s8 weights and s32 bias it made for
    // weights `version` (a new version makes a new plan).
    bool int8 = false;
    bool unsupported = false;  // int8: oneDNN has only its reference kernel here
    uint64_t version = 0;
    Int8Layer q;
    const void* wq = nullptr;  // in weights_ (shared by the plans of every batch size)
    Buffer bq;
    dn::convolution_forward::primitive_desc pd;  // the one executed
    dn::convolution_forward prim;
    memory src, wei, bias, dst;
    Converter x_conv;
    // Explicit padding (see plan()): x copied into a zero-bordered plain buffer, and a
    // pad-0 convolution. `hint` is always the pd of the problem as specified (unpadded):
    // backward works on x itself and takes its formats from it.
    bool padded = false;
    bool winograd = false;
    Buffer pad_buf;
    Md pad_md;
    dn::convolution_forward::primitive_desc hint;
    Output y;
    std::unique_ptr<Bwd> bwd;
  };

  Fwd& plan(const Md& x_md, const Shape& x_shape, bool training, bool has_bias);
  // The int8 plan for x (null when oneDNN has only its reference kernel for it: f32 then).
  Fwd* int8_plan(const Tensor& x, const OpParams& p);
  bool takes_int8() const override { return true; }
  Bwd& bwd_plan(Fwd& f);
  // (O, C/g, K, K) or, grouped, (g, O/g, C/g, K, K): `any` for primitives, else plain.
  Md weight_md(bool any, Dt dt = f32) const;
  Dims dims_of(const Shape& s) const { return Dims(s.begin(), s.end()); }

  PlanCache<Fwd> plans_;
  WeightCache weights_;
};

Md ConvOp::weight_md(bool any, Dt dt) const {
  const LayerSpec& s = spec_;
  if (s.groups > 1) {
    return Md({s.groups, s.out_channels / s.groups, s.in_channels / s.groups, s.kernel, s.kernel},
              dt, any ? Tag::any : Tag::goihw);
  }
  return Md({s.out_channels, s.in_channels, s.kernel, s.kernel}, dt, any ? Tag::any : Tag::oihw);
}

ConvOp::Fwd& ConvOp::plan(const Md& x_md, const Shape& x_shape, bool training, bool has_bias) {
  if (Fwd* f = plans_.find([&](const Fwd& cached) {
        return !cached.int8 && cached.training == training && cached.has_bias == has_bias &&
               cached.x_md == x_md;
      }))
    return *f;
  const LayerSpec& s = spec_;
  Shape y_shape = s.output_shape(x_shape);
  auto f = std::make_unique<Fwd>();
  f->x_md = x_md;
  f->training = training;
  f->has_bias = has_bias;
  Md bias_md = has_bias ? Md({s.out_channels}, f32, Tag::a) : Md();
  const dn::primitive_attr attr = fused_relu_attr(s.fused_relu);
  // bf16 inference: x, w and y in bf16, f32 accumulation (int8's f32 fallback: f32)
  const Dt dt = ctx_->act_dt(training) == bf16 ? bf16 : f32;
  auto make_pd = [&](const Shape& in, int64_t pad) {
    auto desc = ALEXNET_DNNL(dn::convolution_forward::desc(
        training ? prop_kind::forward_training : prop_kind::forward_inference,
        algorithm::convolution_direct, activation_md(*ctx_, dims_of(in), dt), weight_md(true, dt),
        bias_md, activation_md(*ctx_, dims_of(y_shape), dt), {s.stride, s.stride}, {pad, pad},
        {pad, pad}));
    return ALEXNET_DNNL(dn::convolution_forward::primitive_desc(desc, attr, ctx_->eng));
  };
  auto is_jit = [](const dn::convolution_forward::primitive_desc& pd) {
    std::string impl = pd.impl_info_str();
    return impl.rfind("jit", 0) == 0 || impl.rfind("brg", 0) == 0;
  };
  f->pd = make_pd(x_shape, s.pad);
  f->hint = f->pd;
  // fp32 inference of a 3x3 stride-1 convolution on 8 images or more: Winograd F(4x4, 3x3)
  // where oneDNN has it (avx512_core; elsewhere it refuses and the direct one stays).
  // Measured on the AMX VM, torchvision's conv3-5, ONEDNN_VERBOSE, interleaved A/B: batch 8
  // 15.7-23.8 ms against 24.0-31.2 in 4 of 4 rounds, batch 32 ~1.5x faster; batch 1 slower
  // (1.0-2.9 against 0.8-1.5 ms per layer), so not there.
  if (!training && dt == f32 && s.kernel == 3 && s.stride == 1 && x_shape[0] >= 8) {
    try {
      auto desc = dn::convolution_forward::desc(
          prop_kind::forward_inference, algorithm::convolution_winograd,
          activation_md(*ctx_, dims_of(x_shape), dt), weight_md(true, dt), bias_md,
          activation_md(*ctx_, dims_of(y_shape), dt), {s.stride, s.stride}, {s.pad, s.pad},
          {s.pad, s.pad});
      f->pd = dn::convolution_forward::primitive_desc(desc, attr, ctx_->eng);
      f->winograd = true;
    } catch (const dnnl::error&) {  // not implemented here: the direct convolution
    }
  }
  // oneDNN 2.6's AVX2 direct convolution refuses a 3-channel input with padding (as
  // torchvision's conv1: 11×11, stride 4, pad 2) and falls back to im2col + gemm with a plain
  // output, which is about twice as slow and leaves the following pooling on plain NCHW
  // (10× slower). The same convolution on an explicitly zero-padded copy of x, with pad 0,
  // takes the jit kernel and its blocked output; the copy costs a few hundred µs.
  if (!f->winograd && s.pad > 0 && !is_jit(f->pd) && x_md == plain_md(x_shape)) {
    Shape padded{x_shape[0], x_shape[1], x_shape[2] + 2 * s.pad, x_shape[3] + 2 * s.pad};
    auto pd = make_pd(padded, 0);
    if (is_jit(pd)) {
      f->pd = pd;
      f->padded = true;
      f->pad_md = plain_md(padded);
      f->pad_buf.ensure(f->pad_md.get_size());  // zeroed: the border stays zero
    }
  }
  f->prim = ALEXNET_DNNL(dn::convolution_forward(f->pd));
  f->src = empty_memory(*ctx_, f->pd.src_desc());
  f->wei = empty_memory(*ctx_, f->pd.weights_desc());
  if (has_bias) f->bias = empty_memory(*ctx_, bias_md);
  f->dst = empty_memory(*ctx_, f->pd.dst_desc());
  f->y.bind(f->pd.dst_desc(), y_shape);
  return plans_.add(std::move(f));
}

ConvOp::Fwd* ConvOp::int8_plan(const Tensor& x, const OpParams& p) {
  check_int8_range(p);
  const Md x_md = tensor_md(x);
  if (auto [found, f] = find_int8_plan(plans_, x_md, tensor_scale(x), p); found) return f;
  const LayerSpec& s = spec_;
  const Shape y_shape = s.output_shape(x.shape());
  auto f = std::make_unique<Fwd>();
  f->x_md = x_md;
  f->int8 = true;
  f->version = p.version;
  f->has_bias = p.bias != nullptr;
  const int64_t out = s.out_channels;
  f->q.init(*p.range, x, p.weight->data(), out, p.weight->numel() / out,
            p.bias ? p.bias->data() : nullptr, s.fused_relu);
  Md bias_md = f->has_bias ? Md({out}, s32, Tag::a) : Md();
  auto desc = ALEXNET_DNNL(dn::convolution_forward::desc(
      prop_kind::forward_inference, algorithm::convolution_direct,
      activation_md(*ctx_, dims_of(x.shape()), f->q.src_dt), weight_md(true, s8), bias_md,
      activation_md(*ctx_, dims_of(y_shape), f->q.dst_dt), {s.stride, s.stride}, {s.pad, s.pad},
      {s.pad, s.pad}));
  f->pd = ALEXNET_DNNL(
      dn::convolution_forward::primitive_desc(desc, f->q.attr(s.fused_relu), ctx_->eng));
  if (std::string(f->pd.impl_info_str()).rfind("ref", 0) == 0) {
    f->unsupported = true;  // remembered: the f32 fallback, without asking oneDNN again
    plans_.add(std::move(f));
    return nullptr;
  }
  f->hint = f->pd;
  f->prim = ALEXNET_DNNL(dn::convolution_forward(f->pd));
  f->src = empty_memory(*ctx_, f->pd.src_desc());
  f->wei = empty_memory(*ctx_, f->pd.weights_desc());
  if (f->has_bias) f->bias = empty_memory(*ctx_, bias_md);
  f->dst = empty_memory(*ctx_, f->pd.dst_desc());
  f->y.bind(f->pd.dst_desc(), y_shape, f->q.sy);
  f->wq = weights_.get_s8(*ctx_, weight_md(false), p.weight->data(), f->pd.weights_desc(),
                          s.groups > 1 ? 3 : 1, f->q.sw, p.version);
  std::memcpy(f->bq.ensure(f->q.bias.size() * sizeof(int32_t)), f->q.bias.data(),
              f->q.bias.size() * sizeof(int32_t));
  return &plans_.add(std::move(f));
}

const Tensor& ConvOp::run_forward(const Tensor& x, const OpParams& p, bool training) {
  if (!p.weight) throw Error("no weight given");
  Shape ws = spec_.weight_shape();
  expect_shape(*p.weight, ws, "weight");
  if (p.bias) expect_shape(*p.bias, spec_.bias_shape(), "bias");
  Md x_md = tensor_md(x);
  if (!training && ctx_->inference == s8) {
    if (Fwd* q = int8_plan(x, p)) {
      // x into the primitive's src: quantised (f32 x) or re-laid out (int8 x, same scale)
      const float* src = q->x_conv.to(*ctx_, x_md, x.data(), q->pd.src_desc(),
                                      tensor_scale(x) > 0 ? 1.f : q->q.sx);
      return run_int8(*ctx_, *q, src);
    }
    // no optimised int8 kernel for this layer here: f32 (an int8 x is dequantised first)
    if (tensor_scale(x) > 0) return run_forward(to_f32(x), p, training);
  }
  Fwd& f = plan(x_md, x.shape(), training, p.bias != nullptr);
  const float* src;
  if (f.padded) {
    // Rows of x (plain) into the interior of the zero-bordered buffer.
    const int64_t rows = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), pad = spec_.pad;
    const int64_t pw = w + 2 * pad, ph = h + 2 * pad;
    float* dst = f.pad_buf.data();
    const float* xs = x.data();
#pragma omp parallel for num_threads(ctx_->threads) schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < h; ++i)
        std::memcpy(dst + (r * ph + i + pad) * pw + pad, xs + (r * h + i) * w,
                    sizeof(float) * static_cast<size_t>(w));
    src = f.x_conv.to(*ctx_, f.pad_md, dst, f.pd.src_desc());
  } else {
    src = f.x_conv.to(*ctx_, x_md, x.data(), f.pd.src_desc());
  }
  const float* wei =
      weights_.get(*ctx_, weight_md(false), p.weight->data(), f.pd.weights_desc(), p.version);
  execute(*ctx_, f.prim,
          {{DNNL_ARG_SRC, &bind(f.src, src)},
           {DNNL_ARG_WEIGHTS, &bind(f.wei, wei)},
           {DNNL_ARG_BIAS, bind_optional(f.bias, p.bias ? p.bias->data() : nullptr)},
           {DNNL_ARG_DST, &bind(f.dst, f.y.data())}});
  return f.y.tensor;
}

ConvOp::Bwd& ConvOp::bwd_plan(Fwd& f) {
  if (f.bwd) return *f.bwd;
  const LayerSpec& s = spec_;
  auto b = std::make_unique<Bwd>();
  Md y_md = f.pd.dst_desc();
  if (s.fused_relu) {
    b->relu.init(*ctx_, y_md);
    b->dpre.ensure(b->relu.dx_md().get_size());
  }
  Md x_any = activation_md(*ctx_, f.hint.src_desc().dims());  // x's dims, even when padded
  Md y_any = activation_md(*ctx_, y_md.dims());
  Dims strides{s.stride, s.stride}, pad{s.pad, s.pad};

  b->data_pd = ALEXNET_DNNL(dn::convolution_backward_data::primitive_desc(
      dn::convolution_backward_data::desc(algorithm::convolution_direct, x_any, weight_md(true),
                                          y_any, strides, pad, pad),
      user_scratchpad(), ctx_->eng, f.hint));
  b->data = ALEXNET_DNNL(dn::convolution_backward_data(b->data_pd));
  b->d_ddst = empty_memory(*ctx_, b->data_pd.diff_dst_desc());
  b->d_wei = empty_memory(*ctx_, b->data_pd.weights_desc());
  b->d_dsrc = empty_memory(*ctx_, b->data_pd.diff_src_desc());

  // Always with a bias gradient (into scratch when the caller has no grad_bias).
  b->weights.init(*ctx_,
                  ALEXNET_DNNL(dn::convolution_backward_weights::primitive_desc(
                      dn::convolution_backward_weights::desc(
                          algorithm::convolution_direct, x_any, weight_md(true),
                          Md({s.out_channels}, f32, Tag::a), y_any, strides, pad, pad),
                      user_scratchpad(), ctx_->eng, f.hint)),
                  s.out_channels);
  f.bwd = std::move(b);
  return *f.bwd;
}

const Tensor& ConvOp::run_backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                                   const OpParams& p, bool need_dx) {
  if (!p.weight) throw Error("no weight given");
  expect_shape(*p.weight, spec_.weight_shape(), "weight");
  Shape y_shape = spec_.output_shape(x.shape());
  expect_shape(y, y_shape, "y");
  expect_shape(dy, y_shape, "dy");
  Md x_md = tensor_md(x);
  Fwd& f = plan(x_md, x.shape(), true, p.bias != nullptr);
  Bwd& b = bwd_plan(f);
  const Context& c = *ctx_;

  // dpre = dL/d(conv output before the ReLU), in the layout of y.
  Md y_md = tensor_md(y);
  const float* dpre;
  Md dpre_md;
  if (spec_.fused_relu) {
    Md want = f.pd.dst_desc();
    const float* yv = b.y_conv.to(c, y_md, y.data(), want);  // normally y is `want` already
    const float* dyv = b.dy_conv.to(c, tensor_md(dy), dy.data(), want);
    b.relu.run(c, yv, dyv, b.dpre.data());
    dpre = b.dpre.data();
    dpre_md = want;
  } else {
    dpre = dy.data();
    dpre_md = tensor_md(dy);
  }

  // dW, db (skipped when neither is wanted, as for frozen layers)
  if (p.grad_weight || p.grad_bias) {
    const float* src = b.w_x_conv.to(c, x_md, x.data(), b.weights.pd().src_desc());
    const float* ddst = b.w_dy_conv.to(c, dpre_md, dpre, b.weights.pd().diff_dst_desc());
    float* gw = grad_target(p.grad_weight, spec_.weight_shape(), "grad_weight");
    float* gb = grad_target(p.grad_bias, spec_.bias_shape(), "grad_bias");
    b.weights.run(c, src, ddst, weight_md(false), gw, gb);
  }

  if (!need_dx) return empty_;
  const float* ddst = b.d_dy_conv.to(c, dpre_md, dpre, b.data_pd.diff_dst_desc());
  const float* wei =
      weights_.get(c, weight_md(false), p.weight->data(), b.data_pd.weights_desc(), p.version);
  b.dx.bind(b.data_pd.diff_src_desc(), x.shape());
  execute(c, b.data,
          {{DNNL_ARG_DIFF_DST, &bind(b.d_ddst, ddst)},
           {DNNL_ARG_WEIGHTS, &bind(b.d_wei, wei)},
           {DNNL_ARG_DIFF_SRC, &bind(b.d_dsrc, b.dx.data())}});
  return b.dx.tensor;
}

}  // namespace

std::unique_ptr<Op> make_conv_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<ConvOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
