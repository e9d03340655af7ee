// The backend interface: everything a device must do for the network.
//
// Three backends implement it: "reference" (plain loops, the oracle every fast path is
// tested against), "cpu" (oneDNN) and later "cuda". A backend creates tensors on its
// device, copies to/from the host, synchronises, builds one Op per layer, and runs the
// loss and the optimiser update. Ops keep their primitives/plans and workspaces, built once
// per input shape and cached.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/preprocess.h"
#include "alexnet/tensor.h"

namespace alexnet {

// The parameters of a Conv or Linear op. `version` changes whenever `weight` changes
// (optimiser step, load), so a backend may keep a reordered copy until it does.
struct OpParams {
  Tensor* weight = nullptr;
  Tensor* bias = nullptr;
  Tensor* grad_weight = nullptr;  // backward overwrites these
  Tensor* grad_bias = nullptr;
  uint64_t version = 0;
  uint64_t seed = 0;  // dropout: mask of element i in call c = hash(seed, i)
  // dropout: element i of this call is element index_offset + i of the whole batch, so a
  // slice of a batch (a data-parallel replica, a distributed rank) draws the whole batch's
  // mask for its rows.
  uint64_t index_offset = 0;
  // int8 inference: the layer's calibrated ranges (a weighted layer; null when uncalibrated).
  const LayerRange* range = nullptr;
};

class Op {
 public:
  virtual ~Op() = default;
  // y = op(x). The returned tensor belongs to the op and stays valid until its next
  // forward. `training` keeps what backward needs (pool indices, LRN scales, dropout mask)
  // and turns dropout on.
  virtual const Tensor& forward(const Tensor& x, const OpParams& p, bool training) = 0;
  // Given the x and y of the last training forward and dy = dL/dy: returns dx (owned by the
  // op, valid until its next backward; empty if !need_dx) and overwrites p.grad_*.
  virtual const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                                 const OpParams& p, bool need_dx) = 0;
};

