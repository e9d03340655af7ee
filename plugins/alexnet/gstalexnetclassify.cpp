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
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstalexnetclassify.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/classifier.h"
#include "alexnet/device.h"
#include "alexnet/error.h"
#include "alexnet/weights.h"
#include "overlay.h"
#include "results.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LABELS_FILE,
  PROP_DEVICE,
  PROP_THREADS,
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
};

#define DEFAULT_MODEL NULL
#define DEFAULT_LABELS_FILE NULL
#define DEFAULT_DEVICE "auto"
#define DEFAULT_THREADS 0
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

typedef enum
{
  GST_ALEXNET_OVERLAY_TOP_LEFT,
  GST_ALEXNET_OVERLAY_TOP_RIGHT,
  GST_ALEXNET_OVERLAY_BOTTOM_LEFT,
  GST_ALEXNET_OVERLAY_BOTTOM_RIGHT,
} GstAlexNetOverlayPosition;

static_assert (static_cast < int >(alexnet::gst::OverlayPosition::TopLeft) ==
    GST_ALEXNET_OVERLAY_TOP_LEFT
    && static_cast < int >(alexnet::gst::OverlayPosition::TopRight) ==
    GST_ALEXNET_OVERLAY_TOP_RIGHT
    && static_cast < int >(alexnet::gst::OverlayPosition::BottomLeft) ==
    GST_ALEXNET_OVERLAY_BOTTOM_LEFT
    && static_cast < int >(alexnet::gst::OverlayPosition::BottomRight) ==
    GST_ALEXNET_OVERLAY_BOTTOM_RIGHT, "overlay positions match overlay.h");

#define VIDEO_FORMATS \
  "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, GRAY8, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

namespace {

/* Property values; guarded by Impl::lock. */
struct Settings
{
  std::string model;
  std::string labels_file;
  std::string device = DEFAULT_DEVICE;
  guint threads = DEFAULT_THREADS;
  guint batch_size = DEFAULT_BATCH_SIZE;
  guint batch_timeout = DEFAULT_BATCH_TIMEOUT;
  guint inference_interval = DEFAULT_INFERENCE_INTERVAL;
  guint top_k = DEFAULT_TOP_K;
  double threshold = DEFAULT_THRESHOLD;
  bool overlay = DEFAULT_OVERLAY;
  GstAlexNetOverlayPosition position = DEFAULT_OVERLAY_POSITION;
  double font_scale = DEFAULT_FONT_SCALE;
  bool post_messages = DEFAULT_POST_MESSAGES;
};

/* A loaded model ready to classify. */
struct Engine
{
  std::unique_ptr<alexnet::Classifier> classifier;
  std::string model_name;       /* basename of the file */
};

/* A buffer's frame mapped (RAII) for as long as it is classified and annotated. The
 * mapping takes no reference, so the buffer stays writable for the metadata. */
struct MappedFrame
{
  GstVideoFrame frame;
  bool mapped = false;
  MappedFrame (const GstVideoInfo * info, GstBuffer * buffer)
  {
    mapped = gst_video_frame_map (&frame, const_cast < GstVideoInfo * >(info),
        buffer, static_cast < GstMapFlags > (static_cast < int >(GST_MAP_READWRITE) |
            static_cast < int >(GST_VIDEO_FRAME_MAP_FLAG_NO_REF)));
  }
  ~MappedFrame ()
  {
    if (mapped)
      gst_video_frame_unmap (&frame);
  }
  MappedFrame (const MappedFrame &) = delete;
  MappedFrame & operator= (const MappedFrame &) = delete;
};

/* The top-k of a batch of frames classified together, and how long it took. */
struct BatchResult
{
  std::vector < alexnet::TopK > tops;
  guint64 us = 0;
};

/* One frame held by the concurrent path between submit_input_buffer and generate_output. */
struct Job
{
  GstBuffer *buffer = nullptr;  /* owned */
  GstVideoInfo info;
  std::unique_ptr < MappedFrame > map;
  alexnet::PixelFormat format = alexnet::PixelFormat::RGB;
  alexnet::ColorMatrix matrix = alexnet::ColorMatrix::BT601;
  alexnet::ColorRange range = alexnet::ColorRange::Limited;
  bool classify = false;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  std::shared_ptr < Engine > engine;
  std::shared_future < BatchResult > result;    /* valid once its batch is dispatched */
  size_t index = 0;             /* in its batch */

  Job () = default;
  Job (const Job &) = delete;
  Job & operator= (const Job &) = delete;
  ~Job ()
  {
    /* a worker may still read the mapped pixels */
    if (result.valid ())
      result.wait ();
    map.reset ();
    if (buffer)
      gst_buffer_unref (buffer);
  }
};

}  // namespace

/* The C++ side of the element, behind GstAlexNetClassify::impl. */
struct GstAlexNetClassifyImpl
{
  std::mutex lock;              /* settings, earliest_time, pending */
  Settings settings;
  GstClockTime earliest_time = GST_CLOCK_TIME_NONE;     /* from QOS events */
  gdouble proportion = 1.0;

  /* The engine used by the streaming thread; replaced at a frame boundary by `pending`. */
  std::shared_ptr<Engine> engine;
  std::shared_ptr<Engine> pending;      /* guarded by lock */
  bool loaded = false;          /* READY or above with a model; guarded by lock */
  std::mutex loader_lock;       /* serialises loader threads */
  std::thread loader;

  /* Stream state (streaming thread). */
  alexnet::PixelFormat format = alexnet::PixelFormat::RGB;
  alexnet::ColorMatrix matrix = alexnet::ColorMatrix::BT601;
  alexnet::ColorRange range = alexnet::ColorRange::Limited;
  alexnet::TopK last;
  bool have_last = false;
  guint64 frame_index = 0;

  /* Statistics. */
  std::atomic<guint64> classified{0};
  std::atomic<guint64> skipped{0};
  std::atomic<guint64> latency_total_us{0};
  std::atomic<guint64> qos_skipped{0};
  bool latency_announced = false;

