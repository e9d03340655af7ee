// output-tensor: the GstAlexNetTensorMeta per frame (full-frame) or per object (roi-list),
// against the library's own forward of the same pixels: the probabilities of every class, and
// the embedding (fc7 after its ReLU) that Classifier::classify_frames returns.
#include <gst/video/video.h>

#include "alexnet/calibrate.h"
#include "alexnet/config.h"
#include "element_harness.h"
#include "gstalexnettensormeta.h"

namespace element_test {
namespace {

// The library's probabilities and embedding of one frame (or crop), one CPU thread.
alexnet::Classifier::Classification library_forward(const alexnet::Frame& f) {
  static alexnet::Classifier c(alexnet::load_model(files().a, ""),
                               alexnet::ClassifierOptions{"cpu", 1});
  return c.classify_frames({&f, 1}, 5, 0, /*embedding=*/true);
}

std::vector<GstAlexNetTensorMeta*> tensors_of(GstBuffer* b) {
  std::vector<GstAlexNetTensorMeta*> out;
  gpointer state = nullptr;
  while (GstAlexNetTensorMeta* t = gst_buffer_iterate_alexnet_tensor_meta(b, &state))
    out.push_back(t);
  return out;
}

// Largest |a - b| over n floats, relative to the largest |b|.
double rel_err(const float* a, const float* b, size_t n) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / scale;
}

void expect_tensor(const GstAlexNetTensorMeta* t, GstAlexNetTensorKind kind,
                   const alexnet::Tensor& want) {
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind, kind) << gst_alexnet_tensor_kind_name(t->kind);
  ASSERT_EQ(t->n, static_cast<guint>(want.numel()));
  EXPECT_LE(rel_err(t->data, want.data(), t->n), 1e-5);
}

}  // namespace

// Full frame, on the synchronous path (batch-size 1) and the concurrent one (batch-size 2),
// the tensor of each kind; carried frames (inference-interval) carry their result's tensor.
TEST(Tensor, FullFrameProbabilitiesAndEmbeddingEqualTheLibrarys) {
  const int width = alexnet::embedding_width(alexnet::load_model(files().a, "").config);
  for (const char* batch : {"1", "2"})
    for (const char* kind : {"probabilities", "fc7"}) {
      SCOPED_TRACE(std::string("batch-size ") + batch + ", output-tensor " + kind);
      Harness hx({{"output-tensor", kind},
                  {"batch-size", batch},
                  {"inference-interval", "2"},
                  {"overlay", "false"}});
      GstVideoInfo info = hx.video(caps_str("RGB", 40, 30));
      std::vector<std::vector<uint8_t>> pixels;
      for (int i = 0; i < 2; ++i) {
        GstBuffer* in = make_buffer(info, 60 + static_cast<uint32_t>(i), i * GST_MSECOND);
        pixels.push_back(bytes_of(in));
        ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
      }
      ASSERT_TRUE(gst_harness_push_event(hx.h, gst_event_new_eos()));
      const alexnet::Classifier::Classification ref =
          library_forward(frame_of(info, pixels[0].data()));
      const bool fc7 = std::string(kind) == "fc7";
      for (int i = 0; i < 2; ++i) {
        GstBuffer* out = gst_harness_pull(hx.h);
        ASSERT_NE(out, nullptr);
        const std::vector<GstAlexNetTensorMeta*> ts = tensors_of(out);
        ASSERT_EQ(ts.size(), 1u) << "frame " << i;
        EXPECT_FALSE(ts[0]->has_roi);
        // frame 1 skips inference (interval 2) and carries frame 0's result and tensor
        expect_tensor(ts[0], fc7 ? GST_ALEXNET_TENSOR_FC7 : GST_ALEXNET_TENSOR_PROBABILITIES,
                      fc7 ? ref.embedding : ref.probabilities);
        if (fc7) EXPECT_EQ(ts[0]->n, static_cast<guint>(width));
        gst_buffer_unref(out);
      }
    }
}

