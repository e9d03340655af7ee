// Frames → the model's normalised input, in one resampling pass.
//
// Geometry. Output pixel i (per axis) stands for pixel i + offset of a virtual resized image
// of length `rl`; its footprint in a source plane of length L is [i·k, (i+1)·k) with
// k = L / rl, and its centre is (i + ½)·k − ½ (half-pixel centres, as OpenCV's INTER_LINEAR
// and PyTorch's align_corners=False). So the result equals "resize to rl, then crop", but
// only the output's pixels are ever computed.
//
// Chroma of I420/NV12 is centre-sited (JPEG / MPEG-1 / H.261 siting): chroma sample j
// covers luma [2j, 2j+2), so a chroma plane is the same picture at half the resolution and
// simply gets k/2. Centre siting keeps the area filter exact: a luma box is a chroma box.
//
// The filters are separable. Per call we build, for each output column and row, a short list
// of (source offset, weight) taps; a per-format kernel (templated on the channel layout, so no
// format branch runs per pixel) sums them. YUV is filtered as YUV and converted afterwards:
// the conversion is affine, so that equals converting first, except at the [0, 255] clamp.
//
// Choices the header leaves open, following torchvision or OpenCV where one exists:
//  - Crop::Center: the shorter side becomes `resize` (0: stays as it is) but never less than
//    `size` (the frame is upscaled then); the longer side is truncated (torchvision's
//    Resize(int)); the crop offset is round((len − size) / 2), halves to even (torchvision's
//    CenterCrop under Python 3's round).
//  - Nearest takes the sample under the output pixel's centre (PyTorch's "nearest-exact",
//    OpenCV's INTER_NEAREST_EXACT), not the top-left corner of OpenCV's INTER_NEAREST.
//  - Area averages the footprint (OpenCV's INTER_AREA) on each axis and plane where it
//    shrinks, and is bilinear where it grows.
//  - YUV → RGB is clamped to [0, 255]; grey models get Y expanded to full range, from YUV.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/error.h"
#include "alexnet/preprocess.h"

#include "preprocess/preprocess_pixel.h"

