/* The C++ side of alexnetclassify (internal): the state behind GstAlexNetClassify::impl,
 * split by who owns it, and the engine helpers shared by the element's vfuncs and the
 * concurrent path (batcher.h): model loading and swapping, the per-frame decision
 * (inference-interval, QoS), statistics and latency, and the annotation of a classified
 * frame. */
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/classifier.h"
#include "batch_result.h"
#include "gstalexnetclassify.h"
#include "objects.h"

namespace alexnet::gst {

using Clock = std::chrono::steady_clock;

/* Property values; guarded by the object lock (GST_OBJECT_LOCK), read as a copy
 * (gst_alexnet_classify_settings). The defaults (the DEFAULT_ macros of
 * gstalexnetclassify.cpp) are set by gst_alexnet_classify_init. */
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
  GstAlexNetInferenceRegion region = GST_ALEXNET_INFERENCE_REGION_FULL_FRAME;
  std::string object_class;    /* as set; parsed into filter.classes */
  std::string min_object_size; /* as set ("WxH"); parsed into filter.min_* */
  guint reclassify_interval = 1;
  guint stats_interval = 0;      /* ms between "alexnet-stats" messages; 0 = only at EOS */
  std::string model_instance_id; /* "" = a private model */
  GstAlexNetOutputTensor output_tensor = GST_ALEXNET_OUTPUT_TENSOR_NONE;
  ObjectFilter filter;
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

/* Classifies a batch on one worker of `engine`: the top-k, the probabilities, the embedding
 * when asked for, the time it took. */
BatchResult classify_batch(const Engine& engine, std::span<const alexnet::Frame> frames, int top_k,
                           int worker, bool embedding);

/* One frame held by the concurrent path between submit_input_buffer and generate_output. */
struct Job {
  /* Full frame: one slot (when classified). roi-list: the frame's objects, one slot each:
   * `fresh` ones go through the network with this frame, the others are the slots of an
   * earlier frame's classification of the same id (reclassify-interval). */
  GstBuffer* buffer = nullptr; /* owned */
  GstVideoInfo info;
  std::unique_ptr<MappedFrame> map;
  alexnet::PixelFormat format = alexnet::PixelFormat::RGB;
  alexnet::ColorMatrix matrix = alexnet::ColorMatrix::BT601;
  alexnet::ColorRange range = alexnet::ColorRange::Limited;
  bool classify = false; /* the frame runs the network (inference-interval, QoS) */
  bool roi_list = false;
  std::vector<Object> objects;
  std::vector<std::shared_ptr<Slot>> slots;
  std::vector<bool> fresh;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  Clock::time_point entered; /* when the element took the buffer (latency in alexnet-stats) */

  Job() = default;
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job() {
    /* a worker may still read the mapped pixels */
    for (size_t i = 0; i < slots.size(); ++i)
      if (fresh[i] && slots[i]->result.valid()) slots[i]->result.wait();
    map.reset();
    if (buffer) gst_buffer_unref(buffer);
  }
};

/* The QoS state from the src pad's QOS events; guarded by the object lock, like Settings. */
struct QosState {
  GstClockTime earliest_time = GST_CLOCK_TIME_NONE;
  gdouble proportion = 1.0;
};

/* The model slot: the engine frames are classified with, and the one a background load (a
 * model or labels-file set while running) leaves to be swapped in at the next frame boundary.
 * Swapping never touches the batcher: a batch is classified by the engine that is current
 * when it is dispatched. */
struct ModelSlot {
  /* Set on NULL->READY and cleared on READY->NULL (no streaming then); swapped under the sink
   * pad's stream lock. */
  std::shared_ptr<Engine> current;

  std::mutex lock;                 /* pending, loaded */
  std::shared_ptr<Engine> pending; /* loaded in the background, not yet swapped in */
  bool loaded = false;             /* READY or above with a model */

  std::mutex loader_lock; /* serialises loader threads */
  std::thread loader;

