// The safetensors container: header validation, tensor reading, atomic writing.
//
// Everything read here is untrusted. The header is checked completely (sizes, JSON, every
// entry, the byte layout of the data section) before any tensor memory is allocated, so a
// file can make us allocate at most about twice its own size (F16/BF16 become float32).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "alexnet/error.h"
#include "alexnet/weights.h"
#include "core/json_strict.h"

namespace alexnet {

using nlohmann::json;

namespace {

constexpr size_t kChunkBytes = 1 << 20;  // staging buffer for conversions and byte swaps

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::string errno_text() {
  return std::strerror(errno);
}

// Closes the descriptor on every path out.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Fd open_regular(const std::string& path, uint64_t* size) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) fail(path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, "cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  *size = static_cast<uint64_t>(st.st_size);
  return f;
}

// Reads exactly n bytes at offset; a short read means the file is shorter than it said.
void read_exact(const Fd& f, const std::string& path, void* dst, uint64_t n, uint64_t offset) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(n, 1u << 30));
    ssize_t got = ::pread(f.fd, p, want, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path, "read error at byte " + std::to_string(offset) + ": " + errno_text());
    if (got == 0) fail(path, "truncated: unexpected end of file at byte " + std::to_string(offset));
    p += got;
    n -= static_cast<uint64_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

// The dtypes a file may hold, with their safetensors spelling.
constexpr std::pair<DType, const char*> kFileDTypes[] = {
    {DType::F32, "F32"}, {DType::F16, "F16"}, {DType::BF16, "BF16"}};

const char* safetensors_name(DType d) {
  for (const auto& [dtype, name] : kFileDTypes)
    if (dtype == d) return name;
  return "?";
}

DType parse_dtype(const json& v, const std::string& where) {
  if (!v.is_string()) throw Error(where + ": field 'dtype' must be a string");
  const std::string s = v.get<std::string>();
  for (const auto& [dtype, name] : kFileDTypes)
    if (s == name) return dtype;
  static const char* const kOther[] = {"F64", "I64", "I32",  "I16",     "I8",      "U64", "U32",
                                       "U16", "U8",  "BOOL", "F8_E4M3", "F8_E5M2", "C64", "F4"};
  for (const char* o : kOther)
    if (s == o)
      throw Error(where + ": unsupported dtype " + s + " (this build loads F32, F16, BF16)");
  throw Error(where + ": unknown dtype \"" + s + "\"");
}

// A non-negative integer that fits in int64; anything else is rejected with `what`.
bool as_uint(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return *out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

std::string range_str(uint64_t b, uint64_t e) {
  // Appended piecewise: GCC 12 reports a false -Wrestrict for "[" + std::to_string(…).
  std::string s = "[";
  s += std::to_string(b);
  s += ", ";
  s += std::to_string(e);
  s += "]";
  return s;
}

SafetensorsEntry parse_entry(const std::string& name, const json& v, uint64_t data_size,
                             const std::string& path) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!v.is_object()) throw Error(where + ": entry must be a JSON object");
  for (const auto& [key, value] : v.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      throw Error(where + ": unknown field '" + key + "'");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) throw Error(where + ": missing field '" + key + "'");

  SafetensorsEntry e;
  e.name = name;
  e.dtype = parse_dtype(v["dtype"], where);

  const json& shape = v["shape"];
  if (!shape.is_array()) throw Error(where + ": field 'shape' must be an array of integers");
  for (const json& d : shape) {
    uint64_t dim = 0;
    if (!as_uint(d, &dim)) {
      std::string bad = d.dump(-1, ' ', /*ensure_ascii=*/true);
      if (bad.size() > 40) bad = bad.substr(0, 40) + "...";
      throw Error(where + ": shape dimension " + std::to_string(e.shape.size()) + " is " + bad +
                  "; dimensions must be non-negative integers");
    }
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  // The same product (and overflow rule) Tensor uses, so a shape that passes here allocates.
  const uint64_t elem = dtype_size(e.dtype);
  int64_t numel = -1;
  try {
    numel = shape_numel(e.shape);
  } catch (const Error&) {
  }
  if (numel < 0 || static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / elem)
    throw Error(where + ": shape " + shape_str(e.shape) + " overflows the element count");
  const uint64_t need = static_cast<uint64_t>(numel) * elem;

  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !as_uint(off[0], &e.begin) || !as_uint(off[1], &e.end))
    throw Error(where + ": field 'data_offsets' must be two non-negative integers");
  if (e.begin > e.end)
    throw Error(where + ": data_offsets " + range_str(e.begin, e.end) + " are reversed");
  if (e.end > data_size)
    throw Error(where + ": data_offsets " + range_str(e.begin, e.end) +
                " run past the data section (" + std::to_string(data_size) + " bytes)");
  if (e.end - e.begin != need)
    throw Error(where + ": data_offsets " + range_str(e.begin, e.end) + " hold " +
                std::to_string(e.end - e.begin) + " bytes but " + safetensors_name(e.dtype) + " " +
                shape_str(e.shape) + " needs " + std::to_string(need));
  return e;
}

