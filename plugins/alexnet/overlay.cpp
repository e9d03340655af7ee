// Text overlay: white 8x8-font text on a black box, written straight into the frame's planes.
//
// Sizes are in units of one font pixel, s (see pixel_scale): glyphs are 8s x 8s, lines are
// 2s apart, the text has 2s of padding inside the box and the box sits 2s from its corner.
// Every box edge is rounded outwards to an even coordinate (then clipped to the frame), so
// for I420/NV12 each chroma sample the box touches covers only luma inside the box: its
// chroma can be set to neutral without tinting a single pixel outside.
#include "overlay.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "font8x8.h"

namespace alexnet::gst {
namespace {

constexpr int kMaxScale = 64;  // 512-pixel glyphs: beyond any frame we'd draw on
constexpr int kLineGap = 2;    // in font pixels
constexpr int kPadding = 2;
constexpr int kMargin = 2;

// The font pixel size: font_scale times a base that grows with the frame height (1 below
// 360 lines, 2 at 360-719, 3 at 720-1079, 4 at 1080p …), so the default font-scale of 1 gives
// text of a similar share of the picture at every resolution. At least 1.
int pixel_scale(int frame_height, double font_scale) {
  const double v = font_scale * (1 + std::max(frame_height, 0) / 360);
  if (!(v >= 1.0)) return 1;  // also NaN and negative scales
  if (v >= kMaxScale) return kMaxScale;
  return static_cast<int>(std::lround(v));
}

struct Layout {
  Rect box;        // clipped, even-aligned: what gets filled
  int64_t tx = 0;  // top-left of the first glyph
  int64_t ty = 0;
  int s = 1;
};

int64_t round_up_even(int64_t v) {
  return v + (v & 1);
}

Layout layout(int width, int height, const std::vector<std::string>& lines,
              OverlayPosition position, double font_scale) {
  Layout l;
  if (lines.empty() || width <= 0 || height <= 0) return l;
  l.s = pixel_scale(height, font_scale);
  const int64_t s = l.s;
  size_t longest = 0;
  for (const auto& line : lines) longest = std::max(longest, line.size());
  // 64-bit: a very long label times a big scale must clip, not overflow.
  const int64_t n = static_cast<int64_t>(lines.size());
  const int64_t w = 2 * kPadding * s + static_cast<int64_t>(longest) * kFontSize * s;
  const int64_t h = 2 * kPadding * s + n * kFontSize * s + (n - 1) * kLineGap * s;
  const bool right =
      position == OverlayPosition::TopRight || position == OverlayPosition::BottomRight;
  const bool bottom =
      position == OverlayPosition::BottomLeft || position == OverlayPosition::BottomRight;
  int64_t x = right ? width - kMargin * s - w : kMargin * s;
  int64_t y = bottom ? height - kMargin * s - h : kMargin * s;
  // A box larger than the frame keeps its start (the top label's first letters) in view.
  x = std::max<int64_t>(x, 0);
  y = std::max<int64_t>(y, 0);
  l.tx = x + kPadding * s;
  l.ty = y + kPadding * s;

  const int64_t x0 = x & ~int64_t{1};
  const int64_t y0 = y & ~int64_t{1};
  const int64_t x1 = std::min<int64_t>(round_up_even(x + w), width);
  const int64_t y1 = std::min<int64_t>(round_up_even(y + h), height);
  if (x1 > x0 && y1 > y0) {
    l.box = Rect{static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0),
                 static_cast<int>(y1 - y0)};
  }
  return l;
}

// Marks the text pixels of frame row y within the box: mask[i] is for column box.x + i.
void text_row(const Layout& l, const std::vector<std::string>& lines, int y,
              std::vector<uint8_t>& mask) {
  std::fill(mask.begin(), mask.end(), 0);
  const int64_t s = l.s;
  const int64_t line_pitch = (kFontSize + kLineGap) * s;
  const int64_t ry = y - l.ty;
  if (ry < 0) return;
  const int64_t line = ry / line_pitch;
  const int64_t r = ry % line_pitch;
  if (line >= static_cast<int64_t>(lines.size()) || r >= kFontSize * s) return;
  const int glyph_row = static_cast<int>(r / s);
  const int64_t x0 = l.box.x;
  const int64_t x1 = x0 + l.box.w;
  const std::string& text = lines[static_cast<size_t>(line)];
  for (size_t i = 0; i < text.size(); i++) {
    const int64_t cx = l.tx + static_cast<int64_t>(i) * kFontSize * s;
    if (cx >= x1) break;
    int c = static_cast<unsigned char>(text[i]);
    if (c < kFontFirst || c > kFontLast) c = '?';
    const uint8_t bits = kFont8x8[static_cast<size_t>(c - kFontFirst)][glyph_row];
    for (int b = 0; b < kFontSize; b++) {
      if (!((bits >> b) & 1)) continue;
      const int64_t px0 = std::max(cx + b * s, x0);
      const int64_t px1 = std::min(cx + (b + 1) * s, x1);
      for (int64_t px = px0; px < px1; px++) mask[static_cast<size_t>(px - x0)] = 1;
    }
  }
}

bool planes_ok(const MutableFrame& f) {
  const int n = f.format == PixelFormat::I420 ? 3 : f.format == PixelFormat::NV12 ? 2 : 1;
  for (int i = 0; i < n; i++) {
    if (f.planes[static_cast<size_t>(i)] == nullptr || f.strides[static_cast<size_t>(i)] <= 0)
      return false;
  }
  return true;
}

// Bytes per pixel and, for 4-byte formats, the alpha/padding byte (-1: none), which gets
// 255 so RGBA boxes are opaque.
void packed_layout(PixelFormat f, int& bpp, int& alpha) {
  switch (f) {
    case PixelFormat::RGB:
    case PixelFormat::BGR:
      bpp = 3;
      alpha = -1;
      return;
    case PixelFormat::xRGB:
    case PixelFormat::xBGR:
      bpp = 4;
      alpha = 0;
      return;
    case PixelFormat::RGBx:
    case PixelFormat::BGRx:
    case PixelFormat::RGBA:
    case PixelFormat::BGRA:
      bpp = 4;
      alpha = 3;
      return;
    default:
      bpp = 1;
      alpha = -1;
      return;  // GRAY8 and the luma plane of I420/NV12
  }
}

bool is_yuv(PixelFormat f) {
  return f == PixelFormat::I420 || f == PixelFormat::NV12;
}

// Clips `r` to the frame; for I420/NV12 grows it to even coordinates (chroma pairs).
Rect clip(const MutableFrame& f, Rect r) {
  int64_t x0 = std::max(r.x, 0), y0 = std::max(r.y, 0);
  int64_t x1 = std::min<int64_t>(int64_t{r.x} + r.w, f.width);
  int64_t y1 = std::min<int64_t>(int64_t{r.y} + r.h, f.height);
  if (x1 <= x0 || y1 <= y0) return Rect{};
  if (is_yuv(f.format)) {
    x0 -= x0 % 2, y0 -= y0 % 2;
    x1 = std::min<int64_t>(x1 + x1 % 2, f.width), y1 = std::min<int64_t>(y1 + y1 % 2, f.height);
  }
  return {static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0),
          static_cast<int>(y1 - y0)};
}

