/**
 * SECTION:element-alexnetclassify
 * @title: alexnetclassify
 *
 * Classifies every raw video frame with an AlexNet weights file (libalexnet) and annotates
 * the frame in place:
 *
 * 1. the top-k labels with their probabilities are drawn on the frame (#overlay,
 *    #overlay-position, #font-scale; labels below #threshold are not drawn);
 * 2. a full-frame #GstVideoRegionOfInterestMeta of type "classification" is attached whose
 *    "classification" parameter holds `label` (string), `label_id` (int) and `confidence`
 *    (double) of the best class (as DL Streamer does) and the top-k arrays `ids`, `labels`
 *    and `scores`; a #GstAlexNetMeta (libgstalexnetmeta-1.0) carries the same top-k and the
 *    model's file name;
 * 3. with #post-messages, an element message "alexnet-classification" with `pts`,
 *    `running-time`, `classified` and the fields above.
 *
 * The model is loaded on the NULL→READY state change; a missing or invalid file fails that
 * state change with an error naming the file and the problem. Setting #model while running
 * loads the new file in the background and swaps it in between two frames; a bad file keeps
 * the old model and posts a warning.
 *
 * With #inference-interval N only every Nth frame is classified; the others carry the last
 * result (overlay and metadata included). With the base class's `qos` property on, a frame
 * that is already late skips inference the same way (it is never dropped) and a QoS message
 * is posted.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     alexnetclassify model=alexnet.safetensors ! videoconvert ! autovideosink
 * ]|
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=30 ! alexnetclassify model=small.safetensors \
 *     post-messages=true overlay=false ! fakesink
 * ]|
 *
 * With one device and #batch-size 1, each frame is classified on the streaming thread as it
 * passes. With several devices (e.g. `device=cpu,cpu`, the CPU threads split between them)
 * or #batch-size N > 1, frames are held (writable, mapped) and classified in batches of up
 * to N on the devices in turn, concurrently, and leave in their original order as soon as
 * they are done (pushed by a small thread of the element): at most one filling batch and
 * one batch per device are held. A partial batch is sent once its oldest frame has waited
 * #batch-timeout ms, and every held frame is pushed before EOS, caps and other serialized
 * events. The LATENCY query reports the mean classification time (of a batch) plus, with
 * #batch-size > 1, the time a batch may wait to fill (at most #batch-timeout).
 *
 * With #inference-region roi-list, each object an upstream detector attached as a
 * #GstVideoRegionOfInterestMeta is classified instead of the whole frame (clamped to the frame,
 * filtered by #object-class and #min-object-size): its result goes on its ROI meta as a
 * "classification" param, into one #GstAlexNetMeta per object (has_roi, roi_id and the box),
 * and into the message's `objects` array:
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! facedetect display=false ! videoconvert ! \
 *     alexnetclassify model=m.safetensors inference-region=roi-list object-class=face ! \
 *     fakesink
 * ]|
 *
 * With #parallel model and two devices, the two devices work on every frame together, each
 * holding half of every layer (the paper's two-GPU split; the same results as one device):
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     alexnetclassify model=alexnet.safetensors device=gpu:0,gpu:1 parallel=model ! \
 *     videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstalexnetclassify.h"

#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/device.h"
#include "batcher.h"
#include "classify_engine.h"
#include "overlay.h"
#include "shared_instance.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

using alexnet::gst::Engine;
using alexnet::gst::Settings;

enum {
  PROP_0,
  PROP_MODEL,
  PROP_LABELS_FILE,
  PROP_DEVICE,
  PROP_THREADS,
  PROP_PRECISION,
  PROP_PARALLEL,
  PROP_BATCH_SIZE,
  PROP_BATCH_TIMEOUT,
  PROP_INFERENCE_INTERVAL,
  PROP_TOP_K,
  PROP_THRESHOLD,
  PROP_OVERLAY,
  PROP_OVERLAY_POSITION,
  PROP_FONT_SCALE,
  PROP_POST_MESSAGES,
  PROP_FRAMES_CLASSIFIED,
  PROP_FRAMES_SKIPPED,
  PROP_MEAN_LATENCY,
  PROP_INFERENCE_REGION,
  PROP_OBJECT_CLASS,
  PROP_MIN_OBJECT_SIZE,
  PROP_OBJECTS_CLASSIFIED,
  PROP_OBJECTS_SKIPPED,
  PROP_RECLASSIFY_INTERVAL,
  PROP_OBJECTS_CACHED,
  PROP_STATS_INTERVAL,
  PROP_MODEL_INSTANCE_ID,
};

#define DEFAULT_MODEL NULL
#define DEFAULT_LABELS_FILE NULL
#define DEFAULT_DEVICE "auto"
#define DEFAULT_THREADS 0
#define DEFAULT_PRECISION GST_ALEXNET_PRECISION_FP32
#define DEFAULT_PARALLEL GST_ALEXNET_PARALLEL_DATA
#define MAX_THREADS 1024
#define DEFAULT_BATCH_SIZE 1
#define MAX_BATCH_SIZE 64
#define DEFAULT_BATCH_TIMEOUT 50
#define MAX_BATCH_TIMEOUT 10000
#define DEFAULT_INFERENCE_INTERVAL 1
#define MAX_INFERENCE_INTERVAL 100000
#define DEFAULT_TOP_K 5
#define MAX_TOP_K 1000
#define DEFAULT_THRESHOLD 0.0
#define DEFAULT_OVERLAY TRUE
#define DEFAULT_OVERLAY_POSITION GST_ALEXNET_OVERLAY_TOP_LEFT
#define DEFAULT_FONT_SCALE 1.0
#define MIN_FONT_SCALE 0.25
#define MAX_FONT_SCALE 16.0
#define DEFAULT_POST_MESSAGES FALSE
#define DEFAULT_INFERENCE_REGION GST_ALEXNET_INFERENCE_REGION_FULL_FRAME
#define DEFAULT_OBJECT_CLASS ""
#define DEFAULT_MIN_OBJECT_SIZE "0x0"
#define DEFAULT_RECLASSIFY_INTERVAL 1
#define MAX_RECLASSIFY_INTERVAL 100000
#define DEFAULT_STATS_INTERVAL 0
#define DEFAULT_MODEL_INSTANCE_ID ""
#define MAX_STATS_INTERVAL 3600000

static_assert(static_cast<int>(alexnet::gst::OverlayPosition::TopLeft) ==
                      GST_ALEXNET_OVERLAY_TOP_LEFT &&
                  static_cast<int>(alexnet::gst::OverlayPosition::TopRight) ==
                      GST_ALEXNET_OVERLAY_TOP_RIGHT &&
                  static_cast<int>(alexnet::gst::OverlayPosition::BottomLeft) ==
                      GST_ALEXNET_OVERLAY_BOTTOM_LEFT &&
                  static_cast<int>(alexnet::gst::OverlayPosition::BottomRight) ==
                      GST_ALEXNET_OVERLAY_BOTTOM_RIGHT,
              "overlay positions match overlay.h");

#define VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, GRAY8, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));

#define gst_alexnet_classify_parent_class parent_class
G_DEFINE_TYPE(GstAlexNetClassify, gst_alexnet_classify, GST_TYPE_VIDEO_FILTER);

GType gst_alexnet_overlay_position_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_OVERLAY_TOP_LEFT, "Top left corner", "top-left"},
      {GST_ALEXNET_OVERLAY_TOP_RIGHT, "Top right corner", "top-right"},
      {GST_ALEXNET_OVERLAY_BOTTOM_LEFT, "Bottom left corner", "bottom-left"},
      {GST_ALEXNET_OVERLAY_BOTTOM_RIGHT, "Bottom right corner", "bottom-right"},
      {0, NULL, NULL},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstAlexNetOverlayPosition", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_alexnet_precision_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_PRECISION_FP32, "32-bit floating point", "fp32"},
      {GST_ALEXNET_PRECISION_FP16, "16-bit floating point (GPU; fp32 accumulation)", "fp16"},
      {GST_ALEXNET_PRECISION_BF16, "bfloat16 (GPU; fp32 accumulation)", "bf16"},
      {0, NULL, NULL},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstAlexNetPrecision", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_alexnet_parallel_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_PARALLEL_DATA, "One replica per device; frames alternate between them", "data"},
      {GST_ALEXNET_PARALLEL_MODEL,
       "Two devices, each holding half of every layer (the paper's split)", "model"},
      {0, NULL, NULL},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstAlexNetParallel", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_alexnet_inference_region_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_INFERENCE_REGION_FULL_FRAME, "The whole frame", "full-frame"},
      {GST_ALEXNET_INFERENCE_REGION_ROI_LIST,
       "Each object (GstVideoRegionOfInterestMeta) an upstream element attached", "roi-list"},
      {0, NULL, NULL},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstAlexNetInferenceRegion", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

static void gst_alexnet_classify_set_property(GObject* object, guint prop_id, const GValue* value,
                                              GParamSpec* pspec);
static void gst_alexnet_classify_get_property(GObject* object, guint prop_id, GValue* value,
                                              GParamSpec* pspec);
static void gst_alexnet_classify_finalize(GObject* object);
static GstStateChangeReturn gst_alexnet_classify_change_state(GstElement* element,
                                                              GstStateChange transition);
static gboolean gst_alexnet_classify_start(GstBaseTransform* trans);
static gboolean gst_alexnet_classify_src_event(GstBaseTransform* trans, GstEvent* event);
static gboolean gst_alexnet_classify_sink_event(GstBaseTransform* trans, GstEvent* event);
static gboolean gst_alexnet_classify_query(GstBaseTransform* trans, GstPadDirection direction,
                                           GstQuery* query);
static gboolean gst_alexnet_classify_set_info(GstVideoFilter* filter, GstCaps* incaps,
                                              GstVideoInfo* in_info, GstCaps* outcaps,
                                              GstVideoInfo* out_info);
static GstFlowReturn gst_alexnet_classify_transform_frame_ip(GstVideoFilter* filter,
                                                             GstVideoFrame* frame);
static gboolean gst_alexnet_classify_stop(GstBaseTransform* trans);
static GstFlowReturn gst_alexnet_classify_submit_input_buffer(GstBaseTransform* trans,
                                                              gboolean is_discont,
                                                              GstBuffer* input);
static GstFlowReturn gst_alexnet_classify_generate_output(GstBaseTransform* trans,
                                                          GstBuffer** outbuf);

static void gst_alexnet_classify_class_init(GstAlexNetClassifyClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);
  const GParamFlags rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_playing = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags rw_ready = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  gobject_class->set_property = gst_alexnet_classify_set_property;
  gobject_class->get_property = gst_alexnet_classify_get_property;
  gobject_class->finalize = gst_alexnet_classify_finalize;

  g_object_class_install_property(
      gobject_class, PROP_MODEL,
      g_param_spec_string(
          "model", "Model",
          "Weights file (safetensors) loaded on NULL->READY; set while running, the "
          "new file is loaded in the background and swapped in between two frames "
          "(a bad file keeps the old model and posts a warning)",
          DEFAULT_MODEL, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_LABELS_FILE,
      g_param_spec_string(
          "labels-file", "Labels file",
          "Optional labels file (one label per line, as many as the model's classes) "
          "overriding the labels stored in the weights file",
          DEFAULT_LABELS_FILE, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device",
                          "Devices to classify on: auto | DEV[,DEV]* with DEV = cpu | gpu:N "
                          "(auto = every GPU, else the CPU; the choice is logged). With several "
                          "devices, frames are classified concurrently and leave in order",
                          DEFAULT_DEVICE, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
                        "CPU threads in all, split among CPU workers (0 = all cores)", 0,
                        MAX_THREADS, DEFAULT_THREADS, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_PRECISION,
      g_param_spec_enum("precision", "Precision",
                        "Arithmetic on GPUs: fp32, or fp16/bf16 weights and activations with "
                        "fp32 accumulation (faster; top-1 agrees with fp32 on >= 99% of "
                        "images). CPU devices always run fp32",
                        GST_TYPE_ALEXNET_PRECISION, DEFAULT_PRECISION, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_PARALLEL,
      g_param_spec_enum("parallel", "Parallel",
                        "How several devices share the work: data = a whole network on each, "
                        "frames alternate; model = exactly two devices (e.g. gpu:0,gpu:1), each "
                        "holding half of every layer as in the paper (fp32)",
                        GST_TYPE_ALEXNET_PARALLEL, DEFAULT_PARALLEL, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint("batch-size", "Batch size",
                        "Frames classified together in one batch (1 = each frame as it passes; "
                        "N > 1 holds up to N frames, see batch-timeout)",
                        1, MAX_BATCH_SIZE, DEFAULT_BATCH_SIZE, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_BATCH_TIMEOUT,
      g_param_spec_uint(
          "batch-timeout", "Batch timeout",
          "Milliseconds the first frame of a batch waits for the batch to fill before "
          "a partial batch is classified (EOS sends it at once)",
          0, MAX_BATCH_TIMEOUT, DEFAULT_BATCH_TIMEOUT, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_INFERENCE_INTERVAL,
      g_param_spec_uint("inference-interval", "Inference interval",
                        "Classify every Nth frame (1 = every frame); the others carry the last "
                        "result, overlay and metadata included",
                        1, MAX_INFERENCE_INTERVAL, DEFAULT_INFERENCE_INTERVAL, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_TOP_K,
      g_param_spec_uint("top-k", "Top k",
                        "Number of best classes reported in the metadata, messages and overlay "
                        "(at most the model's classes)",
                        1, MAX_TOP_K, DEFAULT_TOP_K, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_THRESHOLD,
      g_param_spec_double("threshold", "Threshold",
                          "Labels with a lower probability are not drawn (the overlay only; "
                          "metadata and messages always carry the top-k)",
                          0.0, 1.0, DEFAULT_THRESHOLD, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_OVERLAY,
      g_param_spec_boolean("overlay", "Overlay", "Draw the labels and probabilities on the frame",
                           DEFAULT_OVERLAY, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_OVERLAY_POSITION,
      g_param_spec_enum("overlay-position", "Overlay position",
                        "Corner of the frame the labels are drawn in",
                        GST_TYPE_ALEXNET_OVERLAY_POSITION, DEFAULT_OVERLAY_POSITION, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_FONT_SCALE,
      g_param_spec_double("font-scale", "Font scale",
                          "Size of the overlay text: 1 = 8x8-pixel glyphs, one size step more per "
                          "360 lines of frame height (rounded to whole pixels)",
                          MIN_FONT_SCALE, MAX_FONT_SCALE, DEFAULT_FONT_SCALE, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean(
          "post-messages", "Post messages",
          "Post an element message \"alexnet-classification\" on the bus for every "
          "frame",
          DEFAULT_POST_MESSAGES, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_CLASSIFIED,
      g_param_spec_uint64("frames-classified", "Frames classified",
                          "Frames that went through the network since the last start", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_SKIPPED,
      g_param_spec_uint64("frames-skipped", "Frames skipped",
                          "Frames that carried the last result (inference-interval or QoS) since "
                          "the last start",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MEAN_LATENCY,
      g_param_spec_double("mean-latency", "Mean latency",
                          "Mean time to classify one frame, in microseconds", 0.0, G_MAXDOUBLE, 0.0,
                          ro));

  g_object_class_install_property(
      gobject_class, PROP_INFERENCE_REGION,
      g_param_spec_enum("inference-region", "Inference region",
                        "What is classified: the whole frame, or each object "
                        "(GstVideoRegionOfInterestMeta) an upstream detector attached, with its "
                        "results on its ROI meta (roi-list: batch-size 1 on one device so far)",
                        GST_TYPE_ALEXNET_INFERENCE_REGION, DEFAULT_INFERENCE_REGION, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_OBJECT_CLASS,
      g_param_spec_string("object-class", "Object class",
                          "roi-list: classify only objects of these ROI types (comma-separated, "
                          "e.g. \"face,person\"; empty = all)",
                          DEFAULT_OBJECT_CLASS, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_MIN_OBJECT_SIZE,
      g_param_spec_string("min-object-size", "Minimum object size",
                          "roi-list: skip (and count) objects smaller than WxH pixels",
                          DEFAULT_MIN_OBJECT_SIZE, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_RECLASSIFY_INTERVAL,
      g_param_spec_uint("reclassify-interval", "Reclassify interval",
                        "roi-list: an object whose ROI id (> 0, once in the frame) was classified "
                        "fewer than N frames ago keeps that result, unless its box grew by 20% "
                        "or more (1 = classify every object on every frame)",
                        1, MAX_RECLASSIFY_INTERVAL, DEFAULT_RECLASSIFY_INTERVAL, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_MODEL_INSTANCE_ID,
      g_param_spec_string(
          "model-instance-id", "Model instance id",
          "Elements of the process with the same id share one loaded model and its devices "
          "(they must agree on model, labels-file, device, threads, precision, parallel, "
          "batch-size and batch-timeout; a model set on one reaches all). Empty = private",
          DEFAULT_MODEL_INSTANCE_ID, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_uint("stats-interval", "Stats interval",
                        "Post an element message \"alexnet-stats\" (frames, classified, "
                        "skipped and object counts; fps, mean and p95 time in the element) every "
                        "N ms while frames flow, and always at EOS (0 = only at EOS)",
                        0, MAX_STATS_INTERVAL, DEFAULT_STATS_INTERVAL, rw_playing));
  g_object_class_install_property(
      gobject_class, PROP_OBJECTS_CACHED,
      g_param_spec_uint64("objects-cached", "Objects cached",
                          "roi-list: objects that kept an earlier result (reclassify-interval) "
                          "since the last start",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_OBJECTS_CLASSIFIED,
      g_param_spec_uint64("objects-classified", "Objects classified",
                          "roi-list: objects that went through the network since the last start", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_OBJECTS_SKIPPED,
      g_param_spec_uint64("objects-skipped", "Objects skipped",
                          "roi-list: boxes skipped since the last start (empty or outside the "
                          "frame once clamped, or smaller than min-object-size)",
                          0, G_MAXUINT64, 0, ro));

  gst_element_class_set_static_metadata(
      element_class, "AlexNet classifier", "Filter/Analyzer/Video",
      "Classifies video frames with AlexNet, attaching the top-k labels as metadata "
      "and drawing them on the frame",
      "alexnet-gst developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_alexnet_classify_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR(gst_alexnet_classify_start);
  trans_class->src_event = GST_DEBUG_FUNCPTR(gst_alexnet_classify_src_event);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_alexnet_classify_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_alexnet_classify_query);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_alexnet_classify_stop);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_alexnet_classify_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR(gst_alexnet_classify_generate_output);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_alexnet_classify_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_alexnet_classify_transform_frame_ip);

  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_OVERLAY_POSITION, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PRECISION, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PARALLEL, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_INFERENCE_REGION, static_cast<GstPluginAPIFlags>(0));
}

static void gst_alexnet_classify_init(GstAlexNetClassify* self) {
  self->impl = new GstAlexNetClassifyImpl();
  Settings& s = self->impl->settings;
  s.model = "";       /* DEFAULT_MODEL */
  s.labels_file = ""; /* DEFAULT_LABELS_FILE */
  s.device = DEFAULT_DEVICE;
  s.threads = DEFAULT_THREADS;
  s.precision = DEFAULT_PRECISION;
  s.parallel = DEFAULT_PARALLEL;
  s.batch_size = DEFAULT_BATCH_SIZE;
  s.batch_timeout = DEFAULT_BATCH_TIMEOUT;
  s.inference_interval = DEFAULT_INFERENCE_INTERVAL;
  s.top_k = DEFAULT_TOP_K;
  s.threshold = DEFAULT_THRESHOLD;
  s.overlay = DEFAULT_OVERLAY;
  s.position = DEFAULT_OVERLAY_POSITION;
  s.font_scale = DEFAULT_FONT_SCALE;
  s.post_messages = DEFAULT_POST_MESSAGES;
  s.region = DEFAULT_INFERENCE_REGION;
  s.object_class = DEFAULT_OBJECT_CLASS;
  s.min_object_size = DEFAULT_MIN_OBJECT_SIZE;
  s.reclassify_interval = DEFAULT_RECLASSIFY_INTERVAL;
  s.stats_interval = DEFAULT_STATS_INTERVAL;
  s.model_instance_id = DEFAULT_MODEL_INSTANCE_ID;
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_alexnet_classify_finalize(GObject* object) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(object);
  gst_alexnet_classify_join_loader(self);
  gst_alexnet_classify_stop_pusher(self->impl);
  if (self->impl->model.shared) self->impl->model.shared->remove_sharer(self); /* left at READY */
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

