// alexnetclassify through GstHarness: property validation and changes from another thread,
// model loading errors, buffers before caps, caps changes, flush and EOS, model swap while
// streaming, and state cycles.
#include "element_harness.h"

using namespace element_test;

namespace {
TEST(Element, RefusesInvalidPropertyValuesWithAWarning) {
  GstElement* el = gst_element_factory_make("alexnetclassify", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(el, bus);
  g_object_set(el, "device", "gpu:x", nullptr);
  gchar* dev = nullptr;
  g_object_get(el, "device", &dev, nullptr);
  EXPECT_STREQ(dev, "auto");
  g_free(dev);
  const std::string warning = message_text(gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING));
  EXPECT_NE(warning.find("gpu:x"), std::string::npos) << "warning: " << warning;

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
  GstVideoInfo info = hx.video(caps_str("I420", 64, 48));
  std::atomic<bool> stop{false};
  std::thread t([&] {
    int i = 0;
    while (!stop) {
      g_object_set(hx.el, "top-k", 1u + static_cast<guint>(i % 7), "overlay", i % 2 == 0,
                   "threshold", (i % 5) / 5.0, "font-scale", 0.5 + (i % 3), "overlay-position",
                   i % 4, "inference-interval", 1u + static_cast<guint>(i % 3), "post-messages",
                   i % 2 == 1, nullptr);
      guint64 n;
      g_object_get(hx.el, "frames-classified", &n, nullptr);
      ++i;
    }
  });
  // No ASSERT here: returning early would destroy a joinable std::thread (std::terminate).
  for (int i = 0; i < 40; ++i) {
    const GstFlowReturn r = gst_harness_push(
        hx.h,
        make_buffer(info, static_cast<uint32_t>(i), static_cast<GstClockTime>(i) * GST_MSECOND));
    EXPECT_EQ(r, GST_FLOW_OK) << "buffer " << i;
    if (r != GST_FLOW_OK) break;
    GstBuffer* out = gst_harness_pull(hx.h);
    EXPECT_NE(out, nullptr) << "buffer " << i;
    if (!out) break;
    EXPECT_NE(gst_buffer_get_alexnet_meta(out), nullptr);
    gst_buffer_unref(out);
  }
  stop = true;
  t.join();
}

TEST(Element, PropertyChangesFromAnotherThreadWhileStreaming) {
  property_thread_test("1");
}
TEST(Concurrent, PropertyChangesFromAnotherThreadWhileStreaming) {
  property_thread_test("3");
}

// --- model loading errors ----------------------------------------------------------------------

// Takes a fresh element with `model` (and labels) to READY; returns the error text or "".
// `props`: more properties, as gst-launch would set them ("parallel" = "model").
std::string ready_error(const std::string& model, const std::string& labels = "",
                        const std::vector<std::pair<std::string, std::string>>& props = {}) {
  GstElement* el = gst_element_factory_make("alexnetclassify", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(el, bus);
  if (!model.empty()) g_object_set(el, "model", model.c_str(), nullptr);
  if (!labels.empty()) g_object_set(el, "labels-file", labels.c_str(), nullptr);
  for (const auto& [name, value] : props)
    gst_util_set_object_arg(G_OBJECT(el), name.c_str(), value.c_str());
  GstStateChangeReturn r = gst_element_set_state(el, GST_STATE_READY);
  std::string text;
  if (r == GST_STATE_CHANGE_FAILURE) {
    GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    EXPECT_NE(m, nullptr) << "a failed state change must come with an error message";
    text = message_text(m);
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

// parallel=model needs exactly two devices: the error names the devices and the reason,
// and is not blamed on the (good) model file.
TEST(Element, ModelParallelWithOneDeviceIsRefused) {
  std::string e = ready_error(files().a, "", {{"device", "cpu"}, {"parallel", "model"}});
  EXPECT_NE(e.find("device \"cpu\" (parallel=model)"), std::string::npos) << e;
  EXPECT_NE(e.find("exactly two devices"), std::string::npos) << e;
  EXPECT_EQ(ready_error(files().a, "", {{"device", "cpu,cpu"}, {"parallel", "model"}}), "");
}

TEST(Element, GoodModelReachesReady) {
  EXPECT_EQ(ready_error(files().a), "");
}

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
  const std::string error = message_text(gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR));
  EXPECT_NE(error.find("gpu"), std::string::npos) << "error: " << error;
  gst_element_set_state(el, GST_STATE_NULL);
  gst_element_set_bus(el, nullptr);
  gst_object_unref(el);
  gst_object_unref(bus);
}

TEST(Element, CapsChangeMidStream) {
  Harness hx({{"overlay", "false"}});
  struct Step {
    const char* fmt;
    int w, h;
  };
  for (Step s :
       {Step{"RGB", 32, 24}, Step{"I420", 65, 47}, Step{"GRAY8", 20, 20}, Step{"BGRx", 33, 31}}) {
    SCOPED_TRACE(s.fmt);
    GstVideoInfo info = hx.video(caps_str(s.fmt, s.w, s.h));
    for (int i = 0; i < 2; ++i) {
      auto p = push_frame(hx, info, static_cast<uint32_t>(i + s.w), 0);
      expect_meta(p->out, p->ref, "a.safetensors");
      EXPECT_EQ(gst_buffer_get_video_region_of_interest_meta(p->out)->w, static_cast<guint>(s.w));
    }
  }
}

TEST(Element, FlushMidStreamAndEos) {
  Harness hx;
  GstVideoInfo info = hx.video(caps_str("RGBA", 32, 32));
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
  GstVideoInfo info = hx.video(caps_str("RGB", 32, 32));
  auto a = push_frame(hx, info, 1, 0);
  expect_meta(a->out, a->ref, "a.safetensors");

  g_object_set(hx.el, "model", files().b.c_str(), nullptr);
  EXPECT_TRUE(wait_for_model_b(hx, info, 2));

  // a bad file keeps the running model and posts a warning naming it
  g_object_set(hx.el, "model", files().corrupt.c_str(), nullptr);
  const std::string warning = message_text(hx.pop(GST_MESSAGE_WARNING, 20 * GST_SECOND));
  EXPECT_NE(warning.find(files().corrupt), std::string::npos) << "warning: " << warning;
  auto p = push_frame(hx, info, 3, 0, 5, files().b);
  expect_meta(p->out, p->ref, "b.safetensors");
}

TEST(Element, FiftyNullPlayingCycles) {
  const std::string desc =
      "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=64,height=48 ! "
      "alexnetclassify threads=1 model=\"" +
      files().a + "\" ! fakesink";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  ASSERT_NE(pipeline, nullptr) << (err ? err->message : "");
  GstBus* bus = gst_element_get_bus(pipeline);
  for (int i = 0; i < 50; ++i) {
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 30 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
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

// Runs a pipeline description to its end (EOS or error); the message type it ended with.
GstMessageType run_to_end(const std::string& desc) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p) {
    ADD_FAILURE() << desc << ": " << (err ? err->message : "");
    g_clear_error(&err);
    return GST_MESSAGE_UNKNOWN;
  }
  GstBus* bus = gst_element_get_bus(p);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstMessage* m = gst_bus_timed_pop_filtered(
      bus, 60 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  const GstMessageType t = m ? GST_MESSAGE_TYPE(m) : GST_MESSAGE_UNKNOWN;
  if (m) gst_message_unref(m);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
  return t;
}

// Pops messages until one of `types` (or the timeout); errors end the wait too. Its type.
GstMessageType wait_for(GstBus* bus, GstMessageType types, GstClockTime timeout, std::string* why) {
  GstMessage* m = gst_bus_timed_pop_filtered(
      bus, timeout, static_cast<GstMessageType>(types | GST_MESSAGE_ERROR));
  if (!m) return GST_MESSAGE_UNKNOWN;
  const GstMessageType t = GST_MESSAGE_TYPE(m);
  if (t == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(m, &e, &debug);
    *why = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(m))) + ": " + (e ? e->message : "error") +
           " (" + (debug ? debug : "") + ")";
    g_clear_error(&e);
    g_free(debug);
  }
  gst_message_unref(m);
  return t;
}

// State churn on a real file (issue 16): cycles of NULL -> PAUSED (preroll) -> a flushing seek
// to a random place -> PLAYING -> another flushing seek or a flush pair while frames flow ->
// NULL at a random moment or after EOS. Demuxer, decoder and the element (model loaded on
// every NULL -> READY) go through it all; under element-leaks (GStreamer's leaks tracer) any
// object left alive fails the run. 500 cycles under the tracer, 60 otherwise.
TEST(Element, StateCyclesWithSeeksAndFlushesOnARealFile) {
  const std::string video = (files().dir / "cycles.mkv").string();
  ASSERT_EQ(run_to_end("videotestsrc num-buffers=60 pattern=ball ! "
                       "video/x-raw,width=96,height=64,framerate=30/1 ! jpegenc ! matroskamux ! "
                       "filesink location=\"" +
                       video + "\""),
            GST_MESSAGE_EOS);
  const std::string desc = "filesrc location=\"" + video +
                           "\" ! matroskademux name=demux  jpegdec name=dec ! videoconvert ! "
                           "alexnetclassify threads=1 model=\"" +
                           files().a + "\" ! fakesink name=sink";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  ASSERT_NE(pipeline, nullptr) << (err ? err->message : "");
  // The demuxer makes a new pad on every preroll; gst_parse_launch links only the first one.
  GstElement* demux = gst_bin_get_by_name(GST_BIN(pipeline), "demux");
  GstElement* dec = gst_bin_get_by_name(GST_BIN(pipeline), "dec");
  g_signal_connect(demux, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer dec) {
                     GstPad* sink = gst_element_get_static_pad(GST_ELEMENT(dec), "sink");
                     if (!gst_pad_is_linked(sink)) gst_pad_link(pad, sink);
                     gst_object_unref(sink);
                   }),
                   dec);
  gst_object_unref(demux);
  gst_object_unref(dec);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstBus* bus = gst_element_get_bus(pipeline);
  std::mt19937 rng(16);
  const int cycles = g_getenv("ALEXNET_TEST_LEAKS") ? 500 : 60;
  const gint64 length = 2 * GST_SECOND;  // 60 frames at 30/s
  auto seek = [&] {
    const gint64 to = static_cast<gint64>(rng() % 19) * length / 20;
    const auto flags = static_cast<GstSeekFlags>(
        GST_SEEK_FLAG_FLUSH | (rng() % 2 ? GST_SEEK_FLAG_KEY_UNIT : GST_SEEK_FLAG_ACCURATE));
    return gst_element_seek_simple(pipeline, GST_FORMAT_TIME, flags, to);
  };
  int eos = 0;
  for (int i = 0; i < cycles; ++i) {
    SCOPED_TRACE("cycle " + std::to_string(i));
    std::string why;
    // Every 5th cycle runs as fast as it can, to EOS; the others in real time, stopped early.
    const bool to_eos = i % 5 == 4;
    g_object_set(sink, "sync", !to_eos, nullptr);
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    ASSERT_EQ(wait_for(bus, GST_MESSAGE_ASYNC_DONE, 30 * GST_SECOND, &why), GST_MESSAGE_ASYNC_DONE)
        << why;
    ASSERT_TRUE(seek());
    ASSERT_EQ(wait_for(bus, GST_MESSAGE_ASYNC_DONE, 30 * GST_SECOND, &why), GST_MESSAGE_ASYNC_DONE)
        << why;
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    const GstClockTime run_for = to_eos ? 20 * GST_SECOND : (rng() % 200) * GST_MSECOND;
    GstMessageType t = wait_for(bus, GST_MESSAGE_EOS, run_for / 2, &why);
    if (t == GST_MESSAGE_UNKNOWN) {
      if (rng() % 2) {
        EXPECT_TRUE(seek());
      } else {  // a flush pair from the application, as a "clear" button would send
        EXPECT_TRUE(gst_element_send_event(pipeline, gst_event_new_flush_start()));
        EXPECT_TRUE(gst_element_send_event(pipeline, gst_event_new_flush_stop(TRUE)));
      }
      t = wait_for(bus, GST_MESSAGE_EOS, run_for / 2, &why);
    }
    ASSERT_NE(t, GST_MESSAGE_ERROR) << why;
    if (to_eos) {
      EXPECT_EQ(t, GST_MESSAGE_EOS) << "an unsynchronised run did not reach its end";
    }
    eos += t == GST_MESSAGE_EOS;
    ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    gst_bus_set_flushing(bus, TRUE);
    gst_bus_set_flushing(bus, FALSE);
  }
  std::printf("%d cycles, %d reached EOS, the others were stopped mid-stream\n", cycles, eos);
  gst_object_unref(sink);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

}  // namespace
