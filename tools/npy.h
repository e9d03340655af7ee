// Minimal .npy (NumPy format 1.0-3.0) reading and writing for float32 C-order arrays: the
// interop format of alexnet-classify (`.npy` inputs, `--logits` output). Inputs are
// untrusted: the header is validated before the data is allocated.
#pragma once

#include <string>

#include "alexnet/tensor.h"

namespace alexnet::npy {

// Reads a little-endian float32 ('<f4'), C-order array; throws alexnet::Error naming the
// file and the problem otherwise (other dtypes, Fortran order, truncated data …).
Tensor read(const std::string& path);
void write(const std::string& path, const Tensor& t);

}  // namespace alexnet::npy
