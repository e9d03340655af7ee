// Shared fixtures of the alexnetclassify tests: the GStreamer environment, generated weights
// files, frames, a GstHarness wrapper, and checks of results against the library's own
// classification of the same pixels.
#pragma once
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/classifier.h"
#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/weights.h"
#include "gstalexnetmeta.h"
#include "overlay.h"

namespace fs = std::filesystem;

namespace element_test {

inline std::string g_files_dir;  // removed at the end of the run

// --- environment -------------------------------------------------------------------------

class GstEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    g_log_set_always_fatal(static_cast<GLogLevelFlags>(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL));
    GstElementFactory* f = gst_element_factory_find("alexnetclassify");
    ASSERT_NE(f, nullptr) << "alexnetclassify not found (GST_PLUGIN_PATH?)";
    gst_object_unref(f);
  }
  void TearDown() override {
    std::error_code ec;
    if (!g_files_dir.empty()) fs::remove_all(g_files_dir, ec);
    // With GST_TRACERS=leaks, gst_deinit() warns about every object still alive: fatal.
    if (g_getenv("ALEXNET_TEST_LEAKS"))
      g_log_set_always_fatal(static_cast<GLogLevelFlags>(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL |
                                                         G_LOG_LEVEL_WARNING));
    gst_deinit();
  }
};

// Weights files shared by all tests: two models with different weights and labels, a
// corrupt file and a labels file of the wrong length.
struct Files {
  fs::path dir;
  std::string a, b, corrupt, truncated, labels_ok, labels_bad;
};

inline const Files& files() {
  static Files f = [] {
    Files x;
    std::string tmpl = (fs::temp_directory_path() / "alexnet-element-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    x.dir = tmpl;
    g_files_dir = tmpl;
    alexnet::NetConfig cfg = alexnet::NetConfig::by_name("small-32", 10);
    alexnet::Model ma = alexnet::random_model(cfg, 1);
    for (int i = 0; i < 10; ++i) ma.labels[static_cast<size_t>(i)] = "animal_" + std::to_string(i);
    x.a = (x.dir / "a.safetensors").string();
    alexnet::save_model(ma, x.a);
    alexnet::Model mb = alexnet::random_model(cfg, 2);
    x.b = (x.dir / "b.safetensors").string();
    alexnet::save_model(mb, x.b);
    x.corrupt = (x.dir / "corrupt.safetensors").string();
    std::ofstream(x.corrupt, std::ios::binary) << "this is not a safetensors file at all";
    // a real file cut short
    x.truncated = (x.dir / "truncated.safetensors").string();
    {
      std::ifstream in(x.a, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::ofstream(x.truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    }
    x.labels_ok = (x.dir / "labels.txt").string();
    {
      std::ofstream o(x.labels_ok);
      for (int i = 0; i < 10; ++i) o << "thing " << i << "\n";
    }
    x.labels_bad = (x.dir / "labels3.txt").string();
    std::ofstream(x.labels_bad) << "one\ntwo\nthree\n";
    return x;
  }();
  return f;
}

// The library's own classification (one CPU thread, like the element in these tests).
inline alexnet::TopK reference(const std::string& path, const alexnet::Frame& frame, int k,
                               const std::string& labels = "") {
  static std::map<std::string, std::unique_ptr<alexnet::Classifier>> cache;
  auto& c = cache[path + "|" + labels];
  if (!c)
    c = std::make_unique<alexnet::Classifier>(alexnet::load_model(path, labels),
                                              alexnet::ClassifierOptions{"cpu", 1});
  return c->classify({&frame, 1}, k, 0).at(0);
}

inline int g_gobject_warnings = 0;
inline void count_warning(const gchar*, GLogLevelFlags, const gchar*, gpointer) {
  ++g_gobject_warnings;
}

// --- frames --------------------------------------------------------------------------------

const char* const kFormats[] = {"RGB",  "BGR",  "RGBx",  "BGRx", "xRGB", "xBGR",
                                "RGBA", "BGRA", "GRAY8", "I420", "NV12"};

inline std::string caps_str(const std::string& format, int w, int h,
                            const std::string& extra = "") {
  return "video/x-raw,format=" + format + ",width=" + std::to_string(w) +
         ",height=" + std::to_string(h) + ",framerate=30/1" + extra;
}

inline GstVideoInfo info_of(const std::string& caps) {
  GstCaps* c = gst_caps_from_string(caps.c_str());
  GstVideoInfo info;
  gst_video_info_init(&info);
  EXPECT_TRUE(gst_video_info_from_caps(&info, c));
  gst_caps_unref(c);
  return info;
}

// Random bytes; smooth-ish so that frames differ in content, not only in noise.
inline GstBuffer* make_buffer(const GstVideoInfo& info, uint32_t seed, GstClockTime pts) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_WRITE);
  std::mt19937 rng(seed);
  const int base = static_cast<int>(rng() % 200);
  for (gsize i = 0; i < map.size; ++i)
    map.data[i] = static_cast<uint8_t>(base + static_cast<int>(rng() % 56));
  gst_buffer_unmap(b, &map);
  GST_BUFFER_PTS(b) = pts;
  GST_BUFFER_DURATION(b) = GST_SECOND / 30;
  return b;
}

// The frame descriptor of a tightly packed buffer's bytes (what the element should build).
inline alexnet::Frame frame_of(const GstVideoInfo& info, const uint8_t* data) {
  alexnet::Frame f;
  f.format =
      alexnet::pixel_format_from_name(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info)));
  f.width = GST_VIDEO_INFO_WIDTH(&info);
  f.height = GST_VIDEO_INFO_HEIGHT(&info);
  for (guint i = 0; i < GST_VIDEO_INFO_N_PLANES(&info) && i < 3; ++i) {
    f.planes[i] = data + GST_VIDEO_INFO_PLANE_OFFSET(&info, i);
    f.strides[i] = GST_VIDEO_INFO_PLANE_STRIDE(&info, i);
  }
  f.matrix = info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709 ? alexnet::ColorMatrix::BT709
                                                                     : alexnet::ColorMatrix::BT601;
  f.range = info.colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? alexnet::ColorRange::Full
                                                                  : alexnet::ColorRange::Limited;
  return f;
}

