// The CUDA backend's own kernels (declared in kernels.h). Built by nvcc in C++17 mode with
// --fmad=false, so every a*b+c below rounds twice like the host reference: dropout and SGD
// are compared with the reference bit for bit.
//
// Elementwise kernels are grid-stride loops over int64 indices (tensors may exceed 2^31
// elements); a launcher with nothing to do launches nothing. Reductions (softmax rows,
// bias gradients) run one block per row/channel and reduce in double through shared memory.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

// The module exports only its C entry points (backend_cuda.cpp): nvcc compiles this file
// without meson's -fvisibility=hidden, so the launchers are hidden here.
#pragma GCC visibility push(hidden)
#include "core/dropout_mask.h"
#include "kernels.h"

namespace alexnet::cuda::kernels {
namespace {

constexpr int kThreads = 256;  // every launch; the reductions' shared arrays are sized by it
// Grid-stride loops cover the rest: more blocks than this buys nothing on any current GPU.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < kMaxBlocks ? b : kMaxBlocks);
}

__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// --- element types: fp32 / fp16 / bf16, computed in fp32 -------------------------------

__device__ __forceinline__ float to_f(float v) {
  return v;
}
__device__ __forceinline__ float to_f(__half v) {
  return __half2float(v);
}
__device__ __forceinline__ float to_f(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Calls f(T{}) with the element type of `dtype` (0 fp32, 1 fp16, 2 bf16).
template <typename F>
void dispatch(int dtype, F&& f) {
  switch (dtype) {
    case 1:
      f(__half{});
      break;
    case 2:
      f(__nv_bfloat16{});
      break;
    default:
      f(float{});
      break;
  }
}

// --- block reductions (blockDim.x == kThreads, a power of two) ---------------------------

// Sum of every thread's v; the result is returned to all threads. `buf` has kThreads doubles.
// The trailing barrier lets the caller reuse `buf` at once.
__device__ double block_sum(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  double r = buf[0];
  __syncthreads();
  return r;
}

// Maximum of every thread's v, returned to all threads. A NaN is skipped (comparisons with it
// are false), as in the reference's running max `z > m ? z : m` (except for a NaN first
// logit); for finite logits every order gives the same exact maximum.
__device__ double block_max(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) {
      double o = buf[threadIdx.x + s];
      if (o > buf[threadIdx.x]) buf[threadIdx.x] = o;
    }
    __syncthreads();
  }
  double r = buf[0];
  __syncthreads();
  return r;
}

// --- ReLU and the fully connected epilogue ----------------------------------------------

// `x < 0 ? 0 : x` (not fmaxf) so that NaN stays NaN, as in the reference and torch.
template <typename T>
__global__ void relu_forward_kernel(const T* x, T* y, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    T v = x[i];
    y[i] = to_f(v) < 0.0f ? from_f<T>(0.0f) : v;
  }
}

__global__ void relu_backward_kernel(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// y (rows, cols) row-major: y[r, c] = act(y[r, c] + bias[c]).
template <typename T>
__global__ void bias_act_rows_kernel(T* y, const float* bias, int64_t rows, int64_t cols,
                                     bool relu) {
  const int64_t n = rows * cols;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    float v = to_f(y[i]) + bias[i % cols];
    if (relu && v < 0.0f) v = 0.0f;
    y[i] = from_f<T>(v);
  }
}

// db[c] = sum_r dy[r, c]. Block (32, 8): 32 adjacent columns (coalesced reads of a row) by
// 8 row phases; the 8 partial sums of a column are added in shared memory.
constexpr int kColTile = 32, kRowPhases = 8;
__global__ void bias_grad_rows_kernel(const float* dy, float* db, int64_t rows, int64_t cols) {
  __shared__ double part[kRowPhases][kColTile];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double acc = 0;
  if (c < cols)
    for (int64_t r = threadIdx.y; r < rows; r += kRowPhases) acc += dy[r * cols + c];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double s = 0;
    for (int k = 0; k < kRowPhases; ++k) s += part[k][threadIdx.x];
    db[c] = static_cast<float>(s);
  }
}

