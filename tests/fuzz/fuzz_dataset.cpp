// The trainer's dataset readers (training/src/dataset.cpp): the first byte picks one,
//   0: idx     — images and labels files (split at a 2-byte length), opened as a pair;
//   1: cifar10 — one data_batch_1.bin;
//   2: folder  — one image file in a class folder (.jpg or .png by the next byte), opened
//                and decoded through load() (OpenCV/libjpeg/libpng behind our checks);
//   3: labels  — a labels file for an otherwise valid idx pair.
// Open may throw alexnet::Error; load() of a bad folder item returns false with a reason.
// Every sample an open dataset lists is loaded and its pixels checked against its size.
#include <memory>
#include <string>

#include "dataset.h"
#include "fuzz_common.h"

namespace {

void load_all(const train::Dataset& ds) {
  train::Image img;
  std::string why;
  for (size_t i = 0; i < ds.size() && i < 64; ++i) {
    (void)ds.label(i);
    (void)ds.item_name(i);
    if (ds.load(i, img, &why) &&
        img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
      std::abort();  // a decoded image must be exactly what it says
  }
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 4;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string dir = fuzz::temp_dir() + "/set" + std::to_string(which);
  (void)!std::system(("rm -rf '" + dir + "'").c_str());
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
    } else if (which == 2) {
      const bool png = !in.empty() && (in[0] & 1);
      if (!in.empty()) in.remove_prefix(1);
      fuzz::write_file(std::string("set2/a/image.") + (png ? "png" : "jpg"), in);
      ds = train::open_dataset(dir, "folder", true, "");
    } else {
      // two 2x2 images, labels 0 and 1: valid, so only the labels file is untrusted
      fuzz::write_file("set3/x-images-idx3-ubyte",
                       be32(0x803) + be32(2) + be32(2) + be32(2) + std::string(8, '\x7f'));
      fuzz::write_file("set3/x-labels-idx1-ubyte", be32(0x801) + be32(2) + std::string("\0\1", 2));
      const std::string labels = fuzz::write_file("set3/labels.txt", in);
      ds = train::open_dataset(dir + "/x-images-idx3-ubyte", "idx", true, labels);
    }
    load_all(*ds);
  });
  return 0;
}
