// The fused preprocessing kernel (preprocess.cu, built by nvcc): raw frames → the network input.
// Shared by g++ (preprocess_frames.cpp) and nvcc code: cuda_runtime.h and the plain-data job
// description (lib/src/preprocess/preprocess_pixel.h) only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "preprocess/preprocess_pixel.h"

namespace alexnet::cuda::kernels {

// out (n, jobs[i].channels, size, size) fp32 = preprocess() of frame i for every i < n: one
// thread per output pixel, all channels. `jobs` (n entries) and `bytes` (the frames' planes,
// at the jobs' offsets) are device memory; every job has the same channels and size. Enqueues
// on `stream` and returns; the caller checks launch errors (ALEXNET_CUDA_LAUNCHED).
void preprocess_frames(const pixel::PixelJob* jobs, const uint8_t* bytes, int n, int channels,
                       int size, float* out, cudaStream_t stream);

}  // namespace alexnet::cuda::kernels
