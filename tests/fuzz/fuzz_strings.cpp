// The text settings users type: the device list (parse_devices), the element's
// object-classes and min-object-size properties, pixel format names and the JSON configs a
// weights file carries (NetConfig, PreprocessConfig). The first byte picks the parser.
#include <string>

#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/preprocess.h"
#include "alexnet/weights.h"
#include "fuzz_common.h"
#include "objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::expect_result_or_error([&] {
    switch (data[0] % 6) {
      case 0:
        if (text != "auto") alexnet::parse_devices(text);  // auto probes the GPUs: not input
        break;
      case 1:
        alexnet::gst::parse_object_classes(text);
        break;
      case 2: {
        int w = 0, h = 0;
        if (alexnet::gst::parse_object_size(text, &w, &h) && (w < 0 || h < 0)) std::abort();
        break;
      }
      case 3:
        alexnet::pixel_format_from_name(text);
        break;
      case 4:
        alexnet::NetConfig::from_json(text, "fuzz");
        break;
      default:
        alexnet::PreprocessConfig::from_json(text, "fuzz");
    }
  });
  return 0;
}
