// PreprocessConfig: its defaults, validation and JSON (the weights file's alexnet.preprocess).
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "alexnet/error.h"
#include "alexnet/preprocess.h"
#include "core/json_strict.h"

namespace alexnet {

using nlohmann::json;
namespace js = json_strict;

namespace {

constexpr int kMaxResize = 1 << 16;

// A float as the shortest decimal that reads back to the same float, so the JSON says
// 0.485 rather than the double 0.48500001430511475 (reading it back as float is exact).
double tidy(float v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  double d = 0;
  std::from_chars(buf, r.ptr, d);
  return d;
}

std::array<float, 3> read_triple(const json& j, const char* key, const std::string& origin,
                                 bool positive) {
  const json& v = js::field(j, key, origin);
  const char* what = positive ? "an array of 3 positive numbers" : "an array of 3 numbers";
  if (!v.is_array() || v.size() != 3) throw Error(origin + ": field '" + key + "' must be " + what);
  std::array<float, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!v[i].is_number()) throw Error(origin + ": field '" + key + "' must be " + what);
    double d = v[i].get<double>();
    // Out-of-float-range values would become inf; validate() then names the field.
    out[i] = std::fabs(d) > 3.0e38 ? INFINITY : static_cast<float>(d);
  }
  return out;
}

}  // namespace

PreprocessConfig PreprocessConfig::imagenet() {
  PreprocessConfig p;
  p.resize = 256;
  p.crop = Crop::Center;
  p.interpolation = Interpolation::Bilinear;
  p.scale = 1.0 / 255.0;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
  p.channel_order = ChannelOrder::RGB;
  return p;
}

void PreprocessConfig::validate() const {
  auto bad = [](const std::string& what) { throw Error("preprocess: " + what); };
  if (resize < 0 || resize > kMaxResize)
    bad("field 'resize' must be in [0, " + std::to_string(kMaxResize) + "] (0 = no resize)");
  if (crop != Crop::Center && crop != Crop::Stretch) bad("field 'crop' is not a known mode");
  if (interpolation != Interpolation::Bilinear && interpolation != Interpolation::Nearest &&
      interpolation != Interpolation::Area)
    bad("field 'interpolation' is not a known mode");
  if (!(std::isfinite(scale) && scale > 0)) bad("field 'scale' must be a finite number > 0");
  for (float m : mean)
    if (!std::isfinite(m)) bad("field 'mean' must hold finite numbers");
  for (float s : std)
    if (!(std::isfinite(s) && s > 0)) bad("field 'std' must hold finite numbers > 0");
  if (channel_order != ChannelOrder::RGB && channel_order != ChannelOrder::BGR)
    bad("field 'channel_order' is not a known order");
}

std::string PreprocessConfig::to_json() const {
  validate();
  json j;
  j["resize"] = resize;
  j["crop"] = crop == Crop::Center ? "center" : "stretch";
  j["interpolation"] = interpolation == Interpolation::Bilinear  ? "bilinear"
                       : interpolation == Interpolation::Nearest ? "nearest"
                                                                 : "area";
  j["scale"] = scale;
  j["mean"] = {tidy(mean[0]), tidy(mean[1]), tidy(mean[2])};
  j["std"] = {tidy(std[0]), tidy(std[1]), tidy(std[2])};
  j["channel_order"] = channel_order == ChannelOrder::RGB ? "rgb" : "bgr";
  return j.dump();
}

// Every field is required, so a misspelt one is reported as missing; fields we do not know
// are ignored, so a later 1.x writer may add some.
PreprocessConfig PreprocessConfig::from_json(const std::string& text, const std::string& origin) {
  json j = js::parse(text, origin);
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  PreprocessConfig p;
  p.resize = js::get_int(j, "resize", origin);
  if (p.resize < 0 || p.resize > kMaxResize)
    throw Error(origin + ": field 'resize' must be in [0, " + std::to_string(kMaxResize) +
                "] (0 = no resize), not " + std::to_string(p.resize));

  std::string crop = js::get_string(j, "crop", origin);
  if (crop == "center")
    p.crop = Crop::Center;
  else if (crop == "stretch")
    p.crop = Crop::Stretch;
  else
    throw Error(origin + ": field 'crop' must be \"center\" or \"stretch\", not \"" + crop + "\"");

  std::string interp = js::get_string(j, "interpolation", origin);
  if (interp == "bilinear")
    p.interpolation = Interpolation::Bilinear;
  else if (interp == "nearest")
    p.interpolation = Interpolation::Nearest;
  else if (interp == "area")
    p.interpolation = Interpolation::Area;
  else
    throw Error(origin +
                ": field 'interpolation' must be \"bilinear\", \"nearest\" or \"area\", not \"" +
                interp + "\"");

  p.scale = js::get_number(j, "scale", origin);
  if (!(std::isfinite(p.scale) && p.scale > 0))
    throw Error(origin + ": field 'scale' must be a number > 0");

  p.mean = read_triple(j, "mean", origin, false);
  for (float m : p.mean)
    if (!std::isfinite(m)) throw Error(origin + ": field 'mean' must hold finite numbers");
  p.std = read_triple(j, "std", origin, true);
  for (float s : p.std)
    if (!(std::isfinite(s) && s > 0))
      throw Error(origin + ": field 'std' must be an array of 3 positive numbers");

  std::string order = js::get_string(j, "channel_order", origin);
  if (order == "rgb")
    p.channel_order = ChannelOrder::RGB;
  else if (order == "bgr")
    p.channel_order = ChannelOrder::BGR;
  else
    throw Error(origin + ": field 'channel_order' must be \"rgb\" or \"bgr\", not \"" + order +
                "\"");
  return p;
}

}  // namespace alexnet
