// The per-pixel preprocessing (lib/src/preprocess/preprocess_pixel.h), the body of the CUDA
// backend's fused kernel, against the host reference alexnet::preprocess, on this machine's CPU:
// every pixel format × interpolation × crop × matrix/range × grey/colour model × channel order, on
// frames of odd sizes (odd widths and heights for I420/NV12's chroma, 1×1, upscaled and downscaled)
// with strides wider than their rows and seeded random bytes.
//
// Tolerance: |pixel − reference| ≤ 1e-5 · max(1, |reference|). The pixel function repeats the
// reference's float operations in its order, so on x86-64 (no FMA contraction) the results are
// expected bit for bit (the measured maximum is printed); the GPU kernel runs the same code
// under nvcc --fmad=false. 1e-5 is the bar the GPU test (tests/gpu) holds the kernel to — a few
// float ulps of values up to 255 / std — so a difference in an operation's order passes,
// while a wrong tap, weight, offset or colour constant (differences of 1e-3 and up) fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "alexnet/preprocess.h"
#include "preprocess/preprocess_pixel.h"

using namespace alexnet;

namespace {

constexpr double kTolerance = 1e-5;

// A frame of `format` with random bytes, every plane's stride `pad` bytes wider than its row.
struct OwnedFrame {
  std::vector<uint8_t> bytes;
  Frame frame;
};

OwnedFrame random_frame(PixelFormat format, int width, int height, int pad, std::mt19937& rng) {
  const pixel::Planes ps = pixel::planes_of(format, width, height);
  OwnedFrame f;
  size_t total = 0;
  for (int p = 0; p < ps.count; ++p) total += static_cast<size_t>(ps.row[p] + pad) * ps.rows[p];
  f.bytes.resize(total);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : f.bytes) b = static_cast<uint8_t>(byte(rng));
  f.frame.format = format;
  f.frame.width = width;
  f.frame.height = height;
  size_t at = 0;
  for (int p = 0; p < ps.count; ++p) {
    f.frame.planes[p] = f.bytes.data() + at;
    f.frame.strides[p] = static_cast<int>(ps.row[p] + pad);
    at += static_cast<size_t>(ps.row[p] + pad) * ps.rows[p];
  }
  return f;
}

// What the GPU path does, on the host: pack the frame, describe it, run every output pixel.
std::vector<float> per_pixel(const Frame& frame, const PreprocessConfig& cfg, int channels,
                             int size) {
  pixel::PixelJob job = pixel::describe_frame(frame, cfg, channels, size);
  std::vector<uint8_t> buf(static_cast<size_t>(pixel::packed_size(frame)) + 8);
  pixel::pack_frame(frame, job, buf.data() + 8, 8);  // nonzero offset, as for the 2nd frame
  std::vector<float> out(static_cast<size_t>(channels) * size * size);  // (C, H, W)
  const int64_t plane = int64_t{size} * size;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      pixel::preprocess_pixel(job, buf.data(), x, y, out.data() + int64_t{y} * size + x, plane);
  return out;
}

struct FrameSize {
  int width, height, pad;
};

const char* interp_name(Interpolation i) {
  return i == Interpolation::Bilinear  ? "bilinear"
         : i == Interpolation::Nearest ? "nearest"
                                       : "area";
}

TEST(PreprocessPixel, MatchesReferenceEverywhere) {
  const PixelFormat formats[] = {PixelFormat::RGB,  PixelFormat::BGR,  PixelFormat::RGBx,
                                 PixelFormat::BGRx, PixelFormat::xRGB, PixelFormat::xBGR,
                                 PixelFormat::RGBA, PixelFormat::BGRA, PixelFormat::GRAY8,
                                 PixelFormat::I420, PixelFormat::NV12};
  // Odd widths/heights (chroma of ceil(w/2)), 1×1, long thin frames, frames smaller and much
  // larger than the output (upscaling; area boxes of up to ~20 samples).
  const FrameSize sizes[] = {{1, 1, 0},   {5, 3, 3},  {17, 9, 1},   {33, 65, 5},
                             {64, 48, 0}, {2, 41, 2}, {127, 31, 7}, {301, 199, 3}};
  struct Geometry {
    Crop crop;
    int resize;
  };
  const Geometry geometries[] = {
      {Crop::Center, 0}, {Crop::Center, 9}, {Crop::Center, 23}, {Crop::Stretch, 0}};
  const Interpolation interps[] = {Interpolation::Bilinear, Interpolation::Nearest,
                                   Interpolation::Area};
  struct Colour {
    ColorMatrix matrix;
    ColorRange range;
  };
  const Colour colours[] = {{ColorMatrix::BT601, ColorRange::Limited},
                            {ColorMatrix::BT601, ColorRange::Full},
                            {ColorMatrix::BT709, ColorRange::Limited},
                            {ColorMatrix::BT709, ColorRange::Full}};
  std::mt19937 rng(20261127);
  std::map<std::string, double> worst;  // per family: format kind × interpolation × channels
  int64_t cases = 0;
  for (PixelFormat format : formats) {
    const bool yuv = format == PixelFormat::I420 || format == PixelFormat::NV12;
    const std::string kind = yuv                            ? pixel_format_name(format)
                             : format == PixelFormat::GRAY8 ? "GRAY8"
                                                            : "packed RGB";
    for (const FrameSize& fs : sizes) {
      const OwnedFrame owned = random_frame(format, fs.width, fs.height, fs.pad, rng);
      for (const Colour& colour : colours) {
        if (!yuv && &colour != &colours[0]) continue;  // matrix/range apply to YUV only
        Frame frame = owned.frame;
        frame.matrix = colour.matrix;
        frame.range = colour.range;
        for (Interpolation interp : interps)
          for (const Geometry& g : geometries)
            for (int channels : {3, 1})
              for (int size : {7, 16}) {
                PreprocessConfig cfg = PreprocessConfig::imagenet();
                cfg.crop = g.crop;
                cfg.resize = g.resize;
                cfg.interpolation = interp;
                if (size == 16) {  // raw 0..255 values too: the tolerance is relative
                  cfg.scale = 1.0;
                  cfg.mean = {0.0f, 0.0f, 0.0f};
                  cfg.std = {1.0f, 1.0f, 1.0f};
                  cfg.channel_order = ChannelOrder::BGR;
                }
                SCOPED_TRACE(std::string(pixel_format_name(format)) + " " +
                             std::to_string(fs.width) + "x" + std::to_string(fs.height) + " " +
                             interp_name(interp) + " resize " + std::to_string(g.resize) +
                             (g.crop == Crop::Stretch ? " stretch" : " centre") + " channels " +
                             std::to_string(channels) + " size " + std::to_string(size) +
                             " colour " + std::to_string(&colour - colours));
                std::vector<float> ref(static_cast<size_t>(channels) * size * size);
                preprocess(frame, cfg, channels, size, ref.data());
                const std::vector<float> got = per_pixel(frame, cfg, channels, size);
                double m = 0;
                size_t bad = 0;
                for (size_t i = 0; i < ref.size(); ++i) {
                  const double d = std::fabs(double(got[i]) - double(ref[i]));
                  m = std::max(m, d);
                  if (!(d <= kTolerance * std::max(1.0, std::fabs(double(ref[i]))))) ++bad;
                }
                EXPECT_EQ(bad, 0u) << "max |difference| " << m;
                double& w = worst[kind + " " + interp_name(interp) + " channels " +
                                  std::to_string(channels)];
                w = std::max(w, m);
                ++cases;
              }
      }
    }
  }
  std::printf("%lld cases; max |per-pixel − reference| by family:\n",
              static_cast<long long>(cases));
  for (const auto& [family, m] : worst) std::printf("  %-36s %.3g\n", family.c_str(), m);
}