/* model / labels-file: stored; while a model is loaded, the new file loads in the background
 * and is swapped in between two frames. */
static void set_model_file(GstAlexNetClassify* self, guint prop_id, const GValue* value) {
  GstAlexNetClassifyImpl* impl = self->impl;
  const gchar* str = g_value_get_string(value);
  GST_OBJECT_LOCK(self);
  (prop_id == PROP_MODEL ? impl->settings.model : impl->settings.labels_file) = str ? str : "";
  const bool have_model = !impl->settings.model.empty();
  GST_OBJECT_UNLOCK(self);
  bool reload;
  {
    std::lock_guard<std::mutex> guard(impl->model.lock);
    reload = impl->model.loaded && have_model;
  }
  if (reload) gst_alexnet_classify_reload_async(self);
}

/* device: parsed now; a bad list is refused with a warning, keeping the current one. */
static void set_device(GstAlexNetClassify* self, const GValue* value) {
  const gchar* str = g_value_get_string(value);
  std::string text = str ? str : DEFAULT_DEVICE;
  try {
    alexnet::parse_devices(text);
    GST_OBJECT_LOCK(self);
    self->impl->settings.device = text;
    GST_OBJECT_UNLOCK(self);
  } catch (const std::exception& e) {
    const std::string kept = gst_alexnet_classify_settings(self).device;
    GST_WARNING_OBJECT(self, "refusing device \"%s\": %s", text.c_str(), e.what());
    GST_ELEMENT_WARNING(
        self, RESOURCE, SETTINGS,
        ("Invalid device \"%s\": %s; keeping \"%s\"", text.c_str(), e.what(), kept.c_str()),
        (NULL));
  }
}

