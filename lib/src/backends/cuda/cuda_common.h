// The CUDA backend's shared pieces: the per-device context (stream, cuDNN and cuBLAS
// handles, scratch), device tensors, and one check macro per API.
//
// This header is compiled by g++ only (the host side of the module). Kernels live in .cu
// files behind kernels.h, which has no alexnet or cuDNN types, so nvcc never sees oneDNN or
// the C++20 library headers it has trouble with.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>

#include "alexnet/backend.h"
#include "alexnet/error.h"
#include "alexnet/tensor.h"

namespace alexnet::cuda {

// Throws alexnet::Error: "cuda:0: cudnnConvolutionForward(...) failed: CUDNN_STATUS_BAD_PARAM
// (lib/src/backends/cuda/conv.cpp:123)". `device` is the current CUDA device of the calling thread.
[[noreturn]] void fail(const char* api, const char* call, const std::string& what, const char* file,
                       int line);
std::string cudnn_status_str(cudnnStatus_t s);
std::string cublas_status_str(cublasStatus_t s);

#define ALEXNET_CUDA(call)                                                                         \
  do {                                                                                             \
    cudaError_t alexnet_e_ = (call);                                                               \
    if (alexnet_e_ != cudaSuccess)                                                                 \
      ::alexnet::cuda::fail(                                                                       \
          "CUDA", #call,                                                                           \
          std::string(cudaGetErrorName(alexnet_e_)) + " (" + cudaGetErrorString(alexnet_e_) + ")", \
          __FILE__, __LINE__);                                                                     \
  } while (0)

#define ALEXNET_CUDNN(call)                                                                \
  do {                                                                                     \
    cudnnStatus_t alexnet_s_ = (call);                                                     \
    if (alexnet_s_ != CUDNN_STATUS_SUCCESS)                                                \
      ::alexnet::cuda::fail("cuDNN", #call, ::alexnet::cuda::cudnn_status_str(alexnet_s_), \
                            __FILE__, __LINE__);                                           \
  } while (0)

#define ALEXNET_CUBLAS(call)                                                                 \
  do {                                                                                       \
    cublasStatus_t alexnet_s_ = (call);                                                      \
    if (alexnet_s_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::alexnet::cuda::fail("cuBLAS", #call, ::alexnet::cuda::cublas_status_str(alexnet_s_), \
                            __FILE__, __LINE__);                                             \
  } while (0)

// After a kernel launch: launch errors (bad configuration, no kernel image for this GPU).
#define ALEXNET_CUDA_LAUNCHED() ALEXNET_CUDA(cudaGetLastError())

// Makes `device` current for the calling thread for the scope's lifetime. Every public
// entry point of the backend opens one: the element and the classifier call a backend from
// whichever thread runs it.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

// One per backend (= per device list entry): gpu:0,gpu:0 gives two contexts on one GPU,
// each with its own stream, so the two replicas run concurrently.
struct Context {
  explicit Context(int device, Precision precision);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device = 0;
  Precision precision = Precision::F32;  // inference activations/weights (training is fp32)
  // TF32 tensor cores for fp32 GEMMs/convolutions (env ALEXNET_CUDA_TF32=1); off: exact fp32.
  bool tf32 = false;
  std::string name;  // "cuda:0"
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;

  // Grow-only scratch on the device (cuDNN workspaces). Valid until the next call; every
  // user runs on `stream`, so reuse is ordered.
  void* workspace(size_t bytes);
  // Grow-only pinned host staging buffer (to_host / from_host).
  void* pinned(size_t bytes);
  // Two events marking when the DMA through each half of the staging buffer has finished.
  cudaEvent_t* staging_events() { return staging_done_; }
  // preprocess_frames.cpp's grow-only device buffer for raw frames (its own type, opaque here).
  std::shared_ptr<void> preprocess_state;

 private:
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  void* pinned_ = nullptr;
  size_t pinned_bytes_ = 0;
  cudaEvent_t staging_done_[2] = {nullptr, nullptr};
};

// Element types of device tensors (Tensor::dtype). Training and the fp32 precision use F32
// only. With precision fp16/bf16, inference activations between ops are F16/BF16 (2-byte
// elements behind the Tensor's buffer); to_host() converts back to fp32. Ops accept F32 input
// whatever the precision (the network's input arrives as fp32). The kernels take the dtype
// as an int: F32 = 0, F16 = 1, BF16 = 2 (kernels.h).
using alexnet::DType;
static_assert(static_cast<int>(DType::F32) == 0 && static_cast<int>(DType::F16) == 1 &&
              static_cast<int>(DType::BF16) == 2);
inline DType dtype_of(const Tensor& t) {
  return t.dtype();
}
cudnnDataType_t cudnn_type(DType t);
DType activation_dtype(Precision p);   // F32 / F16 / BF16
const char* precision_label(DType t);  // "fp32", "fp16", "bf16": as the precision property

// An uninitialised plain (N, C, H, W) device tensor on ctx.device. Its memory is freed
// (on the right device) when the last copy of the Tensor goes away.
Tensor device_tensor(Context& ctx, const Shape& shape, DType type = DType::F32);
// The op-owned output buffer: reused while shape and type are unchanged, else reallocated.
Tensor& reuse(Context& ctx, Tensor& t, const Shape& shape, DType type = DType::F32);

// Checks that `t` is a non-empty GPU tensor (plain layout, any DType); `who` starts the
// message ("layer conv1").
void require_device(const Tensor& t, const std::string& who, const char* what);
void require_shape(const Tensor& t, const Shape& want, const std::string& who, const char* what);

// 4-d NCHW float descriptor (rank-2 (N, K) tensors become (N, K, 1, 1)). RAII.
class TensorDesc {
 public:
  TensorDesc();
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  void set(const Shape& shape, DType type = DType::F32);
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

}  // namespace alexnet::cuda
