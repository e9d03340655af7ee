// model-instance-id: elements of one process sharing one loaded model. Three streams through
// one instance, each keeping its order and its own results; mismatching settings refused with
// both elements named; the instance freed with its last element; a swap on one sharer reaching
// all; one stream's EOS or flush not stalling the others.
#include "element_harness.h"

namespace element_test {
namespace {

GstStructure* next_named(Harness& hx, const char* name, GstClockTime timeout = 0) {
  while (GstMessage* m = hx.pop(GST_MESSAGE_ELEMENT, timeout)) {
    const GstStructure* s = gst_message_get_structure(m);
    GstStructure* copy = gst_structure_has_name(s, name) ? gst_structure_copy(s) : nullptr;
    gst_message_unref(m);
    if (copy) return copy;
  }
  return nullptr;
}

// READY on a fresh element with `props`; "" on success, else the error message.
std::string ready_error(GstElement* el, GstBus* bus) {
  if (gst_element_set_state(el, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE) return "";
  return message_text(gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR));
}

}  // namespace

TEST(Shared, ThreeStreamsOneInstanceEachKeepsItsOrder) {
  Harness s1({{"model-instance-id", "cams"}, {"overlay", "false"}, {"stats-interval", "0"}});
  Harness s2({{"model-instance-id", "cams"}, {"overlay", "false"}});
  Harness s3({{"model-instance-id", "cams"}, {"overlay", "false"}});
  Harness* streams[] = {&s1, &s2, &s3};
  const std::string caps = caps_str("RGB", 40, 30);
  for (Harness* h : streams) h->caps(caps);
  GstVideoInfo info = info_of(caps);
  std::vector<alexnet::TopK> refs[3];
  for (int i = 0; i < 4; ++i)  // interleaved: frame i of every stream, then i + 1
    for (int k = 0; k < 3; ++k) {
      GstBuffer* in = make_buffer(info, static_cast<uint32_t>(100 * k + i),
                                  static_cast<GstClockTime>(i) * GST_MSECOND);
      auto bytes = bytes_of(in);
      refs[k].push_back(reference(files().a, frame_of(info, bytes.data()), 5));
      ASSERT_EQ(gst_harness_push(streams[k]->h, in), GST_FLOW_OK);
    }
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("stream " + std::to_string(k));
    for (int i = 0; i < 4; ++i) {
      GstBuffer* out = pull_frame(*streams[k], refs[k], i);  // its order, its results
      ASSERT_NE(out, nullptr);
      gst_buffer_unref(out);
    }
  }
  // one stream's EOS does not stall the others
  ASSERT_TRUE(gst_harness_push_event(s1.h, gst_event_new_eos()));
  GstStructure* stats = next_named(s1, "alexnet-stats");
  ASSERT_NE(stats, nullptr);
  guint n = 0;
  EXPECT_TRUE(gst_structure_get_uint(stats, "streams", &n));
  EXPECT_EQ(n, 3u) << "elements sharing the instance";
  gst_structure_free(stats);
  for (Harness* h : {&s2, &s3}) {
    auto p = push_frame(*h, info, 77, 10 * GST_MSECOND);
    ASSERT_NE(p->out, nullptr);
    expect_meta(p->out, p->ref, "a.safetensors");
  }
}