inline std::vector<uint8_t> bytes_of(GstBuffer* b) {
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_READ);
  std::vector<uint8_t> v(map.data, map.data + map.size);
  gst_buffer_unmap(b, &map);
  return v;
}

// --- the element ---------------------------------------------------------------------------

inline GstStaticPadTemplate any_src =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
inline GstStaticPadTemplate any_sink =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

// A harnessed alexnetclassify (PLAYING) with its own bus; properties are set before it starts.
// ThreadSanitizer (scripts/sanitize --tsan) cannot see GLib's locks: Debian's GLib is not
// instrumented. So a buffer the element finished on its own thread, handed to the test through
// GstHarness's GAsyncQueue, looks racy. These annotations state that hand-off to TSan: release
// when the element pushes (a probe on its src pad), acquire when the test pulls. Without TSan
// they compile to nothing.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline GstPadProbeReturn tsan_release_buffer(GstPad*, GstPadProbeInfo* info, gpointer) {
  __tsan_release(GST_PAD_PROBE_INFO_BUFFER(info));
  return GST_PAD_PROBE_OK;
}
inline GstBuffer* tsan_pull(GstHarness* h) {
  GstBuffer* b = (gst_harness_pull)(h);  // the function, not the macro below
  if (b) __tsan_acquire(b);
  return b;
}
#define gst_harness_pull(h) element_test::tsan_pull(h)
#endif

struct Harness {
  GstHarness* h = nullptr;
  GstElement* el = nullptr;
  GstBus* bus = nullptr;

  explicit Harness(std::initializer_list<std::pair<const char*, std::string>> props = {},
                   bool with_model = true) {
    el = gst_element_factory_make("alexnetclassify", nullptr);
    bus = gst_bus_new();
    gst_element_set_bus(el, bus);
    if (with_model) g_object_set(el, "model", files().a.c_str(), "threads", 1u, nullptr);
    for (const auto& [name, value] : props)
      gst_util_set_object_arg(G_OBJECT(el), name, value.c_str());
    h = gst_harness_new_empty();
    gst_harness_add_element_full(h, el, &any_src, "sink", &any_sink, "src");
#if defined(__SANITIZE_THREAD__)
    GstPad* src = gst_element_get_static_pad(el, "src");
    gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, tsan_release_buffer, nullptr, nullptr);
    gst_object_unref(src);
#endif
  }
  ~Harness() {
    gst_harness_teardown(h);
    gst_element_set_bus(el, nullptr);
    gst_object_unref(el);
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
  }
  void caps(const std::string& c) {
    gst_harness_set_src_caps_str(h, c.c_str());
  }
  // Sets the source caps and returns their video info.
  GstVideoInfo video(const std::string& c) {
    caps(c);
    return info_of(c);
  }
  GstMessage* pop(GstMessageType type, GstClockTime timeout = 0) {
    return gst_bus_timed_pop_filtered(bus, timeout, type);
  }
  guint64 stat(const char* name) {
    guint64 v = 0;
    g_object_get(el, name, &v, nullptr);
    return v;
  }
};

