// alexnetclassify through GstHarness: negotiation, metadata and messages against the
// library's own classification of the same pixels, overlay, inference-interval, QoS, model
// loading errors, model swap, caps changes, flushes, EOS and state cycles.
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

namespace {

std::string g_files_dir;  // removed at the end of the run

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
[[maybe_unused]] ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new GstEnvironment);

// Weights files shared by all tests: two models with different weights and labels, a
// corrupt file and a labels file of the wrong length.
struct Files {
  fs::path dir;
  std::string a, b, corrupt, truncated, labels_ok, labels_bad;
};

const Files& files() {
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
alexnet::TopK reference(const std::string& path, const alexnet::Frame& frame, int k,
                        const std::string& labels = "") {
  static std::map<std::string, std::unique_ptr<alexnet::Classifier>> cache;
  auto& c = cache[path + "|" + labels];
  if (!c)
    c = std::make_unique<alexnet::Classifier>(alexnet::load_model(path, labels),
                                              alexnet::ClassifierOptions{"cpu", 1});
  return c->classify({&frame, 1}, k, 0).at(0);
}

int g_gobject_warnings = 0;
void count_warning(const gchar*, GLogLevelFlags, const gchar*, gpointer) { ++g_gobject_warnings; }

// --- frames --------------------------------------------------------------------------------

const char* const kFormats[] = {"RGB",  "BGR",  "RGBx", "BGRx",  "xRGB", "xBGR",
                                "RGBA", "BGRA", "GRAY8", "I420", "NV12"};

std::string caps_str(const std::string& format, int w, int h, const std::string& extra = "") {
  return "video/x-raw,format=" + format + ",width=" + std::to_string(w) +
         ",height=" + std::to_string(h) + ",framerate=30/1" + extra;
}

GstVideoInfo info_of(const std::string& caps) {
  GstCaps* c = gst_caps_from_string(caps.c_str());
  GstVideoInfo info;
  gst_video_info_init(&info);
  EXPECT_TRUE(gst_video_info_from_caps(&info, c));
  gst_caps_unref(c);
  return info;
}

// Random bytes; smooth-ish so that frames differ in content, not only in noise.
GstBuffer* make_buffer(const GstVideoInfo& info, uint32_t seed, GstClockTime pts) {
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
alexnet::Frame frame_of(const GstVideoInfo& info, const uint8_t* data) {
  alexnet::Frame f;
  f.format = alexnet::pixel_format_from_name(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info)));
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

std::vector<uint8_t> bytes_of(GstBuffer* b) {
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_READ);
  std::vector<uint8_t> v(map.data, map.data + map.size);
  gst_buffer_unmap(b, &map);
  return v;
}

// --- the element ---------------------------------------------------------------------------

GstStaticPadTemplate any_src = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
GstStaticPadTemplate any_sink = GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

// A harnessed alexnetclassify (PLAYING) with its own bus; properties are set before it starts.
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
    for (const auto& [name, value] : props) gst_util_set_object_arg(G_OBJECT(el), name, value.c_str());
    h = gst_harness_new_empty();
    gst_harness_add_element_full(h, el, &any_src, "sink", &any_sink, "src");
  }
  ~Harness() {
    gst_harness_teardown(h);
    gst_element_set_bus(el, nullptr);
    gst_object_unref(el);
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
  }
  void caps(const std::string& c) { gst_harness_set_src_caps_str(h, c.c_str()); }
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
  ~Gobj() { if (p) gst_mini_object_unref(p); }
};

const GstStructure* roi_param(GstBuffer* b) {
  GstVideoRegionOfInterestMeta* roi = gst_buffer_get_video_region_of_interest_meta(b);
  if (!roi) return nullptr;
  EXPECT_STREQ(g_quark_to_string(roi->roi_type), "classification");
  return gst_video_region_of_interest_meta_get_param(roi, "classification");
}

