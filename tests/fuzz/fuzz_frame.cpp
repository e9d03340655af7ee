// Caps → frame descriptor → preprocessing, through the real element: raw video of any
// format, size and colorimetry the element's caps accept, with ROI metas of any box (inside,
// across or outside the frame, empty), into alexnetclassify (device=cpu, a tiny model) on a
// GstHarness, full-frame and roi-list. Every input must come out as one buffer; an element
// error is a finding (abort), as is any crash or sanitizer report.
//
// Input: [format][width:2][height:2][colorimetry][roi-list?][n boxes][boxes: x,y,w,h 2 bytes
// each][pixels, repeated to fill the frame]. Sizes are 1..512 so that one input stays cheap.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>

#include "alexnet/config.h"
#include "alexnet/weights.h"
#include "fuzz_common.h"

namespace {

const char* const kFormats[] = {"RGB",  "BGR",  "RGBx",  "BGRx", "xRGB", "xBGR",
                                "RGBA", "BGRA", "GRAY8", "I420", "NV12"};
const char* const kColorimetry[] = {"bt601", "bt709", "sRGB", "2:4:5:4", "1:4:7:1"};

std::string tiny_model() {
  alexnet::NetConfig cfg = alexnet::NetConfig::small(3, 28, 3);
  const int widths[5] = {2, 4, 4, 4, 4};
  for (size_t i = 0; i < 5; ++i) cfg.conv[i].out_channels = widths[i];
  cfg.fc = {4, 4};
  const std::string path = fuzz::temp_dir() + "/tiny.safetensors";
  alexnet::save_model(alexnet::random_model(cfg, 1), path);
  return path;
}

GstHarness* make_harness(bool roi_list) {
  static const std::string model = tiny_model();
  GstHarness* h = gst_harness_new_parse(("alexnetclassify device=cpu threads=1 model=" + model +
                                         (roi_list ? " inference-region=roi-list" : ""))
                                            .c_str());
  if (!h) std::abort();
  return h;
}

uint16_t u16(std::string_view& in) {
  uint16_t v = 0;
  for (int i = 0; i < 2 && !in.empty(); ++i) {
    v |= static_cast<uint16_t>(static_cast<uint8_t>(in[0])) << (8 * i);
    in.remove_prefix(1);
  }
  return v;
}
uint8_t u8(std::string_view& in) {
  if (in.empty()) return 0;
  const uint8_t v = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  return v;
}

}  // namespace

// GStreamer, the model and the two harnesses, made once. libFuzzer calls this before the first
// input (LLVMFuzzerInitialize), so that what GStreamer's init keeps for the process's life is
// not counted as a leak of that input; replay_main's first input makes them the same way.
GstHarness** harnesses() {
  static bool inited = (gst_init(nullptr, nullptr), true);
  (void)inited;
  static GstHarness* harness[2] = {make_harness(false), make_harness(true)};
  return harness;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harnesses();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  GstHarness** harness = harnesses();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const char* format = kFormats[u8(in) % G_N_ELEMENTS(kFormats)];
  const int width = 1 + u16(in) % 512, height = 1 + u16(in) % 512;
  const char* colorimetry = kColorimetry[u8(in) % G_N_ELEMENTS(kColorimetry)];
  const bool roi_list = u8(in) & 1;
  const int boxes = u8(in) % 5;
  struct Box {
    guint x, y, w, h;
  } box[4];
  for (int i = 0; i < boxes; ++i) box[i] = {u16(in), u16(in), u16(in), u16(in)};

  const std::string caps = std::string("video/x-raw,format=") + format +
                           ",width=" + std::to_string(width) + ",height=" + std::to_string(height) +
                           ",framerate=30/1,colorimetry=" + colorimetry;
  GstVideoInfo info;
  GstCaps* c = gst_caps_from_string(caps.c_str());
  if (!c || !gst_video_info_from_caps(&info, c)) {  // colorimetry not valid for this format
    if (c) gst_caps_unref(c);
    return 0;
  }
  gst_caps_unref(c);
  GstHarness* h = harness[roi_list];
  gst_harness_set_src_caps_str(h, caps.c_str());
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, info.size, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (size_t i = 0; i < map.size; ++i) map.data[i] = in.empty() ? 0x80 : in[i % in.size()];
  gst_buffer_unmap(buf, &map);
  for (int i = 0; i < boxes; ++i)
    gst_buffer_add_video_region_of_interest_meta(buf, "face", box[i].x, box[i].y, box[i].w,
                                                 box[i].h);
  if (gst_harness_push(h, buf) != GST_FLOW_OK) {
    std::fprintf(stderr, "fuzz_frame: push failed for %s\n", caps.c_str());
    std::abort();
  }
  GstBuffer* out = gst_harness_pull(h);
  if (!out) {
    std::fprintf(stderr, "fuzz_frame: no output for %s\n", caps.c_str());
    std::abort();
  }
  gst_buffer_unref(out);
  // The harness queues every event that reaches its sink (a caps event per input): drop them,
  // or the process grows by a few KB an input (seen as rss in libFuzzer's status lines).
  while (GstEvent* e = gst_harness_try_pull_event(h)) gst_event_unref(e);
  while (GstEvent* e = gst_harness_try_pull_upstream_event(h)) gst_event_unref(e);
  return 0;
}
