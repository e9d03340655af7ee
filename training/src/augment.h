// Decoded image → the network's (C, S, S) float input: the paper's training augmentation,
// the evaluation transform (the library's own preprocessing, so training's evaluation and the
// element agree), ten-crop, and the training-set statistics (mean/std, RGB PCA).
//
// Pixel values are in 0..1 units (byte / 255) wherever the config holds colour numbers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/preprocess.h"
#include "dataset.h"

namespace train {

// A small, portable, seedable generator (xoshiro256**, seeded through SplitMix64). The C++
// library's distributions differ between implementations; these do not, so a seed gives the
// same crops, flips and colour shifts on every machine.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n); n > 0
  double uniform();            // uniform in [0, 1)
  double normal();             // N(0, 1), Box–Muller
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_{};
};

// Mixes a seed with any number of words (epoch, sample index …) into a new seed.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0);

struct AugmentConfig {
  int input_size = 224;  // S: the network's input is (channels, S, S)
  int channels = 3;      // the network's input channels: 1 (grey: BT.601 luma) or 3 (RGB)
  int resize = 256;      // shorter side before cropping; 0 = keep (never below input_size)
  int pad = 0;           // training only: zero (black) border of `pad` px before random crops
  alexnet::Interpolation interpolation = alexnet::Interpolation::Area;
  bool random_crop = true;  // training: a uniformly placed S×S window; else the centre one
  bool flip = true;         // training: horizontal flip with p = 0.5
  bool pca = false;         // training: the paper's colour augmentation (3 channels only)
  float pca_std = 0.1f;     // alpha_i ~ N(0, pca_std)
  // Eigen-decomposition of the RGB covariance (0..1 units): eigval[i] belongs to the
  // eigenvector eigvec[i] = (R, G, B) components; sorted by decreasing eigenvalue.
  std::array<float, 3> pca_eigval{0.0f, 0.0f, 0.0f};
  std::array<std::array<float, 3>, 3> pca_eigvec{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  // Normalisation, in 0..1 units per network channel (index 0 only for grey).
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};

  void validate() const;  // throws alexnet::Error naming the field
};

// Defaults for a network input size: 224/227 → resize 256 (the paper's 256×256 images),
// crops + flips; 28 (idx) → resize 28, pad 2, crops + flips; 32 (CIFAR) → resize 32, pad 4,
// crops + flips; other sizes → resize round(S·256/224). PCA off (it needs statistics),
// mean 0.5 / std 0.25 placeholders until compute_stats() fills them.
AugmentConfig default_augment(int input_size, int channels);

// The library's preprocessing that the trained weights carry: resize (shorter side),
// centre crop, interpolation, mean/std. eval_transform() == alexnet::preprocess() with it.
alexnet::PreprocessConfig to_preprocess_config(const AugmentConfig& cfg);

// The float count of one input: channels * S * S.
size_t input_numel(const AugmentConfig& cfg);

// Training transform into out[channels * S * S] ((C, S, S) row-major): resize the shorter
// side to `resize` (never below S), pad, S×S crop (random or centre), flip (p = 0.5), PCA
// lighting, (v − mean) / std. Draws from `rng` in a fixed order (crop x, crop y, flip,
// alpha 0..2), only for the enabled steps. With random_crop, flip and pca all off it is
// eval_transform(). Throws alexnet::Error for an empty image.
void train_transform(const Image& img, const AugmentConfig& cfg, Rng& rng, float* out);

// Evaluation transform into out[channels * S * S]: exactly alexnet::preprocess() of the image
// (as an RGB or GRAY8 frame) with to_preprocess_config(cfg).
void eval_transform(const Image& img, const AugmentConfig& cfg, float* out);

// The paper's ten crops into out[10 * channels * S * S]: crops 0..4 = top-left, top-right,
// bottom-left, bottom-right, centre of the resized image (resize as eval, no pad); crops
// 5..9 = the same crops flipped horizontally. Crop 4 equals eval_transform() to within
// float rounding of the resampling (OpenCV's resize of the same filter).
void ten_crop(const Image& img, const AugmentConfig& cfg, float* out);

// Training-set statistics in 0..1 units, from the eval (centre-crop) view of a seeded sample
// of images at the config's resolution.
struct Stats {
  int channels = 0;
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};
  std::array<float, 3> eigval{0.0f, 0.0f, 0.0f};  // RGB covariance, decreasing (3 ch only)
  std::array<std::array<float, 3>, 3> eigvec{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};  // rows
  size_t images = 0;                                                              // images used
  size_t skipped = 0;  // images of the sample that did not load
};

// Uses min(max_samples, data.size()) images chosen by a permutation seeded by `seed`
// (all images, in order, when max_samples >= size). `cfg` gives the geometry (resize,
// input_size, channels); its mean/std are ignored. Runs on `threads` threads; the result does
// not depend on the thread count (per-image sums are added in sample order). Throws
// alexnet::Error when no image of the sample loads.
Stats compute_stats(const Dataset& data, const AugmentConfig& cfg, size_t max_samples,
                    uint64_t seed, int threads = 1);

// Copies mean/std (and, for 3 channels, eigval/eigvec) into cfg.
void apply_stats(const Stats& s, AugmentConfig& cfg);

// Eigen-decomposition of a symmetric 3×3 matrix (cyclic Jacobi): eigenvalues decreasing,
// eigenvectors as rows of `vec`, each with its largest-magnitude component positive.
void symmetric_eigen3(const std::array<std::array<double, 3>, 3>& a, std::array<double, 3>& val,
                      std::array<std::array<double, 3>, 3>& vec);

}  // namespace train
