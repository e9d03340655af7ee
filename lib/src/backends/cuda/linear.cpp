// Fully connected (+ bias, + fused ReLU) on cuBLAS.
//
//   x (N, I) or (N, C, H, W) with I = C·H·W (row-major flattening) · W (O, I) · b (O)
//   → y (N, O) = act(x W^T + b)
//
// Row-major ↔ cuBLAS (column-major): a row-major (r, c) matrix M in memory *is* the
// column-major (c, r) matrix M^T with leading dimension c. So, as cuBLAS sees our buffers:
//   x  → Xc = x^T  (I × N, ld I)      W → Wc = W^T (I × O, ld I)      y, g → y^T, g^T (O × N, ld O)
// and gemm computes C (m × n) = op(A) (m × k) · op(B) (k × n):
//   forward  y^T  = W x^T   = Wc^T · Xc       gemm(T, N, m=O, n=N, k=I)
//                                              A=W lda=I, B=x ldb=I, C=y ldc=O
//   dx       dx^T = W^T g^T = Wc · g^T        gemm(N, N, m=I, n=N, k=O)
//                                              A=W lda=I, B=g ldb=O, C=dx ldc=I
//   dW       dW^T = x^T g   = Xc · (g^T)^T    gemm(N, T, m=I, n=O, k=N)
//                                              A=x lda=I, B=g ldb=O, C=dW ldc=I
// (dW (O, I) row-major is the column-major I × O matrix dW^T, ld I.)  db = column sums of g.
//
// Precision: training is fp32 (x must be fp32). fp32 GEMMs use CUBLAS_COMPUTE_32F, which
// never uses TF32 tensor cores; CUBLAS_COMPUTE_32F_FAST_TF32 only when the context asks
// (ALEXNET_CUDA_TF32=1). fp16/bf16 inference: the weights are converted once per
// OpParams::version into an op-owned copy, an fp32 x is converted, the GEMM runs on 2-byte
// operands accumulating in fp32 (CUBLAS_COMPUTE_32F) and writes y in the activation type;
// bias and ReLU follow in one kernel (bias_act_rows) reading the fp32 bias.
#include <climits>
#include <string>

#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

