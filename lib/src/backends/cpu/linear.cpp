// Fully connected (+ bias, + fused ReLU) on oneDNN's inner product.
//
//   x (N, C, H, W) any layout, or (N, I) · w (O, I) plain · b (O) → y (N, O) plain
//
// A 4-D input keeps its (blocked) layout: the weights are seen as 4-D (O, C, H, W) — the
// same memory as (O, I), since I = C·H·W row-major — and reordered once into the layout
// matching x's (e.g. oIhw8i for nChw8c), so pool5's output feeds fc6 without a reorder.
// The logits (and every fc output) are plain (N, O).
#include <cstring>
#include <vector>

#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

// How good an inner-product implementation is (lower wins; the first of equals is kept, but
// the last when all are oneDNN's reference kernel, the last resort: plain 2-D). With
// `prefer_brgemm` (int8 at batch >= 2) the brgemm kernels beat x64:gemm, which fc6 gets on its 4-D
// blocked input: measured on the AMX VM (ONEDNN_VERBOSE, batch 8), fc6 int8 took 6.7 ms there;
// whole forwards, A/B interleaved, 3 rounds: batch 8 6-13 ms against 10-16, batch 32 21 against
// 36-48. At batch 1, and for fp32 and bf16, the same A/B showed no gain (batch 1 int8 lost: 3.3
// against 2.5 ms).
int impl_rank(const char* impl, bool prefer_brgemm) {
  if (std::strncmp(impl, "ref", 3) == 0) return 2;
  if (prefer_brgemm && std::strncmp(impl, "brg", 3) != 0) return 1;
  return 0;
}

using dnnl::prop_kind;
namespace dn = dnnl;

class LinearOp final : public CpuOp {
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
      s += describe_pd(f->training ? "fwd_training" : "fwd_inference", f->pd);
      if (f->bwd) {
        s += describe_pd("bwd_data", f->bwd->data_pd);
        s += describe_pd("bwd_weights", f->bwd->weights.pd());
      }
    }
    return s;
  }

 private:
  struct Bwd {
    ReluBackward relu;  // relu'(y) ⊙ dy from y (y > 0 ⇔ pre-activation > 0)
    Buffer dpre;
    dn::inner_product_backward_data::primitive_desc data_pd;
    dn::inner_product_backward_data data;
    memory d_ddst, d_wei, d_dsrc;
    Output dx;
    WeightGradients weights;
    Converter w_x_conv;
  };
  struct Fwd {
    Md x_md;  // the key: the caller's layout
    bool training = false;
    bool has_bias = true;
    Md src_md;  // what the primitive reads (x_md, or its plain version)
    Md user_w;  // plain weights seen with src's rank: (O, C, H, W) or (O, I)
    dn::inner_product_forward::primitive_desc pd;
    dn::inner_product_forward prim;
    memory src, wei, bias, dst;
    Converter x_conv, y_conv, dy_conv;
    Output y;
    std::unique_ptr<Bwd> bwd;
    // int8 inference (Int8Layer, as conv.cpp): for weights `version`
    bool int8 = false;
    bool unsupported = false;  // oneDNN has only its reference kernel here
    uint64_t version = 0;
    Int8Layer q;
    const void* wq = nullptr;  // in weights_ (shared by the plans of every batch size)
    Buffer bq;
  };

  Fwd& plan(const Md& x_md, const Shape& x_shape, bool training, bool has_bias);
  Fwd* int8_plan(const Tensor& x, const OpParams& p);  // null: no optimised kernel (f32 then)
  bool takes_int8() const override { return true; }
  Bwd& bwd_plan(Fwd& f);

  PlanCache<Fwd> plans_;
  WeightCache weights_;
};

