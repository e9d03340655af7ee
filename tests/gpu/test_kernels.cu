// The kernels of lib/src/backends/cuda/kernels.cu on the paths tests/backends/test_ops.cpp does not
// reach (fp16/bf16, convert, softmax_rows on half logits, any_nonfinite, maxpool_backward with
// ties, bias gradients at real sizes), each against a host computation. Built by nvcc with the
// kernels (tests/gpu/meson.build). Prints one line per check; exits 1 on any failure and 77
// (meson's "skipped") when no GPU is present.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/kernels.h"

using namespace alexnet::cuda;

static int failures = 0;
static void report(const char* what, bool ok, double err) {
  std::printf("%-48s %s (max err %.3g)\n", what, ok ? "PASS" : "FAIL", err);
  if (!ok) ++failures;
}
#define CK(x)                                                                       \
  do {                                                                              \
    cudaError_t e = (x);                                                            \
    if (e != cudaSuccess) {                                                         \
      std::printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
      return 2;                                                                     \
    }                                                                               \
  } while (0)

template <typename T>
static T* dev(const std::vector<T>& h) {
  T* d = nullptr;
  cudaMalloc(&d, h.size() * sizeof(T) + 16);
  cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
  return d;
}
template <typename T>
static std::vector<T> host(const T* d, size_t n) {
  std::vector<T> h(n);
  cudaDeviceSynchronize();
  cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
  return h;
}
static std::vector<float> rnd(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g);
  return v;
}

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no GPU (%s)\n", cudaGetErrorString(cudaGetLastError()));
    return 77;
  }
  cudaStream_t s = nullptr;
  CK(cudaStreamCreate(&s));
  const int64_t n = 1 << 20;
  std::vector<float> xs = rnd(n, -70000.f, 70000.f, 1);
  for (int i = 0; i < 1000; ++i) xs[i] = std::ldexp(xs[i + 1000] / 70000.f, -20 - i % 8);
  xs[5] = INFINITY, xs[6] = -INFINITY, xs[7] = NAN, xs[8] = 65519.f, xs[9] = 65520.f;
  float* dx = dev(xs);

  // convert fp32 -> fp16 / bf16 bitwise against the host conversions, and back exactly.
  for (int t : {1, 2}) {
    void* h = nullptr;
    cudaMalloc(&h, n * 2);
    kernels::convert(dx, 0, h, t, n, s);
    std::vector<uint16_t> got = host(static_cast<uint16_t*>(h), n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint16_t want;
      if (t == 1) {
        __half r = __float2half_rn(xs[i]);
        std::memcpy(&want, &r, 2);
      } else {
        __nv_bfloat16 r = __float2bfloat16_rn(xs[i]);
        std::memcpy(&want, &r, 2);
      }
      bool nan = std::isnan(xs[i]);
      if (nan ? (got[i] & 0x7fff) <= (t == 1 ? 0x7c00 : 0x7f80) : got[i] != want) ++bad;
    }
    report(t == 1 ? "convert fp32->fp16 bitwise" : "convert fp32->bf16 bitwise", bad == 0, bad);
    float* back = nullptr;
    cudaMalloc(&back, n * 4);
    kernels::convert(h, t, back, 0, n, s);
    std::vector<float> b = host(back, n);
    int64_t bad2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      float want = t == 1 ? __half2float(*reinterpret_cast<__half*>(&got[i]))
                          : __bfloat162float(*reinterpret_cast<__nv_bfloat16*>(&got[i]));
      if (!(b[i] == want || (std::isnan(b[i]) && std::isnan(want)))) ++bad2;
    }
    report("convert half->fp32 exact", bad2 == 0, bad2);
    // bias_act_rows in this type, rows 37, cols 1000: y = relu(y + b) (host in float).
    const int64_t R = 37, C = 1000;
    std::vector<float> y0 = rnd(R * C, -3, 3, 5), bias = rnd(C, -1, 1, 6);
    float* dy0 = dev(y0);
    float* db = dev(bias);
    void* yh = nullptr;
    cudaMalloc(&yh, R * C * 2);
    kernels::convert(dy0, 0, yh, t, R * C, s);
    kernels::bias_act_rows(yh, db, R, C, true, t, s);
    kernels::convert(yh, t, dy0, 0, R * C, s);
    std::vector<float> r = host(dy0, R * C);
    double err = 0;
    for (int64_t i = 0; i < R * C; ++i) {
      float w = std::max(0.f, y0[i] + bias[i % C]);
      err = std::max(err, double(std::abs(r[i] - w)));
    }
    report(t == 1 ? "bias_act_rows fp16 relu" : "bias_act_rows bf16 relu",
           err < (t == 1 ? 8e-3 : 5e-2), err);
    // relu_forward in place on half: no negatives remain, positives untouched.
    kernels::convert(dx, 0, h, t, n, s);
    kernels::relu_forward(h, h, n, t, s);
    kernels::convert(h, t, back, 0, n, s);
    std::vector<float> rr = host(back, n);
    int64_t bad3 = 0;
    for (int64_t i = 0; i < n; ++i)
      if (rr[i] < 0 || (xs[i] > 0 && std::isfinite(b[i]) && rr[i] != b[i])) ++bad3;
    report("relu_forward half in place", bad3 == 0 && std::isnan(rr[7]), bad3);
    cudaFree(h), cudaFree(back), cudaFree(dy0), cudaFree(db), cudaFree(yh);
  }

  // any_nonfinite.
  {
    int* flag = nullptr;
    cudaMalloc(&flag, 4);
    cudaMemset(flag, 0, 4);
    kernels::any_nonfinite(dx + 10, n - 10, flag, s);
    int f1 = host(flag, 1)[0];
    kernels::any_nonfinite(dx, n, flag, s);
    int f2 = host(flag, 1)[0];
    report("any_nonfinite", f1 == 0 && f2 == 1, f1 * 10 + f2);
  }

  // softmax_rows on fp16 logits (5, 1000) vs host double on the same fp16 values.
  {
    const int64_t N = 5, K = 1000;
    std::vector<float> z = rnd(N * K, -8, 8, 7);
    for (auto& v : z) v = __half2float(__float2half_rn(v));
    float* dz = dev(z);
    void* zh = nullptr;
    cudaMalloc(&zh, N * K * 2);
    kernels::convert(dz, 0, zh, 1, N * K, s);
    float* p = nullptr;
    cudaMalloc(&p, N * K * 4);
    kernels::softmax_rows(zh, p, N, K, 1, s);
    std::vector<float> got = host(p, N * K);
    double err = 0;
    for (int64_t r = 0; r < N; ++r) {
      double m = -INFINITY, sum = 0;
      for (int64_t k = 0; k < K; ++k) m = std::max(m, double(z[r * K + k]));
      for (int64_t k = 0; k < K; ++k) sum += std::exp(z[r * K + k] - m);
      for (int64_t k = 0; k < K; ++k)
        err = std::max(err, std::abs(got[r * K + k] - std::exp(z[r * K + k] - m) / sum));
    }
    report("softmax_rows fp16 logits", err < 1e-7, err);
  }

  // adaptive_avgpool forward on fp16, 13 -> 6 (overlapping windows).
  {
    const int N = 2, C = 3, H = 13, W = 13, S = 6;
    std::vector<float> x = rnd(N * C * H * W, -2, 2, 8);
    for (auto& v : x) v = __half2float(__float2half_rn(v));
    float* d = dev(x);
    void* xh = nullptr;
    void* yh = nullptr;
    cudaMalloc(&xh, x.size() * 2);
    cudaMalloc(&yh, N * C * S * S * 2);
    kernels::convert(d, 0, xh, 1, int64_t(x.size()), s);
    kernels::adaptive_avgpool_forward(xh, yh, N, C, H, W, S, 1, s);
    float* y = nullptr;
    cudaMalloc(&y, N * C * S * S * 4);
    kernels::convert(yh, 1, y, 0, N * C * S * S, s);
    std::vector<float> got = host(y, size_t(N * C * S * S));
    double err = 0;
    for (int nc = 0; nc < N * C; ++nc)
      for (int oy = 0; oy < S; ++oy)
        for (int ox = 0; ox < S; ++ox) {
          int y0 = oy * H / S, y1 = ((oy + 1) * H + S - 1) / S;
          int x0 = ox * W / S, x1 = ((ox + 1) * W + S - 1) / S;
          double sum = 0;
          for (int iy = y0; iy < y1; ++iy)
            for (int ix = x0; ix < x1; ++ix) sum += x[(nc * H + iy) * W + ix];
          err =
              std::max(err, std::abs(got[(nc * S + oy) * S + ox] - sum / ((y1 - y0) * (x1 - x0))));
        }
    report("adaptive_avgpool_forward fp16 13->6", err < 2e-3, err);
  }

  // bias_grad_nchw (conv1-like, N 8) and bias_grad_rows (N 300, 4096) vs host double sums.
  {
    const int64_t N = 8, C = 96, HW = 55 * 55;
    std::vector<float> g = rnd(N * C * HW, -1, 1, 9);
    float* dg = dev(g);
    float* db = nullptr;
    cudaMalloc(&db, C * 4);
    kernels::bias_grad_nchw(dg, db, N, C, HW, s);
    std::vector<float> got = host(db, C);
    double err = 0;
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0;
      for (int64_t k = 0; k < N; ++k)
        for (int64_t i = 0; i < HW; ++i) sum += g[(k * C + c) * HW + i];
      err = std::max(err, std::abs(got[c] - sum) / (1 + std::abs(sum)));
    }
    report("bias_grad_nchw", err < 1e-6, err);
    const int64_t R = 300, K = 4096;
    kernels::bias_grad_rows(dg, db, R, 96, s);  // cols 96 first: a partial tile
    got = host(db, 96);
    double err2 = 0;
    for (int64_t c = 0; c < 96; ++c) {
      double sum = 0;
      for (int64_t r = 0; r < R; ++r) sum += g[r * 96 + c];
      err2 = std::max(err2, std::abs(got[c] - sum) / (1 + std::abs(sum)));
    }
    float* db2 = nullptr;
    cudaMalloc(&db2, K * 4);
    kernels::bias_grad_rows(dg, db2, R, K, s);
    got = host(db2, K);
    for (int64_t c = 0; c < K; ++c) {
      double sum = 0;
      for (int64_t r = 0; r < R; ++r) sum += g[r * K + c];
      err2 = std::max(err2, std::abs(got[c] - sum) / (1 + std::abs(sum)));
    }
    report("bias_grad_rows", err2 < 1e-6, err2);
  }

  // maxpool_backward 3/2 with many ties (ReLU zeros) and a NaN, bitwise vs the reference rule.
  {
    const int NC = 6, H = 13, W = 12, K = 3, S = 2, OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    std::vector<float> x = rnd(NC * H * W, -1, 1, 10);
    for (auto& v : x) v = v < 0 ? 0.f : v;
    x[40] = NAN;
    std::vector<float> g = rnd(NC * OH * OW, -1, 1, 11);
    float* dxp = dev(x);
    float* dg = dev(g);
    float* out = nullptr;
    cudaMalloc(&out, x.size() * 4);
    kernels::maxpool_backward(dxp, dg, out, NC, H, W, OH, OW, K, S, s);
    std::vector<float> got = host(out, x.size());
    std::vector<double> want(x.size(), 0.0);
    for (int nc = 0; nc < NC; ++nc)
      for (int oy = 0; oy < OH; ++oy)
        for (int ox = 0; ox < OW; ++ox) {
          int64_t best = (nc * H + oy * S) * W + ox * S;
          for (int ky = 0; ky < K; ++ky)
            for (int kx = 0; kx < K; ++kx) {
              int64_t i = (nc * H + oy * S + ky) * W + ox * S + kx;
              bool nan = x[i] != x[i] && x[best] == x[best];
              if (x[i] > x[best] || nan) best = i;
            }
          want[best] += g[(nc * OH + oy) * OW + ox];
        }
    int64_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i)
      if (got[i] != static_cast<float>(want[i])) ++bad;
    report("maxpool_backward bitwise (ties, NaN)", bad == 0, double(bad));
  }

  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
