// Placeholder: no GPU preprocessing yet (the caller preprocesses on the host).
#include "ops.h"

namespace alexnet::cuda {

bool preprocess_frames(Context&, std::span<const Frame>, const PreprocessConfig&, int, int,
                       Tensor&) {
  return false;
}

}  // namespace alexnet::cuda