/* object-class / min-object-size: parsed now; a malformed size is refused with a warning,
 * keeping the current one. */
static void set_object_filter(GstAlexNetClassify* self, guint prop_id, const GValue* value) {
  const gchar* str = g_value_get_string(value);
  const std::string text = str ? str : "";
  Settings& s = self->impl->settings;
  if (prop_id == PROP_OBJECT_CLASS) {
    GST_OBJECT_LOCK(self);
    s.object_class = text;
    s.filter.classes = alexnet::gst::parse_object_classes(text);
    GST_OBJECT_UNLOCK(self);
    return;
  }
  int w = 0, h = 0;
  if (!alexnet::gst::parse_object_size(text.empty() ? DEFAULT_MIN_OBJECT_SIZE : text, &w, &h)) {
    const std::string kept = gst_alexnet_classify_settings(self).min_object_size;
    GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS,
                        ("Invalid min-object-size \"%s\": expected WxH (e.g. 32x32, each at most "
                         "65535); keeping \"%s\"",
                         text.c_str(), kept.c_str()),
                        (NULL));
    return;
  }
  GST_OBJECT_LOCK(self);
  s.min_object_size = text.empty() ? DEFAULT_MIN_OBJECT_SIZE : text;
  s.filter.min_width = w;
  s.filter.min_height = h;
  GST_OBJECT_UNLOCK(self);
}

