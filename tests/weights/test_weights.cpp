// Weights files: round trips, F16/BF16, torchvision state_dicts, labels, our metadata's
// malformed cases, checkpoints refused, and the atomic save.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include "helpers.h"

namespace {

using namespace wtest;
using alexnet::load_model;
using alexnet::Model;
using alexnet::NetConfig;
using alexnet::PreprocessConfig;

class Weights : public TempDirTest {
 protected:
  std::string file() { return path("m.safetensors"); }
  // A tiny model's parts (metadata and F32 tensors) ready to tamper with.
  ModelParts parts(int classes = 10) {
    return model_parts(alexnet::random_model(tiny_config(classes), 7), path("scratch.safetensors"));
  }
};

void expect_same_tensors(const Model& a, const Model& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    const auto& x = a.params[i];
    const auto& y = b.params[i];
    EXPECT_EQ(x.name, y.name);
    ASSERT_EQ(x.value.shape(), y.value.shape()) << x.name;
    EXPECT_EQ(std::memcmp(x.value.data(), y.value.data(), static_cast<size_t>(x.value.numel()) * 4),
              0)
        << x.name;
  }
}

TEST_F(Weights, RoundTripIsExact) {
  Model m = alexnet::random_model(NetConfig::small(1, 28, 10), 42);
  for (int i = 0; i < 10; ++i)
    m.labels[static_cast<size_t>(i)] = "lab\xc3\xa9l " + std::to_string(i);
  m.provenance = R"({"trainer":"test","epochs":3,"accuracy":0.91})";
  m.preprocess.resize = 0;
  m.preprocess.crop = alexnet::Crop::Stretch;
  m.preprocess.interpolation = alexnet::Interpolation::Area;
  m.preprocess.mean = {0.2860f, 0.0f, 0.0f};
  m.preprocess.std = {0.3530f, 1.0f, 1.0f};
  m.preprocess.channel_order = alexnet::ChannelOrder::BGR;
  alexnet::save_model(m, file());
  Model r = load_model(file());
  EXPECT_EQ(r.config, m.config);
  EXPECT_EQ(r.preprocess, m.preprocess);
  EXPECT_EQ(r.labels, m.labels);
  EXPECT_EQ(r.provenance, m.provenance);
  EXPECT_EQ(r.source, file());
  expect_same_tensors(m, r);
  EXPECT_EQ(r.param("fc8.bias").shape(), (alexnet::Shape{10}));
  EXPECT_EQ(files(), std::vector<std::string>{"m.safetensors"});  // no temp file left
}

TEST_F(Weights, RandomModelIsSeededAndScaled) {
  NetConfig c = NetConfig::small(1, 28, 10);
  Model a = alexnet::random_model(c, 1), b = alexnet::random_model(c, 1),
        d = alexnet::random_model(c, 2);
  expect_same_tensors(a, b);
  EXPECT_NE(a.param("conv1.weight").data()[0], d.param("conv1.weight").data()[0]);
  EXPECT_EQ(a.labels.front(), "class_0");
  EXPECT_EQ(a.labels.back(), "class_9");
  EXPECT_EQ(a.provenance, R"({"seed":1,"source":"random"})");
  const alexnet::Tensor& fc6 = a.param("fc6.weight");  // (256, 256): variance 2/256
  double sum2 = 0;
  for (int64_t i = 0; i < fc6.numel(); ++i) sum2 += double(fc6.data()[i]) * fc6.data()[i];
  EXPECT_NEAR(sum2 / double(fc6.numel()), 2.0 / 256, 0.05 * 2.0 / 256);
  const alexnet::Tensor& bias = a.param("fc6.bias");
  for (int64_t i = 0; i < bias.numel(); ++i) EXPECT_EQ(bias.data()[i], 0.0f);
  EXPECT_ERROR(a.param("fc9.weight"), "has no parameter 'fc9.weight'");
}

// Values that F16 and BF16 hold exactly, so conversion can be checked bit for bit.
Model quantised_model() {
  Model m = alexnet::random_model(tiny_config(), 3);
  for (auto& p : m.params)
    for (int64_t i = 0; i < p.value.numel(); ++i) p.value.data()[i] = float(i % 17 - 8) * 0.125f;
  return m;
}

