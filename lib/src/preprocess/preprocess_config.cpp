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

// The JSON spelling of each mode, in the order the error messages list them.
template <class E>
struct Named {
  E value;
  const char* name;
};
constexpr Named<Crop> kCrops[] = {{Crop::Center, "center"}, {Crop::Stretch, "stretch"}};
constexpr Named<Interpolation> kInterpolations[] = {{Interpolation::Bilinear, "bilinear"},
                                                    {Interpolation::Nearest, "nearest"},
                                                    {Interpolation::Area, "area"}};
constexpr Named<ChannelOrder> kChannelOrders[] = {{ChannelOrder::RGB, "rgb"},
                                                  {ChannelOrder::BGR, "bgr"}};

// The name of v (validate() has made sure there is one).
template <class E, size_t N>
const char* name_of(const Named<E> (&table)[N], E v) {
  for (const Named<E>& n : table)
    if (n.value == v) return n.name;
  return "?";
}

// The mode named by the string field `key`; any other name is an error listing the known ones:
// field 'crop' must be "center" or "stretch", not "x".
template <class E, size_t N>
E read_choice(const json& j, const char* key, const std::string& origin,
              const Named<E> (&table)[N]) {
  const std::string s = js::get_string(j, key, origin);
  for (const Named<E>& n : table)
    if (s == n.name) return n.value;
  std::string known;
  for (size_t i = 0; i < N; ++i)
    known += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + "\"" + table[i].name + "\"";
  throw Error(origin + ": field '" + key + "' must be " + known + ", not \"" + s + "\"");
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
  j["crop"] = name_of(kCrops, crop);
  j["interpolation"] = name_of(kInterpolations, interpolation);
  j["scale"] = scale;
  j["mean"] = {tidy(mean[0]), tidy(mean[1]), tidy(mean[2])};
  j["std"] = {tidy(std[0]), tidy(std[1]), tidy(std[2])};
  j["channel_order"] = name_of(kChannelOrders, channel_order);
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

  p.crop = read_choice(j, "crop", origin, kCrops);
  p.interpolation = read_choice(j, "interpolation", origin, kInterpolations);

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

  p.channel_order = read_choice(j, "channel_order", origin, kChannelOrders);
  return p;
}

}  // namespace alexnet
