// What the dataset targets (fuzz_dataset.cpp, fuzz_image.cpp) do with a dataset that opened.
#pragma once

#include <cstdlib>
#include <string>

#include "dataset.h"
#include "fuzz_common.h"

namespace fuzz {

// Loads (up to 64 of) the samples an open dataset lists; a sample that loads must have exactly
// the pixels its width, height and channels say.
inline void load_all(const train::Dataset& ds) {
  train::Image img;
  std::string why;
  for (size_t i = 0; i < ds.size() && i < 64; ++i) {
    (void)ds.label(i);
    (void)ds.item_name(i);
    if (ds.load(i, img, &why) &&
        img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
      std::abort();
  }
}

}  // namespace fuzz