  /* The concurrent path (batch-size > 1 or several workers): frames in arrival order, the
   * ones waiting to fill a batch, and the batches on the workers. Streaming thread only. */
  std::atomic<bool> concurrent{false};
  std::deque < std::unique_ptr < Job >> queue;
  std::vector < Job * >open;    /* classified frames not yet dispatched */
  gint64 open_since = 0;        /* g_get_monotonic_time () of the first */
  bool submitted_any = false;   /* a classification was dispatched with this engine */
  unsigned next_worker = 0;

  /* The pusher thread: pushes finished frames as soon as their batch is done (holding the
   * sink pad's stream lock, as the streaming thread would), so that they need not wait for
   * the next input. */
  std::thread pusher;
  std::mutex pusher_lock;
  std::condition_variable pusher_cond;
  std::deque < std::shared_future < BatchResult >> dispatched;     /* pusher_lock */
  bool pusher_stop = false;     /* pusher_lock */
  std::atomic < bool > open_waiting{false};     /* `open` is not empty */
  std::atomic < GstFlowReturn > pushed_ret{GST_FLOW_OK};  /* the pusher's last failure */
};

struct _GstAlexNetClassify
{
  GstVideoFilter parent;
  GstAlexNetClassifyImpl *impl;
};

#define gst_alexnet_classify_parent_class parent_class
G_DEFINE_TYPE (GstAlexNetClassify, gst_alexnet_classify, GST_TYPE_VIDEO_FILTER);

GType
gst_alexnet_overlay_position_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_ALEXNET_OVERLAY_TOP_LEFT, "Top left corner", "top-left"},
    {GST_ALEXNET_OVERLAY_TOP_RIGHT, "Top right corner", "top-right"},
    {GST_ALEXNET_OVERLAY_BOTTOM_LEFT, "Bottom left corner", "bottom-left"},
    {GST_ALEXNET_OVERLAY_BOTTOM_RIGHT, "Bottom right corner", "bottom-right"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstAlexNetOverlayPosition", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void gst_alexnet_classify_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_alexnet_classify_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_alexnet_classify_finalize (GObject * object);
static GstStateChangeReturn gst_alexnet_classify_change_state (GstElement *
    element, GstStateChange transition);
static gboolean gst_alexnet_classify_start (GstBaseTransform * trans);
static gboolean gst_alexnet_classify_src_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_alexnet_classify_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_alexnet_classify_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query);
static gboolean gst_alexnet_classify_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);
static GstFlowReturn gst_alexnet_classify_transform_frame_ip (GstVideoFilter *
    filter, GstVideoFrame * frame);
static gboolean gst_alexnet_classify_stop (GstBaseTransform * trans);
static void gst_alexnet_classify_stop_pusher (GstAlexNetClassifyImpl * impl);
static GstFlowReturn gst_alexnet_classify_submit_input_buffer (GstBaseTransform *
    trans, gboolean is_discont, GstBuffer * input);
static GstFlowReturn gst_alexnet_classify_generate_output (GstBaseTransform *
    trans, GstBuffer ** outbuf);

static void
gst_alexnet_classify_class_init (GstAlexNetClassifyClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  const GParamFlags rw =
      static_cast < GParamFlags > (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const GParamFlags rw_playing =
      static_cast < GParamFlags > (rw | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags rw_ready =
      static_cast < GParamFlags > (rw | GST_PARAM_MUTABLE_READY);
  const GParamFlags ro =
      static_cast < GParamFlags > (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  gobject_class->set_property = gst_alexnet_classify_set_property;
  gobject_class->get_property = gst_alexnet_classify_get_property;
  gobject_class->finalize = gst_alexnet_classify_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Weights file (safetensors) loaded on NULL->READY; set while running, the "
          "new file is loaded in the background and swapped in between two frames "
          "(a bad file keeps the old model and posts a warning)",
          DEFAULT_MODEL, rw_playing));
  g_object_class_install_property (gobject_class, PROP_LABELS_FILE,
      g_param_spec_string ("labels-file", "Labels file",
          "Optional labels file (one label per line, as many as the model's classes) "
          "overriding the labels stored in the weights file",
          DEFAULT_LABELS_FILE, rw_playing));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Devices to classify on: auto | DEV[,DEV]* with DEV = cpu | gpu:N "
          "(auto = every GPU, else the CPU; the choice is logged). With several "
          "devices, frames are classified concurrently and leave in order",
          DEFAULT_DEVICE, rw_ready));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "CPU threads in all, split among CPU workers (0 = all cores)",
          0, MAX_THREADS, DEFAULT_THREADS, rw_ready));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Frames classified together in one batch (1 = each frame as it passes; "
          "N > 1 holds up to N frames, see batch-timeout)", 1, MAX_BATCH_SIZE,
          DEFAULT_BATCH_SIZE,
          rw_ready));
  g_object_class_install_property (gobject_class, PROP_BATCH_TIMEOUT,
      g_param_spec_uint ("batch-timeout", "Batch timeout",
          "Milliseconds the first frame of a batch waits for the batch to fill before "
          "a partial batch is classified (EOS sends it at once)",
          0, MAX_BATCH_TIMEOUT, DEFAULT_BATCH_TIMEOUT, rw_ready));
  g_object_class_install_property (gobject_class, PROP_INFERENCE_INTERVAL,
      g_param_spec_uint ("inference-interval", "Inference interval",
          "Classify every Nth frame (1 = every frame); the others carry the last "
          "result, overlay and metadata included",
          1, MAX_INFERENCE_INTERVAL, DEFAULT_INFERENCE_INTERVAL, rw_playing));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k",
          "Number of best classes reported in the metadata, messages and overlay "
          "(at most the model's classes)", 1, MAX_TOP_K, DEFAULT_TOP_K, rw_playing));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Labels with a lower probability are not drawn (the overlay only; "
          "metadata and messages always carry the top-k)",
          0.0, 1.0, DEFAULT_THRESHOLD, rw_playing));
  g_object_class_install_property (gobject_class, PROP_OVERLAY,
      g_param_spec_boolean ("overlay", "Overlay",
          "Draw the labels and probabilities on the frame", DEFAULT_OVERLAY,
          rw_playing));
  g_object_class_install_property (gobject_class, PROP_OVERLAY_POSITION,
      g_param_spec_enum ("overlay-position", "Overlay position",
          "Corner of the frame the labels are drawn in",
          GST_TYPE_ALEXNET_OVERLAY_POSITION, DEFAULT_OVERLAY_POSITION, rw_playing));
  g_object_class_install_property (gobject_class, PROP_FONT_SCALE,
      g_param_spec_double ("font-scale", "Font scale",
          "Size of the overlay text: 1 = 8x8-pixel glyphs, one size step more per "
          "360 lines of frame height (rounded to whole pixels)",
          MIN_FONT_SCALE, MAX_FONT_SCALE, DEFAULT_FONT_SCALE, rw_playing));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an element message \"alexnet-classification\" on the bus for every "
          "frame", DEFAULT_POST_MESSAGES, rw_playing));
  g_object_class_install_property (gobject_class, PROP_FRAMES_CLASSIFIED,
      g_param_spec_uint64 ("frames-classified", "Frames classified",
          "Frames that went through the network since the last start",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_FRAMES_SKIPPED,
      g_param_spec_uint64 ("frames-skipped", "Frames skipped",
          "Frames that carried the last result (inference-interval or QoS) since "
          "the last start", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_MEAN_LATENCY,
      g_param_spec_double ("mean-latency", "Mean latency",
          "Mean time to classify one frame, in microseconds",
          0.0, G_MAXDOUBLE, 0.0, ro));

  gst_element_class_set_static_metadata (element_class,
      "AlexNet classifier", "Filter/Analyzer/Video",
      "Classifies video frames with AlexNet, attaching the top-k labels as metadata "
      "and drawing them on the frame", "alexnet-gst developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_alexnet_classify_change_state);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_alexnet_classify_start);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_alexnet_classify_src_event);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_alexnet_classify_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_alexnet_classify_query);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_alexnet_classify_stop);
  trans_class->submit_input_buffer =
      GST_DEBUG_FUNCPTR (gst_alexnet_classify_submit_input_buffer);
  trans_class->generate_output =
      GST_DEBUG_FUNCPTR (gst_alexnet_classify_generate_output);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = FALSE;
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_alexnet_classify_set_info);
  filter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_alexnet_classify_transform_frame_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_ALEXNET_OVERLAY_POSITION,
      static_cast < GstPluginAPIFlags > (0));
}

