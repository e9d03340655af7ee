// Weights files: our metadata on top of the safetensors container (docs/weights-format.md),
// torchvision state_dicts, labels files and seeded random models.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <set>

#include "alexnet/error.h"
#include "alexnet/weights.h"
#include "core/json_strict.h"

namespace alexnet {

using nlohmann::json;

namespace {

constexpr const char* kKeyVersion = "alexnet.format_version";
constexpr const char* kKeyConfig = "alexnet.config";
constexpr const char* kKeyLabels = "alexnet.labels";
constexpr const char* kKeyPreprocess = "alexnet.preprocess";
constexpr const char* kKeyProvenance = "alexnet.provenance";
constexpr const char* kKeyCalibration = "alexnet.calibration";  // format 1.1
constexpr const char* kKeyCheckpoint = "alexnet.checkpoint";
constexpr uint64_t kMaxLabelsBytes = 64u << 20;

// torchvision's AlexNet module indices → our layer names.
constexpr std::pair<const char*, const char*> kTorchvisionLayers[] = {
    {"features.0", "conv1"}, {"features.3", "conv2"},  {"features.6", "conv3"},
    {"features.8", "conv4"}, {"features.10", "conv5"}, {"classifier.1", "fc6"},
    {"classifier.4", "fc7"}, {"classifier.6", "fc8"}};

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// "conv1.weight" → "features.0.weight" (names as the file spells them, for messages).
std::string torchvision_name(const std::string& ours) {
  for (const auto& [tv, our] : kTorchvisionLayers) {
    std::string p = std::string(our) + ".";
    if (starts_with(ours, p.c_str())) return tv + ours.substr(p.size() - 1);
  }
  return ours;
}

// Line number (1-based) of the first invalid UTF-8 byte, or 0 if the text is valid.
size_t utf8_bad_line(std::string_view s) {
  size_t at = json_strict::utf8_error_at(s);
  if (at == std::string_view::npos) return 0;
  return 1 + static_cast<size_t>(
                 std::count(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t") == std::string::npos;
}

std::vector<std::string> default_labels(int classes) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(classes));
  for (int i = 0; i < classes; ++i) out.push_back("class_" + std::to_string(i));
  return out;
}

// "1" or "1.x" → 1; a newer major is refused with the message users will search for.
void check_format_version(const std::string& v, const std::string& path) {
  size_t dot = v.find('.');
  std::string major = v.substr(0, dot);
  std::string minor = dot == std::string::npos ? "0" : v.substr(dot + 1);
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!digits(major) || !digits(minor))
    throw Error(path + ": " + kKeyVersion + " \"" + v +
                "\" is not a version (expected \"1\" or \"1.x\")");
  int m = std::stoi(major);
  if (m > kFormatVersionMajor)
    throw Error(path + ": written by a newer alexnet (format " + major +
                "); this build reads format " + std::to_string(kFormatVersionMajor));
  if (m < kFormatVersionMajor)
    throw Error(path + ": unknown " + kKeyVersion + " \"" + v + "\" (this build reads format 1)");
}

std::vector<std::string> parse_labels_json(const std::string& text, const std::string& origin) {
  json j = json_strict::parse(text, origin);
  if (!j.is_array()) throw Error(origin + ": must be a JSON array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string() || j[i].get<std::string>().empty())
      throw Error(origin + ": label " + std::to_string(i) + " must be a non-empty string");
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

std::string count_mismatch(const std::string& what, size_t labels, int classes) {
  return what + " has " + std::to_string(labels) + " labels but the model has " +
         std::to_string(classes) + " classes";
}

// Every expected tensor present with its shape, nothing else; all before reading any data.
void check_tensors(const SafetensorsHeader& h, const std::vector<ParamInfo>& expected,
                   bool torchvision, const std::string& path) {
  auto file_name = [&](const std::string& ours) {
    return torchvision ? torchvision_name(ours) : ours;
  };
  std::map<std::string, const SafetensorsEntry*> present;
  for (const SafetensorsEntry& e : h.entries) present[e.name] = &e;
  std::set<std::string> known;
  for (const ParamInfo& p : expected) known.insert(file_name(p.name));
  std::string unknown;
  for (const auto& [name, e] : present)
    if (!known.count(name)) unknown += (unknown.empty() ? "'" : ", '") + name + "'";
  if (!unknown.empty())
    throw Error(path + ": unknown tensors " + unknown + " (expected " +
                file_name(expected.front().name) + " … " + file_name(expected.back().name) +
                " only)");
  for (const ParamInfo& p : expected) {
    std::string name = file_name(p.name);
    auto it = present.find(name);
    if (it == present.end())
      throw Error(path + ": missing tensor '" + name + "' " + shape_str(p.shape));
    if (it->second->shape != p.shape)
      throw Error(path + ": tensor '" + name + "' has shape " + shape_str(it->second->shape) +
                  " but the config needs " + shape_str(p.shape));
  }
}

}  // namespace

const Tensor& Model::param(const std::string& name) const {
  for (const NamedTensor& p : params)
    if (p.name == name) return p.value;
  throw Error("model" + (source.empty() ? std::string() : " " + source) + " has no parameter '" +
              name + "'");
}

std::vector<std::string> load_labels(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open labels file: " + std::strerror(errno));
  std::string text;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  if (ok && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxLabelsBytes) {
    ::close(fd);
    throw Error(path + ": labels file is larger than " + std::to_string(kMaxLabelsBytes >> 20) +
                " MiB");
  }
  char buf[65536];
  while (ok) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw Error(path + ": cannot read labels file: " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxLabelsBytes) {
      ::close(fd);
      throw Error(path + ": labels file is larger than " + std::to_string(kMaxLabelsBytes >> 20) +
                  " MiB");
    }
  }
  ::close(fd);
  if (!ok) throw Error(path + ": cannot stat labels file");

  if (size_t line = utf8_bad_line(text))
    throw Error(path + ": line " + std::to_string(line) + " is not valid UTF-8");
  if (starts_with(text, "\xEF\xBB\xBF")) text.erase(0, 3);  // a BOM some editors add
  std::vector<std::string> lines;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  while (!lines.empty() && is_blank(lines.back())) lines.pop_back();
  if (lines.empty()) throw Error(path + ": labels file has no labels");
  for (size_t i = 0; i < lines.size(); ++i)
    if (is_blank(lines[i]))
      throw Error(path + ": line " + std::to_string(i + 1) + " is empty (one label per line)");
  return lines;
}

void check_calibration(const NetConfig& cfg, const std::vector<LayerRange>& ranges,
                       const std::string& where) {
  std::vector<std::string> names;
  for (const LayerSpec& l : build_layers(cfg))
    if (l.has_params()) names.push_back(l.name);
  if (ranges.size() != names.size())
    throw Error(where + ": " + std::to_string(ranges.size()) + " layer ranges, the network has " +
                std::to_string(names.size()) + " weighted layers");
  for (size_t i = 0; i < names.size(); ++i) {
    const LayerRange& r = ranges[i];
    const std::string at = where + ": layer " + std::to_string(i) + " ('" + r.layer + "')";
    if (r.layer != names[i]) throw Error(at + ": expected '" + names[i] + "'");
    if (!std::isfinite(r.in_min) || !std::isfinite(r.in_max) || !std::isfinite(r.out_max))
      throw Error(at + ": ranges must be finite");
    if (r.in_min > r.in_max) throw Error(at + ": in_min > in_max");
    if (std::max(std::fabs(r.in_min), std::fabs(r.in_max)) <= 0)
      throw Error(at + ": the input range is empty (all zero)");
    if (r.out_max < 0) throw Error(at + ": out_max < 0");
  }
}

// alexnet.calibration: [{"layer": "conv1", "in_min": -2.1, "in_max": 2.6, "out_max": 9.3}, …]
static std::vector<LayerRange> parse_calibration(const NetConfig& cfg, const std::string& text,
                                                 const std::string& where) {
  const json j = json_strict::parse(text, where);
  if (!j.is_array()) throw Error(where + ": must be a JSON array of layer ranges");
  std::vector<LayerRange> out;
  for (const json& e : j) {
    if (!e.is_object() || !e.contains("layer") || !e["layer"].is_string())
      throw Error(where + ": entry " + std::to_string(out.size()) +
                  " must be an object with a string 'layer'");
    LayerRange r;
    r.layer = e["layer"].get<std::string>();
    for (auto [key, field] : {std::pair{"in_min", &r.in_min}, std::pair{"in_max", &r.in_max},
                              std::pair{"out_max", &r.out_max}}) {
      if (!e.contains(key) || !e[key].is_number())
        throw Error(where + ": layer '" + r.layer + "' needs a number '" + key + "'");
      const double v = e[key].get<double>();
      if (!std::isfinite(v) || std::fabs(v) > 3.0e38)
        throw Error(where + ": layer '" + r.layer + "': " + key + " is not a finite float");
      *field = static_cast<float>(v);
    }
    if (e.size() != 4) throw Error(where + ": layer '" + r.layer + "' has unknown fields");
    out.push_back(r);
  }
  check_calibration(cfg, out, where);
  return out;
}

Model load_model(const std::string& path, const std::string& labels_path) {
  SafetensorsHeader h = read_safetensors_header(path);
  const auto& meta = h.metadata;

  bool checkpoint = meta.count(kKeyCheckpoint) > 0;
  for (const SafetensorsEntry& e : h.entries)
    checkpoint = checkpoint || starts_with(e.name, "optimizer.") || starts_with(e.name, "state.");
  if (checkpoint)
    throw Error(path +
                ": is a training checkpoint, not a weights file (resume it with "
                "alexnet-train, or load the weights the trainer exported)");

  Model m;
  m.source = path;
  bool torchvision = false;
  if (auto v = meta.find(kKeyVersion); v != meta.end()) {
    check_format_version(v->second, path);
    auto c = meta.find(kKeyConfig);
    if (c == meta.end()) throw Error(path + ": missing metadata '" + kKeyConfig + "'");
    m.config = NetConfig::from_json(c->second, path + ": " + kKeyConfig);
    auto p = meta.find(kKeyPreprocess);
    if (p == meta.end()) throw Error(path + ": missing metadata '" + kKeyPreprocess + "'");
    m.preprocess = PreprocessConfig::from_json(p->second, path + ": " + kKeyPreprocess);
    if (auto pr = meta.find(kKeyProvenance); pr != meta.end()) {
      if (!json_strict::parse(pr->second, path + ": " + kKeyProvenance).is_object())
        throw Error(path + ": " + kKeyProvenance + " must be a JSON object");
      m.provenance = pr->second;
    }
    if (auto cal = meta.find(kKeyCalibration); cal != meta.end())
      m.calibration = parse_calibration(m.config, cal->second, path + ": " + kKeyCalibration);
    if (auto l = meta.find(kKeyLabels); l != meta.end()) {
      m.labels = parse_labels_json(l->second, path + ": " + kKeyLabels);
      if (m.labels.size() != static_cast<size_t>(m.config.classes))
        throw Error(path + ": " + count_mismatch(kKeyLabels, m.labels.size(), m.config.classes));
    }
  } else {
    for (const SafetensorsEntry& e : h.entries)
      torchvision =
          torchvision || starts_with(e.name, "features.") || starts_with(e.name, "classifier.");
    if (!torchvision)
      throw Error(
          path + ": no '" + kKeyVersion +
          "' metadata and the tensors are not a torchvision "
          "AlexNet state_dict (features.N.* / classifier.N.*): not an alexnet weights file");
    // torchvision's layout is fixed except for the classes, read from the last layer.
    const SafetensorsEntry* fc8 = nullptr;
    for (const SafetensorsEntry& e : h.entries)
      if (e.name == "classifier.6.weight") fc8 = &e;
    if (!fc8) throw Error(path + ": torchvision state_dict without 'classifier.6.weight'");
    if (fc8->shape.size() != 2 || fc8->shape[0] < 1 || fc8->shape[0] > 1000000)
      throw Error(path + ": tensor 'classifier.6.weight' has shape " + shape_str(fc8->shape) +
                  "; expected (classes, 4096) with 1 to 1000000 classes");
    m.config = NetConfig::torchvision(static_cast<int>(fc8->shape[0]));
    m.preprocess = PreprocessConfig::imagenet();
    m.provenance = json{{"source", "torchvision state_dict"}}.dump();
  }

  if (!labels_path.empty()) {
    m.labels = load_labels(labels_path);
    if (m.labels.size() != static_cast<size_t>(m.config.classes))
      throw Error(labels_path + ": " +
                  count_mismatch("labels file", m.labels.size(), m.config.classes) + " (" + path +
                  ")");
  } else if (m.labels.empty()) {
    m.labels = default_labels(m.config.classes);
  }

  const std::vector<ParamInfo> expected = param_infos(m.config);
  check_tensors(h, expected, torchvision, path);
  std::map<std::string, Tensor> tensors = read_safetensors_tensors(path, h);
  for (const ParamInfo& p : expected) {
    auto it = tensors.find(torchvision ? torchvision_name(p.name) : p.name);
    m.params.push_back({p.name, std::move(it->second)});
  }
  return m;
}

void save_model(const Model& model, const std::string& path) {
  auto bad = [&](const std::string& what) { throw Error(path + ": cannot save: " + what); };
  try {
    model.config.validate();
    model.preprocess.validate();
  } catch (const Error& e) {
    bad(e.what());
  }
  if (model.labels.size() != static_cast<size_t>(model.config.classes))
    bad(count_mismatch("Model::labels", model.labels.size(), model.config.classes));
  for (size_t i = 0; i < model.labels.size(); ++i)
    if (model.labels[i].empty() || utf8_bad_line(model.labels[i]) != 0)
      bad("label " + std::to_string(i) + " must be a non-empty UTF-8 string");
  const std::vector<ParamInfo> expected = param_infos(model.config);
  if (model.params.size() != expected.size())
    bad("the model has " + std::to_string(model.params.size()) + " tensors, the config needs " +
        std::to_string(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    const NamedTensor& p = model.params[i];
    if (p.name != expected[i].name)
      bad("tensor " + std::to_string(i) + " is '" + p.name + "', expected '" + expected[i].name +
          "'");
    if (p.value.shape() != expected[i].shape)
      bad("tensor '" + p.name + "' has shape " + shape_str(p.value.shape()) +
          " but the config needs " + shape_str(expected[i].shape));
  }
  std::string provenance = model.provenance.empty() ? "{}" : model.provenance;
  if (!json_strict::parse(provenance, path + ": provenance").is_object())
    bad("provenance must be a JSON object");

  std::map<std::string, std::string> meta;
  meta[kKeyVersion] = std::to_string(kFormatVersionMajor);
  if (!model.calibration.empty()) {
    try {
      check_calibration(model.config, model.calibration, "calibration");
    } catch (const Error& e) {
      bad(e.what());
    }
    json cal = json::array();
    for (const LayerRange& r : model.calibration)
      cal.push_back(
          {{"layer", r.layer}, {"in_min", r.in_min}, {"in_max", r.in_max}, {"out_max", r.out_max}});
    meta[kKeyCalibration] = cal.dump();
    meta[kKeyVersion] = std::to_string(kFormatVersionMajor) + ".1";  // an optional key: 1.1
  }
  meta[kKeyConfig] = model.config.to_json();
  meta[kKeyLabels] = json(model.labels).dump();
  meta[kKeyPreprocess] = model.preprocess.to_json();
  meta[kKeyProvenance] = provenance;
  write_safetensors(path, model.params, meta);
}

void check_param_tensors(const NetConfig& cfg, const std::vector<NamedTensor>& tensors,
                         const std::string& who) {
  const std::vector<ParamInfo> infos = param_infos(cfg);
  if (tensors.size() != infos.size())
    throw Error(who + ": got " + std::to_string(tensors.size()) + " tensors, expected " +
                std::to_string(infos.size()));
  for (size_t i = 0; i < infos.size(); ++i) {
    if (tensors[i].name != infos[i].name)
      throw Error(who + ": tensor " + tensors[i].name + " where " + infos[i].name + " belongs");
    if (tensors[i].value.shape() != infos[i].shape)
      throw Error(who + ": " + infos[i].name + " has shape " + shape_str(tensors[i].value.shape()) +
                  ", expected " + shape_str(infos[i].shape));
  }
}

Model random_model(const NetConfig& cfg, uint64_t seed) {
  cfg.validate();
  Model m;
  m.config = cfg;
  m.preprocess = PreprocessConfig::imagenet();
  // Small inputs (28, 32, 64) are whole images: scale the shorter side to the input size.
  if (cfg.input_size < 224) m.preprocess.resize = cfg.input_size;
  m.labels = default_labels(cfg.classes);
  m.provenance = json{{"source", "random"}, {"seed", seed}}.dump();

  // mt19937_64 is specified bit for bit and Box-Muller is ours, so a seed gives the same
  // weights with every standard library (std::normal_distribution would not).
  std::mt19937_64 rng(seed);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };  // (0, 1)
  for (const ParamInfo& p : param_infos(cfg)) {
    Tensor t(p.shape);
    if (p.shape.size() > 1) {  // weights; biases stay zero
      int64_t fan_in = t.numel() / p.shape[0];
      double sd = std::sqrt(2.0 / static_cast<double>(fan_in));
      float* d = t.data();
      for (int64_t i = 0; i < t.numel(); i += 2) {
        double r = std::sqrt(-2.0 * std::log(uniform())), a = 2.0 * std::numbers::pi * uniform();
        d[i] = static_cast<float>(sd * r * std::cos(a));
        if (i + 1 < t.numel()) d[i + 1] = static_cast<float>(sd * r * std::sin(a));
      }
    }
    m.params.push_back({p.name, std::move(t)});
  }
  return m;
}

}  // namespace alexnet
