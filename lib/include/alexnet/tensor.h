// Tensor: a shape and a buffer of one element type on one device.
//
// Host tensors, weights, gradients and training activations are F32 (the default). A backend
// may keep inference activations in a narrower type (the CUDA backend's fp16/bf16; int8 on
// the CPU later): dtype() says which, element_size() how wide, nbytes() how big the elements
// are; data() is then a float* only by its declaration (use raw() for such buffers).
//
// Shapes are row-major (N, C, H, W) for activations, (N, K) for logits, (O, I/groups, KH, KW)
// for convolution weights and (O, I) for fully connected weights. A tensor may carry an opaque
// backend layout (for instance oneDNN's blocked nChw8c): only the backend that made it reads
// it, and Backend::to_host() turns any tensor back into the plain row-major layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace alexnet {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "(2, 3, 227, 227)"
int64_t shape_numel(const Shape& s);    // product; throws alexnet::Error on overflow/negative

enum class DeviceKind { Cpu, Gpu };

// Element types. Safetensors files name F32, F16 and BF16 (weights.h); the others are for
// quantised inference (s8 weights, u8/s8 activations, s32 accumulators).
enum class DType : uint8_t { F32, F16, BF16, S8, U8, S32 };
size_t dtype_size(DType t);       // 4, 2, 2, 1, 1, 4
const char* dtype_name(DType t);  // "f32", "f16", "bf16", "s8", "u8", "s32"

class Tensor {
 public:
  Tensor() = default;
  // A zero-filled host tensor in the plain layout, 64-byte aligned.
  explicit Tensor(Shape shape);
  // Wraps memory someone else owns (keep `owner` alive). `capacity` is in elements of `dtype`.
  Tensor(Shape shape, float* data, size_t capacity, std::shared_ptr<void> owner,
         DeviceKind device = DeviceKind::Cpu, std::shared_ptr<const void> layout = nullptr,
         DType dtype = DType::F32);

  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i)); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  bool empty() const { return data_ == nullptr; }
  size_t capacity() const { return capacity_; }  // elements in the buffer (>= numel if blocked)
  DType dtype() const { return dtype_; }
  size_t element_size() const { return dtype_size(dtype_); }
  size_t nbytes() const { return static_cast<size_t>(numel_) * element_size(); }

  float* data() { return data_; }  // F32 elements (see dtype())
  const float* data() const { return data_; }
  void* raw() { return data_; }  // the buffer, whatever its dtype
  const void* raw() const { return data_; }
  DeviceKind device() const { return device_; }

  // nullptr = plain row-major layout.
  const std::shared_ptr<const void>& layout() const { return layout_; }
  bool is_plain() const { return layout_ == nullptr; }

  // Same buffer seen with another shape of the same element count (plain layout only).
  Tensor reshaped(Shape shape) const;
  // A deep host copy (plain layouts only; see Backend::to_host for others).
  Tensor clone() const;

 private:
  Shape shape_;
  int64_t numel_ = 0;
  float* data_ = nullptr;
  size_t capacity_ = 0;
  std::shared_ptr<void> owner_;
  DeviceKind device_ = DeviceKind::Cpu;
  std::shared_ptr<const void> layout_;
  DType dtype_ = DType::F32;
};

// Rows [begin, end) along the first dimension of a plain F32 host tensor (a batch slice, the
// output channels of a weight), as a new tensor; an Error when the range is out of bounds.
Tensor copy_rows(const Tensor& t, int64_t begin, int64_t end);

}  // namespace alexnet