void load_half_file(const std::string& file, const std::string& scratch, const char* dtype) {
  Model m = quantised_model();
  ModelParts p = model_parts(m, scratch);
  for (RawTensor& t : p.tensors) {
    std::string half;
    for (size_t i = 0; i < t.bytes.size(); i += 4) {
      uint32_t bits;
      std::memcpy(&bits, t.bytes.data() + i, 4);
      uint16_t h;
      if (std::string(dtype) == "BF16") {
        h = uint16_t(bits >> 16);
      } else {  // normal numbers and zero only, which quantised_model() guarantees
        uint32_t exp = (bits >> 23) & 0xFF;
        h = uint16_t(((bits >> 16) & 0x8000) |
                     (exp ? ((exp - 112) << 10) | ((bits >> 13) & 0x3FF) : 0));
      }
      half.append(reinterpret_cast<const char*>(&h), 2);
    }
    t.bytes = half;
    t.dtype = dtype;
  }
  write_tensors(file, p.tensors, p.meta);
  Model r = load_model(file);
  expect_same_tensors(m, r);
}

TEST_F(Weights, F16FileLoads) {
  load_half_file(file(), path("s"), "F16");
}
TEST_F(Weights, BF16FileLoads) {
  load_half_file(file(), path("s"), "BF16");
}

// torchvision.models.alexnet().state_dict() as safetensors.save_file writes it: the data
// section is sparse (zeros) apart from one marked value per tensor, so it costs no disk.
void write_torchvision(const std::string& file, int classes) {
  std::vector<RawTensor> ts;
  std::vector<uint64_t> begins;
  uint64_t off = 0;
  const char* tv[] = {"features.0",  "features.3",   "features.6",   "features.8",
                      "features.10", "classifier.1", "classifier.4", "classifier.6"};
  auto infos = alexnet::param_infos(NetConfig::torchvision(classes));
  for (size_t i = 0; i < infos.size(); ++i) {
    uint64_t bytes = uint64_t(alexnet::shape_numel(infos[i].shape)) * 4;
    std::string name = std::string(tv[i / 2]) + (i % 2 ? ".bias" : ".weight");
    ts.push_back({name, "F32", shape_json(infos[i].shape), "", {{off, off + bytes}}});
    begins.push_back(off);
    off += bytes;
  }
  std::string header = header_for(ts, {{"format", "pt"}});
  write_raw(file, header, "");
  int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  uint64_t data = 8 + header.size();
  ASSERT_EQ(::ftruncate(fd, off_t(data + off)), 0);
  for (size_t i = 0; i < begins.size(); ++i) {
    float v = float(i + 1);
    ASSERT_EQ(::pwrite(fd, &v, 4, off_t(data + begins[i])), 4);
  }
  ::close(fd);
}

TEST_F(Weights, TorchvisionStateDictLoadsAndMaps) {
  write_torchvision(file(), 5);
  Model m = load_model(file());
  EXPECT_EQ(m.config, NetConfig::torchvision(5));
  EXPECT_EQ(m.preprocess, PreprocessConfig::imagenet());
  EXPECT_EQ(m.labels,
            (std::vector<std::string>{"class_0", "class_1", "class_2", "class_3", "class_4"}));
  auto infos = alexnet::param_infos(m.config);
  ASSERT_EQ(m.params.size(), infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    EXPECT_EQ(m.params[i].name, infos[i].name);
    EXPECT_EQ(m.params[i].value.shape(), infos[i].shape);
    EXPECT_EQ(m.params[i].value.data()[0], float(i + 1)) << infos[i].name;
  }
  EXPECT_EQ(m.param("fc8.weight").shape(), (alexnet::Shape{5, 4096}));
}

TEST_F(Weights, TorchvisionWithLabelsFile) {
  write_torchvision(file(), 3);
  write_bytes(path("labels.txt"), "cat\r\ndog\r\nbird\r\n\r\n");
  Model m = load_model(file(), path("labels.txt"));
  EXPECT_EQ(m.labels, (std::vector<std::string>{"cat", "dog", "bird"}));
}

