// libalexnet-cuda.so: the GPU side of libalexnet, loaded with dlopen (lib/src/device.cpp).
// Its entry points are plain C so the host library needs no CUDA headers. The CUDA runtime
// is linked statically: the module loads even without a driver and says why no GPU works.
//
// Today it answers how many GPUs there are; the cuDNN/cuBLAS backend joins it in the CUDA
// issue.
#include <cuda_runtime.h>

#include <cstdio>

extern "C" int alexnet_cuda_device_count(char* reason, int reason_size) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    std::snprintf(reason, static_cast<size_t>(reason_size), "cudaGetDeviceCount: %s (%s)",
                  cudaGetErrorName(err), cudaGetErrorString(err));
    return 0;
  }
  if (count == 0) std::snprintf(reason, static_cast<size_t>(reason_size), "no CUDA device present");
  return count;
}
