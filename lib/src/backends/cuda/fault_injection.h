// Fault injection in the CUDA module, for tests: ALEXNET_CUDA_FAULT=KIND:N[,KIND:N...] makes
// the Nth call of that kind in the process fail as the device would, once:
//   malloc:N  the Nth device allocation returns cudaErrorMemoryAllocation;
//   launch:N  the Nth kernel launch check returns cudaErrorLaunchFailure;
//   cudnn:N   the Nth cuDNN call returns CUDNN_STATUS_EXECUTION_FAILED (without running).
// The failure then takes the normal path: the check macro's error names the device, the call
// and "(injected by ALEXNET_CUDA_FAULT)". Read once, at the module's first check; a value that
// does not parse is an error naming the variable. Host code only, no CUDA types: the parsing
// and counting are tested without a GPU (tests/gpu/test_cuda.cpp, CudaFault.*).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "alexnet/error.h"

namespace alexnet::cuda {

enum class Fault { Malloc = 0, Launch = 1, Cudnn = 2 };

struct FaultPlan {
  std::array<uint64_t, 3> nth{};  // per Fault; 0 = never
};

inline FaultPlan parse_fault_plan(const std::string& text) {
  FaultPlan plan;
  auto bad = [&](const std::string& why) -> FaultPlan {
    throw Error("ALEXNET_CUDA_FAULT=\"" + text + "\": " + why +
                " (expected KIND:N[,KIND:N], KIND = malloc, launch or cudnn, N >= 1)");
  };
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t colon = item.find(':');
    if (colon == std::string::npos) return bad("'" + item + "' has no ':'");
    const std::string kind = item.substr(0, colon), count = item.substr(colon + 1);
    char* stop = nullptr;
    const unsigned long long n = std::strtoull(count.c_str(), &stop, 10);
    if (count.empty() || *stop != '\0' || n == 0 || count[0] == '-')
      return bad("'" + count + "' is not a count >= 1");
    if (kind == "malloc")
      plan.nth[0] = n;
    else if (kind == "launch")
      plan.nth[1] = n;
    else if (kind == "cudnn")
      plan.nth[2] = n;
    else
      return bad("unknown kind '" + kind + "'");
    start = end + 1;
  }
  return plan;
}

// Counts the calls of each kind; fail_now() is true for exactly the planned one.
class FaultCounter {
 public:
  explicit FaultCounter(FaultPlan plan) : plan_(plan) {}
  bool fail_now(Fault f) {
    const auto k = static_cast<size_t>(f);
    return plan_.nth[k] != 0 && count_[k].fetch_add(1) + 1 == plan_.nth[k];
  }

 private:
  FaultPlan plan_;
  std::array<std::atomic<uint64_t>, 3> count_{};
};

// The process's injector, from $ALEXNET_CUDA_FAULT at first use (none: never fails).
inline bool inject_fault(Fault f) {
  static FaultCounter counter = [] {
    const char* env = std::getenv("ALEXNET_CUDA_FAULT");
    return FaultCounter(env && *env ? parse_fault_plan(env) : FaultPlan{});
  }();
  return counter.fail_now(f);
}

}  // namespace alexnet::cuda
