// GstAlexNetMeta through the installed library's API: add/get, deep copies, copies with the
// buffer, refused arguments, and survival through videoconvert/videoscale (no tags).
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gstalexnetmeta.h"

namespace {

class GstEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { gst_init(nullptr, nullptr); }
};
const auto* const kGstEnv = ::testing::AddGlobalTestEnvironment(new GstEnvironment);

// Counts the library's g_critical()s (it logs under its own domain) instead of printing them.
struct CriticalCounter {
  int count = 0;
  guint handler;
  CriticalCounter() {
    handler = g_log_set_handler(
        "GstAlexNetMeta", static_cast<GLogLevelFlags>(G_LOG_LEVEL_CRITICAL),
        [](const gchar*, GLogLevelFlags, const gchar*, gpointer self) {
          static_cast<CriticalCounter*>(self)->count++;
        },
        this);
  }
  ~CriticalCounter() { g_log_remove_handler("GstAlexNetMeta", handler); }
};

void expect_meta(const GstAlexNetMeta* m, const std::vector<gint>& ids,
                 const std::vector<std::string>& labels, const std::vector<gfloat>& scores,
                 const char* model) {
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->n, ids.size());
  for (guint i = 0; i < m->n; i++) {
    EXPECT_EQ(m->ids[i], ids[i]);
    EXPECT_STREQ(m->labels[i], labels[i].c_str());
    EXPECT_EQ(m->scores[i], scores[i]);
  }
  EXPECT_EQ(m->labels[m->n], nullptr);  // NULL-terminated
  EXPECT_STREQ(m->model, model);
}

TEST(Meta, AddGetRoundTripIsADeepCopy) {
  GstBuffer* buf = gst_buffer_new();
  EXPECT_EQ(gst_buffer_get_alexnet_meta(buf), nullptr);

  gint ids[] = {281, 282, 285};
  gchar l0[] = "tabby", l1[] = "tiger cat", l2[] = "Egyptian cat";
  const gchar* labels[] = {l0, l1, l2};
  gfloat scores[] = {0.5f, 0.25f, 0.125f};
  gchar model[] = "alexnet.safetensors";
  GstAlexNetMeta* m = gst_buffer_add_alexnet_meta(buf, 3, ids, labels, scores, model);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(gst_buffer_get_alexnet_meta(buf), m);
  EXPECT_EQ(m->meta.info->api, GST_ALEXNET_META_API_TYPE);

  // The caller's arrays are the caller's: changing them leaves the meta alone.
  ids[0] = -1;
  l0[0] = 'X';
  scores[0] = 9.f;
  model[0] = 'X';
  expect_meta(m, {281, 282, 285}, {"tabby", "tiger cat", "Egyptian cat"}, {0.5f, 0.25f, 0.125f},
              "alexnet.safetensors");
  gst_buffer_unref(buf);
}

TEST(Meta, EmptyResultAndNullModel) {
  GstBuffer* buf = gst_buffer_new();
  GstAlexNetMeta* m = gst_buffer_add_alexnet_meta(buf, 0, nullptr, nullptr, nullptr, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->n, 0u);
  ASSERT_NE(m->labels, nullptr);
  EXPECT_EQ(m->labels[0], nullptr);
  EXPECT_STREQ(m->model, "");
  gst_buffer_unref(buf);
}

TEST(Meta, NullArraysRefused) {
  const gint ids[] = {1, 2};
  const gchar* labels[] = {"a", "b"};
  const gchar* labels_with_null[] = {"a", nullptr};
  const gfloat scores[] = {0.6f, 0.4f};
  GstBuffer* buf = gst_buffer_new();
  CriticalCounter criticals;
  EXPECT_EQ(gst_buffer_add_alexnet_meta(buf, 2, nullptr, labels, scores, "m"), nullptr);
  EXPECT_EQ(gst_buffer_add_alexnet_meta(buf, 2, ids, nullptr, scores, "m"), nullptr);
  EXPECT_EQ(gst_buffer_add_alexnet_meta(buf, 2, ids, labels, nullptr, "m"), nullptr);
  EXPECT_EQ(gst_buffer_add_alexnet_meta(buf, 2, ids, labels_with_null, scores, "m"), nullptr);
  EXPECT_EQ(criticals.count, 4);
  EXPECT_EQ(gst_buffer_get_alexnet_meta(buf), nullptr);  // nothing was added
  EXPECT_EQ(gst_buffer_get_n_meta(buf, GST_ALEXNET_META_API_TYPE), 0u);
  gst_buffer_unref(buf);
}