LinearOp::Fwd& LinearOp::plan(const Md& x_md, const Shape& x_shape, bool training, bool has_bias) {
  if (Fwd* f = plans_.find([&](const Fwd& cached) {
        return !cached.int8 && cached.training == training && cached.has_bias == has_bias &&
               cached.x_md == x_md;
      }))
    return *f;
  const int64_t n = x_shape[0], o = spec_.out_channels, i = spec_.in_channels;
  auto f = std::make_unique<Fwd>();
  f->x_md = x_md;
  f->training = training;
  f->has_bias = has_bias;
  // Candidates for src: x's own layout (4-D or 2-D), then plain 2-D (N, I). The best
  // implementation wins (impl_rank; the first of equals); a layout with padding lanes
  // (channels not a multiple of the block) is not dense and goes straight to plain.
  // Inference takes plain 2-D only (x re-laid out: 9216 values an image for fc6), except bf16
  // at batch 1: on x's 4-D layout the weights' layout followed pool5's, which differs by
  // batch size, so an instance seeing batches 1-8 kept fc6's 151 MB of fp32 weights three
  // times (1182 MB resident, against 890 plain); and plain was as fast or faster. Measured on
  // the AMX VM, torchvision, 2 threads, ms: fp32 b1 17.5-17.7 either way, b8 57-58 plain
  // against 66-68, b32 186-197 against 217-235; bf16 b8 28 against 33, b1 10.5-11.8 plain
  // against 7.9-9.4 (hence the exception).
  // bf16 inference: src and weights in bf16 (x converted when it comes in f32), f32 out.
  const Dt dt = ctx_->act_dt(training) == bf16 ? bf16 : f32;  // int8's fallback: f32
  std::vector<Md> candidates;
  bool dense = x_md.get_size() ==
               static_cast<size_t>(shape_numel(x_shape)) * memory::data_type_size(x_md.data_type());
  if ((x_shape.size() == 4 || x_shape.size() == 2) && dense && x_md.data_type() == dt &&
      (training || (dt == bf16 && n == 1)))
    candidates.push_back(x_md);
  candidates.push_back(Md({n, i}, dt, Tag::nc));
  Md bias_md = has_bias ? Md({o}, f32, Tag::a) : Md();
  const dn::primitive_attr attr = fused_relu_attr(spec_.fused_relu);
  int best = 99;
  for (const Md& src : candidates) {
    Dims sd = src.dims();
    Dims wd = sd;
    wd[0] = o;
    auto desc = ALEXNET_DNNL(dn::inner_product_forward::desc(
        training ? prop_kind::forward_training : prop_kind::forward_inference, src,
        Md(wd, dt, Tag::any), bias_md, Md({n, o}, f32, Tag::nc)));
    auto pd = ALEXNET_DNNL(dn::inner_product_forward::primitive_desc(desc, attr, ctx_->eng));
    const int r = impl_rank(pd.impl_info_str(), false);
    if (r > best || (r == best && r != 2)) continue;  // all reference: the plain one
    best = r;
    f->pd = pd;
    f->src_md = src;
    f->user_w = Md(wd, f32, sd.size() == 4 ? Tag::oihw : Tag::oi);
  }
  f->prim = ALEXNET_DNNL(dn::inner_product_forward(f->pd));
  f->src = empty_memory(*ctx_, f->src_md);
  f->wei = empty_memory(*ctx_, f->pd.weights_desc());
  if (has_bias) f->bias = empty_memory(*ctx_, bias_md);
  f->dst = empty_memory(*ctx_, f->pd.dst_desc());
  f->y.bind(f->pd.dst_desc(), {n, o});
  return plans_.add(std::move(f));
}

