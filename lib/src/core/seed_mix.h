// Seeds derived from seeds: splitmix64, and the dropout seed of one layer in one step, shared
// by Network, DataParallel and ModelParallel so every way of running a model draws the same
// masks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace alexnet {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The dropout seed of layer `layer` (index in build_layers) at optimiser step `step`.
inline uint64_t layer_seed(uint64_t seed, uint64_t step, size_t layer) {
  return splitmix64(splitmix64(seed ^ splitmix64(step)) + layer);
}

}  // namespace alexnet