static void
gst_alexnet_classify_init (GstAlexNetClassify * self)
{
  self->impl = new GstAlexNetClassifyImpl ();
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_alexnet_classify_join_loader (GstAlexNetClassify * self)
{
  std::lock_guard < std::mutex > guard (self->impl->loader_lock);
  if (self->impl->loader.joinable ())
    self->impl->loader.join ();
}

static void
gst_alexnet_classify_finalize (GObject * object)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (object);
  gst_alexnet_classify_join_loader (self);
  gst_alexnet_classify_stop_pusher (self->impl);
  delete self->impl;
  self->impl = nullptr;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static std::string
basename_of (const std::string & path)
{
  gchar *b = g_path_get_basename (path.c_str ());
  std::string out (b);
  g_free (b);
  return out;
}

/* Loads the model of `s`; throws alexnet::Error (or std::exception) on failure. */
static std::shared_ptr < Engine >
make_engine (const Settings & s)
{
  alexnet::Model model = alexnet::load_model (s.model, s.labels_file);
  alexnet::ClassifierOptions options;
  options.devices = s.device;
  options.threads = static_cast < int >(s.threads);
  auto engine = std::make_shared < Engine > ();
  engine->classifier =
      std::make_unique < alexnet::Classifier > (std::move (model), options);
  engine->model_name = basename_of (s.model);
  return engine;
}

/* NULL->READY: the model, or an element error naming the file and the problem. */
static gboolean
gst_alexnet_classify_load (GstAlexNetClassify * self)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  gst_alexnet_classify_join_loader (self);      /* no stale background load */
  Settings s;
  {
    std::lock_guard < std::mutex > guard (impl->lock);
    s = impl->settings;
  }
  if (s.model.empty ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No model set"),
        ("set the 'model' property to an AlexNet weights file (safetensors)"));
    return FALSE;
  }
  try {
    auto engine = make_engine (s);
    GST_INFO_OBJECT (self, "model %s (%d classes, input %d) on %s",
        s.model.c_str (), engine->classifier->model ().config.classes,
        engine->classifier->model ().config.input_size,
        engine->classifier->describe ().c_str ());
    GST_ELEMENT_INFO (self, RESOURCE, SETTINGS, (NULL),
        ("device %s", engine->classifier->describe ().c_str ()));
    impl->engine = std::move (engine);
    std::lock_guard < std::mutex > guard (impl->lock);
    impl->pending.reset ();
    impl->loaded = true;
  }
  catch (const std::exception & e) {
    if (!g_file_test (s.model.c_str (), G_FILE_TEST_EXISTS))
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("Could not load model \"%s\": %s", s.model.c_str (), e.what ()),
          ("file not found"));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Could not load model \"%s\": %s", s.model.c_str (), e.what ()),
          (NULL));
    return FALSE;
  }
  return TRUE;
}

/* Called with a new model/labels-file while an engine exists: loads in a thread. */
static void
gst_alexnet_classify_reload_async (GstAlexNetClassify * self)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  std::lock_guard < std::mutex > guard (impl->loader_lock);
  if (impl->loader.joinable ())
    impl->loader.join ();
  Settings s;
  {
    std::lock_guard < std::mutex > g (impl->lock);
    s = impl->settings;
  }
  impl->loader = std::thread ([self, s] {
        GstAlexNetClassifyImpl *im = self->impl;
        try {
          auto engine = make_engine (s);
          GST_INFO_OBJECT (self, "loaded %s on %s; swapping it in",
              s.model.c_str (), engine->classifier->describe ().c_str ());
          std::lock_guard < std::mutex > g (im->lock);
          im->pending = std::move (engine);
        }
        catch (const std::exception & e) {
          GST_ELEMENT_WARNING (self, RESOURCE, OPEN_READ,
              ("Could not load model \"%s\": %s; keeping the current model",
                  s.model.c_str (), e.what ()), (NULL));
        }
      });
}

