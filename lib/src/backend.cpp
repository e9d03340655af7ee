#include "alexnet/backend.h"

#include "alexnet/error.h"

namespace alexnet {

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "reference") return make_reference_backend();
  if (name == "cpu") return make_cpu_backend(threads);
  throw Error("unknown backend '" + name + "' (known: reference, cpu)");
}

std::unique_ptr<Backend> make_backend(const Device& device, int threads) {
  if (device.kind == DeviceKind::Cpu) return make_cpu_backend(threads);
  throw Error("device " + device.str() + " is not available: " + gpu_unavailable_reason());
}

}  // namespace alexnet
