// The CUDA backend's ops, one file per layer kind; all run on their context's stream.
#pragma once

#include <memory>
#include <span>

#include <string>
#include <utility>

#include "alexnet/backend.h"
#include "alexnet/config.h"
#include "backends/op_common.h"
#include "cuda_common.h"

namespace alexnet::cuda {

using ContextPtr = std::shared_ptr<Context>;

// What every op of this backend keeps: its context, its spec, the start of its error
// messages ("layer conv1"), and its output and input-gradient buffers (reused while shape and
// type stay).
class CudaOp : public Op {
 public:
  CudaOp(ContextPtr ctx, const LayerSpec& spec) : ctx_(std::move(ctx)), spec_(spec) {
    check_layer_spec(spec);
  }

 protected:
  // Training runs in fp32: a 16-bit x (an inference activation) is refused.
  void require_f32_when_training(const Tensor& x, bool training) const {
    const DType xt = dtype_of(x);
    if (training && xt != DType::F32)
      throw Error(who_ + ": input x is " + precision_label(xt) + "; training runs in fp32");
  }

  // The start of a backward that reads x: x and dy on this GPU and fp32, dy of the shape
  // forward gives for x (returned).
  Shape require_f32_x_dy(const Tensor& x, const Tensor& dy) const {
    require_device(x, who_, "input x");
    require_f32(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());
    require_f32_tensor(dy, out, who_, "gradient dy");
    return out;
  }

  // The start of a backward that reads only x's shape (pooling to a fixed size, dropout): dy
  // on this GPU, of the shape forward gives for x, fp32.
  void require_f32_dy(const Tensor& x, const Tensor& dy) const {
    require_device(dy, who_, "gradient dy");
    require_shape(dy, spec_.output_shape(x.shape()), who_, "gradient dy");
    if (dtype_of(dy) != DType::F32) throw Error(who_ + ": backward needs an fp32 dy");
  }

  // backward's answer when the caller wants no dx.
  const Tensor& no_dx() {
    dx_ = Tensor();
    return dx_;
  }

  ContextPtr ctx_;
  LayerSpec spec_;
  std::string who_ = "layer " + spec_.name;  // starts error messages
  Tensor y_, dx_;
};

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