  /* model-instance-id: the shared instance `current` comes from (null when private). Set on
   * NULL->READY, cleared on READY->NULL. */
  std::shared_ptr<class SharedInstance> shared;
};

/* What "alexnet-stats" reports over the time since the previous message (or the start): frames
 * that left, and each one's time in the element (entering to leaving, batching included).
 * Under the stream lock. */
struct StatsWindow {
  static constexpr size_t kMaxSamples = 100000; /* for the p95; the mean counts every frame */
  Clock::time_point since = Clock::now();
  guint64 frames_total = 0; /* since start */
  guint64 frames = 0;       /* in this window */
  double latency_sum_us = 0;
  std::vector<double> latencies_us;
};

/* What the element knows of the stream: under the sink pad's stream lock (the streaming
 * thread, or the pusher holding that lock). */
struct StreamState {
  alexnet::PixelFormat format = alexnet::PixelFormat::RGB;
  alexnet::ColorMatrix matrix = alexnet::ColorMatrix::BT601;
  alexnet::ColorRange range = alexnet::ColorRange::Limited;
  alexnet::TopK last;              /* the latest result, carried by frames that skip inference */
  std::string last_model;          /* the model that produced `last` */
  std::shared_ptr<Slot> last_slot; /* where `last` came from (its tensors: output-tensor) */
  bool have_last = false;
  bool dispatched_any = false; /* concurrent path: a frame went to the current model */
  guint64 frame_index = 0;
  bool latency_announced = false;
  ObjectCache objects; /* roi-list: results kept for reclassify-interval */
  StatsWindow window;  /* alexnet-stats */
  /* The latest "alexnet-stats" as a downstream event, held until the frame that closed its
   * window has been pushed (owned; null when none). */
  GstEvent* stats_event = nullptr;
  /* An upstream classifier's "alexnet-stats" events that came while frames were held here
   * (concurrent path): each leaves once window.frames_total reaches its `after` (the frames
   * ahead of it have left), so that passing them costs no drain of a partial batch. */
  struct HeldEvent {
    guint64 after;
    GstEvent* event; /* owned */
  };
  std::deque<HeldEvent> upstream_stats;
};

/* Counters since the last start; atomics, read by properties and queries on any thread. */
struct Stats {
  std::atomic<guint64> classified{0};
  std::atomic<guint64> skipped{0};
  std::atomic<guint64> latency_total_us{0};
  std::atomic<guint64> qos_skipped{0};
  std::atomic<guint64> objects_classified{0};
  std::atomic<guint64> objects_skipped{0}; /* empty, outside or smaller than min-object-size */
  std::atomic<guint64> objects_cached{0};  /* kept their result (reclassify-interval) */
};

/* The concurrent path (batch-size > 1 or several workers; batcher.cpp). */
struct Batcher {
  std::atomic<bool> active{false}; /* chosen by start() */

  /* Under the sink pad's stream lock: frames in arrival order, the ones waiting to fill a
   * batch, and which worker takes the next batch. */
  std::deque<std::unique_ptr<Job>> queue;
  struct OpenImage {
    Job* job;
    size_t slot; /* the frame (0) or its object's index */
  };
  std::vector<OpenImage> open; /* images to classify, not yet dispatched */
  unsigned next_worker = 0;

  /* The pusher thread pushes finished frames as soon as their batch is done, and sends a
   * partial batch when its batch-timeout is up while no input arrives. It sleeps on `wake`
   * until a batch is dispatched, the open batch's deadline, or stop. */
  std::thread pusher;
  std::mutex lock; /* dispatched, deadline, stop */
  std::condition_variable wake;
  std::deque<std::shared_future<BatchResult>> dispatched; /* batches on the workers */
  /* When the open batch goes out partial: written holding both the stream lock and `lock`,
   * so either is enough to read it. Clock::time_point::max() while no batch is open. */
  Clock::time_point deadline = Clock::time_point::max();
  bool stop = false;
  std::atomic<GstFlowReturn> pushed_ret{GST_FLOW_OK}; /* the pusher's last failure */
};

}  // namespace alexnet::gst