// db[c] = sum over n, hw of dy[(n*C + c)*HW + hw]: one block per channel (grid-stride over
// channels), its threads over the N*HW values of that channel.
__global__ void bias_grad_nchw_kernel(const float* dy, float* db, int64_t N, int64_t C,
                                      int64_t HW) {
  __shared__ double buf[kThreads];
  const int64_t per_channel = N * HW;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double acc = 0;
    for (int64_t j = threadIdx.x; j < per_channel; j += kThreads) {
      int64_t n = j / HW, hw = j - n * HW;
      acc += dy[(n * C + c) * HW + hw];
    }
    double s = block_sum(acc, buf);
    if (threadIdx.x == 0) db[c] = static_cast<float>(s);
  }
}

// --- dropout ------------------------------------------------------------------------------

// out[i] = in[i] * scale if element i is kept, else 0: dropout_keep is the same constexpr
// function the host backends call (pure integer hashing and an exact double compare), and
// `scale` is computed once on the host by dropout_scale.
__global__ void dropout_kernel(const float* in, float* out, int64_t n, uint64_t seed,
                               uint64_t offset, double p, float scale) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = dropout_keep(seed, offset + static_cast<uint64_t>(i), p) ? in[i] * scale : 0.0f;
}

// --- adaptive average pooling -------------------------------------------------------------

// PyTorch's bins over a side of `in` cut into `out`: [floor(i*in/out), ceil((i+1)*in/out)).
__device__ __forceinline__ int64_t bin_start(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
__device__ __forceinline__ int64_t bin_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// One thread per output element (n, c, oy, ox); sums its window in fp32.
template <typename T>
__global__ void adaptive_avgpool_forward_kernel(const T* x, T* y, int64_t NC, int64_t H, int64_t W,
                                                int64_t S) {
  const int64_t n = NC * S * S;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t ox = i % S, oy = (i / S) % S, nc = i / (S * S);
    const int64_t y0 = bin_start(oy, H, S), y1 = bin_end(oy, H, S);
    const int64_t x0 = bin_start(ox, W, S), x1 = bin_end(ox, W, S);
    const T* plane = x + nc * H * W;
    float sum = 0.0f;
    for (int64_t iy = y0; iy < y1; ++iy)
      for (int64_t ix = x0; ix < x1; ++ix) sum += to_f(plane[iy * W + ix]);
    y[i] = from_f<T>(sum / static_cast<float>((y1 - y0) * (x1 - x0)));
  }
}

// One thread per input element (n, c, iy, ix): gathers dy/area of every output cell whose
// window holds it (no atomics). Row iy lies in bins oy with start(oy) <= iy < end(oy), i.e.
// floor(iy*S/H) <= oy <= ceil((iy+1)*S/H) - 1; the loop re-checks the window, so the
// range only needs to contain those bins. Summed in double in (oy, ox) order, as the
// reference does.
__global__ void adaptive_avgpool_backward_kernel(const float* dy, float* dx, int64_t NC, int64_t H,
                                                 int64_t W, int64_t S) {
  const int64_t n = NC * H * W;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t ix = i % W, iy = (i / W) % H, nc = i / (H * W);
    const int64_t oy_lo = iy * S / H, oy_hi = ((iy + 1) * S + H - 1) / H;  // [lo, hi)
    const int64_t ox_lo = ix * S / W, ox_hi = ((ix + 1) * S + W - 1) / W;
    const float* g = dy + nc * S * S;
    double acc = 0;
    for (int64_t oy = oy_lo; oy < oy_hi && oy < S; ++oy) {
      const int64_t y0 = bin_start(oy, H, S), y1 = bin_end(oy, H, S);
      if (iy < y0 || iy >= y1) continue;
      for (int64_t ox = ox_lo; ox < ox_hi && ox < S; ++ox) {
        const int64_t x0 = bin_start(ox, W, S), x1 = bin_end(ox, W, S);
        if (ix < x0 || ix >= x1) continue;
        acc += static_cast<double>(g[oy * S + ox]) / static_cast<double>((y1 - y0) * (x1 - x0));
      }
    }
    dx[i] = static_cast<float>(acc);
  }
}

// --- softmax and cross-entropy (double, one block per row) ------------------------------