// Area boxes whose edge falls within 1e-3 of a sample boundary (the reference drops such
// slivers, and caps a box at floor(k) + 2 taps): 1203x1101 resized to 1099 puts two of them
// inside the centre crop (found by searching; the main test's small frames have none).
TEST(PreprocessPixel, AreaSliversLikeTheReference) {
  std::mt19937 rng(7);
  double worst = 0;
  for (PixelFormat format : {PixelFormat::RGB, PixelFormat::xBGR, PixelFormat::GRAY8,
                             PixelFormat::I420, PixelFormat::NV12}) {
    const OwnedFrame owned = random_frame(format, 1203, 1101, 1, rng);
    PreprocessConfig cfg = PreprocessConfig::imagenet();
    cfg.resize = 1099;
    cfg.interpolation = Interpolation::Area;
    for (int channels : {3, 1}) {
      SCOPED_TRACE(std::string(pixel_format_name(format)) + " channels " +
                   std::to_string(channels));
      std::vector<float> ref(static_cast<size_t>(channels) * 16 * 16);
      preprocess(owned.frame, cfg, channels, 16, ref.data());
      const std::vector<float> got = per_pixel(owned.frame, cfg, channels, 16);
      for (size_t i = 0; i < ref.size(); ++i) {
        const double d = std::fabs(double(got[i]) - double(ref[i]));
        worst = std::max(worst, d);
        EXPECT_LE(d, kTolerance * std::max(1.0, std::fabs(double(ref[i])))) << "at " << i;
      }
    }
  }
  std::printf("area slivers: max |per-pixel − reference| %.3g\n", worst);
}

// The GPU path refuses what the reference refuses, with the same messages.
TEST(PreprocessPixel, ValidatesLikeTheReference) {
  std::vector<uint8_t> bytes(64 * 64 * 4, 7);
  const PreprocessConfig cfg = PreprocessConfig::imagenet();
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::vector<Frame> frames;
  Frame f = make_packed_frame(PixelFormat::I420, 8, 6, bytes.data());
  f.strides[1] = 3;  // row of 4
  frames.push_back(f);
  f = make_packed_frame(PixelFormat::NV12, 8, 6, bytes.data());
  f.planes[1] = nullptr;
  frames.push_back(f);
  f = make_packed_frame(PixelFormat::RGBx, 8, 6, bytes.data());
  f.width = 0;
  frames.push_back(f);
  for (const Frame& frame : frames) {
    float out[3 * 4 * 4];
    const std::string want = message([&] { preprocess(frame, cfg, 3, 4, out); });
    EXPECT_NE(want, "(no error)");
    EXPECT_EQ(message([&] { pixel::describe_frame(frame, cfg, 3, 4); }), want);
  }
  const Frame ok = make_packed_frame(PixelFormat::RGB, 8, 6, bytes.data());
  PreprocessConfig bad = cfg;
  bad.std[1] = 0.0f;
  float out[3 * 4 * 4];
  EXPECT_EQ(message([&] { pixel::describe_frame(ok, bad, 3, 4); }),
            message([&] { preprocess(ok, bad, 3, 4, out); }));
  EXPECT_EQ(message([&] { pixel::describe_frame(ok, cfg, 2, 4); }),
            message([&] { preprocess(ok, cfg, 2, 4, out); }));
}

}  // namespace