namespace alexnet {

namespace {

constexpr int kMaxDim = 16384;

// Channel byte orders live in the kernels' template arguments (see preprocess()).
struct FormatInfo {
  PixelFormat format;
  const char* name;
  int bpp;  // bytes per pixel of plane 0
};

constexpr FormatInfo kFormats[] = {
    {PixelFormat::RGB, "RGB", 3},     {PixelFormat::BGR, "BGR", 3},
    {PixelFormat::RGBx, "RGBx", 4},   {PixelFormat::BGRx, "BGRx", 4},
    {PixelFormat::xRGB, "xRGB", 4},   {PixelFormat::xBGR, "xBGR", 4},
    {PixelFormat::RGBA, "RGBA", 4},   {PixelFormat::BGRA, "BGRA", 4},
    {PixelFormat::GRAY8, "GRAY8", 1}, {PixelFormat::I420, "I420", 1},
    {PixelFormat::NV12, "NV12", 1},
};

const FormatInfo& info(PixelFormat f) {
  for (const FormatInfo& i : kFormats)
    if (i.format == f) return i;
  throw Error("pixel format: unknown value " + std::to_string(static_cast<int>(f)));
}

bool is_yuv(PixelFormat f) {
  return f == PixelFormat::I420 || f == PixelFormat::NV12;
}

void check_dims(const char* what, int width, int height) {
  if (width < 1 || width > kMaxDim || height < 1 || height > kMaxDim)
    throw Error(std::string(what) + ": frame size " + std::to_string(width) + "x" +
                std::to_string(height) + " is outside [1, " + std::to_string(kMaxDim) +
                "] on a side");
}

// Bytes per row of each plane of a tightly packed frame, and each plane's height.
struct PlaneShape {
  int count = 1;
  std::array<int, 3> row{}, rows{};
  std::array<const char*, 3> name{};
};

PlaneShape plane_shape(PixelFormat f, int width, int height) {
  const int cw = (width + 1) / 2, ch = (height + 1) / 2;
  switch (f) {
    case PixelFormat::I420:
      return {3, {width, cw, cw}, {height, ch, ch}, {"Y", "U", "V"}};
    case PixelFormat::NV12:
      return {2, {width, 2 * cw, 0}, {height, ch, 0}, {"Y", "UV", nullptr}};
    default:
      return {1, {width * info(f).bpp, 0, 0}, {height, 0, 0}, {"packed", nullptr, nullptr}};
  }
}

// Taps for one axis of one plane: output i reads `n` samples at offset[i·n + t] (a source
// index times `step`: bytes per pixel along a row, the stride down a column) with weights that
// sum to 1. Zero-weight padding points at a valid sample so kernels need no bounds checks.
struct Taps {
  int n = 0;
  std::vector<std::ptrdiff_t> offset;
  std::vector<float> weight;
  // Column taps only: offsets are relative to byte `lo` of a row; they read `span` bytes.
  std::ptrdiff_t lo = 0;
  int span = 0;
};

// Rebases column taps to the bytes they touch (pixels of `bpp` bytes), so the vertical pass
// works on that span only.
void rebase(Taps& t, int bpp) {
  const auto [mn, mx] = std::minmax_element(t.offset.begin(), t.offset.end());
  t.lo = *mn;
  t.span = static_cast<int>(*mx - *mn) + bpp;
  for (std::ptrdiff_t& o : t.offset) o -= t.lo;
}

// `len`: the source plane's length on this axis; `k`: source samples per output sample;
// output i is pixel `first` + i of the virtual resized line.
Taps make_taps(int len, double k, int64_t first, int count, Interpolation interp,
               std::ptrdiff_t step) {
  // Area only shrinks; when enlarging, a box narrower than a pixel is a point sample and
  // bilinear is the right filter (as OpenCV's INTER_AREA does).
  if (interp == Interpolation::Area && k <= 1.0) interp = Interpolation::Bilinear;
  Taps t;
  t.n = interp == Interpolation::Nearest    ? 1
        : interp == Interpolation::Bilinear ? 2
                                            : static_cast<int>(std::floor(k)) + 2;
  t.offset.assign(static_cast<size_t>(count) * t.n, 0);
  t.weight.assign(static_cast<size_t>(count) * t.n, 0.0f);
  auto clamp = [len](int64_t j) { return std::clamp<int64_t>(j, 0, len - 1); };
  for (int i = 0; i < count; ++i) {
    const double p = static_cast<double>(first + i);
    std::ptrdiff_t* off = &t.offset[static_cast<size_t>(i) * t.n];
    float* w = &t.weight[static_cast<size_t>(i) * t.n];
    if (interp == Interpolation::Nearest) {
      off[0] = clamp(static_cast<int64_t>(std::floor((p + 0.5) * k))) * step;
      w[0] = 1.0f;
    } else if (interp == Interpolation::Bilinear) {
      const double c = (p + 0.5) * k - 0.5;
      const double j = std::floor(c);
      const double f = c - j;
      off[0] = clamp(static_cast<int64_t>(j)) * step;
      off[1] = clamp(static_cast<int64_t>(j) + 1) * step;
      w[0] = static_cast<float>(1.0 - f);
      w[1] = static_cast<float>(f);
    } else {
      const double a = std::max(0.0, p * k), b = std::min(static_cast<double>(len), a + k);
      const int64_t j0 = static_cast<int64_t>(std::floor(a));
      const int64_t j1 = std::min<int64_t>(len, static_cast<int64_t>(std::ceil(b)));
      double sum = 0;
      int u = 0;
      for (int64_t j = j0; j < j1 && u < t.n; ++j) {
        const double ov =
            std::min(b, static_cast<double>(j + 1)) - std::max(a, static_cast<double>(j));
        // Slivers come from rounding of i·k, not from the picture; OpenCV drops them too.
        if (ov <= 1e-3) continue;
        off[u] = j * step;
        w[u] = static_cast<float>(ov);
        sum += ov;
        ++u;
      }
      if (u == 0) {  // unreachable for k > 1, kept so a weight sum is never zero
        off[0] = clamp(j0) * step;
        w[0] = 1.0f;
        sum = 1.0;
        u = 1;
      }
      for (int v = 0; v < u; ++v) w[v] = static_cast<float>(w[v] / sum);
      for (int v = u; v < t.n; ++v) off[v] = off[0];
    }
  }
  return t;
}

// One output row of a plane holding K interleaved 8-bit channels (byte offsets O0..O2 within a
// pixel), written to `acc` whose pixels are 3 floats apart. First the row taps combine the
// source rows' bytes in the columns' span into `tmp` (a contiguous loop the compiler
// vectorises, whatever the format); then the column taps read `tmp`. N is the column tap
// count when known at compile time (0: cols.n at run time).
template <int K, int O0, int O1, int O2, int N>
void filter_row(const uint8_t* plane, const Taps& rows, int y, const Taps& cols, int size,
                float* tmp, float* acc) {
  const size_t span = static_cast<size_t>(cols.span);
  const std::ptrdiff_t* roff = &rows.offset[static_cast<size_t>(y) * rows.n];
  const float* rw = &rows.weight[static_cast<size_t>(y) * rows.n];
  const uint8_t* src = plane + roff[0] + cols.lo;
  for (size_t j = 0; j < span; ++j) tmp[j] = rw[0] * src[j];
  for (int r = 1; r < rows.n; ++r) {
    if (rw[r] == 0.0f) continue;  // padding taps of the area filter
    src = plane + roff[r] + cols.lo;
    const float wr = rw[r];
    for (size_t j = 0; j < span; ++j) tmp[j] += wr * src[j];
  }
  const int n = N > 0 ? N : cols.n;
  const std::ptrdiff_t* off = cols.offset.data();
  const float* w = cols.weight.data();
  for (int x = 0; x < size; ++x, off += n, w += n) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
    for (int u = 0; u < n; ++u) {
      const float* px = tmp + off[u];
      s0 += w[u] * px[O0];
      if constexpr (K > 1) s1 += w[u] * px[O1];
      if constexpr (K > 2) s2 += w[u] * px[O2];
    }
    float* a = acc + 3 * x;
    a[0] = s0;
    if constexpr (K > 1) a[1] = s1;
    if constexpr (K > 2) a[2] = s2;
  }
}

template <int K, int O0, int O1 = 0, int O2 = 0>
void filter(const uint8_t* plane, const Taps& rows, int y, const Taps& cols, int size, float* tmp,
            float* acc) {
  switch (cols.n) {
    case 1:
      return filter_row<K, O0, O1, O2, 1>(plane, rows, y, cols, size, tmp, acc);
    case 2:
      return filter_row<K, O0, O1, O2, 2>(plane, rows, y, cols, size, tmp, acc);
    default:
      return filter_row<K, O0, O1, O2, 0>(plane, rows, y, cols, size, tmp, acc);
  }
}

// YUV → RGB for one matrix and range: R = Y' + rv·Cr, G = Y' − gu·Cb − gv·Cr, B = Y' + bu·Cb
// with Y' = (Y − y0)·ys and Cb, Cr = (U, V − 128)·cs.
struct YuvToRgb {
  float y0, ys, cs, rv, gu, gv, bu;
};

YuvToRgb yuv_to_rgb(ColorMatrix m, ColorRange r) {
  const double kr = m == ColorMatrix::BT709 ? 0.2126 : 0.299;
  const double kb = m == ColorMatrix::BT709 ? 0.0722 : 0.114;
  const double kg = 1.0 - kr - kb;
  const bool lim = r == ColorRange::Limited;
  return {lim ? 16.0f : 0.0f,
          static_cast<float>(lim ? 255.0 / 219.0 : 1.0),
          static_cast<float>(lim ? 255.0 / 224.0 : 1.0),
          static_cast<float>(2.0 * (1.0 - kr)),
          static_cast<float>(2.0 * kb * (1.0 - kb) / kg),
          static_cast<float>(2.0 * kr * (1.0 - kr) / kg),
          static_cast<float>(2.0 * (1.0 - kb))};
}

float clamp255(float v) {
  return std::min(255.0f, std::max(0.0f, v));
}

enum class Source { Rgb, Yuv, Grey };  // what acc holds after filtering

// Every plane of the frame is set and its stride holds a row; `what` names the frame.
void check_planes(const Frame& frame, const std::string& what) {
  const PlaneShape ps = plane_shape(frame.format, frame.width, frame.height);
  for (int p = 0; p < ps.count; ++p) {
    const std::string plane = what + " plane " + std::to_string(p) + " (" + ps.name[p] + ")";
    if (frame.planes[p] == nullptr) throw Error(plane + " is null");
    if (frame.strides[p] < ps.row[p])
      throw Error(plane + " stride " + std::to_string(frame.strides[p]) +
                  " is less than its row of " + std::to_string(ps.row[p]) + " bytes");
  }
}

void validate(const Frame& frame, int channels, int size, const float* out,
              const PreprocessConfig& cfg) {
  const FormatInfo& fi = info(frame.format);
  const std::string what = std::string("preprocess: ") + fi.name + " frame";
  check_dims(what.c_str(), frame.width, frame.height);
  if (channels != 1 && channels != 3)
    throw Error("preprocess: model channels " + std::to_string(channels) + " is not 1 or 3");
  if (size < 1 || size > kMaxDim)
    throw Error("preprocess: input size " + std::to_string(size) + " is outside [1, " +
                std::to_string(kMaxDim) + "]");
  if (out == nullptr) throw Error("preprocess: output buffer is null");
  if (cfg.resize < 0)
    throw Error("preprocess: resize " + std::to_string(cfg.resize) + " is negative");
  for (int c = 0; c < channels; ++c)
    if (!(std::isfinite(cfg.std[c]) && cfg.std[c] != 0.0f) || !std::isfinite(cfg.mean[c]))
      throw Error("preprocess: mean/std of channel " + std::to_string(c) +
                  " is not finite and non-zero");
  check_planes(frame, what);
}

}  // namespace

