// preprocess(): every pixel format against a straightforward reference on a real photo.
//
// The reference does it the obvious, slow way: the whole frame to an RGB float image (one
// formula per pixel), then cv::resize to the virtual resized size (torchvision's Resize
// rule) and a crop (torchvision's CenterCrop rule), then normalisation. preprocess() does the
// same in one pass over only the output's pixels, so the two must agree.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "alexnet/error.h"
#include "alexnet/preprocess.h"

using namespace alexnet;

namespace {

const PixelFormat kPacked[] = {PixelFormat::RGB,  PixelFormat::BGR,  PixelFormat::RGBx,
                               PixelFormat::BGRx, PixelFormat::xRGB, PixelFormat::xBGR,
                               PixelFormat::RGBA, PixelFormat::BGRA};
const Interpolation kInterps[] = {Interpolation::Bilinear, Interpolation::Area,
                                  Interpolation::Nearest};

const cv::Mat& photo() {  // BGR, 8-bit
  static const cv::Mat img = [] {
    const char* path = std::getenv("PREPROCESS_PHOTO");
    if (path == nullptr) return cv::Mat();
    return cv::imread(path, cv::IMREAD_COLOR);
  }();
  return img;
}

#define REQUIRE_PHOTO()                                                                      \
  ASSERT_FALSE(photo().empty())                                                              \
      << "the test photo '"                                                                  \
      << (std::getenv("PREPROCESS_PHOTO") ? std::getenv("PREPROCESS_PHOTO") : "")            \
      << "' could not be read: set PREPROCESS_PHOTO (meson test does) and install Debian's " \
         "python3-imageio, which ships imageio/resources/images/chelsea.png"

// Pixel values out (scale 1, mean 0, std 1), so tolerances read in 8-bit units.
PreprocessConfig raw(Interpolation ip = Interpolation::Bilinear, Crop crop = Crop::Center,
                     int resize = 256) {
  PreprocessConfig c;
  c.resize = resize;
  c.crop = crop;
  c.interpolation = ip;
  c.scale = 1.0;
  c.mean = {0, 0, 0};
  c.std = {1, 1, 1};
  return c;
}

// A frame that owns its bytes; rows are padded by `pad` bytes (stride > row size), or
// 2·pad for I420's V plane, so a mix-up of U's and V's strides shows.
struct Owned {
  std::vector<std::vector<uint8_t>> bytes;
  Frame frame;
};

Owned alloc(PixelFormat f, int w, int h, int pad) {
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  std::vector<std::pair<int, int>> planes;  // (row bytes, rows)
  if (f == PixelFormat::I420)
    planes = {{w, h}, {cw, ch}, {cw, ch}};
  else if (f == PixelFormat::NV12)
    planes = {{w, h}, {2 * cw, ch}};
  else if (f == PixelFormat::GRAY8)
    planes = {{w, h}};
  else if (f == PixelFormat::RGB || f == PixelFormat::BGR)
    planes = {{3 * w, h}};
  else
    planes = {{4 * w, h}};
  Owned o;
  o.frame.format = f;
  o.frame.width = w;
  o.frame.height = h;
  o.bytes.resize(planes.size());
  for (size_t p = 0; p < planes.size(); ++p) {
    o.frame.strides[p] = planes[p].first + pad * (p == 2 ? 2 : 1);  // V's differs from U's
    o.bytes[p].assign(static_cast<size_t>(o.frame.strides[p]) * planes[p].second, 0xA5);
    o.frame.planes[p] = o.bytes[p].data();
  }
  return o;
}

uint8_t* row(Owned& o, int p, int y) {
  return o.bytes[p].data() + static_cast<size_t>(y) * o.frame.strides[p];
}

// The BGR photo in a packed format. GStreamer's names spell the byte order ("xBGR": filler,
// B, G, R), so the name says where each byte goes; filler bytes are 0x5A.
Owned to_packed(const cv::Mat& bgr, PixelFormat f, int pad) {
  Owned o = alloc(f, bgr.cols, bgr.rows, pad);
  const std::string order = pixel_format_name(f);
  const size_t bpp = order.size();
  for (int y = 0; y < bgr.rows; ++y) {
    uint8_t* d = row(o, 0, y);
    for (int x = 0; x < bgr.cols; ++x) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
      for (size_t i = 0; i < bpp; ++i)
        d[bpp * x + i] = order[i] == 'R'   ? p[2]
                         : order[i] == 'G' ? p[1]
                         : order[i] == 'B' ? p[0]
                                           : 0x5A;
    }
  }
  return o;
}

