// Introspection of the cpu backend's ops for tests and benchmarks, without dnnl.hpp.
#pragma once

#include <string>

#include "alexnet/backend.h"

namespace alexnet::cpu {

// One line per primitive an op of the cpu backend has built so far: its role, oneDNN's
// implementation name and the memory formats, e.g.
//   "fwd_inference brg:avx2 src nChw8c wei OIhw8i8o dst nChw8c".
// Empty for ops of other backends and ops that built no primitive.
std::string describe_op(const Op& op);

// The instruction set oneDNN's kernels run with here ("avx512_core_bf16", "avx2", ...): the
// CPU's best, or less under ONEDNN_MAX_CPU_ISA. Benchmarks and tests print it.
std::string effective_isa();

}  // namespace alexnet::cpu
