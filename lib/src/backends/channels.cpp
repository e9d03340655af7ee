#include "backends/channels.h"

#include <cstring>

#include "alexnet/backend.h"
#include "alexnet/error.h"

namespace alexnet {

ChannelCopy plan_channel_copy(const Tensor& src, int64_t src_begin, const Tensor& dst,
                              int64_t dst_begin, int64_t count) {
  auto where = [&] {
    return "add_channels: src " + shape_str(src.shape()) + " channels [" +
           std::to_string(src_begin) + ", " + std::to_string(src_begin + count) + ") → dst " +
           shape_str(dst.shape()) + " channels [" + std::to_string(dst_begin) + ", " +
           std::to_string(dst_begin + count) + ")";
  };
  if (src.empty() || dst.empty()) throw Error(where() + ": empty tensor");
  if (src.rank() != dst.rank() || (src.rank() != 2 && src.rank() != 4))
    throw Error(where() + ": expected two (N, C) or two (N, C, H, W) tensors");
  for (int d = 0; d < src.rank(); ++d)
    if (d != 1 && src.dim(d) != dst.dim(d))
      throw Error(where() + ": the shapes differ outside the channel dimension");
  if (count < 0 || src_begin < 0 || dst_begin < 0 || src_begin + count > src.dim(1) ||
      dst_begin + count > dst.dim(1))
    throw Error(where() + ": channel range out of bounds");
  ChannelCopy p;
  p.batch = src.dim(0);
  p.inner = src.rank() == 4 ? src.dim(2) * src.dim(3) : 1;
  p.count = count;
  p.src_row = src.dim(1) * p.inner;
  p.src_offset = src_begin * p.inner;
  p.dst_row = dst.dim(1) * p.inner;
  p.dst_offset = dst_begin * p.inner;
  return p;
}

void add_channels_host(const float* src, float* dst, const ChannelCopy& p) {
  const int64_t run = p.count * p.inner;
  for (int64_t n = 0; n < p.batch; ++n) {
    const float* s = src + n * p.src_row + p.src_offset;
    float* d = dst + n * p.dst_row + p.dst_offset;
    for (int64_t i = 0; i < run; ++i) d[i] += s[i];
  }
}

void Backend::fill_zero(Tensor& t) {
  if (t.device() == DeviceKind::Cpu && t.is_plain()) {
    synchronize();  // nothing queued may still write it
    std::memset(t.data(), 0, static_cast<size_t>(t.numel()) * sizeof(float));
  } else {
    t = zeros(t.shape());
  }
}

// The default: through host memory. Host tensors in the plain layout are used in place; any
// other tensor (a oneDNN blocked layout, device memory) makes a round trip through to_host.
void Backend::add_channels(const Tensor& src, Backend& src_backend, int64_t src_begin, Tensor& dst,
                           int64_t dst_begin, int64_t count) {
  const ChannelCopy plan = plan_channel_copy(src, src_begin, dst, dst_begin, count);
  if (count == 0 || plan.batch == 0) return;
  src_backend.synchronize();
  const bool src_host = src.device() == DeviceKind::Cpu && src.is_plain();
  const Tensor s = src_host ? src : src_backend.to_host(src);
  if (dst.device() == DeviceKind::Cpu && dst.is_plain()) {
    synchronize();
    add_channels_host(s.data(), dst.data(), plan);
    return;
  }
  Tensor d = to_host(dst);
  add_channels_host(s.data(), d.data(), plan);
  dst = from_host(d);
}

}  // namespace alexnet