// row_loss[n] = log sum_k exp(z_k - m) + m - z_label;  dlogits = (p - onehot) / N.
__global__ void softmax_cross_entropy_kernel(const float* logits, const int* labels, int64_t N,
                                             int64_t K, double* row_loss, float* dlogits) {
  __shared__ double buf[kThreads];
  for (int64_t row = blockIdx.x; row < N; row += gridDim.x) {
    const float* z = logits + row * K;
    double m = -__longlong_as_double(0x7ff0000000000000LL);  // -inf
    for (int64_t k = threadIdx.x; k < K; k += kThreads) m = double(z[k]) > m ? double(z[k]) : m;
    m = block_max(m, buf);
    double s = 0;
    for (int64_t k = threadIdx.x; k < K; k += kThreads) s += exp(double(z[k]) - m);
    s = block_sum(s, buf);
    const int label = labels[row];
    if (threadIdx.x == 0) row_loss[row] = m + log(s) - double(z[label]);
    if (dlogits) {
      float* d = dlogits + row * K;
      for (int64_t k = threadIdx.x; k < K; k += kThreads) {
        double p = exp(double(z[k]) - m) / s;
        d[k] = static_cast<float>((p - (k == label ? 1.0 : 0.0)) / double(N));
      }
    }
  }
}

template <typename T>
__global__ void softmax_rows_kernel(const T* logits, float* probs, int64_t N, int64_t K) {
  __shared__ double buf[kThreads];
  for (int64_t row = blockIdx.x; row < N; row += gridDim.x) {
    const T* z = logits + row * K;
    double m = -__longlong_as_double(0x7ff0000000000000LL);
    for (int64_t k = threadIdx.x; k < K; k += kThreads) {
      double v = to_f(z[k]);
      m = v > m ? v : m;
    }
    m = block_max(m, buf);
    double s = 0;
    for (int64_t k = threadIdx.x; k < K; k += kThreads) s += exp(double(to_f(z[k])) - m);
    s = block_sum(s, buf);
    float* p = probs + row * K;
    for (int64_t k = threadIdx.x; k < K; k += kThreads)
      p[k] = static_cast<float>(exp(double(to_f(z[k])) - m) / s);
  }
}

// --- SGD ----------------------------------------------------------------------------------

// Term for term the reference's expression (lib/src/backends/reference/sgd.cpp), evaluated left to
// right in double with no contraction (--fmad=false):
//   vi = ((double(mom) * v) - ((double(wd) * double(lr)) * w)) - (double(lr) * g)
__global__ void sgd_kernel(float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                           float weight_decay) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float wi = w[i];
    double vi = double(momentum) * double(v[i]) - double(weight_decay) * double(lr) * double(wi) -
                double(lr) * double(g[i]);
    const float vf = static_cast<float>(vi);
    v[i] = vf;
    w[i] = static_cast<float>(double(wi) + double(vf));
  }
}

__global__ void add_rows_kernel(const float* src, int64_t src_row, float* dst, int64_t dst_row,
                                int64_t rows, int64_t run) {
  const int64_t n = rows * run;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t r = i / run, j = i - r * run;
    dst[r * dst_row + j] += src[r * src_row + j];
  }
}

// --- conversions and checks ---------------------------------------------------------------

// One rounding: every source converts to float exactly (fp16 and bf16 are subsets), then
// from_f rounds to nearest even.
template <typename S, typename D>
__global__ void convert_kernel(const S* src, D* dst, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = from_f<D>(to_f(src[i]));
}

__global__ void any_nonfinite_kernel(const float* x, int64_t n, int* flag) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    if (!isfinite(x[i])) *flag = 1;  // every writer writes 1: the race is benign
}

// --- requested by helper A: the convolution's epilogue and max pooling backward ------------

// y (N, C, HW): y[(n*C + c)*HW + i] = act(y + bias[c]), in place.
template <typename T>
__global__ void bias_act_nchw_kernel(T* y, const float* bias, int64_t C, int64_t HW, int64_t n,
                                     bool relu) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    float v = to_f(y[i]) + bias[(i / HW) % C];
    if (relu && v < 0.0f) v = 0.0f;  // `v < 0` keeps NaN
    y[i] = from_f<T>(v);
  }
}

