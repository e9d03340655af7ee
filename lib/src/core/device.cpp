#include "alexnet/device.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "alexnet/backend.h"
#include "alexnet/error.h"

namespace alexnet {

std::string Device::str() const {
  return kind == DeviceKind::Cpu ? "cpu" : "gpu:" + std::to_string(index);
}

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
  // NCCL (optional: a module without them has no NCCL all-reduce).
  using NcclVersionFn = int (*)(char* out, int size);
  using AllreduceFn = int (*)(Backend* const* backends, int n, float* const* const* buffers,
                              const int64_t* counts, int t, const float* scales, char* error,
                              int error_size);
  NcclVersionFn nccl_version = nullptr;
  AllreduceFn allreduce = nullptr;
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
    probe.nccl_version =
        reinterpret_cast<GpuProbe::NcclVersionFn>(dlsym(handle, "alexnet_cuda_nccl_version"));
    probe.allreduce =
        reinterpret_cast<GpuProbe::AllreduceFn>(dlsym(handle, "alexnet_cuda_allreduce"));
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

int usable_cores() {
  int cores = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
  if (cores < 1) cores = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  // cgroup v2: "max 100000" (no limit) or "QUOTA PERIOD" in microseconds.
  std::ifstream f("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long long period = 0;
  if (f >> quota >> period && quota != "max" && period > 0) {
    const long long q = std::atoll(quota.c_str());
    if (q > 0) cores = std::min(cores, static_cast<int>(std::max(1LL, (q + period - 1) / period)));
  }
  return cores;
}

std::vector<int> split_cpu_threads(const std::vector<Device>& devices, int threads) {
  if (threads < 0)
    throw Error("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  const int cores = threads > 0 ? threads : usable_cores();
  const int cpus = static_cast<int>(std::count_if(
      devices.begin(), devices.end(), [](const Device& d) { return d.kind == DeviceKind::Cpu; }));
  std::vector<int> out;
  int seen = 0;
  for (const Device& d : devices) {
    out.push_back(
        d.kind != DeviceKind::Cpu ? 0 : std::max(1, cores / cpus + (seen < cores % cpus ? 1 : 0)));
    if (d.kind == DeviceKind::Cpu) ++seen;
  }
  return out;
}

std::string join_devices(const std::vector<Device>& devices) {
  std::string s;
  for (const Device& d : devices) {
    if (!s.empty()) s.append(",");
    s.append(d.str());
  }
  return s;
}

std::vector<Device> parse_devices(const std::string& text) {
  auto bad = [&](const std::string& why) -> std::vector<Device> {
    throw Error("device \"" + text + "\": " + why +
                " (expected auto, or a comma-separated list of cpu and gpu:N, e.g. cpu,cpu)");
  };
  if (text.empty()) return bad("empty");
  if (text == "auto") {
    // Every GPU the CUDA backend sees, else one CPU worker (callers say why, with
    // gpu_unavailable_reason()).
    int count = gpu_count();
    if (count <= 0) return {Device{DeviceKind::Cpu, 0}};
    std::vector<Device> all;
    for (int i = 0; i < count && i < 16; ++i) all.push_back({DeviceKind::Gpu, i});
    return all;
  }
  std::vector<Device> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item == "cpu") {
      out.push_back({DeviceKind::Cpu, 0});
    } else if (item.rfind("gpu:", 0) == 0 && item.size() > 4 && item.size() <= 7 &&
               item.find_first_not_of("0123456789", 4) == std::string::npos) {
      out.push_back({DeviceKind::Gpu, std::stoi(item.substr(4))});
    } else if (item.empty()) {
      return bad("empty entry");
    } else if (item == "auto") {
      return bad("auto cannot be combined with other devices");
    } else {
      return bad("unknown device '" + item + "'");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.size() > 16) return bad("more than 16 devices");
  return out;
}

}  // namespace alexnet
