// The CUDA module (libalexnet-cuda.so, lib/src/backends/cuda/) as the rest of the library
// sees it: loaded with dlopen on first use, so that a CUDA-enabled build starts and runs on
// the CPU where the driver or the CUDA libraries are missing. GPU discovery (device.h),
// make_cuda_backend (backend.h) and the NCCL all-reduce bridge go through it.
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "alexnet/backend.h"
#include "alexnet/device.h"
#include "alexnet/error.h"

namespace alexnet {

namespace {

// The CUDA module is looked up once: $ALEXNET_CUDA_MODULE, the installed path, then the
// build folder. Missing module, driver or device are all reasons, not crashes.
struct GpuProbe {
  int count = 0;
  std::string reason;
  std::string path;  // the module that was loaded
  using MakeFn = Backend* (*)(int device, int precision, char* error, int error_size);
  using DescribeFn = int (*)(int device, char* out, int size);
  MakeFn make = nullptr;
  DescribeFn describe = nullptr;
  using MemoryUsedFn = long long (*)(int device);
  MemoryUsedFn memory_used = nullptr;  // optional
  // NCCL (optional: a module without them has no NCCL all-reduce).
  using NcclVersionFn = int (*)(char* out, int size);
  using AllreduceFn = int (*)(Backend* const* backends, int n, float* const* const* buffers,
                              const int64_t* counts, int t, const float* scales, char* error,
                              int error_size);
  NcclVersionFn nccl_version = nullptr;
  AllreduceFn allreduce = nullptr;
  // NCCL across processes (optional too).
  using UniqueIdFn = int (*)(char* out, int size, char* error, int error_size);
  using JoinFn = void* (*)(const char* id, int id_size, int nranks, int rank, Backend* backend,
                           char* error, int error_size);
  using GroupAllreduceFn = int (*)(void* group, Backend* backend, float* const* buffers,
                                   const int64_t* counts, int t, float scale, char* error,
                                   int error_size);
  UniqueIdFn unique_id = nullptr;
  JoinFn join = nullptr;
  GroupAllreduceFn group_allreduce = nullptr;
};

GpuProbe probe_gpus() {
  GpuProbe probe;
#if defined(ALEXNET_CUDA_MODULE_INSTALLED) && defined(ALEXNET_CUDA_MODULE_BUILD)
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("ALEXNET_CUDA_MODULE")) candidates.push_back(env);
  candidates.push_back(ALEXNET_CUDA_MODULE_INSTALLED);
  candidates.push_back(ALEXNET_CUDA_MODULE_BUILD);
  std::string errors;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = dlerror();
      errors += std::string(errors.empty() ? "" : "; ") + (e ? e : path.c_str());
      continue;
    }
    using CountFn = int (*)(char*, int);
    auto fn = reinterpret_cast<CountFn>(dlsym(handle, "alexnet_cuda_device_count"));
    if (!fn) {
      probe.reason = path + ": not an alexnet CUDA module (no alexnet_cuda_device_count)";
      return probe;
    }
    probe.path = path;
    probe.make = reinterpret_cast<GpuProbe::MakeFn>(dlsym(handle, "alexnet_cuda_make_backend"));
    probe.describe = reinterpret_cast<GpuProbe::DescribeFn>(dlsym(handle, "alexnet_cuda_describe"));
    probe.memory_used =
        reinterpret_cast<GpuProbe::MemoryUsedFn>(dlsym(handle, "alexnet_cuda_memory_used"));
    probe.nccl_version =
        reinterpret_cast<GpuProbe::NcclVersionFn>(dlsym(handle, "alexnet_cuda_nccl_version"));
    probe.allreduce =
        reinterpret_cast<GpuProbe::AllreduceFn>(dlsym(handle, "alexnet_cuda_allreduce"));
    probe.unique_id =
        reinterpret_cast<GpuProbe::UniqueIdFn>(dlsym(handle, "alexnet_cuda_nccl_unique_id"));
    probe.join = reinterpret_cast<GpuProbe::JoinFn>(dlsym(handle, "alexnet_cuda_nccl_join"));
    probe.group_allreduce = reinterpret_cast<GpuProbe::GroupAllreduceFn>(
        dlsym(handle, "alexnet_cuda_nccl_group_allreduce"));
    if (!probe.make || !probe.describe) {
      probe.reason = path + ": an incomplete alexnet CUDA module (no alexnet_cuda_make_backend)";
      return probe;
    }
    char why[512] = {0};
    probe.count = fn(why, sizeof why);
    if (probe.count <= 0) probe.reason = why[0] ? why : "no CUDA device present";
    return probe;  // the module stays loaded for the process lifetime
  }
  probe.reason = "the CUDA module could not be loaded (" + errors + ")";
#else
  probe.reason = "this build has no CUDA support (configure with -Dcuda=enabled)";
#endif
  return probe;
}

const GpuProbe& gpus() {
  static const GpuProbe probe = probe_gpus();
  return probe;
}

}  // namespace

int gpu_count() {
  return gpus().count;
}

std::string gpu_unavailable_reason() {
  if (gpus().count > 0) return "";
  return gpus().reason;
}

std::string gpu_describe(int index) {
  const GpuProbe& probe = gpus();
  if (probe.count <= 0) return "no GPU: " + probe.reason;
  char text[512] = {0};
  probe.describe(index, text, sizeof text);
  return text;
}