// One thread per input element (nc, iy, ix): adds the dy of every window that contains it
// and whose argmax (the reference's rule, recomputed from x) is this element. Window rows
// oy*stride .. oy*stride + kernel - 1 contain iy for ceil((iy - kernel + 1)/stride) <= oy <=
// floor(iy/stride), clipped to [0, OH); likewise columns. Summed in double in (oy, ox) order,
// the order in which the reference adds them, then rounded once.
__global__ void maxpool_backward_kernel(const float* x, const float* dy, float* dx, int64_t NC,
                                        int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t K,
                                        int64_t S) {
  const int64_t n = NC * H * W;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t ix = i % W, iy = (i / W) % H, nc = i / (H * W);
    const int64_t oy_lo = iy - K + 1 <= 0 ? 0 : (iy - K + 1 + S - 1) / S;
    const int64_t ox_lo = ix - K + 1 <= 0 ? 0 : (ix - K + 1 + S - 1) / S;
    const int64_t oy_hi = iy / S < OH - 1 ? iy / S : OH - 1;  // inclusive
    const int64_t ox_hi = ix / S < OW - 1 ? ix / S : OW - 1;
    const float* xp = x + nc * H * W;
    const float* g = dy + nc * OH * OW;
    const int64_t self = iy * W + ix;
    double acc = 0;
    for (int64_t oy = oy_lo; oy <= oy_hi; ++oy)
      for (int64_t ox = ox_lo; ox <= ox_hi; ++ox) {
        int64_t best = oy * S * W + ox * S;  // the window's top-left element
        for (int64_t ky = 0; ky < K; ++ky)
          for (int64_t kx = 0; kx < K; ++kx) {
            const int64_t j = (oy * S + ky) * W + ox * S + kx;
            // Strict: the first maximum wins; a NaN wins over numbers (reference/maxpool.cpp).
            const bool nan = xp[j] != xp[j] && xp[best] == xp[best];
            if (xp[j] > xp[best] || nan) best = j;
          }
        if (best == self) acc += g[oy * OW + ox];
      }
    dx[i] = static_cast<float>(acc);
  }
}

}  // namespace

// --- launchers ----------------------------------------------------------------------------

void relu_forward(const void* x, void* y, int64_t n, int dtype, cudaStream_t stream) {
  if (n <= 0) return;
  dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    relu_forward_kernel<T>
        <<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), n);
  });
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, dy, dx, n);
}

void bias_act_rows(void* y, const float* bias, int64_t rows, int64_t cols, bool relu, int dtype,
                   cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    bias_act_rows_kernel<T><<<blocks_for(rows * cols), kThreads, 0, stream>>>(
        static_cast<T*>(y), bias, rows, cols, relu);
  });
}

void bias_grad_rows(const float* dy, float* db, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (cols <= 0) return;
  if (rows <= 0) {  // an empty sum
    cudaMemsetAsync(db, 0, static_cast<size_t>(cols) * sizeof(float), stream);
    return;
  }
  // grid.x up to 2^31 - 1: (cols + 31) / 32 fits for any int32-sized cols.
  const unsigned grid = static_cast<unsigned>((cols + kColTile - 1) / kColTile);
  bias_grad_rows_kernel<<<grid, dim3(kColTile, kRowPhases), 0, stream>>>(dy, db, rows, cols);
}

void bias_grad_nchw(const float* dy, float* db, int64_t N, int64_t C, int64_t HW,
                    cudaStream_t stream) {
  if (C <= 0) return;
  if (N <= 0 || HW <= 0) {
    cudaMemsetAsync(db, 0, static_cast<size_t>(C) * sizeof(float), stream);
    return;
  }
  const int grid = static_cast<int>(C < kMaxBlocks ? C : kMaxBlocks);
  bias_grad_nchw_kernel<<<grid, kThreads, 0, stream>>>(dy, db, N, C, HW);
}

void dropout_forward(const float* x, float* y, int64_t n, uint64_t seed, uint64_t offset, double p,
                     cudaStream_t stream) {
  if (n <= 0) return;
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n, seed, offset, p,
                                                         dropout_scale(p));
}

void dropout_backward(const float* dy, float* dx, int64_t n, uint64_t seed, uint64_t offset,
                      double p, cudaStream_t stream) {
  if (n <= 0) return;
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dy, dx, n, seed, offset, p,
                                                         dropout_scale(p));
}

