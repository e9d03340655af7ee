#include "alexnet/backend.h"

#include <cstdlib>
#include <cstring>

#include "alexnet/error.h"

namespace alexnet {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F16:
      return "fp16";
    case Precision::BF16:
      return "bf16";
    case Precision::INT8:
      return "int8";
    default:
      return "fp32";
  }
}

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::F32;
  if (text == "fp16") return Precision::F16;
  if (text == "bf16") return Precision::BF16;
  if (text == "int8") return Precision::INT8;
  throw Error("precision \"" + text + "\": unknown (expected fp32, fp16, bf16 or int8)");
}

std::unique_ptr<Backend> make_backend(const std::string& name, int threads) {
  if (name == "reference") return make_reference_backend();
  if (name == "cpu") return make_cpu_backend(threads);
  if (name == "cuda") return make_cuda_backend(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() < 9 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos)
    return make_cuda_backend(std::stoi(name.substr(5)));
  throw Error("unknown backend '" + name + "' (known: reference, cpu, cuda, cuda:N)");
}

// $ALEXNET_CPU_BACKEND=reference runs every "cpu" device on the reference backend (plain
// loops, one thread, fp32): for ThreadSanitizer, which cannot see inside oneDNN and libgomp
// (scripts/sanitize --tsan), and for debugging a fast path against its oracle. Unset or
// "onednn": the cpu backend.
bool cpu_means_reference() {
  const char* env = std::getenv("ALEXNET_CPU_BACKEND");
  if (!env || !*env || std::strcmp(env, "onednn") == 0) return false;
  if (std::strcmp(env, "reference") == 0) return true;
  throw Error(std::string("ALEXNET_CPU_BACKEND=\"") + env + "\": expected onednn or reference");
}

std::unique_ptr<Backend> make_backend(const Device& device, int threads, Precision precision) {
  if (device.kind == DeviceKind::Cpu && cpu_means_reference()) {
    if (precision != Precision::F32)
      throw Error(std::string("ALEXNET_CPU_BACKEND=reference runs fp32 only, not ") +
                  precision_name(precision));
    return make_reference_backend();
  }
  if (device.kind == DeviceKind::Cpu) return make_cpu_backend(threads, precision);
  if (precision == Precision::INT8)
    throw Error("device gpu:" + std::to_string(device.index) +
                ": precision int8 is for CPUs (a GPU runs fp32, fp16 or bf16)");
  return make_cuda_backend(device.index, precision);
}

}  // namespace alexnet