/* The other writable properties: plain values (the object lock held). False for an id that
 * is not one of them. */
static bool set_plain_setting(Settings& s, guint prop_id, const GValue* value) {
  switch (prop_id) {
    case PROP_THREADS:
      s.threads = g_value_get_uint(value);
      return true;
    case PROP_BATCH_SIZE:
      s.batch_size = g_value_get_uint(value);
      return true;
    case PROP_BATCH_TIMEOUT:
      s.batch_timeout = g_value_get_uint(value);
      return true;
    case PROP_INFERENCE_INTERVAL:
      s.inference_interval = g_value_get_uint(value);
      return true;
    case PROP_TOP_K:
      s.top_k = g_value_get_uint(value);
      return true;
    case PROP_THRESHOLD:
      s.threshold = g_value_get_double(value);
      return true;
    case PROP_OVERLAY:
      s.overlay = g_value_get_boolean(value);
      return true;
    case PROP_OVERLAY_POSITION:
      s.position = static_cast<GstAlexNetOverlayPosition>(g_value_get_enum(value));
      return true;
    case PROP_PRECISION:
      s.precision = static_cast<GstAlexNetPrecision>(g_value_get_enum(value));
      return true;
    case PROP_PARALLEL:
      s.parallel = static_cast<GstAlexNetParallel>(g_value_get_enum(value));
      return true;
    case PROP_FONT_SCALE:
      s.font_scale = g_value_get_double(value);
      return true;
    case PROP_POST_MESSAGES:
      s.post_messages = g_value_get_boolean(value);
      return true;
    case PROP_INFERENCE_REGION:
      s.region = static_cast<GstAlexNetInferenceRegion>(g_value_get_enum(value));
      return true;
    case PROP_RECLASSIFY_INTERVAL:
      s.reclassify_interval = g_value_get_uint(value);
      return true;
    case PROP_STATS_INTERVAL:
      s.stats_interval = g_value_get_uint(value);
      return true;
    default:
      return false;
  }
}