// The arithmetic a backend uses for inference. Training always runs in fp32. The cpu backend
// runs fp32, bf16 (oneDNN's bf16 kernels, on CPUs with avx512_bf16 or AMX; fp32
// accumulation) or int8 (AVX2 and up; VNNI where the CPU has it); the CUDA backend keeps
// activations and weights in fp16/bf16 for inference when asked, accumulating in fp32. The
// reference backend is fp32 only.
// INT8: the cpu backend's quantised inference (s8 weights with per-channel scales, u8/s8
// activations with per-tensor scales from a calibrated model; calibrate.h).
enum class Precision { F32, F16, BF16, INT8 };
const char* precision_name(Precision p);  // "fp32", "fp16", "bf16", "int8"
// "fp32" | "fp16" | "bf16" | "int8"; throws alexnet::Error quoting the text otherwise.
Precision parse_precision(const std::string& text);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "reference", "cpu", "cuda:0"
  virtual DeviceKind device() const = 0;
  // The inference arithmetic it was made with.
  virtual Precision precision() const { return Precision::F32; }

  // A zero-filled tensor on this device, plain layout.
  virtual Tensor zeros(const Shape& shape) = 0;
  // Host (plain) → a new device tensor (always a copy), and any device tensor → a new
  // plain host tensor.
  virtual Tensor from_host(const Tensor& host) = 0;
  virtual Tensor to_host(const Tensor& t) = 0;
  // Host (plain) → `dst` on this device, reusing dst's memory when it is already a device
  // tensor of this shape (no allocation per call on the hot path); else dst = from_host(host).
  virtual void upload(const Tensor& host, Tensor& dst) { dst = from_host(host); }
  virtual void synchronize() = 0;

  // Sets every element of `t` (a tensor of this backend) to zero, keeping its memory when the
  // backend can (hot paths reuse buffers instead of asking zeros() for new ones).
  virtual void fill_zero(Tensor& t);

  // dst[:, dst_begin + c, ...] += src[:, src_begin + c, ...] for c in [0, count): channel
  // ranges of two tensors with the same batch and inner dimensions (rank 2 (N, C) or rank 4
  // (N, C, H, W)). `dst` is a plain tensor of this backend (from zeros()); `src` is any tensor
  // of `src_backend`, which may be this backend or another one (another device). Model
  // parallelism moves activations and gradients between devices with it. Returns when dst
  // is written and src may be overwritten. The default goes through host memory; the CUDA
  // backend copies GPU to GPU (peer copies) and adds on the destination GPU.
  virtual void add_channels(const Tensor& src, Backend& src_backend, int64_t src_begin, Tensor& dst,
                            int64_t dst_begin, int64_t count);

  virtual std::unique_ptr<Op> make_op(const LayerSpec& spec) = 0;

  // Preprocesses `frames` (see preprocess.h) straight into `dst`, the (N, channels, size,
  // size) network input on this device, reusing dst's memory when it already has that shape.
  // Returns false when this backend has no such path (the caller then preprocesses on the
  // host and uploads); the CUDA backend uploads the raw frames and runs one fused kernel.
  // Results equal preprocess() within float rounding (tests/gpu).
  virtual bool preprocess(std::span<const Frame> frames, const PreprocessConfig& cfg, int channels,
                          int size, Tensor& dst) {
    (void)frames, (void)cfg, (void)channels, (void)size, (void)dst;
    return false;
  }

  // Runs one inference forward, `run_ops`, whose op calls, shapes, weights and buffers are
  // the same every time it is called with `key` (Network: one key per batch size and weights'
  // version), and returns its output (a device tensor the ops own). The default just calls
  // run_ops. The CUDA backend may instead capture the calls into a CUDA graph and replay it
  // for later calls of the same key without calling run_ops (cuda/graph.h); the returned
  // tensor is then the buffer the graph writes. Errors are run_ops' own.
  virtual Tensor run_inference(uint64_t key, const std::function<Tensor()>& run_ops) {
    (void)key;
    return run_ops();
  }

  // Mean softmax cross-entropy over the batch. logits (N, K), labels N values in [0, K).
  // If dlogits is non-null it receives dL/dlogits (N, K) = (softmax - onehot) / N.
  virtual float softmax_cross_entropy(const Tensor& logits, std::span<const int> labels,
                                      Tensor* dlogits) = 0;
  // Softmax over K for each row of (N, K), into a plain host tensor.
  virtual Tensor softmax(const Tensor& logits) = 0;

  // The paper's SGD (section 5) for one tensor, elementwise:
  //   v = momentum * v - weight_decay * lr * w - lr * g;   w = w + v
  virtual void sgd_update(Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                          float weight_decay) = 0;
};

// threads: 0 = all cores. The cpu backend uses exactly that many OpenMP threads for its
// primitives, so several CPU workers can share the cores without oversubscription.
std::unique_ptr<Backend> make_reference_backend();
// ALEXNET_CPU_BLOCK=8|16 forces nChw8c / nChw16c activations (tests: AVX-512's layouts on an
// AVX2 CPU and back); unset, oneDNN picks the layouts for the CPU.
// precision: fp32, or bf16 where the CPU runs it natively; anything else is an Error naming
// the device and what it lacks.
std::unique_ptr<Backend> make_cpu_backend(int threads, Precision precision = Precision::F32);
// "" when the cpu backend can run `precision` on this CPU (at oneDNN's effective ISA, so
// ONEDNN_MAX_CPU_ISA counts), else why not ("bf16 needs avx512_bf16 or AMX; ...").
std::string cpu_precision_unavailable_reason(Precision precision);
// The instruction set the cpu backend's oneDNN kernels run with on this machine
// ("avx512_core_bf16", "avx2", ...): the CPU's best, or less under ONEDNN_MAX_CPU_ISA.
std::string cpu_backend_isa();
// The CUDA backend on GPU `index` (loaded from the CUDA module on first use); an Error that
// says why when the module, the driver or the device is missing.
std::unique_ptr<Backend> make_cuda_backend(int index, Precision precision = Precision::F32);
// "reference", "cpu", "cuda" (= cuda:0) or "cuda:N" by name (tests, benchmarks).
std::unique_ptr<Backend> make_backend(const std::string& name, int threads);
// The backend for one device of the grammar; a GPU without the CUDA backend is an Error
// that says why.
std::unique_ptr<Backend> make_backend(const Device& device, int threads,
                                      Precision precision = Precision::F32);

}  // namespace alexnet