TEST(Meta, CopiedWithTheBuffer) {
  const gint ids[] = {7, 3};
  const gchar* labels[] = {"seven", "three"};
  const gfloat scores[] = {0.75f, 0.25f};
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, 64, nullptr);
  GstAlexNetMeta* m = gst_buffer_add_alexnet_meta(buf, 2, ids, labels, scores, "w.safetensors");
  ASSERT_NE(m, nullptr);

  GstBuffer* copy = gst_buffer_copy(buf);
  GstAlexNetMeta* c = gst_buffer_get_alexnet_meta(copy);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c, m);
  // Deep: no array is shared, so the copy outlives the original.
  EXPECT_NE(c->ids, m->ids);
  EXPECT_NE(c->labels, m->labels);
  EXPECT_NE(c->labels[0], m->labels[0]);
  EXPECT_NE(c->scores, m->scores);
  EXPECT_NE(c->model, m->model);
  gst_buffer_unref(buf);
  expect_meta(c, {7, 3}, {"seven", "three"}, {0.75f, 0.25f}, "w.safetensors");

  // A partial copy (a region) keeps it too: the result is about the whole frame.
  GstBuffer* part = gst_buffer_copy_region(copy, GST_BUFFER_COPY_ALL, 0, 16);
  expect_meta(gst_buffer_get_alexnet_meta(part), {7, 3}, {"seven", "three"}, {0.75f, 0.25f},
              "w.safetensors");
  gst_buffer_unref(part);

  // make_writable on a shared buffer copies it, meta included.
  gst_buffer_ref(copy);
  GstBuffer* w = gst_buffer_make_writable(copy);
  EXPECT_NE(w, copy);
  expect_meta(gst_buffer_get_alexnet_meta(w), {7, 3}, {"seven", "three"}, {0.75f, 0.25f},
              "w.safetensors");
  gst_buffer_unref(w);
  gst_buffer_unref(copy);
}

// Objects (roi-list): one meta per object with its id and box; iterate finds them all in
// order, a copy keeps the box, a scale scales it (a full-frame meta keeps has_roi FALSE).
TEST(Meta, ObjectMetasIterateCopyAndScale) {
  const gint ids[] = {1};
  const gchar* labels[] = {"one"};
  const gfloat scores[] = {1.0f};
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, 64, nullptr);
  GstAlexNetMeta* whole = gst_buffer_add_alexnet_meta(buf, 1, ids, labels, scores, "m");
  ASSERT_NE(whole, nullptr);
  EXPECT_FALSE(whole->has_roi);
  ASSERT_NE(gst_buffer_add_alexnet_object_meta(buf, 1, ids, labels, scores, "m", 7, 10, 20, 30, 40),
            nullptr);
  ASSERT_NE(gst_buffer_add_alexnet_object_meta(buf, 1, ids, labels, scores, "m", 8, 0, 2, 4, 6),
            nullptr);
  GstBuffer* copy = gst_buffer_copy(buf);
  std::vector<GstAlexNetMeta*> got;
  gpointer state = nullptr;
  while (GstAlexNetMeta* m = gst_buffer_iterate_alexnet_meta(copy, &state)) got.push_back(m);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0]->has_roi);
  EXPECT_TRUE(got[1]->has_roi);
  EXPECT_EQ(got[1]->roi_id, 7);
  EXPECT_EQ(got[1]->x, 10u);
  EXPECT_EQ(got[1]->height, 40u);
  EXPECT_EQ(got[2]->roi_id, 8);

  // videoscale's transform, 64x48 -> 32x24: boxes halve
  GstVideoInfo in, out;
  gst_video_info_set_format(&in, GST_VIDEO_FORMAT_RGB, 64, 48);
  gst_video_info_set_format(&out, GST_VIDEO_FORMAT_RGB, 32, 24);
  GstVideoMetaTransform t = {&in, &out};
  GstBuffer* scaled = gst_buffer_new_allocate(nullptr, 64, nullptr);
  const GstMetaInfo* info = got[1]->meta.info;
  ASSERT_TRUE(info->transform_func(scaled, &got[1]->meta, copy,
                                   gst_video_meta_transform_scale_get_quark(), &t));
  GstAlexNetMeta* s = gst_buffer_get_alexnet_meta(scaled);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->has_roi);
  EXPECT_EQ(s->roi_id, 7);
  EXPECT_EQ(s->x, 5u);
  EXPECT_EQ(s->y, 10u);
  EXPECT_EQ(s->width, 15u);
  EXPECT_EQ(s->height, 20u);
  gst_buffer_unref(scaled);
  gst_buffer_unref(copy);
  gst_buffer_unref(buf);
}