static void gst_alexnet_classify_set_property(GObject* object, guint prop_id, const GValue* value,
                                              GParamSpec* pspec) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(object);
  switch (prop_id) {
    case PROP_MODEL:
    case PROP_LABELS_FILE:
      set_model_file(self, prop_id, value);
      break;
    case PROP_DEVICE:
      set_device(self, value);
      break;
    case PROP_OBJECT_CLASS:
    case PROP_MIN_OBJECT_SIZE:
      set_object_filter(self, prop_id, value);
      break;
    case PROP_MODEL_INSTANCE_ID: {
      const gchar* str = g_value_get_string(value);
      GST_OBJECT_LOCK(self);
      self->impl->settings.model_instance_id = str ? str : "";
      GST_OBJECT_UNLOCK(self);
      break;
    }
    default: {
      GST_OBJECT_LOCK(self);
      const bool known = set_plain_setting(self->impl->settings, prop_id, value);
      GST_OBJECT_UNLOCK(self);
      if (!known) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
    }
  }
}

/* The read-only statistics properties; false for any other id. */
static bool get_stat_property(const alexnet::gst::Stats& stats, guint prop_id, GValue* value) {
  switch (prop_id) {
    case PROP_FRAMES_CLASSIFIED:
      g_value_set_uint64(value, stats.classified.load());
      return true;
    case PROP_FRAMES_SKIPPED:
      g_value_set_uint64(value, stats.skipped.load());
      return true;
    case PROP_OBJECTS_CLASSIFIED:
      g_value_set_uint64(value, stats.objects_classified.load());
      return true;
    case PROP_OBJECTS_SKIPPED:
      g_value_set_uint64(value, stats.objects_skipped.load());
      return true;
    case PROP_OBJECTS_CACHED:
      g_value_set_uint64(value, stats.objects_cached.load());
      return true;
    case PROP_MEAN_LATENCY: {
      guint64 n = stats.classified.load();
      g_value_set_double(value, n ? static_cast<double>(stats.latency_total_us.load()) / n : 0.0);
      return true;
    }
    default:
      return false;
  }
}

