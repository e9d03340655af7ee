// ReLU on its own (the network folds the ReLU after a conv/fc into it; this op is for the
// rest): y = max(x, 0) elementwise, in x's layout. dx = dy ⊙ [y > 0] (as the reference:
// relu_use_dst_for_bwd reads y).
#include <vector>

#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

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
    p.bwd.run(*ctx_, yv, d, p.dx.data());
    return p.dx.tensor;
  }

 private:
  struct Plan {
    Md md;
    dn::eltwise_forward fwd;
    ReluBackward bwd;
    memory src, dst;
    Converter y_conv, dy_conv;
    Output y, dx;
  };

  // One plan per input layout: forward and backward both work in that layout.
  Plan& plan(const Md& md, const Shape& shape) {
    if (Plan* p = plans_.find([&](const Plan& cached) { return cached.md == md; })) return *p;
    auto p = std::make_unique<Plan>();
    p->md = md;
    auto fpd = relu_forward_pd(*ctx_, md);
    p->fwd = ALEXNET_DNNL(dn::eltwise_forward(fpd));
    p->bwd.init(*ctx_, md);
    p->src = empty_memory(*ctx_, md);
    p->dst = empty_memory(*ctx_, fpd.dst_desc());
    p->y.bind(fpd.dst_desc(), shape);
    p->dx.bind(p->bwd.dx_md(), shape);
    return plans_.add(std::move(p));
  }

  PlanCache<Plan> plans_;
};

}  // namespace

std::unique_ptr<Op> make_relu_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<ReluOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
