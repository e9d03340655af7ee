// Frames and preprocessing: any supported pixel format → the model's normalised input.
//
// This is the one implementation the element, the CLI and the trainer's evaluation share,
// so the same image gives the same tensor everywhere. The steps, defined by the weights
// file's `alexnet.preprocess`:
//   1. geometry: resize so the shorter side is `resize` (0 = keep), then centre-crop to the
//      input size; or, with Crop::Stretch, resize the whole frame to the input size.
//      Both are done in one pass that samples the source only where the output needs it.
//   2. colour: YUV → RGB with the frame's matrix (BT.601/BT.709) and range (limited/full);
//      grey models take luma (Y, or BT.601 luma of RGB).
//   3. value = (pixel * scale - mean[c]) / std[c], channels in `channel_order`.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "alexnet/tensor.h"

namespace alexnet {

enum class PixelFormat { RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, GRAY8, I420, NV12 };
const char* pixel_format_name(PixelFormat f);
// "RGB", "BGRx", "I420" … (GStreamer's names); throws alexnet::Error for unknown names.
PixelFormat pixel_format_from_name(const std::string& name);

enum class ColorMatrix { BT601, BT709 };
enum class ColorRange { Limited, Full };

// A rectangle of a frame in pixels: top-left corner (x, y), size width x height.
struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  bool operator==(const Rect&) const = default;
};

// A borrowed view of one video frame. Packed formats use plane 0; I420 uses Y, U, V planes;
// NV12 uses Y and interleaved UV. Strides are in bytes and may exceed the row width.
struct Frame {
  PixelFormat format = PixelFormat::RGB;
  int width = 0;
  int height = 0;
  std::array<const uint8_t*, 3> planes{};
  std::array<int, 3> strides{};
  ColorMatrix matrix = ColorMatrix::BT601;
  ColorRange range = ColorRange::Limited;  // YUV only; RGB and GRAY8 are full range
  // The part of the frame to use (an object's box), or Rect{} for the whole frame. It must lie
  // inside the frame; preprocessing then treats it as the frame (resize, crop, colour), without
  // copying. For I420/NV12 its left and top edges move to even coordinates, so that luma and
  // chroma samples pair as in the full frame (at most one pixel more on those sides).
  Rect roi;
};

// frame.roi as a frame of its own: the same planes, offset to the region, its size, roi = Rect{}
// (no pixels are copied). The frame itself when roi is Rect{}. Throws alexnet::Error naming the
// region and the frame when the region is empty or not inside the frame, or a plane it moves is
// null or its stride is shorter than a row.
Frame crop_view(const Frame& frame);

// Fills planes/strides for a tightly packed buffer of `format` (width × height) at `data`.
// Chroma planes of I420/NV12 are ceil(w/2) × ceil(h/2). Returns the buffer size in bytes.
size_t frame_buffer_size(PixelFormat format, int width, int height);
Frame make_packed_frame(PixelFormat format, int width, int height, const uint8_t* data);

enum class Crop { Center, Stretch };
enum class Interpolation { Bilinear, Nearest, Area };
enum class ChannelOrder { RGB, BGR };

struct PreprocessConfig {
  int resize = 256;  // shorter side before the centre crop; 0 = no resize
  Crop crop = Crop::Center;
  Interpolation interpolation = Interpolation::Bilinear;
  double scale = 1.0 / 255.0;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // per model channel (index 0 for grey)
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  ChannelOrder channel_order = ChannelOrder::RGB;

  static PreprocessConfig imagenet();  // torchvision's: 256, centre 224, bilinear, RGB
  void validate() const;               // throws alexnet::Error naming the field
  std::string to_json() const;
  static PreprocessConfig from_json(const std::string& json, const std::string& origin);
  bool operator==(const PreprocessConfig&) const = default;
};

// Writes the (channels, size, size) input for one frame (its roi, if set) into `out`
// (channels*size*size floats). `channels` is 3 or 1. Throws alexnet::Error on an invalid frame
// (null planes, non-positive size, strides too small).
void preprocess(const Frame& frame, const PreprocessConfig& cfg, int channels, int size,
                float* out);

// preprocess() for a batch: (N, channels, size, size), frame i in row i.
Tensor preprocess_batch(std::span<const Frame> frames, const PreprocessConfig& cfg, int channels,
                        int size);

}  // namespace alexnet