Owned to_gray8(const cv::Mat& bgr, int pad, cv::Mat* grey) {
  cv::cvtColor(bgr, *grey, cv::COLOR_BGR2GRAY);
  Owned o = alloc(PixelFormat::GRAY8, bgr.cols, bgr.rows, pad);
  for (int y = 0; y < bgr.rows; ++y)
    for (int x = 0; x < bgr.cols; ++x) row(o, 0, y)[x] = grey->at<uint8_t>(y, x);
  return o;
}

double kr_of(ColorMatrix m) {
  return m == ColorMatrix::BT709 ? 0.2126 : 0.299;
}
double kb_of(ColorMatrix m) {
  return m == ColorMatrix::BT709 ? 0.0722 : 0.114;
}

// RGB (0..255) → (Y, Cb, Cr) with Y in 0..255 and Cb, Cr in −127.5..127.5: the textbook
// definition. The reference inverts this matrix numerically rather than using closed forms.
cv::Matx33d rgb_to_ycbcr(ColorMatrix m) {
  const double kr = kr_of(m), kb = kb_of(m), kg = 1 - kr - kb;
  const cv::Matx13d y(kr, kg, kb);
  return cv::Matx33d(kr, kg, kb,  //
                     -y(0) / (2 * (1 - kb)), -y(1) / (2 * (1 - kb)), (1 - kb) / (2 * (1 - kb)),
                     (1 - kr) / (2 * (1 - kr)), -y(1) / (2 * (1 - kr)), -y(2) / (2 * (1 - kr)));
}

uint8_t q8(double v) {
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
}

// The photo as I420/NV12: 4:2:0 chroma is the mean of each 2×2 block (centre siting).
Owned to_yuv(const cv::Mat& bgr, PixelFormat f, ColorMatrix m, ColorRange r, int pad) {
  const int w = bgr.cols, h = bgr.rows;
  Owned o = alloc(f, w, h, pad);
  o.frame.matrix = m;
  o.frame.range = r;
  const cv::Matx33d fwd = rgb_to_ycbcr(m);
  const bool lim = r == ColorRange::Limited;
  std::vector<cv::Vec3d> ycc(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
      const cv::Vec3d v = fwd * cv::Vec3d(p[2], p[1], p[0]);
      ycc[static_cast<size_t>(y) * w + x] = v;
      row(o, 0, y)[x] = q8(lim ? 16 + v[0] * 219 / 255 : v[0]);
    }
  for (int cy = 0; cy < (h + 1) / 2; ++cy)
    for (int cx = 0; cx < (w + 1) / 2; ++cx) {
      double cb = 0, cr = 0;
      int n = 0;
      for (int y = 2 * cy; y < std::min(h, 2 * cy + 2); ++y)
        for (int x = 2 * cx; x < std::min(w, 2 * cx + 2); ++x, ++n) {
          cb += ycc[static_cast<size_t>(y) * w + x][1];
          cr += ycc[static_cast<size_t>(y) * w + x][2];
        }
      const double s = lim ? 224.0 / 255.0 : 1.0;
      const uint8_t u = q8(128 + s * cb / n), v = q8(128 + s * cr / n);
      if (f == PixelFormat::I420)
        row(o, 1, cy)[cx] = u, row(o, 2, cy)[cx] = v;
      else
        row(o, 1, cy)[2 * cx] = u, row(o, 1, cy)[2 * cx + 1] = v;
    }
  return o;
}