/* The C++ side of the element, behind GstAlexNetClassify::impl: one member per owner. */
struct GstAlexNetClassifyImpl {
  alexnet::gst::Settings settings; /* object lock */
  alexnet::gst::QosState qos;      /* object lock */
  alexnet::gst::ModelSlot model;
  alexnet::gst::StreamState stream; /* stream lock */
  alexnet::gst::Stats stats;
  alexnet::gst::Batcher batcher;
};

struct _GstAlexNetClassify {
  GstVideoFilter parent;
  GstAlexNetClassifyImpl* impl;
};

/* A copy of the property values, taken under the object lock. */
alexnet::gst::Settings gst_alexnet_classify_settings(GstAlexNetClassify* self);

/* Model loading (classify_engine.cpp). */
void gst_alexnet_classify_join_loader(GstAlexNetClassify* self);
gboolean gst_alexnet_classify_load(GstAlexNetClassify* self);
void gst_alexnet_classify_reload_async(GstAlexNetClassify* self);
/* At a frame boundary (stream lock): swaps in a model loaded in the background, if one is
 * waiting; the next frame is then classified whatever inference-interval says. */
void gst_alexnet_classify_swap_model(GstAlexNetClassify* self);

/* Per frame, shared by both paths (classify_engine.cpp). */
alexnet::Frame frame_of(GstVideoFrame* frame, alexnet::PixelFormat format,
                        alexnet::ColorMatrix matrix, alexnet::ColorRange range);
GstClockTime running_time_of(GstBaseTransform* trans, GstClockTime pts);
bool gst_alexnet_classify_decide(GstAlexNetClassify* self, GstBuffer* buffer,
                                 const alexnet::gst::Settings& s, GstClockTime running_time,
                                 bool have_result);
/* Records a frame's new result (its slot's row) as the stream's latest (it ran the network). */
void gst_alexnet_classify_keep_result(GstAlexNetClassify* self,
                                      std::shared_ptr<alexnet::gst::Slot> slot);
/* Counts a frame that ran the network, and how long it took. */
void gst_alexnet_classify_count_classified(GstAlexNetClassify* self, guint64 us);
/* inference-region=roi-list, as a frame is taken in (stream lock): its objects, and for a
 * frame that runs the network the slot of each (kept from reclassify-interval's cache, or
 * fresh: to be classified). */
void gst_alexnet_classify_take_objects(GstAlexNetClassify* self, alexnet::gst::Job* job,
                                       const alexnet::gst::Settings& s, guint64 frame_no);
/* inference-region=roi-list, as a frame leaves (its slots ready): the objects' results, metas,
 * tensors, overlay and message; counts the frame. */
void gst_alexnet_classify_annotate_objects(GstAlexNetClassify* self, alexnet::gst::Job* job);
/* A frame leaves the element (stream lock): counts it and its latency since `entered`, and
 * posts "alexnet-stats" when stats-interval has passed. */
void gst_alexnet_classify_frame_left(GstAlexNetClassify* self,
                                     alexnet::gst::Clock::time_point entered);
/* Posts "alexnet-stats" for the window so far and starts a new one (stream lock); the same
 * structure goes downstream as a custom event with push_stats_event. */
void gst_alexnet_classify_post_stats(GstAlexNetClassify* self);
/* Pushes the held "alexnet-stats" event, if any (stream lock): before the next frame leaves,
 * before any serialized event, so that it follows the frames it counts. */
void gst_alexnet_classify_push_stats_event(GstAlexNetClassify* self);
/* Frees the held stats events (flush, stop). */
void gst_alexnet_classify_drop_held_events(alexnet::gst::StreamState& st);
/* Metadata, tensor, overlay and message of one frame with the stream's latest result. */
void gst_alexnet_classify_annotate(GstAlexNetClassify* self, GstVideoFrame* frame,
                                   alexnet::PixelFormat format, alexnet::ColorRange range,
                                   bool classified, GstClockTime pts, GstClockTime running_time);

/* Statistics: the latency the element adds (LATENCY query). */
GstClockTime gst_alexnet_classify_added_latency(GstAlexNetClassify* self);
