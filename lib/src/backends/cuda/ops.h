// The CUDA backend's ops, one file per layer kind; all run on their context's stream.
#pragma once

#include <memory>
#include <span>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "cuda_common.h"

namespace alexnet::cuda {

using ContextPtr = std::shared_ptr<Context>;

std::unique_ptr<Op> make_conv_op(ContextPtr ctx, const LayerSpec& spec);     // conv.cpp
std::unique_ptr<Op> make_relu_op(ContextPtr ctx, const LayerSpec& spec);     // relu.cpp
std::unique_ptr<Op> make_lrn_op(ContextPtr ctx, const LayerSpec& spec);      // lrn.cpp
std::unique_ptr<Op> make_maxpool_op(ContextPtr ctx, const LayerSpec& spec);  // maxpool.cpp
std::unique_ptr<Op> make_avgpool_op(ContextPtr ctx, const LayerSpec& spec);  // avgpool.cpp
std::unique_ptr<Op> make_linear_op(ContextPtr ctx, const LayerSpec& spec);   // linear.cpp
std::unique_ptr<Op> make_dropout_op(ContextPtr ctx, const LayerSpec& spec);  // dropout.cpp

// Backend::preprocess on the GPU (preprocess_frames.cpp): uploads the frames' planes and runs
// one fused kernel into dst (N, channels, size, size), fp32 whatever the precision (ops take
// fp32 input).
bool preprocess_frames(Context& ctx, std::span<const Frame> frames, const PreprocessConfig& cfg,
                       int channels, int size, Tensor& dst);

}  // namespace alexnet::cuda
