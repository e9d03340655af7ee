// The "cuda" backend: cuDNN for convolution, pooling and LRN, cuBLAS for the fully connected
// layers, own kernels (kernels.cu) for the rest. One backend = one context = one stream on
// one GPU; gpu:0,gpu:0 makes two independent backends on the same GPU.
//
// This file is the module's entry point too: libalexnet dlopens libalexnet-cuda.so and
// calls the extern "C" functions at the bottom (lib/src/core/device.cpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "backends/channels.h"
#include "backends/op_common.h"
#include "core/device_timeout.h"
#include "graph.h"
#include "kernels.h"
#include "ops.h"

namespace alexnet::cuda {
namespace {

// Waits until everything queued on ctx's stream has run, for at most
// $ALEXNET_DEVICE_TIMEOUT_S seconds (default 60): a model-parallel exchange waits on the other
// GPU this way, so a GPU that hangs or fails gives an error naming it instead of a hang.
void wait_bounded(Context& ctx, const char* what) {
  const double limit = device_timeout_seconds();
  DeviceScope scope(ctx.device);
  const auto start = std::chrono::steady_clock::now();
  for (int spins = 0;; ++spins) {
    const cudaError_t q = cudaStreamQuery(ctx.stream);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady)
      throw Error(ctx.name + " failed before " + what + ": " + cudaGetErrorName(q) + " (" +
                  cudaGetErrorString(q) + ")");
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > limit)
      throw Error(ctx.name + " did not finish its work within " + device_timeout_text(limit) +
                  " before " + what + "; the GPU failed or is stuck");
    if (spins < 1000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, Precision precision)
      : ctx_(std::make_shared<Context>(device, precision)),
        graphs_(std::make_unique<GraphCache>(*ctx_)) {}

  std::string name() const override { return ctx_->name; }
  DeviceKind device() const override { return DeviceKind::Gpu; }
  // The device and stream, for the module's entry points (the NCCL all-reduce).
  Context& context() { return *ctx_; }

  Tensor zeros(const Shape& shape) override {
    DeviceScope scope(ctx_->device);
    Tensor t = device_tensor(*ctx_, shape);
    ALEXNET_CUDA(
        cudaMemsetAsync(t.data(), 0, static_cast<size_t>(t.numel()) * sizeof(float), ctx_->stream));
    return t;
  }

  Tensor from_host(const Tensor& host) override {
    if (host.empty() || host.device() != DeviceKind::Cpu || !host.is_plain())
      throw Error(ctx_->name + ": from_host needs a plain host tensor, got " +
                  shape_str(host.shape()));
    DeviceScope scope(ctx_->device);
    Tensor t = device_tensor(*ctx_, host.shape());
    copy_in(host, t);
    return t;
  }

  void upload(const Tensor& host, Tensor& dst) override {
    if (host.empty() || host.device() != DeviceKind::Cpu || !host.is_plain())
      throw Error(ctx_->name + ": upload needs a plain host tensor, got " +
                  shape_str(host.shape()));
    DeviceScope scope(ctx_->device);
    if (dst.empty() || dst.device() != DeviceKind::Gpu || dtype_of(dst) != DType::F32 ||
        dst.shape() != host.shape())
      dst = device_tensor(*ctx_, host.shape());
    copy_in(host, dst);
  }

  Tensor to_host(const Tensor& t) override {
    if (t.empty()) throw Error(ctx_->name + ": to_host of an empty tensor");
    if (t.device() != DeviceKind::Gpu) return t.clone();
    DeviceScope scope(ctx_->device);
    DType type = dtype_of(t);
    const void* src = t.data();
    if (type != DType::F32) {  // fp16/bf16 activations come back as fp32
      Tensor& converted = reuse(*ctx_, converted_, t.shape());
      kernels::convert(t.data(), int(type), converted.data(), int(DType::F32), t.numel(),
                       ctx_->stream);
      ALEXNET_CUDA_LAUNCHED();
      src = converted.data();
    }
    Tensor out(t.shape());
    staged_copy(reinterpret_cast<char*>(out.data()), static_cast<const char*>(src),
                static_cast<size_t>(t.numel()) * sizeof(float), cudaMemcpyDeviceToHost);
    return out;
  }

