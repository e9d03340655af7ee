// Adaptive average pooling to (S, S), torch's semantics: output row i averages input rows
// [floor(i·H/S), ceil((i+1)·H/S)), likewise columns.
//   x (N, C, H, W) → y (N, C, S, S)
// Three paths: H = W = S is an identity (a copy, in x's layout: torchvision's 224 input
// reaches it with 6×6); S dividing H and W is a plain average pooling (oneDNN, x's layout);
// anything else (overlapping or repeated windows) a plain loop on the plain layout.
#include <cstring>
#include <vector>

#include "backends/op_common.h"
#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
namespace dn = dnnl;

class AvgPoolOp final : public CpuOp {
 public:
  using CpuOp::CpuOp;

 protected:
  bool takes_int8() const override { return true; }  // u8 in, u8 out at the input's scale
  const Tensor& run_forward(const Tensor& x, const OpParams&, bool) override {
    Shape y_shape = spec_.output_shape(x.shape());
    Md md = tensor_md(x);
    const int64_t H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    if (H == S && W == S) {
      y_.bind(md, y_shape, tensor_scale(x));
      std::memcpy(y_.data(), x.data(), md.get_size());
      return y_.tensor;
    }
    if (H % S == 0 && W % S == 0) {
      Plan& p = plan(md, x.shape());
      p.y.bind(p.fpd.dst_desc(), y_shape, tensor_scale(x));
      execute(*ctx_, p.fwd,
              {{DNNL_ARG_SRC, &bind(p.src, x.data())}, {DNNL_ARG_DST, &bind(p.dst, p.y.data())}});
      return p.y.tensor;
    }
    const float* xd = x_conv_.to(*ctx_, md, x.data(), plain_md(x.shape()),
                                 tensor_scale(x) > 0 ? 1.f / tensor_scale(x) : 1.f);
    y_.bind(plain_md(y_shape), y_shape);
    float* y = y_.data();
    const int64_t NC = x.dim(0) * x.dim(1);
#pragma omp parallel for num_threads(ctx_->threads) schedule(static)
    for (int64_t nc = 0; nc < NC; ++nc)
      for_each_adaptive_window(H, W, S, [&](int64_t cell, const PoolWindow& win) {
        y[nc * S * S + cell] =
            window_sum<float>(xd + nc * H * W, W, win) / static_cast<float>(win.size());
      });
    return y_.tensor;
  }

  const Tensor& run_backward(const Tensor& x, const Tensor&, const Tensor& dy, const OpParams&,
                             bool need_dx) override {
    expect_shape(dy, spec_.output_shape(x.shape()), "dy");
    if (!need_dx) return empty_;
    Md dy_md = tensor_md(dy);
    const int64_t H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    if (H == S && W == S) {
      dx_.bind(dy_md, x.shape());
      std::memcpy(dx_.data(), dy.data(), dy_md.get_size());
      return dx_.tensor;
    }
    if (H % S == 0 && W % S == 0) {
      Plan& p = plan(tensor_md(x), x.shape());
      if (!p.bwd) {
        auto bpd = ALEXNET_DNNL(dn::pooling_backward::primitive_desc(
            dn::pooling_backward::desc(
                algorithm::pooling_avg_exclude_padding, Md(p.md.dims(), f32, Tag::any),
                Md(p.fpd.dst_desc().dims(), f32, Tag::any), p.strides, p.strides, {0, 0}, {0, 0}),
            user_scratchpad(), ctx_->eng, p.fpd));
        p.bwd = ALEXNET_DNNL(dn::pooling_backward(bpd));
        p.bdiff_dst = empty_memory(*ctx_, bpd.diff_dst_desc());
        p.bdiff_src = empty_memory(*ctx_, bpd.diff_src_desc());
        p.dx.bind(bpd.diff_src_desc(), x.shape());
      }
      const float* d = p.dy_conv.to(*ctx_, dy_md, dy.data(), p.bdiff_dst.get_desc());
      execute(*ctx_, p.bwd,
              {{DNNL_ARG_DIFF_DST, &bind(p.bdiff_dst, d)},
               {DNNL_ARG_DIFF_SRC, &bind(p.bdiff_src, p.dx.data())}});
      return p.dx.tensor;
    }
    const float* d = dy_conv_.to(*ctx_, dy_md, dy.data(), plain_md(dy.shape()));
    dx_.bind(plain_md(x.shape()), x.shape());
    float* dx = dx_.data();
    const int64_t NC = x.dim(0) * x.dim(1);
    // Each window shares its dy equally among its inputs; threads own whole (n, c) planes,
    // so overlapping windows add up without races.
#pragma omp parallel for num_threads(ctx_->threads) schedule(static)
    for (int64_t nc = 0; nc < NC; ++nc) {
      float* dxc = dx + nc * H * W;
      std::memset(dxc, 0, sizeof(float) * static_cast<size_t>(H * W));
      for_each_adaptive_window(H, W, S, [&](int64_t cell, const PoolWindow& win) {
        add_to_window(dxc, W, win, d[nc * S * S + cell] / static_cast<float>(win.size()));
      });
    }
    return dx_.tensor;
  }

 private:
  struct Plan {
    Md md;
    Dims strides;
    dn::pooling_forward::primitive_desc fpd;
    dn::pooling_forward fwd;
    dn::pooling_backward bwd;
    memory src, dst, bdiff_dst, bdiff_src;
    Converter dy_conv;
    Output y, dx;
  };

  Plan& plan(const Md& md, const Shape& shape) {
    if (Plan* p = plans_.find([&](const Plan& cached) { return cached.md == md; })) return *p;
    Shape y_shape = spec_.output_shape(shape);
    auto p = std::make_unique<Plan>();
    p->md = md;
    p->strides = {shape[2] / spec_.out_size, shape[3] / spec_.out_size};
    // Training and inference alike: average pooling keeps no workspace.
    p->fpd = ALEXNET_DNNL(dn::pooling_forward::primitive_desc(
        dn::pooling_forward::desc(
            is_int8(md.data_type()) ? prop_kind::forward_inference : prop_kind::forward_training,
            algorithm::pooling_avg_exclude_padding, md,
            Md(Dims(y_shape.begin(), y_shape.end()), md.data_type(), Tag::any), p->strides,
            p->strides, {0, 0}, {0, 0}),
        user_scratchpad(), ctx_->eng));
    p->fwd = ALEXNET_DNNL(dn::pooling_forward(p->fpd));
    p->src = empty_memory(*ctx_, md);
    p->dst = empty_memory(*ctx_, p->fpd.dst_desc());
    p->y.bind(p->fpd.dst_desc(), y_shape);
    return plans_.add(std::move(p));
  }

  PlanCache<Plan> plans_;
  Output y_, dx_;  // identity and loop paths
  Converter x_conv_, dy_conv_;
};

}  // namespace

std::unique_ptr<Op> make_avgpool_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<AvgPoolOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