// The result fields of a ROI param or a message equal the reference.
void expect_result(const GstStructure* s, const alexnet::TopK& ref) {
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

void expect_meta(GstBuffer* b, const alexnet::TopK& ref, const char* model) {
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
  ~Pushed() { if (out) gst_buffer_unref(out); }
};

std::unique_ptr<Pushed> push_frame(Harness& hx, const GstVideoInfo& info, uint32_t seed,
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

// --- tests -----------------------------------------------------------------------------------

TEST(Element, NegotiatesEveryFormatAndClassifiesItLikeTheLibrary) {
  for (const char* fmt : kFormats) {
    SCOPED_TRACE(fmt);
    Harness hx({{"overlay", "false"}});
    const std::string caps = caps_str(fmt, 37, 29);
    hx.caps(caps);
    GstVideoInfo info = info_of(caps);
    auto p = push_frame(hx, info, 7, 0);
    ASSERT_NE(p->out, nullptr);
    GstCaps* out_caps = gst_pad_get_current_caps(hx.h->sinkpad);
    GstCaps* want = gst_caps_from_string(caps.c_str());
    EXPECT_TRUE(gst_caps_is_equal(out_caps, want));
    gst_caps_unref(out_caps);
    gst_caps_unref(want);
    EXPECT_EQ(bytes_of(p->out), p->in) << "overlay=false must leave the pixels alone";
    expect_result(roi_param(p->out), p->ref);
    expect_meta(p->out, p->ref, "a.safetensors");
    GstVideoRegionOfInterestMeta* roi = gst_buffer_get_video_region_of_interest_meta(p->out);
    EXPECT_EQ(roi->x, 0u);
    EXPECT_EQ(roi->y, 0u);
    EXPECT_EQ(roi->w, 37u);
    EXPECT_EQ(roi->h, 29u);
  }
}

TEST(Element, RefusesOtherFormats) {
  Harness hx;
  GstCaps* c = gst_caps_from_string(caps_str("YUY2", 32, 32).c_str());
  GstCaps* allowed = gst_pad_query_caps(GST_BASE_TRANSFORM_SINK_PAD(hx.el), nullptr);
  EXPECT_FALSE(gst_caps_can_intersect(c, allowed));
  gst_caps_unref(allowed);
  gst_caps_unref(c);
}

TEST(Element, ColorimetryReachesTheFrameDescriptor) {
  for (const char* colorimetry : {"bt709", "bt601", "1:4:0:0" /* full range BT.601 */}) {
    SCOPED_TRACE(colorimetry);
    Harness hx({{"overlay", "false"}});
    const std::string caps = caps_str("I420", 40, 30, std::string(",colorimetry=") + colorimetry);
    hx.caps(caps);
    GstVideoInfo info = info_of(caps);
    auto p = push_frame(hx, info, 3, 0);
    expect_result(roi_param(p->out), p->ref);
  }
}

TEST(Element, PostsMessagesEqualToTheLibrary) {
  Harness hx({{"overlay", "false"}, {"post-messages", "true"}, {"top-k", "3"}});
  const std::string caps = caps_str("BGRx", 48, 36);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  for (int i = 0; i < 3; ++i) {
    const GstClockTime pts = static_cast<GstClockTime>(i) * GST_SECOND / 30;
    auto p = push_frame(hx, info, 100 + static_cast<uint32_t>(i), pts, 3);
    expect_result(roi_param(p->out), p->ref);
    GstMessage* m = hx.pop(GST_MESSAGE_ELEMENT);
    ASSERT_NE(m, nullptr);
    const GstStructure* s = gst_message_get_structure(m);
    EXPECT_TRUE(gst_structure_has_name(s, "alexnet-classification"));
    guint64 mpts = 0, rt = 0;
    EXPECT_TRUE(gst_structure_get_uint64(s, "pts", &mpts));
    EXPECT_TRUE(gst_structure_get_uint64(s, "running-time", &rt));
    EXPECT_EQ(mpts, pts);
    EXPECT_EQ(rt, pts);
    expect_result(s, p->ref);
    gst_message_unref(m);
  }
}

TEST(Element, LabelsFileOverridesTheModelsLabels) {
  Harness hx({{"overlay", "false"}, {"labels-file", files().labels_ok}});
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  GstBuffer* in = make_buffer(info, 5, 0);
  auto bytes = bytes_of(in);
  alexnet::Frame f = frame_of(info, bytes.data());
  alexnet::TopK ref = reference(files().a, f, 5, files().labels_ok);
  ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  expect_result(roi_param(out), ref);
  EXPECT_EQ(std::string(gst_buffer_get_alexnet_meta(out)->labels[0]).rfind("thing ", 0), 0u);
  gst_buffer_unref(out);
}

TEST(Element, OverlayChangesPixelsInItsBoxOnly) {
  for (const char* fmt : {"RGB", "BGRA", "GRAY8", "I420", "NV12"}) {
    for (const char* pos : {"top-left", "bottom-right"}) {
      SCOPED_TRACE(std::string(fmt) + " " + pos);
      Harness hx({{"overlay", "true"}, {"overlay-position", pos}, {"top-k", "2"}});
      const std::string caps = caps_str(fmt, 161, 121);
      hx.caps(caps);
      GstVideoInfo info = info_of(caps);
      auto p = push_frame(hx, info, 11, 0, 2);
      std::vector<uint8_t> out = bytes_of(p->out);
      ASSERT_EQ(out.size(), p->in.size());
      EXPECT_NE(out, p->in);
      // every changed luma/packed byte lies inside the box of the same lines
      std::vector<std::string> lines;
      for (const auto& pr : p->ref) {
        char buf[32];
        std::snprintf(buf, sizeof buf, " %.2f", static_cast<double>(pr.probability));
        lines.push_back(pr.label + buf);
      }
      alexnet::gst::Rect box = alexnet::gst::text_box(
          161, 121, lines,
          std::string(pos) == "top-left" ? alexnet::gst::OverlayPosition::TopLeft
                                         : alexnet::gst::OverlayPosition::BottomRight,
          1.0);
      ASSERT_FALSE(box.empty());
      const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
      const int bpp = GST_VIDEO_INFO_COMP_PSTRIDE(&info, 0);
      int outside = 0, inside = 0;
      for (int y = 0; y < 121; ++y)
        for (int x = 0; x < 161 * bpp; ++x) {
          const size_t i = static_cast<size_t>(y * stride + x);
          if (out[i] == p->in[i]) continue;
          const int px = x / bpp;
          if (px >= box.x && px < box.x + box.w && y >= box.y && y < box.y + box.h) ++inside;
          else ++outside;
        }
      EXPECT_GT(inside, 0);
      EXPECT_EQ(outside, 0);
    }
  }
}

TEST(Element, ThresholdHidesLowLabelsFromTheOverlayOnly) {
  Harness hx({{"threshold", "1.0"}, {"top-k", "3"}});
  const std::string caps = caps_str("RGB", 64, 64);
  hx.caps(caps);
  auto p = push_frame(hx, info_of(caps), 9, 0, 3);
  EXPECT_EQ(bytes_of(p->out), p->in) << "no label reaches 1.0: nothing drawn";
  expect_meta(p->out, p->ref, "a.safetensors");  // metadata still has the top-k
}

TEST(Element, InferenceIntervalCarriesTheLastResult) {
  Harness hx({{"inference-interval", "3"}, {"post-messages", "true"}});
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  alexnet::TopK carried;
  for (int i = 0; i < 7; ++i) {
    auto p = push_frame(hx, info, 200 + static_cast<uint32_t>(i),
                        static_cast<GstClockTime>(i) * GST_SECOND / 30);
    const bool classified = i % 3 == 0;
    if (classified) carried = p->ref;
    expect_meta(p->out, carried, "a.safetensors");
    EXPECT_NE(bytes_of(p->out), p->in) << "overlay drawn on every frame";
    GstMessage* m = hx.pop(GST_MESSAGE_ELEMENT);
    ASSERT_NE(m, nullptr);
    gboolean c = !classified;
    gst_structure_get_boolean(gst_message_get_structure(m), "classified", &c);
    EXPECT_EQ(static_cast<bool>(c), classified) << "frame " << i;
    gst_message_unref(m);
  }
  EXPECT_EQ(hx.stat("frames-classified"), 3u);
  EXPECT_EQ(hx.stat("frames-skipped"), 4u);
  gdouble lat = 0;
  g_object_get(hx.el, "mean-latency", &lat, nullptr);
  EXPECT_GT(lat, 0.0);
}

void qos_test(const char* batch) {
  SCOPED_TRACE(std::string("batch-size ") + batch);
  Harness hx({{"post-messages", "true"}, {"batch-size", batch}, {"batch-timeout", "5"}});
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  auto first = push_frame(hx, info, 1, 0);
  // downstream: everything before 1 s is late
  ASSERT_TRUE(gst_harness_push_upstream_event(
      hx.h, gst_event_new_qos(GST_QOS_TYPE_UNDERFLOW, 1.5, 0, GST_SECOND)));
  auto late = push_frame(hx, info, 2, GST_SECOND / 2);
  ASSERT_NE(late->out, nullptr) << "late frames still pass";
  expect_meta(late->out, first->ref, "a.safetensors");
  GstMessage* qos = hx.pop(GST_MESSAGE_QOS);
  ASSERT_NE(qos, nullptr);
  guint64 processed = 0, dropped = 0;
  GstFormat fmt;
  gst_message_parse_qos_stats(qos, &fmt, &processed, &dropped);
  EXPECT_EQ(fmt, GST_FORMAT_BUFFERS);
  EXPECT_EQ(dropped, 1u);
  gst_message_unref(qos);
  auto on_time = push_frame(hx, info, 3, 2 * GST_SECOND);
  expect_meta(on_time->out, on_time->ref, "a.safetensors");
  EXPECT_EQ(hx.stat("frames-classified"), 2u);
  EXPECT_EQ(hx.stat("frames-skipped"), 1u);

  // with qos off, nothing is skipped
  g_object_set(hx.el, "qos", FALSE, nullptr);
  ASSERT_TRUE(gst_harness_push_upstream_event(
      hx.h, gst_event_new_qos(GST_QOS_TYPE_UNDERFLOW, 1.5, 0, 10 * GST_SECOND)));
  auto p = push_frame(hx, info, 4, 3 * GST_SECOND);
  expect_meta(p->out, p->ref, "a.safetensors");
}

TEST(Element, QosSkipsInferenceForLateFramesButNeverDropsThem) { qos_test("1"); }
TEST(Concurrent, QosSkipsInferenceForLateFramesButNeverDropsThem) { qos_test("2"); }

TEST(Element, AnswersTheLatencyQueryWithItsProcessingTime) {
  Harness hx;
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  auto p = push_frame(hx, info_of(caps), 1, 0);
  GstMessage* m = hx.pop(GST_MESSAGE_LATENCY);
  EXPECT_NE(m, nullptr);
  if (m) gst_message_unref(m);
  EXPECT_GT(gst_harness_query_latency(hx.h), 0u);
}

TEST(Element, TwoCpuWorkersKeepTheOrder) {
  Harness hx({{"device", "cpu,cpu"}, {"threads", "2"}, {"overlay", "false"}});
  const std::string caps = caps_str("NV12", 50, 40);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  std::vector<alexnet::TopK> refs;
  for (int i = 0; i < 8; ++i) {
    GstBuffer* in = make_buffer(info, 300 + static_cast<uint32_t>(i), static_cast<GstClockTime>(i) * GST_MSECOND);
    auto bytes = bytes_of(in);
    alexnet::Frame f = frame_of(info, bytes.data());
    refs.push_back(reference(files().a, f, 5));
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  }
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));  // the last ones leave
  for (int i = 0; i < 8; ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_MSECOND);
    expect_meta(out, refs[static_cast<size_t>(i)], "a.safetensors");
    gst_buffer_unref(out);
  }
  gchar* dev = nullptr;
  g_object_get(hx.el, "device", &dev, nullptr);
  EXPECT_STREQ(dev, "cpu,cpu");
  g_free(dev);
}