  void synchronize() override {
    DeviceScope scope(ctx_->device);
    ALEXNET_CUDA(cudaStreamSynchronize(ctx_->stream));
  }

  // GPU to GPU: the source's stream is drained, then (another GPU) one strided peer copy
  // into a staging tensor here, and one kernel adds it into dst. Same GPU: the kernel reads
  // the source directly. fp16/bf16 tensors and host tensors take the host path (Backend's).
  void add_channels(const Tensor& src, Backend& src_backend, int64_t src_begin, Tensor& dst,
                    int64_t dst_begin, int64_t count) override {
    const ChannelCopy plan = plan_channel_copy(src, src_begin, dst, dst_begin, count);
    auto* from = dynamic_cast<CudaBackend*>(&src_backend);
    if (!from || src.device() != DeviceKind::Gpu || dst.device() != DeviceKind::Gpu ||
        dtype_of(src) != DType::F32 || dtype_of(dst) != DType::F32) {
      Backend::add_channels(src, src_backend, src_begin, dst, dst_begin, count);
      return;
    }
    if (count == 0 || plan.batch == 0) return;
    wait_bounded(*from->ctx_, "a model-parallel exchange");
    DeviceScope scope(ctx_->device);
    const int64_t run = plan.count * plan.inner;  // floats per batch row
    const float* s = src.data() + plan.src_offset;
    int64_t s_row = plan.src_row;
    if (from->ctx_->device != ctx_->device) {
      // Grow-only: exchanges of several sizes alternate, and cudaFree waits for the device.
      if (peer_staging_.empty() || peer_staging_.numel() < plan.batch * run)
        peer_staging_ = device_tensor(*ctx_, {plan.batch * run});
      Tensor& staged = peer_staging_;
      cudaMemcpy3DPeerParms p{};
      p.srcDevice = from->ctx_->device;
      p.srcPtr = make_cudaPitchedPtr(const_cast<float*>(s), static_cast<size_t>(s_row) * 4,
                                     static_cast<size_t>(run) * 4, static_cast<size_t>(plan.batch));
      p.dstDevice = ctx_->device;
      p.dstPtr = make_cudaPitchedPtr(staged.data(), static_cast<size_t>(run) * 4,
                                     static_cast<size_t>(run) * 4, static_cast<size_t>(plan.batch));
      p.extent = make_cudaExtent(static_cast<size_t>(run) * 4, static_cast<size_t>(plan.batch), 1);
      ALEXNET_CUDA(cudaMemcpy3DPeerAsync(&p, ctx_->stream));
      s = staged.data();
      s_row = run;
    }
    kernels::add_rows(s, s_row, dst.data() + plan.dst_offset, plan.dst_row, plan.batch, run,
                      ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    // The caller may overwrite src (and reuse the staging) as soon as this returns.
    wait_bounded(*ctx_, "the end of a model-parallel exchange");
  }

  void fill_zero(Tensor& t) override {
    if (t.empty() || t.device() != DeviceKind::Gpu) return Backend::fill_zero(t);
    DeviceScope scope(ctx_->device);
    ALEXNET_CUDA(cudaMemsetAsync(
        t.data(), 0, static_cast<size_t>(t.numel()) * dtype_size(dtype_of(t)), ctx_->stream));
  }

  std::unique_ptr<Op> make_op(const LayerSpec& spec) override {
    DeviceScope scope(ctx_->device);
    static constexpr OpFactories<ContextPtr> kOps{make_conv_op,    make_relu_op,    make_lrn_op,
                                                  make_maxpool_op, make_avgpool_op, make_linear_op,
                                                  make_dropout_op};
    if (auto op = kOps.make(spec, ctx_)) return op;
    throw Error(ctx_->name + ": unknown layer kind for " + spec.name);
  }

  bool preprocess(std::span<const Frame> frames, const PreprocessConfig& cfg, int channels,
                  int size, Tensor& dst) override {
    DeviceScope scope(ctx_->device);
    return preprocess_frames(*ctx_, frames, cfg, channels, size, dst);
  }

  Tensor run_inference(uint64_t key, const std::function<Tensor()>& run_ops) override {
    DeviceScope scope(ctx_->device);
    return graphs_->run(key, run_ops);
  }

  float softmax_cross_entropy(const Tensor& logits, std::span<const int> labels,
                              Tensor* dlogits) override {
    const std::string who = ctx_->name + " softmax_cross_entropy";
    require_device(logits, who, "logits");
    if (dtype_of(logits) != DType::F32) throw Error(who + ": logits must be fp32 (training)");
    if (logits.rank() != 2 || logits.dim(1) < 1)
      throw Error(who + ": logits " + shape_str(logits.shape()) + " must be (N, K) with K >= 1");
    const int64_t N = logits.dim(0), K = logits.dim(1);
    if (static_cast<int64_t>(labels.size()) != N)
      throw Error(who + ": " + std::to_string(labels.size()) + " labels for a batch of " +
                  std::to_string(N));
    for (size_t n = 0; n < labels.size(); ++n)
      if (labels[n] < 0 || labels[n] >= K)
        throw Error(who + ": label " + std::to_string(labels[n]) + " of sample " +
                    std::to_string(n) + " is outside [0, " + std::to_string(K) + ")");
    if (N == 0) return 0.0f;
    DeviceScope scope(ctx_->device);
    if (labels_capacity_ < N) {
      labels_ = device_tensor(*ctx_, {N});        // int32 and float are both 4 bytes
      row_loss_ = device_tensor(*ctx_, {2 * N});  // N doubles
      labels_capacity_ = N;
    }
    float* d = nullptr;
    if (dlogits) {
      if (dlogits->empty() || dlogits->shape() != logits.shape() ||
          dlogits->device() != DeviceKind::Gpu)
        *dlogits = device_tensor(*ctx_, logits.shape());
      d = dlogits->data();
    }
    size_t label_bytes = static_cast<size_t>(N) * sizeof(int);
    size_t loss_bytes = static_cast<size_t>(N) * sizeof(double);
    char* staging = static_cast<char*>(ctx_->pinned(label_bytes + loss_bytes));
    std::memcpy(staging, labels.data(), label_bytes);
    ALEXNET_CUDA(cudaMemcpyAsync(labels_.data(), staging, label_bytes, cudaMemcpyHostToDevice,
                                 ctx_->stream));
    auto* row_loss = reinterpret_cast<double*>(row_loss_.data());
    kernels::softmax_cross_entropy(logits.data(), reinterpret_cast<const int*>(labels_.data()), N,
                                   K, row_loss, d, ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    ALEXNET_CUDA(cudaMemcpyAsync(staging + label_bytes, row_loss, loss_bytes,
                                 cudaMemcpyDeviceToHost, ctx_->stream));
    ALEXNET_CUDA(cudaStreamSynchronize(ctx_->stream));
    // Summed on the host in sample order, like the reference.
    const auto* losses = reinterpret_cast<const double*>(staging + label_bytes);
    double total = 0;
    for (int64_t n = 0; n < N; ++n) total += losses[n];
    return static_cast<float>(total / double(N));
  }

  Tensor softmax(const Tensor& logits) override {
    const std::string who = ctx_->name + " softmax";
    if (logits.rank() != 2)
      throw Error(who + ": needs (N, K) logits, got " + shape_str(logits.shape()));
    if (logits.device() != DeviceKind::Gpu) return softmax(from_host(logits));
    require_device(logits, who, "logits");
    DeviceScope scope(ctx_->device);
    Tensor& probs = reuse(*ctx_, probs_, logits.shape());
    kernels::softmax_rows(logits.data(), probs.data(), logits.dim(0), logits.dim(1),
                          int(dtype_of(logits)), ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
    return to_host(probs);
  }

  void sgd_update(Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                  float weight_decay) override {
    const std::string who = ctx_->name + " sgd_update";
    require_device(w, who, "weight");
    require_device(g, who, "gradient");
    require_device(v, who, "momentum");
    require_shape(g, w.shape(), who, "gradient");
    require_shape(v, w.shape(), who, "momentum");
    if (dtype_of(w) != DType::F32 || dtype_of(g) != DType::F32 || dtype_of(v) != DType::F32)
      throw Error(who + ": training tensors must be fp32");
    DeviceScope scope(ctx_->device);
    kernels::sgd_update(w.data(), g.data(), v.data(), w.numel(), lr, momentum, weight_decay,
                        ctx_->stream);
    ALEXNET_CUDA_LAUNCHED();
  }

 private:
  // Host ↔ device copies go through the pinned staging buffer (DMA at full speed), in
  // chunks alternating between its two halves, so the host memcpy of one chunk overlaps the
  // DMA of the previous one: a 154 MB batch costs about max(memcpy, DMA), not their sum.
  // Synchronous: the staging buffer is reused by the next call, and the caller may reuse or
  // read its host memory at once.
  static constexpr size_t kChunk = size_t{8} << 20;

  void copy_in(const Tensor& host, Tensor& dst) {
    staged_copy(static_cast<char*>(static_cast<void*>(dst.data())),
                reinterpret_cast<const char*>(host.data()),
                static_cast<size_t>(host.numel()) * sizeof(float), cudaMemcpyHostToDevice);
  }

  // to_device: H2D (dst device, src host) or D2H (dst host, src device).
  void staged_copy(char* dst, const char* src, size_t bytes, cudaMemcpyKind kind) {
    const size_t half = std::min(bytes, kChunk);
    char* staging = static_cast<char*>(ctx_->pinned(2 * half));
    cudaEvent_t* done = ctx_->staging_events();  // done[k]: the DMA through half k finished
    const bool h2d = kind == cudaMemcpyHostToDevice;
    size_t prev_off = 0, prev_n = 0;
    char* prev_buf = nullptr;
    for (size_t off = 0, i = 0; off < bytes; off += half, ++i) {
      const size_t n = std::min(half, bytes - off);
      char* buf = staging + (i % 2) * half;
      if (i >= 2) ALEXNET_CUDA(cudaEventSynchronize(done[i % 2]));  // this half is free
      if (h2d) {
        std::memcpy(buf, src + off, n);
        ALEXNET_CUDA(cudaMemcpyAsync(dst + off, buf, n, kind, ctx_->stream));
      } else {
        ALEXNET_CUDA(cudaMemcpyAsync(buf, src + off, n, kind, ctx_->stream));
      }
      ALEXNET_CUDA(cudaEventRecord(done[i % 2], ctx_->stream));
      if (!h2d && prev_buf) {  // the previous chunk has landed: copy it out meanwhile
        ALEXNET_CUDA(cudaEventSynchronize(done[(i + 1) % 2]));
        std::memcpy(dst + prev_off, prev_buf, prev_n);
      }
      prev_off = off, prev_n = n, prev_buf = buf;
    }
    ALEXNET_CUDA(cudaStreamSynchronize(ctx_->stream));
    if (!h2d && prev_buf) std::memcpy(dst + prev_off, prev_buf, prev_n);
  }

  std::shared_ptr<Context> ctx_;
  std::unique_ptr<GraphCache> graphs_;  // declared after ctx_: destroyed before it
  Tensor labels_, row_loss_, probs_, converted_, peer_staging_;
  int64_t labels_capacity_ = 0;
};

void copy_message(const std::string& text, char* out, int size) {
  if (!out || size <= 0) return;
  std::snprintf(out, static_cast<size_t>(size), "%s", text.c_str());
}

}  // namespace
}  // namespace alexnet::cuda

// --- the module's entry points (C, looked up with dlsym) --------------------------------

#define ALEXNET_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

// How many GPUs the runtime sees; 0 with the reason (no driver, no device …) otherwise.
ALEXNET_CUDA_EXPORT int alexnet_cuda_device_count(char* reason, int reason_size) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    alexnet::cuda::copy_message(std::string("cudaGetDeviceCount: ") + cudaGetErrorName(err) + " (" +
                                    cudaGetErrorString(err) + ")",
                                reason, reason_size);
    return 0;
  }
  if (count == 0) alexnet::cuda::copy_message("no CUDA device present", reason, reason_size);
  return count;
}

