// Legacy cuDNN API (deprecated in cuDNN 9) for the forward pass: see conv.cpp for the plan.
//
// Max pooling: square window `kernel`, `stride`, no padding, floor mode (a last partial window
// is dropped), exactly LayerSpec::output_shape:
//
//   x (N, C, H, W) → y (N, C, (H − k)/s + 1, (W − k)/s + 1)
//
// forward:  cudnnPoolingForward (CUDNN_POOLING_MAX, NaN propagated like the reference) in x's
//           dtype; should this cuDNN refuse a 16-bit type, pooled in fp32 (max is exact, so
//           the result is the same).
// backward: kernels::maxpool_backward, not cudnnPoolingBackward: the reference sends each dy
//           to the FIRST maximum of its window (row-major) and cuDNN picks one of tied maxima
//           its own (unspecified, atomics-ordered) way. Ties are common after a ReLU (windows
//           of zeros), so the difference would be O(1) in dx. The kernel is deterministic.
#include <memory>
#include <string>
#include <vector>

#include "cudnn_desc.h"
#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

class MaxPoolOp final : public CudaOp {
 public:
  MaxPoolOp(ContextPtr ctx, const LayerSpec& spec) : CudaOp(std::move(ctx), spec) {
    ALEXNET_CUDNN(cudnnSetPooling2dDescriptor(pool_.get(), CUDNN_POOLING_MAX, CUDNN_PROPAGATE_NAN,
                                              spec.kernel, spec.kernel, 0, 0, spec.stride,
                                              spec.stride));
  }

  // x (N, C, H, W) any dtype → y (N, C, OH, OW) in x's dtype, op-owned.
  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool training) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& {
      require_device(x, who_, "input x");
      Shape out = spec_.output_shape(x.shape());  // (N, C, OH, OW); checks rank and size
      const DType xt = dtype_of(x);
      require_f32_when_training(x, training);
      Tensor& y = reuse(*ctx_, y_, out, xt);
      if (xt == DType::F32 || native_16bit_) {
        Plan& pl = plan(x.shape(), xt);
        cudnnStatus_t st = cudnnPoolingForward(ctx_->cudnn, pool_.get(), &kOne, pl.x.get(),
                                               x.data(), &kZero, pl.y.get(), y.data());
        if (st == CUDNN_STATUS_SUCCESS) return y;
        if (xt == DType::F32 || (st != CUDNN_STATUS_NOT_SUPPORTED && st != CUDNN_STATUS_BAD_PARAM))
          ALEXNET_CUDNN(st);
        native_16bit_ = false;  // this cuDNN has no 16-bit pooling here: fp32 from now on
      }
      // x (16-bit) → fp32 → pool → x's dtype.
      cudaStream_t s = ctx_->stream;
      Plan& pl = plan(x.shape(), DType::F32);
      const void* xf = as_dtype(*ctx_, x, DType::F32, x_f32_);
      Tensor& yf = reuse(*ctx_, y_f32_, out);
      ALEXNET_CUDNN(cudnnPoolingForward(ctx_->cudnn, pool_.get(), &kOne, pl.x.get(), xf, &kZero,
                                        pl.y.get(), yf.data()));
      kernels::convert(yf.data(), int(DType::F32), y.data(), int(xt), y.numel(), s);
      ALEXNET_CUDA_LAUNCHED();
      return y;
    });
  }

  // dx (N, C, H, W), overwritten, from x (the argmax is recomputed) and dy (fp32).
  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& {
      Shape out = require_f32_x_dy(x, dy);
      if (!need_dx) return no_dx();
      const Shape& in = x.shape();
      Tensor& dx = reuse(*ctx_, dx_, in);
      kernels::maxpool_backward(x.data(), dy.data(), dx.data(), in[0] * in[1], int(in[2]),
                                int(in[3]), int(out[2]), int(out[3]), spec_.kernel, spec_.stride,
                                ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
      return dx;
    });
  }

 private:
  struct Plan {
    Shape x_shape;
    DType dtype = DType::F32;
    TensorDesc x, y;
  };

  Plan& plan(const Shape& x_shape, DType t) {
    for (auto& pl : plans_)
      if (pl->x_shape == x_shape && pl->dtype == t) return *pl;
    auto pl = std::make_unique<Plan>();
    pl->x_shape = x_shape;
    pl->dtype = t;
    Shape out = spec_.output_shape(x_shape);
    pl->x.set(x_shape, t);
    pl->y.set(out, t);
    // cuDNN must agree with LayerSpec::output_shape (floor mode, no padding).
    int d[4] = {};
    ALEXNET_CUDNN(
        cudnnGetPooling2dForwardOutputDim(pool_.get(), pl->x.get(), &d[0], &d[1], &d[2], &d[3]));
    Shape got{d[0], d[1], d[2], d[3]};
    if (got != out)
      throw Error(who_ + ": cuDNN pools " + shape_str(x_shape) + " to " + shape_str(got) +
                  ", expected " + shape_str(out));
    plans_.push_back(std::move(pl));
    return *plans_.back();
  }

  PoolingDesc pool_;
  std::vector<std::unique_ptr<Plan>> plans_;
  bool native_16bit_ = true;  // cleared if cuDNN refuses fp16/bf16 pooling
  Tensor x_f32_, y_f32_;
};

}  // namespace

std::unique_ptr<Op> make_maxpool_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<MaxPoolOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
