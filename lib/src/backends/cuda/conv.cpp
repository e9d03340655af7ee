// Legacy cuDNN API (deprecated in cuDNN 9): plan to move convolution and pooling to the graph
// API (cudnn_frontend-free backend descriptors) when the legacy API is removed.
//
// Convolution (+ bias, + fused ReLU) on cuDNN, cross-correlation like the reference:
//
//   x (N, C, H, W) · w (O, C/g, K, K) · b (O) → y (N, O, OH, OW), plain NCHW
//
// forward:  cudnnConvolutionForward, then kernels::bias_act_nchw adds b and applies the ReLU
//           in one pass (any dtype; fp32 bias).
// backward: dz = dy ⊙ [y > 0] when the ReLU is fused (y > 0 ⇔ pre-activation > 0), then
//           dW = cudnnConvolutionBackwardFilter(x, dz), db = Σ_{n,h,w} dz (double sums),
//           dx = cudnnConvolutionBackwardData(w, dz) when wanted.
//
// Precision: training and precision fp32 compute in true fp32 (CUDNN_FMA_MATH: no TF32 on
// Ampere/Hopper) unless Context::tf32. Inference at fp16/bf16 runs x, w and y in that type
// (w converted once per OpParams::version, an fp32 x converted on entry), accumulating in fp32
// (compute type float, tensor-op math).
//
// Algorithms: measured with cuDNN's Find (or its heuristics, see find_algos()) once per
// (input shape, dtype), backward's on the first backward; ALEXNET_CUDA_LOG_ALGOS=1 prints
// each choice to stderr.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cudnn_desc.h"
#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

// The largest workspace an algorithm may ask for: FFT variants can want gigabytes at large
// batches; the next algorithm in the heuristics' order is rarely much slower.
constexpr size_t kMaxWorkspace = size_t{1} << 30;

// How algorithms are chosen, once per shape: "find" (default) runs every candidate once and
// ranks them by measured time (cuDNN's Find, like PyTorch's cudnn.benchmark: the first call
// of a shape takes longer); "heuristic" takes cuDNN's ranked guess (…_v7), instant but often
// slower. ALEXNET_CUDA_CONV_ALGO=heuristic selects the latter.
bool find_algos() {
  static const bool on = [] {
    const char* e = std::getenv("ALEXNET_CUDA_CONV_ALGO");
    return e == nullptr || std::string(e) != "heuristic";
  }();
  return on;
}

bool log_algos() {
  static const bool on = [] {
    const char* e = std::getenv("ALEXNET_CUDA_LOG_ALGOS");
    return e != nullptr && std::string(e) == "1";
  }();
  return on;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH:
      return "default";
    case CUDNN_TENSOR_OP_MATH:
      return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
      return "tensor-op+conversion";
    case CUDNN_FMA_MATH:
      return "fma";
  }
  return "?";
}