int64_t gpu_memory_used(int index) {
  const GpuProbe& probe = gpus();
  if (probe.count <= 0 || !probe.memory_used || index < 0 || index >= probe.count) return -1;
  return probe.memory_used(index);
}

std::unique_ptr<Backend> make_cuda_backend(int index, Precision precision) {
  const GpuProbe& probe = gpus();
  std::string device = "gpu:" + std::to_string(index);
  if (probe.count <= 0) throw Error("device " + device + " is not available: " + probe.reason);
  if (index < 0 || index >= probe.count)
    throw Error("device " + device + " is not available: this machine has " +
                std::to_string(probe.count) + " GPU" + (probe.count == 1 ? "" : "s") + " (gpu:0" +
                (probe.count > 1 ? "..gpu:" + std::to_string(probe.count - 1) : "") + ")");
  char error[1024] = {0};
  Backend* backend = probe.make(index, static_cast<int>(precision), error, sizeof error);
  if (!backend) throw Error("device " + device + ": the CUDA backend failed to start: " + error);
  return std::unique_ptr<Backend>(backend);
}

namespace {

struct NcclProbe {
  std::string version, reason;
};

const NcclProbe& nccl_probe() {
  static const NcclProbe probe = [] {
    NcclProbe p;
    const GpuProbe& g = gpus();
    if (g.count <= 0) {
      p.reason = "no GPU: " + g.reason;
    } else if (!g.nccl_version || !g.allreduce) {
      p.reason = g.path + " has no NCCL entry points (an older CUDA module)";
    } else {
      char text[512] = {0};
      if (g.nccl_version(text, sizeof text))
        p.version = text;
      else
        p.reason = text[0] ? text : "NCCL is unavailable";
    }
    return p;
  }();
  return probe;
}

}  // namespace

std::string nccl_version() {
  return nccl_probe().version;
}

std::string nccl_unavailable_reason() {
  return nccl_probe().reason;
}

void gpu_allreduce(std::span<Backend* const> backends,
                   const std::vector<std::vector<float*>>& buffers, std::span<const int64_t> counts,
                   std::span<const float> scales) {
  // The module checks the devices first (distinct GPUs), then that NCCL is there.
  if (!gpus().allreduce)
    throw Error("NCCL all-reduce: NCCL is not available: " + nccl_probe().reason);
  if (backends.empty()) throw Error("NCCL all-reduce over no backend");
  if (buffers.size() != backends.size())
    throw Error("NCCL all-reduce: " + std::to_string(buffers.size()) + " buffer lists for " +
                std::to_string(backends.size()) + " backends");
  if (!scales.empty() && scales.size() != backends.size())
    throw Error("NCCL all-reduce: " + std::to_string(scales.size()) + " scales for " +
                std::to_string(backends.size()) + " backends");
  std::vector<float* const*> lists;
  for (const auto& b : buffers) {
    if (b.size() != counts.size())
      throw Error("NCCL all-reduce: " + std::to_string(b.size()) + " buffers for " +
                  std::to_string(counts.size()) + " counts");
    lists.push_back(b.data());
  }
  char error[1024] = {0};
  if (!gpus().allreduce(backends.data(), static_cast<int>(backends.size()), lists.data(),
                        counts.data(), static_cast<int>(counts.size()),
                        scales.empty() ? nullptr : scales.data(), error, sizeof error))
    throw Error(error[0] ? error : "NCCL all-reduce failed");
}

std::string nccl_unique_id() {
  if (!gpus().unique_id)
    throw Error("NCCL across processes: NCCL is not available: " +
                (nccl_probe().reason.empty() ? std::string("the CUDA module has no NCCL groups")
                                             : nccl_probe().reason));
  char id[256] = {0}, error[1024] = {0};
  const int n = gpus().unique_id(id, sizeof id, error, sizeof error);
  if (n <= 0) throw Error(error[0] ? error : "ncclGetUniqueId failed");
  return std::string(id, static_cast<size_t>(n));
}

NcclGroup* nccl_join(const std::string& id, int nranks, int rank, Backend& backend) {
  if (!gpus().join) throw Error("NCCL across processes: not in this CUDA module");
  char error[1024] = {0};
  void* g = gpus().join(id.data(), static_cast<int>(id.size()), nranks, rank, &backend, error,
                        sizeof error);
  if (!g) throw Error(error[0] ? error : "joining the NCCL group failed");
  return static_cast<NcclGroup*>(g);
}

void nccl_group_allreduce(NcclGroup* group, Backend& backend, std::span<Tensor* const> grads,
                          float scale) {
  if (!gpus().group_allreduce) throw Error("NCCL across processes: not in this CUDA module");
  std::vector<float*> buffers;
  std::vector<int64_t> counts;
  for (Tensor* g : grads) {
    buffers.push_back(g->data());
    counts.push_back(g->numel());
  }
  char error[1024] = {0};
  if (!gpus().group_allreduce(group, &backend, buffers.data(), counts.data(),
                              static_cast<int>(buffers.size()), scale, error, sizeof error))
    throw Error(error[0] ? error : "the NCCL all-reduce failed");
}

}  // namespace alexnet
