#include "core/json_strict.h"

#include <set>
#include <string_view>
#include <vector>

#include "alexnet/error.h"

namespace alexnet::json_strict {

using nlohmann::json;

// Byte offset of the first invalid UTF-8 sequence, or npos (overlongs and surrogates count).
size_t utf8_error_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

json parse(std::string_view text, const std::string& origin) {
  // One set of seen keys per open object; a key seen twice in one object is an error.
  std::vector<std::set<std::string>> seen;
  std::string duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!seen.empty() && !seen.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty())
          duplicate = parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  };
  json result;
  try {
    result = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    throw Error(origin + ": malformed JSON: " + e.what());
  }
  if (!duplicate.empty()) throw Error(origin + ": duplicate JSON key \"" + duplicate + "\"");
  return result;
}

const json& field(const json& obj, const char* key, const std::string& origin) {
  if (!obj.is_object()) throw Error(origin + ": expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end()) throw Error(origin + ": missing field '" + key + "'");
  return *it;
}

int get_int(const json& obj, const char* key, const std::string& origin) {
  const json& v = field(obj, key, origin);
  if (!v.is_number_integer()) throw Error(origin + ": field '" + key + "' must be an integer");
  auto x = v.get<int64_t>();
  if (x < -(int64_t{1} << 30) || x > (int64_t{1} << 30))
    throw Error(origin + ": field '" + key + "' is out of range: " + std::to_string(x));
  return static_cast<int>(x);
}

double get_number(const json& obj, const char* key, const std::string& origin) {
  const json& v = field(obj, key, origin);
  if (!v.is_number()) throw Error(origin + ": field '" + key + "' must be a number");
  return v.get<double>();
}

bool get_bool(const json& obj, const char* key, const std::string& origin) {
  const json& v = field(obj, key, origin);
  if (!v.is_boolean()) throw Error(origin + ": field '" + key + "' must be true or false");
  return v.get<bool>();
}

std::string get_string(const json& obj, const char* key, const std::string& origin) {
  const json& v = field(obj, key, origin);
  if (!v.is_string()) throw Error(origin + ": field '" + key + "' must be a string");
  return v.get<std::string>();
}

}  // namespace alexnet::json_strict
