#include "npy.h"

#include <cstring>
#include <fstream>
#include <regex>

#include "alexnet/error.h"

namespace alexnet::npy {

Tensor read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  auto fail = [&](const std::string& why) -> Tensor {
    throw Error(path + ": not a float32 .npy array: " + why);
  };
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) return fail("bad magic");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) return fail("truncated header");
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) return fail("truncated header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    return fail("unsupported format version " + std::to_string(major));
  }
  if (header_len > (1u << 20)) return fail("header too long");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) return fail("truncated header");
  // Compiled once: building a std::regex costs more than reading a small file (fuzz_npy ran at
  // 630 inputs/s with them built per call).
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex fortran_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  static const std::regex num(R"(\s*(\d{1,12})\s*,?)");
  std::smatch m;
  if (!std::regex_search(header, m, descr_re) || m[1] != "<f4")
    return fail("dtype must be '<f4' (float32 little-endian)");
  if (!std::regex_search(header, m, fortran_re) || m[1] != "False")
    return fail("Fortran order is not supported");
  if (!std::regex_search(header, m, shape_re)) return fail("no shape");
  Shape shape;
  std::string dims = m[1];
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it)
    shape.push_back(std::stoll((*it)[1]));
  if (shape.empty()) return fail("scalar arrays are not supported");
  // Up to 12 digits a dimension: the product can overflow int64 (found by fuzz_npy, UBSan).
  int64_t n = 1, bytes = 0;
  bool overflow = false;
  for (int64_t d : shape) overflow |= __builtin_mul_overflow(n, d, &n);
  overflow |= __builtin_mul_overflow(n, int64_t{4}, &bytes);
  if (overflow) return fail("shape " + shape_str(shape) + " is too large");
  const auto data_start = in.tellg();
  in.seekg(0, std::ios::end);
  const auto file_end = in.tellg();
  if (file_end - data_start != static_cast<std::streamoff>(bytes))
    return fail("holds " + std::to_string(file_end - data_start) + " data bytes, shape " +
                shape_str(shape) + " needs " + std::to_string(bytes));
  in.seekg(data_start);
  Tensor t(shape);
  if (n && !in.read(reinterpret_cast<char*>(t.data()), n * 4)) return fail("truncated data");
  return t;
}

void write(const std::string& path, const Tensor& t) {
  std::string shape;
  for (int64_t d : t.shape()) shape += std::to_string(d) + ", ";
  if (t.rank() > 1) shape.resize(shape.size() - 2);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes, ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path + ": cannot write: " + std::strerror(errno));
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  const char lenb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(lenb, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.numel() * 4));
  if (!out.flush()) throw Error(path + ": write failed: " + std::strerror(errno));
}

}  // namespace alexnet::npy
