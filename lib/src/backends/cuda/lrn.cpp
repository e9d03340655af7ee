// Local response normalisation across channels on cuDNN (the graph API has no LRN):
//
//   x (N, C, H, W) → y = x / (k + alpha · Σ_{j ∈ W(c)} x_j²)^beta,   W(c) = [c − n/2, c + n/2]
//
// alpha is LayerSpec::lrn_alpha, already the effective alpha; cuDNN divides its lrnAlpha by
// lrnN, so it is given alpha · n. cuDNN's window is [c − ⌊(n−1)/2⌋, c + n − 1 − ⌊(n−1)/2⌋],
// the reference's [c − ⌊n/2⌋, c + ⌊(n−1)/2⌋]: equal for odd n only, so even n (which
// NetConfig::validate rejects anyway) is an error here. cuDNN also requires 1 ≤ n ≤ 16,
// k ≥ 1e-5 and beta ≥ 0.01.
//
// fp16/bf16 inputs (inference) are normalised in fp32 (converted in and back out): k + alpha·Σx²
// of conv outputs in the hundreds overflows fp16's 65504 if squared in half.
// Backward: cudnnLRNCrossChannelBackward from x, y and dy (fp32).
#include <memory>
#include <string>

#include "cudnn_desc.h"
#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

class LrnOp final : public CudaOp {
 public:
  LrnOp(ContextPtr ctx, const LayerSpec& spec) : CudaOp(std::move(ctx), spec) {
    const int n = spec.lrn_size;
    if (n < int(CUDNN_LRN_MIN_N) || n > int(CUDNN_LRN_MAX_N) || n % 2 == 0)
      throw Error(who_ + ": LRN size " + std::to_string(n) +
                  " is not supported by the cuda backend (odd, 1 to 16: cuDNN's range, and "
                  "cuDNN centres even windows differently from the reference)");
    if (!(spec.lrn_k >= CUDNN_LRN_MIN_K) || !(spec.lrn_beta >= CUDNN_LRN_MIN_BETA) ||
        !(spec.lrn_alpha >= 0))
      throw Error(who_ + ": LRN parameters k = " + std::to_string(spec.lrn_k) + ", beta = " +
                  std::to_string(spec.lrn_beta) + ", alpha = " + std::to_string(spec.lrn_alpha) +
                  " are outside cuDNN's range (k >= 1e-5, beta >= 0.01, alpha >= 0)");
    ALEXNET_CUDNN(cudnnSetLRNDescriptor(desc_.get(), unsigned(n), spec.lrn_alpha * n, spec.lrn_beta,
                                        spec.lrn_k));
  }

  // x (N, C, H, W) any dtype → y (N, C, H, W) in x's dtype, op-owned.
  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool training) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& {
      require_device(x, who_, "input x");
      Shape out = spec_.output_shape(x.shape());  // requires (N, C, H, W)
      const DType xt = dtype_of(x);
      require_f32_when_training(x, training);
      set_shape(out);
      cudaStream_t s = ctx_->stream;
      if (xt == DType::F32) {
        Tensor& y = reuse(*ctx_, y_, out);
        ALEXNET_CUDNN(cudnnLRNCrossChannelForward(ctx_->cudnn, desc_.get(),
                                                  CUDNN_LRN_CROSS_CHANNEL_DIM1, &kOne, td_.get(),
                                                  x.data(), &kZero, td_.get(), y.data()));
        return y;
      }
      // fp16/bf16: x → fp32 → LRN → x's dtype.
      const void* xf = as_dtype(*ctx_, x, DType::F32, x_f32_);
      Tensor& yf = reuse(*ctx_, y_f32_, out);
      ALEXNET_CUDNN(cudnnLRNCrossChannelForward(ctx_->cudnn, desc_.get(),
                                                CUDNN_LRN_CROSS_CHANNEL_DIM1, &kOne, td_.get(), xf,
                                                &kZero, td_.get(), yf.data()));
      Tensor& y = reuse(*ctx_, y_, out, xt);
      kernels::convert(yf.data(), int(DType::F32), y.data(), int(xt), y.numel(), s);
      ALEXNET_CUDA_LAUNCHED();
      return y;
    });
  }

  // dx (N, C, H, W) from x, y (the training forward's output) and dy, all fp32.
  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& /*p*/,
                         bool need_dx) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& {
      Shape out = require_f32_x_dy(x, dy);
      require_f32_tensor(y, out, who_, "output y");
      if (!need_dx) return no_dx();
      set_shape(out);
      Tensor& dx = reuse(*ctx_, dx_, out);
      ALEXNET_CUDNN(cudnnLRNCrossChannelBackward(
          ctx_->cudnn, desc_.get(), CUDNN_LRN_CROSS_CHANNEL_DIM1, &kOne, td_.get(), y.data(),
          td_.get(), dy.data(), td_.get(), x.data(), &kZero, td_.get(), dx.data()));
      return dx;
    });
  }

 private:
  // The (N, C, H, W) fp32 descriptor shared by x, y, dy and dx; reset when the shape changes.
  void set_shape(const Shape& shape) {
    if (shape == td_shape_) return;
    td_shape_.clear();  // stays cleared if set() throws
    td_.set(shape);
    td_shape_ = shape;
  }

  LrnDesc desc_;
  TensorDesc td_;
  Shape td_shape_;
  Tensor x_f32_, y_f32_;
};

}  // namespace

std::unique_ptr<Op> make_lrn_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<LrnOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