// A serialized event: the element pushes every frame it holds before it.
void drain(Harness& hx) {
  ASSERT_TRUE(gst_harness_push_event(
      hx.h, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_new_empty("drain"))));
}

TEST(Concurrent, BatchesKeepOrderAndMatchTheLibrary) {
  for (const char* device : {"cpu", "cpu,cpu"}) {
    SCOPED_TRACE(device);
    Harness hx({{"device", device}, {"threads", "2"}, {"batch-size", "4"}, {"batch-timeout", "10000"},
                {"overlay", "false"}, {"post-messages", "true"}, {"top-k", "3"}});
    const std::string caps = caps_str("I420", 41, 33);
    hx.caps(caps);
    GstVideoInfo info = info_of(caps);
    std::vector<alexnet::TopK> refs;
    for (int i = 0; i < 10; ++i) {
      GstBuffer* in = make_buffer(info, 400 + static_cast<uint32_t>(i), static_cast<GstClockTime>(i) * GST_MSECOND);
      auto bytes = bytes_of(in);
      alexnet::Frame f = frame_of(info, bytes.data());
      refs.push_back(reference(files().a, f, 3));
      ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    }
    ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));  // the partial batch goes
    for (int i = 0; i < 10; ++i) {
      GstBuffer* out = gst_harness_pull(hx.h);
      ASSERT_NE(out, nullptr);
      EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_MSECOND);
      expect_meta(out, refs[static_cast<size_t>(i)], "a.safetensors");
      expect_result(roi_param(out), refs[static_cast<size_t>(i)]);
      gst_buffer_unref(out);
      GstMessage* m = hx.pop(GST_MESSAGE_ELEMENT);
      ASSERT_NE(m, nullptr);
      guint64 pts = 0;
      gst_structure_get_uint64(gst_message_get_structure(m), "pts", &pts);
      EXPECT_EQ(pts, static_cast<GstClockTime>(i) * GST_MSECOND);
      gst_message_unref(m);
    }
    EXPECT_EQ(hx.stat("frames-classified"), 10u);
  }
}

