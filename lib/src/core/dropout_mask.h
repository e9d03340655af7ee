// The dropout mask, defined once for every backend.
//
// Element i of a dropout call with seed s is kept iff dropout_uniform(s, i) >= p. The mask is
// a pure function of (seed, flat element index in the plain (N, C, H, W) layout), so the
// reference, oneDNN and CUDA backends produce bit-identical masks and can be tested against
// each other in training mode. Only <cstdint>: a .cu kernel includes this file too.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ALEXNET_HOST_DEVICE __host__ __device__
#else
#define ALEXNET_HOST_DEVICE
#endif

namespace alexnet {

// splitmix64's finaliser (Steele, Lea, Flood 2014): a bijection on 64 bits whose output
// bits each depend on all input bits, so neighbouring indices give unrelated values.
ALEXNET_HOST_DEVICE constexpr uint64_t dropout_mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 53 random bits. The seed is mixed before the index is added so
// that seeds s and s + 1 do not give shifted copies of one sequence.
ALEXNET_HOST_DEVICE constexpr double dropout_uniform(uint64_t seed, uint64_t index) {
  uint64_t h = dropout_mix(dropout_mix(seed) + index);
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // 2^-53
}

// Keep with probability 1 - p (p in [0, 1)); p = 0 keeps everything.
ALEXNET_HOST_DEVICE constexpr bool dropout_keep(uint64_t seed, uint64_t index, double p) {
  return dropout_uniform(seed, index) >= p;
}

// The factor kept elements are multiplied by (inverted dropout), rounded once to float so
// every backend scales by the same number: y = x * dropout_scale(p).
ALEXNET_HOST_DEVICE constexpr float dropout_scale(double p) {
  return static_cast<float>(1.0 / (1.0 - p));
}

}  // namespace alexnet