TEST_F(Weights, TorchvisionMissingTensor) {
  write_tensors(file(),
                {{"classifier.6.weight", "F32", {3, 4096}, std::string(3 * 4096 * 4, '\0'), {}}});
  EXPECT_ERROR(load_model(file()), "missing tensor 'features.0.weight' (64, 3, 11, 11)");
}

TEST_F(Weights, TorchvisionBadClassifierShape) {
  write_tensors(file(), {{"classifier.6.weight", "F32", {3}, std::string(12, '\0'), {}}});
  EXPECT_ERROR(load_model(file()),
               "tensor 'classifier.6.weight' has shape (3); expected (classes, 4096)");
}

TEST_F(Weights, LabelsFileOverridesFileLabels) {
  alexnet::save_model(alexnet::random_model(tiny_config(3), 1), file());
  write_bytes(path("labels.txt"), "\xEF\xBB\xBFzero\none\ntwo\n\n  \n");
  Model m = load_model(file(), path("labels.txt"));
  EXPECT_EQ(m.labels, (std::vector<std::string>{"zero", "one", "two"}));
}

TEST_F(Weights, NoLabelsAnywhereGivesClassNames) {
  ModelParts p = parts(3);
  p.meta.erase("alexnet.labels");
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_EQ(load_model(file()).labels, (std::vector<std::string>{"class_0", "class_1", "class_2"}));
}

TEST_F(Weights, LabelsFileMissing) {
  alexnet::save_model(alexnet::random_model(tiny_config(3), 1), file());
  EXPECT_ERROR(load_model(file(), path("none.txt")), "none.txt: cannot open labels file");
}

TEST_F(Weights, LabelsFileEmptyLine) {
  write_bytes(path("l.txt"), "a\n\nc\n");
  EXPECT_ERROR(alexnet::load_labels(path("l.txt")), "l.txt: line 2 is empty");
}

TEST_F(Weights, LabelsFileEmpty) {
  write_bytes(path("l.txt"), "\n\n");
  EXPECT_ERROR(alexnet::load_labels(path("l.txt")), "l.txt: labels file has no labels");
}

TEST_F(Weights, LabelsFileInvalidUtf8) {
  write_bytes(path("l.txt"), "a\nb\xff\n");
  EXPECT_ERROR(alexnet::load_labels(path("l.txt")), "l.txt: line 2 is not valid UTF-8");
}

TEST_F(Weights, LabelsFileCountMismatch) {
  alexnet::save_model(alexnet::random_model(tiny_config(3), 1), file());
  write_bytes(path("l.txt"), "a\nb\n");
  EXPECT_ERROR(load_model(file(), path("l.txt")),
               "l.txt: labels file has 2 labels but the model has 3 classes");
}

TEST_F(Weights, MetadataLabelCountMismatch) {
  ModelParts p = parts(3);
  p.meta["alexnet.labels"] = R"(["a","b"])";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.labels has 2 labels but the model has 3 classes");
}

TEST_F(Weights, MetadataLabelsNotStrings) {
  ModelParts p = parts(3);
  p.meta["alexnet.labels"] = R"(["a",2,"c"])";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.labels: label 1 must be a non-empty string");
}

TEST_F(Weights, MissingTensor) {
  ModelParts p = parts();
  p.tensors.pop_back();
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "missing tensor 'fc8.bias' (10)");
}

TEST_F(Weights, UnknownTensor) {
  ModelParts p = parts();
  p.tensors.push_back({"fc9.weight", "F32", {2}, f32_bytes({1, 2}), {}});
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "unknown tensors 'fc9.weight'");
}

TEST_F(Weights, WrongShape) {
  ModelParts p = parts();
  find(p, "conv1.weight")->shape = {4, 1, 25};  // same bytes, other shape
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()),
               "tensor 'conv1.weight' has shape (4, 1, 25) but the config needs (4, 1, 5, 5)");
}

TEST_F(Weights, NaNValue) {
  ModelParts p = parts();
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(find(p, "fc7.weight")->bytes.data() + 12, &nan, 4);
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "tensor 'fc7.weight': element 3 is NaN");
}

