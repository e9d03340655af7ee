// Calibration for int8 inference: the range of every weighted layer's input and output over
// representative images, from the fp32 network (weights.h: LayerRange, Model::calibration).
#pragma once

#include <vector>

#include "alexnet/tensor.h"
#include "alexnet/weights.h"

namespace alexnet {

// Runs `images` ((N, C, H, W), preprocessed as the model's frames are; N >= 1) through the
// model's fp32 network on the cpu backend, in batches of at most 32, and returns each
// weighted layer's input min/max and output max (after its fused ReLU). threads: 0 = all.
std::vector<LayerRange> calibrate(const Model& model, const Tensor& images, int threads = 0);

}  // namespace alexnet