LinearOp::Fwd* LinearOp::int8_plan(const Tensor& x, const OpParams& p) {
  check_int8_range(p);
  const Md x_md = tensor_md(x);
  const float x_scale = tensor_scale(x);
  if (auto [found, f] = find_int8_plan(plans_, x_md, x_scale, p); found) return f;
  const int64_t n = x.dim(0), o = spec_.out_channels, in = spec_.in_channels;
  auto f = std::make_unique<Fwd>();
  f->x_md = x_md;
  f->int8 = true;
  f->version = p.version;
  f->has_bias = p.bias != nullptr;
  f->q.init(*p.range, x, p.weight->data(), o, in, p.bias ? p.bias->data() : nullptr,
            spec_.fused_relu);
  const dn::primitive_attr attr = f->q.attr(spec_.fused_relu);
  Md bias_md = f->has_bias ? Md({o}, s32, Tag::a) : Md();
  // src: x's own layout when it is int8 and dense, else plain (N, I) in the src type
  std::vector<Md> candidates;
  const bool dense =
      x_md.get_size() == static_cast<size_t>(x.numel()) * memory::data_type_size(x_md.data_type());
  if (x_scale > 0 && dense && (x.rank() == 4 || x.rank() == 2)) candidates.push_back(x_md);
  candidates.push_back(Md({n, in}, f->q.src_dt, Tag::nc));
  int best = 99;
  for (const Md& src : candidates) {
    Dims wd = src.dims();
    wd[0] = o;
    auto desc = ALEXNET_DNNL(dn::inner_product_forward::desc(prop_kind::forward_inference, src,
                                                             Md(wd, s8, Tag::any), bias_md,
                                                             Md({n, o}, f->q.dst_dt, Tag::nc)));
    auto pd = ALEXNET_DNNL(dn::inner_product_forward::primitive_desc(desc, attr, ctx_->eng));
    const int r = impl_rank(pd.impl_info_str(), n >= 2);
    if (r > best || (r == best && r != 2)) continue;  // all reference: the plain one
    best = r;
    f->pd = pd;
    f->src_md = src;
    f->user_w = Md(wd, f32, wd.size() == 4 ? Tag::oihw : Tag::oi);
  }
  if (best == 2) {  // only oneDNN's reference kernel: f32 instead (remembered)
    f->unsupported = true;
    plans_.add(std::move(f));
    return nullptr;
  }
  f->prim = ALEXNET_DNNL(dn::inner_product_forward(f->pd));
  f->src = empty_memory(*ctx_, f->src_md);
  f->wei = empty_memory(*ctx_, f->pd.weights_desc());
  if (f->has_bias) f->bias = empty_memory(*ctx_, bias_md);
  f->dst = empty_memory(*ctx_, f->pd.dst_desc());
  f->y.bind(f->pd.dst_desc(), {n, o}, f->q.sy);
  f->wq = weights_.get_s8(*ctx_, f->user_w, p.weight->data(), f->pd.weights_desc(), 1, f->q.sw,
                          p.version);
  std::memcpy(f->bq.ensure(f->q.bias.size() * sizeof(int32_t)), f->q.bias.data(),
              f->q.bias.size() * sizeof(int32_t));
  return &plans_.add(std::move(f));
}

const Tensor& LinearOp::run_forward(const Tensor& x, const OpParams& p, bool training) {
  spec_.output_shape(x.shape());  // checks the feature count
  if (!p.weight) throw Error("no weight given");
  expect_shape(*p.weight, spec_.weight_shape(), "weight");
  if (p.bias) expect_shape(*p.bias, spec_.bias_shape(), "bias");
  Md x_md = tensor_md(x);
  if (!training && ctx_->inference == s8) {
    if (Fwd* q = int8_plan(x, p)) {
      // x as src: its own bytes, re-laid out plain (int8 x), or quantised (f32 x)
      const float* src = x.data();
      if (q->src_md != x_md)
        src = q->x_conv.to(*ctx_, x_md, x.data(), plain_md(x.shape(), q->q.src_dt),
                           tensor_scale(x) > 0 ? 1.f : q->q.sx);
      return run_int8(*ctx_, *q, src);
    }
    if (tensor_scale(x) > 0) return run_forward(to_f32(x), p, training);
  }
  Fwd& f = plan(x_md, x.shape(), training, p.bias != nullptr);
  // x's data in src's layout: the same bytes when src is x's layout or a plain x seen 2-D.
  const float* src = x.data();
  const Dt dt = f.src_md.data_type();
  if (f.src_md != x_md && (!x.is_plain() || x_md.data_type() != dt))
    src = f.x_conv.to(*ctx_, x_md, x.data(), plain_md(x.shape(), dt));
  const float* wei =
      weights_.get(*ctx_, f.user_w, p.weight->data(), f.pd.weights_desc(), p.version);
  execute(*ctx_, f.prim,
          {{DNNL_ARG_SRC, &bind(f.src, src)},
           {DNNL_ARG_WEIGHTS, &bind(f.wei, wei)},
           {DNNL_ARG_BIAS, bind_optional(f.bias, p.bias ? p.bias->data() : nullptr)},
           {DNNL_ARG_DST, &bind(f.dst, f.y.data())}});
  return f.y.tensor;
}