TEST_F(Weights, InfValue) {
  ModelParts p = parts();
  float inf = std::numeric_limits<float>::infinity();
  std::memcpy(find(p, "conv2.bias")->bytes.data(), &inf, 4);
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "tensor 'conv2.bias': element 0 is +Inf");
}

TEST_F(Weights, FormatVersion2Refused) {
  ModelParts p = parts();
  p.meta["alexnet.format_version"] = "2";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()),
               "written by a newer alexnet (format 2); this build reads format 1");
}

TEST_F(Weights, FormatVersion1MinorAccepted) {
  ModelParts p = parts();
  p.meta["alexnet.format_version"] = "1.7";
  p.meta["alexnet.some_future_key"] = "ignored";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_EQ(load_model(file()).config, tiny_config());
}

TEST_F(Weights, FormatVersionGarbage) {
  ModelParts p = parts();
  p.meta["alexnet.format_version"] = "one";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.format_version \"one\" is not a version");
}

TEST_F(Weights, MissingFormatVersionWithOurNames) {
  ModelParts p = parts();
  p.meta.erase("alexnet.format_version");
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "no 'alexnet.format_version' metadata",
               "not an alexnet weights file");
}

TEST_F(Weights, MissingConfig) {
  ModelParts p = parts();
  p.meta.erase("alexnet.config");
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "missing metadata 'alexnet.config'");
}

TEST_F(Weights, BadConfigJson) {
  ModelParts p = parts();
  p.meta["alexnet.config"] = "{\"variant\": ";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.config: malformed JSON");
}

TEST_F(Weights, ConfigFieldWrongType) {
  ModelParts p = parts();
  auto j = nlohmann::json::parse(p.meta["alexnet.config"]);
  j["classes"] = "ten";
  p.meta["alexnet.config"] = j.dump();
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.config: field 'classes' must be an integer");
}

TEST_F(Weights, MissingPreprocess) {
  ModelParts p = parts();
  p.meta.erase("alexnet.preprocess");
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "missing metadata 'alexnet.preprocess'");
}

TEST_F(Weights, BadPreprocess) {
  ModelParts p = parts();
  auto j = nlohmann::json::parse(p.meta["alexnet.preprocess"]);
  j["std"] = {0.2, 0.0, 0.2};
  p.meta["alexnet.preprocess"] = j.dump();
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.preprocess: field 'std'");
}

TEST_F(Weights, BadProvenance) {
  ModelParts p = parts();
  p.meta["alexnet.provenance"] = "{not json";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "alexnet.provenance: malformed JSON");
}

TEST_F(Weights, CheckpointMetadataRefused) {
  ModelParts p = parts();
  p.meta["alexnet.checkpoint"] = "1";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "is a training checkpoint, not a weights file");
}

TEST_F(Weights, CheckpointTensorsRefused) {
  ModelParts p = parts();
  p.tensors.push_back({"optimizer.conv1.weight.momentum", "F32", {2}, f32_bytes({0, 0}), {}});
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "is a training checkpoint, not a weights file");
}

TEST_F(Weights, SaveRefusesInconsistentModel) {
  Model m = alexnet::random_model(tiny_config(3), 1);
  m.labels.pop_back();
  EXPECT_ERROR(alexnet::save_model(m, file()),
               "cannot save: Model::labels has 2 labels but the model has 3 classes");
  m = alexnet::random_model(tiny_config(3), 1);
  m.params[0].value = alexnet::Tensor({4, 1, 5, 4});
  EXPECT_ERROR(alexnet::save_model(m, file()), "tensor 'conv1.weight' has shape (4, 1, 5, 4)");
  m = alexnet::random_model(tiny_config(3), 1);
  m.provenance = "[1]";
  EXPECT_ERROR(alexnet::save_model(m, file()), "provenance must be a JSON object");
  EXPECT_TRUE(files().empty());
}