// fp32 skips the FFT and non-fused Winograd families: on an H100 (tests/gpu/results/
// 2026-11-27-h100-run1), backward-filter WINOGRAD_NONFUSED on conv2 (5x5) was off by 3.5e-3
// of max|dW|, 17 times the tolerance every other algorithm meets. Half precision and TF32
// (already approximate) may use them.
bool accurate(cudnnConvolutionFwdAlgo_t a) {
  return a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool accurate(cudnnConvolutionBwdDataAlgo_t a) {
  return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT &&
         a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool accurate(cudnnConvolutionBwdFilterAlgo_t a) {
  return a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT &&
         a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING &&
         a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

class ConvOp final : public CudaOp {
 public:
  using CudaOp::CudaOp;

  const Tensor& forward(const Tensor& x, const OpParams& p, bool training) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_, [&]() -> const Tensor& { return run_forward(x, p, training); });
  }

  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                         bool need_dx) override {
    DeviceScope scope(ctx_->device);
    return naming_layer(who_,
                        [&]() -> const Tensor& { return run_backward(x, y, dy, p, need_dx); });
  }

 private:
  // Descriptors and algorithms for one input shape and one data type.
  struct Plan {
    Shape x_shape, y_shape;
    DType dtype = DType::F32;
    TensorDesc x, y;  // y doubles as dy's / dz's descriptor
    FilterDesc w;
    // One convolution descriptor per direction: each carries the math type of its algorithm.
    ConvDesc fwd, bwd_data, bwd_filter;
    cudnnConvolutionFwdAlgo_t fwd_algo{};
    size_t fwd_ws = 0;
    bool bwd_ready = false;
    cudnnConvolutionBwdDataAlgo_t data_algo{};
    size_t data_ws = 0;
    cudnnConvolutionBwdFilterAlgo_t filter_algo{};
    size_t filter_ws = 0;
  };

  const Tensor& run_forward(const Tensor& x, const OpParams& p, bool training) {
    require_device(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());  // checks rank, channels, size
    const Tensor& w = param(p.weight, spec_.weight_shape(), "weight");
    const Tensor& b = param(p.bias, spec_.bias_shape(), "bias");
    require_f32_when_training(x, training);
    // The type the convolution runs in: fp32 for training, else the backend's precision.
    const DType at = training ? DType::F32 : activation_dtype(ctx_->precision);
    cudaStream_t s = ctx_->stream;

    // e.g. the network's fp32 input at precision fp16: (N, C, H, W) in `at`
    const void* xin = as_dtype(*ctx_, x, at, x_conv_);
    const void* win = at == DType::F32 ? static_cast<const void*>(w.data())
                                       : w_half_.get(*ctx_, w, p.version, at);

    Plan& pl = plan(x.shape(), at);
    Tensor& y = reuse(*ctx_, y_, out, at);
    void* ws = ctx_->workspace(pl.fwd_ws);
    ALEXNET_CUDNN(cudnnConvolutionForward(ctx_->cudnn, &kOne, pl.x.get(), xin, pl.w.get(), win,
                                          pl.fwd.get(), pl.fwd_algo, ws, pl.fwd_ws, &kZero,
                                          pl.y.get(), y.data()));
    kernels::bias_act_nchw(y.data(), b.data(), out[0], out[1], out[2] * out[3], spec_.fused_relu,
                           int(at), s);
    ALEXNET_CUDA_LAUNCHED();
    return y;
  }

  const Tensor& run_backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                             bool need_dx) {
    // Every check before any work, so a mistake leaves the gradients untouched.
    Shape out = require_f32_x_dy(x, dy);
    const Tensor& w = param(p.weight, spec_.weight_shape(), "weight");
    if (spec_.fused_relu) require_f32_tensor(y, out, who_, "output y");
    float* gw = grad_target(*ctx_, p.grad_weight, spec_.weight_shape(), who_, "grad_weight");
    float* gb = grad_target(*ctx_, p.grad_bias, spec_.bias_shape(), who_, "grad_bias");
    cudaStream_t s = ctx_->stream;

    Plan& pl = plan(x.shape(), DType::F32);
    choose_backward(pl);

    // dz (N, O, OH, OW) = dL/d(pre-activation).
    const float* dz = dy.data();
    if (spec_.fused_relu) {
      Tensor& buf = reuse(*ctx_, dz_, out);
      kernels::relu_backward(y.data(), dy.data(), buf.data(), dy.numel(), s);
      ALEXNET_CUDA_LAUNCHED();
      dz = buf.data();
    }
    if (gw) {
      void* ws = ctx_->workspace(pl.filter_ws);
      ALEXNET_CUDNN(cudnnConvolutionBackwardFilter(
          ctx_->cudnn, &kOne, pl.x.get(), x.data(), pl.y.get(), dz, pl.bwd_filter.get(),
          pl.filter_algo, ws, pl.filter_ws, &kZero, pl.w.get(), gw));
    }
    if (gb) {
      kernels::bias_grad_nchw(dz, gb, out[0], out[1], out[2] * out[3], s);
      ALEXNET_CUDA_LAUNCHED();
    }
    if (!need_dx) return no_dx();
    Tensor& dx = reuse(*ctx_, dx_, x.shape());
    void* ws = ctx_->workspace(pl.data_ws);
    ALEXNET_CUDNN(cudnnConvolutionBackwardData(ctx_->cudnn, &kOne, pl.w.get(), w.data(), pl.y.get(),
                                               dz, pl.bwd_data.get(), pl.data_algo, ws, pl.data_ws,
                                               &kZero, pl.x.get(), dx.data()));
    return dx;
  }

  // A parameter: present, on this GPU, fp32, of the spec's shape.
  const Tensor& param(const Tensor* t, const Shape& want, const char* what) const {
    if (t == nullptr) throw Error(who_ + ": missing " + what);
    require_f32_tensor(*t, want, who_, what);
    return *t;
  }

  // The math a convolution descriptor starts with: exact fp32 (FMA only) unless TF32 is
  // allowed; tensor cores for fp16/bf16.
  cudnnMathType_t base_math(DType at) const {
    if (at != DType::F32) return CUDNN_TENSOR_OP_MATH;
    return ctx_->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  }

  // Strict fp32: an algorithm whose implementation needs tensor ops would use TF32.
  bool math_ok(DType at, cudnnMathType_t m) const {
    if (at != DType::F32 || ctx_->tf32) return true;
    return m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
  }

  void set_conv(ConvDesc& d, DType at) const {
    // Compute type float for every data type: fp16/bf16 accumulate in fp32.
    ALEXNET_CUDNN(cudnnSetConvolution2dDescriptor(d.get(), spec_.pad, spec_.pad, spec_.stride,
                                                  spec_.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                  CUDNN_DATA_FLOAT));
    ALEXNET_CUDNN(cudnnSetConvolutionGroupCount(d.get(), spec_.groups));
    ALEXNET_CUDNN(cudnnSetConvolutionMathType(d.get(), base_math(at)));
  }

  // After the choice: the descriptor takes the algorithm's math type, except that strict fp32
  // stays on FMA (CUDNN_DEFAULT_MATH would let Ampere+ use TF32).
  cudnnMathType_t run_math(DType at, cudnnMathType_t chosen) const {
    return (at == DType::F32 && !ctx_->tf32) ? CUDNN_FMA_MATH : chosen;
  }
  void set_math(ConvDesc& d, DType at, cudnnMathType_t chosen) const {
    ALEXNET_CUDNN(cudnnSetConvolutionMathType(d.get(), run_math(at, chosen)));
  }

  void log(const Plan& pl, const char* dir, int algo, size_t ws, cudnnMathType_t m) const {
    if (!log_algos()) return;
    std::fprintf(stderr, "%s %s %s %s: %s algo %d, workspace %zu KiB, math %s\n",
                 ctx_->name.c_str(), spec_.name.c_str(), shape_str(pl.x_shape).c_str(),
                 precision_label(pl.dtype), dir, algo, ws >> 10, math_name(m));
  }

  Plan& plan(const Shape& x_shape, DType at) {
    for (auto& pl : plans_)
      if (pl->x_shape == x_shape && pl->dtype == at) return *pl;
    auto pl = std::make_unique<Plan>();
    pl->x_shape = x_shape;
    pl->y_shape = spec_.output_shape(x_shape);
    pl->dtype = at;
    pl->x.set(x_shape, at);
    pl->y.set(pl->y_shape, at);
    ALEXNET_CUDNN(cudnnSetFilter4dDescriptor(pl->w.get(), cudnn_type(at), CUDNN_TENSOR_NCHW,
                                             spec_.out_channels, spec_.in_channels / spec_.groups,
                                             spec_.kernel, spec_.kernel));
    set_conv(pl->fwd, at);
    set_conv(pl->bwd_data, at);
    set_conv(pl->bwd_filter, at);

    // cuDNN must agree with LayerSpec::output_shape (floor division, as the reference).
    int dims[4] = {};
    ALEXNET_CUDNN(cudnnGetConvolution2dForwardOutputDim(pl->fwd.get(), pl->x.get(), pl->w.get(),
                                                        &dims[0], &dims[1], &dims[2], &dims[3]));
    Shape got{dims[0], dims[1], dims[2], dims[3]};
    if (got != pl->y_shape)
      throw Error(who_ + ": cuDNN computes output " + shape_str(got) + " for input " +
                  shape_str(x_shape) + ", expected " + shape_str(pl->y_shape));

    int max_count = 0;
    ALEXNET_CUDNN(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx_->cudnn, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
    int returned = 0;
    ALEXNET_CUDNN((find_algos() ? cudnnFindConvolutionForwardAlgorithm
                                : cudnnGetConvolutionForwardAlgorithm_v7)(
        ctx_->cudnn, pl->x.get(), pl->w.get(), pl->fwd.get(), pl->y.get(), int(perf.size()),
        &returned, perf.data()));
    // Implicit GEMM supports every configuration: the fallback.
    pl->fwd_algo =
        choose(*pl, "forward", perf, returned, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, pl->fwd,
               &pl->fwd_ws, [&](cudnnConvolutionFwdAlgo_t a, size_t* ws) {
                 return cudnnGetConvolutionForwardWorkspaceSize(
                     ctx_->cudnn, pl->x.get(), pl->w.get(), pl->fwd.get(), pl->y.get(), a, ws);
               });
    plans_.push_back(std::move(pl));
    return *plans_.back();
  }

  // Backward-data and backward-filter algorithms, once per plan (fp32 only: training).
  void choose_backward(Plan& pl) {
    if (pl.bwd_ready) return;
    cudnnHandle_t h = ctx_->cudnn;
    int max_count = 0;
    ALEXNET_CUDNN(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data(size_t(std::max(max_count, 1)));
    int returned = 0;
    ALEXNET_CUDNN((find_algos() ? cudnnFindConvolutionBackwardDataAlgorithm
                                : cudnnGetConvolutionBackwardDataAlgorithm_v7)(
        h, pl.w.get(), pl.y.get(), pl.bwd_data.get(), pl.x.get(), int(data.size()), &returned,
        data.data()));
    pl.data_algo =
        choose(pl, "backward-data", data, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, pl.bwd_data,
               &pl.data_ws, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* ws) {
                 return cudnnGetConvolutionBackwardDataWorkspaceSize(
                     h, pl.w.get(), pl.y.get(), pl.bwd_data.get(), pl.x.get(), a, ws);
               });

    max_count = 0;
    ALEXNET_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(size_t(std::max(max_count, 1)));
    returned = 0;
    ALEXNET_CUDNN((find_algos() ? cudnnFindConvolutionBackwardFilterAlgorithm
                                : cudnnGetConvolutionBackwardFilterAlgorithm_v7)(
        h, pl.x.get(), pl.y.get(), pl.bwd_filter.get(), pl.w.get(), int(filter.size()), &returned,
        filter.data()));
    pl.filter_algo =
        choose(pl, "backward-filter", filter, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
               pl.bwd_filter, &pl.filter_ws, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* ws) {
                 return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                     h, pl.x.get(), pl.y.get(), pl.bwd_filter.get(), pl.w.get(), a, ws);
               });
    pl.bwd_ready = true;
  }

  // The first of the heuristics' ranked results that succeeded, fits kMaxWorkspace, keeps
  // strict fp32 off tensor ops and off the less accurate families (accurate()), and whose workspace
  // query succeeds with the math type it will run with; else `fallback` (the algorithm every
  // configuration supports). Sets the descriptor's math type and *ws.
  template <class Perf, class Algo, class WorkspaceOf>
  Algo choose(const Plan& pl, const char* dir, const std::vector<Perf>& perf, int returned,
              Algo fallback, ConvDesc& d, size_t* ws, WorkspaceOf workspace_of) const {
    for (int i = 0; i < returned && i < int(perf.size()); ++i) {
      const Perf& r = perf[size_t(i)];
      if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kMaxWorkspace ||
          !math_ok(pl.dtype, r.mathType))
        continue;
      if (pl.dtype == DType::F32 && !ctx_->tf32 && !accurate(r.algo)) continue;
      set_math(d, pl.dtype, r.mathType);
      size_t bytes = 0;
      if (workspace_of(r.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > kMaxWorkspace) continue;
      *ws = bytes;
      log(pl, dir, int(r.algo), bytes, run_math(pl.dtype, r.mathType));
      return r.algo;
    }
    set_math(d, pl.dtype, base_math(pl.dtype));
    ALEXNET_CUDNN(workspace_of(fallback, ws));
    log(pl, dir, int(fallback), *ws, base_math(pl.dtype));
    return fallback;
  }

  std::vector<std::unique_ptr<Plan>> plans_;
  Tensor dz_, x_conv_;
  HalfWeights w_half_;  // fp16/bf16 inference
};

}  // namespace

std::unique_ptr<Op> make_conv_op(ContextPtr ctx, const LayerSpec& spec) {
  return std::make_unique<ConvOp>(std::move(ctx), spec);
}

}  // namespace alexnet::cuda