TEST(Concurrent, PartialBatchWaitsForTimeoutOrEos) {
  Harness hx({{"batch-size", "2"}, {"batch-timeout", "10000"}});
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, 1, 0)), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_try_pull(hx.h), nullptr) << "held until the batch fills";
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  GstBuffer* out = gst_harness_try_pull(hx.h);
  ASSERT_NE(out, nullptr);
  EXPECT_NE(gst_buffer_get_alexnet_meta(out), nullptr);
  gst_buffer_unref(out);

  // with a short timeout, a partial batch goes once its first frame has waited
  Harness h2({{"batch-size", "8"}, {"batch-timeout", "20"}, {"overlay", "false"}});
  h2.caps(caps);
  ASSERT_EQ(gst_harness_push(h2.h, make_buffer(info, 1, 0)), GST_FLOW_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  ASSERT_EQ(gst_harness_push(h2.h, make_buffer(info, 2, GST_MSECOND)), GST_FLOW_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  // the timed-out partial batch [0, 1] leaves with a later frame, long before 8 have come
  out = nullptr;
  for (int i = 2; i < 7 && !out; ++i) {
    ASSERT_EQ(gst_harness_push(h2.h, make_buffer(info, static_cast<uint32_t>(i + 1), static_cast<GstClockTime>(i) * GST_MSECOND)), GST_FLOW_OK);
    out = gst_harness_try_pull(h2.h);
    if (!out) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(out, nullptr) << "the timed-out partial batch did not leave";
  EXPECT_EQ(GST_BUFFER_PTS(out), 0u);
  gst_buffer_unref(out);
  // fill time bounded by batch-timeout (20 ms, not 7 frames = 233 ms)
  const GstClockTime latency = gst_harness_query_latency(h2.h);
  gdouble mean_us = 0;  // the classification time, also part of the latency
  g_object_get(h2.el, "mean-latency", &mean_us, nullptr);
  EXPECT_GE(latency, 20 * GST_MSECOND);
  EXPECT_LT(latency, static_cast<GstClockTime>(mean_us * 1000) + 200 * GST_MSECOND);
}

TEST(Concurrent, FramesLeaveWhenDoneWithoutFurtherInput) {
  Harness hx({{"batch-size", "4"}, {"batch-timeout", "30"}, {"device", "cpu,cpu"}, {"threads", "2"}});
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  for (int i = 0; i < 6; ++i)  // one full batch, one partial
    ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, static_cast<uint32_t>(i), static_cast<GstClockTime>(i) * GST_MSECOND)), GST_FLOW_OK);
  for (int i = 0; i < 6; ++i) {  // gst_harness_pull waits up to 60 s
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr) << "frame " << i;
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_MSECOND);
    gst_buffer_unref(out);
  }
}