// IEEE half → float, exact for every value (subnormals, inf and NaN included).
float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal: value = mant * 2^-24, exactly representable in float.
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

uint16_t load_u16le(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

uint32_t load_u32le(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

SafetensorsHeader read_safetensors_header(const std::string& path) {
  uint64_t file_size = 0;
  Fd f = open_regular(path, &file_size);
  if (file_size == 0) fail(path, "is empty (not a safetensors file)");
  if (file_size < 8)
    fail(path, "is " + std::to_string(file_size) +
                   " bytes, too short for a safetensors header (8-byte length first)");
  unsigned char len_bytes[8];
  read_exact(f, path, len_bytes, 8, 0);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len > file_size - 8)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  if (header_len < 2) fail(path, "header of " + std::to_string(header_len) + " bytes is too short");

  std::string text(static_cast<size_t>(header_len), '\0');
  read_exact(f, path, text.data(), header_len, 8);
  if (size_t bad = json_strict::utf8_error_at(text); bad != std::string::npos)
    fail(path, "header is not valid UTF-8 (byte " + std::to_string(bad) + " of the JSON)");
  json j = json_strict::parse(text, path + ": header");
  if (!j.is_object()) fail(path, "header is not a JSON object");

  SafetensorsHeader h;
  h.data_offset = 8 + header_len;
  const uint64_t data_size = file_size - h.data_offset;
  for (const auto& [name, value] : j.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(path, "__metadata__ must be a JSON object of strings");
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string())
          fail(path, "metadata value '" + key + "' is not a string (it is " + v.type_name() + ")");
        h.metadata[key] = v.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(name, value, data_size, path));
  }

  // The data section must be exactly the tensors, back to back: no overlap (two tensors
  // sharing bytes), no hole and no trailing bytes (room to smuggle data past a check).
  std::sort(h.entries.begin(), h.entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin
           : a.end != b.end   ? a.end < b.end
                              : a.name < b.name;
  });
  uint64_t expected = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : h.entries) {
    if (e.begin < expected)
      fail(path, "tensor '" + e.name + "' (bytes " + range_str(e.begin, e.end) +
                     ") overlaps tensor '" + prev->name + "' (bytes " +
                     range_str(prev->begin, prev->end) + ")");
    if (e.begin > expected)
      fail(path, "hole of " + std::to_string(e.begin - expected) +
                     " bytes in the data section before tensor '" + e.name + "' (bytes " +
                     range_str(e.begin, e.end) + ")");
    expected = e.end;
    prev = &e;
  }
  if (expected != data_size)
    fail(path, std::to_string(data_size - expected) +
                   " trailing bytes after the last tensor (data section " +
                   std::to_string(data_size) + " bytes, tensors end at " +
                   std::to_string(expected) + ")");
  return h;
}

std::map<std::string, Tensor> read_safetensors_tensors(const std::string& path,
                                                       const SafetensorsHeader& header) {
  uint64_t file_size = 0;
  Fd f = open_regular(path, &file_size);
  // The header may come from a caller rather than read_safetensors_header(): re-check the
  // facts the reads below rely on, without overflow, before allocating anything.
  if (header.data_offset < 8 || header.data_offset > file_size)
    fail(path, "header data offset " + std::to_string(header.data_offset) + " is outside the file");
  const uint64_t data_size = file_size - header.data_offset;
  uint64_t data_end = 0;
  for (const SafetensorsEntry& e : header.entries) {
    if (e.begin > e.end || e.end > data_size)
      fail(path, "file size changed since its header was read (tensor '" + e.name +
                     "' ends past the data section)");
    int64_t numel = -1;
    try {
      numel = shape_numel(e.shape);
    } catch (const Error&) {
    }
    const uint64_t bytes = e.end - e.begin, elem = dtype_size(e.dtype);
    if (numel < 0 || static_cast<uint64_t>(numel) > bytes / elem ||
        static_cast<uint64_t>(numel) * elem != bytes)
      fail(path, "tensor '" + e.name + "': header entry does not match its shape");
    data_end = std::max(data_end, e.end);
  }
  if (data_end != data_size)
    fail(path, "file size changed since its header was read (" + std::to_string(file_size) +
                   " bytes, expected " + std::to_string(header.data_offset + data_end) + ")");

  std::map<std::string, Tensor> out;
  std::vector<unsigned char> stage(kChunkBytes);
  for (const SafetensorsEntry& e : header.entries) {
    const std::string where = "tensor '" + e.name + "'";
    const uint64_t elem = dtype_size(e.dtype);
    const uint64_t numel = (e.end - e.begin) / elem;  // checked against the shape above
    Tensor t;
    try {
      t = Tensor(e.shape);
    } catch (const Error& err) {
      fail(path, where + ": " + err.what());
    }
    float* dst = t.data();
    uint64_t done = 0;  // elements converted
    while (done < numel) {
      uint64_t n = std::min<uint64_t>(numel - done, kChunkBytes / elem);
      read_exact(f, path, stage.data(), n * elem, header.data_offset + e.begin + done * elem);
      const unsigned char* src = stage.data();
      for (uint64_t i = 0; i < n; ++i) {
        float v = e.dtype == DType::F32   ? std::bit_cast<float>(load_u32le(src + 4 * i))
                  : e.dtype == DType::F16 ? half_to_float(load_u16le(src + 2 * i))
                                          : bf16_to_float(load_u16le(src + 2 * i));
        if (!std::isfinite(v))
          fail(path, where + ": element " + std::to_string(done + i) + " is " +
                         (std::isnan(v) ? "NaN"
                          : v > 0       ? "+Inf"
                                        : "-Inf") +
                         " (weights must be finite)");
        dst[done + i] = v;
      }
      done += n;
    }
    if (!out.emplace(e.name, std::move(t)).second) fail(path, where + " appears twice");
  }
  return out;
}

