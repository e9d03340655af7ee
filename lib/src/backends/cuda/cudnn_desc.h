// RAII cuDNN descriptors and small helpers shared by the cuDNN-based ops (conv, relu, lrn,
// maxpool). Host code only (g++).
#pragma once

#include <cudnn.h>

#include <string>
#include <utility>

#include "cuda_common.h"

namespace alexnet::cuda {

// One cuDNN descriptor, created on construction and destroyed with the owner. Descriptors are
// host objects: creating one needs no current device.
template <class T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class CudnnDesc {
 public:
  CudnnDesc() { ALEXNET_CUDNN(Create(&desc_)); }
  ~CudnnDesc() {
    if (desc_) Destroy(desc_);
  }
  CudnnDesc(const CudnnDesc&) = delete;
  CudnnDesc& operator=(const CudnnDesc&) = delete;
  T get() const { return desc_; }

 private:
  T desc_ = nullptr;
};

using FilterDesc =
    CudnnDesc<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnDesc<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                           cudnnDestroyConvolutionDescriptor>;
using PoolingDesc = CudnnDesc<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor,
                              cudnnDestroyPoolingDescriptor>;
using LrnDesc =
    CudnnDesc<cudnnLRNDescriptor_t, cudnnCreateLRNDescriptor, cudnnDestroyLRNDescriptor>;
using ActivationDesc = CudnnDesc<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                 cudnnDestroyActivationDescriptor>;

// cuDNN's scaling factors: float for float, half and bfloat16 data (double only for double).
inline const float kOne = 1.0f;
inline const float kZero = 0.0f;

// Runs f(); an alexnet::Error from inside (a cuDNN/CUDA failure, an allocation) that does not
// already name the layer gets "layer conv1: " put in front, so every failure of an op says
// which layer it was.
template <class F>
decltype(auto) naming_layer(const std::string& who, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find(who) != std::string::npos) throw;
    throw Error(who + ": " + what);
  }
}

// Where backward writes a parameter gradient (as the reference's grad_target): null = not
// wanted, an empty tensor is allocated on the device, anything else must be an fp32 device
// tensor of the parameter's shape.
inline float* grad_target(Context& ctx, Tensor* g, const Shape& want, const std::string& who,
                          const char* what) {
  if (g == nullptr) return nullptr;
  if (g->empty()) *g = device_tensor(ctx, want);
  require_f32_tensor(*g, want, who, what);
  return g->data();
}

}  // namespace alexnet::cuda
