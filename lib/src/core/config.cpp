#include "alexnet/config.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "alexnet/error.h"
#include "core/json_strict.h"

namespace alexnet {

using nlohmann::json;
namespace js = json_strict;

NetConfig NetConfig::paper(int classes) {
  NetConfig c;
  c.variant = "paper";
  c.in_channels = 3;
  c.input_size = 227;
  //        out  k   s  pad groups lrn   pool
  c.conv = {{{96, 11, 4, 0, 1, true, true},
             {256, 5, 1, 2, 2, true, true},
             {384, 3, 1, 1, 1, false, false},  // conv3: cross-connected, reads both halves
             {384, 3, 1, 1, 2, false, false},
             {256, 3, 1, 1, 2, false, true}}};
  c.lrn = LrnConfig{true, 5, 1e-4, 0.75, 2.0, LrnAlpha::Paper};
  c.fc = {4096, 4096};
  c.classes = classes;
  return c;
}

NetConfig NetConfig::torchvision(int classes) {
  NetConfig c;
  c.variant = "torchvision";
  c.in_channels = 3;
  c.input_size = 224;
  c.conv = {{{64, 11, 4, 2, 1, false, true},
             {192, 5, 1, 2, 1, false, true},
             {384, 3, 1, 1, 1, false, false},
             {256, 3, 1, 1, 1, false, false},
             {256, 3, 1, 1, 1, false, true}}};
  c.lrn.enabled = false;
  c.adaptive_pool = 6;
  c.fc = {4096, 4096};
  c.classes = classes;
  c.dropout_before_fc = true;
  return c;
}

NetConfig NetConfig::small(int in_channels, int input_size, int classes) {
  NetConfig c = paper(classes);
  c.variant = "custom";
  c.in_channels = in_channels;
  c.input_size = input_size;
  // conv1 keeps full resolution for 28/32 inputs (stride 2 for 64), the rest as the paper.
  int stride1 = input_size >= 64 ? 2 : 1;
  c.conv = {{{32, 5, stride1, 2, 1, true, true},
             {64, 5, 1, 2, 2, true, true},
             {96, 3, 1, 1, 1, false, false},
             {96, 3, 1, 1, 2, false, false},
             {64, 3, 1, 1, 2, false, true}}};
  c.fc = {256, 256};
  return c;
}

NetConfig NetConfig::by_name(const std::string& name, int classes) {
  NetConfig c;
  if (name == "paper")
    c = paper(classes);
  else if (name == "torchvision")
    c = torchvision(classes);
  else if (name == "small-28")
    c = small(1, 28, classes);
  else if (name == "small-32")
    c = small(3, 32, classes);
  else if (name == "small-64")
    c = small(3, 64, classes);
  else
    throw Error("unknown config '" + name +
                "' (known: paper, torchvision, small-28, small-32, small-64)");
  c.validate();
  return c;
}

const char* layer_kind_name(LayerKind k) {
  static constexpr std::pair<LayerKind, const char*> kNames[] = {
      {LayerKind::Conv, "conv"},
      {LayerKind::Relu, "relu"},
      {LayerKind::Lrn, "lrn"},
      {LayerKind::MaxPool, "maxpool"},
      {LayerKind::AdaptiveAvgPool, "adaptive_avgpool"},
      {LayerKind::Linear, "linear"},
      {LayerKind::Dropout, "dropout"}};
  for (const auto& [kind, name] : kNames)
    if (kind == k) return name;
  return "?";
}

Shape LayerSpec::weight_shape() const {
  if (kind == LayerKind::Conv) return {out_channels, in_channels / groups, kernel, kernel};
  if (kind == LayerKind::Linear) return {out_channels, in_channels};
  return {};
}

Shape LayerSpec::bias_shape() const {
  if (has_params()) return {out_channels};
  return {};
}

Shape LayerSpec::output_shape(const Shape& in) const {
  auto fail = [&](const std::string& why) -> Shape {
    throw Error("layer " + name + ": input " + shape_str(in) + " " + why);
  };
  if (kind == LayerKind::Linear) {
    if (in.size() < 2) return fail("needs at least 2 dimensions");
    int64_t features = shape_numel(in) / std::max<int64_t>(in[0], 1);
    if (features != in_channels)
      return fail("has " + std::to_string(features) + " features, expected " +
                  std::to_string(in_channels));
    return {in[0], out_channels};
  }
  if (kind == LayerKind::Relu || kind == LayerKind::Dropout || kind == LayerKind::Lrn) {
    if (kind == LayerKind::Lrn && in.size() != 4) return fail("needs (N, C, H, W)");
    return in;
  }
  if (in.size() != 4) return fail("needs (N, C, H, W)");
  int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  if (kind == LayerKind::Conv) {
    if (c != in_channels)
      return fail("has " + std::to_string(c) + " channels, expected " +
                  std::to_string(in_channels));
    int64_t oh = (h + 2 * pad - kernel) / stride + 1, ow = (w + 2 * pad - kernel) / stride + 1;
    if (h + 2 * pad < kernel || w + 2 * pad < kernel) return fail("is smaller than the kernel");
    return {n, out_channels, oh, ow};
  }
  if (kind == LayerKind::MaxPool) {
    if (h < kernel || w < kernel) return fail("is smaller than the pooling window");
    return {n, c, (h - kernel) / stride + 1, (w - kernel) / stride + 1};
  }
  // AdaptiveAvgPool
  if (h < 1 || w < 1) return fail("is empty");
  return {n, c, out_size, out_size};
}

size_t embedding_layer(const std::vector<LayerSpec>& layers) {
  for (size_t i = layers.size(); i-- > 0;)
    if (layers[i].has_params()) return i;
  throw Error("the network has no layer with weights");
}

int embedding_width(const NetConfig& cfg) {
  const std::vector<LayerSpec> layers = build_layers(cfg);
  return layers[embedding_layer(layers)].in_channels;
}

double forward_macs(const NetConfig& cfg) {
  Shape shape{1, cfg.in_channels, cfg.input_size, cfg.input_size};
  double macs = 0;
  for (const LayerSpec& l : build_layers(cfg)) {
    const Shape out = l.output_shape(shape);
    if (l.kind == LayerKind::Conv)
      macs += static_cast<double>(out[1] * out[2] * out[3]) * (l.in_channels / l.groups) *
              l.kernel * l.kernel;
    else if (l.kind == LayerKind::Linear)
      macs += static_cast<double>(l.in_channels) * l.out_channels;
    shape = out;
  }
  return macs;
}

std::vector<LayerSpec> build_layers(const NetConfig& cfg) {
  std::vector<LayerSpec> layers;
  Shape shape{1, cfg.in_channels, cfg.input_size, cfg.input_size};
  auto add = [&](LayerSpec s) {
    shape = s.output_shape(shape);
    layers.push_back(std::move(s));
  };
  for (int i = 0; i < 5; ++i) {
    const ConvLayerConfig& cc = cfg.conv[static_cast<size_t>(i)];
    std::string idx = std::to_string(i + 1);
    LayerSpec conv;
    conv.kind = LayerKind::Conv;
    conv.name = "conv" + idx;
    conv.in_channels = static_cast<int>(shape[1]);
    conv.out_channels = cc.out_channels;
    conv.kernel = cc.kernel;
    conv.stride = cc.stride;
    conv.pad = cc.pad;
    conv.groups = cc.groups;
    conv.fused_relu = true;
    add(conv);
    if (cc.lrn && cfg.lrn.enabled) {
      LayerSpec lrn;
      lrn.kind = LayerKind::Lrn;
      lrn.name = "lrn" + idx;
      lrn.lrn_size = cfg.lrn.size;
      lrn.lrn_alpha = cfg.lrn.effective_alpha();
      lrn.lrn_beta = cfg.lrn.beta;
      lrn.lrn_k = cfg.lrn.k;
      add(lrn);
    }
    if (cc.pool) {
      LayerSpec pool;
      pool.kind = LayerKind::MaxPool;
      pool.name = "pool" + idx;
      pool.kernel = cfg.pool_kernel;
      pool.stride = cfg.pool_stride;
      add(pool);
    }
  }
  if (cfg.adaptive_pool > 0) {
    LayerSpec avg;
    avg.kind = LayerKind::AdaptiveAvgPool;
    avg.name = "avgpool";
    avg.out_size = cfg.adaptive_pool;
    add(avg);
  }
  auto dropout = [&](const char* name) {
    if (cfg.dropout <= 0) return;
    LayerSpec d;
    d.kind = LayerKind::Dropout;
    d.name = name;
    d.drop_p = cfg.dropout;
    add(d);
  };
  auto linear = [&](const char* name, int out, bool relu) {
    LayerSpec fc;
    fc.kind = LayerKind::Linear;
    fc.name = name;
    fc.in_channels = static_cast<int>(shape_numel(shape) / shape[0]);
    fc.out_channels = out;
    fc.fused_relu = relu;
    add(fc);
  };
  if (cfg.dropout_before_fc) {
    dropout("drop6");
    linear("fc6", cfg.fc[0], true);
    dropout("drop7");
    linear("fc7", cfg.fc[1], true);
  } else {
    linear("fc6", cfg.fc[0], true);
    dropout("drop6");
    linear("fc7", cfg.fc[1], true);
    dropout("drop7");
  }
  linear("fc8", cfg.classes, false);
  return layers;
}

std::vector<ParamInfo> param_infos(const NetConfig& cfg) {
  std::vector<ParamInfo> out;
  for (const LayerSpec& l : build_layers(cfg)) {
    if (!l.has_params()) continue;
    out.push_back({l.name + ".weight", l.weight_shape()});
    out.push_back({l.name + ".bias", l.bias_shape()});
  }
  return out;
}

void NetConfig::validate() const {
  auto bad = [&](const std::string& what) { throw Error("config: " + what); };
  if (variant != "paper" && variant != "torchvision" && variant != "custom")
    bad("variant must be paper, torchvision or custom, not '" + variant + "'");
  if (in_channels != 1 && in_channels != 3) bad("in_channels must be 1 or 3");
  if (input_size < 8 || input_size > 4096) bad("input_size must be in [8, 4096]");
  int prev = in_channels;
  for (size_t i = 0; i < conv.size(); ++i) {
    const ConvLayerConfig& c = conv[i];
    std::string n = "conv" + std::to_string(i + 1);
    if (c.out_channels < 1 || c.out_channels > 16384)
      bad(n + ".out_channels must be in [1, 16384]");
    if (c.kernel < 1 || c.kernel > 64) bad(n + ".kernel must be in [1, 64]");
    if (c.stride < 1 || c.stride > 64) bad(n + ".stride must be in [1, 64]");
    if (c.pad < 0 || c.pad >= c.kernel) bad(n + ".pad must be in [0, kernel)");
    if (c.groups < 1 || prev % c.groups || c.out_channels % c.groups)
      bad(n + ".groups must divide its input and output channels");
    prev = c.out_channels;
  }
  if (lrn.enabled) {
    if (lrn.size < 1 || lrn.size > 64 || lrn.size % 2 == 0) bad("lrn.size must be odd, in [1, 63]");
    if (!(lrn.alpha >= 0) || !(lrn.beta >= 0) || !(lrn.k > 0) || lrn.alpha > 1e3 ||
        lrn.beta > 1e3 || lrn.k > 1e6)
      bad("lrn alpha/beta must be >= 0 and k > 0");
  }
  if (pool_kernel < 1 || pool_kernel > 16 || pool_stride < 1 || pool_stride > 16)
    bad("pool kernel and stride must be in [1, 16]");
  if (adaptive_pool < 0 || adaptive_pool > 64) bad("adaptive_pool must be in [0, 64]");
  for (int f : fc)
    if (f < 1 || f > 65536) bad("fc widths must be in [1, 65536]");
  if (classes < 1 || classes > 1000000) bad("classes must be in [1, 1000000]");
  if (!(dropout >= 0 && dropout < 1)) bad("dropout must be in [0, 1)");
  try {
    int64_t total = 0;
    for (const ParamInfo& p : param_infos(*this)) total += shape_numel(p.shape);
    if (total > (int64_t{1} << 31)) bad("more than 2^31 parameters");
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind("config: ", 0) == 0) throw;
    bad(std::string("the input size does not fit the layers: ") + e.what());
  }
}

