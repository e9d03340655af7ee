// Where alexnetpublish's JSON goes with method=file: JSON Lines (one object per line, flushed
// per frame) or one JSON array, into a file or stdout ("-").
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace alexnet_publish {

class JsonFile {
 public:
  JsonFile() = default;
  ~JsonFile();
  JsonFile(const JsonFile&) = delete;
  JsonFile& operator=(const JsonFile&) = delete;

  // Creates (truncates) `location`, or takes stdout for "-". array: "[" now, "]" at close().
  // Throws std::runtime_error naming the file and the system's reason.
  void open(const std::string& location, bool array);
  // One object: a line of JSON Lines, or the array's next element. Flushed, so a reader (or a
  // crash) sees every frame written so far. Throws on a write error (a full disk), naming it.
  void write(const nlohmann::ordered_json& j);
  // Ends the array and closes the file (stdout stays open). Throws like write().
  void close();
  bool is_open() const { return f_ != nullptr; }

 private:
  std::FILE* f_ = nullptr;
  std::string location_;
  bool array_ = false, first_ = true, owned_ = false;
  void put(const std::string& text);
};

}  // namespace alexnet_publish