static void
gst_alexnet_classify_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (object);
  GstAlexNetClassifyImpl *impl = self->impl;
  bool reload = false;

  switch (prop_id) {
    case PROP_MODEL:
    case PROP_LABELS_FILE:{
      const gchar *str = g_value_get_string (value);
      {
        std::lock_guard < std::mutex > guard (impl->lock);
        (prop_id == PROP_MODEL ? impl->settings.model : impl->settings.labels_file)
            = str ? str : "";
      }
      {
        std::lock_guard < std::mutex > guard (impl->lock);
        reload = impl->loaded && !impl->settings.model.empty ();
      }
      if (reload)
        gst_alexnet_classify_reload_async (self);
      break;
    }
    case PROP_DEVICE:{
      const gchar *str = g_value_get_string (value);
      std::string text = str ? str : DEFAULT_DEVICE;
      try {
        alexnet::parse_devices (text);
        std::lock_guard < std::mutex > guard (impl->lock);
        impl->settings.device = text;
      }
      catch (const std::exception & e) {
        GST_WARNING_OBJECT (self, "refusing device \"%s\": %s", text.c_str (),
            e.what ());
        GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
            ("Invalid device \"%s\": %s; keeping \"%s\"", text.c_str (),
                e.what (), impl->settings.device.c_str ()), (NULL));
      }
      break;
    }
    default:{
      std::lock_guard < std::mutex > guard (impl->lock);
      Settings & s = impl->settings;
      switch (prop_id) {
        case PROP_THREADS:
          s.threads = g_value_get_uint (value);
          break;
        case PROP_BATCH_SIZE:
          s.batch_size = g_value_get_uint (value);
          break;
        case PROP_BATCH_TIMEOUT:
          s.batch_timeout = g_value_get_uint (value);
          break;
        case PROP_INFERENCE_INTERVAL:
          s.inference_interval = g_value_get_uint (value);
          break;
        case PROP_TOP_K:
          s.top_k = g_value_get_uint (value);
          break;
        case PROP_THRESHOLD:
          s.threshold = g_value_get_double (value);
          break;
        case PROP_OVERLAY:
          s.overlay = g_value_get_boolean (value);
          break;
        case PROP_OVERLAY_POSITION:
          s.position =
              static_cast < GstAlexNetOverlayPosition > (g_value_get_enum (value));
          break;
        case PROP_FONT_SCALE:
          s.font_scale = g_value_get_double (value);
          break;
        case PROP_POST_MESSAGES:
          s.post_messages = g_value_get_boolean (value);
          break;
        default:
          G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
          break;
      }
      break;
    }
  }
}

static void
gst_alexnet_classify_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (object);
  GstAlexNetClassifyImpl *impl = self->impl;
  std::lock_guard < std::mutex > guard (impl->lock);
  const Settings & s = impl->settings;

  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, s.model.empty ()? NULL : s.model.c_str ());
      break;
    case PROP_LABELS_FILE:
      g_value_set_string (value,
          s.labels_file.empty ()? NULL : s.labels_file.c_str ());
      break;
    case PROP_DEVICE:
      g_value_set_string (value, s.device.c_str ());
      break;
    case PROP_THREADS:
      g_value_set_uint (value, s.threads);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, s.batch_size);
      break;
    case PROP_BATCH_TIMEOUT:
      g_value_set_uint (value, s.batch_timeout);
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint (value, s.inference_interval);
      break;
    case PROP_TOP_K:
      g_value_set_uint (value, s.top_k);
      break;
    case PROP_THRESHOLD:
      g_value_set_double (value, s.threshold);
      break;
    case PROP_OVERLAY:
      g_value_set_boolean (value, s.overlay);
      break;
    case PROP_OVERLAY_POSITION:
      g_value_set_enum (value, s.position);
      break;
    case PROP_FONT_SCALE:
      g_value_set_double (value, s.font_scale);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, s.post_messages);
      break;
    case PROP_FRAMES_CLASSIFIED:
      g_value_set_uint64 (value, impl->classified.load ());
      break;
    case PROP_FRAMES_SKIPPED:
      g_value_set_uint64 (value, impl->skipped.load ());
      break;
    case PROP_MEAN_LATENCY:{
      guint64 n = impl->classified.load ();
      g_value_set_double (value,
          n ? static_cast < double >(impl->latency_total_us.load ()) / n : 0.0);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static GstStateChangeReturn
gst_alexnet_classify_change_state (GstElement * element,
    GstStateChange transition)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!gst_alexnet_classify_load (self))
      return GST_STATE_CHANGE_FAILURE;
  }

  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_READY_TO_NULL
      || (transition == GST_STATE_CHANGE_NULL_TO_READY
          && ret == GST_STATE_CHANGE_FAILURE)) {
    {
      std::lock_guard < std::mutex > guard (self->impl->lock);
      self->impl->loaded = false;
    }
    gst_alexnet_classify_join_loader (self);
    std::lock_guard < std::mutex > guard (self->impl->lock);
    self->impl->pending.reset ();
    self->impl->engine.reset ();
  }
  return ret;
}

/* Drops every held frame (after its worker is done with it). */
static void
gst_alexnet_classify_discard (GstAlexNetClassifyImpl * impl)
{
  impl->open.clear ();
  impl->open_waiting = false;
  impl->queue.clear ();
}

static void gst_alexnet_classify_pusher (GstAlexNetClassify * self);