// Reference decode of a YUV frame to RGB float, per pixel: chroma bilinearly upsampled at
// the luma pixel's centre ((x + ½)/2 − ½ in chroma pixels), or replicated over each 2×2
// block, then the inverse matrix, clamped.
cv::Mat yuv_reference_rgb(const Owned& o, bool replicate_chroma = false) {
  const Frame& f = o.frame;
  const int w = f.width, h = f.height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  const bool nv12 = f.format == PixelFormat::NV12, lim = f.range == ColorRange::Limited;
  auto chroma = [&](int c, int x, int y) -> double {  // c: 0 = U, 1 = V
    x = std::clamp(x, 0, cw - 1), y = std::clamp(y, 0, ch - 1);
    if (nv12) return f.planes[1][static_cast<size_t>(y) * f.strides[1] + 2 * x + c];
    return f.planes[1 + c][static_cast<size_t>(y) * f.strides[1 + c] + x];
  };
  const cv::Matx33d inv = rgb_to_ycbcr(f.matrix).inv();
  cv::Mat rgb(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double sx = (x + 0.5) / 2 - 0.5, sy = (y + 0.5) / 2 - 0.5;
      const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
      const double fx = sx - x0, fy = sy - y0;
      double c[2];
      for (int k = 0; k < 2; ++k)
        c[k] = replicate_chroma
                   ? chroma(k, x / 2, y / 2)
                   : (1 - fy) * ((1 - fx) * chroma(k, x0, y0) + fx * chroma(k, x0 + 1, y0)) +
                         fy * ((1 - fx) * chroma(k, x0, y0 + 1) + fx * chroma(k, x0 + 1, y0 + 1));
      const double y8 = f.planes[0][static_cast<size_t>(y) * f.strides[0] + x];
      const double s = lim ? 255.0 / 224.0 : 1.0;
      const cv::Vec3d ycc(lim ? (y8 - 16) * 255 / 219 : y8, (c[0] - 128) * s, (c[1] - 128) * s);
      const cv::Vec3d p = inv * ycc;
      for (int k = 0; k < 3; ++k)
        rgb.at<cv::Vec3f>(y, x)[k] = static_cast<float>(std::clamp(p[k], 0.0, 255.0));
    }
  return rgb;
}

cv::Mat photo_rgb_float(const cv::Mat& bgr) {
  cv::Mat rgb, f;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(f, CV_32F);
  return f;
}

// Geometry by the book: torchvision's Resize(int) (shorter side → resize, longer side
// truncated; raised to `size` when smaller) and CenterCrop (offset rounded half to even),
// with cv::resize doing the resampling. Nearest is written out: half-pixel centres.
cv::Mat reference_geometry(const cv::Mat& img, const PreprocessConfig& cfg, int size) {
  const int w = img.cols, h = img.rows;
  int rw = size, rh = size;
  if (cfg.crop == Crop::Center) {
    const int shorter = std::min(w, h), longer = std::max(w, h);
    const int target = std::max(cfg.resize > 0 ? cfg.resize : shorter, size);
    const int other =
        target == shorter ? longer : static_cast<int>(int64_t{target} * longer / shorter);
    rw = w <= h ? target : other;
    rh = w <= h ? other : target;
  }
  const int ox = static_cast<int>(std::nearbyint((rw - size) / 2.0));  // FE_TONEAREST: half-even
  const int oy = static_cast<int>(std::nearbyint((rh - size) / 2.0));
  cv::Mat resized;
  if (rw == w && rh == h) {
    resized = img;
  } else if (cfg.interpolation == Interpolation::Nearest) {
    resized.create(rh, rw, img.type());
    for (int y = 0; y < rh; ++y)
      for (int x = 0; x < rw; ++x) {
        const int sx = std::min(w - 1, static_cast<int>(std::floor((x + 0.5) * w / rw)));
        const int sy = std::min(h - 1, static_cast<int>(std::floor((y + 0.5) * h / rh)));
        std::memcpy(resized.ptr(y, x), img.ptr(sy, sx), img.elemSize());
      }
  } else {
    // Area only where both axes shrink (OpenCV's INTER_AREA rule; the tests avoid mixed).
    const bool area = cfg.interpolation == Interpolation::Area && rw < w && rh < h;
    cv::resize(img, resized, cv::Size(rw, rh), 0, 0, area ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  return resized(cv::Rect(ox, oy, size, size)).clone();
}

// (value·scale − mean) / std, channel-major, in the config's channel order.
std::vector<float> normalise(const cv::Mat& img, const PreprocessConfig& cfg) {
  const int s = img.rows, ch = img.channels();
  std::vector<float> out(static_cast<size_t>(ch) * s * s);
  for (int c = 0; c < ch; ++c) {
    const int src = (ch == 3 && cfg.channel_order == ChannelOrder::BGR) ? 2 - c : c;
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        out[(static_cast<size_t>(c) * s + y) * s + x] = static_cast<float>(
            (img.ptr<float>(y)[x * ch + src] * cfg.scale - cfg.mean[c]) / cfg.std[c]);
  }
  return out;
}

std::vector<float> reference(const cv::Mat& rgbf, const PreprocessConfig& cfg, int size) {
  return normalise(reference_geometry(rgbf, cfg, size), cfg);
}

std::vector<float> run(const Frame& f, const PreprocessConfig& cfg, int channels, int size) {
  std::vector<float> out(static_cast<size_t>(channels) * size * size, -1e9f);
  preprocess(f, cfg, channels, size, out.data());
  return out;
}

struct Diff {
  double max_abs = 0, mean_abs = 0, max_ref = 0;
};
Diff diff(const std::vector<float>& got, const std::vector<float>& ref) {
  Diff d;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = std::abs(static_cast<double>(got[i]) - ref[i]);
    d.max_abs = std::max(d.max_abs, e);
    d.mean_abs += e;
    d.max_ref = std::max(d.max_ref, std::abs(static_cast<double>(ref[i])));
  }
  d.mean_abs /= static_cast<double>(ref.size());
  return d;
}

// Paths that compute the same sums as the reference (float weights vs OpenCV's float weights,
// float vs double arithmetic) agree to rounding: 1e-4 of the largest value.
void expect_exact(const std::vector<float>& got, const std::vector<float>& ref,
                  const std::string& what) {
  ASSERT_EQ(got.size(), ref.size());
  const Diff d = diff(got, ref);
  EXPECT_LE(d.max_abs, 1e-4 * d.max_ref) << what << " max|Δ| " << d.max_abs;
}

cv::Mat crop(const cv::Mat& m, int w, int h) {
  return m(cv::Rect(7, 5, w, h)).clone();
}

const char* interp_name(Interpolation ip) {
  static const char* names[] = {"bilinear", "nearest", "area"};  // enum order
  return names[static_cast<int>(ip)];
}

std::string name(PixelFormat f, Interpolation ip, int w, int h, int pad) {
  return std::string(pixel_format_name(f)) + " " + interp_name(ip) + " " + std::to_string(w) + "x" +
         std::to_string(h) + " pad " + std::to_string(pad);
}

}  // namespace