// Saving over a file in a folder we cannot write fails, leaving the old file as it was. Root
// ignores folder permissions, so as root the check runs in a child that became "nobody".
TEST_F(Weights, SaveToReadOnlyFolderKeepsOldFile) {
  auto check = [&]() -> std::string {  // "" = as expected, else what went wrong
    try {
      alexnet::save_model(alexnet::random_model(tiny_config(), 1), file());
      std::string before = read_bytes(file());
      if (::chmod(dir_.c_str(), 0555) != 0) return "chmod failed";
      try {
        alexnet::save_model(alexnet::random_model(tiny_config(), 2), file());
        return "save into a read-only folder succeeded";
      } catch (const alexnet::Error& e) {
        std::string what = e.what();
        if (what.find(file() + ": cannot create a temp file") == std::string::npos)
          return "unexpected message: " + what;
      }
      ::chmod(dir_.c_str(), 0700);
      if (read_bytes(file()) != before) return "the old file changed";
      if (files() != std::vector<std::string>{"m.safetensors"}) return "a temp file was left";
      return "";
    } catch (const std::exception& e) {
      return std::string("unexpected exception: ") + e.what();
    }
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), "");
    return;
  }
  const uid_t nobody = 65534;
  ASSERT_EQ(::chown(dir_.c_str(), nobody, nobody), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(nobody) != 0 || ::setuid(nobody) != 0) ::_exit(2);
    std::string err = check();
    if (!err.empty()) std::fprintf(stderr, "child: %s\n", err.c_str());
    ::_exit(err.empty() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot switch to uid 65534";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's message above";
}

TEST_F(Weights, SaveOverAFolderFailsCleanly) {
  fs::create_directory(path("m.safetensors"));
  write_bytes(path("m.safetensors/keep"), "x");
  EXPECT_ERROR(alexnet::save_model(alexnet::random_model(tiny_config(), 1), file()), file(),
               "cannot rename");
  EXPECT_EQ(files(), std::vector<std::string>{"m.safetensors"});  // the temp file is gone
  EXPECT_EQ(read_bytes(path("m.safetensors/keep")), "x");
}

// A write that fails half way (here: the file size limit, which binds root too) leaves the
// previous file intact and no temp file behind.
TEST_F(Weights, SaveFailingMidwayKeepsOldFile) {
  alexnet::save_model(alexnet::random_model(tiny_config(), 1), file());
  std::string before = read_bytes(file());
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 4096;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  try {
    alexnet::save_model(alexnet::random_model(tiny_config(), 2), file());
    ADD_FAILURE() << "save succeeded past the file size limit";
  } catch (const alexnet::Error& e) {
    EXPECT_NE(std::string(e.what()).find(file() + ": save failed"), std::string::npos) << e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(read_bytes(file()), before);
  EXPECT_EQ(files(), std::vector<std::string>{"m.safetensors"});
}

TEST(PreprocessJson, RoundTripAndDefaults) {
  PreprocessConfig p = PreprocessConfig::imagenet();
  EXPECT_EQ(p.resize, 256);
  EXPECT_EQ(p.to_json(), R"({"channel_order":"rgb","crop":"center","interpolation":"bilinear",)"
                         R"("mean":[0.485,0.456,0.406],"resize":256,"scale":0.00392156862745098,)"
                         R"("std":[0.229,0.224,0.225]})");
  EXPECT_EQ(PreprocessConfig::from_json(p.to_json(), "t"), p);
  p.interpolation = alexnet::Interpolation::Nearest;
  p.mean = {0.1f, 0.2f, 0.3f};
  EXPECT_EQ(PreprocessConfig::from_json(p.to_json(), "t"), p);
}

TEST(PreprocessJson, ErrorsNameTheField) {
  std::string good = PreprocessConfig::imagenet().to_json();
  auto with = [&](const char* key, nlohmann::json v) {
    auto j = nlohmann::json::parse(good);
    if (v.is_null())
      j.erase(key);
    else
      j[key] = v;
    return j.dump();
  };
  EXPECT_ERROR(PreprocessConfig::from_json(with("resize", -1), "o"), "o: field 'resize'");
  EXPECT_ERROR(PreprocessConfig::from_json(with("crop", "zoom"), "o"), "field 'crop'", "zoom");
  EXPECT_ERROR(PreprocessConfig::from_json(with("interpolation", "cubic"), "o"),
               "field 'interpolation'");
  EXPECT_ERROR(PreprocessConfig::from_json(with("scale", 0), "o"), "field 'scale'");
  EXPECT_ERROR(PreprocessConfig::from_json(with("mean", {1, 2}), "o"), "field 'mean'");
  EXPECT_ERROR(PreprocessConfig::from_json(with("std", {1, -1, 1}), "o"), "field 'std'");
  EXPECT_ERROR(PreprocessConfig::from_json(with("channel_order", "gbr"), "o"),
               "field 'channel_order'");
  EXPECT_ERROR(PreprocessConfig::from_json(with("scale", nullptr), "o"), "missing field 'scale'");
  EXPECT_ERROR(PreprocessConfig::from_json("[]", "o"), "o: expected a JSON object");
  PreprocessConfig bad;
  bad.std[1] = 0;
  EXPECT_ERROR(bad.validate(), "preprocess: field 'std'");
}

}  // namespace

