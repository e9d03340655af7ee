// method=file for alexnetpublish (publish_output.h).
#include "publish_output.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace alexnet_publish {

JsonFile::~JsonFile() {
  try {
    close();
  } catch (...) {  // a destructor reports nothing; close() is called first on every clean path
  }
}

void JsonFile::open(const std::string& location, bool array) {
  close();
  location_ = location;
  array_ = array;
  first_ = true;
  if (location == "-") {
    f_ = stdout;
    owned_ = false;
  } else {
    f_ = std::fopen(location.c_str(), "w");
    if (!f_) throw std::runtime_error("cannot write \"" + location + "\": " + std::strerror(errno));
    owned_ = true;
  }
  if (array_) put("[\n");
}

void JsonFile::put(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), f_) != text.size() || std::fflush(f_) != 0)
    throw std::runtime_error("writing \"" + location_ + "\" failed: " + std::strerror(errno));
}

void JsonFile::write(const nlohmann::ordered_json& j) {
  if (!f_) throw std::runtime_error("writing \"" + location_ + "\": not open");
  std::string text = j.dump();
  if (array_)
    text = (first_ ? "  " : ",\n  ") + text;
  else
    text += "\n";
  first_ = false;
  put(text);
}

void JsonFile::close() {
  if (!f_) return;
  std::FILE* f = f_;
  f_ = nullptr;
  bool ok = true;
  if (array_) {
    const std::string end = first_ ? "]\n" : "\n]\n";
    ok = std::fwrite(end.data(), 1, end.size(), f) == end.size() && std::fflush(f) == 0;
  }
  if (owned_) ok = std::fclose(f) == 0 && ok;
  if (!ok)
    throw std::runtime_error("closing \"" + location_ + "\" failed: " + std::strerror(errno));
}

}  // namespace alexnet_publish
