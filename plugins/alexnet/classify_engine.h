/* The C++ side of alexnetclassify (internal): the state behind GstAlexNetClassify::impl and
 * the engine helpers shared by the element's vfuncs and the concurrent path (batcher.h):
 * model loading and swapping, the per-frame decision (inference-interval, QoS), statistics
 * and latency, and the annotation of a classified frame. */
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/classifier.h"
#include "gstalexnetclassify.h"

namespace alexnet::gst {

/* Property values; guarded by GstAlexNetClassifyImpl::lock. The defaults (the DEFAULT_
 * macros of gstalexnetclassify.cpp) are set by gst_alexnet_classify_init. */
struct Settings {
  std::string model;
  std::string labels_file;
  std::string device;
  guint threads = 0;
  GstAlexNetPrecision precision = GST_ALEXNET_PRECISION_FP32;
  GstAlexNetParallel parallel = GST_ALEXNET_PARALLEL_DATA;
  guint batch_size = 0;
  guint batch_timeout = 0;
  guint inference_interval = 0;
  guint top_k = 0;
  double threshold = 0.0;
  bool overlay = false;
  GstAlexNetOverlayPosition position = GST_ALEXNET_OVERLAY_TOP_LEFT;
  double font_scale = 0.0;
  bool post_messages = false;
};

/* A loaded model ready to classify. */
struct Engine {
  std::unique_ptr<alexnet::Classifier> classifier;
  std::string model_name; /* basename of the file */
};

/* A buffer's frame mapped (RAII) for as long as it is classified and annotated. The
 * mapping takes no reference, so the buffer stays writable for the metadata. */
struct MappedFrame {
  GstVideoFrame frame;
  bool mapped = false;
  MappedFrame(const GstVideoInfo* info, GstBuffer* buffer) {
    mapped = gst_video_frame_map(
        &frame, const_cast<GstVideoInfo*>(info), buffer,
        static_cast<GstMapFlags>(static_cast<int>(GST_MAP_READWRITE) |
                                 static_cast<int>(GST_VIDEO_FRAME_MAP_FLAG_NO_REF)));
  }
  ~MappedFrame() {
    if (mapped) gst_video_frame_unmap(&frame);
  }
  MappedFrame(const MappedFrame&) = delete;
  MappedFrame& operator=(const MappedFrame&) = delete;
};

/* The top-k of a batch of frames classified together, and how long it took. */
struct BatchResult {
  std::vector<alexnet::TopK> tops;
  guint64 us = 0;
};

/* One frame held by the concurrent path between submit_input_buffer and generate_output. */
struct Job {
  GstBuffer* buffer = nullptr; /* owned */
  GstVideoInfo info;
  std::unique_ptr<MappedFrame> map;
  alexnet::PixelFormat format = alexnet::PixelFormat::RGB;
  alexnet::ColorMatrix matrix = alexnet::ColorMatrix::BT601;
  alexnet::ColorRange range = alexnet::ColorRange::Limited;
  bool classify = false;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  std::shared_ptr<Engine> engine;
  std::shared_future<BatchResult> result; /* valid once its batch is dispatched */
  size_t index = 0;                       /* in its batch */

  Job() = default;
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job() {
    /* a worker may still read the mapped pixels */
    if (result.valid()) result.wait();
    map.reset();
    if (buffer) gst_buffer_unref(buffer);
  }
};

}  // namespace alexnet::gst

/* The C++ side of the element, behind GstAlexNetClassify::impl. */
struct GstAlexNetClassifyImpl {
  std::mutex lock; /* settings, earliest_time, pending */
  alexnet::gst::Settings settings;
  GstClockTime earliest_time = GST_CLOCK_TIME_NONE; /* from QOS events */
  gdouble proportion = 1.0;

  /* The engine used by the streaming thread; replaced at a frame boundary by `pending`. */
  std::shared_ptr<alexnet::gst::Engine> engine;
  std::shared_ptr<alexnet::gst::Engine> pending; /* guarded by lock */
  bool loaded = false;                           /* READY or above with a model; guarded by lock */
  std::mutex loader_lock;                        /* serialises loader threads */
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
  std::deque<std::unique_ptr<alexnet::gst::Job>> queue;
  std::vector<alexnet::gst::Job*> open; /* classified frames not yet dispatched */
  gint64 open_since = 0;                /* g_get_monotonic_time () of the first */
  bool submitted_any = false;           /* a classification was dispatched with this engine */
  unsigned next_worker = 0;

  /* The pusher thread: pushes finished frames as soon as their batch is done (holding the
   * sink pad's stream lock, as the streaming thread would), so that they need not wait for
   * the next input. */
  std::thread pusher;
  std::mutex pusher_lock;
  std::condition_variable pusher_cond;
  std::deque<std::shared_future<alexnet::gst::BatchResult>> dispatched; /* pusher_lock */
  bool pusher_stop = false;                                             /* pusher_lock */
  std::atomic<bool> open_waiting{false};                                /* `open` is not empty */
  std::atomic<GstFlowReturn> pushed_ret{GST_FLOW_OK}; /* the pusher's last failure */
};

struct _GstAlexNetClassify {
  GstVideoFilter parent;
  GstAlexNetClassifyImpl* impl;
};

/* Model loading (classify_engine.cpp). */
void gst_alexnet_classify_join_loader(GstAlexNetClassify* self);
gboolean gst_alexnet_classify_load(GstAlexNetClassify* self);
void gst_alexnet_classify_reload_async(GstAlexNetClassify* self);
void gst_alexnet_classify_swap_pending(GstAlexNetClassify* self, guint top_k);

/* Per frame, shared by both paths (classify_engine.cpp). */
alexnet::Frame frame_of(GstVideoFrame* frame, alexnet::PixelFormat format,
                        alexnet::ColorMatrix matrix, alexnet::ColorRange range);
GstClockTime running_time_of(GstBaseTransform* trans, GstClockTime pts);
bool gst_alexnet_classify_decide(GstAlexNetClassify* self, GstBuffer* buffer,
                                 const alexnet::gst::Settings& s, GstClockTime running_time,
                                 bool have_result);
void gst_alexnet_classify_record(GstAlexNetClassify* self, guint64 us);
void gst_alexnet_classify_annotate(GstAlexNetClassify* self, GstVideoFrame* frame,
                                   alexnet::PixelFormat format, alexnet::ColorRange range,
                                   const alexnet::TopK& top, const std::string& model_name,
                                   bool classified, GstClockTime pts, GstClockTime running_time);

/* Statistics: the latency the element adds (LATENCY query). */
GstClockTime gst_alexnet_classify_added_latency(GstAlexNetClassify* self);
