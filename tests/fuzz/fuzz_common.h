// What every fuzz target shares: untrusted bytes as a file the parsers can open, and the rule
// that an input ends in a result or an alexnet::Error — any other exception aborts, so that
// libFuzzer reports it like a crash.
#pragma once

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "alexnet/error.h"

namespace fuzz {

// A private folder for the target's files, made once per process and removed at exit.
inline const std::string& temp_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/alexnet-fuzz-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (!d) std::abort();
    std::string path = d;
    static std::string rm = "rm -rf '" + path + "'";
    std::atexit([] { (void)!std::system(rm.c_str()); });
    return path;
  }();
  return dir;
}

// Writes `bytes` to temp_dir()/name (creating subfolders named in it) and returns the path.
inline std::string write_file(const std::string& name, std::string_view bytes) {
  const std::string path = temp_dir() + "/" + name;
  for (size_t slash = path.find('/', temp_dir().size() + 1); slash != std::string::npos;
       slash = path.find('/', slash + 1))
    (void)!::mkdir(path.substr(0, slash).c_str(), 0700);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
  return path;
}

// `bytes` as an in-memory file (memfd): its /proc/self/fd path, valid until close(fd). For
// targets whose parser opens one file of any name: no disk write per input.
struct MemFile {
  explicit MemFile(std::string_view bytes) : fd(::memfd_create("fuzz", MFD_CLOEXEC)) {
    if (fd < 0) std::abort();
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w <= 0) std::abort();
      done += static_cast<size_t>(w);
    }
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  ~MemFile() { ::close(fd); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  int fd;
  std::string path;
};

// Runs `fn`; an alexnet::Error is an accepted outcome, anything else aborts with its message.
template <class Fn>
void expect_result_or_error(Fn fn) {
  try {
    fn();
  } catch (const alexnet::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: unexpected exception (not alexnet::Error): %s\n", e.what());
    std::abort();
  }
}

// Splits the input at a 2-byte little-endian length: (first part, the rest).
inline std::pair<std::string_view, std::string_view> split2(std::string_view in) {
  if (in.size() < 2) return {in, {}};
  const size_t n = static_cast<uint8_t>(in[0]) | static_cast<size_t>(static_cast<uint8_t>(in[1]))
                                                     << 8;
  in.remove_prefix(2);
  const size_t cut = n < in.size() ? n : in.size();
  return {in.substr(0, cut), in.substr(cut)};
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