const char* pixel_format_name(PixelFormat f) {
  return info(f).name;
}

PixelFormat pixel_format_from_name(const std::string& name) {
  for (const FormatInfo& i : kFormats)
    if (name == i.name) return i.format;
  std::string known;
  for (const FormatInfo& i : kFormats) known += std::string(known.empty() ? "" : ", ") + i.name;
  throw Error("pixel format '" + name + "' is not supported (supported: " + known + ")");
}

size_t frame_buffer_size(PixelFormat format, int width, int height) {
  check_dims("frame_buffer_size", width, height);
  const PlaneShape ps = plane_shape(format, width, height);
  size_t total = 0;
  for (int p = 0; p < ps.count; ++p) total += static_cast<size_t>(ps.row[p]) * ps.rows[p];
  return total;
}

Frame make_packed_frame(PixelFormat format, int width, int height, const uint8_t* data) {
  check_dims("make_packed_frame", width, height);
  if (data == nullptr) throw Error("make_packed_frame: data is null");
  const PlaneShape ps = plane_shape(format, width, height);
  Frame f;
  f.format = format;
  f.width = width;
  f.height = height;
  const uint8_t* p = data;
  for (int i = 0; i < ps.count; ++i) {
    f.planes[i] = p;
    f.strides[i] = ps.row[i];
    p += static_cast<size_t>(ps.row[i]) * ps.rows[i];
  }
  return f;
}