LinearOp::Bwd& LinearOp::bwd_plan(Fwd& f) {
  if (f.bwd) return *f.bwd;
  auto b = std::make_unique<Bwd>();
  Md y_md = f.pd.dst_desc();  // plain (N, O)
  if (spec_.fused_relu) {
    b->relu.init(*ctx_, y_md);
    b->dpre.ensure(y_md.get_size());
  }
  Md w_any(f.user_w.dims(), f32, Tag::any);
  // dx in the layout x came in (src's), so the layer below gets what it produced.
  b->data_pd = ALEXNET_DNNL(dn::inner_product_backward_data::primitive_desc(
      dn::inner_product_backward_data::desc(f.src_md, w_any, y_md), user_scratchpad(), ctx_->eng,
      f.pd));
  b->data = ALEXNET_DNNL(dn::inner_product_backward_data(b->data_pd));
  b->d_ddst = empty_memory(*ctx_, y_md);
  b->d_wei = empty_memory(*ctx_, b->data_pd.weights_desc());
  b->d_dsrc = empty_memory(*ctx_, b->data_pd.diff_src_desc());
  b->weights.init(*ctx_,
                  ALEXNET_DNNL(dn::inner_product_backward_weights::primitive_desc(
                      dn::inner_product_backward_weights::desc(
                          f.src_md, w_any, Md({spec_.out_channels}, f32, Tag::a), y_md),
                      user_scratchpad(), ctx_->eng, f.pd)),
                  spec_.out_channels);
  f.bwd = std::move(b);
  return *f.bwd;
}

const Tensor& LinearOp::run_backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                                     const OpParams& p, bool need_dx) {
  Shape y_shape = spec_.output_shape(x.shape());
  expect_shape(dy, y_shape, "dy");
  if (!p.weight) throw Error("no weight given");
  expect_shape(*p.weight, spec_.weight_shape(), "weight");
  Md x_md = tensor_md(x);
  Fwd& f = plan(x_md, x.shape(), true, p.bias != nullptr);
  Bwd& b = bwd_plan(f);
  const Context& c = *ctx_;
  Md y_md = f.pd.dst_desc();

  const float* dpre = f.dy_conv.to(c, tensor_md(dy), dy.data(), y_md);
  if (spec_.fused_relu) {
    expect_shape(y, y_shape, "y");
    const float* yv = f.y_conv.to(c, tensor_md(y), y.data(), y_md);
    b.relu.run(c, yv, dpre, b.dpre.data());
    dpre = b.dpre.data();
  }
  const float* src = x.data();
  if (f.src_md != x_md && !x.is_plain())
    src = b.w_x_conv.to(c, x_md, x.data(), plain_md(x.shape()));

  float* gw = grad_target(p.grad_weight, spec_.weight_shape(), "grad_weight");
  float* gb = grad_target(p.grad_bias, spec_.bias_shape(), "grad_bias");
  if (gw || gb) b.weights.run(c, src, dpre, f.user_w, gw, gb);

  if (!need_dx) return empty_;
  const float* wei =
      weights_.get(c, f.user_w, p.weight->data(), b.data_pd.weights_desc(), p.version);
  // dx has x's shape; its layout is src's (x's own, or plain when x was reordered).
  b.dx.bind(b.data_pd.diff_src_desc(), x.shape());
  execute(c, b.data,
          {{DNNL_ARG_DIFF_DST, &bind(b.d_ddst, dpre)},
           {DNNL_ARG_WEIGHTS, &bind(b.d_wei, wei)},
           {DNNL_ARG_DIFF_SRC, &bind(b.d_dsrc, b.dx.data())}});
  return b.dx.tensor;
}

}  // namespace

std::unique_ptr<Op> make_linear_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<LinearOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
