// One output pixel of preprocess() (lib/src/preprocess/preprocess.cpp), computed on its own: the
// body of the CUDA backend's fused preprocessing kernel (lib/src/backends/cuda/preprocess.cu),
// shared with a host test that compares it with the reference
// (tests/preprocess/test_preprocess_pixel.cpp).
//
// The reference builds per-call tap tables and filters rows, then columns; here each output
// pixel recomputes its own taps (in double, with the same expressions) and sums them in the
// same order: value = Σ_u colw[u] · (Σ_r roww[r] · src[r][u]), every product and sum rounded to
// float as the reference does. With no fused multiply-adds (g++ for x86-64 without -march emits
// none; nvcc runs with --fmad=false) the results are the reference's bit for bit, all three
// interpolations included.
//
// The device part (PixelJob and the ALEXNET_HD functions) needs only <stdint.h> (no alexnet,
// oneDNN or C++20 header), so nvcc in C++17 mode compiles it; the host part (describe_frame,
// pack_frame, validate_frame) is hidden from nvcc and needs alexnet/preprocess.h.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#define ALEXNET_HD __host__ __device__
#else
#define ALEXNET_HD
#endif

namespace alexnet::pixel {

enum Layout : int32_t { kPacked = 0, kGrey = 1, kI420 = 2, kNV12 = 3 };
enum Filter : int32_t { kBilinear = 0, kNearest = 1, kArea = 2 };
enum Source : int32_t { kSrcRgb = 0, kSrcYuv = 1, kSrcGrey = 2 };  // what is filtered

// One frame and the config, everything precomputed on the host (describe_frame). Plane bytes
// live in one buffer; planes are packed tightly there (pack_frame), so strides equal rows.
struct PixelJob {
  int32_t layout;         // Layout
  int32_t width, height;  // of the frame (luma)
  int32_t bpp;            // packed: bytes per pixel of plane 0
  int32_t byte_of[3];     // packed: byte offset of R, G, B within a pixel
  int64_t plane[3];       // byte offsets of the planes in the buffer
  int64_t stride[3];      // bytes per row of each plane in the buffer
  // Geometry: output pixel i (per axis) is pixel i + o of the virtual resized image; k = source
  // samples per output sample (luma; chroma uses k / 2).
  double kx, ky;
  int64_t ox, oy;
  int32_t filter;  // Filter
  int32_t source;  // Source
  // YUV → RGB (kSrcYuv): R = Y' + rv·Cr, G = Y' − gu·Cb − gv·Cr, B = Y' + bu·Cb with
  // Y' = (Y − y0)·ys, Cb, Cr = (U, V − 128)·cs. Grey from luma: clamp((Y − gy0)·gys).
  float y0, ys, cs, rv, gu, gv, bu;
  float gy0, gys;
  // Output: model channel c = value of acc channel rgb_of[c] · a[c] + b[c].
  int32_t channels, size;
  int32_t rgb_of[3];
  float a[3], b[3];
};

// The taps of one output index on one axis of one plane (the reference's make_taps for a
// single i). Area taps are visited, not stored: a box may cover thousands of samples.
struct Taps {
  int32_t mode;  // kNearest, kBilinear, kArea; 3: area with no sample (single tap j0, weight 1)
  int32_t n;     // area: at most this many taps (floor(k) + 2)
  int64_t len, j0, j1;
  double a, b, sum;
  float w0, w1;
};

ALEXNET_HD inline int64_t clamp_index(int64_t j, int64_t len) {
  return j < 0 ? 0 : (j > len - 1 ? len - 1 : j);
}

// std::floor / std::ceil for the values here (|v| < 2^53), without <cmath> on the device.
ALEXNET_HD inline double floor_d(double v) {
  const double t = static_cast<double>(static_cast<int64_t>(v));  // toward zero
  return t > v ? t - 1.0 : t;
}
ALEXNET_HD inline double ceil_d(double v) {
  const double t = static_cast<double>(static_cast<int64_t>(v));
  return t < v ? t + 1.0 : t;
}
ALEXNET_HD inline double min_d(double a, double b) {
  return b < a ? b : a;  // std::min
}
ALEXNET_HD inline double max_d(double a, double b) {
  return a < b ? b : a;  // std::max
}

// `len`: the plane's length on this axis; `k`: its samples per output sample; `p`: the index in
// the virtual resized line. Same expressions as the reference's make_taps.
ALEXNET_HD inline Taps make_taps(int64_t len, double k, int64_t p_index, int32_t filter) {
  if (filter == kArea && k <= 1.0) filter = kBilinear;  // area only shrinks
  Taps t{};
  t.len = len;
  const double p = static_cast<double>(p_index);
  if (filter == kNearest) {
    t.mode = kNearest;
    t.j0 = static_cast<int64_t>(floor_d((p + 0.5) * k));
    t.w0 = 1.0f;
  } else if (filter == kBilinear) {
    t.mode = kBilinear;
    const double c = (p + 0.5) * k - 0.5;
    const double j = floor_d(c);
    const double f = c - j;
    t.j0 = static_cast<int64_t>(j);
    t.w0 = static_cast<float>(1.0 - f);
    t.w1 = static_cast<float>(f);
  } else {
    t.mode = kArea;
    t.n = static_cast<int32_t>(floor_d(k)) + 2;
    t.a = max_d(0.0, p * k);
    t.b = min_d(static_cast<double>(len), t.a + k);
    t.j0 = static_cast<int64_t>(floor_d(t.a));
    const int64_t e = static_cast<int64_t>(ceil_d(t.b));
    t.j1 = len < e ? len : e;
    double sum = 0;
    int u = 0;
    for (int64_t j = t.j0; j < t.j1 && u < t.n; ++j) {
      const double ov = min_d(t.b, static_cast<double>(j + 1)) - max_d(t.a, static_cast<double>(j));
      if (ov <= 1e-3) continue;  // slivers, dropped as the reference does
      sum += ov;
      ++u;
    }
    t.sum = sum;
    if (u == 0) t.mode = 3;
  }
  return t;
}

// A position in a Taps' list: `j` the next source index to try (area), `u` taps visited.
struct TapIter {
  int64_t j;
  int u;
};

ALEXNET_HD inline TapIter first_tap(const Taps& t) {
  return TapIter{t.j0, 0};
}

// Visits the taps in the reference's order; false after the last. Weights as the reference's:
// area's are float(float(overlap) / sum).
ALEXNET_HD inline bool next_tap(const Taps& t, TapIter& it, int64_t& index, float& w) {
  switch (t.mode) {
    case kNearest:
    case 3:
      if (it.u++ > 0) return false;
      index = clamp_index(t.j0, t.len);
      w = 1.0f;
      return true;
    case kBilinear:
      if (it.u > 1) return false;
      index = clamp_index(t.j0 + it.u, t.len);
      w = it.u == 0 ? t.w0 : t.w1;
      ++it.u;
      return true;
    default:
      while (it.j < t.j1 && it.u < t.n) {
        const int64_t j = it.j++;
        const double ov =
            min_d(t.b, static_cast<double>(j + 1)) - max_d(t.a, static_cast<double>(j));
        if (ov <= 1e-3) continue;
        ++it.u;
        index = j;
        w = static_cast<float>(static_cast<double>(static_cast<float>(ov)) / t.sum);
        return true;
      }
      return false;
  }
}

// K interleaved channels (byte offsets o[0..K-1] within a pixel of `step` bytes) of one plane,
// filtered: rows first (the reference's tmp), then columns. Zero-weight taps the reference
// carries (area padding, a bilinear tap at f = 0) add exact zeros there, so leaving them out
// here changes nothing.
ALEXNET_HD inline void sample(const uint8_t* plane, int64_t stride, int step, int K, const int* o,
                              const Taps& rows, const Taps& cols, float* out) {
  float s[3] = {0.0f, 0.0f, 0.0f};
  int64_t cj = 0;
  float cw = 0.0f;
  for (TapIter ci = first_tap(cols); next_tap(cols, ci, cj, cw);) {
    const uint8_t* col = plane + cj * step;
    float t[3] = {0.0f, 0.0f, 0.0f};
    int64_t rj = 0;
    float rw = 0.0f;
    for (TapIter ri = first_tap(rows); next_tap(rows, ri, rj, rw);) {
      const uint8_t* px = col + rj * stride;
      for (int c = 0; c < K; ++c) t[c] += rw * static_cast<float>(px[o[c]]);
    }
    for (int c = 0; c < K; ++c) s[c] += cw * t[c];
  }
  for (int c = 0; c < K; ++c) out[c] = s[c];
}

ALEXNET_HD inline float clamp255(float v) {
  const float m = 0.0f < v ? v : 0.0f;  // std::max(0.0f, v)
  return m < 255.0f ? m : 255.0f;       // std::min(255.0f, m)
}

// Output pixel (x, y) of the job's frame: out[c · plane_step] for model channel c.
ALEXNET_HD inline void preprocess_pixel(const PixelJob& j, const uint8_t* buf, int x, int y,
                                        float* out, int64_t plane_step) {
  const int64_t w = j.width, h = j.height;
  const Taps rows = make_taps(h, j.ky, j.oy + y, j.filter);
  const Taps cols = make_taps(w, j.kx, j.ox + x, j.filter);
  float acc[3] = {0.0f, 0.0f, 0.0f};
  const uint8_t* p0 = buf + j.plane[0];
  if (j.layout == kPacked) {
    sample(p0, j.stride[0], j.bpp, 3, j.byte_of, rows, cols, acc);
  } else {
    const int uv[2] = {0, 1};  // one channel at byte 0; NV12: U at 0, V at 1
    sample(p0, j.stride[0], 1, 1, uv, rows, cols, acc);
    if (j.source == kSrcYuv) {
      const int64_t cw = (w + 1) / 2, ch = (h + 1) / 2;
      const Taps crows = make_taps(ch, j.ky / 2, j.oy + y, j.filter);
      const Taps ccols = make_taps(cw, j.kx / 2, j.ox + x, j.filter);
      if (j.layout == kNV12) {
        sample(buf + j.plane[1], j.stride[1], 2, 2, uv, crows, ccols, acc + 1);
      } else {
        sample(buf + j.plane[1], j.stride[1], 1, 1, uv, crows, ccols, acc + 1);
        sample(buf + j.plane[2], j.stride[2], 1, 1, uv, crows, ccols, acc + 2);
      }
    }
  }
  if (j.source == kSrcYuv) {  // to R, G, B, clamped as a decoder's output would be
    const float yy = (acc[0] - j.y0) * j.ys, cb = (acc[1] - 128.0f) * j.cs,
                cr = (acc[2] - 128.0f) * j.cs;
    acc[0] = clamp255(yy + j.rv * cr);
    acc[1] = clamp255(yy - j.gu * cb - j.gv * cr);
    acc[2] = clamp255(yy + j.bu * cb);
  }
  if (j.channels == 3) {
    for (int c = 0; c < 3; ++c) {
      const float v = j.source == kSrcGrey ? acc[0] : acc[j.rgb_of[c]];
      out[c * plane_step] = v * j.a[c] + j.b[c];
    }
  } else if (j.source == kSrcRgb) {  // BT.601 luma, whatever the frame's matrix
    out[0] = (0.299f * acc[0] + 0.587f * acc[1] + 0.114f * acc[2]) * j.a[0] + j.b[0];
  } else {
    out[0] = clamp255((acc[0] - j.gy0) * j.gys) * j.a[0] + j.b[0];
  }
}

}  // namespace alexnet::pixel