// Fills a clipped rectangle with white (luma/packed) and neutral chroma.
void fill_white(MutableFrame& f, const Rect& b) {
  if (b.empty()) return;
  const bool yuv = is_yuv(f.format);
  const uint8_t white = yuv && f.range == ColorRange::Limited ? 235 : 255;
  int bpp = 1, alpha = -1;
  packed_layout(f.format, bpp, alpha);
  for (int y = b.y; y < b.y + b.h; y++) {
    uint8_t* p = f.planes[0] + static_cast<std::ptrdiff_t>(y) * f.strides[0] +
                 static_cast<std::ptrdiff_t>(b.x) * bpp;
    std::memset(p, white, static_cast<size_t>(b.w) * static_cast<size_t>(bpp));
  }
  if (!yuv) return;
  const int cx0 = b.x / 2, cx1 = (b.x + b.w + 1) / 2, cy0 = b.y / 2, cy1 = (b.y + b.h + 1) / 2;
  for (int cy = cy0; cy < cy1; cy++) {
    if (f.format == PixelFormat::I420) {
      for (size_t plane = 1; plane <= 2; plane++)
        std::memset(f.planes[plane] + static_cast<std::ptrdiff_t>(cy) * f.strides[plane] + cx0, 128,
                    static_cast<size_t>(cx1 - cx0));
    } else {
      std::memset(f.planes[1] + static_cast<std::ptrdiff_t>(cy) * f.strides[1] + 2 * cx0, 128,
                  static_cast<size_t>(2 * (cx1 - cx0)));
    }
  }
}

}  // namespace

