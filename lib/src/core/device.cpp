// Devices: the grammar, the CPU cores a process may use and their split. GPU discovery and
// the CUDA module are lib/src/backends/cuda_module.cpp.
#include "alexnet/device.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "alexnet/error.h"

namespace alexnet {

std::string Device::str() const {
  return kind == DeviceKind::Cpu ? "cpu" : "gpu:" + std::to_string(index);
}

int usable_cores() {
  int cores = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
  if (cores < 1) cores = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  // cgroup v2, as a container with its own cgroup namespace sees its limit: "max 100000" (no
  // limit) or "QUOTA PERIOD" in microseconds. Limits set on parent cgroups are not followed.
  std::ifstream f("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long long period = 0;
  if (f >> quota >> period && quota != "max" && period > 0) {
    const long long q = std::atoll(quota.c_str());
    if (q > 0)
      cores =
          static_cast<int>(std::min<long long>(cores, std::max(1LL, (q + period - 1) / period)));
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