Frame crop_view(const Frame& frame) {
  const Rect r = frame.roi;
  if (r == Rect{}) return frame;
  const std::string name = std::string(info(frame.format).name) + " frame";
  check_dims(("crop_view: " + name).c_str(), frame.width, frame.height);
  const std::string region = "region (x " + std::to_string(r.x) + ", y " + std::to_string(r.y) +
                             ", " + std::to_string(r.width) + "x" + std::to_string(r.height) +
                             ") of the " + std::to_string(frame.width) + "x" +
                             std::to_string(frame.height) + " " + name;
  if (r.width < 1 || r.height < 1) throw Error(region + " is empty");
  if (r.x < 0 || r.y < 0 || r.x > frame.width - r.width || r.y > frame.height - r.height)
    throw Error(region + " is not inside the frame");
  check_planes(frame, "crop_view: " + name);
  // Subsampled chroma: an even left/top edge, so the view's chroma sample i covers the same
  // two luma columns/rows as in the full frame.
  const int dx = is_yuv(frame.format) ? r.x % 2 : 0, dy = is_yuv(frame.format) ? r.y % 2 : 0;
  const int64_t x = r.x - dx, y = r.y - dy;
  Frame v = frame;
  v.roi = Rect{};
  v.width = r.width + dx;
  v.height = r.height + dy;
  const int64_t bpp = info(frame.format).bpp;
  v.planes[0] = frame.planes[0] + y * frame.strides[0] + x * bpp;
  if (frame.format == PixelFormat::I420) {
    v.planes[1] = frame.planes[1] + y / 2 * frame.strides[1] + x / 2;
    v.planes[2] = frame.planes[2] + y / 2 * frame.strides[2] + x / 2;
  } else if (frame.format == PixelFormat::NV12) {
    v.planes[1] = frame.planes[1] + y / 2 * frame.strides[1] + x;  // U, V pairs: 2 bytes each
  }
  return v;
}