TEST(Preprocess, FormatNamesRoundTrip) {
  for (PixelFormat f : {PixelFormat::RGB, PixelFormat::BGR, PixelFormat::RGBx, PixelFormat::BGRx,
                        PixelFormat::xRGB, PixelFormat::xBGR, PixelFormat::RGBA, PixelFormat::BGRA,
                        PixelFormat::GRAY8, PixelFormat::I420, PixelFormat::NV12})
    EXPECT_EQ(pixel_format_from_name(pixel_format_name(f)), f);
  EXPECT_STREQ(pixel_format_name(PixelFormat::xBGR), "xBGR");
  EXPECT_THROW(pixel_format_from_name("YUY2"), Error);
  EXPECT_THROW(pixel_format_from_name("rgb"), Error);  // GStreamer's names are case-sensitive
}

TEST(Preprocess, PackedFrameLayout) {
  EXPECT_EQ(frame_buffer_size(PixelFormat::RGB, 333, 251), 333u * 3 * 251);
  EXPECT_EQ(frame_buffer_size(PixelFormat::BGRx, 333, 251), 333u * 4 * 251);
  EXPECT_EQ(frame_buffer_size(PixelFormat::GRAY8, 333, 251), 333u * 251);
  EXPECT_EQ(frame_buffer_size(PixelFormat::I420, 333, 251), 333u * 251 + 2u * 167 * 126);
  EXPECT_EQ(frame_buffer_size(PixelFormat::NV12, 333, 251), 333u * 251 + 334u * 126);
  EXPECT_THROW(frame_buffer_size(PixelFormat::RGB, 0, 10), Error);
  std::vector<uint8_t> buf(frame_buffer_size(PixelFormat::I420, 333, 251));
  const Frame f = make_packed_frame(PixelFormat::I420, 333, 251, buf.data());
  EXPECT_EQ(f.planes[1], buf.data() + 333 * 251);
  EXPECT_EQ(f.planes[2], buf.data() + 333 * 251 + 167 * 126);
  EXPECT_EQ(f.strides, (std::array<int, 3>{333, 167, 167}));
  const Frame n = make_packed_frame(PixelFormat::NV12, 333, 251, buf.data());
  EXPECT_EQ(n.strides[1], 334);
  EXPECT_EQ(make_packed_frame(PixelFormat::xRGB, 5, 3, buf.data()).strides[0], 20);
}

