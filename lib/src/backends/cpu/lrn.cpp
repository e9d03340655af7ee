// Local response normalisation across channels, in x's layout (nChw8c from the conv):
//   y[c] = x[c] / (k + alpha' · Σ_{|j-c| ≤ n/2} x[j]²)^beta
// LayerSpec::lrn_alpha is that alpha' (the one multiplying the plain sum); oneDNN divides
// its alpha by n, so it gets alpha' · n. Training keeps oneDNN's workspace for backward.
#include <vector>

#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
namespace dn = dnnl;

class LrnOp final : public CpuOp {
 public:
  using CpuOp::CpuOp;

 protected:
  bool wants_blocked_input() const override { return true; }
  const Tensor& run_forward(const Tensor& x, const OpParams&, bool training) override {
    if (x.rank() != 4) throw Error("input " + shape_str(x.shape()) + " needs (N, C, H, W)");
    Md md = tensor_md(x);
    Plan& p = plan(md, x.shape(), training);  // with a workspace only when training
    execute(*ctx_, p.fwd,
            {{DNNL_ARG_SRC, &bind(p.src, x.data())},
             {DNNL_ARG_DST, &bind(p.dst, p.y.data())},
             {DNNL_ARG_WORKSPACE, p.ws.arg()}});
    return p.y.tensor;
  }

  const Tensor& run_backward(const Tensor& x, const Tensor&, const Tensor& dy, const OpParams&,
                             bool need_dx) override {
    expect_shape(dy, x.shape(), "dy");
    if (!need_dx) return empty_;
    Md md = tensor_md(x);
    Plan& p = plan(md, x.shape(), true);
    if (!p.bwd) {
      auto bpd = ALEXNET_DNNL(dn::lrn_backward::primitive_desc(
          dn::lrn_backward::desc(algorithm::lrn_across_channels, md, p.fpd.dst_desc(), size(),
                                 alpha(), beta(), k()),
          user_scratchpad(), ctx_->eng, p.fpd));
      p.bwd = ALEXNET_DNNL(dn::lrn_backward(bpd));
      p.bdiff_dst = empty_memory(*ctx_, bpd.diff_dst_desc());
      p.bdiff_src = empty_memory(*ctx_, bpd.diff_src_desc());
      p.bsrc = empty_memory(*ctx_, md);
      p.dx.bind(bpd.diff_src_desc(), x.shape());
    }
    // The workspace holds what the last training forward computed for this x.
    const float* d = p.dy_conv.to(*ctx_, tensor_md(dy), dy.data(), p.bdiff_dst.get_desc());
    execute(*ctx_, p.bwd,
            {{DNNL_ARG_SRC, &bind(p.bsrc, x.data())},
             {DNNL_ARG_DIFF_DST, &bind(p.bdiff_dst, d)},
             {DNNL_ARG_WORKSPACE, p.ws.arg()},
             {DNNL_ARG_DIFF_SRC, &bind(p.bdiff_src, p.dx.data())}});
    return p.dx.tensor;
  }

 private:
  struct Plan {
    Md md;
    bool training = false;
    dn::lrn_forward::primitive_desc fpd;
    dn::lrn_forward fwd;
    dn::lrn_backward bwd;
    memory src, dst, bsrc, bdiff_dst, bdiff_src;
    Workspace ws;
    Converter dy_conv;
    Output y, dx;
  };

  int64_t size() const { return spec_.lrn_size; }
  float alpha() const { return static_cast<float>(spec_.lrn_alpha * spec_.lrn_size); }
  float beta() const { return static_cast<float>(spec_.lrn_beta); }
  float k() const { return static_cast<float>(spec_.lrn_k); }

  Plan& plan(const Md& md, const Shape& shape, bool training) {
    if (Plan* p = plans_.find(
            [&](const Plan& cached) { return cached.training == training && cached.md == md; }))
      return *p;
    auto p = std::make_unique<Plan>();
    p->md = md;
    p->training = training;
    p->fpd = ALEXNET_DNNL(dn::lrn_forward::primitive_desc(
        dn::lrn_forward::desc(training ? prop_kind::forward_training : prop_kind::forward_inference,
                              algorithm::lrn_across_channels, md, size(), alpha(), beta(), k()),
        user_scratchpad(), ctx_->eng));
    p->fwd = ALEXNET_DNNL(dn::lrn_forward(p->fpd));
    p->src = empty_memory(*ctx_, md);
    p->dst = empty_memory(*ctx_, p->fpd.dst_desc());
    if (training) p->ws.init(*ctx_, p->fpd.workspace_desc());  // some implementations need none
    p->y.bind(p->fpd.dst_desc(), shape);
    return plans_.add(std::move(p));
  }

  PlanCache<Plan> plans_;
};

}  // namespace

std::unique_ptr<Op> make_lrn_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<LrnOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
