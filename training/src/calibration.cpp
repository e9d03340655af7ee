// calibration_images(): see calibration.h.
#include "calibration.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "alexnet/error.h"
#include "alexnet/preprocess.h"

namespace train {

alexnet::Tensor calibration_images(const Dataset& data, const alexnet::Model& model, size_t n,
                                   uint64_t seed, std::vector<std::string>* skipped) {
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<Image> images;
  for (size_t k = 0; k < order.size() && images.size() < n; ++k) {
    Image img;
    std::string why;
    if (!data.load(order[k], img, &why)) {
      if (skipped) skipped->push_back(data.item_name(order[k]) + ": " + why);
      continue;
    }
    images.push_back(std::move(img));
  }
  if (images.empty()) throw alexnet::Error(data.source() + ": no usable image to calibrate with");
  std::vector<alexnet::Frame> frames;
  for (const Image& img : images) {
    alexnet::Frame f;
    f.format = img.channels == 1 ? alexnet::PixelFormat::GRAY8 : alexnet::PixelFormat::RGB;
    f.width = img.width;
    f.height = img.height;
    f.planes[0] = img.pixels.data();
    f.strides[0] = img.width * img.channels;
    frames.push_back(f);
  }
  const alexnet::NetConfig& cfg = model.config;
  return alexnet::preprocess_batch(frames, model.preprocess, cfg.in_channels, cfg.input_size);
}

}  // namespace train