TEST(Preprocess, PackedFormatsMatchReference) {
  REQUIRE_PHOTO();
  // Full photo (451×300: both axes shrink to 384×256) and an odd crop (333×251: both grow
  // to 339×256, so Area falls back to bilinear; crop offset 57.5 rounds to 58).
  for (const cv::Mat& img : {photo(), crop(photo(), 333, 251)}) {
    const cv::Mat ref_rgb = photo_rgb_float(img);
    for (Interpolation ip : kInterps) {
      const std::vector<float> ref = reference(ref_rgb, raw(ip), 224);
      for (PixelFormat f : kPacked)
        for (int pad : {0, 13}) {
          const Owned o = to_packed(img, f, pad);
          expect_exact(run(o.frame, raw(ip), 3, 224), ref, name(f, ip, img.cols, img.rows, pad));
        }
    }
  }
}

TEST(Preprocess, Gray8MatchesReference) {
  REQUIRE_PHOTO();
  for (const cv::Mat& img : {photo(), crop(photo(), 333, 251)})
    for (Interpolation ip : kInterps) {
      cv::Mat grey, g3, gf;
      const Owned o = to_gray8(img, 7, &grey);
      grey.convertTo(gf, CV_32F);
      cv::cvtColor(gf, g3, cv::COLOR_GRAY2RGB);  // R = G = B = Y
      const std::string what = name(PixelFormat::GRAY8, ip, img.cols, img.rows, 7);
      expect_exact(run(o.frame, raw(ip), 3, 224), reference(g3, raw(ip), 224), what);
      expect_exact(run(o.frame, raw(ip), 1, 224), reference(gf, raw(ip), 224), what + " grey");
    }
}

// With no resampling (resize 0, a crop no larger than the frame) every output pixel is a
// source pixel, chroma lands exactly where the reference upsamples it, and the YUV→RGB
// conversion is checked alone: it must agree to rounding, for both matrices and ranges.
TEST(Preprocess, YuvConversionMatchesReference) {
  REQUIRE_PHOTO();
  const cv::Mat img = crop(photo(), 333, 251);
  for (PixelFormat f : {PixelFormat::I420, PixelFormat::NV12})
    for (ColorMatrix m : {ColorMatrix::BT601, ColorMatrix::BT709})
      for (ColorRange r : {ColorRange::Limited, ColorRange::Full})
        for (int pad : {0, 9}) {
          const Owned o = to_yuv(img, f, m, r, pad);
          const std::string what =
              std::string(pixel_format_name(f)) + (m == ColorMatrix::BT709 ? " 709" : " 601") +
              (r == ColorRange::Full ? " full" : " limited") + " pad " + std::to_string(pad);
          const PreprocessConfig cfg = raw(Interpolation::Bilinear, Crop::Center, 0);
          expect_exact(run(o.frame, cfg, 3, 251), reference(yuv_reference_rgb(o), cfg, 251), what);
          // And the round trip through 8-bit YUV stays near the photo: a sanity check on the
          // test's own encoder (4:2:0 loses chroma detail, hence the mean, not the max).
          const Diff d = diff(run(o.frame, cfg, 3, 251), reference(photo_rgb_float(img), cfg, 251));
          EXPECT_LT(d.mean_abs, 4.0) << what;
        }
}

// Nearest picks luma sample ⌊(i+½)k⌋ and chroma sample ⌊(i+½)k/2⌋, which is the chroma
// pixel a 2×2 replication of chroma gives that luma sample: against a reference decoded that
// way (cv::cvtColor's I420 convention) it must agree to rounding.
TEST(Preprocess, YuvNearestMatchesReference) {
  REQUIRE_PHOTO();
  for (const cv::Mat& img : {photo(), crop(photo(), 333, 251)})
    for (PixelFormat f : {PixelFormat::I420, PixelFormat::NV12})
      for (ColorMatrix m : {ColorMatrix::BT601, ColorMatrix::BT709})
        for (ColorRange r : {ColorRange::Limited, ColorRange::Full}) {
          const Owned o = to_yuv(img, f, m, r, 3);
          const PreprocessConfig cfg = raw(Interpolation::Nearest);
          expect_exact(run(o.frame, cfg, 3, 224),
                       reference(yuv_reference_rgb(o, /*replicate_chroma=*/true), cfg, 224),
                       name(f, Interpolation::Nearest, img.cols, img.rows, 3));
        }
}

