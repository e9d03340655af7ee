// The CUDA backend's own kernels (kernels.cu, built by nvcc), used where no cuDNN/cuBLAS
// operation fits. Plain pointers and a stream only: this header is shared by g++ and nvcc
// code and includes no alexnet, cuDNN or C++20 headers.
//
// Every launcher enqueues on `stream` and returns at once; the caller checks launch errors
// with ALEXNET_CUDA_LAUNCHED(). `dtype` arguments are 0 = fp32, 1 = fp16, 2 = bf16
// (cuda::DType). Counts are int64 elements.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace alexnet::cuda::kernels {

// y = max(x, 0) (y may alias x); dx = dy where y > 0 else 0 (dx may alias dy).
void relu_forward(const void* x, void* y, int64_t n, int dtype, cudaStream_t stream);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n, cudaStream_t stream);

// y[r, c] (+)= bias[c], then ReLU if `relu`: the fully connected layer's epilogue after the
// GEMM. y is (rows, cols) row-major; bias is fp32 whatever dtype y has.
void bias_act_rows(void* y, const float* bias, int64_t rows, int64_t cols, bool relu, int dtype,
                   cudaStream_t stream);
// db[c] = sum_r dy[r, c], accumulated in double then rounded (dy fp32, (rows, cols)).
void bias_grad_rows(const float* dy, float* db, int64_t rows, int64_t cols, cudaStream_t stream);
// db[c] = sum over n, h, w of dy (N, C, H, W) (conv bias gradient, double accumulation).
void bias_grad_nchw(const float* dy, float* db, int64_t N, int64_t C, int64_t HW,
                    cudaStream_t stream);

// Dropout (inverted): y = x * scale where dropout_keep(seed, offset + i, p)
// (lib/src/core/dropout_mask.h), else 0 — the same mask as every other backend. dx likewise.
void dropout_forward(const float* x, float* y, int64_t n, uint64_t seed, uint64_t offset, double p,
                     cudaStream_t stream);
void dropout_backward(const float* dy, float* dx, int64_t n, uint64_t seed, uint64_t offset,
                      double p, cudaStream_t stream);

// Adaptive average pooling (N, C, H, W) → (N, C, out, out), PyTorch's bin boundaries
// (start = floor(i*H/out), end = ceil((i+1)*H/out)). backward: dx from dy (dx overwritten).
void adaptive_avgpool_forward(const void* x, void* y, int N, int C, int H, int W, int out,
                              int dtype, cudaStream_t stream);
void adaptive_avgpool_backward(const float* dy, float* dx, int N, int C, int H, int W, int out,
                               cudaStream_t stream);

// Softmax cross-entropy of logits (N, K) fp32, labels (N) on the device (already checked to
// be in range): row_loss[n] = logsumexp(z_n) - z_n,label (double), and if dlogits is not
// null, dlogits = (softmax - onehot) / N. Computed in double like the reference.
void softmax_cross_entropy(const float* logits, const int* labels, int64_t N, int64_t K,
                           double* row_loss, float* dlogits, cudaStream_t stream);
// probs = softmax of each row of logits (N, K) (logits of any dtype, probs fp32).
void softmax_rows(const void* logits, float* probs, int64_t N, int64_t K, int dtype,
                  cudaStream_t stream);

// The paper's SGD, elementwise, in double and rounded once, exactly like the reference:
//   v = momentum*v - weight_decay*lr*w - lr*g;  w = w + v
// dst[n * dst_row + j] += src[n * src_row + j] for n < rows, j < run: channel ranges of
// (N, C, ...) tensors (Backend::add_channels; model parallelism).
void add_rows(const float* src, int64_t src_row, float* dst, int64_t dst_row, int64_t rows,
              int64_t run, cudaStream_t stream);

void sgd_update(float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                float weight_decay, cudaStream_t stream);

// Element type conversions (round to nearest even).
void convert(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n,
             cudaStream_t stream);

// Writes 1 to *flag if any of the n fp32 values is not finite (flag is not cleared first).
void any_nonfinite(const float* x, int64_t n, int* flag, cudaStream_t stream);

// --- requested by helper A (conv.cpp, maxpool.cpp) ------------------------------------------
// y (N, C, HW) (dtype) = act(y + bias[c]) in place, act = ReLU if `relu` (NaN stays NaN, as
// relu_forward); bias fp32 (C). The convolution's epilogue after cudnnConvolutionForward.
void bias_act_nchw(void* y, const float* bias, int64_t N, int64_t C, int64_t HW, bool relu,
                   int dtype, cudaStream_t stream);
// Max pooling backward with the reference's argmax rule (lib/src/backends/reference/maxpool.cpp):
// each dy goes to the FIRST maximum of its window in row-major order (strict >; a NaN wins over
// numbers), summed where windows overlap. x (NC, H, W) fp32, dy (NC, OH, OW) fp32, dx (NC, H,
// W) fp32 overwritten (every element written: a gather over the windows that contain it, so
// deterministic, no memset needed). Window (oy, ox) covers rows oy*stride .. oy*stride+kernel-1
// (no padding, floor mode). cuDNN's cudnnPoolingBackward breaks ties its own (unspecified,
// non-deterministic) way, and ReLU zeros make ties common (all-zero windows).
void maxpool_backward(const float* x, const float* dy, float* dx, int64_t NC, int H, int W, int OH,
                      int OW, int kernel, int stride, cudaStream_t stream);

// --- NCCL gradient all-reduce (nccl.cpp) -----------------------------------------------------
// y *= a in place (fp32, n elements); a == 0 writes exact zeros (a stale NaN/Inf gradient of
// a replica that had no slice must not survive as NaN * 0).
void scale(float* y, int64_t n, float a, cudaStream_t stream);

}  // namespace alexnet::cuda::kernels