Rect draw_box(MutableFrame& frame, Rect box, int thickness) {
  if (!planes_ok(frame) || thickness < 1) return Rect{};
  const Rect b = clip(frame, box);
  if (b.empty()) return b;
  const int t = std::min({thickness, b.w, b.h});
  fill_white(frame, clip(frame, {b.x, b.y, b.w, t}));            // top
  fill_white(frame, clip(frame, {b.x, b.y + b.h - t, b.w, t}));  // bottom
  fill_white(frame, clip(frame, {b.x, b.y, t, b.h}));            // left
  fill_white(frame, clip(frame, {b.x + b.w - t, b.y, t, b.h}));  // right
  return b;
}

MutableFrame sub_frame(const MutableFrame& frame, Rect box) {
  MutableFrame v = frame;
  const Rect b = planes_ok(frame) ? clip(frame, box) : Rect{};
  if (b.empty()) {
    v.width = v.height = 0;
    return v;
  }
  int bpp = 1, alpha = -1;
  packed_layout(frame.format, bpp, alpha);
  v.width = b.w, v.height = b.h;
  v.planes[0] = frame.planes[0] + static_cast<std::ptrdiff_t>(b.y) * frame.strides[0] +
                static_cast<std::ptrdiff_t>(b.x) * bpp;
  if (frame.format == PixelFormat::I420) {
    for (size_t p = 1; p <= 2; p++)
      v.planes[p] =
          frame.planes[p] + static_cast<std::ptrdiff_t>(b.y / 2) * frame.strides[p] + b.x / 2;
  } else if (frame.format == PixelFormat::NV12) {
    v.planes[1] = frame.planes[1] + static_cast<std::ptrdiff_t>(b.y / 2) * frame.strides[1] + b.x;
  }
  return v;
}

Rect text_box(int frame_width, int frame_height, const std::vector<std::string>& lines,
              OverlayPosition position, double font_scale) {
  return layout(frame_width, frame_height, lines, position, font_scale).box;
}

Rect draw_text(MutableFrame& frame, const std::vector<std::string>& lines, OverlayPosition position,
               double font_scale) {
  if (!planes_ok(frame)) return Rect{};
  const Layout l = layout(frame.width, frame.height, lines, position, font_scale);
  const Rect& b = l.box;
  if (b.empty()) return Rect{};

  const bool yuv = frame.format == PixelFormat::I420 || frame.format == PixelFormat::NV12;
  const bool limited = yuv && frame.range == ColorRange::Limited;
  const uint8_t black = limited ? 16 : 0;
  const uint8_t white = limited ? 235 : 255;
  int bpp = 1, alpha = -1;
  packed_layout(frame.format, bpp, alpha);

  std::vector<uint8_t> mask(static_cast<size_t>(b.w));
  for (int y = b.y; y < b.y + b.h; y++) {
    text_row(l, lines, y, mask);
    uint8_t* p = frame.planes[0] + static_cast<std::ptrdiff_t>(y) * frame.strides[0] +
                 static_cast<std::ptrdiff_t>(b.x) * bpp;
    for (int i = 0; i < b.w; i++, p += bpp) {
      const uint8_t v = mask[static_cast<size_t>(i)] ? white : black;
      std::memset(p, v, static_cast<size_t>(bpp));
      if (alpha >= 0) p[alpha] = 255;
    }
  }

  if (yuv) {
    // Chroma is subsampled 2x2, rounding up: the box's even origin maps to cx0 exactly, and
    // its end (even, or the frame's odd edge) to the chroma column/row that holds it.
    const int cx0 = b.x / 2, cx1 = (b.x + b.w + 1) / 2;
    const int cy0 = b.y / 2, cy1 = (b.y + b.h + 1) / 2;
    for (int cy = cy0; cy < cy1; cy++) {
      if (frame.format == PixelFormat::I420) {
        for (size_t plane = 1; plane <= 2; plane++) {
          std::memset(
              frame.planes[plane] + static_cast<std::ptrdiff_t>(cy) * frame.strides[plane] + cx0,
              128, static_cast<size_t>(cx1 - cx0));
        }
      } else {
        std::memset(frame.planes[1] + static_cast<std::ptrdiff_t>(cy) * frame.strides[1] + 2 * cx0,
                    128, static_cast<size_t>(2 * (cx1 - cx0)));
      }
    }
  }
  return b;
}

}  // namespace alexnet::gst