// With bilinear or area resampling the one-pass path filters chroma at the output point,
// whereas the reference upsamples chroma to full resolution first and then resamples RGB (a
// filter of a filter), and clamps before rather than after filtering. Both are correct
// renderings that differ where chroma changes sharply. Measured on this photo: max|Δ| ≤ 5.4,
// mean ≤ 0.16 units of 255; asserted: max ≤ 8, mean ≤ 0.25.
TEST(Preprocess, YuvResampledMatchesReference) {
  REQUIRE_PHOTO();
  for (const cv::Mat& img : {photo(), crop(photo(), 333, 251)})
    for (PixelFormat f : {PixelFormat::I420, PixelFormat::NV12})
      for (ColorMatrix m : {ColorMatrix::BT601, ColorMatrix::BT709})
        for (ColorRange r : {ColorRange::Limited, ColorRange::Full})
          for (Interpolation ip : {Interpolation::Bilinear, Interpolation::Area}) {
            const Owned o = to_yuv(img, f, m, r, 3);
            const std::string what = name(f, ip, img.cols, img.rows, 3) +
                                     (m == ColorMatrix::BT709 ? " 709" : " 601") +
                                     (r == ColorRange::Full ? " full" : " limited");
            const Diff d =
                diff(run(o.frame, raw(ip), 3, 224), reference(yuv_reference_rgb(o), raw(ip), 224));
            EXPECT_LE(d.max_abs, 8.0) << what;
            EXPECT_LE(d.mean_abs, 0.25) << what;
          }
}

TEST(Preprocess, GreyModels) {
  REQUIRE_PHOTO();
  const cv::Mat img = crop(photo(), 333, 251);
  for (Interpolation ip : kInterps) {
    // From RGB formats: BT.601 luma of the RGB, which is linear, so it commutes with resizing.
    cv::Mat rgb = photo_rgb_float(img), luma;
    cv::transform(rgb, luma, cv::Matx13f(0.299f, 0.587f, 0.114f));
    const std::vector<float> ref = reference(luma, raw(ip), 224);
    for (PixelFormat f : {PixelFormat::RGB, PixelFormat::BGRx, PixelFormat::xBGR}) {
      const Owned o = to_packed(img, f, 5);
      expect_exact(run(o.frame, raw(ip), 1, 224), ref, name(f, ip, 333, 251, 5) + " grey");
    }
    // From YUV: Y alone, expanded to full range for limited-range frames.
    for (ColorRange r : {ColorRange::Limited, ColorRange::Full}) {
      const Owned o = to_yuv(img, PixelFormat::I420, ColorMatrix::BT709, r, 5);
      cv::Mat y(251, 333, CV_8U, const_cast<uint8_t*>(o.frame.planes[0]), o.frame.strides[0]);
      cv::Mat yf;
      if (r == ColorRange::Limited)
        y.convertTo(yf, CV_32F, 255.0 / 219.0, -16 * 255.0 / 219.0);
      else
        y.convertTo(yf, CV_32F);
      yf = cv::max(cv::min(yf, 255.0f), 0.0f);
      expect_exact(run(o.frame, raw(ip), 1, 224), reference(yf, raw(ip), 224),
                   name(PixelFormat::I420, ip, 333, 251, 5) + " grey");
    }
  }
}

TEST(Preprocess, NormalisationAndChannelOrder) {
  REQUIRE_PHOTO();
  const Owned o = to_packed(photo(), PixelFormat::BGRx, 0);
  PreprocessConfig cfg;  // torchvision's numbers: 256, centre 224, bilinear, ImageNet mean/std
  const std::vector<float> rgb = run(o.frame, cfg, 3, 224);
  expect_exact(rgb, reference(photo_rgb_float(photo()), cfg, 224), "imagenet RGB");
  cfg.channel_order = ChannelOrder::BGR;
  cfg.mean = {0.406f, 0.456f, 0.485f};
  cfg.std = {0.225f, 0.224f, 0.229f};
  const std::vector<float> bgr = run(o.frame, cfg, 3, 224);
  expect_exact(bgr, reference(photo_rgb_float(photo()), cfg, 224), "imagenet BGR");
  const size_t plane = 224 * 224;  // the same numbers with the planes swapped
  for (size_t i = 0; i < plane; i += 997) {
    EXPECT_FLOAT_EQ(bgr[i], rgb[2 * plane + i]);
    EXPECT_FLOAT_EQ(bgr[2 * plane + i], rgb[i]);
  }
}

