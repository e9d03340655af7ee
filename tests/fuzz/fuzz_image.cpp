// The trainer's image-folder decode path (training/src/dataset.cpp): one image file in a class
// folder, .jpg or .png by the first byte's low bit, opened and decoded through load() — our
// header checks (sizes, the 64-megapixel cap, libjpeg's integrity pass), then OpenCV with
// Debian's libjpeg-turbo and libpng. A bad file gives load() == false with a reason, or an
// alexnet::Error from open; never a crash.
#include <filesystem>
#include <string>

#include "load_all.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool png = data[0] & 1;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string dir = fuzz::temp_dir() + "/images";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  fuzz::expect_result_or_error([&] {
    fuzz::write_file(std::string("images/a/image.") + (png ? "png" : "jpg"), in);
    fuzz::load_all(*train::open_dataset(dir, "folder", true, ""));
  });
  return 0;
}