#if !defined(__CUDACC__)
// --- host side: a Frame and a PreprocessConfig → PixelJob, and the frame's bytes ---------------
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>

#include "alexnet/error.h"
#include "alexnet/preprocess.h"

namespace alexnet::pixel {

// Plane rows of a frame (bytes) and row counts, as the reference's plane_shape.
struct Planes {
  int count = 1;
  int64_t row[3] = {0, 0, 0}, rows[3] = {0, 0, 0};
  const char* name[3] = {nullptr, nullptr, nullptr};
};

inline int bytes_per_pixel(PixelFormat f) {
  switch (f) {
    case PixelFormat::RGB:
    case PixelFormat::BGR:
      return 3;
    case PixelFormat::GRAY8:
    case PixelFormat::I420:
    case PixelFormat::NV12:
      return 1;
    default:
      return 4;
  }
}

inline Planes planes_of(PixelFormat f, int width, int height) {
  const int64_t cw = (width + 1) / 2, ch = (height + 1) / 2;
  Planes p;
  if (f == PixelFormat::I420) {
    p.count = 3;
    p.row[0] = width, p.row[1] = cw, p.row[2] = cw;
    p.rows[0] = height, p.rows[1] = ch, p.rows[2] = ch;
    p.name[0] = "Y", p.name[1] = "U", p.name[2] = "V";
  } else if (f == PixelFormat::NV12) {
    p.count = 2;
    p.row[0] = width, p.row[1] = 2 * cw;
    p.rows[0] = height, p.rows[1] = ch;
    p.name[0] = "Y", p.name[1] = "UV";
  } else {
    p.row[0] = int64_t{width} * bytes_per_pixel(f);
    p.rows[0] = height;
    p.name[0] = "packed";
  }
  return p;
}

// The reference's validation of one frame and the config, with its messages (alexnet::Error);
// defined in preprocess.cpp, which preprocess() runs first.
void validate_frame(const Frame& frame, const PreprocessConfig& cfg, int channels, int size);

// Bytes pack_frame writes for `frame` (its planes, rows packed tightly).
inline int64_t packed_size(const Frame& frame) {
  const Planes ps = planes_of(frame.format, frame.width, frame.height);
  int64_t total = 0;
  for (int p = 0; p < ps.count; ++p) total += ps.row[p] * ps.rows[p];
  return total;
}

// Copies the frame's planes (only each row's bytes, not the stride's padding) to `dst` and
// points job.plane / job.stride at them; `at` is dst's offset in the buffer the kernel reads.
inline void pack_frame(const Frame& frame, PixelJob& job, uint8_t* dst, int64_t at) {
  const Planes ps = planes_of(frame.format, frame.width, frame.height);
  for (int p = 0; p < 3; ++p) job.plane[p] = at, job.stride[p] = 0;
  for (int p = 0; p < ps.count; ++p) {
    job.plane[p] = at;
    job.stride[p] = ps.row[p];
    const size_t row = static_cast<size_t>(ps.row[p]);
    if (frame.strides[p] == ps.row[p]) {
      std::memcpy(dst, frame.planes[p], row * static_cast<size_t>(ps.rows[p]));
    } else {
      for (int64_t r = 0; r < ps.rows[p]; ++r)
        std::memcpy(dst + r * ps.row[p], frame.planes[p] + r * frame.strides[p], row);
    }
    dst += ps.row[p] * ps.rows[p];
    at += ps.row[p] * ps.rows[p];
  }
}

// The virtual resized image (rw x rh) of Crop::Center and the crop's offset (ox, oy) in it;
// Crop::Stretch resizes to size x size with no offset. The reference's geometry (preprocess.cpp:
// the shorter side becomes max(resize or itself, size), the longer one truncated, the offset
// torchvision's CenterCrop round((len − size) / 2), halves to even).
struct ResizeCrop {
  int64_t rw, rh, ox, oy;
};

inline ResizeCrop resize_crop(int w, int h, const PreprocessConfig& cfg, int size) {
  if (cfg.crop != Crop::Center) return {size, size, 0, 0};
  const int64_t shorter = std::min(w, h), longer = std::max(w, h);
  const int64_t target = std::max<int64_t>(cfg.resize > 0 ? cfg.resize : shorter, size);
  int64_t rw = w, rh = h;
  if (target != shorter) {  // torchvision's Resize(int): the longer side is truncated
    const int64_t other = target * longer / shorter;
    rw = w <= h ? target : other;
    rh = w <= h ? other : target;
  }
  auto centre_offset = [size](int64_t len) {
    const int64_t d = len - size, q = d / 2;
    return (d % 2 == 1 && q % 2 == 1) ? q + 1 : q;
  };
  return {rw, rh, centre_offset(rw), centre_offset(rh)};
}

// The normalisation as out = v·a[c] + b[c], i.e. (v·scale − mean) / std, per model channel;
// channels past `channels` get 0.
inline void normalisation(const PreprocessConfig& cfg, int channels, float a[3], float b[3]) {
  for (int c = 0; c < 3; ++c) a[c] = 0.0f, b[c] = 0.0f;
  for (int c = 0; c < channels; ++c) {
    a[c] = static_cast<float>(cfg.scale / cfg.std[c]);
    b[c] = -cfg.mean[c] / cfg.std[c];
  }
}

// Byte offsets of R, G, B in a packed pixel (the reference's filter<> template arguments).
inline void packed_byte_order(PixelFormat fmt, int32_t byte_of[3]) {
  int r = 0, g = 1, b = 2;
  switch (fmt) {
    case PixelFormat::BGR:
    case PixelFormat::BGRx:
    case PixelFormat::BGRA:
      r = 2, b = 0;
      break;
    case PixelFormat::xRGB:
      r = 1, g = 2, b = 3;
      break;
    case PixelFormat::xBGR:
      r = 3, g = 2, b = 1;
      break;
    default:
      break;
  }
  byte_of[0] = r, byte_of[1] = g, byte_of[2] = b;
}

// The job for `frame` (validated first); plane offsets are filled by pack_frame. Geometry,
// colour constants and normalisation as the reference's preprocess() computes them.
inline PixelJob describe_frame(const Frame& frame, const PreprocessConfig& cfg, int channels,
                               int size) {
  validate_frame(frame, cfg, channels, size);
  const int w = frame.width, h = frame.height;
  const PixelFormat fmt = frame.format;
  PixelJob j{};
  j.width = w;
  j.height = h;
  j.bpp = bytes_per_pixel(fmt);
  const bool yuv = fmt == PixelFormat::I420 || fmt == PixelFormat::NV12;
  j.layout = fmt == PixelFormat::I420    ? kI420
             : fmt == PixelFormat::NV12  ? kNV12
             : fmt == PixelFormat::GRAY8 ? kGrey
                                         : kPacked;
  j.source =
      yuv ? (channels == 3 ? kSrcYuv : kSrcGrey) : (fmt == PixelFormat::GRAY8 ? kSrcGrey : kSrcRgb);
  packed_byte_order(fmt, j.byte_of);

  const ResizeCrop g = resize_crop(w, h, cfg, size);
  j.kx = static_cast<double>(w) / static_cast<double>(g.rw);
  j.ky = static_cast<double>(h) / static_cast<double>(g.rh);
  j.ox = g.ox;
  j.oy = g.oy;
  j.filter = cfg.interpolation == Interpolation::Nearest ? kNearest
             : cfg.interpolation == Interpolation::Area  ? kArea
                                                         : kBilinear;

  const double kr = frame.matrix == ColorMatrix::BT709 ? 0.2126 : 0.299;
  const double kb = frame.matrix == ColorMatrix::BT709 ? 0.0722 : 0.114;
  const double kg = 1.0 - kr - kb;
  const bool lim = frame.range == ColorRange::Limited;
  j.y0 = lim ? 16.0f : 0.0f;
  j.ys = static_cast<float>(lim ? 255.0 / 219.0 : 1.0);
  j.cs = static_cast<float>(lim ? 255.0 / 224.0 : 1.0);
  j.rv = static_cast<float>(2.0 * (1.0 - kr));
  j.gu = static_cast<float>(2.0 * kb * (1.0 - kb) / kg);
  j.gv = static_cast<float>(2.0 * kr * (1.0 - kr) / kg);
  j.bu = static_cast<float>(2.0 * (1.0 - kb));
  j.gy0 = yuv ? j.y0 : 0.0f;  // grey from YUV: Y expanded to full range
  j.gys = yuv ? j.ys : 1.0f;

  j.channels = channels;
  j.size = size;
  const bool bgr = cfg.channel_order == ChannelOrder::BGR;
  j.rgb_of[0] = bgr ? 2 : 0, j.rgb_of[1] = 1, j.rgb_of[2] = bgr ? 0 : 2;
  normalisation(cfg, channels, j.a, j.b);
  return j;
}

}  // namespace alexnet::pixel
#endif