TEST(Preprocess, StretchAndResizeChoices) {
  REQUIRE_PHOTO();
  const cv::Mat img = crop(photo(), 333, 251);
  const cv::Mat ref_rgb = photo_rgb_float(img);
  const Owned o = to_packed(img, PixelFormat::RGB, 0);
  struct Case {
    PreprocessConfig cfg;
    int size;
    const char* what;
  };
  const Case cases[] = {
      {raw(Interpolation::Bilinear, Crop::Stretch), 224, "stretch bilinear"},
      {raw(Interpolation::Area, Crop::Stretch), 224, "stretch area"},
      {raw(Interpolation::Nearest, Crop::Stretch), 97, "stretch nearest"},
      {raw(Interpolation::Bilinear, Crop::Stretch), 400, "stretch up"},
      {raw(Interpolation::Bilinear, Crop::Center, 0), 224, "resize 0: crop only"},
      {raw(Interpolation::Bilinear, Crop::Center, 0), 300, "resize 0, frame smaller: grow"},
      {raw(Interpolation::Area, Crop::Center, 100), 64, "resize 100 area"},
      {raw(Interpolation::Bilinear, Crop::Center, 100), 224, "resize < size: grow to size"},
      {raw(Interpolation::Bilinear, Crop::Center, 251), 1, "size 1"},
  };
  for (const Case& c : cases)
    expect_exact(run(o.frame, c.cfg, 3, c.size), reference(ref_rgb, c.cfg, c.size), c.what);
}