void adaptive_avgpool_forward(const void* x, void* y, int N, int C, int H, int W, int out,
                              int dtype, cudaStream_t stream) {
  const int64_t count = int64_t{N} * C * out * out;
  if (count <= 0 || H <= 0 || W <= 0) return;
  dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    adaptive_avgpool_forward_kernel<T><<<blocks_for(count), kThreads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(y), int64_t{N} * C, H, W, out);
  });
}

void adaptive_avgpool_backward(const float* dy, float* dx, int N, int C, int H, int W, int out,
                               cudaStream_t stream) {
  const int64_t count = int64_t{N} * C * H * W;
  if (count <= 0 || out <= 0) return;
  adaptive_avgpool_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(
      dy, dx, int64_t{N} * C, H, W, out);
}

void softmax_cross_entropy(const float* logits, const int* labels, int64_t N, int64_t K,
                           double* row_loss, float* dlogits, cudaStream_t stream) {
  if (N <= 0 || K <= 0) return;
  const int grid = static_cast<int>(N < kMaxBlocks ? N : kMaxBlocks);
  softmax_cross_entropy_kernel<<<grid, kThreads, 0, stream>>>(logits, labels, N, K, row_loss,
                                                              dlogits);
}

void softmax_rows(const void* logits, float* probs, int64_t N, int64_t K, int dtype,
                  cudaStream_t stream) {
  if (N <= 0 || K <= 0) return;
  const int grid = static_cast<int>(N < kMaxBlocks ? N : kMaxBlocks);
  dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    softmax_rows_kernel<T>
        <<<grid, kThreads, 0, stream>>>(static_cast<const T*>(logits), probs, N, K);
  });
}

void sgd_update(float* w, const float* g, float* v, int64_t n, float lr, float momentum,
                float weight_decay, cudaStream_t stream) {
  if (n <= 0) return;
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream>>>(w, g, v, n, lr, momentum, weight_decay);
}

void add_rows(const float* src, int64_t src_row, float* dst, int64_t dst_row, int64_t rows,
              int64_t run, cudaStream_t stream) {
  if (rows <= 0 || run <= 0) return;
  add_rows_kernel<<<blocks_for(rows * run), kThreads, 0, stream>>>(src, src_row, dst, dst_row, rows,
                                                                   run);
}

void convert(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n,
             cudaStream_t stream) {
  if (n <= 0) return;
  dispatch(src_dtype, [&](auto s) {
    using S = decltype(s);
    dispatch(dst_dtype, [&](auto d) {
      using D = decltype(d);
      convert_kernel<S, D><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const S*>(src),
                                                                   static_cast<D*>(dst), n);
    });
  });
}

void any_nonfinite(const float* x, int64_t n, int* flag, cudaStream_t stream) {
  if (n <= 0) return;
  any_nonfinite_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, flag);
}

void bias_act_nchw(void* y, const float* bias, int64_t N, int64_t C, int64_t HW, bool relu,
                   int dtype, cudaStream_t stream) {
  if (N <= 0 || C <= 0 || HW <= 0) return;
  const int64_t n = N * C * HW;
  dispatch(dtype, [&](auto t) {
    using T = decltype(t);
    bias_act_nchw_kernel<T>
        <<<blocks_for(n), kThreads, 0, stream>>>(static_cast<T*>(y), bias, C, HW, n, relu);
  });
}

void maxpool_backward(const float* x, const float* dy, float* dx, int64_t NC, int H, int W, int OH,
                      int OW, int kernel, int stride, cudaStream_t stream) {
  const int64_t n = NC * H * W;
  if (n <= 0) return;
  if (OH <= 0 || OW <= 0 || kernel <= 0 || stride <= 0) {  // no window: dx is all zero
    cudaMemsetAsync(dx, 0, static_cast<size_t>(n) * sizeof(float), stream);
    return;
  }
  maxpool_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, dy, dx, NC, H, W, OH, OW,
                                                                  kernel, stride);
}

// --- NCCL gradient all-reduce (nccl.cpp): the scale kernel ----------------------------------
namespace {
__global__ void scale_kernel(float* y, int64_t n, float a) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = a == 0.0f ? 0.0f : y[i] * a;
}
}  // namespace

void scale(float* y, int64_t n, float a, cudaStream_t stream) {
  if (n <= 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, n, a);
}
// --- end of the NCCL block -------------------------------------------------------------------

}  // namespace alexnet::cuda::kernels

#pragma GCC visibility pop