static void gst_alexnet_classify_get_property(GObject* object, guint prop_id, GValue* value,
                                              GParamSpec* pspec) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(object);
  GstAlexNetClassifyImpl* impl = self->impl;
  const Settings s = gst_alexnet_classify_settings(self);
  const alexnet::gst::Stats& stats = impl->stats;

  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string(value, s.model.empty() ? NULL : s.model.c_str());
      break;
    case PROP_LABELS_FILE:
      g_value_set_string(value, s.labels_file.empty() ? NULL : s.labels_file.c_str());
      break;
    case PROP_DEVICE:
      g_value_set_string(value, s.device.c_str());
      break;
    case PROP_THREADS:
      g_value_set_uint(value, s.threads);
      break;
    case PROP_PRECISION:
      g_value_set_enum(value, s.precision);
      break;
    case PROP_PARALLEL:
      g_value_set_enum(value, s.parallel);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint(value, s.batch_size);
      break;
    case PROP_BATCH_TIMEOUT:
      g_value_set_uint(value, s.batch_timeout);
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint(value, s.inference_interval);
      break;
    case PROP_TOP_K:
      g_value_set_uint(value, s.top_k);
      break;
    case PROP_THRESHOLD:
      g_value_set_double(value, s.threshold);
      break;
    case PROP_OVERLAY:
      g_value_set_boolean(value, s.overlay);
      break;
    case PROP_OVERLAY_POSITION:
      g_value_set_enum(value, s.position);
      break;
    case PROP_FONT_SCALE:
      g_value_set_double(value, s.font_scale);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean(value, s.post_messages);
      break;
    case PROP_INFERENCE_REGION:
      g_value_set_enum(value, s.region);
      break;
    case PROP_OBJECT_CLASS:
      g_value_set_string(value, s.object_class.c_str());
      break;
    case PROP_MIN_OBJECT_SIZE:
      g_value_set_string(value, s.min_object_size.c_str());
      break;
    case PROP_RECLASSIFY_INTERVAL:
      g_value_set_uint(value, s.reclassify_interval);
      break;
    case PROP_STATS_INTERVAL:
      g_value_set_uint(value, s.stats_interval);
      break;
    case PROP_MODEL_INSTANCE_ID:
      g_value_set_string(value, s.model_instance_id.c_str());
      break;
    default:
      if (!get_stat_property(stats, prop_id, value))
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

static GstStateChangeReturn gst_alexnet_classify_change_state(GstElement* element,
                                                              GstStateChange transition) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!gst_alexnet_classify_load(self)) return GST_STATE_CHANGE_FAILURE;
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE)) {
    alexnet::gst::ModelSlot& slot = self->impl->model;
    {
      std::lock_guard<std::mutex> guard(slot.lock);
      slot.loaded = false;
    }
    gst_alexnet_classify_join_loader(self);
    if (slot.shared) slot.shared->remove_sharer(self);
    std::lock_guard<std::mutex> guard(slot.lock);
    slot.pending.reset();
    slot.current.reset();
    slot.shared.reset(); /* the last sharer frees the instance */
  }
  return ret;
}