TEST(Meta, RegisteredWithoutTags) {
  EXPECT_STREQ(g_type_name(GST_ALEXNET_META_API_TYPE), "GstAlexNetMetaAPI");
  const gchar* const* tags = gst_meta_api_type_get_tags(GST_ALEXNET_META_API_TYPE);
  EXPECT_TRUE(tags == nullptr || tags[0] == nullptr);
  EXPECT_EQ(GST_ALEXNET_META_INFO, gst_alexnet_meta_get_info());
  EXPECT_EQ(gst_meta_get_info("GstAlexNetMeta"), GST_ALEXNET_META_INFO);
}

// Why no tags: videoconvert and videoscale keep untagged metas through format and size
// changes, so applications find the result after the usual conversions.
TEST(Meta, SurvivesVideoconvertAndVideoscale) {
  for (const char* f : {"videotestsrc", "videoconvert", "videoscale", "identity", "fakesink"}) {
    GstElementFactory* factory = gst_element_factory_find(f);
    if (!factory) GTEST_SKIP() << f << " is not installed";
    gst_object_unref(factory);
  }
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(
      "videotestsrc num-buffers=5 ! video/x-raw,format=RGB,width=64,height=48 ! identity name=tag"
      " ! videoconvert ! video/x-raw,format=NV12 ! videoscale ! video/x-raw,width=32,height=24"
      " ! fakesink name=sink",
      &error);
  ASSERT_NE(pipeline, nullptr) << (error ? error->message : "");

  struct Counts {
    int tagged = 0, seen = 0, with_meta = 0;
  } counts;
  GstElement* tag = gst_bin_get_by_name(GST_BIN(pipeline), "tag");
  GstPad* tag_src = gst_element_get_static_pad(tag, "src");
  gst_pad_add_probe(
      tag_src, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer data) {
        GstBuffer* buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
        const gint ids[] = {42};
        const gchar* labels[] = {"answer"};
        const gfloat scores[] = {1.0f};
        if (gst_buffer_add_alexnet_meta(buf, 1, ids, labels, scores, "m")) {
          static_cast<Counts*>(data)->tagged++;
        }
        GST_PAD_PROBE_INFO_DATA(info) = buf;
        return GST_PAD_PROBE_OK;
      },
      &counts, nullptr);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstPad* sink_pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(
      sink_pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer data) {
        auto* c = static_cast<Counts*>(data);
        c->seen++;
        const GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(GST_PAD_PROBE_INFO_BUFFER(info));
        if (m && m->n == 1 && m->ids[0] == 42 && std::strcmp(m->labels[0], "answer") == 0)
          c->with_meta++;
        return GST_PAD_PROBE_OK;
      },
      &counts, nullptr);

  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(
      bus, 10 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ASSERT_NE(msg, nullptr) << "timed out";
  EXPECT_EQ(GST_MESSAGE_TYPE(msg), GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_element_set_state(pipeline, GST_STATE_NULL);

  EXPECT_EQ(counts.tagged, 5);
  EXPECT_EQ(counts.seen, 5);
  EXPECT_EQ(counts.with_meta, 5);

  gst_object_unref(bus);
  gst_object_unref(sink_pad);
  gst_object_unref(sink);
  gst_object_unref(tag_src);
  gst_object_unref(tag);
  gst_object_unref(pipeline);
}

}  // namespace