// Frames of different streams are classified together: three streams, one frame each, go out
// as one batch of 3 (batch-size 3; the timeout is long so that only a full batch sends them).
TEST(Shared, FramesOfDifferentStreamsBatchTogether) {
  Harness s1({{"model-instance-id", "batched"},
              {"batch-size", "3"},
              {"batch-timeout", "5000"},
              {"overlay", "false"}});
  Harness s2({{"model-instance-id", "batched"},
              {"batch-size", "3"},
              {"batch-timeout", "5000"},
              {"overlay", "false"}});
  Harness s3({{"model-instance-id", "batched"},
              {"batch-size", "3"},
              {"batch-timeout", "5000"},
              {"overlay", "false"}});
  Harness* streams[] = {&s1, &s2, &s3};
  const std::string caps = caps_str("NV12", 40, 30);
  for (Harness* h : streams) h->caps(caps);
  GstVideoInfo info = info_of(caps);
  std::vector<alexnet::TopK> refs[3];
  for (int k = 0; k < 3; ++k) refs[k] = push_frames(*streams[k], info, 500 + 10 * k, 1);
  for (int k = 0; k < 3; ++k) {
    GstBuffer* out = pull_frame(*streams[k], refs[k], 0);  // each stream its own result
    ASSERT_NE(out, nullptr) << "stream " << k;
    gst_buffer_unref(out);
  }
  ASSERT_TRUE(gst_harness_push_event(s1.h, gst_event_new_eos()));
  GstStructure* stats = next_named(s1, "alexnet-stats");
  ASSERT_NE(stats, nullptr);
  double mean_batch = 0;
  EXPECT_TRUE(gst_structure_get_double(stats, "mean-batch", &mean_batch));
  EXPECT_DOUBLE_EQ(mean_batch, 3.0) << "the three streams' frames were not batched together";
  gst_structure_free(stats);
}

// Objects of different streams batch together too: two roi-list streams, two objects each,
// one batch of 4; each object gets its own crop's result.
TEST(Shared, ObjectsOfDifferentStreamsBatchTogether) {
  Harness s1({{"model-instance-id", "objects"},
              {"inference-region", "roi-list"},
              {"batch-size", "4"},
              {"batch-timeout", "5000"},
              {"overlay", "false"}});
  Harness s2({{"model-instance-id", "objects"},
              {"inference-region", "roi-list"},
              {"batch-size", "4"},
              {"batch-timeout", "5000"},
              {"overlay", "false"}});
  Harness* streams[] = {&s1, &s2};
  const std::string caps = caps_str("RGB", 48, 40);
  for (Harness* h : streams) h->caps(caps);
  GstVideoInfo info = info_of(caps);
  const alexnet::Rect boxes[] = {{0, 0, 30, 24}, {10, 12, 38, 28}};
  std::vector<uint8_t> pixels[2];
  for (int k = 0; k < 2; ++k) {
    GstBuffer* in = make_buffer(info, 300 + static_cast<uint32_t>(k), 0);
    for (int i = 0; i < 2; ++i)
      gst_buffer_add_video_region_of_interest_meta(
          in, "face", static_cast<guint>(boxes[i].x), static_cast<guint>(boxes[i].y),
          static_cast<guint>(boxes[i].width), static_cast<guint>(boxes[i].height))
          ->id = i + 1;
    pixels[k] = bytes_of(in);
    ASSERT_EQ(gst_harness_push(streams[k]->h, in), GST_FLOW_OK);
  }
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE("stream " + std::to_string(k));
    GstBuffer* out = gst_harness_pull(streams[k]->h);
    ASSERT_NE(out, nullptr);
    gpointer state = nullptr;
    int i = 0;
    while (GstAlexNetMeta* m = gst_buffer_iterate_alexnet_meta(out, &state)) {
      ASSERT_LT(i, 2);
      alexnet::Frame f = frame_of(info, pixels[k].data());
      f.roi = boxes[i];
      EXPECT_EQ(m->roi_id, i + 1);
      EXPECT_EQ(m->ids[0], reference(files().a, f, 5)[0].index);
      EXPECT_NEAR(m->scores[0], reference(files().a, f, 5)[0].probability, 1e-5);
      ++i;
    }
    EXPECT_EQ(i, 2);
    gst_buffer_unref(out);
  }
  ASSERT_TRUE(gst_harness_push_event(s1.h, gst_event_new_eos()));
  GstStructure* stats = next_named(s1, "alexnet-stats");
  ASSERT_NE(stats, nullptr);
  double mean_batch = 0;
  EXPECT_TRUE(gst_structure_get_double(stats, "mean-batch", &mean_batch));
  EXPECT_DOUBLE_EQ(mean_batch, 4.0) << "the two streams' objects were not batched together";
  gst_structure_free(stats);
}

