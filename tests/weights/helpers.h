// Shared by the weights tests: a temp folder per test and a raw safetensors writer that can
// produce every malformed file the loader must refuse.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "alexnet/error.h"
#include "alexnet/weights.h"

namespace wtest {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

// Runs `stmt` and checks it throws alexnet::Error whose message contains every string given.
#define EXPECT_ERROR(stmt, ...)                                                       \
  do {                                                                                \
    try {                                                                             \
      stmt;                                                                           \
      ADD_FAILURE() << "no alexnet::Error thrown by: " #stmt;                         \
    } catch (const alexnet::Error& e) {                                               \
      for (const std::string& part : std::initializer_list<std::string>{__VA_ARGS__}) \
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)                \
            << "message: " << e.what() << "\nexpected to contain: " << part;          \
    }                                                                                 \
  } while (0)

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "alexnet-weights-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}

// A whole file from a header text and the data section, exactly as given.
inline void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  write_bytes(path, le64(header.size()) + header + data);
}

struct RawTensor {
  std::string name;
  std::string dtype = "F32";
  ojson shape;
  std::string bytes;                                     // the data, already encoded
  std::optional<std::pair<uint64_t, uint64_t>> offsets;  // default: packed in order
};

inline std::string f32_bytes(const float* p, size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n * sizeof(float));
}
inline std::string f32_bytes(const std::vector<float>& v) {
  return f32_bytes(v.data(), v.size());
}

inline ojson shape_json(const alexnet::Shape& s) {
  return ojson(s);
}

// Builds the header for `tensors` (+ metadata) and writes header + concatenated data.
inline std::string header_for(const std::vector<RawTensor>& tensors,
                              const std::map<std::string, std::string>& meta) {
  ojson h = ojson::object();
  if (!meta.empty()) h["__metadata__"] = meta;
  uint64_t off = 0;
  for (const RawTensor& t : tensors) {
    auto [b, e] = t.offsets.value_or(std::make_pair(off, off + t.bytes.size()));
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {b, e}}};
    off += t.bytes.size();
  }
  return h.dump();
}

inline void write_tensors(const std::string& path, const std::vector<RawTensor>& tensors,
                          const std::map<std::string, std::string>& meta = {}) {
  std::string data;
  for (const RawTensor& t : tensors) data += t.bytes;
  write_raw(path, header_for(tensors, meta), data);
}

// A model small enough that its file is a few kilobytes.
inline alexnet::NetConfig tiny_config(int classes = 10) {
  alexnet::NetConfig c = alexnet::NetConfig::small(1, 28, classes);
  int widths[5] = {4, 8, 8, 8, 8};
  for (size_t i = 0; i < 5; ++i) c.conv[i].out_channels = widths[i];
  c.fc = {16, 16};
  return c;
}

// The tensors and metadata save_model writes for `m`, as raw pieces to tamper with.
struct ModelParts {
  std::vector<RawTensor> tensors;
  std::map<std::string, std::string> meta;
};

inline ModelParts model_parts(const alexnet::Model& m, const std::string& scratch_path) {
  alexnet::save_model(m, scratch_path);
  ModelParts p;
  p.meta = alexnet::read_safetensors_header(scratch_path).metadata;
  for (const alexnet::NamedTensor& t : m.params)
    p.tensors.push_back({t.name,
                         "F32",
                         shape_json(t.value.shape()),
                         f32_bytes(t.value.data(), static_cast<size_t>(t.value.numel())),
                         {}});
  return p;
}

inline RawTensor* find(ModelParts& p, const std::string& name) {
  for (RawTensor& t : p.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace wtest