// "NVIDIA H100 80GB HBM3, sm_90, 80 GiB; driver 13.0, runtime 13.0, cuDNN 9.19.0, cuBLAS 13.1.0"
ALEXNET_CUDA_EXPORT int alexnet_cuda_describe(int device, char* out, int size) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    alexnet::cuda::copy_message("gpu:" + std::to_string(device) + " not present", out, size);
    return 0;
  }
  int driver = 0, runtime = 0, cublas_version = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cublasHandle_t h = nullptr;
  int previous = 0;
  cudaGetDevice(&previous);
  cudaSetDevice(device);
  if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
    cublasGetVersion(h, &cublas_version);
    cublasDestroy(h);
  }
  cudaSetDevice(previous);
  size_t cudnn = cudnnGetVersion();
  char text[512];
  std::snprintf(text, sizeof text,
                "%s, sm_%d%d, %zu MiB; driver %d.%d, runtime %d.%d, cuDNN %zu.%zu.%zu, "
                "cuBLAS %d.%d.%d",
                prop.name, prop.major, prop.minor, prop.totalGlobalMem >> 20, driver / 1000,
                (driver % 1000) / 10, runtime / 1000, (runtime % 1000) / 10, cudnn / 10000,
                (cudnn % 10000) / 100, cudnn % 100, cublas_version / 10000,
                (cublas_version % 10000) / 100, cublas_version % 100);
  alexnet::cuda::copy_message(text, out, size);
  return 1;
}