/* READY->PAUSED: a fresh stream. */
static gboolean
gst_alexnet_classify_start (GstBaseTransform * trans)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (trans);
  GstAlexNetClassifyImpl *impl = self->impl;
  gst_alexnet_classify_discard (impl);
  impl->last.clear ();
  impl->have_last = false;
  impl->submitted_any = false;
  impl->frame_index = 0;
  impl->next_worker = 0;
  impl->classified = 0;
  impl->skipped = 0;
  impl->latency_total_us = 0;
  impl->qos_skipped = 0;
  impl->latency_announced = false;
  std::lock_guard < std::mutex > guard (impl->lock);
  impl->earliest_time = GST_CLOCK_TIME_NONE;
  impl->proportion = 1.0;
  const int workers = impl->engine ? impl->engine->classifier->workers () : 1;
  impl->concurrent = impl->settings.batch_size > 1 || workers > 1;
  GST_INFO_OBJECT (self, "%s: batch-size %u, %d worker(s)",
      impl->concurrent ? "concurrent" : "synchronous", impl->settings.batch_size,
      workers);
  impl->pushed_ret = GST_FLOW_OK;
  if (impl->concurrent && !impl->pusher.joinable ()) {
    {
      std::lock_guard < std::mutex > g (impl->pusher_lock);
      impl->pusher_stop = false;
      impl->dispatched.clear ();
    }
    impl->pusher = std::thread (gst_alexnet_classify_pusher, self);
  }
  return TRUE;
}

static void
gst_alexnet_classify_stop_pusher (GstAlexNetClassifyImpl * impl)
{
  {
    std::lock_guard < std::mutex > guard (impl->pusher_lock);
    impl->pusher_stop = true;
  }
  impl->pusher_cond.notify_all ();
  if (impl->pusher.joinable ())
    impl->pusher.join ();
  std::lock_guard < std::mutex > guard (impl->pusher_lock);
  impl->dispatched.clear ();
}

static gboolean
gst_alexnet_classify_stop (GstBaseTransform * trans)
{
  GstAlexNetClassifyImpl *impl = GST_ALEXNET_CLASSIFY (trans)->impl;
  gst_alexnet_classify_stop_pusher (impl);
  gst_alexnet_classify_discard (impl);
  return TRUE;
}

/* QOS events are handled here, not by the base class (which would drop late frames):
 * a late frame skips inference instead. */
static gboolean
gst_alexnet_classify_src_event (GstBaseTransform * trans, GstEvent * event)
{
  GstAlexNetClassifyImpl *impl = GST_ALEXNET_CLASSIFY (trans)->impl;
  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS) {
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos (event, NULL, &proportion, &diff, &timestamp);
    {
      std::lock_guard < std::mutex > guard (impl->lock);
      impl->proportion = proportion;
      if (GST_CLOCK_TIME_IS_VALID (timestamp)) {
        if (diff >= 0 || static_cast < GstClockTime > (-diff) < timestamp)
          impl->earliest_time = timestamp + diff;
        else
          impl->earliest_time = 0;
      } else {
        impl->earliest_time = GST_CLOCK_TIME_NONE;
      }
    }
    return gst_pad_push_event (GST_BASE_TRANSFORM_SINK_PAD (trans), event);
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->src_event (trans, event);
}

static GstFlowReturn gst_alexnet_classify_drain (GstAlexNetClassify * self);

static gboolean
gst_alexnet_classify_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (trans);
  GstAlexNetClassifyImpl *impl = self->impl;
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    gst_alexnet_classify_discard (impl);
    impl->pushed_ret = GST_FLOW_OK;
    std::lock_guard < std::mutex > guard (impl->lock);
    impl->earliest_time = GST_CLOCK_TIME_NONE;
  } else if ((static_cast < int >(GST_EVENT_TYPE (event)) &
          static_cast < int >(GST_EVENT_TYPE_SERIALIZED)) && !impl->queue.empty ()) {
    /* held frames leave before any later event (EOS, caps, segment …) */
    GstFlowReturn ret = gst_alexnet_classify_drain (self);
    GST_DEBUG_OBJECT (self, "drained before %s: %s", GST_EVENT_TYPE_NAME (event),
        gst_flow_get_name (ret));
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* LATENCY: upstream's plus what we add: the mean classification time, and with
 * batch-size > 1 the time a batch may wait to fill (at most batch-timeout). */
static gboolean
gst_alexnet_classify_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (trans);
  GstAlexNetClassifyImpl *impl = self->impl;
  if (direction == GST_PAD_SINK && GST_QUERY_TYPE (query) == GST_QUERY_DRAIN) {
    GST_PAD_STREAM_LOCK (GST_BASE_TRANSFORM_SINK_PAD (trans));
    if (!impl->queue.empty ())
      gst_alexnet_classify_drain (self);
    GST_PAD_STREAM_UNLOCK (GST_BASE_TRANSFORM_SINK_PAD (trans));
  }
  gboolean ret =
      GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
  if (ret && direction == GST_PAD_SRC
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    guint64 n = impl->classified.load ();
    GstClockTime ours = n ? impl->latency_total_us.load () / n * GST_USECOND : 0;
    guint batch, timeout;
    {
      std::lock_guard < std::mutex > guard (impl->lock);
      batch = impl->settings.batch_size;
      timeout = impl->settings.batch_timeout;
    }
    GstVideoInfo *info = &GST_VIDEO_FILTER (trans)->in_info;
    const bool have_fps = GST_VIDEO_INFO_FPS_N (info) > 0
        && GST_VIDEO_INFO_FPS_D (info) > 0;
    if (batch > 1) {
      GstClockTime fill = timeout * GST_MSECOND;
      if (have_fps)
        fill = MIN (fill, gst_util_uint64_scale_int ((batch - 1) * GST_SECOND,
                GST_VIDEO_INFO_FPS_D (info), GST_VIDEO_INFO_FPS_N (info)));
      ours += fill;
    }
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    GST_DEBUG_OBJECT (trans, "adding latency %" GST_TIME_FORMAT,
        GST_TIME_ARGS (ours));
    gst_query_set_latency (query, live, min, max);
  }
  return ret;
}

static gboolean
gst_alexnet_classify_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps *, GstVideoInfo *)
{
  GstAlexNetClassifyImpl *impl = GST_ALEXNET_CLASSIFY (filter)->impl;
  try {
    impl->format = alexnet::pixel_format_from_name (gst_video_format_to_string
        (GST_VIDEO_INFO_FORMAT (in_info)));
  }
  catch (const std::exception & e) {
    GST_WARNING_OBJECT (filter, "unsupported format: %s", e.what ());
    return FALSE;
  }
  impl->matrix = in_info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709
      ? alexnet::ColorMatrix::BT709 : alexnet::ColorMatrix::BT601;
  impl->range = in_info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255
      ? alexnet::ColorRange::Full : alexnet::ColorRange::Limited;
  GST_DEBUG_OBJECT (filter, "caps %" GST_PTR_FORMAT, static_cast < void *>(incaps));
  return TRUE;
}

