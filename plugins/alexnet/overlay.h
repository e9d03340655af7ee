// Text overlay drawn straight onto a video frame's planes: lines of text in white on a
// filled black box, readable on any background. Works on every format the element takes
// (packed RGB family, GRAY8, I420, NV12): the box is aligned to even coordinates and its
// chroma is neutral, so planar YUV gets no colour fringes, at any frame size or stride.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/preprocess.h"

namespace alexnet::gst {

// A writable view of one mapped frame (the same fields as alexnet::Frame).
struct MutableFrame {
  PixelFormat format = PixelFormat::RGB;
  int width = 0;
  int height = 0;
  std::array<uint8_t*, 3> planes{};
  std::array<int, 3> strides{};
  ColorRange range = ColorRange::Limited;  // YUV only: black/white levels
};

enum class OverlayPosition { TopLeft, TopRight, BottomLeft, BottomRight };

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0 || h <= 0; }
};

// The box that draw_text would fill (clipped to the frame; empty if no lines).
Rect text_box(int frame_width, int frame_height, const std::vector<std::string>& lines,
              OverlayPosition position, double font_scale);

// Draws the lines (ASCII; other bytes are drawn as '?') and returns the box it filled.
// Nothing outside the returned box changes.
Rect draw_text(MutableFrame& frame, const std::vector<std::string>& lines, OverlayPosition position,
               double font_scale);

// Draws a white outline `thickness` pixels wide just inside `box` (clipped to the frame; for
// I420/NV12 widened to even coordinates, with neutral chroma). Returns the clipped box.
Rect draw_box(MutableFrame& frame, Rect box, int thickness);

// `frame` restricted to `box` (clipped; for I420/NV12 its origin moved to even coordinates),
// so that draw_text can place text in the box's corners. Empty (width 0) if nothing is left.
MutableFrame sub_frame(const MutableFrame& frame, Rect box);

}  // namespace alexnet::gst
