// The device grammar shared by the library, the element, the CLI and the trainer:
//   auto | LIST,  LIST = DEV[,DEV]*,  DEV = cpu | gpu:N
// e.g. "cpu", "cpu,cpu" (two CPU workers sharing the cores), "gpu:0,gpu:1", "gpu:0,gpu:0".
#pragma once

#include <string>
#include <vector>

#include "alexnet/tensor.h"

namespace alexnet {

struct Device {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;  // GPU ordinal
  std::string str() const;
  bool operator==(const Device&) const = default;
};

// Parses the grammar; throws alexnet::Error quoting the text and what is wrong.
// "auto" resolves to every GPU the CUDA backend sees, or to one CPU worker.
std::vector<Device> parse_devices(const std::string& text);

// Why GPUs are not available in this build / on this machine ("" if they are).
std::string gpu_unavailable_reason();
int gpu_count();
// One line of facts about GPU `index`: name, compute capability, memory, driver, CUDA
// runtime, cuDNN and cuBLAS versions (or why there is no GPU).
std::string gpu_describe(int index);

}  // namespace alexnet