TEST(Concurrent, LatencyIncludesTheBatchFillTime) {
  Harness hx({{"batch-size", "4"}, {"batch-timeout", "500"}});
  hx.caps(caps_str("RGB", 32, 32));
  // 3 frames at 30 fps to fill a batch
  EXPECT_GE(gst_harness_query_latency(hx.h), 3 * GST_SECOND / 30);
  EXPECT_LT(gst_harness_query_latency(hx.h), 200 * GST_MSECOND);  // nothing classified yet
}

TEST(Concurrent, FlushDropsHeldFrames) {
  Harness hx({{"batch-size", "4"}, {"batch-timeout", "10000"}});
  const std::string caps = caps_str("RGBx", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, static_cast<uint32_t>(i), 0)), GST_FLOW_OK);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_stop(TRUE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_segment(&seg)));
  EXPECT_EQ(gst_harness_buffers_in_queue(hx.h), 0u);
  ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, 9, 5 * GST_SECOND)), GST_FLOW_OK);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  EXPECT_EQ(gst_harness_buffers_in_queue(hx.h), 1u);
  GstBuffer* out = gst_harness_pull(hx.h);
  EXPECT_EQ(GST_BUFFER_PTS(out), 5 * GST_SECOND);
  gst_buffer_unref(out);
}

TEST(Concurrent, CapsChangeWithHeldFrames) {
  Harness hx({{"batch-size", "3"}, {"batch-timeout", "10000"}, {"device", "cpu,cpu"}, {"threads", "2"},
              {"overlay", "false"}});
  std::vector<alexnet::TopK> refs;
  std::vector<int> widths;
  struct Step { const char* fmt; int w, h; };
  for (Step st : {Step{"RGB", 32, 24}, Step{"NV12", 66, 46}, Step{"GRAY8", 21, 19}}) {
    const std::string caps = caps_str(st.fmt, st.w, st.h);
    hx.caps(caps);
    GstVideoInfo info = info_of(caps);
    for (int i = 0; i < 2; ++i) {
      GstBuffer* in = make_buffer(info, static_cast<uint32_t>(st.w + i), 0);
      auto bytes = bytes_of(in);
      alexnet::Frame f = frame_of(info, bytes.data());
      refs.push_back(reference(files().a, f, 5));
      widths.push_back(st.w);
      ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    }
  }
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  for (size_t i = 0; i < refs.size(); ++i) {
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    expect_meta(out, refs[i], "a.safetensors");
    EXPECT_EQ(gst_buffer_get_video_region_of_interest_meta(out)->w, static_cast<guint>(widths[i]));
    gst_buffer_unref(out);
  }
}