struct Gobj {  // unrefs a GstMiniObject
  GstMiniObject* p;
  ~Gobj() {
    if (p) gst_mini_object_unref(p);
  }
};

inline const GstStructure* roi_param(GstBuffer* b) {
  GstVideoRegionOfInterestMeta* roi = gst_buffer_get_video_region_of_interest_meta(b);
  if (!roi) return nullptr;
  EXPECT_STREQ(g_quark_to_string(roi->roi_type), "classification");
  return gst_video_region_of_interest_meta_get_param(roi, "classification");
}

// The result fields of a ROI param or a message equal the reference.
inline void expect_result(const GstStructure* s, const alexnet::TopK& ref) {
  ASSERT_NE(s, nullptr);
  ASSERT_FALSE(ref.empty());
  EXPECT_STREQ(gst_structure_get_string(s, "label"), ref[0].label.c_str());
  gint id = -1;
  EXPECT_TRUE(gst_structure_get_int(s, "label_id", &id));
  EXPECT_EQ(id, ref[0].index);
  gdouble conf = -1;
  EXPECT_TRUE(gst_structure_get_double(s, "confidence", &conf));
  EXPECT_NEAR(conf, ref[0].probability, 1e-5);
  const GValue* ids = gst_structure_get_value(s, "ids");
  const GValue* labels = gst_structure_get_value(s, "labels");
  const GValue* scores = gst_structure_get_value(s, "scores");
  ASSERT_TRUE(ids && labels && scores);
  ASSERT_EQ(gst_value_array_get_size(ids), ref.size());
  ASSERT_EQ(gst_value_array_get_size(labels), ref.size());
  ASSERT_EQ(gst_value_array_get_size(scores), ref.size());
  for (guint i = 0; i < ref.size(); ++i) {
    EXPECT_EQ(g_value_get_int(gst_value_array_get_value(ids, i)), ref[i].index);
    EXPECT_STREQ(g_value_get_string(gst_value_array_get_value(labels, i)), ref[i].label.c_str());
    EXPECT_NEAR(g_value_get_double(gst_value_array_get_value(scores, i)), ref[i].probability, 1e-5);
  }
}

inline void expect_meta(GstBuffer* b, const alexnet::TopK& ref, const char* model) {
  GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(b);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->n, ref.size());
  for (guint i = 0; i < m->n; ++i) {
    EXPECT_EQ(m->ids[i], ref[i].index);
    EXPECT_STREQ(m->labels[i], ref[i].label.c_str());
    EXPECT_NEAR(m->scores[i], ref[i].probability, 1e-5);
  }
  EXPECT_STREQ(m->model, model);
}

// Pushes one frame of `caps` and returns the output with the reference of its input.
struct Pushed {
  GstBuffer* out = nullptr;
  alexnet::TopK ref;
  std::vector<uint8_t> in;
  ~Pushed() {
    if (out) gst_buffer_unref(out);
  }
};

inline std::unique_ptr<Pushed> push_frame(Harness& hx, const GstVideoInfo& info, uint32_t seed,
                                          GstClockTime pts, int k = 5,
                                          const std::string& model = files().a) {
  auto p = std::make_unique<Pushed>();
  GstBuffer* in = make_buffer(info, seed, pts);
  p->in = bytes_of(in);
  alexnet::Frame f = frame_of(info, p->in.data());
  p->ref = reference(model, f, k);
  EXPECT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  p->out = gst_harness_pull(hx.h);
  return p;
}

