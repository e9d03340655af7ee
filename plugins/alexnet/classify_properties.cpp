/* alexnetclassify's properties: ids, defaults, their GParamSpecs (with the enum types), and
 * get/set (classify_properties.h). Values live in GstAlexNetClassifyImpl::settings under the
 * object lock; counters come from its stats. */
#include "classify_properties.h"

#include <string>

#include "alexnet/device.h"
#include "overlay.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

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
  PROP_OUTPUT_TENSOR,
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
#define DEFAULT_OUTPUT_TENSOR GST_ALEXNET_OUTPUT_TENSOR_NONE
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
      {GST_ALEXNET_PRECISION_BF16, "bfloat16 (GPU; CPU with avx512_bf16 or AMX; fp32 accumulation)",
       "bf16"},
      {GST_ALEXNET_PRECISION_INT8,
       "8-bit integers (CPU, AVX2 and up; needs a calibrated model, alexnet-calibrate)", "int8"},
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

GType gst_alexnet_output_tensor_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_OUTPUT_TENSOR_NONE, "No tensor", "none"},
      {GST_ALEXNET_OUTPUT_TENSOR_PROBABILITIES, "The probability of every class", "probabilities"},
      {GST_ALEXNET_OUTPUT_TENSOR_FC7, "The embedding: fc7's activations after its ReLU", "fc7"},
      {0, NULL, NULL},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstAlexNetOutputTensor", values);
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
void gst_alexnet_classify_install_properties(GObjectClass* gobject_class) {
  const GParamFlags rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_playing = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags rw_ready = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

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
                        "CPU threads in all, split among CPU workers (0 = auto: 1 for a model "
                        "under 100 M multiply-adds per image, else all cores)",
                        0, MAX_THREADS, DEFAULT_THREADS, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_PRECISION,
      g_param_spec_enum("precision", "Precision",
                        "Inference arithmetic: fp32; fp16 (GPUs) or bf16 (GPUs, and CPUs with "
                        "avx512_bf16 or AMX) weights and activations with fp32 accumulation; "
                        "int8 (CPUs; a model calibrated with alexnet-calibrate). A precision a "
                        "device cannot run is an error naming it (device=auto on a CPU falls "
                        "back to fp32)",
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
                        "results on its ROI meta (objects are batched like frames: batch-size, "
                        "batch-timeout, devices, shared instances)",
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
      gobject_class, PROP_OUTPUT_TENSOR,
      g_param_spec_enum("output-tensor", "Output tensor",
                        "Attach a GstAlexNetTensorMeta per frame (or per object with roi-list): "
                        "the probability of every class, or the 4096-d embedding (fc7 after its "
                        "ReLU, the paper's image features); none = no tensor",
                        GST_TYPE_ALEXNET_OUTPUT_TENSOR, DEFAULT_OUTPUT_TENSOR, rw_playing));
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
}

void gst_alexnet_classify_default_settings(Settings& s) {
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
  s.output_tensor = DEFAULT_OUTPUT_TENSOR;
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
    case PROP_OUTPUT_TENSOR:
      s.output_tensor = static_cast<GstAlexNetOutputTensor>(g_value_get_enum(value));
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

void gst_alexnet_classify_set_property(GObject* object, guint prop_id, const GValue* value,
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

void gst_alexnet_classify_get_property(GObject* object, guint prop_id, GValue* value,
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
    case PROP_OUTPUT_TENSOR:
      g_value_set_enum(value, s.output_tensor);
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