TEST(Concurrent, ModelSwapAndIntervalWithBatches) {
  Harness hx({{"batch-size", "2"}, {"batch-timeout", "10000"}, {"inference-interval", "2"},
              {"overlay", "false"}, {"post-messages", "true"}});
  const std::string caps = caps_str("BGR", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  g_object_set(hx.el, "model", files().b.c_str(), nullptr);
  bool swapped = false;
  int classified = 0, carried_frames = 0;
  alexnet::TopK carried;
  std::string carried_model;
  for (int round = 0; round < 300 && !swapped; ++round) {
    std::vector<std::vector<uint8_t>> ins;
    for (int i = 0; i < 4; ++i) {
      GstBuffer* in = make_buffer(info, static_cast<uint32_t>(round * 4 + i), 0);
      ins.push_back(bytes_of(in));
      ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    }
    drain(hx);
    for (int i = 0; i < 4; ++i) {
      GstBuffer* out = gst_harness_pull(hx.h);
      ASSERT_NE(out, nullptr);
      GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(out);
      ASSERT_NE(m, nullptr);
      const std::string model = m->model;
      GstMessage* msg = hx.pop(GST_MESSAGE_ELEMENT);
      ASSERT_NE(msg, nullptr);
      gboolean was_classified = FALSE;
      gst_structure_get_boolean(gst_message_get_structure(msg), "classified", &was_classified);
      gst_message_unref(msg);
      if (was_classified) {
        ++classified;
        carried = reference(model == "b.safetensors" ? files().b : files().a,
                            frame_of(info, ins[static_cast<size_t>(i)].data()), 5);
        carried_model = model;
      } else {
        ++carried_frames;
        EXPECT_EQ(model, carried_model) << "a carried result keeps its model";
      }
      expect_meta(out, carried, carried_model.c_str());
      if (model == "b.safetensors") swapped = true;
      gst_buffer_unref(out);
    }
    if (!swapped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(swapped);
  EXPECT_GT(classified, 0);
  EXPECT_GT(carried_frames, 0);
}

TEST(Concurrent, TwentyNullPlayingCycles) {
  const std::string desc = "videotestsrc num-buffers=5 ! video/x-raw,format=NV12,width=64,height=48 ! "
                           "alexnetclassify threads=2 device=cpu,cpu batch-size=2 model=\"" + files().a +
                           "\" ! fakesink";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  ASSERT_NE(pipeline, nullptr);
  GstBus* bus = gst_element_get_bus(pipeline);
  for (int i = 0; i < 20; ++i) {
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    if (i % 2 == 0) {
      GstMessage* m = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND,
          static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
      ASSERT_NE(m, nullptr) << "cycle " << i;
      EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS) << "cycle " << i;
      gst_message_unref(m);
    }  // odd cycles stop mid-stream, with frames held
    ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  GstElement* el = gst_bin_get_by_name(GST_BIN(pipeline), "alexnetclassify0");
  gst_object_unref(bus);
  if (el) gst_object_unref(el);
  gst_object_unref(pipeline);
}

// --- properties ---------------------------------------------------------------------------


TEST(Element, RefusesInvalidPropertyValuesWithAWarning) {
  GstElement* el = gst_element_factory_make("alexnetclassify", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(el, bus);
  g_object_set(el, "device", "gpu:x", nullptr);
  gchar* dev = nullptr;
  g_object_get(el, "device", &dev, nullptr);
  EXPECT_STREQ(dev, "auto");
  g_free(dev);
  GstMessage* w = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  ASSERT_NE(w, nullptr);
  GError* err = nullptr;
  gst_message_parse_warning(w, &err, nullptr);
  EXPECT_NE(std::string(err->message).find("gpu:x"), std::string::npos) << err->message;
  g_error_free(err);
  gst_message_unref(w);

  // out-of-range numbers: GObject refuses them with a warning and keeps the value
  guint handler = g_log_set_handler("GLib-GObject", G_LOG_LEVEL_WARNING, count_warning, nullptr);
  g_gobject_warnings = 0;
  gst_util_set_object_arg(G_OBJECT(el), "top-k", "0");
  gst_util_set_object_arg(G_OBJECT(el), "batch-size", "1000");
  gst_util_set_object_arg(G_OBJECT(el), "inference-interval", "0");
  GValue v = G_VALUE_INIT;
  g_value_init(&v, G_TYPE_DOUBLE);
  g_value_set_double(&v, 1.5);
  g_object_set_property(G_OBJECT(el), "threshold", &v);
  g_value_unset(&v);
  g_log_remove_handler("GLib-GObject", handler);
  EXPECT_GE(g_gobject_warnings, 1);
  guint topk = 0, batch = 0, interval = 0;
  gdouble threshold = -1;
  g_object_get(el, "top-k", &topk, "batch-size", &batch, "inference-interval", &interval,
               "threshold", &threshold, nullptr);
  EXPECT_EQ(topk, 5u);
  EXPECT_EQ(batch, 1u);
  EXPECT_EQ(interval, 1u);
  EXPECT_EQ(threshold, 0.0);
  gst_element_set_bus(el, nullptr);
  gst_object_unref(el);
  gst_object_unref(bus);
}

void property_thread_test(const char* batch) {
  SCOPED_TRACE(std::string("batch-size ") + batch);
  Harness hx({{"batch-size", batch}, {"batch-timeout", "5"}});
  const std::string caps = caps_str("I420", 64, 48);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  std::atomic<bool> stop{false};
  std::thread t([&] {
    int i = 0;
    while (!stop) {
      g_object_set(hx.el, "top-k", 1u + static_cast<guint>(i % 7), "overlay", i % 2 == 0,
                   "threshold", (i % 5) / 5.0, "font-scale", 0.5 + (i % 3),
                   "overlay-position", i % 4, "inference-interval", 1u + static_cast<guint>(i % 3),
                   "post-messages", i % 2 == 1, nullptr);
      guint64 n;
      g_object_get(hx.el, "frames-classified", &n, nullptr);
      ++i;
    }
  });
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, static_cast<uint32_t>(i), static_cast<GstClockTime>(i) * GST_MSECOND)), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    EXPECT_NE(gst_buffer_get_alexnet_meta(out), nullptr);
    gst_buffer_unref(out);
  }
  stop = true;
  t.join();
}

TEST(Element, PropertyChangesFromAnotherThreadWhileStreaming) { property_thread_test("1"); }
TEST(Concurrent, PropertyChangesFromAnotherThreadWhileStreaming) { property_thread_test("3"); }

// --- model loading errors ----------------------------------------------------------------------

// Takes a fresh element with `model` (and labels) to READY; returns the error text or "".
std::string ready_error(const std::string& model, const std::string& labels = "") {
  GstElement* el = gst_element_factory_make("alexnetclassify", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(el, bus);
  if (!model.empty()) g_object_set(el, "model", model.c_str(), nullptr);
  if (!labels.empty()) g_object_set(el, "labels-file", labels.c_str(), nullptr);
  GstStateChangeReturn r = gst_element_set_state(el, GST_STATE_READY);
  std::string text;
  if (r == GST_STATE_CHANGE_FAILURE) {
    GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    EXPECT_NE(m, nullptr) << "a failed state change must come with an error message";
    if (m) {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &err, &dbg);
      text = err->message;
      g_error_free(err);
      g_free(dbg);
      gst_message_unref(m);
    }
  }
  gst_element_set_state(el, GST_STATE_NULL);
  gst_element_set_bus(el, nullptr);
  gst_object_unref(el);
  gst_object_unref(bus);
  return text;
}

TEST(Element, NoModelFailsNullToReady) {
  std::string e = ready_error("");
  EXPECT_NE(e.find("No model"), std::string::npos) << e;
}

TEST(Element, MissingModelFileIsNamed) {
  std::string path = (files().dir / "nope.safetensors").string();
  std::string e = ready_error(path);
  ASSERT_FALSE(e.empty());
  EXPECT_NE(e.find(path), std::string::npos) << e;
}

TEST(Element, CorruptAndTruncatedModelsAreRefused) {
  for (const std::string& path : {files().corrupt, files().truncated}) {
    std::string e = ready_error(path);
    ASSERT_FALSE(e.empty()) << path;
    EXPECT_NE(e.find(path), std::string::npos) << e;
    // the library's exact problem follows the file name
    try {
      alexnet::load_model(path);
      ADD_FAILURE() << "library accepted " << path;
    } catch (const std::exception& ex) {
      EXPECT_NE(e.find(ex.what()), std::string::npos) << e << "\nvs\n" << ex.what();
    }
  }
}

TEST(Element, MismatchedLabelsAreRefused) {
  std::string e = ready_error(files().a, files().labels_bad);
  ASSERT_FALSE(e.empty());
  EXPECT_NE(e.find("label"), std::string::npos) << e;
  EXPECT_EQ(ready_error(files().a, files().labels_ok), "");
}

TEST(Element, GoodModelReachesReady) { EXPECT_EQ(ready_error(files().a), ""); }

// --- stream events -------------------------------------------------------------------------

TEST(Element, BufferBeforeCapsIsNotNegotiated) {
  for (const char* batch : {"1", "2"}) {
    Harness hx({{"batch-size", batch}});
    GstVideoInfo info = info_of(caps_str("RGB", 16, 16));
    // GStreamer core warns about data before a segment: expected here
    guint handler = g_log_set_handler("GStreamer", G_LOG_LEVEL_WARNING, count_warning, nullptr);
    GstFlowReturn r = gst_harness_push(hx.h, make_buffer(info, 1, 0));
    g_log_remove_handler("GStreamer", handler);
    EXPECT_EQ(r, GST_FLOW_NOT_NEGOTIATED) << "batch-size " << batch;  // upstream posts the error
  }
}

TEST(Element, UnavailableDeviceFailsNullToReady) {
  if (alexnet::gpu_count() > 0) GTEST_SKIP() << "a GPU is present";
  GstElement* el = gst_element_factory_make("alexnetclassify", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(el, bus);
  g_object_set(el, "model", files().a.c_str(), "device", "gpu:0", nullptr);
  EXPECT_EQ(gst_element_set_state(el, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ASSERT_NE(m, nullptr);
  GError* err = nullptr;
  gst_message_parse_error(m, &err, nullptr);
  EXPECT_NE(std::string(err->message).find("gpu"), std::string::npos) << err->message;
  g_error_free(err);
  gst_message_unref(m);
  gst_element_set_state(el, GST_STATE_NULL);
  gst_element_set_bus(el, nullptr);
  gst_object_unref(el);
  gst_object_unref(bus);
}

TEST(Element, CapsChangeMidStream) {
  Harness hx({{"overlay", "false"}});
  struct Step { const char* fmt; int w, h; };
  for (Step s : {Step{"RGB", 32, 24}, Step{"I420", 65, 47}, Step{"GRAY8", 20, 20}, Step{"BGRx", 33, 31}}) {
    SCOPED_TRACE(s.fmt);
    const std::string caps = caps_str(s.fmt, s.w, s.h);
    hx.caps(caps);
    GstVideoInfo info = info_of(caps);
    for (int i = 0; i < 2; ++i) {
      auto p = push_frame(hx, info, static_cast<uint32_t>(i + s.w), 0);
      expect_meta(p->out, p->ref, "a.safetensors");
      EXPECT_EQ(gst_buffer_get_video_region_of_interest_meta(p->out)->w, static_cast<guint>(s.w));
    }
  }
}

TEST(Element, FlushMidStreamAndEos) {
  Harness hx;
  const std::string caps = caps_str("RGBA", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  auto a = push_frame(hx, info, 1, 0);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_stop(TRUE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_segment(&seg)));
  auto b = push_frame(hx, info, 2, 0);
  expect_meta(b->out, b->ref, "a.safetensors");
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  bool eos = false;
  while (GstEvent* e = gst_harness_try_pull_event(hx.h)) {
    if (GST_EVENT_TYPE(e) == GST_EVENT_EOS) eos = true;
    gst_event_unref(e);
  }
  EXPECT_TRUE(eos);
}

TEST(Element, ModelSwapWhileStreaming) {
  Harness hx({{"overlay", "false"}});
  const std::string caps = caps_str("RGB", 32, 32);
  hx.caps(caps);
  GstVideoInfo info = info_of(caps);
  auto a = push_frame(hx, info, 1, 0);
  expect_meta(a->out, a->ref, "a.safetensors");

  g_object_set(hx.el, "model", files().b.c_str(), nullptr);
  bool swapped = false;
  for (int i = 0; i < 500 && !swapped; ++i) {
    auto p = push_frame(hx, info, 2, 0, 5, files().b);
    GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(p->out);
    ASSERT_NE(m, nullptr);
    if (std::string(m->model) == "b.safetensors") {
      swapped = true;
      expect_meta(p->out, p->ref, "b.safetensors");
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(swapped);

  // a bad file keeps the running model and posts a warning naming it
  g_object_set(hx.el, "model", files().corrupt.c_str(), nullptr);
  GstMessage* w = hx.pop(GST_MESSAGE_WARNING, 20 * GST_SECOND);
  ASSERT_NE(w, nullptr);
  GError* err = nullptr;
  gst_message_parse_warning(w, &err, nullptr);
  EXPECT_NE(std::string(err->message).find(files().corrupt), std::string::npos) << err->message;
  g_error_free(err);
  gst_message_unref(w);
  auto p = push_frame(hx, info, 3, 0, 5, files().b);
  expect_meta(p->out, p->ref, "b.safetensors");
}

TEST(Element, FiftyNullPlayingCycles) {
  const std::string desc = "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=64,height=48 ! "
                           "alexnetclassify threads=1 model=\"" + files().a + "\" ! fakesink";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  ASSERT_NE(pipeline, nullptr) << (err ? err->message : "");
  GstBus* bus = gst_element_get_bus(pipeline);
  for (int i = 0; i < 50; ++i) {
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ASSERT_NE(m, nullptr) << "cycle " << i;
    EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS) << "cycle " << i;
    gst_message_unref(m);
    ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

}  // namespace
