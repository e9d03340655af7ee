// Adaptive average pooling to (S, S) with PyTorch's bins: output row i averages input rows
// [floor(i·H/S), ceil((i+1)·H/S)), likewise columns (kernels.cu).
//   x (N, C, H, W) → y (N, C, S, S)
// H = W = S (torchvision's 224 input reaching 6×6) is the identity: a device copy, as on the
// cpu backend, so y stays valid after x changes. Inference keeps x's element type (fp16/bf16
// activations are averaged in fp32 and rounded once); training and backward are fp32.
#include <climits>
#include <string>

#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

class AvgPoolOp final : public CudaOp {
 public:
  using CudaOp::CudaOp;

  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool training) override {
    DeviceScope scope(ctx_->device);
    require_device(x, who_, "input x");
    const Shape out = spec_.output_shape(x.shape());  // (N, C, S, S); checks the rank
    check_int(x.shape());
    const DType type = dtype_of(x);
    if (training && type != DType::F32)
      throw Error(who_ + ": training needs an fp32 input, got " + precision_label(type));
    Tensor& y = reuse(*ctx_, y_, out, type);
    const int64_t H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    if (H == S && W == S) {
      ALEXNET_CUDA(cudaMemcpyAsync(y.data(), x.data(), size_t(x.numel()) * dtype_size(type),
                                   cudaMemcpyDeviceToDevice, ctx_->stream));
      return y;
    }
    kernels::adaptive_avgpool_forward(x.data(), y.data(), int(x.dim(0)), int(x.dim(1)), int(H),
                                      int(W), int(S), int(type), ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    return y;
  }

  // Only x's shape is read.
  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    DeviceScope scope(ctx_->device);
    require_f32_dy(x, dy);
    check_int(x.shape());
    if (!need_dx) return no_dx();
    Tensor& dx = reuse(*ctx_, dx_, x.shape());
    const int64_t H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    if (H == S && W == S) {
      ALEXNET_CUDA(cudaMemcpyAsync(dx.data(), dy.data(), size_t(dy.numel()) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, ctx_->stream));
      return dx;
    }
    kernels::adaptive_avgpool_backward(dy.data(), dx.data(), int(x.dim(0)), int(x.dim(1)), int(H),
                                       int(W), int(S), ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    return dx;
  }

 private:
  // The kernels take int dimensions (each of N, C, H, W; counts are int64 inside).
  void check_int(const Shape& s) const {
    for (int64_t d : s)
      if (d > INT_MAX) throw Error(who_ + ": input " + shape_str(s) + " is too large");
  }
};

}  // namespace

std::unique_ptr<Op> make_avgpool_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<AvgPoolOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