// int8 calibration (format 1.1): saved and read back exactly, the version says 1.1, and every
// bad range is refused naming the key and the layer. A format 1 reader ignores the key
// (docs/weights-format.md), which the unknown-key test above covers.
namespace {
std::string calibration_json(const alexnet::NetConfig& cfg, const std::string& fc8_override) {
  std::string s = "[";
  for (const alexnet::LayerSpec& l : alexnet::build_layers(cfg)) {
    if (!l.has_params()) continue;
    if (s.size() > 1) s += ",";
    s += l.name == "fc8" && !fc8_override.empty()
             ? fc8_override
             : R"({"layer":")" + l.name + R"(","in_min":-1,"in_max":2,"out_max":3})";
  }
  return s + "]";
}
}  // namespace

TEST_F(Weights, CalibrationRoundTripsAsFormat1_1) {
  alexnet::Model m = alexnet::random_model(tiny_config(3), 7);
  for (const alexnet::LayerSpec& l : alexnet::build_layers(m.config))
    if (l.has_params()) m.calibration.push_back({l.name, -1.5f, 2.25f, 3.f});
  alexnet::save_model(m, file());
  const alexnet::Model back = load_model(file());
  EXPECT_EQ(back.calibration, m.calibration);
  ModelParts p = model_parts(back, path("scratch.safetensors"));
  EXPECT_EQ(p.meta["alexnet.format_version"], "1.1");
  // without calibration: format 1
  alexnet::save_model(alexnet::random_model(tiny_config(3), 7), file());
  EXPECT_TRUE(load_model(file()).calibration.empty());
}

TEST_F(Weights, BadCalibrationIsRefusedNamingTheLayer) {
  const alexnet::NetConfig cfg = tiny_config(3);
  const std::pair<std::string, std::string> cases[] = {
      {R"({"layer":"fc8","in_min":3,"in_max":2,"out_max":3})", "layer 7 ('fc8'): in_min > in_max"},
      {R"({"layer":"fc9","in_min":-1,"in_max":2,"out_max":3})", "('fc9'): expected 'fc8'"},
      {R"({"layer":"fc8","in_min":0,"in_max":0,"out_max":3})", "the input range is empty"},
      {R"({"layer":"fc8","in_min":-1,"in_max":2,"out_max":-3})", "out_max < 0"},
      {R"({"layer":"fc8","in_min":-1,"in_max":1e39,"out_max":3})", "in_max is not a finite float"},
      {R"({"layer":"fc8","in_min":-1,"in_max":"2","out_max":3})", "needs a number 'in_max'"},
      {R"({"layer":"fc8","in_min":-1,"in_max":2,"out_max":3,"x":1})", "has unknown fields"},
  };
  for (const auto& [entry, message] : cases) {
    SCOPED_TRACE(entry);
    ModelParts p = parts(3);
    p.meta["alexnet.calibration"] = calibration_json(cfg, entry);
    write_tensors(file(), p.tensors, p.meta);
    EXPECT_ERROR(load_model(file()), file(), "alexnet.calibration", message);
  }
  ModelParts p = parts(3);
  p.meta["alexnet.calibration"] = R"([{"layer":"conv1","in_min":-1,"in_max":2,"out_max":3}])";
  write_tensors(file(), p.tensors, p.meta);
  EXPECT_ERROR(load_model(file()), "1 layer ranges, the network has");
}
