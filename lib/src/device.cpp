#include "alexnet/device.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

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
  if (gpus().count > 0)
    return "GPUs are present, but the CUDA backend is not implemented yet in this version";
  return gpus().reason;
}

std::vector<Device> parse_devices(const std::string& text) {
  auto bad = [&](const std::string& why) -> std::vector<Device> {
    throw Error("device \"" + text + "\": " + why +
                " (expected auto, or a comma-separated list of cpu and gpu:N, e.g. cpu,cpu)");
  };
  if (text.empty()) return bad("empty");
  if (text == "auto") {
    // GPUs when the CUDA backend can use them; today that is never, so one CPU worker.
    return {Device{DeviceKind::Cpu, 0}};
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