namespace pixel {

void validate_frame(const Frame& frame, const PreprocessConfig& cfg, int channels, int size) {
  const float out = 0.f;  // the output buffer is the caller's business here
  validate(frame, channels, size, &out, cfg);
}

}  // namespace pixel

namespace {

// The tap tables of one frame: luma (or packed) rows and columns, and for colour from YUV the
// chroma rows (vrows: I420's V plane, whose stride may differ from U's) and columns.
struct FrameTaps {
  Taps rows, cols, crows, vrows, ccols;
  bool need_chroma = false;
};

FrameTaps frame_taps(const Frame& frame, const PreprocessConfig& cfg, int channels, int size) {
  const int w = frame.width, h = frame.height;
  const PixelFormat fmt = frame.format;
  // The virtual resized image (rw × rh) and the crop's offset in it. The shorter side is
  // raised to `size` when `resize` (or, for resize = 0, the frame) is smaller: cropping a
  // window larger than the image has no pixels to show, and upscaling is what a model expects.
  const pixel::ResizeCrop g = pixel::resize_crop(w, h, cfg, size);
  const double kx = static_cast<double>(w) / static_cast<double>(g.rw);
  const double ky = static_cast<double>(h) / static_cast<double>(g.rh);
  const Interpolation ip = cfg.interpolation;
  const int bpp = info(fmt).bpp;
  FrameTaps t;
  t.need_chroma = is_yuv(fmt) && channels == 3;
  t.rows = make_taps(h, ky, g.oy, size, ip, frame.strides[0]);
  t.cols = make_taps(w, kx, g.ox, size, ip, bpp);
  rebase(t.cols, bpp);
  if (t.need_chroma) {
    const int cbpp = fmt == PixelFormat::NV12 ? 2 : 1;
    t.crows = make_taps((h + 1) / 2, ky / 2, g.oy, size, ip, frame.strides[1]);
    if (fmt == PixelFormat::I420)
      t.vrows = make_taps((h + 1) / 2, ky / 2, g.oy, size, ip, frame.strides[2]);
    t.ccols = make_taps((w + 1) / 2, kx / 2, g.ox, size, ip, cbpp);
    rebase(t.ccols, cbpp);
  }
  return t;
}

// Output row y, filtered into acc (R, G, B or Y, U, V per pixel; grey in channel 0) by the
// kernel for the frame's layout. tp: scratch for the vertical pass.
void filter_row(const Frame& frame, const FrameTaps& t, int y, int size, float* tp, float* ac) {
  const uint8_t* p0 = frame.planes[0];
  const Taps &rows = t.rows, &cols = t.cols;
  switch (frame.format) {
    case PixelFormat::RGB:
    case PixelFormat::RGBx:
    case PixelFormat::RGBA:
      filter<3, 0, 1, 2>(p0, rows, y, cols, size, tp, ac);
      break;
    case PixelFormat::BGR:
    case PixelFormat::BGRx:
    case PixelFormat::BGRA:
      filter<3, 2, 1, 0>(p0, rows, y, cols, size, tp, ac);
      break;
    case PixelFormat::xRGB:
      filter<3, 1, 2, 3>(p0, rows, y, cols, size, tp, ac);
      break;
    case PixelFormat::xBGR:
      filter<3, 3, 2, 1>(p0, rows, y, cols, size, tp, ac);
      break;
    case PixelFormat::GRAY8:
      filter<1, 0>(p0, rows, y, cols, size, tp, ac);
      break;
    case PixelFormat::I420:
      filter<1, 0>(p0, rows, y, cols, size, tp, ac);
      if (t.need_chroma) {
        filter<1, 0>(frame.planes[1], t.crows, y, t.ccols, size, tp, ac + 1);
        filter<1, 0>(frame.planes[2], t.vrows, y, t.ccols, size, tp, ac + 2);
      }
      break;
    case PixelFormat::NV12:
      filter<1, 0>(p0, rows, y, cols, size, tp, ac);
      if (t.need_chroma) filter<2, 0, 1>(frame.planes[1], t.crows, y, t.ccols, size, tp, ac + 1);
      break;
  }
}

// Filtered YUV to R, G, B in place, clamped as a decoder's output would be.
void yuv_row_to_rgb(const YuvToRgb& m, int size, float* ac) {
  for (int x = 0; x < size; ++x) {
    float* v = ac + 3 * x;
    const float yy = (v[0] - m.y0) * m.ys, cb = (v[1] - 128.0f) * m.cs, cr = (v[2] - 128.0f) * m.cs;
    v[0] = clamp255(yy + m.rv * cr);
    v[1] = clamp255(yy - m.gu * cb - m.gv * cr);
    v[2] = clamp255(yy + m.bu * cb);
  }
}

// The per-row constants of the output stage: normalisation, channel order, grey expansion.
struct OutputStage {
  Source src;
  int channels, size;
  size_t plane_len;
  float a[3], b[3];
  int rgb_of[3];   // model channel c reads acc channel rgb_of[c] (acc holds R, G, B)
  float gy0, gys;  // grey from YUV: Y expanded to full range; GRAY8 is full range already
};

// One row of acc, normalised into the model's planes at o (row y of each channel plane).
void write_row(const OutputStage& s, const float* ac, float* o) {
  const int size = s.size;
  if (s.channels == 3) {
    if (s.src == Source::Grey) {  // GRAY8 into a colour model: R = G = B = Y
      for (int c = 0; c < 3; ++c)
        for (int x = 0; x < size; ++x) o[c * s.plane_len + x] = ac[3 * x] * s.a[c] + s.b[c];
    } else {
      for (int c = 0; c < 3; ++c) {
        const int src = s.rgb_of[c];
        for (int x = 0; x < size; ++x) o[c * s.plane_len + x] = ac[3 * x + src] * s.a[c] + s.b[c];
      }
    }
  } else if (s.src == Source::Rgb) {  // BT.601 luma, whatever the frame's matrix
    for (int x = 0; x < size; ++x) {
      const float* v = ac + 3 * x;
      o[x] = (0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2]) * s.a[0] + s.b[0];
    }
  } else {
    for (int x = 0; x < size; ++x) o[x] = clamp255((ac[3 * x] - s.gy0) * s.gys) * s.a[0] + s.b[0];
  }
}

}  // namespace