// After a model set while streaming (loaded in the background): pushes frames until one comes
// out classified by b.safetensors, up to 500 tries 10 ms apart, and checks that frame against
// the library's classification with that model. False if the swap never came.
inline bool wait_for_model_b(Harness& hx, const GstVideoInfo& info, uint32_t seed) {
  for (int i = 0; i < 500; ++i) {
    auto p =
        push_frame(hx, info, seed, static_cast<GstClockTime>(i + 1) * GST_MSECOND, 5, files().b);
    GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(p->out);
    EXPECT_NE(m, nullptr);
    if (m && std::string(m->model) == "b.safetensors") {
      expect_meta(p->out, p->ref, "b.safetensors");
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Pushes n frames (seeds seed0, seed0+1, …; pts i ms) and returns each one's reference top-k.
inline std::vector<alexnet::TopK> push_frames(Harness& hx, const GstVideoInfo& info, uint32_t seed0,
                                              int n, int k = 5) {
  std::vector<alexnet::TopK> refs;
  for (int i = 0; i < n; ++i) {
    GstBuffer* in = make_buffer(info, seed0 + static_cast<uint32_t>(i),
                                static_cast<GstClockTime>(i) * GST_MSECOND);
    auto bytes = bytes_of(in);
    refs.push_back(reference(files().a, frame_of(info, bytes.data()), k));
    EXPECT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK) << "frame " << i;
  }
  return refs;
}

// Pulls frame i of push_frames: checks its pts and its GstAlexNetMeta against refs[i].
// Returns the buffer (the caller unrefs it), or null when none came.
inline GstBuffer* pull_frame(Harness& hx, const std::vector<alexnet::TopK>& refs, int i) {
  GstBuffer* out = gst_harness_pull(hx.h);
  EXPECT_NE(out, nullptr) << "frame " << i;
  if (!out) return nullptr;
  EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_MSECOND);
  expect_meta(out, refs.at(static_cast<size_t>(i)), "a.safetensors");
  return out;
}

// The text of an error or warning message (which it unrefs); "" for null.
inline std::string message_text(GstMessage* m) {
  if (!m) return "";
  GError* err = nullptr;
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR)
    gst_message_parse_error(m, &err, nullptr);
  else
    gst_message_parse_warning(m, &err, nullptr);
  std::string text = err ? err->message : "";
  if (err) g_error_free(err);
  gst_message_unref(m);
  return text;
}

// --- tests -----------------------------------------------------------------------------------

// Runs a gst-launch description to EOS or an error (120 s at most) and frees it. Returns ""
// on EOS, else the error's text. probe: on the sink pad of the element named "out", for
// buffers; during: called once the pipeline was set to PLAYING; keep: the element named
// "pub" (a reference), taken before the pipeline is freed; on_element: each element message's
// structure, in the bus's order.
inline std::string run_pipeline(
    const std::string& description, GstPadProbeCallback probe = nullptr,
    gpointer probe_data = nullptr, const std::function<void()>& during = nullptr,
    GstElement** keep = nullptr,
    const std::function<void(const GstStructure*)>& on_element = nullptr) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(description.c_str(), &err);
  if (err) {
    std::string e = err->message;
    g_error_free(err);
    if (p) gst_object_unref(p);
    return "parse: " + e;
  }
  if (probe) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "out");
    GstPad* pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, probe, probe_data, nullptr);
    gst_object_unref(pad);
    gst_object_unref(sink);
  }
  gst_element_set_state(p, GST_STATE_PLAYING);
  if (during) during();
  GstBus* bus = gst_element_get_bus(p);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  GstMessage* msg = nullptr;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        end - std::chrono::steady_clock::now());
    msg = gst_bus_timed_pop_filtered(
        bus, left.count() > 0 ? static_cast<GstClockTime>(left.count()) : 0,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    if (!msg || GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ELEMENT) break;
    if (on_element && gst_message_get_structure(msg)) on_element(gst_message_get_structure(msg));
    gst_message_unref(msg);
  }
  std::string error;
  if (!msg) {
    error = "timed out";
  } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    error = e ? e->message : "error";
    g_clear_error(&e);
  }
  if (msg) gst_message_unref(msg);
  if (keep) *keep = gst_bin_get_by_name(GST_BIN(p), "pub");
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
  return error;
}

}  // namespace element_test
