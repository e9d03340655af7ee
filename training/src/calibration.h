// Calibration images for int8 inference (alexnet-calibrate, alexnet-train --calibrate): images
// of a data set, preprocessed exactly as the classifier preprocesses frames of them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/tensor.h"
#include "alexnet/weights.h"
#include "dataset.h"

namespace train {

// The first `n` usable images of a seeded permutation of `data` (so every class is likely in
// them), preprocessed with the model's preprocessing: (n', C, H, W) with n' = min(n, size)
// less the items that could not be decoded (named in *skipped). Throws alexnet::Error when
// no image is usable.
alexnet::Tensor calibration_images(const Dataset& data, const alexnet::Model& model, size_t n,
                                   uint64_t seed, std::vector<std::string>* skipped);

}  // namespace train
