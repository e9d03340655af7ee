// Fuzz target for the untrusted-input parsers: weights files, labels files and the JSON
// configs. Any input must end in a result or an alexnet::Error — never a crash, a hang, a
// leak or another exception type.
//
// With clang, `ninja fuzz_weights` builds a libFuzzer binary (ASan + UBSan); run it as
//   ./fuzz_weights -max_len=65536 [corpus-folder]
// Every build also gets `weights-mutate`, a test that feeds a few thousand seeded
// mutations of a valid file through the same entry point.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "alexnet/error.h"
#include "alexnet/weights.h"

namespace {

// The loaders take paths: hand them an anonymous in-memory file.
std::string memfd_path(const uint8_t* data, size_t size, int* fd) {
  *fd = ::memfd_create("fuzz", MFD_CLOEXEC);
  if (*fd < 0) return "";
  size_t done = 0;
  while (done < size) {
    ssize_t w = ::write(*fd, data + done, size - done);
    if (w <= 0) return "";
    done += static_cast<size_t>(w);
  }
  return "/proc/self/fd/" + std::to_string(*fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the parser, so one corpus covers them all.
  const uint8_t which = data[0] % 4;
  ++data;
  --size;
  try {
    if (which == 2) {
      alexnet::PreprocessConfig::from_json(std::string(reinterpret_cast<const char*>(data), size),
                                           "fuzz");
      return 0;
    }
    if (which == 3) {
      alexnet::NetConfig::from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
      return 0;
    }
    int fd = -1;
    std::string path = memfd_path(data, size, &fd);
    if (!path.empty()) {
      try {
        if (which == 0)
          alexnet::load_model(path);
        else
          alexnet::load_labels(path);
      } catch (const alexnet::Error&) {
      }
    }
    if (fd >= 0) ::close(fd);
  } catch (const alexnet::Error&) {
  }
  return 0;
}

#ifdef ALEXNET_FUZZ_STANDALONE
// Seeded mutations of a valid tiny weights file, biased towards the header where the
// parsing happens; then each file named on the command line, as a libFuzzer reproducer.
int main(int argc, char** argv) {
  // `--seed OUT`: write the valid tiny weights file the mutations start from (a seed for
  // tests/fuzz/make_corpus.py) and stop.
  if (argc == 3 && std::string(argv[1]) == "--seed") {
    alexnet::NetConfig cfg = alexnet::NetConfig::small(1, 28, 3);
    int widths[5] = {2, 4, 4, 4, 4};
    for (size_t i = 0; i < 5; ++i) cfg.conv[i].out_channels = widths[i];
    cfg.fc = {4, 4};
    alexnet::save_model(alexnet::random_model(cfg, 1), argv[2]);
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    FILE* f = std::fopen(argv[i], "rb");
    if (!f) return std::fprintf(stderr, "cannot open %s\n", argv[i]), 1;
    std::string bytes;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
    std::fclose(f);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  if (argc > 1) return 0;

  alexnet::NetConfig cfg = alexnet::NetConfig::small(1, 28, 3);
  int widths[5] = {2, 4, 4, 4, 4};
  for (size_t i = 0; i < 5; ++i) cfg.conv[i].out_channels = widths[i];
  cfg.fc = {4, 4};
  char tmpl[] = "/tmp/alexnet-fuzz-XXXXXX";
  int tfd = ::mkstemp(tmpl);
  if (tfd < 0) return 1;
  ::close(tfd);
  alexnet::save_model(alexnet::random_model(cfg, 1), tmpl);
  std::string valid;
  {
    FILE* f = std::fopen(tmpl, "rb");
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) valid.append(buf, n);
    std::fclose(f);
    ::unlink(tmpl);
  }
  uint64_t header_len = 0;
  for (size_t i = 0; i < 8; ++i)
    header_len |= static_cast<uint64_t>(static_cast<uint8_t>(valid[i])) << (8 * i);
  const std::string header = valid.substr(8, header_len), data = valid.substr(8 + header_len);

  std::mt19937_64 rng(12345);
  const char* tokens[] = {"\"",
                          "{",
                          "}",
                          "[",
                          "]",
                          ",",
                          ":",
                          "-1",
                          "0",
                          "1e999",
                          "2.5",
                          "\"F16\"",
                          "\"F64\"",
                          "18446744073709551615",
                          "\xff",
                          "\xc0\xaf",
                          "\"__metadata__\"",
                          "\\\"",
                          "null"};
  for (int iter = 0; iter < 4000; ++iter) {
    std::string h = header, d = data;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !h.empty(); ++e) {
      size_t pos = rng() % h.size();
      switch (rng() % 4) {
        case 0:
          h[pos] = static_cast<char>(rng());
          break;
        case 1:
          h.insert(pos, tokens[rng() % (sizeof tokens / sizeof *tokens)]);
          break;
        case 2:
          h.erase(pos, 1 + rng() % 8);
          break;
        default: {  // change a digit: shapes and offsets
          size_t digit = h.find_first_of("0123456789", pos);
          if (digit != std::string::npos) h[digit] = static_cast<char>('0' + rng() % 10);
        }
      }
    }
    if (rng() % 8 == 0 && !d.empty()) d[rng() % d.size()] = static_cast<char>(rng());  // NaN?
    if (rng() % 16 == 0) d.resize(rng() % (d.size() + 8));
    // Mostly a consistent length field, so the mutations reach the JSON and beyond.
    uint64_t len = rng() % 8 ? h.size() : rng() % (h.size() + 16);
    std::string m(1, '\0');  // parser 0: load_model
    for (int i = 0; i < 8; ++i) m += static_cast<char>(len >> (8 * i));
    m += h + d;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(m.data()), m.size());
  }
  std::printf("4000 mutated weights files: every one loaded or failed with alexnet::Error\n");
  return 0;
}
#endif
