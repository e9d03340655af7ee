#include "alexnet/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "alexnet/error.h"

namespace alexnet {

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw Error("negative dimension in shape " + shape_str(s));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw Error("shape " + shape_str(s) + " overflows 64-bit element count");
    n *= d;
  }
  return n;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F16:
    case DType::BF16:
      return 2;
    case DType::S8:
    case DType::U8:
      return 1;
    case DType::F32:
    case DType::S32:
      return 4;
  }
  throw Error("unknown tensor dtype " + std::to_string(static_cast<int>(t)));
}

const char* dtype_name(DType t) {
  static constexpr std::pair<DType, const char*> kNames[] = {
      {DType::F32, "f32"}, {DType::F16, "f16"}, {DType::BF16, "bf16"},
      {DType::S8, "s8"},   {DType::U8, "u8"},   {DType::S32, "s32"}};
  for (const auto& [dtype, name] : kNames)
    if (dtype == t) return name;
  return "?";
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)), numel_(shape_numel(shape_)) {
  size_t bytes = (static_cast<size_t>(numel_) * sizeof(float) + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw Error("out of memory allocating tensor " + shape_str(shape_));
  std::memset(p, 0, bytes);
  owner_ = std::shared_ptr<void>(p, std::free);
  data_ = static_cast<float*>(p);
  capacity_ = static_cast<size_t>(numel_);
}

Tensor::Tensor(Shape shape, float* data, size_t capacity, std::shared_ptr<void> owner,
               DeviceKind device, std::shared_ptr<const void> layout, DType dtype)
    : shape_(std::move(shape)),
      numel_(shape_numel(shape_)),
      data_(data),
      capacity_(capacity),
      owner_(std::move(owner)),
      device_(device),
      layout_(std::move(layout)),
      dtype_(dtype) {
  if (layout_ == nullptr && capacity_ < static_cast<size_t>(numel_))
    throw Error("tensor buffer of " + std::to_string(capacity_) + " " + dtype_name(dtype_) +
                " elements is too small for " + shape_str(shape_));
}

Tensor Tensor::reshaped(Shape shape) const {
  if (!is_plain()) throw Error("reshape of a tensor in a backend layout");
  if (shape_numel(shape) != numel_)
    throw Error("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  return Tensor(std::move(shape), data_, capacity_, owner_, device_, nullptr, dtype_);
}

Tensor Tensor::clone() const {
  if (!is_plain() || device_ != DeviceKind::Cpu || dtype_ != DType::F32)
    throw Error("clone() needs a plain f32 host tensor; use Backend::to_host");
  Tensor t(shape_);
  if (numel_) std::memcpy(t.data(), data_, static_cast<size_t>(numel_) * sizeof(float));
  return t;
}

Tensor copy_rows(const Tensor& t, int64_t begin, int64_t end) {
  if (!t.is_plain() || t.device() != DeviceKind::Cpu || t.dtype() != DType::F32 || t.rank() < 1)
    throw Error("copy_rows needs a plain f32 host tensor of rank >= 1");
  if (begin < 0 || end < begin || end > t.dim(0))
    throw Error("copy_rows: rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                shape_str(t.shape()));
  Shape s = t.shape();
  const int64_t per = s[0] ? t.numel() / s[0] : 0;
  s[0] = end - begin;
  Tensor out(s);
  if (out.numel())
    std::memcpy(out.data(), t.data() + begin * per,
                static_cast<size_t>((end - begin) * per) * sizeof(float));
  return out;
}

}  // namespace alexnet
