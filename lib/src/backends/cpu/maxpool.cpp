// Max pooling: square window `kernel`, `stride`, no padding, floor mode.
//   x (N, C, H, W) any layout → y (N, C, OH, OW) in the same kind of layout (oneDNN keeps
//   nChw8c), OH = (H - K) / S + 1.
// Training keeps oneDNN's workspace (the argmax of each window) for backward, which sends
// each dy to that element; overlapping windows (3/2) add up. Ties: the first maximum.
#include <vector>

#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
namespace dn = dnnl;

class MaxPoolOp final : public CpuOp {
 public:
  using CpuOp::CpuOp;

 protected:
  bool wants_blocked_input() const override { return true; }
  bool takes_int8() const override { return true; }  // u8 in, u8 out at the input's scale
  const Tensor& run_forward(const Tensor& x, const OpParams&, bool training) override {
    Md md = tensor_md(x);
    Plan& p = plan(md, x.shape(), training);  // with a workspace only when training
    p.y.bind(p.fpd.dst_desc(), spec_.output_shape(x.shape()), tensor_scale(x));
    execute(*ctx_, p.fwd,
            {{DNNL_ARG_SRC, &bind(p.src, x.data())},
             {DNNL_ARG_DST, &bind(p.dst, p.y.data())},
             {DNNL_ARG_WORKSPACE, p.ws.arg()}});
    return p.y.tensor;
  }

  const Tensor& run_backward(const Tensor& x, const Tensor&, const Tensor& dy, const OpParams&,
                             bool need_dx) override {
    expect_shape(dy, spec_.output_shape(x.shape()), "dy");
    if (!need_dx) return empty_;
    Md md = tensor_md(x);
    Plan& p = plan(md, x.shape(), true);
    if (!p.bwd) {
      Md dx_any = activation_md(*ctx_, md.dims());
      Md dy_any = activation_md(*ctx_, p.fpd.dst_desc().dims());
      auto bpd = ALEXNET_DNNL(dn::pooling_backward::primitive_desc(
          dn::pooling_backward::desc(algorithm::pooling_max, dx_any, dy_any, strides(), kernel(),
                                     {0, 0}, {0, 0}),
          user_scratchpad(), ctx_->eng, p.fpd));
      p.bwd = ALEXNET_DNNL(dn::pooling_backward(bpd));
      p.bdiff_dst = empty_memory(*ctx_, bpd.diff_dst_desc());
      p.bdiff_src = empty_memory(*ctx_, bpd.diff_src_desc());
      p.dx.bind(bpd.diff_src_desc(), x.shape());
    }
    // The workspace holds the argmax of the last training forward (of this x).
    const float* d = p.dy_conv.to(*ctx_, tensor_md(dy), dy.data(), p.bdiff_dst.get_desc());
    execute(*ctx_, p.bwd,
            {{DNNL_ARG_DIFF_DST, &bind(p.bdiff_dst, d)},
             {DNNL_ARG_WORKSPACE, p.ws.arg()},
             {DNNL_ARG_DIFF_SRC, &bind(p.bdiff_src, p.dx.data())}});
    return p.dx.tensor;
  }

 private:
  struct Plan {
    Md md;
    bool training = false;
    dn::pooling_forward::primitive_desc fpd;
    dn::pooling_forward fwd;
    dn::pooling_backward bwd;
    memory src, dst, bdiff_dst, bdiff_src;
    Workspace ws;
    Converter dy_conv;
    Output y, dx;
  };

  Dims strides() const { return {spec_.stride, spec_.stride}; }
  Dims kernel() const { return {spec_.kernel, spec_.kernel}; }

  Plan& plan(const Md& md, const Shape& shape, bool training) {
    if (Plan* p = plans_.find(
            [&](const Plan& cached) { return cached.training == training && cached.md == md; }))
      return *p;
    Shape y_shape = spec_.output_shape(shape);
    auto p = std::make_unique<Plan>();
    p->md = md;
    p->training = training;
    // Right padding 0 with floor-mode output sizes: oneDNN checks the two agree.
    p->fpd = ALEXNET_DNNL(dn::pooling_forward::primitive_desc(
        dn::pooling_forward::desc(
            training ? prop_kind::forward_training : prop_kind::forward_inference,
            algorithm::pooling_max, md,
            activation_md(*ctx_, Dims(y_shape.begin(), y_shape.end()), md.data_type()), strides(),
            kernel(), {0, 0}, {0, 0}),
        user_scratchpad(), ctx_->eng));
    p->fwd = ALEXNET_DNNL(dn::pooling_forward(p->fpd));
    p->src = empty_memory(*ctx_, md);
    p->dst = empty_memory(*ctx_, p->fpd.dst_desc());
    if (training) {
      if (!p->fpd.workspace_desc())
        throw Error("oneDNN max pooling gave no workspace for training");
      p->ws.init(*ctx_, p->fpd.workspace_desc());
    }
    p->y.bind(p->fpd.dst_desc(), y_shape);
    return plans_.add(std::move(p));
  }

  PlanCache<Plan> plans_;
};

}  // namespace

std::unique_ptr<Op> make_maxpool_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<MaxPoolOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