// roi-list: one tensor per classified object, with its ROI id, each its crop's.
TEST(Tensor, EachObjectGetsItsCropsTensor) {
  Harness hx({{"inference-region", "roi-list"}, {"output-tensor", "fc7"}, {"overlay", "false"}});
  GstVideoInfo info = hx.video(caps_str("NV12", 64, 48));
  GstBuffer* in = make_buffer(info, 9, 0);
  const alexnet::Rect boxes[] = {{2, 2, 30, 20}, {20, 10, 40, 36}};
  for (int i = 0; i < 2; ++i) {
    GstVideoRegionOfInterestMeta* m = gst_buffer_add_video_region_of_interest_meta(
        in, "face", static_cast<guint>(boxes[i].x), static_cast<guint>(boxes[i].y),
        static_cast<guint>(boxes[i].width), static_cast<guint>(boxes[i].height));
    m->id = 11 + i;
  }
  const std::vector<uint8_t> pixels = bytes_of(in);
  ASSERT_EQ(gst_harness_push(hx.h, in), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(hx.h);
  ASSERT_NE(out, nullptr);
  const std::vector<GstAlexNetTensorMeta*> ts = tensors_of(out);
  ASSERT_EQ(ts.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    alexnet::Frame f = frame_of(info, pixels.data());
    f.roi = boxes[i];
    EXPECT_TRUE(ts[static_cast<size_t>(i)]->has_roi);
    EXPECT_EQ(ts[static_cast<size_t>(i)]->roi_id, 11 + i);
    expect_tensor(ts[static_cast<size_t>(i)], GST_ALEXNET_TENSOR_FC7, library_forward(f).embedding);
  }
  gst_buffer_unref(out);
}

// The default attaches no tensor; the meta is copied with the buffer.
TEST(Tensor, NoneByDefaultAndCopiedWithTheBuffer) {
  {
    Harness hx;
    GstVideoInfo info = hx.video(caps_str("RGB", 40, 30));
    GstBuffer* out = gst_harness_push_and_pull(hx.h, make_buffer(info, 1, 0));
    ASSERT_NE(out, nullptr);
    EXPECT_TRUE(tensors_of(out).empty());
    gst_buffer_unref(out);
  }
  GstBuffer* b = gst_buffer_new();
  const float v[3] = {0.25f, 0.5f, 0.25f};
  ASSERT_NE(gst_buffer_add_alexnet_tensor_meta(b, GST_ALEXNET_TENSOR_PROBABILITIES, 4, TRUE, v, 3),
            nullptr);
  GstBuffer* copy = gst_buffer_copy(b);
  const std::vector<GstAlexNetTensorMeta*> ts = tensors_of(copy);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0]->roi_id, 4);
  EXPECT_EQ(ts[0]->n, 3u);
  EXPECT_EQ(ts[0]->data[1], 0.5f);
  EXPECT_STREQ(gst_alexnet_tensor_kind_name(ts[0]->kind), "probabilities");
  gst_buffer_unref(copy);
  gst_buffer_unref(b);
}

}  // namespace element_test

namespace element_test {

// precision on the CPU, through the element: int8 refuses an uncalibrated model at the state
// change (naming alexnet-calibrate); with a calibrated copy, and at bf16 where the CPU has it,
// the probabilities stay within 0.05 of fp32's.
TEST(Tensor, CpuPrecisionsThroughTheElement) {
  {
    GstElement* el = gst_element_factory_make("alexnetclassify", nullptr);
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(el, bus);
    g_object_set(el, "model", files().a.c_str(), "device", "cpu", nullptr);
    gst_util_set_object_arg(G_OBJECT(el), "precision", "int8");
    EXPECT_EQ(gst_element_set_state(el, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
    const std::string e = message_text(gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR));
    EXPECT_NE(e.find("alexnet-calibrate"), std::string::npos) << e;
    gst_element_set_state(el, GST_STATE_NULL);
    gst_element_set_bus(el, nullptr);
    gst_object_unref(el);
    gst_object_unref(bus);
  }
  // calibrated on frames like the test's (other seeds), preprocessed as the element does
  alexnet::Model m = alexnet::load_model(files().a, "");
  const GstVideoInfo cal_info = info_of(caps_str("RGB", 40, 30));
  std::vector<std::vector<uint8_t>> cal_pixels;
  std::vector<alexnet::Frame> cal_frames;
  for (uint32_t seed = 100; seed < 116; ++seed) {
    GstBuffer* b = make_buffer(cal_info, seed, 0);
    cal_pixels.push_back(bytes_of(b));
    gst_buffer_unref(b);
  }
  for (const auto& px : cal_pixels) cal_frames.push_back(frame_of(cal_info, px.data()));
  m.calibration =
      alexnet::calibrate(m,
                         alexnet::preprocess_batch(cal_frames, m.preprocess, m.config.in_channels,
                                                   m.config.input_size),
                         1);
  const std::string calibrated = (files().dir / "a-int8.safetensors").string();
  alexnet::save_model(m, calibrated);
  std::vector<std::string> precisions = {"int8"};
  if (alexnet::cpu_precision_unavailable_reason(alexnet::Precision::BF16).empty())
    precisions.push_back("bf16");
  for (const std::string& precision : precisions) {
    SCOPED_TRACE(precision);
    Harness hx({{"model", calibrated},
                {"device", "cpu"},
                {"precision", precision},
                {"output-tensor", "probabilities"},
                {"overlay", "false"}});
    GstVideoInfo info = hx.video(caps_str("RGB", 40, 30));
    GstBuffer* in = make_buffer(info, 5, 0);
    const std::vector<uint8_t> pixels = bytes_of(in);
    GstBuffer* out = gst_harness_push_and_pull(hx.h, in);
    ASSERT_NE(out, nullptr);
    const std::vector<GstAlexNetTensorMeta*> ts = tensors_of(out);
    ASSERT_EQ(ts.size(), 1u);
    const alexnet::Tensor want = library_forward(frame_of(info, pixels.data())).probabilities;
    ASSERT_EQ(ts[0]->n, static_cast<guint>(want.numel()));
    double worst = 0;
    for (guint i = 0; i < ts[0]->n; ++i)
      worst = std::max(worst, static_cast<double>(std::fabs(ts[0]->data[i] - want.data()[i])));
    EXPECT_LE(worst, 0.05);
    std::printf("  %s: largest probability difference from fp32 %.4f\n", precision.c_str(), worst);
    gst_buffer_unref(out);
  }
}

}  // namespace element_test