TEST(Preprocess, InvalidInputsNameTheProblem) {
  std::vector<uint8_t> buf(frame_buffer_size(PixelFormat::I420, 64, 48));
  const Frame good = make_packed_frame(PixelFormat::I420, 64, 48, buf.data());
  std::vector<float> out(3 * 32 * 32);
  auto message = [&](Frame f, int channels = 3, int size = 32, float* o = nullptr,
                     PreprocessConfig cfg = PreprocessConfig()) -> std::string {
    try {
      preprocess(f, cfg, channels, size, o ? o : out.data());
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message(good), "no error");
  Frame f = good;
  f.width = 0;
  EXPECT_NE(message(f).find("frame size 0x48"), std::string::npos) << message(f);
  f = good, f.height = 16385;
  EXPECT_NE(message(f).find("64x16385"), std::string::npos) << message(f);
  f = good, f.planes[0] = nullptr;
  EXPECT_NE(message(f).find("plane 0 (Y) is null"), std::string::npos) << message(f);
  f = good, f.planes[2] = nullptr;
  EXPECT_NE(message(f).find("plane 2 (V) is null"), std::string::npos) << message(f);
  f = good, f.strides[1] = 31;
  EXPECT_NE(message(f).find("plane 1 (U) stride 31 is less than its row of 32"), std::string::npos)
      << message(f);
  f = make_packed_frame(PixelFormat::NV12, 63, 48, buf.data());
  f.strides[1] = 63;  // UV rows hold 2·ceil(63/2) = 64 bytes
  EXPECT_NE(message(f).find("plane 1 (UV) stride 63"), std::string::npos) << message(f);
  f = make_packed_frame(PixelFormat::BGRx, 8, 8, buf.data());
  f.strides[0] = 31;
  EXPECT_NE(message(f).find("BGRx frame plane 0 (packed) stride 31"), std::string::npos)
      << message(f);
  f = good, f.format = static_cast<PixelFormat>(99);
  EXPECT_NE(message(f).find("unknown"), std::string::npos) << message(f);
  EXPECT_NE(message(good, 2).find("channels 2"), std::string::npos);
  EXPECT_NE(message(good, 3, 0).find("input size 0"), std::string::npos);
  PreprocessConfig bad;
  bad.std[1] = 0;
  EXPECT_NE(message(good, 3, 32, nullptr, bad).find("channel 1"), std::string::npos);
  bad = PreprocessConfig(), bad.resize = -1;
  EXPECT_NE(message(good, 3, 32, nullptr, bad).find("resize -1"), std::string::npos);
  EXPECT_THROW(make_packed_frame(PixelFormat::RGB, 4, 4, nullptr), Error);
}

// Frame::roi: a region preprocesses exactly like a frame holding a copy of its pixels, for
// every format and odd or even corners. The copy is the oracle: it is made row by row from the
// plane layout, independently of crop_view's pointer arithmetic. I420/NV12 copy from the even
// corner the region's left/top edges move to (preprocess.h).
TEST(Preprocess, RegionEqualsACopiedCrop) {
  const int W = 97, H = 61;
  const PreprocessConfig cfg = PreprocessConfig::imagenet();
  const Rect regions[] = {{0, 0, W, H},   {10, 6, 40, 30}, {11, 7, 41, 31},
                          {96, 60, 1, 1}, {3, 0, 94, 61},  {0, 45, 17, 16}};
  uint32_t seed = 1;
  for (PixelFormat fmt :
       {PixelFormat::RGB, PixelFormat::BGR, PixelFormat::RGBx, PixelFormat::BGRx, PixelFormat::xRGB,
        PixelFormat::xBGR, PixelFormat::RGBA, PixelFormat::BGRA, PixelFormat::GRAY8,
        PixelFormat::I420, PixelFormat::NV12}) {
    std::vector<uint8_t> buf(frame_buffer_size(fmt, W, H));
    for (uint8_t& b : buf) b = static_cast<uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24);
    Frame full = make_packed_frame(fmt, W, H, buf.data());
    full.matrix = ColorMatrix::BT709;
    const bool yuv = fmt == PixelFormat::I420 || fmt == PixelFormat::NV12;
    const int bpp = yuv ? 1 : static_cast<int>(frame_buffer_size(fmt, 1, 1));
    for (const Rect& r : regions) {
      const int x = yuv ? r.x / 2 * 2 : r.x, y = yuv ? r.y / 2 * 2 : r.y;
      const int w = r.width + (r.x - x), h = r.height + (r.y - y);
      std::vector<uint8_t> copy(frame_buffer_size(fmt, w, h));
      const Frame tight = make_packed_frame(fmt, w, h, copy.data());
      auto copy_plane = [&](int p, int x0, int y0, int row_bytes, int rows) {
        for (int i = 0; i < rows; ++i)
          std::memcpy(const_cast<uint8_t*>(tight.planes[p]) + i * tight.strides[p],
                      full.planes[p] + (y0 + i) * full.strides[p] + x0, row_bytes);
      };
      copy_plane(0, x * bpp, y, w * bpp, h);
      const int cw = (w + 1) / 2, ch = (h + 1) / 2;
      if (fmt == PixelFormat::I420)
        copy_plane(1, x / 2, y / 2, cw, ch), copy_plane(2, x / 2, y / 2, cw, ch);
      if (fmt == PixelFormat::NV12) copy_plane(1, x, y / 2, 2 * cw, ch);
      Frame cropped = tight;
      cropped.matrix = full.matrix;
      Frame with_roi = full;
      with_roi.roi = r;
      const std::string what = std::string(pixel_format_name(fmt)) + " region " +
                               std::to_string(r.x) + "," + std::to_string(r.y) + " " +
                               std::to_string(r.width) + "x" + std::to_string(r.height);
      const std::vector<float> got = run(with_roi, cfg, 3, 32), want = run(cropped, cfg, 3, 32);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << what;
      EXPECT_EQ(crop_view(with_roi).width, w) << what;
    }
    EXPECT_EQ(run(full, cfg, 3, 32), [&] {
      Frame whole = full;
      whole.roi = Rect{};
      return run(whole, cfg, 3, 32);
    }()) << "Rect{} is the whole frame";
  }
}

TEST(Preprocess, BadRegionsNameTheRegion) {
  std::vector<uint8_t> buf(frame_buffer_size(PixelFormat::NV12, 64, 48));
  Frame f = make_packed_frame(PixelFormat::NV12, 64, 48, buf.data());
  std::vector<float> out(3 * 32 * 32);
  auto message = [&](Rect r) {
    f.roi = r;
    try {
      preprocess(f, PreprocessConfig::imagenet(), 3, 32, out.data());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({60, 0, 5, 5})
                .find("region (x 60, y 0, 5x5) of the 64x48 NV12 frame is not "
                      "inside the frame"),
            std::string::npos)
      << message({60, 0, 5, 5});
  EXPECT_NE(message({-1, 0, 5, 5}).find("not inside"), std::string::npos);
  EXPECT_NE(message({0, 44, 5, 5}).find("not inside"), std::string::npos);
  EXPECT_NE(message({3, 3, 0, 5}).find("is empty"), std::string::npos);
  EXPECT_NE(message({3, 3, 5, -2}).find("is empty"), std::string::npos);
  f.roi = {0, 0, 64, 48};
  f.planes[1] = nullptr;
  EXPECT_THROW(crop_view(f), Error);
}
