// Training augmentation, the evaluation transform, ten-crop and training-set statistics.
//
// The evaluation view is the library's alexnet::preprocess() itself, so what the trainer
// measures is what alexnet-classify and the element compute. The training view needs crops
// anywhere in the resized image, which preprocess() does not offer, so it resizes with OpenCV
// on float pixels using the same filter (bilinear with half-pixel centres when enlarging,
// area averaging when shrinking) and the same geometry (torchvision's Resize(int): shorter
// side to `resize`, longer side truncated; never below the input size).
#include "augment.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "alexnet/error.h"

namespace train {

// ------------------------------------------------------------------------------------ Rng

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& w : s_) w = splitmix64(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::below(uint64_t n) {
  // Lemire's multiply-shift; the bias (< n / 2^64) does not matter here.
  __extension__ typedef unsigned __int128 u128;  // GCC/Clang; -Wpedantic knows no __int128
  return static_cast<uint64_t>((static_cast<u128>(next()) * n) >> 64);
}

double Rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

double Rng::normal() {
  const double u1 = 1.0 - uniform(), u2 = uniform();  // u1 in (0, 1]
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t x = seed;
  uint64_t h = splitmix64(x);
  for (uint64_t w : {a, b, c}) {
    x = h ^ (w * 0xd6e8feb86659fd93ULL);
    h = splitmix64(x);
  }
  return h;
}

// --------------------------------------------------------------------------------- config

void AugmentConfig::validate() const {
  auto bad = [](const std::string& what) { throw alexnet::Error("augmentation: " + what); };
  if (input_size < 1 || input_size > 4096) bad("input size must be in [1, 4096]");
  if (channels != 1 && channels != 3) bad("channels must be 1 or 3");
  if (resize < 0 || resize > 16384) bad("resize must be in [0, 16384] (0 = keep)");
  if (pad < 0 || pad >= input_size) bad("pad must be in [0, input size)");
  if (!(std::isfinite(pca_std) && pca_std >= 0)) bad("pca_std must be a finite number >= 0");
  for (int c = 0; c < channels; ++c) {
    if (!std::isfinite(mean[c])) bad("mean must hold finite numbers");
    if (!(std::isfinite(std[c]) && std[c] > 0)) bad("std must hold finite numbers > 0");
  }
  for (int i = 0; i < 3; ++i) {
    if (!std::isfinite(pca_eigval[i])) bad("PCA eigenvalues must be finite");
    for (float v : pca_eigvec[i])
      if (!std::isfinite(v)) bad("PCA eigenvectors must be finite");
  }
}

AugmentConfig default_augment(int input_size, int channels) {
  AugmentConfig a;
  a.input_size = input_size;
  a.channels = channels;
  if (input_size == 224 || input_size == 227) {
    a.resize = 256;
  } else if (input_size <= 28) {
    a.resize = input_size;
    a.pad = input_size >= 8 ? 2 : 0;
  } else if (input_size <= 32) {
    a.resize = input_size;
    a.pad = 4;
  } else {
    a.resize = static_cast<int>(std::lround(input_size * 256.0 / 224.0));
  }
  a.random_crop = true;
  a.flip = true;
  a.pca = false;
  a.mean = {0.5f, 0.5f, 0.5f};
  a.std = {0.25f, 0.25f, 0.25f};
  return a;
}

alexnet::PreprocessConfig to_preprocess_config(const AugmentConfig& cfg) {
  alexnet::PreprocessConfig p;
  p.resize = cfg.resize;
  p.crop = alexnet::Crop::Center;
  p.interpolation = cfg.interpolation;
  p.scale = 1.0 / 255.0;
  p.mean = cfg.mean;
  p.std = cfg.std;
  if (cfg.channels == 1) {  // grey: only index 0 is read; keep the file's numbers uniform
    p.mean = {cfg.mean[0], cfg.mean[0], cfg.mean[0]};
    p.std = {cfg.std[0], cfg.std[0], cfg.std[0]};
  }
  p.channel_order = alexnet::ChannelOrder::RGB;
  return p;
}

size_t input_numel(const AugmentConfig& cfg) {
  return static_cast<size_t>(cfg.channels) * cfg.input_size * cfg.input_size;
}

// ------------------------------------------------------------------------------ transforms

namespace {

void check_image(const Image& img) {
  if (img.width < 1 || img.height < 1 || (img.channels != 1 && img.channels != 3) ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
    throw alexnet::Error("augmentation: invalid image (" + std::to_string(img.width) + "x" +
                         std::to_string(img.height) + "x" + std::to_string(img.channels) + ", " +
                         std::to_string(img.pixels.size()) + " bytes)");
}

// torchvision's CenterCrop offset: round((len − size) / 2), halves to even (as preprocess()).
int centre_offset(int len, int size) {
  const int d = len - size, q = d / 2;
  return (d % 2 == 1 && q % 2 == 1) ? q + 1 : q;
}

// The image resized as preprocess() resizes it, as float pixels 0..255 (CV_32FC1/3).
cv::Mat resized(const Image& img, const AugmentConfig& cfg) {
  const int w = img.width, h = img.height, s = cfg.input_size;
  const int shorter = std::min(w, h), longer = std::max(w, h);
  const int target = std::max(cfg.resize > 0 ? cfg.resize : shorter, s);
  int rw = w, rh = h;
  if (target != shorter) {
    const int other = static_cast<int>(int64_t{target} * longer / shorter);
    rw = w <= h ? target : other;
    rh = w <= h ? other : target;
  }
  const cv::Mat src(h, w, CV_8UC(img.channels), const_cast<uint8_t*>(img.pixels.data()));
  cv::Mat f;
  src.convertTo(f, CV_32F);
  if (rw == w && rh == h) return f;
  int interp = cv::INTER_LINEAR;
  if (cfg.interpolation == alexnet::Interpolation::Nearest)
    interp = cv::INTER_NEAREST_EXACT;
  else if (cfg.interpolation == alexnet::Interpolation::Area && rw < w && rh < h)
    interp = cv::INTER_AREA;
  cv::Mat r;
  cv::resize(f, r, cv::Size(rw, rh), 0, 0, interp);
  return r;
}

// Writes the S×S window at (ox, oy) of `img` (float HWC, 1 or 3 channels), mirrored when
// `flip`, as (C, S, S): out = v·a[c] + b[c] (+ shift[c]), with luma for a grey model.
void emit(const cv::Mat& img, int ox, int oy, bool flip, const AugmentConfig& cfg,
          const std::array<float, 3>& shift, float* out) {
  const int s = cfg.input_size, ic = img.channels(), mc = cfg.channels;
  float a[3], b[3];
  for (int c = 0; c < mc; ++c) {  // exactly preprocess()'s coefficients
    a[c] = static_cast<float>((1.0 / 255.0) / cfg.std[c]);
    b[c] = -cfg.mean[c] / cfg.std[c] + shift[c] / cfg.std[c];
  }
  const size_t plane = static_cast<size_t>(s) * s;
  for (int y = 0; y < s; ++y) {
    const float* row = img.ptr<float>(oy + y) + static_cast<size_t>(ox) * ic;
    for (int x = 0; x < s; ++x) {
      const float* v = row + static_cast<size_t>(flip ? s - 1 - x : x) * ic;
      const size_t o = static_cast<size_t>(y) * s + x;
      if (mc == 3) {
        for (int c = 0; c < 3; ++c) out[c * plane + o] = v[ic == 3 ? c : 0] * a[c] + b[c];
      } else {
        const float g = ic == 3 ? 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2] : v[0];
        out[o] = g * a[0] + b[0];
      }
    }
  }
}

}  // namespace

void eval_transform(const Image& img, const AugmentConfig& cfg, float* out) {
  check_image(img);
  const alexnet::Frame f = alexnet::make_packed_frame(
      img.channels == 3 ? alexnet::PixelFormat::RGB : alexnet::PixelFormat::GRAY8, img.width,
      img.height, img.pixels.data());
  alexnet::preprocess(f, to_preprocess_config(cfg), cfg.channels, cfg.input_size, out);
}

void train_transform(const Image& img, const AugmentConfig& cfg, Rng& rng, float* out) {
  check_image(img);
  if (!cfg.random_crop && !cfg.flip && !cfg.pca) return eval_transform(img, cfg, out);
  cv::Mat r = resized(img, cfg);
  const int s = cfg.input_size;
  int ox, oy;
  if (cfg.random_crop) {
    if (cfg.pad > 0)
      cv::copyMakeBorder(r, r, cfg.pad, cfg.pad, cfg.pad, cfg.pad, cv::BORDER_CONSTANT,
                         cv::Scalar::all(0));
    ox = static_cast<int>(rng.below(static_cast<uint64_t>(r.cols - s + 1)));
    oy = static_cast<int>(rng.below(static_cast<uint64_t>(r.rows - s + 1)));
  } else {
    ox = centre_offset(r.cols, s);
    oy = centre_offset(r.rows, s);
  }
  const bool flip = cfg.flip && rng.below(2) == 1;
  std::array<float, 3> shift{0.0f, 0.0f, 0.0f};
  if (cfg.pca && cfg.channels == 3) {
    // The paper: every RGB pixel gets + Σ_i alpha_i · lambda_i · p_i, alpha_i ~ N(0, σ).
    double alpha[3];
    for (double& al : alpha) al = rng.normal() * cfg.pca_std;
    for (int c = 0; c < 3; ++c) {
      double d = 0;
      for (int i = 0; i < 3; ++i) d += alpha[i] * cfg.pca_eigval[i] * cfg.pca_eigvec[i][c];
      shift[c] = static_cast<float>(d);
    }
  }
  emit(r, ox, oy, flip, cfg, shift, out);
}

void ten_crop(const Image& img, const AugmentConfig& cfg, float* out) {
  check_image(img);
  const size_t n = input_numel(cfg);
  const int s = cfg.input_size;
  const cv::Mat r = resized(img, cfg);
  const int xs[4] = {0, r.cols - s, 0, r.cols - s}, ys[4] = {0, 0, r.rows - s, r.rows - s};
  const std::array<float, 3> none{0.0f, 0.0f, 0.0f};
  for (int k = 0; k < 4; ++k) {
    emit(r, xs[k], ys[k], false, cfg, none, out + k * n);
    emit(r, xs[k], ys[k], true, cfg, none, out + (k + 5) * n);
  }
  // The centre crop is the library's own (exactly the evaluation view); its flip is its mirror.
  float* centre = out + 4 * n;
  eval_transform(img, cfg, centre);
  float* mirrored = out + 9 * n;
  for (int c = 0; c < cfg.channels; ++c)
    for (int y = 0; y < s; ++y) {
      const float* src = centre + (static_cast<size_t>(c) * s + y) * s;
      float* dst = mirrored + (static_cast<size_t>(c) * s + y) * s;
      for (int x = 0; x < s; ++x) dst[x] = src[s - 1 - x];
    }
}

// ------------------------------------------------------------------------------ statistics

void symmetric_eigen3(const std::array<std::array<double, 3>, 3>& m, std::array<double, 3>& val,
                      std::array<std::array<double, 3>, 3>& vec) {
  double a[3][3], v[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a[i][j] = 0.5 * (m[i][j] + m[j][i]);
  for (int sweep = 0; sweep < 50; ++sweep) {
    const double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    if (off < 1e-30) break;
    for (int p = 0; p < 2; ++p)
      for (int q = p + 1; q < 3; ++q) {
        if (a[p][q] == 0.0) continue;
        // Rotation that zeroes a[p][q] (Numerical Recipes' stable form).
        const double theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < 3; ++k) {  // A ← A·J
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < 3; ++k) {  // A ← Jᵀ·A
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 3; ++k) {  // V ← V·J (columns are eigenvectors)
          const double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
  }
  int order[3] = {0, 1, 2};
  std::sort(order, order + 3, [&](int x, int y) { return a[x][x] > a[y][y]; });
  for (int i = 0; i < 3; ++i) {
    const int j = order[i];
    val[i] = a[j][j];
    int big = 0;
    for (int k = 0; k < 3; ++k) {
      vec[i][k] = v[k][j];
      if (std::fabs(v[k][j]) > std::fabs(v[big][j])) big = k;
    }
    if (vec[i][big] < 0)
      for (double& x : vec[i]) x = -x;
  }
}

namespace {

// The images the statistics read: all, or a seeded choice of max_samples in file order.
std::vector<size_t> stats_sample(size_t n, size_t max_samples, uint64_t seed) {
  std::vector<size_t> pick(n);
  for (size_t i = 0; i < n; ++i) pick[i] = i;
  if (max_samples < n) {
    Rng rng(mix_seed(seed, 0x57a75ULL));
    for (size_t i = 0; i < max_samples; ++i) std::swap(pick[i], pick[i + rng.below(n - i)]);
    pick.resize(max_samples);
    std::sort(pick.begin(), pick.end());  // read files in order (cache friendliness)
  }
  return pick;
}

// Per image: 3 sums and the 6 distinct second moments (double), or NaN when skipped. Summed
// in sample order afterwards, so the thread count does not change the result.
using Moments = std::array<double, 9>;

// The moments of each picked image under `view` (the evaluation transform, unnormalised), on
// `threads` threads; the first error stops them all and is rethrown.
std::vector<Moments> image_moments(const Dataset& data, const std::vector<size_t>& pick,
                                   const AugmentConfig& view, int ch, int threads) {
  std::vector<Moments> part(pick.size());
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    Image img;
    std::vector<float> buf(input_numel(view));
    const size_t plane = static_cast<size_t>(view.input_size) * view.input_size;
    try {
      for (size_t k; (k = next++) < pick.size();) {
        Moments& p = part[k];
        if (!data.load(pick[k], img, nullptr)) {
          p.fill(std::nan(""));
          continue;
        }
        eval_transform(img, view, buf.data());
        p.fill(0.0);
        for (size_t i = 0; i < plane; ++i) {
          double v[3];
          for (int c = 0; c < ch; ++c) v[c] = buf[c * plane + i];
          int m = 3;
          for (int c = 0; c < ch; ++c) {
            p[c] += v[c];
            for (int d = c; d < ch; ++d) p[m++] += v[c] * v[d];
          }
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = pick.size();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return part;
}

// Mean, std and (3 channels) the PCA of the pixels from the per-image moments; `pixels` is
// the pixel count of one image.
Stats stats_from_moments(const std::vector<Moments>& part, int ch, double pixels,
                         const std::string& source) {
  Stats st;
  st.channels = ch;
  Moments sum{};
  for (const auto& p : part) {
    if (std::isnan(p[0])) {
      ++st.skipped;
      continue;
    }
    ++st.images;
    for (int i = 0; i < 9; ++i) sum[i] += p[i];
  }
  if (st.images == 0)
    throw alexnet::Error(source + ": no image of the " + std::to_string(part.size()) +
                         " sampled for the statistics could be loaded");
  const double count = static_cast<double>(st.images) * pixels;
  double mean[3] = {0, 0, 0};
  for (int c = 0; c < ch; ++c) mean[c] = sum[c] / count;
  std::array<std::array<double, 3>, 3> cov{};
  int m = 3;
  for (int c = 0; c < ch; ++c)
    for (int d = c; d < ch; ++d, ++m) cov[c][d] = cov[d][c] = sum[m] / count - mean[c] * mean[d];
  for (int c = 0; c < 3; ++c) {
    const int src = c < ch ? c : 0;
    st.mean[c] = static_cast<float>(mean[src]);
    st.std[c] = static_cast<float>(std::sqrt(std::max(cov[src][src], 1e-12)));
  }
  if (ch == 3) {
    std::array<double, 3> val;
    std::array<std::array<double, 3>, 3> vec;
    symmetric_eigen3(cov, val, vec);
    for (int i = 0; i < 3; ++i) {
      st.eigval[i] = static_cast<float>(std::max(val[i], 0.0));
      for (int k = 0; k < 3; ++k) st.eigvec[i][k] = static_cast<float>(vec[i][k]);
    }
  }
  return st;
}

}  // namespace

Stats compute_stats(const Dataset& data, const AugmentConfig& cfg, size_t max_samples,
                    uint64_t seed, int threads) {
  // The evaluation transform without normalisation: the statistics are of the raw pixels.
  AugmentConfig view = cfg;
  view.mean = {0.0f, 0.0f, 0.0f};
  view.std = {1.0f, 1.0f, 1.0f};
  view.validate();
  const std::vector<size_t> pick = stats_sample(data.size(), max_samples, seed);
  const std::vector<Moments> part = image_moments(data, pick, view, cfg.channels, threads);
  const double pixels = view.input_size * static_cast<double>(view.input_size);
  return stats_from_moments(part, cfg.channels, pixels, data.source());
}

void apply_stats(const Stats& s, AugmentConfig& cfg) {
  cfg.mean = s.mean;
  cfg.std = s.std;
  if (s.channels == 3) {
    cfg.pca_eigval = s.eigval;
    cfg.pca_eigvec = s.eigvec;
  }
}

}  // namespace train