/* --- shared by both paths ------------------------------------------------------------- */

static alexnet::Frame
frame_of (GstVideoFrame * frame, alexnet::PixelFormat format,
    alexnet::ColorMatrix matrix, alexnet::ColorRange range)
{
  alexnet::Frame f;
  f.format = format;
  f.width = GST_VIDEO_FRAME_WIDTH (frame);
  f.height = GST_VIDEO_FRAME_HEIGHT (frame);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES (frame) && i < 3; i++) {
    f.planes[i] =
        static_cast < const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA (frame, i));
    f.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, i);
  }
  f.matrix = matrix;
  f.range = range;
  return f;
}

/* Swaps in a model loaded in the background, if one is waiting. */
static void gst_alexnet_classify_dispatch (GstAlexNetClassify * self, guint top_k);

static void
gst_alexnet_classify_swap_pending (GstAlexNetClassify * self, guint top_k)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  std::shared_ptr < Engine > next;
  {
    std::lock_guard < std::mutex > guard (impl->lock);
    next = std::move (impl->pending);
    impl->pending.reset ();
  }
  if (!next)
    return;
  if (!impl->open.empty ())
    gst_alexnet_classify_dispatch (self, top_k);  /* with the old model */
  GST_INFO_OBJECT (self, "swapping in model %s", next->model_name.c_str ());
  impl->engine = std::move (next);
  impl->have_last = false;
  impl->submitted_any = false;
}

/* Whether this frame runs the network: the first frame, every inference-interval'th, and
 * not a late one (QoS) once a result exists. Posts the QoS message for a late frame. */
static bool
gst_alexnet_classify_decide (GstAlexNetClassify * self, GstBuffer * buffer,
    const Settings & s, GstClockTime running_time, bool have_result)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  bool run = !have_result || impl->frame_index % s.inference_interval == 0;
  impl->frame_index++;
  if (run && have_result && gst_base_transform_is_qos_enabled (trans)
      && GST_CLOCK_TIME_IS_VALID (running_time)) {
    GstClockTime earliest;
    gdouble proportion;
    {
      std::lock_guard < std::mutex > guard (impl->lock);
      earliest = impl->earliest_time;
      proportion = impl->proportion;
    }
    if (GST_CLOCK_TIME_IS_VALID (earliest) && running_time <= earliest) {
      run = false;
      impl->qos_skipped++;
      GstClockTime stream_time = gst_segment_to_stream_time (&trans->segment,
          GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
      GstMessage *msg = gst_message_new_qos (GST_OBJECT (self), FALSE,
          running_time, stream_time, GST_BUFFER_PTS (buffer),
          GST_BUFFER_DURATION (buffer));
      gst_message_set_qos_values (msg,
          static_cast < gint64 > (earliest) - static_cast < gint64 > (running_time),
          proportion, 1000000);
      gst_message_set_qos_stats (msg, GST_FORMAT_BUFFERS,
          impl->classified.load () + impl->skipped.load (),
          impl->qos_skipped.load ());
      gst_element_post_message (GST_ELEMENT (self), msg);
    }
  }
  if (!run)
    impl->skipped++;
  return run;
}

static void
gst_alexnet_classify_record (GstAlexNetClassify * self, guint64 us)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  impl->latency_total_us += us;
  impl->classified++;
  if (!impl->latency_announced) {
    /* the first measurement: let the pipeline query our latency again */
    impl->latency_announced = true;
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
}

/* Metadata, overlay and message of one frame with result `top`. */
static void
gst_alexnet_classify_annotate (GstAlexNetClassify * self, GstVideoFrame * frame,
    alexnet::PixelFormat format, alexnet::ColorRange range,
    const alexnet::TopK & top, const std::string & model_name, bool classified,
    GstClockTime pts, GstClockTime running_time)
{
  Settings s;
  {
    std::lock_guard < std::mutex > guard (self->impl->lock);
    s = self->impl->settings;
  }
  alexnet::gst::attach_result (frame->buffer, GST_VIDEO_FRAME_WIDTH (frame),
      GST_VIDEO_FRAME_HEIGHT (frame), top, model_name);

  if (s.overlay) {
    std::vector < std::string > lines;
    for (const alexnet::Prediction & p:top) {
      if (p.probability < s.threshold)
        continue;
      char score[32];
      std::snprintf (score, sizeof score, " %.2f",
          static_cast < double >(p.probability));
      lines.push_back (p.label + score);
    }
    if (!lines.empty ()) {
      alexnet::gst::MutableFrame mf;
      mf.format = format;
      mf.width = GST_VIDEO_FRAME_WIDTH (frame);
      mf.height = GST_VIDEO_FRAME_HEIGHT (frame);
      for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES (frame) && i < 3; i++) {
        mf.planes[i] =
            static_cast < uint8_t * >(GST_VIDEO_FRAME_PLANE_DATA (frame, i));
        mf.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, i);
      }
      mf.range = range;
      alexnet::gst::draw_text (mf, lines,
          static_cast < alexnet::gst::OverlayPosition > (s.position),
          s.font_scale);
    }
  }

  if (s.post_messages)
    gst_element_post_message (GST_ELEMENT (self),
        alexnet::gst::result_message (GST_OBJECT (self), pts, running_time,
            classified, top));
}

static GstClockTime
running_time_of (GstBaseTransform * trans, GstClockTime pts)
{
  if (trans->segment.format != GST_FORMAT_TIME || !GST_CLOCK_TIME_IS_VALID (pts))
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, pts);
}

/* --- the synchronous path: one frame at a time on worker 0 ------------------------------ */

