// ReLU on its own (the network folds the ReLU after a conv/fc into it; this op is for the
// rest): y = max(x, 0) elementwise, in x's layout. dx = dy ⊙ [y > 0] (as the reference:
// relu_use_dst_for_bwd reads y).
#include <vector>

#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
namespace dn = dnnl;

class ReluOp final : public CpuOp {
 public:
  using CpuOp::CpuOp;

 protected:
  const Tensor& run_forward(const Tensor& x, const OpParams&, bool training) override {
    Md md = tensor_md(x);
    Plan& p = plan(md, x.shape());
    (void)training;  // relu keeps nothing: backward reads x
    execute(*ctx_, p.fwd,
            {{DNNL_ARG_SRC, &bind(p.src, x.data())}, {DNNL_ARG_DST, &bind(p.dst, p.y.data())}});
    return p.y.tensor;
  }

  const Tensor& run_backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams&,
                             bool need_dx) override {
    expect_shape(dy, x.shape(), "dy");
    expect_shape(y, x.shape(), "y");
    if (!need_dx) return empty_;
    Md md = tensor_md(x);
    Plan& p = plan(md, x.shape());
    const float* yv = p.y_conv.to(*ctx_, tensor_md(y), y.data(), md);
    const float* d = p.dy_conv.to(*ctx_, tensor_md(dy), dy.data(), md);
    execute(*ctx_, p.bwd,
            {{DNNL_ARG_DST, &bind(p.bdst, yv)},
             {DNNL_ARG_DIFF_DST, &bind(p.bdiff_dst, d)},
             {DNNL_ARG_DIFF_SRC, &bind(p.bdiff_src, p.dx.data())}});
    return p.dx.tensor;
  }

 private:
  struct Plan {
    Md md;
    dn::eltwise_forward fwd;
    dn::eltwise_backward bwd;
    memory src, dst, bdst, bdiff_dst, bdiff_src;
    Converter y_conv, dy_conv;
    Output y, dx;
  };

  // One plan per input layout: forward and backward both work in that layout.
  Plan& plan(const Md& md, const Shape& shape) {
    for (auto& p : plans_)
      if (p->md == md) return *p;
    auto p = std::make_unique<Plan>();
    p->md = md;
    auto fpd = ALEXNET_DNNL(dn::eltwise_forward::primitive_desc(
        dn::eltwise_forward::desc(prop_kind::forward_training,
                                  algorithm::eltwise_relu_use_dst_for_bwd, md, 0.f, 0.f),
        ctx_->eng));
    p->fwd = ALEXNET_DNNL(dn::eltwise_forward(fpd));
    auto bpd = ALEXNET_DNNL(dn::eltwise_backward::primitive_desc(
        dn::eltwise_backward::desc(algorithm::eltwise_relu_use_dst_for_bwd, md, md, 0.f, 0.f),
        ctx_->eng, fpd));
    p->bwd = ALEXNET_DNNL(dn::eltwise_backward(bpd));
    p->src = empty_memory(*ctx_, md);
    p->bdst = empty_memory(*ctx_, md);
    p->dst = empty_memory(*ctx_, fpd.dst_desc());
    p->bdiff_dst = empty_memory(*ctx_, md);
    p->bdiff_src = empty_memory(*ctx_, bpd.diff_src_desc());
    p->y.bind(fpd.dst_desc(), shape);
    p->dx.bind(bpd.diff_src_desc(), shape);
    plans_.push_back(std::move(p));
    return *plans_.back();
  }

  std::vector<std::unique_ptr<Plan>> plans_;
};

}  // namespace

std::unique_ptr<Op> make_relu_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<ReluOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
