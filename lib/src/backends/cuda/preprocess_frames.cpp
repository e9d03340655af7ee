// Backend::preprocess on the GPU (opt-in for now: ALEXNET_CUDA_PREPROCESS=1): the frames' planes go
// up as raw bytes (a fraction of the fp32 input they become: 3 bytes per RGB pixel of the
// source, 1.5 for I420/NV12) and one fused kernel (preprocess.cu) resamples, converts colour and
// normalises into the (N, C, size, size) fp32 network input. The kernel's arithmetic is the host
// reference's (preprocess_pixel.h), so the input equals preprocess_batch()'s, all formats and
// interpolations included.
//
// Transfer: the frames' jobs (plain-data descriptions) and their planes, packed tightly, are
// staged in the context's pinned buffer and copied with one cudaMemcpyAsync to a grow-only
// device buffer kept in the context; the kernel follows on the context's stream. The call
// returns once that copy has finished (the pinned buffer is then free for the next user),
// without waiting for the kernel: what reads dst next runs on the same stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "ops.h"
#include "preprocess_kernel.h"

namespace alexnet::cuda {

namespace {

// Held in Context::preprocess_state.
struct PreprocessBuffers {
  Tensor device;  // raw bytes (a 1-d fp32 tensor only as a holder of GPU memory)
  size_t capacity = 0;
};

// Grow in 1 MiB steps so that frames of slowly varying sizes do not reallocate every call.
constexpr size_t kGrain = size_t{1} << 20;

}  // namespace

bool preprocess_frames(Context& ctx, std::span<const Frame> frames, const PreprocessConfig& cfg,
                       int channels, int size, Tensor& dst) {
  // Opt-in (ALEXNET_CUDA_PREPROCESS=1) until tests/gpu/run.sh has passed with it on a real
  // GPU: the kernel's arithmetic is tested on the CPU, its launch and transfer only there.
  const char* on = std::getenv("ALEXNET_CUDA_PREPROCESS");
  if (on == nullptr || std::strcmp(on, "1") != 0) return false;
  // Nothing to gain for no frames, and a grid needs n ≥ 1: the host path handles it.
  if (frames.empty() || frames.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return false;
  const int n = static_cast<int>(frames.size());

  // Validates every frame with the reference's checks and messages (alexnet::Error).
  std::vector<pixel::PixelJob> jobs;
  jobs.reserve(frames.size());
  for (const Frame& f : frames) jobs.push_back(pixel::describe_frame(f, cfg, channels, size));

  // Buffer layout: the n jobs (8-byte aligned: the buffer is), then each frame's planes.
  const size_t jobs_bytes = sizeof(pixel::PixelJob) * jobs.size();
  size_t total = jobs_bytes;
  for (const Frame& f : frames) total += static_cast<size_t>(pixel::packed_size(f));

  // Device memory first, so nothing can throw once the copy is enqueued.
  auto state = std::static_pointer_cast<PreprocessBuffers>(ctx.preprocess_state);
  if (!state) {
    state = std::make_shared<PreprocessBuffers>();
    ctx.preprocess_state = state;
  }
  if (state->capacity < total) {
    // The previous call's kernel may still be reading the old buffer.
    ALEXNET_CUDA(cudaStreamSynchronize(ctx.stream));
    state->device = Tensor();
    state->capacity = 0;
    const size_t bytes = (total + kGrain - 1) / kGrain * kGrain;
    state->device = device_tensor(ctx, {static_cast<int64_t>(bytes / sizeof(float))});
    state->capacity = bytes;
  }
  const Shape shape{n, channels, size, size};  // (N, C, H, W)
  if (dst.empty() || dst.device() != DeviceKind::Gpu || !dst.is_plain() ||
      dtype_of(dst) != DType::F32 || dst.shape() != shape)
    dst = device_tensor(ctx, shape);

  auto* staging = static_cast<uint8_t*>(ctx.pinned(total));
  size_t at = jobs_bytes;
  for (int i = 0; i < n; ++i) {
    pixel::pack_frame(frames[static_cast<size_t>(i)], jobs[static_cast<size_t>(i)], staging + at,
                      static_cast<int64_t>(at));
    at += static_cast<size_t>(pixel::packed_size(frames[static_cast<size_t>(i)]));
  }
  std::memcpy(staging, jobs.data(), jobs_bytes);

  auto* device = static_cast<uint8_t*>(static_cast<void*>(state->device.data()));
  cudaEvent_t copied = ctx.staging_events()[0];  // only used within one call by its users
  ALEXNET_CUDA(cudaMemcpyAsync(device, staging, total, cudaMemcpyHostToDevice, ctx.stream));
  ALEXNET_CUDA(cudaEventRecord(copied, ctx.stream));
  kernels::preprocess_frames(reinterpret_cast<const pixel::PixelJob*>(device), device, n, channels,
                             size, dst.data(), ctx.stream);
  // Wait for the copy before anything can throw or return: the pinned buffer is reused by the
  // next call (here or in the backend's staged copies). A launch error stays pending meanwhile.
  ALEXNET_CUDA(cudaEventSynchronize(copied));
  ALEXNET_CUDA_LAUNCHED();
  return true;
}

}  // namespace alexnet::cuda
