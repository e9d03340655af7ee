// The trainer's dataset readers (training/src/dataset.cpp): the first byte picks one,
//   0: idx     — images and labels files (split at a 2-byte length), opened as a pair;
//   1: cifar10 — one data_batch_1.bin;
//   2: labels  — a labels file for an otherwise valid idx pair.
// The image-folder decode path has its own target (fuzz_image.cpp).
// Open may throw alexnet::Error. Every sample an open dataset lists is loaded and its pixels
// checked against its size.
#include <filesystem>
#include <memory>
#include <string>

#include "load_all.h"

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 3;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string dir = fuzz::temp_dir() + "/set" + std::to_string(which);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // in-process: a shell per input cost more than the parse
  fuzz::expect_result_or_error([&] {
    std::shared_ptr<train::Dataset> ds;
    if (which == 0) {
      auto [images, labels] = fuzz::split2(in);
      fuzz::write_file("set0/x-images-idx3-ubyte", images);
      fuzz::write_file("set0/x-labels-idx1-ubyte", labels);
      ds = train::open_dataset(dir + "/x-images-idx3-ubyte", "idx", true, "");
    } else if (which == 1) {
      fuzz::write_file("set1/data_batch_1.bin", in);
      ds = train::open_dataset(dir, "cifar10", true, "");
    } else {
      // two 2x2 images, labels 0 and 1: valid, so only the labels file is untrusted
      fuzz::write_file("set2/x-images-idx3-ubyte",
                       be32(0x803) + be32(2) + be32(2) + be32(2) + std::string(8, '\x7f'));
      fuzz::write_file("set2/x-labels-idx1-ubyte", be32(0x801) + be32(2) + std::string("\0\1", 2));
      const std::string labels = fuzz::write_file("set2/labels.txt", in);
      ds = train::open_dataset(dir + "/x-images-idx3-ubyte", "idx", true, labels);
    }
    fuzz::load_all(*ds);
  });
  return 0;
}
