// The fused preprocessing kernel (declared in preprocess_kernel.h): each thread computes one
// output pixel of one frame, all channels, with the host reference's arithmetic
// (lib/src/preprocess/preprocess_pixel.h). Built by nvcc with --fmad=false like kernels.cu: the
// pixel code mirrors the reference's float operations one by one, and fused multiply-adds would
// round differently.
#include <cuda_runtime.h>

#include <cstdint>

// The module exports only its C entry points (backend_cuda.cpp): nvcc compiles this file
// without meson's -fvisibility=hidden, so the launcher is hidden here.
#pragma GCC visibility push(hidden)
#include "preprocess_kernel.h"

namespace alexnet::cuda::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxFramesPerLaunch = 65535;  // gridDim.y's limit

// Grid: x covers a frame's size × size pixels, y the frames (at most kMaxFramesPerLaunch).
__global__ void preprocess_kernel(const pixel::PixelJob* jobs, const uint8_t* bytes, int channels,
                                  int size, float* out) {
  const int64_t plane = int64_t{size} * size;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= plane) return;
  const int n = blockIdx.y;
  const int y = static_cast<int>(i / size), x = static_cast<int>(i % size);
  // (N, C, H, W): frame n's channel c at out[(n·C + c)·plane + y·size + x].
  float* o = out + static_cast<int64_t>(n) * channels * plane + i;
  pixel::preprocess_pixel(jobs[n], bytes, x, y, o, plane);
}

}  // namespace

void preprocess_frames(const pixel::PixelJob* jobs, const uint8_t* bytes, int n, int channels,
                       int size, float* out, cudaStream_t stream) {
  const int64_t plane = int64_t{size} * size;
  if (n <= 0 || plane <= 0) return;
  for (int first = 0; first < n; first += kMaxFramesPerLaunch) {
    const int count = n - first < kMaxFramesPerLaunch ? n - first : kMaxFramesPerLaunch;
    const dim3 grid(static_cast<unsigned>((plane + kThreads - 1) / kThreads),
                    static_cast<unsigned>(count));
    preprocess_kernel<<<grid, kThreads, 0, stream>>>(jobs + first, bytes, channels, size,
                                                     out + int64_t{first} * channels * plane);
  }
}

}  // namespace alexnet::cuda::kernels

#pragma GCC visibility pop