// Device memory in use on `device` (total - free, as cudaMemGetInfo sees it, all processes),
// bytes; -1 when it cannot be read.
ALEXNET_CUDA_EXPORT long long alexnet_cuda_memory_used(int device) {
  int previous = 0;
  cudaGetDevice(&previous);
  if (cudaSetDevice(device) != cudaSuccess) return -1;
  size_t free_b = 0, total_b = 0;
  const cudaError_t err = cudaMemGetInfo(&free_b, &total_b);
  cudaSetDevice(previous);
  return err == cudaSuccess ? static_cast<long long>(total_b - free_b) : -1;
}

// A new backend on `device` with precision 0 = fp32, 1 = fp16, 2 = bf16; null and the
// reason in `error` on failure. The caller owns the backend.
ALEXNET_CUDA_EXPORT alexnet::Backend* alexnet_cuda_make_backend(int device, int precision,
                                                                char* error, int error_size) {
  try {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess)
      throw alexnet::Error(std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err));
    if (device < 0 || device >= count)
      throw alexnet::Error("gpu:" + std::to_string(device) + " does not exist (" +
                           std::to_string(count) + " GPU" + (count == 1 ? "" : "s") + " present)");
    if (precision < 0 || precision > 2)
      throw alexnet::Error("unknown precision code " + std::to_string(precision));
    return new alexnet::cuda::CudaBackend(device, static_cast<alexnet::Precision>(precision));
  } catch (const std::exception& e) {
    alexnet::cuda::copy_message(e.what(), error, error_size);
    return nullptr;
  }
}

