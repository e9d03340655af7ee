// The CUDA backend's context, device tensors and error reporting.
#include "cuda_common.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels.h"

namespace alexnet::cuda {

void fail(const char* api, const char* call, const std::string& what, const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);  // best effort: only names the device in the message
  char where[64];
  std::snprintf(where, sizeof where, "%d", line);
  throw Error("cuda:" + std::to_string(device) + ": " + api + " call " + call + " failed: " + what +
              " (" + file + ":" + where + ")");
}

std::string cuda_error_str(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

std::string cudnn_status_str(cudnnStatus_t s) {
  return cudnnGetErrorString(s);
}

std::string cublas_status_str(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED (out of GPU memory)";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    default:
      return "cuBLAS status " + std::to_string(static_cast<int>(s));
  }
}

DeviceScope::DeviceScope(int device) {
  ALEXNET_CUDA(cudaGetDevice(&previous_));
  if (previous_ != device) ALEXNET_CUDA(cudaSetDevice(device));
}

DeviceScope::~DeviceScope() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_ && previous_ >= 0)
    cudaSetDevice(previous_);
}

Context::Context(int dev, Precision prec) : device(dev), precision(prec) {
  name = "cuda:" + std::to_string(device);
  const char* tf32_env = std::getenv("ALEXNET_CUDA_TF32");
  tf32 = tf32_env != nullptr && std::string(tf32_env) == "1";
  DeviceScope scope(device);
  try {
    ALEXNET_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    ALEXNET_CUDNN(cudnnCreate(&cudnn));
    ALEXNET_CUDNN(cudnnSetStream(cudnn, stream));
    ALEXNET_CUBLAS(cublasCreate(&cublas));
    ALEXNET_CUBLAS(cublasSetStream(cublas, stream));
    for (cudaEvent_t& e : staging_done_)
      ALEXNET_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  } catch (...) {
    release();  // no destructor runs for a constructor that throws
    throw;
  }
}

Context::~Context() {
  release();
}

void Context::release() noexcept {
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(device);
  if (stream) cudaStreamSynchronize(stream);
  if (workspace_) cudaFree(workspace_);
  if (pinned_) cudaFreeHost(pinned_);
  for (cudaEvent_t e : staging_done_)
    if (e) cudaEventDestroy(e);
  if (cublas) cublasDestroy(cublas);
  if (cudnn) cudnnDestroy(cudnn);
  if (stream) cudaStreamDestroy(stream);
  if (previous >= 0) cudaSetDevice(previous);
}

namespace {

// One step of a grow-only buffer: when `bytes` exceed what it has, the old buffer (which work
// queued on `stream` may still use) is freed once the stream is idle, and a larger one made.
template <class Alloc, class Free>
void* grow(void*& buffer, size_t& have, size_t bytes, cudaStream_t stream, Alloc alloc,
           Free release) {
  if (bytes <= have) return buffer;
  if (buffer) {
    ALEXNET_CUDA(cudaStreamSynchronize(stream));
    ALEXNET_CUDA(release(buffer));
    buffer = nullptr;
    have = 0;
  }
  ALEXNET_CUDA(alloc(&buffer, bytes));
  have = bytes;
  return buffer;
}

}  // namespace

void* Context::workspace(size_t bytes) {
  return grow(
      workspace_, workspace_bytes_, bytes, stream,
      [](void** p, size_t n) {
        return inject_fault(Fault::Malloc) ? cudaErrorMemoryAllocation : cudaMalloc(p, n);
      },
      [](void* p) { return cudaFree(p); });
}

void* Context::pinned(size_t bytes) {
  return grow(
      pinned_, pinned_bytes_, bytes, stream,
      [](void** p, size_t n) { return cudaMallocHost(p, n); },
      [](void* p) { return cudaFreeHost(p); });
}

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::F16:
      return CUDNN_DATA_HALF;
    case DType::BF16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

DType activation_dtype(Precision p) {
  return p == Precision::F16 ? DType::F16 : p == Precision::BF16 ? DType::BF16 : DType::F32;
}