std::string NetConfig::to_json() const {
  json j;
  j["variant"] = variant;
  j["in_channels"] = in_channels;
  j["input_size"] = input_size;
  j["conv"] = json::array();
  for (const ConvLayerConfig& c : conv)
    j["conv"].push_back({{"out_channels", c.out_channels},
                         {"kernel", c.kernel},
                         {"stride", c.stride},
                         {"pad", c.pad},
                         {"groups", c.groups},
                         {"lrn", c.lrn},
                         {"pool", c.pool}});
  j["lrn"] = {
      {"enabled", lrn.enabled},
      {"size", lrn.size},
      {"alpha", lrn.alpha},
      {"beta", lrn.beta},
      {"k", lrn.k},
      {"alpha_convention", lrn.alpha_convention == LrnAlpha::Paper ? "paper" : "divided_by_n"}};
  j["pool"] = {{"kernel", pool_kernel}, {"stride", pool_stride}};
  j["adaptive_pool"] = adaptive_pool;
  j["fc"] = {fc[0], fc[1]};
  j["classes"] = classes;
  j["dropout"] = dropout;
  j["dropout_order"] = dropout_before_fc ? "before_fc" : "after_relu";
  return j.dump();
}

NetConfig NetConfig::from_json(const std::string& text, const std::string& origin) {
  json j = js::parse(text, origin);
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  NetConfig c;
  c.variant = js::get_string(j, "variant", origin);
  c.in_channels = js::get_int(j, "in_channels", origin);
  c.input_size = js::get_int(j, "input_size", origin);
  const json& convs = js::field(j, "conv", origin);
  if (!convs.is_array() || convs.size() != 5)
    throw Error(origin + ": field 'conv' must be an array of 5 layers");
  for (size_t i = 0; i < 5; ++i) {
    std::string o = origin + " conv[" + std::to_string(i) + "]";
    const json& cj = convs[i];
    ConvLayerConfig& cc = c.conv[i];
    cc.out_channels = js::get_int(cj, "out_channels", o);
    cc.kernel = js::get_int(cj, "kernel", o);
    cc.stride = js::get_int(cj, "stride", o);
    cc.pad = js::get_int(cj, "pad", o);
    cc.groups = js::get_int(cj, "groups", o);
    cc.lrn = js::get_bool(cj, "lrn", o);
    cc.pool = js::get_bool(cj, "pool", o);
  }
  const json& lj = js::field(j, "lrn", origin);
  std::string lo = origin + " lrn";
  c.lrn.enabled = js::get_bool(lj, "enabled", lo);
  c.lrn.size = js::get_int(lj, "size", lo);
  c.lrn.alpha = js::get_number(lj, "alpha", lo);
  c.lrn.beta = js::get_number(lj, "beta", lo);
  c.lrn.k = js::get_number(lj, "k", lo);
  std::string conv = js::get_string(lj, "alpha_convention", lo);
  if (conv == "paper")
    c.lrn.alpha_convention = LrnAlpha::Paper;
  else if (conv == "divided_by_n")
    c.lrn.alpha_convention = LrnAlpha::DividedByN;
  else
    throw Error(lo + ": alpha_convention must be \"paper\" or \"divided_by_n\", not \"" + conv +
                "\"");
  const json& pj = js::field(j, "pool", origin);
  c.pool_kernel = js::get_int(pj, "kernel", origin + " pool");
  c.pool_stride = js::get_int(pj, "stride", origin + " pool");
  c.adaptive_pool = js::get_int(j, "adaptive_pool", origin);
  const json& fj = js::field(j, "fc", origin);
  if (!fj.is_array() || fj.size() != 2 || !fj[0].is_number_integer() || !fj[1].is_number_integer())
    throw Error(origin + ": field 'fc' must be two integers (fc6, fc7 widths)");
  int64_t f0 = fj[0].get<int64_t>(), f1 = fj[1].get<int64_t>();
  if (f0 < 1 || f0 > 65536 || f1 < 1 || f1 > 65536)
    throw Error(origin + ": fc widths must be in [1, 65536]");
  c.fc = {static_cast<int>(f0), static_cast<int>(f1)};
  c.classes = js::get_int(j, "classes", origin);
  c.dropout = js::get_number(j, "dropout", origin);
  std::string order = js::get_string(j, "dropout_order", origin);
  if (order == "before_fc")
    c.dropout_before_fc = true;
  else if (order == "after_relu")
    c.dropout_before_fc = false;
  else
    throw Error(origin + ": dropout_order must be \"before_fc\" or \"after_relu\"");
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
  return c;
}

}  // namespace alexnet