static GstFlowReturn
gst_alexnet_classify_transform_frame_ip (GstVideoFilter * filter,
    GstVideoFrame * frame)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (filter);
  GstBaseTransform *trans = GST_BASE_TRANSFORM (filter);
  GstAlexNetClassifyImpl *impl = self->impl;

  try {
    Settings s;
    {
      std::lock_guard < std::mutex > guard (impl->lock);
      s = impl->settings;
    }
    gst_alexnet_classify_swap_pending (self, s.top_k);
    if (!impl->engine) {
      GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, ("No model loaded"), (NULL));
      return GST_FLOW_ERROR;
    }
    Engine & engine = *impl->engine;
    const GstClockTime pts = GST_BUFFER_PTS (frame->buffer);
    const GstClockTime running_time = running_time_of (trans, pts);
    const bool run = gst_alexnet_classify_decide (self, frame->buffer, s,
        running_time, impl->have_last);
    if (run) {
      alexnet::Frame f = frame_of (frame, impl->format, impl->matrix, impl->range);
      auto t0 = std::chrono::steady_clock::now ();
      std::vector < alexnet::TopK > res = engine.classifier->classify ( {
          &f, 1}
          , static_cast < int >(s.top_k), 0);
      auto us = std::chrono::duration_cast < std::chrono::microseconds >
          (std::chrono::steady_clock::now () - t0).count ();
      impl->last = std::move (res.at (0));
      impl->have_last = true;
      gst_alexnet_classify_record (self, static_cast < guint64 > (us));
    }
    gst_alexnet_classify_annotate (self, frame, impl->format, impl->range,
        impl->last, engine.model_name, run, pts, running_time);
  }
  catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Classification failed: %s",
            e.what ()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* --- the concurrent path: batches on the workers, frames leave in arrival order ---------- */

/* Sends the open (possibly partial) batch to the next worker. */
static void
gst_alexnet_classify_dispatch (GstAlexNetClassify * self, guint top_k)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  if (impl->open.empty ())
    return;
  std::shared_ptr < Engine > engine = impl->open.front ()->engine;
  std::shared_future < BatchResult > result;
  try {
    std::vector < alexnet::Frame > frames;
    for (Job * job:impl->open)
      frames.push_back (frame_of (&job->map->frame, job->format, job->matrix,
              job->range));
    const int worker = static_cast < int >(impl->next_worker++ %
        static_cast < unsigned >(engine->classifier->workers ()));
    const int k = static_cast < int >(top_k);
    GST_LOG_OBJECT (self, "batch of %zu on worker %d", frames.size (), worker);
    result = std::async (std::launch::async,[engine, frames =
            std::move (frames), k, worker] {
          auto t0 = std::chrono::steady_clock::now ();
          BatchResult r;
          r.tops = engine->classifier->classify (frames, k, worker);
          r.us = static_cast < guint64 >
              (std::chrono::duration_cast < std::chrono::microseconds >
              (std::chrono::steady_clock::now () - t0).count ());
          return r;
        }
    ).share ();
  }
  catch (...) {
    /* no thread, no memory: the frames' result is the error, reported when they leave */
    std::promise < BatchResult > failed;
    failed.set_exception (std::current_exception ());
    result = failed.get_future ().share ();
  }
  for (size_t i = 0; i < impl->open.size (); i++) {
    impl->open[i]->result = result;
    impl->open[i]->index = i;
  }
  impl->open.clear ();
  impl->open_waiting = false;
  {
    std::lock_guard < std::mutex > guard (impl->pusher_lock);
    impl->dispatched.push_back (result);
  }
  impl->pusher_cond.notify_one ();
}

static GstFlowReturn
gst_alexnet_classify_submit_input_buffer (GstBaseTransform * trans,
    gboolean is_discont, GstBuffer * input)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (trans);
  GstAlexNetClassifyImpl *impl = self->impl;
  GstFlowReturn ret =
      GST_BASE_TRANSFORM_CLASS (parent_class)->submit_input_buffer (trans,
      is_discont, input);
  if (!impl->concurrent || ret != GST_FLOW_OK)
    return ret;
  GstBuffer *buffer = trans->queued_buf;
  trans->queued_buf = NULL;
  if (!buffer)
    return GST_FLOW_OK;
  ret = impl->pushed_ret.exchange (GST_FLOW_OK);
  if (ret != GST_FLOW_OK) {
    /* downstream refused a frame the pusher sent: tell upstream now */
    gst_buffer_unref (buffer);
    return ret;
  }
  if (!GST_VIDEO_FILTER (trans)->negotiated) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("a buffer arrived before the caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  try {
    Settings s;
    {
      std::lock_guard < std::mutex > guard (impl->lock);
      s = impl->settings;
    }
    auto job = std::make_unique < Job > ();
    job->buffer = gst_buffer_make_writable (buffer);
    job->info = GST_VIDEO_FILTER (trans)->in_info;
    job->map = std::make_unique < MappedFrame > (&job->info, job->buffer);
    if (!job->map->mapped) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a video frame"),
          ("%" GST_PTR_FORMAT, static_cast < void *>(job->buffer)));
      return GST_FLOW_ERROR;
    }
    gst_alexnet_classify_swap_pending (self, s.top_k);
    if (!impl->engine) {
      GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, ("No model loaded"), (NULL));
      return GST_FLOW_ERROR;
    }
    job->format = impl->format;
    job->matrix = impl->matrix;
    job->range = impl->range;
    job->engine = impl->engine;
    job->pts = GST_BUFFER_PTS (job->buffer);
    job->running_time = running_time_of (trans, job->pts);
    job->classify = gst_alexnet_classify_decide (self, job->buffer, s,
        job->running_time, impl->submitted_any);
    if (job->classify) {
      impl->submitted_any = true;
      if (impl->open.empty ())
        impl->open_since = g_get_monotonic_time ();
      impl->open.push_back (job.get ());
      impl->open_waiting = true;
    }
    impl->queue.push_back (std::move (job));
    if (impl->open.size () >= s.batch_size || (!impl->open.empty ()
            && g_get_monotonic_time () - impl->open_since >=
            static_cast < gint64 > (s.batch_timeout) * 1000))
      gst_alexnet_classify_dispatch (self, s.top_k);
  }
  catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Classification failed: %s",
            e.what ()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* Annotates the oldest held frame (waiting for its batch if `wait`) and hands it out. */