const char* precision_label(DType t) {
  return t == DType::F16 ? "fp16" : t == DType::BF16 ? "bf16" : "fp32";
}

Tensor device_tensor(Context& ctx, const Shape& shape, DType type) {
  int64_t n = shape_numel(shape);
  size_t bytes = static_cast<size_t>(n > 0 ? n : 1) * dtype_size(type);
  void* p = nullptr;
  const bool injected = inject_fault(Fault::Malloc);
  cudaError_t e = injected ? cudaErrorMemoryAllocation : cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error(ctx.name + ": out of GPU memory allocating " + shape_str(shape) + " (" +
                std::to_string(bytes >> 20) + " MiB; " + std::to_string(free_b >> 20) +
                " MiB free of " + std::to_string(total_b >> 20) + " MiB): " +
                cudaGetErrorString(e) + (injected ? " (injected by ALEXNET_CUDA_FAULT)" : ""));
  }
  int device = ctx.device;
  std::shared_ptr<void> owner(p, [device](void* q) {
    int previous = -1;
    cudaGetDevice(&previous);
    if (previous != device) cudaSetDevice(device);
    cudaFree(q);
    if (previous >= 0 && previous != device) cudaSetDevice(previous);
  });
  return Tensor(shape, static_cast<float*>(p), static_cast<size_t>(n), std::move(owner),
                DeviceKind::Gpu, nullptr, type);
}

Tensor& reuse(Context& ctx, Tensor& t, const Shape& shape, DType type) {
  if (t.empty() || t.shape() != shape || dtype_of(t) != type) t = device_tensor(ctx, shape, type);
  return t;
}

const void* as_dtype(Context& ctx, const Tensor& x, DType to, Tensor& buf) {
  const DType from = dtype_of(x);
  if (from == to) return x.data();
  reuse(ctx, buf, x.shape(), to);
  kernels::convert(x.data(), int(from), buf.data(), int(to), x.numel(), ctx.stream);
  ALEXNET_CUDA_LAUNCHED();
  return buf.data();
}

const void* HalfWeights::get(Context& ctx, const Tensor& w, uint64_t version, DType type) {
  if (copy_.empty() || dtype_of(copy_) != type || version_ != version || source_ != w.data()) {
    reuse(ctx, copy_, w.shape(), type);
    kernels::convert(w.data(), int(DType::F32), copy_.data(), int(type), w.numel(), ctx.stream);
    ALEXNET_CUDA_LAUNCHED();
    version_ = version;
    source_ = w.data();
  }
  return copy_.data();
}

void require_device(const Tensor& t, const std::string& who, const char* what) {
  if (t.empty()) throw Error(who + ": " + what + " is empty");
  if (t.device() != DeviceKind::Gpu)
    throw Error(who + ": " + what +
                " is a host tensor; the cuda backend needs a GPU tensor "
                "(use Backend::from_host)");
  if (!t.is_plain()) throw Error(who + ": " + what + " is in another backend's layout");
}

void require_shape(const Tensor& t, const Shape& want, const std::string& who, const char* what) {
  if (t.shape() != want)
    throw Error(who + ": " + what + " has shape " + shape_str(t.shape()) + ", expected " +
                shape_str(want));
}

TensorDesc::TensorDesc() {
  ALEXNET_CUDNN(cudnnCreateTensorDescriptor(&desc_));
}

TensorDesc::~TensorDesc() {
  if (desc_) cudnnDestroyTensorDescriptor(desc_);
}

void TensorDesc::set(const Shape& s, DType dtype) {
  cudnnDataType_t type = cudnn_type(dtype);
  int n = 1, c = 1, h = 1, w = 1;
  if (s.size() == 4) {
    n = int(s[0]), c = int(s[1]), h = int(s[2]), w = int(s[3]);
  } else if (s.size() == 2) {
    n = int(s[0]), c = int(s[1]);
  } else {
    throw Error("cuda: a tensor descriptor needs rank 2 or 4, got " + shape_str(s));
  }
  ALEXNET_CUDNN(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, type, n, c, h, w));
}

}  // namespace alexnet::cuda