// --- NCCL (nccl.cpp): the data-parallel gradient all-reduce -------------------------------

namespace alexnet::cuda {
std::string nccl_version_text(bool* available);
struct ProcessGroup;
std::string nccl_unique_id();
ProcessGroup* nccl_join(const std::string& id, int nranks, int rank, Context& ctx);
void nccl_group_allreduce(ProcessGroup& g, Context& ctx, float* const* buffers,
                          const int64_t* counts, int t, float scale);
void nccl_allreduce(const std::vector<Context*>& ranks, float* const* const* buffers,
                    const int64_t* counts, int t, const float* scales);
}  // namespace alexnet::cuda

// NCCL's version ("2.28.9") and 1, or the reason it is unavailable and 0 (no libnccl.so.2 …).
ALEXNET_CUDA_EXPORT int alexnet_cuda_nccl_version(char* out, int size) {
  try {
    bool available = false;
    std::string text = alexnet::cuda::nccl_version_text(&available);
    alexnet::cuda::copy_message(text, out, size);
    return available ? 1 : 0;
  } catch (const std::exception& e) {
    alexnet::cuda::copy_message(e.what(), out, size);
    return 0;
  }
}

// Sums buffers[r][j] (counts[j] floats on backends[r]'s GPU, j < t) over the n backends in
// place with NCCL, after scaling backend r's buffers by scales[r] (scales may be null: no
// scaling). Every backend must be a CUDA backend of this module, on a distinct GPU (NCCL
// refuses two ranks on one device). Returns 1 when every GPU has finished (a bounded wait:
// $ALEXNET_NCCL_TIMEOUT_S, default 60 s), else 0 and the reason in `error`.
ALEXNET_CUDA_EXPORT int alexnet_cuda_allreduce(alexnet::Backend* const* backends, int n,
                                               float* const* const* buffers, const int64_t* counts,
                                               int t, const float* scales, char* error,
                                               int error_size) {
  try {
    if (!backends || n < 1) throw alexnet::Error("NCCL all-reduce over no backend");
    std::vector<alexnet::cuda::Context*> ranks;
    for (int r = 0; r < n; ++r) {
      auto* b = dynamic_cast<alexnet::cuda::CudaBackend*>(backends[r]);
      if (!b)
        throw alexnet::Error("NCCL all-reduce: backend " + std::to_string(r) + " (" +
                             (backends[r] ? backends[r]->name() : std::string("null")) +
                             ") is not a CUDA backend of this module");
      ranks.push_back(&b->context());
    }
    alexnet::cuda::nccl_allreduce(ranks, buffers, counts, t, scales);
    return 1;
  } catch (const std::exception& e) {
    alexnet::cuda::copy_message(e.what(), error, error_size);
    return 0;
  }
}