// One stream flushing (a seek) while its frame waits in a shared batch does not stall the
// others: they keep getting their frames, with their own results.
TEST(Shared, OneStreamsFlushDoesNotStallTheOthers) {
  const std::initializer_list<std::pair<const char*, std::string>> props = {
      {"model-instance-id", "flushing"},
      {"batch-size", "3"},
      {"batch-timeout", "50"},
      {"overlay", "false"}};
  Harness s1(props), s2(props), s3(props);
  const std::string caps = caps_str("RGB", 32, 32);
  for (Harness* h : {&s1, &s2, &s3}) h->caps(caps);
  GstVideoInfo info = info_of(caps);
  push_frames(s1, info, 1, 1);  // waits in the instance's batcher
  ASSERT_TRUE(gst_harness_push_event(s1.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(s1.h, gst_event_new_flush_stop(TRUE)));
  for (int round = 0; round < 3; ++round) {
    for (Harness* h : {&s2, &s3}) {
      const std::vector<alexnet::TopK> refs = push_frames(*h, info, 40 + round, 1);
      GstBuffer* out = pull_frame(*h, refs, 0);
      ASSERT_NE(out, nullptr) << "round " << round;
      gst_buffer_unref(out);
    }
  }
  EXPECT_EQ(gst_harness_buffers_in_queue(s1.h), 0u) << "the flushed frame came out";
}

TEST(Shared, MismatchedSettingsNameBothElements) {
  GstElement* a = gst_element_factory_make("alexnetclassify", "cam_a");
  GstElement* b = gst_element_factory_make("alexnetclassify", "cam_b");
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(a, bus);
  gst_element_set_bus(b, bus);
  g_object_set(a, "model", files().a.c_str(), "model-instance-id", "mm", "threads", 1u, nullptr);
  g_object_set(b, "model", files().a.c_str(), "model-instance-id", "mm", "threads", 2u, nullptr);
  EXPECT_EQ(ready_error(a, bus), "");
  const std::string error = ready_error(b, bus);
  for (const char* want : {"threads", "\"2\"", "\"1\"", "cam_a", "cam_b", "\"mm\""})
    EXPECT_NE(error.find(want), std::string::npos) << want << " not in: " << error;
  gst_element_set_state(a, GST_STATE_NULL);
  gst_element_set_state(b, GST_STATE_NULL);
  // the last element gone, the instance is freed: a new one may load another model
  g_object_set(b, "model", files().b.c_str(), nullptr);
  EXPECT_EQ(ready_error(b, bus), "") << "the instance outlived its elements";
  gst_element_set_state(b, GST_STATE_NULL);
  for (GstElement* e : {a, b}) {
    gst_element_set_bus(e, nullptr);
    gst_object_unref(e);
  }
  gst_object_unref(bus);
}

TEST(Shared, ASwapOnOneSharerReachesAll) {
  Harness s1({{"model-instance-id", "swap"}, {"overlay", "false"}});
  Harness s2({{"model-instance-id", "swap"}, {"overlay", "false"}});
  const std::string caps = caps_str("RGB", 32, 32);
  s1.caps(caps);
  s2.caps(caps);
  GstVideoInfo info = info_of(caps);
  push_frame(s1, info, 1, 0);
  push_frame(s2, info, 2, 0);
  g_object_set(s1.el, "model", files().b.c_str(), nullptr);
  // s2 never had its model set: the swap reaches it, with its property updated
  ASSERT_TRUE(wait_for_model_b(s2, info, 3));
  gchar* model = nullptr;
  g_object_get(s2.el, "model", &model, nullptr);
  EXPECT_EQ(std::string(model), files().b);
  g_free(model);
  // s2 posts the message when it swaps its own slot, at its next frame boundary; the shared
  // batcher may already have classified a frame of s2 with the instance's new model before
  // that, so the message can need one more frame.
  GstStructure* msg = next_named(s2, "alexnet-model-swapped");
  for (uint32_t i = 0; !msg && i < 50; ++i) {
    push_frame(s2, info, 10 + i, static_cast<GstClockTime>(1000 + i) * GST_MSECOND, 5, files().b);
    msg = next_named(s2, "alexnet-model-swapped");
  }
  ASSERT_NE(msg, nullptr);
  EXPECT_STREQ(gst_structure_get_string(msg, "model"), "b.safetensors");
  EXPECT_STREQ(gst_structure_get_string(msg, "instance-id"), "swap");
  gst_structure_free(msg);
}

}  // namespace element_test
