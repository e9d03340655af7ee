// ReLU on its own (the network folds the ReLU after a conv/fc into it; this op is for the
// rest): y = max(x, 0) elementwise, any shape, in x's dtype (fp16/bf16 activations stay so at
// inference); backward dx = dy ⊙ [y > 0] (fp32), reading y like the reference.
//
// Own kernels rather than cudnnActivationForward: they keep NaN as NaN exactly like the
// reference (`x < 0 ? 0 : x`) and need no descriptor per shape.
#include <memory>
#include <string>

#include "cudnn_desc.h"
#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

class ReluOp final : public CudaOp {
 public:
  using CudaOp::CudaOp;

  // x (any shape, any dtype) → y (same shape and dtype), op-owned: x stays valid, so never in
  // place.
  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool training) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& {
      require_device(x, who_, "input x");
      const DType xt = dtype_of(x);
      require_f32_when_training(x, training);
      Shape out = spec_.output_shape(x.shape());  // the input's shape
      Tensor& y = reuse(*ctx_, y_, out, xt);
      kernels::relu_forward(x.data(), y.data(), x.numel(), int(xt), ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
      return y;
    });
  }

  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& /*p*/,
                         bool need_dx) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& {
      require_device(x, who_, "input x");
      Shape out = spec_.output_shape(x.shape());
      require_f32_tensor(dy, out, who_, "gradient dy");
      require_f32_tensor(y, out, who_, "output y");
      if (!need_dx) return no_dx();
      Tensor& dx = reuse(*ctx_, dx_, x.shape());
      kernels::relu_backward(y.data(), dy.data(), dx.data(), dy.numel(), ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
      return dx;
    });
  }
};

}  // namespace

std::unique_ptr<Op> make_relu_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<ReluOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