// --- NCCL across processes (distributed training; nccl.cpp) ------------------------------
namespace {
alexnet::cuda::Context& cuda_context(alexnet::Backend* backend) {
  auto* b = dynamic_cast<alexnet::cuda::CudaBackend*>(backend);
  if (!b)
    throw alexnet::Error("NCCL group: backend " +
                         (backend ? backend->name() : std::string("null")) +
                         " is not a CUDA backend of this module");
  return b->context();
}
}  // namespace

// NCCL_UNIQUE_ID_BYTES bytes into `out` (size must be at least that). 1 ok, else 0 + error.
ALEXNET_CUDA_EXPORT int alexnet_cuda_nccl_unique_id(char* out, int size, char* error,
                                                    int error_size) {
  try {
    const std::string id = alexnet::cuda::nccl_unique_id();
    if (size < static_cast<int>(id.size()))
      throw alexnet::Error("NCCL unique id: buffer too small");
    std::memcpy(out, id.data(), id.size());
    return static_cast<int>(id.size());
  } catch (const std::exception& e) {
    alexnet::cuda::copy_message(e.what(), error, error_size);
    return 0;
  }
}

// Joins rank `rank` of `nranks` to the group of the id, on the backend's GPU (bounded wait).
// Returns the group (kept for the process lifetime), or null and the reason in `error`.
ALEXNET_CUDA_EXPORT void* alexnet_cuda_nccl_join(const char* id, int id_size, int nranks, int rank,
                                                 alexnet::Backend* backend, char* error,
                                                 int error_size) {
  try {
    return alexnet::cuda::nccl_join(std::string(id, static_cast<size_t>(id_size)), nranks, rank,
                                    cuda_context(backend));
  } catch (const std::exception& e) {
    alexnet::cuda::copy_message(e.what(), error, error_size);
    return nullptr;
  }
}

// Scales buffers[j] (counts[j] floats on the backend's GPU) by `scale` and sums them over the
// group in place. 1 when this GPU has the sum, else 0 and the reason (naming the rank).
ALEXNET_CUDA_EXPORT int alexnet_cuda_nccl_group_allreduce(void* group, alexnet::Backend* backend,
                                                          float* const* buffers,
                                                          const int64_t* counts, int t, float scale,
                                                          char* error, int error_size) {
  try {
    if (!group) throw alexnet::Error("NCCL group: none");
    alexnet::cuda::nccl_group_allreduce(*static_cast<alexnet::cuda::ProcessGroup*>(group),
                                        cuda_context(backend), buffers, counts, t, scale);
    return 1;
  } catch (const std::exception& e) {
    alexnet::cuda::copy_message(e.what(), error, error_size);
    return 0;
  }
}
