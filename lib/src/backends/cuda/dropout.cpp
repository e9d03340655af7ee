// Inverted dropout with the mask every backend shares (lib/src/core/dropout_mask.h): element i of
// the plain (N, C, H, W) layout is kept iff dropout_keep(seed, index_offset + i, p) and scaled by
// dropout_scale(p), so y and dx are bit-identical to the reference's.
//   training:  y = x · mask · scale (fp32; the seed is remembered for backward)
//   inference: the identity — y is x itself (shares its buffer, any dtype), as on the cpu
//              backend: valid as long as x's contents are, which is what the next layer needs.
#include <string>

#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

class DropoutOp final : public CudaOp {
 public:
  using CudaOp::CudaOp;

  const Tensor& forward(const Tensor& x, const OpParams& p, bool training) override {
    DeviceScope scope(ctx_->device);
    require_device(x, who_, "input x");
    spec_.output_shape(x.shape());
    if (!training) {
      alias_ = x;
      return alias_;
    }
    if (dtype_of(x) != DType::F32)
      throw Error(who_ + ": training needs an fp32 input, got " + precision_label(dtype_of(x)));
    Tensor& y = reuse(*ctx_, y_, x.shape());
    kernels::dropout_forward(x.data(), y.data(), x.numel(), p.seed, p.index_offset, spec_.drop_p,
                             ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    seed_ = p.seed;  // backward must use this call's mask
    offset_ = p.index_offset;
    have_mask_ = true;
    return y;
  }

  // Only x's shape is read (the mask depends on the seed and the index alone), so x may be
  // anywhere, even a host tensor.
  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    DeviceScope scope(ctx_->device);
    require_f32_dy(x, dy);
    if (!have_mask_) throw Error(who_ + ": backward without a training forward");
    if (!need_dx) return no_dx();
    Tensor& dx = reuse(*ctx_, dx_, x.shape());
    kernels::dropout_backward(dy.data(), dx.data(), dy.numel(), seed_, offset_, spec_.drop_p,
                              ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    return dx;
  }

 private:
  Tensor alias_;
  uint64_t seed_ = 0, offset_ = 0;
  bool have_mask_ = false;
};

}  // namespace

std::unique_ptr<Op> make_dropout_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<DropoutOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
