// alexnet-classify's .npy reader (tools/npy.cpp): any bytes give a tensor or an
// alexnet::Error naming the file; the header is validated before the data is allocated.
#include "fuzz_common.h"
#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::MemFile file({reinterpret_cast<const char*>(data), size});
  fuzz::expect_result_or_error([&] {
    alexnet::Tensor t = alexnet::npy::read(file.path);
    volatile float sink = t.numel() ? t.data()[t.numel() - 1] : 0.f;  // the last element is ours
    (void)sink;
  });
  return 0;
}
