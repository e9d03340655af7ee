// The pictures of a run, drawn with OpenCV: the training curves and the conv1 filters.
#pragma once

#include <string>
#include <vector>

#include "alexnet/tensor.h"
#include "checkpoint.h"

namespace train {

// Two panels side by side, x = epoch: left the training and validation loss, right the
// training top-1, validation top-1 and top-5 error (0..1). Throws alexnet::Error when the
// PNG cannot be written; draws nothing useful (but still a valid image) for no history.
void plot_curves(const std::vector<EpochRecord>& history, const std::string& png_path);

// The paper's Figure 3: one tile per conv1 filter, (O, C, k, k) weights → a grid of k×k tiles
// (RGB for C = 3, grey for C = 1), each filter scaled to its own min..max, enlarged with
// nearest-neighbour sampling so small kernels stay visible.
void plot_filters(const alexnet::Tensor& conv1_weight, const std::string& png_path);

}  // namespace train
