// How long one device may take before the others give up on it, and a stall to test that.
//
// Every wait of one device (or worker) on another is bounded: a data-parallel step waits for
// its replicas, a model-parallel step for its other half, a GPU exchange for the other GPU's
// stream. A worker that fails ends the step with its error; one that has not finished after
// $ALEXNET_DEVICE_TIMEOUT_S seconds (default 60) ends it with an error naming it, instead of
// a hang.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "alexnet/error.h"

namespace alexnet {

// $ALEXNET_DEVICE_TIMEOUT_S, or 60. A value that is not a number > 0 is an error naming it.
inline double device_timeout_seconds() {
  const char* env = std::getenv("ALEXNET_DEVICE_TIMEOUT_S");
  if (!env || !*env) return 60.0;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(v > 0) || v > 1e9)
    throw Error(std::string("ALEXNET_DEVICE_TIMEOUT_S=\"") + env +
                "\": expected a number of seconds > 0");
  return v;
}

// "12.5 s (ALEXNET_DEVICE_TIMEOUT_S)": for the errors.
inline std::string device_timeout_text(double seconds) {
  char s[64];
  std::snprintf(s, sizeof s, "%g s (ALEXNET_DEVICE_TIMEOUT_S)", seconds);
  return s;
}

// Testing hook: with $ALEXNET_DEBUG_STALL="W:S", worker W (a data-parallel replica, a
// model-parallel half) stops responding at step S: it sleeps until the process ends, as a
// hung device would. Anything else in the variable is an error naming it.
inline void debug_stall_point(size_t worker, uint64_t step) {
  const char* env = std::getenv("ALEXNET_DEBUG_STALL");
  if (!env || !*env) return;
  unsigned long long w = 0, s = 0;
  char tail = 0;
  if (std::sscanf(env, "%llu:%llu%c", &w, &s, &tail) != 2)
    throw Error(std::string("ALEXNET_DEBUG_STALL=\"") + env + "\": expected WORKER:STEP");
  if (w != worker || s != step) return;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace alexnet
