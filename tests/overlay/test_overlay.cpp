// The text overlay on every pixel format: frames of random noise with padded, odd strides;
// the box must be black with white text, neutral in chroma, and nothing outside it (padding
// bytes included) may change.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "font8x8.h"
#include "overlay.h"

using alexnet::ColorRange;
using alexnet::PixelFormat;
using alexnet::gst::draw_text;
using alexnet::gst::MutableFrame;
using alexnet::gst::OverlayPosition;
using alexnet::gst::Rect;
using alexnet::gst::text_box;

namespace {

const PixelFormat kFormats[] = {PixelFormat::RGB,  PixelFormat::BGR,  PixelFormat::RGBx,
                                PixelFormat::BGRx, PixelFormat::xRGB, PixelFormat::xBGR,
                                PixelFormat::RGBA, PixelFormat::BGRA, PixelFormat::GRAY8,
                                PixelFormat::I420, PixelFormat::NV12};
const OverlayPosition kPositions[] = {OverlayPosition::TopLeft, OverlayPosition::TopRight,
                                      OverlayPosition::BottomLeft, OverlayPosition::BottomRight};

bool is_yuv(PixelFormat f) {
  return f == PixelFormat::I420 || f == PixelFormat::NV12;
}

int bytes_per_pixel(PixelFormat f) {
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

// The alpha/padding byte of 4-byte formats, -1 if none.
int alpha_index(PixelFormat f) {
  if (f == PixelFormat::xRGB || f == PixelFormat::xBGR) return 0;
  return bytes_per_pixel(f) == 4 ? 3 : -1;
}

// A frame in separately allocated planes whose strides exceed the row by an odd amount,
// filled with noise (padding included), plus an untouched copy to compare against.
struct TestFrame {
  PixelFormat format;
  int width, height;
  ColorRange range;
  int nplanes = 1;
  std::vector<uint8_t> data[3], before[3];
  int stride[3] = {0, 0, 0};
  int rows[3] = {0, 0, 0};

  TestFrame(PixelFormat f, int w, int h, uint32_t seed, ColorRange r = ColorRange::Limited)
      : format(f), width(w), height(h), range(r) {
    const int cw = (w + 1) / 2, ch = (h + 1) / 2;
    int row_bytes[3] = {w * bytes_per_pixel(f), 0, 0};
    rows[0] = h;
    if (f == PixelFormat::I420) {
      nplanes = 3;
      row_bytes[1] = row_bytes[2] = cw;
      rows[1] = rows[2] = ch;
    } else if (f == PixelFormat::NV12) {
      nplanes = 2;
      row_bytes[1] = 2 * cw;
      rows[1] = ch;
    }
    std::mt19937 rng(seed);
    for (int p = 0; p < nplanes; p++) {
      stride[p] = row_bytes[p] + 5 + 2 * p;
      data[p].resize(static_cast<size_t>(stride[p]) * rows[p]);
      for (auto& b : data[p]) b = static_cast<uint8_t>(rng());
      before[p] = data[p];
    }
  }

  MutableFrame view() {
    MutableFrame m;
    m.format = format;
    m.width = width;
    m.height = height;
    m.range = range;
    for (int p = 0; p < nplanes; p++) {
      m.planes[static_cast<size_t>(p)] = data[p].data();
      m.strides[static_cast<size_t>(p)] = stride[p];
    }
    return m;
  }

  // Byte columns [c0, c1) and rows [r0, r1) of plane p that the box covers.
  void box_bytes(const Rect& b, int p, int& c0, int& c1, int& r0, int& r1) const {
    if (p == 0) {
      const int bpp = bytes_per_pixel(format);
      c0 = b.x * bpp, c1 = (b.x + b.w) * bpp, r0 = b.y, r1 = b.y + b.h;
      return;
    }
    const int cx0 = b.x / 2, cx1 = (b.x + b.w + 1) / 2;
    const int k = format == PixelFormat::NV12 ? 2 : 1;
    c0 = k * cx0, c1 = k * cx1, r0 = b.y / 2, r1 = (b.y + b.h + 1) / 2;
  }

  uint8_t at(int p, int row, int col) const {
    return data[p][static_cast<size_t>(row) * stride[p] + col];
  }

  // Text mask of the box (true = white), checking every box pixel is exactly black or white.
  void box_mask(const Rect& b, std::vector<std::vector<bool>>& mask) const {
    const bool limited = is_yuv(format) && range == ColorRange::Limited;
    const uint8_t black = limited ? 16 : 0, white = limited ? 235 : 255;
    const int bpp = bytes_per_pixel(format), alpha = alpha_index(format);
    mask.assign(static_cast<size_t>(b.h), std::vector<bool>(static_cast<size_t>(b.w)));
    for (int y = 0; y < b.h; y++) {
      for (int x = 0; x < b.w; x++) {
        const int col = (b.x + x) * bpp;
        const uint8_t v = at(0, b.y + y, col + (alpha == 0 ? 1 : 0));
        EXPECT_TRUE(v == black || v == white)
            << "pixel " << b.x + x << "," << b.y + y << " = " << int(v);
        for (int c = 0; c < bpp; c++) {
          const uint8_t want = c == alpha ? 255 : v;
          ASSERT_EQ(at(0, b.y + y, col + c), want)
              << "byte " << c << " of pixel " << b.x + x << "," << b.y + y;
        }
        mask[static_cast<size_t>(y)][static_cast<size_t>(x)] = v == white;
      }
    }
  }

  // (a) something changed inside the box, (b) nothing changed outside it on any plane,
  // stride padding included, (c) YUV chroma in the box is neutral.
  void check_box(const Rect& b) const {
    bool changed = false;
    for (int p = 0; p < nplanes; p++) {
      int c0 = 0, c1 = 0, r0 = 0, r1 = 0;
      if (!b.empty()) box_bytes(b, p, c0, c1, r0, r1);
      for (int row = 0; row < rows[p]; row++) {
        for (int col = 0; col < stride[p]; col++) {
          const size_t i = static_cast<size_t>(row) * stride[p] + col;
          const bool inside = row >= r0 && row < r1 && col >= c0 && col < c1;
          if (!inside) {
            ASSERT_EQ(data[p][i], before[p][i])
                << "format " << static_cast<int>(format) << " plane " << p << " row " << row
                << " byte " << col << " outside box " << b.x << "," << b.y << " " << b.w << "x"
                << b.h;
          } else {
            changed |= data[p][i] != before[p][i];
            if (p > 0) {
              ASSERT_EQ(data[p][i], 128) << "chroma at row " << row << " byte " << col;
            }
          }
        }
      }
    }
    if (!b.empty()) {
      EXPECT_TRUE(changed);
    }
  }
};

const std::vector<std::string> kLines = {"tabby cat 87.5%", "tiger cat 9.1%", "Egyptian cat 2%"};

// Sizes: odd widths and heights, including ones whose boxes reach the frame's odd edges.
struct Size {
  int w, h;
};
const Size kSizes[] = {{641, 481}, {333, 251}, {320, 240}, {101, 37}, {39, 61}};

TEST(Overlay, EveryFormatSizeAndPosition) {
  uint32_t seed = 1;
  for (const Size sz : kSizes) {
    for (const auto pos : kPositions) {
      // The RGB mask is the reference: every format must draw the same text pixels.
      std::vector<std::vector<bool>> reference;
      for (const auto fmt : kFormats) {
        for (const auto range : {ColorRange::Limited, ColorRange::Full}) {
          if (range == ColorRange::Full && !is_yuv(fmt)) continue;
          SCOPED_TRACE(testing::Message() << "format " << static_cast<int>(fmt) << " size " << sz.w
                                          << "x" << sz.h << " position " << static_cast<int>(pos)
                                          << " range " << static_cast<int>(range));
          TestFrame f(fmt, sz.w, sz.h, seed++, range);
          MutableFrame v = f.view();
          const Rect b = draw_text(v, kLines, pos, 1.0);
          const Rect expect = text_box(sz.w, sz.h, kLines, pos, 1.0);
          ASSERT_EQ(b.x, expect.x);
          ASSERT_EQ(b.y, expect.y);
          ASSERT_EQ(b.w, expect.w);
          ASSERT_EQ(b.h, expect.h);
          ASSERT_FALSE(b.empty());
          ASSERT_TRUE(b.x >= 0 && b.y >= 0 && b.x + b.w <= sz.w && b.y + b.h <= sz.h);
          EXPECT_EQ(b.x % 2, 0);
          EXPECT_EQ(b.y % 2, 0);
          EXPECT_TRUE((b.x + b.w) % 2 == 0 || b.x + b.w == sz.w);
          EXPECT_TRUE((b.y + b.h) % 2 == 0 || b.y + b.h == sz.h);
          f.check_box(b);
          std::vector<std::vector<bool>> mask;
          f.box_mask(b, mask);
          if (HasFatalFailure()) return;
          size_t white = 0, total = 0;
          for (const auto& row : mask)
            for (bool m : row) white += m, total++;
          EXPECT_GT(white, 0u);
          EXPECT_LT(white, total / 2);  // mostly background
          if (reference.empty())
            reference = mask;
          else
            EXPECT_TRUE(mask == reference) << "text pixels differ from RGB's";
        }
      }
    }
  }
}

TEST(Overlay, PositionsPutTheBoxInItsCorner) {
  const int w = 641, h = 481;
  const int slack = 16;  // the margin plus even alignment, at this size's pixel scale
  const std::vector<std::string> lines = {"x"};
  const Rect tl = text_box(w, h, lines, OverlayPosition::TopLeft, 1.0);
  const Rect tr = text_box(w, h, lines, OverlayPosition::TopRight, 1.0);
  const Rect bl = text_box(w, h, lines, OverlayPosition::BottomLeft, 1.0);
  const Rect br = text_box(w, h, lines, OverlayPosition::BottomRight, 1.0);
  EXPECT_LE(tl.x, slack);
  EXPECT_LE(tl.y, slack);
  EXPECT_GE(tr.x + tr.w, w - slack);
  EXPECT_LE(tr.y, slack);
  EXPECT_LE(bl.x, slack);
  EXPECT_GE(bl.y + bl.h, h - slack);
  EXPECT_GE(br.x + br.w, w - slack);
  EXPECT_GE(br.y + br.h, h - slack);
  EXPECT_GT(tr.x, w / 2);
  EXPECT_GT(br.y, h / 2);
  EXPECT_GT(bl.y, h / 2);
  EXPECT_GT(br.x, w / 2);
  // Same box everywhere, give or take the rounding to even coordinates.
  for (const Rect r : {tl, tr, bl, br}) {
    EXPECT_LE(std::abs(r.w - tl.w), 2);
    EXPECT_LE(std::abs(r.h - tl.h), 2);
  }
}

// The documented size rule: pixel scale s = max(1, round(font_scale * (1 + height / 360))),
// glyphs 8s, 2s padding and a 2s margin: one character at s = 3 is a 12s x 12s box at (2s, 2s).
TEST(Overlay, ScaleRule) {
  const Rect r = text_box(100, 100, {"H"}, OverlayPosition::TopLeft, 3.0);
  EXPECT_EQ(r.x, 6);
  EXPECT_EQ(r.y, 6);
  EXPECT_EQ(r.w, 36);
  EXPECT_EQ(r.h, 36);
  // The base grows with the frame height: 1 below 360 lines, 4 at 1080.
  EXPECT_EQ(text_box(1920, 1080, {"H"}, OverlayPosition::TopLeft, 1.0).w, 48);
  EXPECT_EQ(text_box(320, 240, {"H"}, OverlayPosition::TopLeft, 1.0).w, 12);
  // Below 1 rounds up to 1; 0, negative and NaN scales too.
  for (double s : {0.1, 0.0, -2.0, std::nan("")})
    EXPECT_EQ(text_box(320, 240, {"H"}, OverlayPosition::TopLeft, s).w, 12) << s;
  // font_scale grows the box.
  Rect prev = text_box(1280, 720, kLines, OverlayPosition::TopLeft, 0.5);
  for (double s : {1.0, 1.5, 2.0, 3.0}) {
    const Rect cur = text_box(1280, 720, kLines, OverlayPosition::TopLeft, s);
    EXPECT_GT(cur.w, prev.w) << s;
    EXPECT_GT(cur.h, prev.h) << s;
    prev = cur;
  }
}

// The glyph drawn is the font's, scaled by whole pixels, at the padding inside the box.
TEST(Overlay, GlyphMatchesTheFont) {
  for (const char c : std::string("H?g~")) {
    TestFrame f(PixelFormat::GRAY8, 100, 100, 7);
    MutableFrame v = f.view();
    const Rect b = draw_text(v, {std::string(1, c)}, OverlayPosition::TopLeft, 3.0);
    ASSERT_EQ(b.w, 36);
    const auto& glyph = alexnet::gst::kFont8x8[static_cast<size_t>(c - 0x20)];
    for (int y = 0; y < b.h; y++) {
      for (int x = 0; x < b.w; x++) {
        const int gx = (x - 6) / 3, gy = (y - 6) / 3;  // 2s padding, s = 3
        const bool in_glyph = x >= 6 && y >= 6 && gx < 8 && gy < 8;
        const bool on = in_glyph && ((glyph[static_cast<size_t>(gy)] >> gx) & 1);
        ASSERT_EQ(f.at(0, b.y + y, b.x + x), on ? 255 : 0) << c << " at " << x << "," << y;
      }
    }
  }
}

TEST(Overlay, NonAsciiDrawnAsQuestionMark) {
  for (const auto fmt : {PixelFormat::RGB, PixelFormat::NV12}) {
    TestFrame a(fmt, 333, 251, 3), q(fmt, 333, 251, 3);
    MutableFrame va = a.view(), vq = q.view();
    // "é" in UTF-8 is two bytes, so two question marks; a tab and DEL too.
    draw_text(va, {"caf\xC3\xA9\t\x7F", "\x80\xFF"}, OverlayPosition::BottomRight, 1.0);
    draw_text(vq, {"caf????", "??"}, OverlayPosition::BottomRight, 1.0);
    for (int p = 0; p < a.nplanes; p++) EXPECT_TRUE(a.data[p] == q.data[p]) << "plane " << p;
  }
}

// Tiny frames: whatever fits is drawn, nothing else changes, nothing crashes.
TEST(Overlay, TinyFrames) {
  const Size sizes[] = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {3, 5}, {5, 3}, {7, 7}, {16, 9}, {9, 16}};
  uint32_t seed = 100;
  for (const Size sz : sizes) {
    for (const auto fmt : kFormats) {
      for (const auto pos : kPositions) {
        for (double scale : {1.0, 10.0}) {
          SCOPED_TRACE(testing::Message() << "format " << static_cast<int>(fmt) << " size " << sz.w
                                          << "x" << sz.h << " scale " << scale);
          TestFrame f(fmt, sz.w, sz.h, seed++);
          MutableFrame v = f.view();
          const Rect b = draw_text(v, kLines, pos, scale);
          const Rect e = text_box(sz.w, sz.h, kLines, pos, scale);
          EXPECT_TRUE(b.x == e.x && b.y == e.y && b.w == e.w && b.h == e.h);
          if (!b.empty()) {
            EXPECT_TRUE(b.x >= 0 && b.y >= 0 && b.x + b.w <= sz.w && b.y + b.h <= sz.h);
            std::vector<std::vector<bool>> mask;
            f.box_mask(b, mask);
          }
          f.check_box(b);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(Overlay, HugeScalesAndLongLinesClip) {
  for (double scale : {1e9, std::numeric_limits<double>::infinity(), 500.0}) {
    TestFrame f(PixelFormat::I420, 333, 251, 9);
    MutableFrame v = f.view();
    const std::vector<std::string> lines = {std::string(100000, 'W'), "x"};
    const Rect b = draw_text(v, lines, OverlayPosition::BottomRight, scale);
    ASSERT_FALSE(b.empty());
    EXPECT_TRUE(b.x >= 0 && b.y >= 0 && b.x + b.w <= 333 && b.y + b.h <= 251);
    f.check_box(b);
  }
}

TEST(Overlay, NothingToDraw) {
  TestFrame f(PixelFormat::RGBA, 64, 48, 11);
  MutableFrame v = f.view();
  EXPECT_TRUE(draw_text(v, {}, OverlayPosition::TopLeft, 1.0).empty());
  EXPECT_TRUE(text_box(64, 48, {}, OverlayPosition::TopLeft, 1.0).empty());
  f.check_box(Rect{});

  // Missing planes or a zero size: refused, not drawn.
  TestFrame n(PixelFormat::I420, 64, 48, 12);
  MutableFrame nv = n.view();
  nv.planes[2] = nullptr;
  EXPECT_TRUE(draw_text(nv, kLines, OverlayPosition::TopLeft, 1.0).empty());
  nv = n.view();
  nv.width = 0;
  EXPECT_TRUE(draw_text(nv, kLines, OverlayPosition::TopLeft, 1.0).empty());
  n.check_box(Rect{});
}

}  // namespace

// Every byte of every plane outside the box's bytes (stride padding included) is as before.
void expect_unchanged_outside(const TestFrame& t, const Rect& b) {
  for (int p = 0; p < t.nplanes; p++) {
    int c0 = 0, c1 = 0, r0 = 0, r1 = 0;
    t.box_bytes(b, p, c0, c1, r0, r1);
    for (int row = 0; row < t.rows[p]; row++)
      for (int col = 0; col < t.stride[p]; col++) {
        const bool inside = row >= r0 && row < r1 && col >= c0 && col < c1;
        const size_t i = static_cast<size_t>(row) * t.stride[p] + col;
        if (!inside)
          ASSERT_EQ(t.data[p][i], t.before[p][i])
              << "plane " << p << " row " << row << " byte " << col << " outside the box";
      }
  }
}

// draw_box: a white outline `thickness` wide inside the (clipped, for YUV even-aligned) box,
// neutral chroma under it, and nothing else changed, stride padding included; the interior
// keeps its pixels.
TEST(Overlay, BoxOutlineOnEveryFormat) {
  for (PixelFormat f : {PixelFormat::RGB, PixelFormat::BGRA, PixelFormat::xRGB, PixelFormat::GRAY8,
                        PixelFormat::I420, PixelFormat::NV12}) {
    for (const Rect& want : {Rect{5, 7, 21, 15}, Rect{-4, 30, 20, 50}, Rect{0, 0, 3, 3}}) {
      TestFrame t(f, 61, 41, 11);
      MutableFrame m = t.view();
      const Rect b = draw_box(m, want, 2);
      SCOPED_TRACE("format " + std::to_string(static_cast<int>(f)) + " box " +
                   std::to_string(want.x) + "," + std::to_string(want.y));
      ASSERT_FALSE(b.empty());
      EXPECT_LE(b.x + b.w, 61);
      EXPECT_LE(b.y + b.h, 41);
      if (is_yuv(f)) EXPECT_EQ(b.x % 2 + b.y % 2, 0);
      expect_unchanged_outside(t, b);
      const bool limited = is_yuv(f);
      const uint8_t white = limited ? 235 : 255;
      const int bpp = bytes_per_pixel(f), a = alpha_index(f);
      const int luma = a == 0 ? 1 : 0;
      EXPECT_EQ(t.at(0, b.y, b.x * bpp + luma), white) << "top-left corner";
      EXPECT_EQ(t.at(0, b.y + b.h - 1, (b.x + b.w - 1) * bpp + luma), white) << "bottom-right";
      if (b.w > 4 && b.h > 4) {
        const int cx = b.x + b.w / 2, cy = b.y + b.h / 2;
        for (int c = 0; c < bpp; c++)
          EXPECT_EQ(t.at(0, cy, cx * bpp + c),
                    t.before[0][static_cast<size_t>(cy) * t.stride[0] + cx * bpp + c])
              << "interior changed";
      }
    }
  }
  TestFrame t(PixelFormat::RGB, 10, 10, 3);
  MutableFrame m = t.view();
  EXPECT_TRUE(draw_box(m, Rect{20, 20, 5, 5}, 2).empty()) << "wholly outside";
  EXPECT_EQ(sub_frame(m, Rect{20, 20, 5, 5}).width, 0);
}

// sub_frame: draw_text in a sub-frame lands in that box's corner of the full frame.
TEST(Overlay, TextInASubFrameStaysInItsBox) {
  TestFrame t(PixelFormat::NV12, 200, 120, 5);
  MutableFrame m = t.view();
  const Rect box{51, 31, 100, 60};
  MutableFrame inside = sub_frame(m, box);
  ASSERT_EQ(inside.width, 102);  // even edges: x 50 .. 152 (was 51 .. 151)
  const Rect drawn = draw_text(inside, {"label 0.5"}, OverlayPosition::TopLeft, 1.0);
  ASSERT_FALSE(drawn.empty());
  t.check_box(Rect{50 + drawn.x, 30 + drawn.y, drawn.w, drawn.h});
}
