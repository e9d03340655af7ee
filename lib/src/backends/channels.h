// Channel-range copies between tensors (Backend::add_channels), shared by the backends.
#pragma once

#include <cstdint>

#include "alexnet/tensor.h"

namespace alexnet {

// The geometry of dst[:, dst_begin + c] += src[:, src_begin + c], c in [0, count):
// `batch` rows, each moving `count * inner` floats from row stride `src_row` (floats) at
// offset `src_offset` to row stride `dst_row` at offset `dst_offset`.
struct ChannelCopy {
  int64_t batch = 0, inner = 0, count = 0;
  int64_t src_row = 0, src_offset = 0;
  int64_t dst_row = 0, dst_offset = 0;
};

// Checks the shapes and ranges of an add_channels call (by shape only: layouts are the
// backend's business) and returns its geometry; throws alexnet::Error naming both shapes and
// the ranges when they do not fit.
ChannelCopy plan_channel_copy(const Tensor& src, int64_t src_begin, const Tensor& dst,
                              int64_t dst_begin, int64_t count);

// The host loop: dst (plain host floats) += src (plain host floats) for a plan.
void add_channels_host(const float* src, float* dst, const ChannelCopy& plan);

}  // namespace alexnet
