// Inverted dropout with the mask every backend shares (lib/src/core/dropout_mask.h): element i of
// the plain (N, C, H, W) layout is kept iff dropout_keep(seed, index_offset + i, p), and scaled by
// dropout_scale(p). Training works on the plain layout (a native x is reordered first), so
// the indices are the reference's. Inference is the identity: y is x itself (no copy).
#include <vector>

#include "backends/op_common.h"
#include "core/dropout_mask.h"
#include "cpu_common.h"

namespace alexnet::cpu {
namespace {

class DropoutOp final : public CpuOp {
 public:
  // oneDNN checks the other ops' specs; the drop probability is only ours to check.
  DropoutOp(ContextPtr ctx, const LayerSpec& spec) : CpuOp(std::move(ctx), spec) {
    check_layer_spec(spec);
  }

 protected:
  bool takes_int8() const override { return true; }  // inference passes x through
  const Tensor& run_forward(const Tensor& x, const OpParams& p, bool training) override {
    Md md = tensor_md(x);
    if (!training) {
      // Shares x's buffer (and keeps it alive): valid as long as x's contents are, which
      // is what the caller's next layer needs.
      alias_ = x;
      return alias_;
    }
    const float* xd = x_conv_.to(*ctx_, md, x.data(), plain_md(x.shape()));
    y_.bind(plain_md(x.shape()), x.shape());
    apply(xd, y_.data(), x.numel(), p.seed, p.index_offset);
    seed_ = p.seed;  // backward uses this call's mask
    offset_ = p.index_offset;
    have_mask_ = true;
    return y_.tensor;
  }

  const Tensor& run_backward(const Tensor& x, const Tensor&, const Tensor& dy, const OpParams&,
                             bool need_dx) override {
    expect_shape(dy, x.shape(), "dy");
    if (!have_mask_) throw Error("backward without a training forward");
    if (!need_dx) return empty_;
    const float* d = dy_conv_.to(*ctx_, tensor_md(dy), dy.data(), plain_md(dy.shape()));
    dx_.bind(plain_md(x.shape()), x.shape());
    apply(d, dx_.data(), x.numel(), seed_, offset_);
    return dx_.tensor;
  }

 private:
  void apply(const float* in, float* out, int64_t count, uint64_t seed, uint64_t offset) const {
    const double p = spec_.drop_p;
    const float scale = dropout_scale(p);
#pragma omp parallel for simd num_threads(ctx_->threads) schedule(static) if (count > 16384)
    for (int64_t i = 0; i < count; ++i)
      out[i] = dropout_keep(seed, offset + static_cast<uint64_t>(i), p) ? in[i] * scale : 0.0f;
  }

  Tensor alias_;
  Output y_, dx_;
  Converter x_conv_, dy_conv_;
  uint64_t seed_ = 0, offset_ = 0;
  bool have_mask_ = false;
};

}  // namespace

std::unique_ptr<Op> make_dropout_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<DropoutOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cpu
