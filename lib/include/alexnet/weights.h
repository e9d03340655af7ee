// Weights files: safetensors with our metadata (docs/weights-format.md).
//
// A file is untrusted input: load_model() validates the header, the JSON, every tensor
// entry and the metadata before it allocates tensor memory, and throws alexnet::Error
// naming the file and the exact problem. save_model() is atomic (temp file in the same
// folder, fsync, rename).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "alexnet/config.h"
#include "alexnet/preprocess.h"
#include "alexnet/tensor.h"

namespace alexnet {

inline constexpr int kFormatVersionMajor = 1;
inline constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // 100 MiB of JSON header at most

struct NamedTensor {
  std::string name;
  Tensor value;  // host, plain
};

struct Model {
  NetConfig config;
  PreprocessConfig preprocess;
  std::vector<std::string> labels;      // config.classes names
  std::vector<NamedTensor> params;      // param_infos(config) order: conv1.weight … fc8.bias
  std::string provenance = "{}";        // free JSON
  std::string source;                   // the file it came from ("" if built in memory)
  std::vector<LayerRange> calibration;  // one per weighted layer, in order; empty = none

  const Tensor& param(const std::string& name) const;  // throws if absent
};

// Loads our weights files and torchvision AlexNet state_dicts saved with safetensors
// (features.N.* / classifier.N.*; torchvision config and ImageNet preprocessing; labels
// from `labels_path`, or "class_0" … if none is given). A non-empty labels_path overrides
// the file's labels; its line count must equal the classes.
Model load_model(const std::string& path, const std::string& labels_path = "");
void save_model(const Model& model, const std::string& path);

// Throws alexnet::Error unless `tensors` are the config's parameters in file order, with
// their names and shapes (param_infos): "<who>: got 3 tensors, expected 16", "<who>: tensor
// fc6.bias where conv1.weight belongs", "<who>: conv1.weight has shape (…), expected (…)".
// `who` names the caller and what the tensors are ("Network momentum").
void check_param_tensors(const NetConfig& cfg, const std::vector<NamedTensor>& tensors,
                         const std::string& who);

// Throws alexnet::Error (starting with `where`) unless `ranges` has one entry per weighted
// layer of `cfg`, in order and named as it, each finite with in_min <= in_max, a non-zero
// input range and out_max >= 0.
void check_calibration(const NetConfig& cfg, const std::vector<LayerRange>& ranges,
                       const std::string& where);

// Labels file: UTF-8, one label per line, blank trailing lines ignored.
std::vector<std::string> load_labels(const std::string& path);

// A fresh model with seeded random weights (variance-preserving: N(0, 2/fan_in) weights,
// zero biases), labels "class_0"… — for tests, benchmarks and the trainer's start.
Model random_model(const NetConfig& cfg, uint64_t seed);

// --- low level: the safetensors container, shared with training checkpoints ---
// Entries are F32, F16 or BF16 (DType, tensor.h); the reader converts them to F32.

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data section
};

struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsEntry> entries;  // sorted by begin
  uint64_t data_offset = 0;               // 8 + header length
};

// Reads and validates the header of `path` (all container rules; no tensor data is read).
SafetensorsHeader read_safetensors_header(const std::string& path);
// Reads every tensor as float32 (F16/BF16 converted; non-finite values are an error).
std::map<std::string, Tensor> read_safetensors_tensors(const std::string& path,
                                                       const SafetensorsHeader& header);
// Writes F32 tensors (in the given order) and metadata atomically.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace alexnet