namespace {

void write_all(int fd, const void* data, size_t n, const std::string& tmp) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min<size_t>(n, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error("cannot write " + tmp + ": " + (w < 0 ? errno_text() : "no progress"));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The header text (padded to 8 bytes): each tensor's dtype, shape and data offsets, and the
// metadata. Everything is checked here, before the temp file exists.
std::string safetensors_header(const std::string& path, const std::vector<NamedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  uint64_t offset = 0;
  for (const NamedTensor& nt : tensors) {
    const std::string where = path + ": tensor '" + nt.name + "'";
    if (nt.name.empty() || nt.name == "__metadata__") throw Error(where + ": invalid name");
    if (header.contains(nt.name)) throw Error(where + ": appears twice");
    const Tensor& t = nt.value;
    if (t.numel() > 0 && (t.empty() || !t.is_plain() || t.device() != DeviceKind::Cpu))
      throw Error(where + ": must be a plain host tensor to be written");
    const float* d = t.data();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(d[i]))
        throw Error(where + ": element " + std::to_string(i) +
                    " is not finite; refusing to write a file that cannot be loaded");
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    header[nt.name] = {
        {"dtype", "F32"}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": cannot encode the header (metadata must be valid UTF-8): " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as safetensors does
  if (text.size() > kMaxHeaderBytes) throw Error(path + ": header would exceed the size limit");
  return text;
}

// A new temp file next to `path`, its name in `tmp`. The name is unique per process and call;
// O_EXCL refuses to follow anything there.
int create_temp(const std::string& path, std::string& tmp) {
  static std::atomic<unsigned> counter{0};
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw Error(path + ": cannot create a temp file in its folder: " + errno_text());
  return fd;
}

// The file's bytes: header length (u64, little-endian), header, then the tensors' data as
// little-endian F32 in order.
void write_contents(int fd, const std::string& tmp, const std::string& header,
                    const std::vector<NamedTensor>& tensors) {
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  write_all(fd, len, 8, tmp);
  write_all(fd, header.data(), header.size(), tmp);
  std::vector<unsigned char> stage;
  for (const NamedTensor& nt : tensors) {
    size_t n = static_cast<size_t>(nt.value.numel());
    if (n == 0) continue;
    if constexpr (std::endian::native == std::endian::little) {
      write_all(fd, nt.value.data(), n * 4, tmp);
    } else {
      stage.resize(kChunkBytes);
      for (size_t i = 0; i < n;) {
        size_t m = std::min(n - i, kChunkBytes / 4);
        for (size_t k = 0; k < m; ++k) {
          auto bits = std::bit_cast<uint32_t>(nt.value.data()[i + k]);
          for (int b = 0; b < 4; ++b)
            stage[4 * k + b] = static_cast<unsigned char>(bits >> (8 * b));
        }
        write_all(fd, stage.data(), m * 4, tmp);
        i += m;
      }
    }
  }
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string header = safetensors_header(path, tensors, metadata);
  std::string tmp;
  int fd = create_temp(path, tmp);

  // Written in full and synced under the temp name, then renamed over `path`: a crash leaves
  // the previous file or the new one, never a part.
  try {
    write_contents(fd, tmp, header, tensors);
    if (::fsync(fd) != 0) throw Error("cannot fsync " + tmp + ": " + errno_text());
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw Error("cannot close " + tmp + ": " + errno_text());
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error("cannot rename " + tmp + " over the target: " + errno_text());
  } catch (const Error& e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(path + ": save failed, the previous file (if any) is untouched: " + e.what());
  }

  // Make the rename itself durable. Some filesystems cannot fsync a folder (EINVAL): the
  // data is already safe there, so only real I/O errors are reported.
  std::string dir = parent_dir(path);
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd >= 0 && ::fsync(d.fd) != 0 && errno != EINVAL && errno != EROFS)
    throw Error(path + ": written, but syncing its folder failed: " + errno_text());
}

}  // namespace alexnet
