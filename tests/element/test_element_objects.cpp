// alexnetclassify inference-region=roi-list on GstHarness, with ROI metas the test attaches as
// a detector would: several objects per frame, boxes partly or wholly outside, empty ones,
// class and size filters, inference-interval, results on each ROI meta, one GstAlexNetMeta per
// object and the message's `objects` array, each against the library's own classification of
// the same crop.
#include <algorithm>

#include "element_harness.h"
#include "objects.h"

namespace element_test {
namespace {

struct Box {
  const char* type;
  int id;
  guint x, y, w, h;
};

GstBuffer* frame_with_objects(const GstVideoInfo& info, uint32_t seed, GstClockTime pts,
                              const std::vector<Box>& boxes) {
  GstBuffer* b = make_buffer(info, seed, pts);
  for (const Box& o : boxes) {
    GstVideoRegionOfInterestMeta* m =
        gst_buffer_add_video_region_of_interest_meta(b, o.type, o.x, o.y, o.w, o.h);
    m->id = o.id;
  }
  return b;
}

// The ROI meta of `id` on the buffer, or null.
GstVideoRegionOfInterestMeta* roi_of(GstBuffer* b, int id) {
  gpointer state = nullptr;
  GstMeta* m;
  while ((m = gst_buffer_iterate_meta_filtered(b, &state,
                                               GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    auto* roi = reinterpret_cast<GstVideoRegionOfInterestMeta*>(m);
    if (roi->id == id) return roi;
  }
  return nullptr;
}

// The library's top-k of the frame's pixels inside `box`.
alexnet::TopK crop_reference(const GstVideoInfo& info, const std::vector<uint8_t>& pixels,
                             alexnet::Rect box, int k = 5) {
  alexnet::Frame f = frame_of(info, pixels.data());
  f.roi = box;
  return reference(files().a, f, k);
}

}  // namespace

TEST(Objects, EachObjectIsClassifiedLikeTheLibraryClassifiesItsCrop) {
  Harness hx({{"inference-region", "roi-list"}, {"post-messages", "true"}, {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("NV12", 64, 48));
  GstBuffer* in = frame_with_objects(info, 7, 0,
                                     {{"face", 1, 4, 4, 20, 16},
                                      {"car", 2, 31, 9, 30, 30},
                                      {"face", 3, 50, 40, 30, 30},    // clamped: 50,40 14x8
                                      {"face", 4, 100, 100, 10, 10},  // outside: skipped
                                      {"face", 5, 10, 10, 0, 5},      // empty: skipped
                                      {"face", 6, 4000000000u, 1, 4000000000u, 5}});  // outside
  const std::vector<uint8_t> pixels = bytes_of(in);
  ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  ASSERT_NE(out, nullptr);
  const std::vector<std::pair<int, alexnet::Rect>> kept = {
      {1, {4, 4, 20, 16}}, {2, {31, 9, 30, 30}}, {3, {50, 40, 14, 8}}};
  for (const auto& [id, box] : kept) {
    SCOPED_TRACE("object " + std::to_string(id));
    GstVideoRegionOfInterestMeta* roi = roi_of(out, id);
    ASSERT_NE(roi, nullptr);
    const alexnet::TopK ref = crop_reference(info, pixels, box);
    expect_result(gst_video_region_of_interest_meta_get_param(roi, "classification"), ref);
  }
  for (int id : {4, 5, 6})
    EXPECT_EQ(gst_video_region_of_interest_meta_get_param(roi_of(out, id), "classification"),
              nullptr)
        << "skipped object " << id << " got a result";
  // one GstAlexNetMeta per object, with its id and clamped box
  gpointer state = nullptr;
  size_t n = 0;
  while (GstAlexNetMeta* m = gst_buffer_iterate_alexnet_meta(out, &state)) {
    ASSERT_LT(n, kept.size());
    EXPECT_TRUE(m->has_roi);
    EXPECT_EQ(m->roi_id, kept[n].first);
    const alexnet::Rect& b = kept[n].second;
    EXPECT_EQ(m->x, static_cast<guint>(b.x));
    EXPECT_EQ(m->y, static_cast<guint>(b.y));
    EXPECT_EQ(m->width, static_cast<guint>(b.width));
    EXPECT_EQ(m->height, static_cast<guint>(b.height));
    const alexnet::TopK ref = crop_reference(info, pixels, b);
    ASSERT_EQ(m->n, ref.size());
    EXPECT_EQ(m->ids[0], ref[0].index);
    EXPECT_STREQ(m->model, "a.safetensors");
    ++n;
  }
  EXPECT_EQ(n, kept.size());
  gst_buffer_unref(out);
  EXPECT_EQ(hx.stat("objects-classified"), 3u);
  EXPECT_EQ(hx.stat("objects-skipped"), 3u);
  // the message's objects
  GstMessage* msg = hx.pop(GST_MESSAGE_ELEMENT);
  ASSERT_NE(msg, nullptr);
  const GstStructure* s = gst_message_get_structure(msg);
  const GValue* objects = gst_structure_get_value(s, "objects");
  ASSERT_NE(objects, nullptr);
  ASSERT_EQ(gst_value_array_get_size(objects), kept.size());
  for (guint i = 0; i < kept.size(); ++i) {
    const GstStructure* o = gst_value_get_structure(gst_value_array_get_value(objects, i));
    gint id = 0;
    guint x = 0, w = 0;
    gst_structure_get_int(o, "id", &id);
    gst_structure_get_uint(o, "x", &x);
    gst_structure_get_uint(o, "width", &w);
    EXPECT_EQ(id, kept[i].first);
    EXPECT_EQ(x, static_cast<guint>(kept[i].second.x));
    EXPECT_EQ(w, static_cast<guint>(kept[i].second.width));
    EXPECT_STREQ(gst_structure_get_string(o, "roi-type"), i == 1 ? "car" : "face");
    expect_result(o, crop_reference(info, pixels, kept[i].second));
  }
  gst_message_unref(msg);
}

TEST(Objects, ClassAndSizeFiltersAndIntervals) {
  Harness hx({{"inference-region", "roi-list"},
              {"object-class", " face , person"},
              {"min-object-size", "16x12"},
              {"inference-interval", "2"},
              {"batch-size", "2"},  // objects of a frame in batches of 2
              {"post-messages", "true"},
              {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("RGB", 64, 48));
  const std::vector<Box> boxes = {{"face", 1, 0, 0, 16, 12},
                                  {"car", 2, 0, 0, 40, 40},
                                  {"person", 3, 20, 20, 30, 20},
                                  {"face", 4, 40, 0, 15, 30},
                                  {"face", 5, 2, 30, 20, 18}};
  for (int i = 0; i < 2; ++i) {
    GstBuffer* in = frame_with_objects(info, 20 + static_cast<uint32_t>(i),
                                       static_cast<GstClockTime>(i) * GST_MSECOND, boxes);
    const std::vector<uint8_t> pixels = bytes_of(in);
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    const bool classified = i == 0;  // inference-interval 2: frame 1 carries no new results
    for (int id : {1, 3, 5}) {
      const GstStructure* p =
          gst_video_region_of_interest_meta_get_param(roi_of(out, id), "classification");
      EXPECT_EQ(p != nullptr, classified) << "frame " << i << " object " << id;
      if (p && classified) {
        const Box& b = boxes[static_cast<size_t>(id - 1)];
        expect_result(p, crop_reference(info, pixels,
                                        {static_cast<int>(b.x), static_cast<int>(b.y),
                                         static_cast<int>(b.w), static_cast<int>(b.h)}));
      }
    }
    EXPECT_EQ(gst_video_region_of_interest_meta_get_param(roi_of(out, 2), "classification"),
              nullptr)
        << "a car is not a face or a person";
    EXPECT_EQ(gst_video_region_of_interest_meta_get_param(roi_of(out, 4), "classification"),
              nullptr)
        << "15 wide is below 16x12";
    gst_buffer_unref(out);
    GstMessage* msg = hx.pop(GST_MESSAGE_ELEMENT);
    ASSERT_NE(msg, nullptr);
    gboolean was = FALSE;
    gst_structure_get_boolean(gst_message_get_structure(msg), "classified", &was);
    EXPECT_EQ(was != FALSE, classified);
    EXPECT_EQ(gst_value_array_get_size(
                  gst_structure_get_value(gst_message_get_structure(msg), "objects")),
              classified ? 3u : 0u);
    gst_message_unref(msg);
  }
  EXPECT_EQ(hx.stat("objects-classified"), 3u);
  EXPECT_EQ(hx.stat("objects-skipped"), 2u);  // object 4, in both frames
}

// overlay=true in roi-list: each object's box outlined in white, its labels inside it, and the
// pixels outside every box untouched.
TEST(Objects, OverlayOutlinesEachObject) {
  Harness hx({{"inference-region", "roi-list"}, {"overlay", "true"}});
  GstVideoInfo info = hx.video(caps_str("RGB", 64, 48));
  GstBuffer* in = frame_with_objects(info, 3, 0, {{"face", 1, 10, 8, 30, 24}});
  const std::vector<uint8_t> before = bytes_of(in);
  ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  ASSERT_NE(out, nullptr);
  const std::vector<uint8_t> after = bytes_of(out);
  gst_buffer_unref(out);
  const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
  auto px = [&](const std::vector<uint8_t>& v, int x, int y) {
    return v[static_cast<size_t>(y) * stride + static_cast<size_t>(x) * 3];
  };
  EXPECT_EQ(px(after, 10, 8), 255) << "top-left corner of the box";
  EXPECT_EQ(px(after, 39, 31), 255) << "bottom-right corner of the box";
  EXPECT_EQ(px(after, 25, 31), 255) << "bottom edge";
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x)
      if (x < 10 || x >= 40 || y < 8 || y >= 32) {
        ASSERT_EQ(px(after, x, y), px(before, x, y)) << "outside the box at " << x << "," << y;
      }
}

// reclassify-interval 3: a tracked object keeps its result for 3 frames, is reclassified when
// its box grows by 20% or more; untracked ones (id 0, or an id twice in a frame) always are.
TEST(Objects, ReclassifyIntervalKeepsTrackedResults) {
  Harness hx(
      {{"inference-region", "roi-list"}, {"reclassify-interval", "3"}, {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("RGB", 64, 48));
  struct Step {
    guint size;         // the tracked object's box side
    int classified_at;  // the frame whose crop its result must be
  };
  const Step steps[] = {{20, 0}, {20, 0}, {20, 0}, {20, 3}, {22, 4}, {22, 4}, {21, 4}};
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < static_cast<int>(std::size(steps)); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const guint side = steps[i].size;
    GstBuffer* in = frame_with_objects(info, 100 + static_cast<uint32_t>(i),
                                       static_cast<GstClockTime>(i) * GST_MSECOND,
                                       {{"face", 5, 4, 4, side, side},
                                        {"face", 0, 30, 4, 20, 20},   // untracked
                                        {"face", 7, 30, 24, 16, 16},  // id twice: untracked
                                        {"face", 7, 10, 28, 16, 16}});
    frames.push_back(bytes_of(in));
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    const int at = steps[i].classified_at;
    const alexnet::Rect box5{4, 4, static_cast<int>(steps[at].size),
                             static_cast<int>(steps[at].size)};
    expect_result(gst_video_region_of_interest_meta_get_param(roi_of(out, 5), "classification"),
                  crop_reference(info, frames[static_cast<size_t>(at)], box5));
    expect_result(gst_video_region_of_interest_meta_get_param(roi_of(out, 0), "classification"),
                  crop_reference(info, frames.back(), {30, 4, 20, 20}));
    gst_buffer_unref(out);
  }
  EXPECT_EQ(hx.stat("objects-cached"), 4u);                // frames 1, 2, 5, 6
  EXPECT_EQ(hx.stat("objects-classified"), 3u + 7u * 3u);  // id 5 at 0, 3, 4; 3 untracked x 7
}

// A flush (a seek) forgets the kept results: trackers may reuse ids after it.
TEST(Objects, FlushForgetsKeptResults) {
  Harness hx(
      {{"inference-region", "roi-list"}, {"reclassify-interval", "10"}, {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("RGB", 48, 48));
  auto push = [&](uint32_t seed) {
    ASSERT_EQ(
        gst_harness_push(hx.h, frame_with_objects(info, seed, 0, {{"face", 5, 4, 4, 20, 20}})),
        GST_FLOW_OK);
    gst_buffer_unref(gst_harness_pull(hx.h));
  };
  push(1);
  push(2);
  EXPECT_EQ(hx.stat("objects-cached"), 1u);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_flush_stop(TRUE)));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_segment(&seg)));
  push(3);
  EXPECT_EQ(hx.stat("objects-cached"), 1u) << "a result kept from before the flush was reused";
  EXPECT_EQ(hx.stat("objects-classified"), 2u);
}

// The cache behind reclassify-interval is bounded (the longest unseen id goes first) and
// forgets ids not seen for 2N frames.
TEST(Objects, ObjectCacheIsBoundedAndForgets) {
  using alexnet::gst::ObjectCache;
  ObjectCache c;
  const int n = static_cast<int>(ObjectCache::kMaxIds);
  for (int id = 1; id <= n + 10; ++id) c.store(id, {}, 100, static_cast<guint64>(id));
  EXPECT_EQ(c.size(), ObjectCache::kMaxIds);
  EXPECT_EQ(c.reuse(1, 100, n + 10, 1000000), nullptr) << "the oldest ids were evicted";
  EXPECT_NE(c.reuse(n + 10, 100, n + 11, 5), nullptr);
  EXPECT_EQ(c.reuse(n + 10, 120, n + 11, 5), nullptr) << "area 1.2x: reclassify";
  EXPECT_NE(c.reuse(n + 10, 119, n + 11, 5), nullptr);
  EXPECT_EQ(c.reuse(n + 10, 100, n + 15, 5), nullptr) << "5 frames later with N = 5";
  c.forget_stale(n + 15, 2);  // keeps ids seen at frame n + 11 or later
  EXPECT_EQ(c.size(), 1u);
  c.store(-3, std::make_shared<alexnet::gst::Slot>(), 10,
          0);  // the cache itself does not judge ids; tracked_objects does
  EXPECT_EQ(c.size(), 2u);
}

TEST(Objects, AFrameWithoutObjectsStillGetsItsMessage) {
  Harness hx({{"inference-region", "roi-list"}, {"post-messages", "true"}});
  GstVideoInfo info = hx.video(caps_str("I420", 40, 30));
  ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, 1, 0)), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(gst_buffer_get_alexnet_meta(out), nullptr);
  gst_buffer_unref(out);
  GstMessage* msg = hx.pop(GST_MESSAGE_ELEMENT);
  ASSERT_NE(msg, nullptr);
  EXPECT_EQ(
      gst_value_array_get_size(gst_structure_get_value(gst_message_get_structure(msg), "objects")),
      0u);
  gst_message_unref(msg);
}

TEST(Objects, BadSettingsAreRefusedWithAClearMessage) {
  Harness hx({{"inference-region", "roi-list"}});
  g_object_set(hx.el, "min-object-size", "32 by 32", nullptr);
  gchar* kept = nullptr;
  g_object_get(hx.el, "min-object-size", &kept, nullptr);
  EXPECT_STREQ(kept, "0x0");
  g_free(kept);
  const std::string warning = message_text(hx.pop(GST_MESSAGE_WARNING));
  EXPECT_NE(warning.find("min-object-size \"32 by 32\""), std::string::npos) << warning;
}

// Objects are batched like frames: the objects of several frames fill one batch of
// batch-size (a frame's objects split over two batches when they do not fit), the batches go
// to the two workers in turn, and every object still gets its own crop's result, in order.
TEST(Objects, ObjectsOfSeveralFramesBatchTogetherOnTwoDevices) {
  Harness hx({{"inference-region", "roi-list"},
              {"batch-size", "4"},
              {"batch-timeout", "10000"},
              {"device", "cpu,cpu"},
              {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("I420", 64, 48));
  const std::vector<Box> boxes = {
      {"face", 1, 2, 2, 20, 20}, {"face", 2, 30, 4, 24, 30}, {"car", 3, 8, 20, 40, 26}};
  std::vector<std::vector<uint8_t>> pixels;
  for (int i = 0; i < 3; ++i) {
    GstBuffer* in = frame_with_objects(info, 40 + static_cast<uint32_t>(i),
                                       static_cast<GstClockTime>(i) * GST_MSECOND, boxes);
    pixels.push_back(bytes_of(in));
    ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
    if (i == 0) {
      // 3 objects of batch-size 4: the batch waits for the next frame (timeout 10 s)
      g_usleep(200 * 1000);
      EXPECT_EQ(gst_harness_try_pull(hx.h), nullptr) << "a partial batch left before its time";
    }
  }
  // 9 objects: two full batches are out; EOS sends the last object on its own
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    GstBuffer* out = gst_harness_pull(hx.h);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i) * GST_MSECOND);
    for (const Box& b : boxes) {
      const alexnet::Rect box{static_cast<int>(b.x), static_cast<int>(b.y), static_cast<int>(b.w),
                              static_cast<int>(b.h)};
      expect_result(
          gst_video_region_of_interest_meta_get_param(roi_of(out, b.id), "classification"),
          crop_reference(info, pixels[static_cast<size_t>(i)], box));
    }
    gst_buffer_unref(out);
  }
  EXPECT_EQ(hx.stat("objects-classified"), 9u);
  EXPECT_EQ(hx.stat("frames-classified"), 3u);
}

}  // namespace element_test

namespace element_test {
namespace {

// The next "alexnet-stats" message on the bus (others are dropped), or null.
GstStructure* next_stats(Harness& hx) {
  while (GstMessage* m = hx.pop(GST_MESSAGE_ELEMENT)) {
    const GstStructure* s = gst_message_get_structure(m);
    GstStructure* copy =
        gst_structure_has_name(s, "alexnet-stats") ? gst_structure_copy(s) : nullptr;
    gst_message_unref(m);
    if (copy) return copy;
  }
  return nullptr;
}

guint64 u64(const GstStructure* s, const char* field) {
  guint64 v = 0;
  EXPECT_TRUE(gst_structure_get_uint64(s, field, &v)) << field;
  return v;
}

double dbl(const GstStructure* s, const char* field) {
  double v = -1;
  EXPECT_TRUE(gst_structure_get_double(s, field, &v)) << field;
  return v;
}

}  // namespace

// At EOS every element posts "alexnet-stats": counts since start, fps and the time frames
// spent in the element over the time since the previous message; on both paths.
TEST(Stats, PostedAtEosWithTheCounts) {
  for (const char* batch : {"1", "3"}) {
    SCOPED_TRACE(std::string("batch-size ") + batch);
    Harness hx({{"inference-interval", "2"}, {"batch-size", batch}, {"batch-timeout", "5"}});
    GstVideoInfo info = hx.video(caps_str("RGB", 32, 32));
    push_frames(hx, info, 1, 6);
    ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
    for (int i = 0; i < 6; ++i) gst_buffer_unref(gst_harness_pull(hx.h));
    GstStructure* s = next_stats(hx);
    ASSERT_NE(s, nullptr) << "no alexnet-stats at EOS";
    EXPECT_EQ(u64(s, "frames"), 6u);
    EXPECT_EQ(u64(s, "frames-classified"), 3u);
    EXPECT_EQ(u64(s, "frames-skipped"), 3u);
    EXPECT_EQ(u64(s, "objects-classified"), 0u);
    EXPECT_GT(dbl(s, "fps"), 0.0);
    const double mean = dbl(s, "mean-latency-us"), p95 = dbl(s, "p95-latency-us");
    EXPECT_GT(mean, 0.0);
    EXPECT_GT(p95, 0.0);
    gst_structure_free(s);
  }
}

// With stats-interval, messages also come while frames flow; each covers the frames since the
// previous one, and the counts only grow.
TEST(Stats, PeriodicWithStatsInterval) {
  Harness hx({{"stats-interval", "40"}, {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("RGB", 32, 32));
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(gst_harness_push(hx.h, make_buffer(info, static_cast<uint32_t>(i),
                                                 static_cast<GstClockTime>(i) * GST_MSECOND)),
              GST_FLOW_OK);
    gst_buffer_unref(gst_harness_pull(hx.h));
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
  std::vector<guint64> frames;
  while (GstStructure* s = next_stats(hx)) {
    frames.push_back(u64(s, "frames"));
    gst_structure_free(s);
  }
  ASSERT_GE(frames.size(), 3u) << "8 frames 25 ms apart with a 40 ms interval, then EOS";
  EXPECT_TRUE(std::is_sorted(frames.begin(), frames.end()));
  EXPECT_EQ(frames.back(), 8u);
}

}  // namespace element_test
