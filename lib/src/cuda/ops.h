// The CUDA backend's ops, one file per layer kind; all run on their context's stream.
#pragma once

#include <memory>

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

}  // namespace alexnet::cuda
