// Shared machinery of the oneDNN ("cpu") backend: the engine/stream context, the thread
// scope, error wrapping, tensor layouts, owned buffers and cached reorders.
//
// Only files under lib/src/backends/cpu/ include this header: dnnl.hpp is heavy to compile, and the
// CUDA side must never see it (nvcc crashes on it in C++20 mode).
#pragma once

#include <omp.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "alexnet/backend.h"
#include "alexnet/error.h"

namespace alexnet::cpu {

using dnnl::memory;
using Md = dnnl::memory::desc;
using Dims = dnnl::memory::dims;
using Tag = dnnl::memory::format_tag;
using Dt = dnnl::memory::data_type;
constexpr auto f32 = dnnl::memory::data_type::f32;
constexpr auto bf16 = dnnl::memory::data_type::bf16;
constexpr auto s8 = dnnl::memory::data_type::s8;
constexpr auto u8 = dnnl::memory::data_type::u8;
constexpr auto s32 = dnnl::memory::data_type::s32;
inline bool is_int8(Dt dt) {
  return dt == s8 || dt == u8;
}

// Turns a dnnl::error into an alexnet::Error naming the call, where it was made and the
// oneDNN status, so a failure deep in a layer says which primitive refused what.
[[noreturn]] void throw_dnnl(const dnnl::error& e, const char* call, const char* file, int line);

// Evaluates a oneDNN expression (value or void); a dnnl::error becomes an alexnet::Error.
#define ALEXNET_DNNL(...)                                                     \
  [&]() -> decltype(auto) {                                                   \
    try {                                                                     \
      return __VA_ARGS__;                                                     \
    } catch (const dnnl::error& dnnl_err) {                                   \
      ::alexnet::cpu::throw_dnnl(dnnl_err, #__VA_ARGS__, __FILE__, __LINE__); \
    }                                                                         \
  }()

// One engine and one in-order stream per backend; ops share them through a shared_ptr so an
// op may outlive the backend object that made it.
// A 64-byte aligned, growable host buffer; Tensors handed out share its ownership, so a
// tensor returned earlier stays readable even after the buffer is replaced by a larger one.
class Buffer {
 public:
  float* ensure(size_t bytes);  // keeps the data when already large enough
  float* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  const std::shared_ptr<void>& owner() const { return owner_; }

 private:
  std::shared_ptr<void> owner_;
  float* data_ = nullptr;
  size_t bytes_ = 0;
};

struct Context {
  Context(int threads, int block, Dt inference = f32);
  dnnl::engine eng;
  dnnl::stream strm;
  int threads = 1;
  // 0: activations in the layouts oneDNN picks for this CPU (nChw8c on AVX2, nChw16c on
  // AVX-512). 8 or 16: every 4-d activation whose channels are a multiple of it is forced to
  // nChw8c / nChw16c (ALEXNET_CPU_BLOCK), so tests run AVX-512's layouts on an AVX2 CPU
  // (oneDNN then takes its reference kernels, which accept any layout) and AVX2's on AVX-512.
  int block = 0;
  // Inference arithmetic (Precision): f32, or bf16 for the convolutions' and fully connected
  // layers' inputs and weights, and the activations between convolutions, with f32
  // accumulation, bias and fc outputs; s8 marks int8 (quantised convolutions and fc layers,
  // u8 activations between them; see conv.cpp). Training is always f32.
  Dt inference = f32;
  Dt act_dt(bool training) const { return training ? f32 : inference; }
  // The scratchpad every primitive of this backend runs with (see user_scratchpad()), grown
  // to the largest a primitive asks for. A backend runs on one thread at a time, so one is
  // enough; execute() binds it.
  struct Scratchpad {
    Buffer buf;
    dnnl::memory mem;  // over buf
  };
  mutable Scratchpad scratchpad;
};
using ContextPtr = std::shared_ptr<const Context>;

// OpenMP's nthreads ICV belongs to the calling thread, and oneDNN (OpenMP runtime) reads it
// both when a primitive_desc is created (jit kernels fix their work split then) and when a
// primitive runs. Every entry point of the backend holds one of these, so two backends on
// two std::threads each get exactly their own thread count; the caller's value is restored.
class ThreadScope {
 public:
  explicit ThreadScope(const Context& ctx) : saved_(omp_get_max_threads()) {
    if (saved_ != ctx.threads) omp_set_num_threads(ctx.threads);
  }
  ~ThreadScope() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

// The attributes every primitive of this backend is created with: scratchpad_mode::user.
// In oneDNN's default (library) mode, some implementations (Winograd, the gemm-based
// convolutions) take their scratchpad from a buffer that belongs to the thread that *created*
// the primitive, and find none, or one too small, when another thread runs it: the element
// plans on one batch's thread and runs on the next one's (oneDNN 2.6: a null-pointer write in
// jit_wino_4x3 on the second thread). With a user scratchpad each execution brings its own.
dnnl::primitive_attr user_scratchpad();

// Runs a primitive with arguments given as (DNNL_ARG_*, memory) pairs through the C API, so
// steady-state execution builds no std::unordered_map on our side. A null memory is an
// argument this primitive does not take (see bind_optional).
void execute(const Context& ctx, const dnnl::primitive& prim,
             std::initializer_list<std::pair<int, const memory*>> args);

// --- layouts -------------------------------------------------------------------------------

// The descriptor to ask a primitive for an activation of `dims`: format_tag::any, or the
// forced nChw{8,16}c of ctx.block (see Context) where it applies.
Md activation_md(const Context& ctx, const Dims& dims, Dt dt = f32);
// The blocked layout LRN and pooling want for a plain input (nChw8c, or the forced one).
Md blocked_md(const Context& ctx, const Dims& dims);
// ALEXNET_CPU_BLOCK: unset or empty = 0, else "8" or "16"; anything else is an Error that
// names the variable and quotes the value.
int block_from_env();

// The plain row-major descriptor of a shape: x, nc, ncw, nchw or ncdhw by rank.
Md plain_md(const Shape& shape, Dt dt = f32);
// The oneDNN type of a DType (F32, BF16; others throw).
Dt dnnl_dt(DType t);
// The descriptor a tensor's data follows: its oneDNN layout, or the plain one. Throws when
// the tensor is not a host tensor or carries another backend's layout.
Md tensor_md(const Tensor& t);
// The layout pointer to store in a Tensor for data in `md`: nullptr when md is plain (and f32).
// `scale` (int8 data): real value = stored value / scale; 0 for other types.
std::shared_ptr<const void> make_layout(const Md& md, const Shape& shape, float scale = 0);
// The quantisation scale of an int8 tensor of this backend (0 for others).
float tensor_scale(const Tensor& t);
// `md` with another element type (the same dimensions and strides).
Md with_dt(const Md& md, Dt dt);
// A reorder of f32 weights `user` (in user_md) into `want` (s8), each slice along the dims of
// `mask` multiplied by its scale first (oneDNN's output scales); into `dst`.
void quantize_weights(const Context& ctx, const Md& user_md, const float* user, const Md& want,
                      int mask, const std::vector<float>& scales, void* dst);

// An op's output: a buffer and the Tensor (shape + layout) that views it, made once per
// shape so returning it costs nothing.
struct Output {
  // (Re)binds to `md` with logical `shape` (and an int8 tensor's scale); allocates only when
  // the size grows.
  void bind(const Md& md, const Shape& shape, float scale = 0);
  float* data() const { return buf.data(); }
  Md md;
  float scale = 0;
  Buffer buf;
  Tensor tensor;
};

// A reorder between two descriptors, rebuilt only when either descriptor changes.
class ReorderCache {
 public:
  // scale != 1: every value is multiplied by it (quantising or dequantising int8).
  void run(const Context& ctx, const Md& from, const void* src, const Md& to, void* dst,
           float scale = 1.f);

 private:
  Md from_, to_;
  float scale_ = 1.f;
  dnnl::reorder prim_;
  memory src_, dst_;
};

// Brings data into the layout a primitive wants: the data itself when the layouts already
// agree, else a reordered copy in an owned buffer (reused between calls).
class Converter {
 public:
  const float* to(const Context& ctx, const Md& have, const float* data, const Md& want,
                  float scale = 1.f);

 private:
  ReorderCache reorder_;
  Buffer buf_;
};

// Parameter tensors reordered into the layouts primitives prefer (one entry per layout:
// forward and backward-data may want different ones), each kept until the weights change:
// OpParams::version moves (optimiser step, load) or another buffer is passed.
class WeightCache {
 public:
  const float* get(const Context& ctx, const Md& user_md, const float* user, const Md& want,
                   uint64_t version);
  // The s8 weights of an int8 plan: `user` quantised into `want` (an s8 layout) with
  // per-slice `scales` (quantize_weights). One copy per layout, shared by every plan (batch
  // size) that wants it: fc6 alone is 38 MB of s8.
  const void* get_s8(const Context& ctx, const Md& user_md, const float* user, const Md& want,
                     int mask, const std::vector<float>& scales, uint64_t version);

 private:
  struct Entry {
    ReorderCache reorder;
    Buffer buf;
    Md md;
    const float* src = nullptr;
    uint64_t version = 0;
    std::vector<float> scales;  // get_s8's
  };
  Entry& entry_for(const Md& want);
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Where backward writes a parameter gradient (as the reference): null = not wanted, an
// empty tensor is allocated, anything else must be a plain host tensor of `shape`.
float* grad_target(Tensor* g, const Shape& shape, const char* what);

// "name src <fmt> wei <fmt> dst <fmt>" of a primitive_desc, for describe().
std::string describe_pd(const char* role, const dnnl::primitive_desc_base& pd);

// A memory object without a buffer; the handle is set right before each execution.
memory empty_memory(const Context& ctx, const Md& md);
inline const memory& bind(const memory& m, const void* data) {
  m.set_data_handle(const_cast<void*>(data));
  return m;
}
// For an argument a plan has only sometimes (a bias, a workspace): null, so that execute()
// leaves it out, when the plan made no memory for it.
inline const memory* bind_optional(const memory& m, const void* data) {
  return m ? &bind(m, data) : nullptr;
}

// The primitives, memories and buffers an op builds once per key (input layout, training or
// not, ...) and keeps for every later call with that key.
template <class Plan>
class PlanCache {
 public:
  template <class Matches>
  Plan* find(Matches matches) {
    for (auto& p : plans_)
      if (matches(*p)) return p.get();
    return nullptr;
  }
  Plan& add(std::unique_ptr<Plan> p) {
    plans_.push_back(std::move(p));
    return *plans_.back();
  }
  template <class Matches>
  void erase_if(Matches matches) {
    std::erase_if(plans_, [&](const std::unique_ptr<Plan>& p) { return matches(*p); });
  }
  auto begin() const { return plans_.begin(); }
  auto end() const { return plans_.end(); }

 private:
  std::vector<std::unique_ptr<Plan>> plans_;
};

// The workspace a training forward leaves for backward (LRN's, max pooling's argmax).
struct Workspace {
  // Allocates for `md`; an empty md (an implementation that needs none) leaves it absent.
  void init(const Context& ctx, const Md& md);
  // The DNNL_ARG_WORKSPACE argument, or null when absent.
  const memory* arg() const { return bind_optional(mem, buf.data()); }

  memory mem;
  Buffer buf;
};

// The forward attribute of a conv or fc layer: a ReLU post-op when the ReLU is fused in.
dnnl::primitive_attr fused_relu_attr(bool fused_relu);

// The training forward of a ReLU that backward reads y from (relu_use_dst_for_bwd:
// y > 0 <=> x > 0), so an op needs only its own output; in `md`.
dnnl::eltwise_forward::primitive_desc relu_forward_pd(const Context& ctx, const Md& md);

// dx = dy (.) [y > 0] in the layout `md` of y, dy and dx: the backward of a ReLU on its own or
// fused into a conv / fc.
class ReluBackward {
 public:
  void init(const Context& ctx, const Md& md);
  const Md& dx_md() const { return dx_md_; }
  void run(const Context& ctx, const float* y, const float* dy, float* dx) const;

 private:
  dnnl::eltwise_backward prim_;
  memory y_, dy_, dx_;
  Md dx_md_;
};

// dW and db of a conv or fc layer from a backward-weights primitive (which always computes
// db, into scratch when the caller wants none). The gradients land in the caller's plain
// tensors: directly when the primitive's weight layout is plain, else through a reorder.
class WeightGradients {
 public:
  void init(const Context& ctx, const dnnl::primitive_desc& pd, int64_t out_channels);
  const dnnl::primitive_desc& pd() const { return pd_; }
  // gw / gb as grad_target() gives them (null: not wanted); `user_w` is gw's plain layout.
  void run(const Context& ctx, const float* src, const float* ddst, const Md& user_w, float* gw,
           float* gb);

 private:
  dnnl::primitive_desc pd_;
  dnnl::primitive prim_;
  memory src_, ddst_, dwei_, dbias_;
  int64_t out_channels_ = 0;
  Buffer dw_;  // diff weights in the primitive's layout, when that is not plain
  Buffer db_;  // when the caller passes no grad_bias
  ReorderCache dw_out_;
};

// Common base of the backend's ops: holds the context, sets the thread scope and puts the
// layer's name in front of every error.
class CpuOp : public Op {
 public:
  CpuOp(ContextPtr ctx, LayerSpec spec) : ctx_(std::move(ctx)), spec_(std::move(spec)) {}
  const Tensor& forward(const Tensor& x, const OpParams& p, bool training) final;
  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                         bool need_dx) final;
  // See cpu_debug.h: the primitives built so far, one line each.
  virtual std::string describe() const { return {}; }

 protected:
  virtual const Tensor& run_forward(const Tensor& x, const OpParams& p, bool training) = 0;
  virtual const Tensor& run_backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                                     const OpParams& p, bool need_dx) = 0;
  // Throws unless `t` is a host tensor of `shape` (any layout of this backend).
  void expect_shape(const Tensor& t, const Shape& shape, const char* what) const;
  // Ops that take int8 inputs (convolution, fc, pooling, dropout); the others get an int8
  // input dequantised to f32 first (LRN: oneDNN 2.6 has no int8 LRN).
  virtual bool takes_int8() const { return false; }
  // True for ops whose oneDNN kernels are slow on the plain (N, C, H, W) layout (LRN and
  // pooling fall back to reference loops there): a plain 4-d input, as model parallelism's
  // channel exchanges produce, is then reordered to nChw8c before run_forward/run_backward.
  virtual bool wants_blocked_input() const { return false; }

  // An int8 x in f32 (the same layout), in a buffer of the op's: for ops without int8 input,
  // and the f32 fallback of an int8 layer without an optimised kernel.
  const Tensor& to_f32(const Tensor& x);
  // Throws the int8-without-calibration error unless p carries the layer's range.
  static void check_int8_range(const OpParams& p);

  ContextPtr ctx_;
  LayerSpec spec_;
  Tensor empty_;  // returned as dx when !need_dx

 private:
  const Tensor& blocked(const Tensor& x);      // x itself unless it needs the reorder above
  const Tensor& dequantized(const Tensor& x);  // x itself unless int8 it must not get
  Output blocked_x_, dequantized_x_;
  ReorderCache to_blocked_, to_f32_;
};

// int8 inference of one convolution or fc layer: the scales of its input (sx: from the input's
// own scale when it is int8 already, else from the calibrated range), of its output (sy: u8
// after a fused ReLU, 255 / out_max; 0 = an f32 output, as the logits) and of each output
// channel's weights (sw = 127 / max|w|), the primitive's output scales sy /
// (sx·sw) and its bias in the s32 accumulator's units (b·sx·sw). Real = quantised / scale
// throughout.
struct Int8Layer {
  Dt src_dt = u8, dst_dt = u8;
  float sx = 1, sy = 0;
  std::vector<float> sw, out_scales;
  std::vector<int32_t> bias;
  // w: f32 weights, `out` rows of `row` values; b: `out` biases or null.
  void init(const LayerRange& r, const Tensor& x, const float* w, int64_t out, int64_t row,
            const float* b, bool fused_relu);
  // Output scales per channel (dst dimension 1) and the fused ReLU.
  dnnl::primitive_attr attr(bool fused_relu) const;
};

// The int8 plan of a conv or fc layer for input x (its layout and scale) and weights p:
// {true, plan}, {true, nullptr} when oneDNN has only its reference kernel there (f32 then,
// remembered), {false, nullptr} when none is made yet. Plans of earlier weights (a load,
// set_calibration) are dropped first: they are never asked for again.
template <class Plan>
std::pair<bool, Plan*> find_int8_plan(PlanCache<Plan>& plans, const Md& x_md, float x_scale,
                                      const OpParams& p) {
  plans.erase_if([&](const Plan& c) { return c.int8 && c.version != p.version; });
  Plan* f = plans.find([&](const Plan& c) {
    return c.int8 && c.x_md == x_md && c.version == p.version &&
           (x_scale == 0 || c.q.sx == x_scale) && c.has_bias == (p.bias != nullptr);
  });
  if (!f) return {false, nullptr};
  return {true, f->unsupported ? nullptr : f};
}

// Runs the int8 plan of a conv or fc layer (its prim, memories, s8 weights wq, s32 bias bq and
// output y) on `src`, already in the primitive's src layout and type.
template <class Plan>
const Tensor& run_int8(const Context& ctx, Plan& q, const void* src) {
  execute(ctx, q.prim,
          {{DNNL_ARG_SRC, &bind(q.src, src)},
           {DNNL_ARG_WEIGHTS, &bind(q.wei, q.wq)},
           {DNNL_ARG_BIAS, bind_optional(q.bias, q.bq.data())},
           {DNNL_ARG_DST, &bind(q.dst, q.y.data())}});
  return q.y.tensor;
}

// One factory per LayerKind (one file each).
std::unique_ptr<Op> make_conv_op(ContextPtr ctx, const LayerSpec& spec);
std::unique_ptr<Op> make_relu_op(ContextPtr ctx, const LayerSpec& spec);
std::unique_ptr<Op> make_lrn_op(ContextPtr ctx, const LayerSpec& spec);
std::unique_ptr<Op> make_maxpool_op(ContextPtr ctx, const LayerSpec& spec);
std::unique_ptr<Op> make_avgpool_op(ContextPtr ctx, const LayerSpec& spec);
std::unique_ptr<Op> make_linear_op(ContextPtr ctx, const LayerSpec& spec);
std::unique_ptr<Op> make_dropout_op(ContextPtr ctx, const LayerSpec& spec);

// Loss, softmax and the optimiser step (loss.cpp): plain loops over plain tensors.
float softmax_cross_entropy(const Context& ctx, const Tensor& logits, const int* labels,
                            size_t n_labels, Tensor* dlogits);
void softmax_rows(const Context& ctx, const float* logits, float* out, int64_t n, int64_t k);
void sgd_update(const Context& ctx, Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                float weight_decay);

}  // namespace alexnet::cpu
