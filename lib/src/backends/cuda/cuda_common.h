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
#include "fault_injection.h"

namespace alexnet::cuda {

// Throws alexnet::Error: "cuda:0: cudnnConvolutionForward(...) failed: CUDNN_STATUS_BAD_PARAM
// (lib/src/backends/cuda/conv.cpp:123)". `device` is the current CUDA device of the calling thread.
[[noreturn]] void fail(const char* api, const char* call, const std::string& what, const char* file,
                       int line);
std::string cuda_error_str(cudaError_t e);  // "cudaErrorMemoryAllocation (out of memory)"
std::string cudnn_status_str(cudnnStatus_t s);
std::string cublas_status_str(cublasStatus_t s);

// One check macro per API (the call's text goes into the message); all three share this body:
// `status` is the call's result, `ok` the API's success value, `describe` names a failure.
#define ALEXNET_CHECK_STATUS(api, call_text, status, ok, describe)                           \
  do {                                                                                       \
    const auto alexnet_s_ = (status);                                                        \
    if (alexnet_s_ != (ok))                                                                  \
      ::alexnet::cuda::fail(api, call_text, ::alexnet::cuda::describe(alexnet_s_), __FILE__, \
                            __LINE__);                                                       \
  } while (0)

// The same, for a call that ALEXNET_CUDA_FAULT may fail (fault_injection.h): then `injected`
// stands for the call's result, the call is not made, and the error says it was injected.
#define ALEXNET_CHECK_INJECTABLE(api, call_text, fault, injected, status, ok, describe)    \
  do {                                                                                     \
    const bool alexnet_inj_ = ::alexnet::cuda::inject_fault(fault);                        \
    const auto alexnet_s_ = alexnet_inj_ ? (injected) : (status);                          \
    if (alexnet_s_ != (ok))                                                                \
      ::alexnet::cuda::fail(api, call_text,                                                \
                            ::alexnet::cuda::describe(alexnet_s_) +                        \
                                (alexnet_inj_ ? " (injected by ALEXNET_CUDA_FAULT)" : ""), \
                            __FILE__, __LINE__);                                           \
  } while (0)

#define ALEXNET_CUDA(call) ALEXNET_CHECK_STATUS("CUDA", #call, call, cudaSuccess, cuda_error_str)
#define ALEXNET_CUDNN(call)                                                           \
  ALEXNET_CHECK_INJECTABLE("cuDNN", #call, ::alexnet::cuda::Fault::Cudnn,             \
                           CUDNN_STATUS_EXECUTION_FAILED, call, CUDNN_STATUS_SUCCESS, \
                           cudnn_status_str)
#define ALEXNET_CUBLAS(call) \
  ALEXNET_CHECK_STATUS("cuBLAS", #call, call, CUBLAS_STATUS_SUCCESS, cublas_status_str)

// After a kernel launch: launch errors (bad configuration, no kernel image for this GPU).
#define ALEXNET_CUDA_LAUNCHED()                                                    \
  ALEXNET_CHECK_INJECTABLE("CUDA", "cudaGetLastError() after a kernel launch",     \
                           ::alexnet::cuda::Fault::Launch, cudaErrorLaunchFailure, \
                           cudaGetLastError(), cudaSuccess, cuda_error_str)

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
  ~Context();  // release()
  Context(const Context&) = delete;
  // Frees what exists (the constructor's partial work when one of its calls failed, too);
  // never throws: errors here (a GPU that already failed) are ignored.
  void release() noexcept;
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

// x's data in element type `to`: x's own buffer when it has that type already, else a copy
// converted into `buf` (reused while shape and type stay).
const void* as_dtype(Context& ctx, const Tensor& x, DType to, Tensor& buf);

// The fp16/bf16 copy of an fp32 weight tensor that half-precision inference reads, converted
// again only when the weights' version, their buffer or the type changes.
class HalfWeights {
 public:
  const void* get(Context& ctx, const Tensor& w, uint64_t version, DType type);

 private:
  Tensor copy_;
  uint64_t version_ = 0;
  const float* source_ = nullptr;
};

// Checks that `t` is a non-empty GPU tensor (plain layout, any DType); `who` starts the
// message ("layer conv1").
void require_device(const Tensor& t, const std::string& who, const char* what);
void require_shape(const Tensor& t, const Shape& want, const std::string& who, const char* what);
// Training tensors are fp32; `what` names the tensor in the message.
inline void require_f32(const Tensor& t, const std::string& who, const char* what) {
  DType d = dtype_of(t);
  if (d != DType::F32)
    throw Error(who + ": " + what + " is " + precision_label(d) +
                "; training and backward run in fp32");
}
// A tensor backward reads (dy, y, a parameter): on the device, of shape `want`, fp32.
inline void require_f32_tensor(const Tensor& t, const Shape& want, const std::string& who,
                               const char* what) {
  require_device(t, who, what);
  require_shape(t, want, who, what);
  require_f32(t, who, what);
}

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