static GstFlowReturn
gst_alexnet_classify_finish_front (GstAlexNetClassify * self, bool wait,
    GstBuffer ** outbuf)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  *outbuf = NULL;
  if (impl->queue.empty ())
    return GST_FLOW_OK;
  Job *job = impl->queue.front ().get ();
  if (job->classify) {
    if (!job->result.valid ()) {
      if (!wait)
        return GST_FLOW_OK;
      guint top_k;
      {
        std::lock_guard < std::mutex > guard (impl->lock);
        top_k = impl->settings.top_k;
      }
      gst_alexnet_classify_dispatch (self, top_k);
    }
    if (!wait && job->result.wait_for (std::chrono::seconds (0)) !=
        std::future_status::ready)
      return GST_FLOW_OK;
  }
  std::unique_ptr < Job > owned = std::move (impl->queue.front ());
  impl->queue.pop_front ();
  try {
    if (job->classify) {
      const BatchResult & r = job->result.get ();
      impl->last = r.tops.at (job->index);
      impl->have_last = true;
      gst_alexnet_classify_record (self, r.us);
    }
    gst_alexnet_classify_annotate (self, &job->map->frame, job->format,
        job->range, impl->last, job->engine->model_name, job->classify,
        job->pts, job->running_time);
  }
  catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Classification failed: %s",
            e.what ()), (NULL));
    return GST_FLOW_ERROR;
  }
  job->map.reset ();
  *outbuf = job->buffer;
  job->buffer = NULL;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_alexnet_classify_generate_output (GstBaseTransform * trans,
    GstBuffer ** outbuf)
{
  GstAlexNetClassify *self = GST_ALEXNET_CLASSIFY (trans);
  GstAlexNetClassifyImpl *impl = self->impl;
  if (!impl->concurrent)
    return GST_BASE_TRANSFORM_CLASS (parent_class)->generate_output (trans,
        outbuf);
  *outbuf = NULL;
  if (impl->queue.empty ())
    return GST_FLOW_OK;
  guint batch, timeout;
  {
    std::lock_guard < std::mutex > guard (impl->lock);
    batch = impl->settings.batch_size;
    timeout = impl->settings.batch_timeout;
  }
  const int workers = impl->engine ? impl->engine->classifier->workers () : 1;
  /* bounded: at most one batch filling and one per worker in flight */
  const size_t limit = static_cast < size_t >(batch) * (workers + 1);
  const bool timed_out = !impl->open.empty ()
      && g_get_monotonic_time () - impl->open_since >=
      static_cast < gint64 > (timeout) * 1000;
  return gst_alexnet_classify_finish_front (self,
      timed_out || impl->queue.size () > limit, outbuf);
}

/* Pushes every held frame, in order (before EOS, caps and other serialized events). */
static GstFlowReturn
gst_alexnet_classify_drain (GstAlexNetClassify * self)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  GstFlowReturn ret = GST_FLOW_OK;
  while (!impl->queue.empty ()) {
    GstBuffer *out = NULL;
    ret = gst_alexnet_classify_finish_front (self, true, &out);
    if (ret == GST_FLOW_OK && out)
      ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), out);
    if (ret != GST_FLOW_OK) {
      gst_alexnet_classify_discard (impl);
      break;
    }
  }
  return ret;
}

/* The pusher thread (concurrent path): waits for each dispatched batch, then, under the sink
 * pad's stream lock (taken with trylock so that a stop never waits on it), pushes every
 * finished frame at the head of the queue. */
static void
gst_alexnet_classify_pusher (GstAlexNetClassify * self)
{
  GstAlexNetClassifyImpl *impl = self->impl;
  GRecMutex *stream_lock =
      GST_PAD_GET_STREAM_LOCK (GST_BASE_TRANSFORM_SINK_PAD (self));
  for (;;) {
    std::shared_future < BatchResult > next;
    {
      std::unique_lock < std::mutex > lock (impl->pusher_lock);
      impl->pusher_cond.wait_for (lock, std::chrono::milliseconds (2),[impl] {
            return impl->pusher_stop || !impl->dispatched.empty ();});
      if (impl->pusher_stop)
        return;
      if (!impl->dispatched.empty ())
        next = impl->dispatched.front ();
    }
    if (!next.valid ()) {
      /* nothing on the workers: send a partial batch whose batch-timeout is up */
      if (impl->open_waiting && g_rec_mutex_trylock (stream_lock)) {
        guint top_k, timeout;
        {
          std::lock_guard < std::mutex > guard (impl->lock);
          top_k = impl->settings.top_k;
          timeout = impl->settings.batch_timeout;
        }
        if (!impl->open.empty () && g_get_monotonic_time () - impl->open_since >=
            static_cast < gint64 > (timeout) * 1000)
          gst_alexnet_classify_dispatch (self, top_k);
        g_rec_mutex_unlock (stream_lock);
      }
      continue;
    }
    next.wait ();
    bool locked = false;
    while (!locked) {
      {
        std::lock_guard < std::mutex > guard (impl->pusher_lock);
        if (impl->pusher_stop)
          return;
      }
      locked = g_rec_mutex_trylock (stream_lock);
      if (!locked)
        g_usleep (200);
    }
    GstFlowReturn ret = GST_FLOW_OK;
    for (;;) {
      GstBuffer *out = NULL;
      ret = gst_alexnet_classify_finish_front (self, false, &out);
      if (ret != GST_FLOW_OK || !out)
        break;
      ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), out);
      if (ret != GST_FLOW_OK)
        break;
    }
    if (ret != GST_FLOW_OK) {
      GST_DEBUG_OBJECT (self, "pusher: %s", gst_flow_get_name (ret));
      impl->pushed_ret = ret;
    }
    g_rec_mutex_unlock (stream_lock);
    std::lock_guard < std::mutex > guard (impl->pusher_lock);
    while (!impl->dispatched.empty ()
        && impl->dispatched.front ().wait_for (std::chrono::seconds (0)) ==
        std::future_status::ready)
      impl->dispatched.pop_front ();
  }
}