cudaDataType_t blas_type(DType t) {
  return t == DType::F16 ? CUDA_R_16F : t == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

class LinearOp final : public CudaOp {
 public:
  using CudaOp::CudaOp;

  const Tensor& forward(const Tensor& x, const OpParams& p, bool training) override {
    DeviceScope scope(ctx_->device);
    require_device(x, who_, "input x");
    const Shape out = spec_.output_shape(x.shape());  // (N, O); checks I = C·H·W
    const Tensor& w = weight(p);
    if (p.bias) check_param(*p.bias, spec_.bias_shape(), "bias");
    const int64_t N = out[0], O = spec_.out_channels, I = spec_.in_channels;
    check_int(N, "batch");
    const DType act = activation_dtype(ctx_->precision);
    const DType xt = dtype_of(x);
    if (training && xt != DType::F32)
      throw Error(who_ + ": training needs an fp32 input, got " + precision_label(xt));
    if (N == 0) return reuse(*ctx_, y_, out, training ? DType::F32 : act);

    if (training || act == DType::F32) {
      // fp32 GEMM. An inference input in another type (a half activation reaching an fp32
      // context) is converted first.
      const auto* xd = static_cast<const float*>(as_dtype(*ctx_, x, DType::F32, x_conv_));
      Tensor& y = reuse(*ctx_, y_, out, DType::F32);
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, w.data(), I, xd, I, y.data(), O, DType::F32);
      epilogue(y, p, N, O, DType::F32);
      return y;
    }

    // fp16/bf16 inference.
    const void* xd = as_dtype(*ctx_, x, act, x_conv_);
    const void* wh = w_half_.get(*ctx_, w, p.version, act);
    Tensor& y = reuse(*ctx_, y_, out, act);
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, wh, I, xd, I, y.data(), O, act);
    epilogue(y, p, N, O, act);
    return y;
  }

  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                         bool need_dx) override {
    DeviceScope scope(ctx_->device);
    require_device(x, who_, "input x");
    require_device(dy, who_, "gradient dy");
    const Shape out = spec_.output_shape(x.shape());
    require_shape(dy, out, who_, "gradient dy");
    if (dtype_of(x) != DType::F32 || dtype_of(dy) != DType::F32)
      throw Error(who_ + ": backward needs fp32 x and dy (training runs in fp32)");
    const Tensor& w = weight(p);
    const int64_t N = out[0], O = spec_.out_channels, I = spec_.in_channels;
    check_int(N, "batch");

    // g = dL/d(pre-activation) (N, O): the fused ReLU passes dy where y > 0.
    const float* g = dy.data();
    if (spec_.fused_relu) {
      require_device(y, who_, "output y");
      require_shape(y, out, who_, "output y");
      if (dtype_of(y) != DType::F32) throw Error(who_ + ": backward needs the fp32 output y");
      Tensor& gr = reuse(*ctx_, g_, out, DType::F32);
      kernels::relu_backward(y.data(), dy.data(), gr.data(), N * O, ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
      g = gr.data();
    }

    if (float* gw = grad_target(p.grad_weight, spec_.weight_shape(), "grad_weight")) {
      if (N == 0) {
        ALEXNET_CUDA(cudaMemsetAsync(gw, 0, sizeof(float) * size_t(O * I), ctx_->stream));
      } else {
        gemm(CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, x.data(), I, g, O, gw, I, DType::F32);
      }
    }
    if (float* gb = grad_target(p.grad_bias, spec_.bias_shape(), "grad_bias")) {
      kernels::bias_grad_rows(g, gb, N, O, ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
    }
    if (!need_dx) return no_dx();
    Tensor& dx = reuse(*ctx_, dx_, x.shape(), DType::F32);  // x's own shape (2-D or 4-D)
    if (N > 0) gemm(CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, w.data(), I, g, O, dx.data(), I, DType::F32);
    return dx;
  }

 private:
  // C = op(A) op(B), column-major (see the mapping at the top); alpha 1, beta 0 (C is
  // overwritten). Operands and C in `type`; accumulation in fp32.
  void gemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
            const void* a, int64_t lda, const void* b, int64_t ldb, void* c, int64_t ldc,
            DType type) {
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = blas_type(type);
    const cublasComputeType_t compute =
        type == DType::F32 && ctx_->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    ALEXNET_CUBLAS(cublasGemmEx(ctx_->cublas, ta, tb, int(m), int(n), int(k), &one, a, t, int(lda),
                                b, t, int(ldb), &zero, c, t, int(ldc), compute,
                                CUBLAS_GEMM_DEFAULT));
  }

  // y += b and ReLU, in place (y (N, O) of type `type`).
  void epilogue(Tensor& y, const OpParams& p, int64_t N, int64_t O, DType type) {
    if (p.bias) {
      kernels::bias_act_rows(y.data(), p.bias->data(), N, O, spec_.fused_relu, int(type),
                             ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
    } else if (spec_.fused_relu) {
      kernels::relu_forward(y.data(), y.data(), N * O, int(type), ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
    }
  }

  const Tensor& weight(const OpParams& p) {
    if (!p.weight) throw Error(who_ + ": missing weight");
    check_param(*p.weight, spec_.weight_shape(), "weight");
    check_int(spec_.in_channels, "in features");
    return *p.weight;
  }

  void check_param(const Tensor& t, const Shape& want, const char* what) const {
    require_device(t, who_, what);
    require_shape(t, want, who_, what);
    if (dtype_of(t) != DType::F32) throw Error(who_ + ": " + what + " must be fp32");
  }

  // cuBLAS takes int dimensions.
  void check_int(int64_t v, const char* what) const {
    if (v > INT_MAX) throw Error(who_ + ": " + what + " " + std::to_string(v) + " exceeds cuBLAS");
  }

  // Where backward writes a gradient: null = not wanted, empty = allocate, else checked.
  float* grad_target(Tensor* t, const Shape& want, const char* what) {
    if (t == nullptr) return nullptr;
    if (t->empty()) *t = device_tensor(*ctx_, want);
    check_param(*t, want, what);
    return t->data();
  }

  Tensor g_, x_conv_;
  HalfWeights w_half_;  // fp16/bf16 inference
};

}  // namespace

std::unique_ptr<Op> make_linear_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<LinearOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