void preprocess(const Frame& full, const PreprocessConfig& cfg, int channels, int size,
                float* out) {
  validate(full, channels, size, out, cfg);
  const Frame frame = crop_view(full);  // the object's box, if one is set
  const PixelFormat fmt = frame.format;
  const FrameTaps taps = frame_taps(frame, cfg, channels, size);

  const bool yuv = is_yuv(fmt);
  const YuvToRgb m = yuv_to_rgb(frame.matrix, frame.range);
  OutputStage stage;
  stage.src = yuv                         ? (channels == 3 ? Source::Yuv : Source::Grey)
              : fmt == PixelFormat::GRAY8 ? Source::Grey
                                          : Source::Rgb;
  stage.channels = channels;
  stage.size = size;
  stage.plane_len = static_cast<size_t>(size) * size;
  pixel::normalisation(cfg, channels, stage.a, stage.b);
  const bool bgr = cfg.channel_order == ChannelOrder::BGR;
  stage.rgb_of[0] = bgr ? 2 : 0, stage.rgb_of[1] = 1, stage.rgb_of[2] = bgr ? 0 : 2;
  stage.gy0 = yuv ? m.y0 : 0.0f;
  stage.gys = yuv ? m.ys : 1.0f;

  // Row by row: filter into acc, convert YUV, normalise into the output planes.
  std::vector<float> tmp(static_cast<size_t>(std::max(taps.cols.span, taps.ccols.span)));
  std::vector<float> acc(static_cast<size_t>(size) * 3);
  for (int y = 0; y < size; ++y) {
    filter_row(frame, taps, y, size, tmp.data(), acc.data());
    if (stage.src == Source::Yuv) yuv_row_to_rgb(m, size, acc.data());
    write_row(stage, acc.data(), out + static_cast<size_t>(y) * size);
  }
}

Tensor preprocess_batch(std::span<const Frame> frames, const PreprocessConfig& cfg, int channels,
                        int size) {
  const int64_t n = static_cast<int64_t>(frames.size());
  Tensor input({n, channels, size, size});  // (N, C, H, W)
  const int64_t per = int64_t{channels} * size * size;
  for (int64_t i = 0; i < n; ++i)
    preprocess(frames[static_cast<size_t>(i)], cfg, channels, size, input.data() + i * per);
  return input;
}

}  // namespace alexnet
