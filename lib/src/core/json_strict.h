// Strict JSON for untrusted files: well-formed UTF-8, no duplicate keys (nlohmann::json
// silently keeps the last one), and typed field access whose errors name the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace alexnet::json_strict {

// Byte offset of the first invalid UTF-8 sequence in s, or npos (overlongs and surrogates
// count as invalid).
size_t utf8_error_at(std::string_view s);

// Throws alexnet::Error "<origin>: <problem>" on malformed JSON or a duplicate key.
nlohmann::json parse(std::string_view text, const std::string& origin);

// Typed access to obj[key]; throws "<origin>: field 'key' …" when absent or of another type.
const nlohmann::json& field(const nlohmann::json& obj, const char* key, const std::string& origin);
int get_int(const nlohmann::json& obj, const char* key, const std::string& origin);
double get_number(const nlohmann::json& obj, const char* key, const std::string& origin);
bool get_bool(const nlohmann::json& obj, const char* key, const std::string& origin);
std::string get_string(const nlohmann::json& obj, const char* key, const std::string& origin);

}  // namespace alexnet::json_strict