/* READY->PAUSED: a fresh stream. */
static gboolean gst_alexnet_classify_start(GstBaseTransform* trans) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  gst_alexnet_classify_discard(impl);
  const alexnet::gst::StreamState fresh;
  impl->stream.last = fresh.last;
  impl->stream.last_model = fresh.last_model;
  impl->stream.have_last = fresh.have_last;
  impl->stream.dispatched_any = fresh.dispatched_any;
  impl->stream.frame_index = fresh.frame_index;
  impl->stream.latency_announced = fresh.latency_announced;
  impl->stats.classified = 0;
  impl->stats.skipped = 0;
  impl->stats.latency_total_us = 0;
  impl->stats.qos_skipped = 0;
  impl->stats.objects_classified = 0;
  impl->stats.objects_skipped = 0;
  impl->stats.objects_cached = 0;
  impl->stream.objects.clear();
  impl->stream.window = alexnet::gst::StatsWindow();
  GST_OBJECT_LOCK(self);
  impl->qos = alexnet::gst::QosState();
  const guint batch_size = impl->settings.batch_size;
  const bool roi_list = impl->settings.region == GST_ALEXNET_INFERENCE_REGION_ROI_LIST;
  GST_OBJECT_UNLOCK(self);
  alexnet::gst::Batcher& b = impl->batcher;
  b.next_worker = 0;
  b.pushed_ret = GST_FLOW_OK;
  const int workers = impl->model.current ? impl->model.current->classifier->workers() : 1;
  /* a shared instance batches across streams: its frames take the concurrent path */
  b.active = batch_size > 1 || workers > 1 || impl->model.shared != nullptr;
  if (roi_list && workers > 1) {
    /* the concurrent path holds whole frames; objects on it are not built yet */
    GST_ELEMENT_ERROR(self, CORE, NOT_IMPLEMENTED,
                      ("inference-region=roi-list runs on one device so far, not %d", workers),
                      ("use one device (e.g. device=cpu or device=gpu:0) with roi-list"));
    return FALSE;
  }
  if (roi_list) b.active = false; /* objects of a frame batch together on the streaming thread */
  GST_INFO_OBJECT(self, "%s: batch-size %u, %d worker(s)", b.active ? "concurrent" : "synchronous",
                  batch_size, workers);
  if (b.active) gst_alexnet_classify_start_pusher(self);
  return TRUE;
}

static gboolean gst_alexnet_classify_stop(GstBaseTransform* trans) {
  GstAlexNetClassifyImpl* impl = GST_ALEXNET_CLASSIFY(trans)->impl;
  gst_alexnet_classify_stop_pusher(impl);
  gst_alexnet_classify_discard(impl);
  return TRUE;
}

/* QOS events are handled here, not by the base class (which would drop late frames):
 * a late frame skips inference instead. */
static gboolean gst_alexnet_classify_src_event(GstBaseTransform* trans, GstEvent* event) {
  GstAlexNetClassifyImpl* impl = GST_ALEXNET_CLASSIFY(trans)->impl;
  if (GST_EVENT_TYPE(event) == GST_EVENT_QOS) {
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos(event, NULL, &proportion, &diff, &timestamp);
    GST_OBJECT_LOCK(trans);
    impl->qos.proportion = proportion;
    if (GST_CLOCK_TIME_IS_VALID(timestamp)) {
      if (diff >= 0 || static_cast<GstClockTime>(-diff) < timestamp)
        impl->qos.earliest_time = timestamp + diff;
      else
        impl->qos.earliest_time = 0;
    } else {
      impl->qos.earliest_time = GST_CLOCK_TIME_NONE;
    }
    GST_OBJECT_UNLOCK(trans);
    return gst_pad_push_event(GST_BASE_TRANSFORM_SINK_PAD(trans), event);
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->src_event(trans, event);
}

static gboolean gst_alexnet_classify_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
    gst_alexnet_classify_discard(impl);
    impl->batcher.pushed_ret = GST_FLOW_OK;
    impl->stream.objects.clear(); /* after a seek a tracker may reuse ids */
    GST_OBJECT_LOCK(trans);
    impl->qos.earliest_time = GST_CLOCK_TIME_NONE;
    GST_OBJECT_UNLOCK(trans);
  } else if ((static_cast<int>(GST_EVENT_TYPE(event)) &
              static_cast<int>(GST_EVENT_TYPE_SERIALIZED)) &&
             !impl->batcher.queue.empty()) {
    /* held frames leave before any later event (EOS, caps, segment …) */
    GstFlowReturn ret = gst_alexnet_classify_drain(self);
    GST_DEBUG_OBJECT(self, "drained before %s: %s", GST_EVENT_TYPE_NAME(event),
                     gst_flow_get_name(ret));
  }
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) gst_alexnet_classify_post_stats(self);
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

/* LATENCY: upstream's plus what we add: the mean classification time, and with
 * batch-size > 1 the time a batch may wait to fill (at most batch-timeout). */
static gboolean gst_alexnet_classify_query(GstBaseTransform* trans, GstPadDirection direction,
                                           GstQuery* query) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  if (direction == GST_PAD_SINK && GST_QUERY_TYPE(query) == GST_QUERY_DRAIN) {
    GST_PAD_STREAM_LOCK(GST_BASE_TRANSFORM_SINK_PAD(trans));
    if (!impl->batcher.queue.empty()) gst_alexnet_classify_drain(self);
    GST_PAD_STREAM_UNLOCK(GST_BASE_TRANSFORM_SINK_PAD(trans));
  }
  gboolean ret = GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query);
  if (ret && direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(query, &live, &min, &max);
    GstClockTime ours = gst_alexnet_classify_added_latency(self);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
    GST_DEBUG_OBJECT(trans, "adding latency %" GST_TIME_FORMAT, GST_TIME_ARGS(ours));
    gst_query_set_latency(query, live, min, max);
  }
  return ret;
}

static gboolean gst_alexnet_classify_set_info(GstVideoFilter* filter, GstCaps* incaps,
                                              GstVideoInfo* in_info, GstCaps*, GstVideoInfo*) {
  alexnet::gst::StreamState& stream = GST_ALEXNET_CLASSIFY(filter)->impl->stream;
  try {
    stream.format =
        alexnet::pixel_format_from_name(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(in_info)));
  } catch (const std::exception& e) {
    GST_WARNING_OBJECT(filter, "unsupported format: %s", e.what());
    return FALSE;
  }
  stream.matrix = in_info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709
                      ? alexnet::ColorMatrix::BT709
                      : alexnet::ColorMatrix::BT601;
  stream.range = in_info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255
                     ? alexnet::ColorRange::Full
                     : alexnet::ColorRange::Limited;
  GST_DEBUG_OBJECT(filter, "caps %" GST_PTR_FORMAT, static_cast<void*>(incaps));
  return TRUE;
}

/* --- the synchronous path: one frame at a time on worker 0 ------------------------------ */

static GstFlowReturn gst_alexnet_classify_transform_frame_ip(GstVideoFilter* filter,
                                                             GstVideoFrame* frame) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(filter);
  GstBaseTransform* trans = GST_BASE_TRANSFORM(filter);
  GstAlexNetClassifyImpl* impl = self->impl;

  const alexnet::gst::Clock::time_point entered = alexnet::gst::Clock::now();
  try {
    const Settings s = gst_alexnet_classify_settings(self);
    gst_alexnet_classify_swap_model(self);
    if (!impl->model.current) {
      GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("No model loaded"), (NULL));
      return GST_FLOW_ERROR;
    }
    const Engine& engine = *impl->model.current;
    if (s.region == GST_ALEXNET_INFERENCE_REGION_ROI_LIST) {
      gst_alexnet_classify_objects_ip(self, frame, s, engine);
      gst_alexnet_classify_frame_left(self, entered);
      return GST_FLOW_OK;
    }
    alexnet::gst::StreamState& stream = impl->stream;
    const GstClockTime pts = GST_BUFFER_PTS(frame->buffer);
    const GstClockTime running_time = running_time_of(trans, pts);
    const bool run =
        gst_alexnet_classify_decide(self, frame->buffer, s, running_time, stream.have_last);
    if (run) {
      alexnet::Frame f = frame_of(frame, stream.format, stream.matrix, stream.range);
      auto t0 = std::chrono::steady_clock::now();
      std::vector<alexnet::TopK> res =
          engine.classifier->classify({&f, 1}, static_cast<int>(s.top_k), 0);
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      gst_alexnet_classify_keep_result(self, res.at(0), engine.model_name,
                                       static_cast<guint64>(us));
    }
    gst_alexnet_classify_annotate(self, frame, stream.format, stream.range, run, pts, running_time);
    gst_alexnet_classify_frame_left(self, entered);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Classification failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* --- the concurrent path (batcher.cpp) ---------------------------------------------------- */

static GstFlowReturn gst_alexnet_classify_submit_input_buffer(GstBaseTransform* trans,
                                                              gboolean is_discont,
                                                              GstBuffer* input) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  GstFlowReturn ret =
      GST_BASE_TRANSFORM_CLASS(parent_class)->submit_input_buffer(trans, is_discont, input);
  if (!impl->batcher.active || ret != GST_FLOW_OK) return ret;
  GstBuffer* buffer = trans->queued_buf;
  trans->queued_buf = NULL;
  if (!buffer) return GST_FLOW_OK;
  return gst_alexnet_classify_enqueue(self, buffer);
}

static GstFlowReturn gst_alexnet_classify_generate_output(GstBaseTransform* trans,
                                                          GstBuffer** outbuf) {
  GstAlexNetClassify* self = GST_ALEXNET_CLASSIFY(trans);
  GstAlexNetClassifyImpl* impl = self->impl;
  if (!impl->batcher.active)
    return GST_BASE_TRANSFORM_CLASS(parent_class)->generate_output(trans, outbuf);
  return gst_alexnet_classify_next_output(self, outbuf);
}
