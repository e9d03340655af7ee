/* The engine of alexnetclassify: model loading and swapping, the per-frame decision
 * (inference-interval, QoS), statistics and the annotation of a classified frame. */
#include "classify_engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>
#include <stdexcept>

#include "alexnet/weights.h"
#include "overlay.h"
#include "results.h"
#include "shared_instance.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

using alexnet::gst::Engine;
using alexnet::gst::ModelSlot;
using alexnet::gst::Settings;

Settings gst_alexnet_classify_settings(GstAlexNetClassify* self) {
  GST_OBJECT_LOCK(self);
  Settings s = self->impl->settings;
  GST_OBJECT_UNLOCK(self);
  return s;
}

void gst_alexnet_classify_join_loader(GstAlexNetClassify* self) {
  ModelSlot& slot = self->impl->model;
  std::lock_guard<std::mutex> guard(slot.loader_lock);
  if (slot.loader.joinable()) slot.loader.join();
}

static std::string basename_of(const std::string& path) {
  gchar* b = g_path_get_basename(path.c_str());
  std::string out(b);
  g_free(b);
  return out;
}

/* The model file was fine but the devices could not run it (a missing GPU, parallel=model
 * with one device …): reported as a settings error, not as a bad model file. */
struct DeviceSetupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/* Loads the model of `s`; throws alexnet::Error (or std::exception) on failure. A swap while
 * running resolves `device` as the first load did: the property is READY-only, and "auto"
 * reads the GPU count the CUDA module probed once per process, so a stream never moves to
 * another device. */
static std::shared_ptr<Engine> make_engine(const Settings& s) {
  alexnet::Model model = alexnet::load_model(s.model, s.labels_file);
  alexnet::ClassifierOptions options;
  options.devices = s.device;
  /* threads=0 in a pipeline: fewer threads for small models (pipeline_cpu_threads says why) */
  options.threads =
      s.threads ? static_cast<int>(s.threads) : alexnet::pipeline_cpu_threads(model.config);
  options.precision = s.precision == GST_ALEXNET_PRECISION_FP16   ? alexnet::Precision::F16
                      : s.precision == GST_ALEXNET_PRECISION_BF16 ? alexnet::Precision::BF16
                      : s.precision == GST_ALEXNET_PRECISION_INT8 ? alexnet::Precision::INT8
                                                                  : alexnet::Precision::F32;
  options.parallel =
      s.parallel == GST_ALEXNET_PARALLEL_MODEL ? alexnet::Parallel::Model : alexnet::Parallel::Data;
  auto engine = std::make_shared<Engine>();
  try {
    engine->classifier = std::make_unique<alexnet::Classifier>(std::move(model), options);
  } catch (const std::exception& e) {
    throw DeviceSetupError(
        "device \"" + s.device + "\"" +
        (options.parallel == alexnet::Parallel::Model ? " (parallel=model)" : "") + ": " +
        e.what());
  }
  engine->model_name = basename_of(s.model);
  return engine;
}

/* NULL->READY: the model, or an element error naming the file and the problem. */
gboolean gst_alexnet_classify_load(GstAlexNetClassify* self) {
  ModelSlot& slot = self->impl->model;
  gst_alexnet_classify_join_loader(self); /* no stale background load */
  const Settings s = gst_alexnet_classify_settings(self);
  if (s.model.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("No model set"),
                      ("set the 'model' property to an AlexNet weights file (safetensors)"));
    return FALSE;
  }
  try {
    std::shared_ptr<Engine> engine;
    if (s.model_instance_id.empty()) {
      engine = make_engine(s);
    } else {
      auto shared = alexnet::gst::acquire_shared_instance(
          s.model_instance_id, s, GST_OBJECT_NAME(self), [&s] { return make_engine(s); });
      {
        /* loaded before joining: a swap from now on leaves its engine pending here */
        std::lock_guard<std::mutex> guard(slot.lock);
        slot.pending.reset();
        slot.loaded = true;
        slot.shared = shared;
      }
      shared->add_sharer(self);
      engine = shared->engine();
      GST_INFO_OBJECT(self, "model-instance-id \"%s\": %d element(s) share it",
                      s.model_instance_id.c_str(), slot.shared->sharers());
    }
    GST_INFO_OBJECT(self, "model %s (%d classes, input %d) on %s", s.model.c_str(),
                    engine->classifier->model().config.classes,
                    engine->classifier->model().config.input_size,
                    engine->classifier->describe().c_str());
    GST_ELEMENT_INFO(self, RESOURCE, SETTINGS, (NULL),
                     ("device %s", engine->classifier->describe().c_str()));
    const bool shared = slot.shared != nullptr;
    slot.current = std::move(engine);
    std::lock_guard<std::mutex> guard(slot.lock);
    if (!shared) slot.pending.reset(); /* shared: a swap may have left one since add_sharer */
    slot.loaded = true;
  } catch (const alexnet::gst::SharedSettingsMismatch& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Settings differ: %s", e.what()), (NULL));
    return FALSE;
  } catch (const DeviceSetupError& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Could not run model \"%s\" on %s", s.model.c_str(), e.what()), (NULL));
    return FALSE;
  } catch (const std::exception& e) {
    if (!g_file_test(s.model.c_str(), G_FILE_TEST_EXISTS))
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                        ("Could not load model \"%s\": %s", s.model.c_str(), e.what()),
                        ("file not found"));
    else
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                        ("Could not load model \"%s\": %s", s.model.c_str(), e.what()), (NULL));
    return FALSE;
  }
  return TRUE;
}

/* Called with a new model/labels-file while an engine exists: loads in a thread. */
void gst_alexnet_classify_reload_async(GstAlexNetClassify* self) {
  ModelSlot& slot = self->impl->model;
  std::lock_guard<std::mutex> guard(slot.loader_lock);
  if (slot.loader.joinable()) slot.loader.join();
  std::shared_ptr<alexnet::gst::SharedInstance> shared;
  {
    /* READY->NULL may have come between the caller's check and here */
    std::lock_guard<std::mutex> g(slot.lock);
    if (!slot.loaded) return;
    shared = slot.shared;
  }
  const Settings s = gst_alexnet_classify_settings(self);
  slot.loader = std::thread([self, s, shared] {
    ModelSlot& sl = self->impl->model;
    try {
      auto engine = make_engine(s);
      GST_INFO_OBJECT(self, "loaded %s on %s; swapping it in", s.model.c_str(),
                      engine->classifier->describe().c_str());
      if (shared) {
        shared->swap_in(std::move(engine), s, self); /* every sharer, this one included */
        return;
      }
      std::lock_guard<std::mutex> g(sl.lock);
      sl.pending = std::move(engine);
    } catch (const std::exception& e) {
      GST_ELEMENT_WARNING(
          self, RESOURCE, OPEN_READ,
          ("Could not load model \"%s\": %s; keeping the current model", s.model.c_str(), e.what()),
          (NULL));
    }
  });
}

alexnet::Frame frame_of(GstVideoFrame* frame, alexnet::PixelFormat format,
                        alexnet::ColorMatrix matrix, alexnet::ColorRange range) {
  alexnet::Frame f;
  f.format = format;
  f.width = GST_VIDEO_FRAME_WIDTH(frame);
  f.height = GST_VIDEO_FRAME_HEIGHT(frame);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(frame) && i < 3; i++) {
    f.planes[i] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, i));
    f.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(frame, i);
  }
  f.matrix = matrix;
  f.range = range;
  return f;
}

void gst_alexnet_classify_swap_model(GstAlexNetClassify* self) {
  GstAlexNetClassifyImpl* impl = self->impl;
  std::shared_ptr<Engine> next;
  {
    std::lock_guard<std::mutex> guard(impl->model.lock);
    next = std::move(impl->model.pending);
    impl->model.pending.reset();
  }
  if (!next) return;
  GST_INFO_OBJECT(self, "swapping in model %s", next->model_name.c_str());
  if (impl->model.shared)
    gst_element_post_message(
        GST_ELEMENT(self),
        gst_message_new_element(
            GST_OBJECT(self),
            gst_structure_new("alexnet-model-swapped", "model", G_TYPE_STRING,
                              next->model_name.c_str(), "instance-id", G_TYPE_STRING,
                              impl->model.shared->id().c_str(), nullptr)));
  impl->model.current = std::move(next);
  impl->stream.have_last = false;
  impl->stream.last_slot.reset();
  impl->stream.dispatched_any = false;
  impl->stream.objects.clear(); /* kept object results are the old model's */
}

/* Whether this frame runs the network: the first frame, every inference-interval'th, and
 * not a late one (QoS) once a result exists. Posts the QoS message for a late frame. */
bool gst_alexnet_classify_decide(GstAlexNetClassify* self, GstBuffer* buffer, const Settings& s,
                                 GstClockTime running_time, bool have_result) {
  GstAlexNetClassifyImpl* impl = self->impl;
  GstBaseTransform* trans = GST_BASE_TRANSFORM(self);
  bool run = !have_result || impl->stream.frame_index % s.inference_interval == 0;
  impl->stream.frame_index++;
  if (run && have_result && gst_base_transform_is_qos_enabled(trans) &&
      GST_CLOCK_TIME_IS_VALID(running_time)) {
    GST_OBJECT_LOCK(self);
    const alexnet::gst::QosState qos = impl->qos;
    GST_OBJECT_UNLOCK(self);
    const GstClockTime earliest = qos.earliest_time;
    const gdouble proportion = qos.proportion;
    if (GST_CLOCK_TIME_IS_VALID(earliest) && running_time <= earliest) {
      run = false;
      impl->stats.qos_skipped++;
      GstClockTime stream_time =
          gst_segment_to_stream_time(&trans->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
      GstMessage* msg = gst_message_new_qos(GST_OBJECT(self), FALSE, running_time, stream_time,
                                            GST_BUFFER_PTS(buffer), GST_BUFFER_DURATION(buffer));
      gst_message_set_qos_values(msg,
                                 static_cast<gint64>(earliest) - static_cast<gint64>(running_time),
                                 proportion, 1000000);
      gst_message_set_qos_stats(msg, GST_FORMAT_BUFFERS,
                                impl->stats.classified.load() + impl->stats.skipped.load(),
                                impl->stats.qos_skipped.load());
      gst_element_post_message(GST_ELEMENT(self), msg);
    }
  }
  if (!run) impl->stats.skipped++;
  return run;
}

/* The labels of `top` drawn by the overlay: those at or above threshold, with their score. */
static std::vector<std::string> overlay_lines(const alexnet::TopK& top, double threshold) {
  std::vector<std::string> lines;
  for (const alexnet::Prediction& p : top) {
    if (p.probability < threshold) continue;
    char score[32];
    std::snprintf(score, sizeof score, " %.2f", static_cast<double>(p.probability));
    lines.push_back(p.label + score);
  }
  return lines;
}

static alexnet::gst::MutableFrame mutable_frame_of(GstVideoFrame* frame,
                                                   alexnet::PixelFormat format,
                                                   alexnet::ColorRange range) {
  alexnet::gst::MutableFrame mf;
  mf.format = format;
  mf.width = GST_VIDEO_FRAME_WIDTH(frame);
  mf.height = GST_VIDEO_FRAME_HEIGHT(frame);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(frame) && i < 3; i++) {
    mf.planes[i] = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, i));
    mf.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(frame, i);
  }
  mf.range = range;
  return mf;
}

void gst_alexnet_classify_count_classified(GstAlexNetClassify* self, guint64 us) {
  GstAlexNetClassifyImpl* impl = self->impl;
  impl->stats.latency_total_us += us;
  impl->stats.classified++;
  if (!impl->stream.latency_announced) {
    /* the first measurement: let the pipeline query our latency again */
    impl->stream.latency_announced = true;
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  }
}

void gst_alexnet_classify_keep_result(GstAlexNetClassify* self,
                                      std::shared_ptr<alexnet::gst::Slot> slot) {
  alexnet::gst::StreamState& st = self->impl->stream;
  const alexnet::gst::BatchResult& r = slot->result.get(); /* rethrows a batch's error */
  st.last = r.tops.at(slot->row);
  st.last_model = r.model_name;
  st.have_last = true;
  st.last_slot = std::move(slot);
  gst_alexnet_classify_count_classified(self, r.us);
}

alexnet::gst::BatchResult alexnet::gst::classify_batch(const Engine& engine,
                                                       std::span<const alexnet::Frame> frames,
                                                       int top_k, int worker, bool embedding) {
  const auto t0 = Clock::now();
  alexnet::Classifier::Classification c =
      engine.classifier->classify_frames(frames, top_k, worker, embedding);
  BatchResult r;
  r.tops = std::move(c.tops);
  r.probabilities = std::move(c.probabilities);
  r.embedding = std::move(c.embedding);
  r.model_name = engine.model_name;
  r.us = static_cast<guint64>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
  return r;
}

void gst_alexnet_classify_take_objects(GstAlexNetClassify* self, alexnet::gst::Job* job,
                                       const Settings& s, guint64 frame_no) {
  GstAlexNetClassifyImpl* impl = self->impl;
  guint64 skipped = 0;
  job->objects =
      alexnet::gst::collect_objects(job->buffer, GST_VIDEO_INFO_WIDTH(&job->info),
                                    GST_VIDEO_INFO_HEIGHT(&job->info), s.filter, &skipped);
  impl->stats.objects_skipped += skipped;
  if (!job->classify) return; /* inference-interval, QoS: no new results on this frame */
  alexnet::gst::ObjectCache& cache = impl->stream.objects;
  const guint n_frames = s.reclassify_interval;
  const bool use_cache = n_frames > 1;
  const std::vector<bool> tracked = alexnet::gst::tracked_objects(job->objects);
  for (size_t i = 0; i < job->objects.size(); ++i) {
    const alexnet::Rect& b = job->objects[i].box;
    const gint64 area = gint64{b.width} * b.height;
    const int id = job->objects[i].meta->id;
    if (use_cache && tracked[i]) {
      const alexnet::gst::ObjectCache::Result* kept = cache.reuse(id, area, frame_no, n_frames);
      if (kept && *kept) {
        job->slots.push_back(*kept);
        job->fresh.push_back(false);
        impl->stats.objects_cached++;
        continue;
      }
    }
    auto slot = std::make_shared<alexnet::gst::Slot>();
    job->slots.push_back(slot);
    job->fresh.push_back(true);
    if (use_cache && tracked[i]) cache.store(id, slot, area, frame_no);
  }
  if (use_cache) cache.forget_stale(frame_no, n_frames);
}

/* Draws each object's labels inside its top-left corner, and its box (2 px). */
static void draw_objects(GstVideoFrame* frame, alexnet::PixelFormat format,
                         alexnet::ColorRange range,
                         const std::vector<alexnet::gst::Object>& objects,
                         const std::vector<alexnet::TopK>& tops, const Settings& s) {
  alexnet::gst::MutableFrame mf = mutable_frame_of(frame, format, range);
  for (size_t i = 0; i < objects.size(); ++i) {
    const alexnet::Rect& b = objects[i].box;
    const alexnet::gst::Rect box{b.x, b.y, b.width, b.height};
    alexnet::gst::MutableFrame inside = alexnet::gst::sub_frame(mf, box);
    const std::vector<std::string> lines = overlay_lines(tops[i], s.threshold);
    if (inside.width > 0 && !lines.empty())
      alexnet::gst::draw_text(inside, lines, alexnet::gst::OverlayPosition::TopLeft, s.font_scale);
    alexnet::gst::draw_box(mf, box, 2); /* last: the text never hides the outline */
  }
}

void gst_alexnet_classify_annotate_objects(GstAlexNetClassify* self, alexnet::gst::Job* job) {
  GstAlexNetClassifyImpl* impl = self->impl;
  const Settings s = gst_alexnet_classify_settings(self);
  const std::vector<alexnet::gst::Object>& objects = job->objects;
  std::vector<alexnet::TopK> tops(job->classify ? objects.size() : 0);
  if (job->classify) {
    /* a frame's time is that of the batches its fresh objects were in */
    std::vector<const alexnet::gst::BatchResult*> batches;
    guint64 us = 0, fresh = 0;
    for (size_t i = 0; i < objects.size(); ++i) {
      const alexnet::gst::Slot& slot = *job->slots[i];
      const alexnet::gst::BatchResult& r = slot.result.get(); /* rethrows a batch's error */
      tops[i] = r.tops.at(slot.row);
      if (tops[i].size() > s.top_k) tops[i].resize(s.top_k);
      alexnet::gst::attach_object_result(job->buffer, objects[i], tops[i], r.model_name);
      alexnet::gst::attach_tensor(job->buffer, s.output_tensor, slot, objects[i].meta->id, true);
      if (!job->fresh[i]) continue;
      ++fresh;
      if (std::find(batches.begin(), batches.end(), &r) == batches.end()) {
        batches.push_back(&r);
        us += r.us;
      }
    }
    if (fresh > 0) {
      gst_alexnet_classify_count_classified(self, us);
      impl->stats.objects_classified += fresh;
    } else {
      impl->stats.classified++; /* it ran, with nothing for the network: no latency sample */
    }
    if (s.overlay) draw_objects(&job->map->frame, job->format, job->range, objects, tops, s);
  }
  if (s.post_messages)
    gst_element_post_message(GST_ELEMENT(self), alexnet::gst::objects_message(
                                                    GST_OBJECT(self), job->pts, job->running_time,
                                                    job->classify, objects, tops));
}

void gst_alexnet_classify_annotate(GstAlexNetClassify* self, GstVideoFrame* frame,
                                   alexnet::PixelFormat format, alexnet::ColorRange range,
                                   bool classified, GstClockTime pts, GstClockTime running_time) {
  const Settings s = gst_alexnet_classify_settings(self);
  const alexnet::TopK& top = self->impl->stream.last;
  alexnet::gst::attach_result(frame->buffer, GST_VIDEO_FRAME_WIDTH(frame),
                              GST_VIDEO_FRAME_HEIGHT(frame), top, self->impl->stream.last_model);
  if (self->impl->stream.last_slot)
    alexnet::gst::attach_tensor(frame->buffer, s.output_tensor, *self->impl->stream.last_slot, 0,
                                false);

  if (s.overlay) {
    const std::vector<std::string> lines = overlay_lines(top, s.threshold);
    if (!lines.empty()) {
      alexnet::gst::MutableFrame mf = mutable_frame_of(frame, format, range);
      alexnet::gst::draw_text(mf, lines, static_cast<alexnet::gst::OverlayPosition>(s.position),
                              s.font_scale);
    }
  }

  if (s.post_messages)
    gst_element_post_message(
        GST_ELEMENT(self),
        alexnet::gst::result_message(GST_OBJECT(self), pts, running_time, classified, top));
}

void gst_alexnet_classify_frame_left(GstAlexNetClassify* self,
                                     alexnet::gst::Clock::time_point entered) {
  alexnet::gst::StatsWindow& w = self->impl->stream.window;
  const auto now = alexnet::gst::Clock::now();
  const double us = std::chrono::duration<double, std::micro>(now - entered).count();
  w.frames_total++;
  w.frames++;
  w.latency_sum_us += us;
  if (w.latencies_us.size() < alexnet::gst::StatsWindow::kMaxSamples) w.latencies_us.push_back(us);
  const guint interval_ms = gst_alexnet_classify_settings(self).stats_interval;
  if (interval_ms > 0 && now - w.since >= std::chrono::milliseconds(interval_ms))
    gst_alexnet_classify_post_stats(self);
}

void gst_alexnet_classify_post_stats(GstAlexNetClassify* self) {
  GstAlexNetClassifyImpl* impl = self->impl;
  alexnet::gst::StatsWindow& w = impl->stream.window;
  const auto now = alexnet::gst::Clock::now();
  const double seconds = std::chrono::duration<double>(now - w.since).count();
  double p95 = 0;
  if (!w.latencies_us.empty()) {
    /* the smallest sample at or above 95% of them */
    const size_t k = (w.latencies_us.size() * 95 + 99) / 100 - 1;
    std::nth_element(w.latencies_us.begin(), w.latencies_us.begin() + static_cast<long>(k),
                     w.latencies_us.end());
    p95 = w.latencies_us[k];
  }
  const alexnet::gst::Stats& st = impl->stats;
  GstStructure* s = gst_structure_new(
      "alexnet-stats", "frames", G_TYPE_UINT64, w.frames_total, "frames-classified", G_TYPE_UINT64,
      st.classified.load(), "frames-skipped", G_TYPE_UINT64, st.skipped.load(),
      "objects-classified", G_TYPE_UINT64, st.objects_classified.load(), "objects-cached",
      G_TYPE_UINT64, st.objects_cached.load(), "objects-skipped", G_TYPE_UINT64,
      st.objects_skipped.load(), "fps", G_TYPE_DOUBLE,
      seconds > 0 ? static_cast<double>(w.frames) / seconds : 0.0, "mean-latency-us", G_TYPE_DOUBLE,
      w.frames ? w.latency_sum_us / static_cast<double>(w.frames) : 0.0, "p95-latency-us",
      G_TYPE_DOUBLE, p95, nullptr);
  if (impl->model.shared) /* for a shared instance: how many elements share it */
    gst_structure_set(s, "streams", G_TYPE_UINT, static_cast<guint>(impl->model.shared->sharers()),
                      "mean-batch", G_TYPE_DOUBLE, impl->model.shared->batcher().mean_batch(),
                      nullptr);
  w.since = now;
  w.frames = 0;
  w.latency_sum_us = 0;
  w.latencies_us.clear();
  /* The same structure also travels downstream in order with the frames, as a serialized
   * custom event, for an alexnetpublish add-stats=true (elements do not see the bus); elements
   * that do not know it forward it. It is held until the frame that closed the window has left
   * (push_stats_event). An older one of ours still held goes now: its frames have all left.
   * (Not the upstream ones held here: the frame closing this window may be counted but not yet
   * pushed.) */
  if (impl->stream.stats_event) {
    GstEvent* older = impl->stream.stats_event;
    impl->stream.stats_event = nullptr;
    gst_pad_push_event(GST_BASE_TRANSFORM_SRC_PAD(self), older);
  }
  GstStructure* copy = gst_structure_copy(s);
  /* which classifier, for a chain of several (the bus message has its source) */
  gst_structure_set(copy, "element", G_TYPE_STRING, GST_OBJECT_NAME(self), nullptr);
  impl->stream.stats_event = gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, copy);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

void gst_alexnet_classify_push_stats_event(GstAlexNetClassify* self) {
  alexnet::gst::StreamState& st = self->impl->stream;
  GstPad* src = GST_BASE_TRANSFORM_SRC_PAD(self);
  while (!st.upstream_stats.empty() && st.upstream_stats.front().after <= st.window.frames_total) {
    GstEvent* held = st.upstream_stats.front().event;
    st.upstream_stats.pop_front();
    gst_pad_push_event(src, held);
  }
  GstEvent* event = st.stats_event;
  if (!event) return;
  st.stats_event = nullptr;
  gst_pad_push_event(src, event); /* unlinked: dropped, as a message nobody reads */
}

void gst_alexnet_classify_drop_held_events(alexnet::gst::StreamState& st) {
  gst_event_replace(&st.stats_event, nullptr);
  for (auto& held : st.upstream_stats) gst_event_unref(held.event);
  st.upstream_stats.clear();
}

GstClockTime running_time_of(GstBaseTransform* trans, GstClockTime pts) {
  if (trans->segment.format != GST_FORMAT_TIME || !GST_CLOCK_TIME_IS_VALID(pts))
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time(&trans->segment, GST_FORMAT_TIME, pts);
}

/* LATENCY: what we add to upstream's: the mean classification time, and with batch-size > 1
 * the time a batch may wait to fill (at most batch-timeout). */
GstClockTime gst_alexnet_classify_added_latency(GstAlexNetClassify* self) {
  const alexnet::gst::Stats& stats = self->impl->stats;
  guint64 n = stats.classified.load();
  GstClockTime ours = n ? stats.latency_total_us.load() / n * GST_USECOND : 0;
  const Settings s = gst_alexnet_classify_settings(self);
  const guint batch = s.batch_size, timeout = s.batch_timeout;
  GstVideoInfo* info = &GST_VIDEO_FILTER(self)->in_info;
  const bool have_fps = GST_VIDEO_INFO_FPS_N(info) > 0 && GST_VIDEO_INFO_FPS_D(info) > 0;
  if (batch > 1) {
    GstClockTime fill = timeout * GST_MSECOND;
    if (have_fps)
      fill =
          MIN(fill, gst_util_uint64_scale_int((batch - 1) * GST_SECOND, GST_VIDEO_INFO_FPS_D(info),
                                              GST_VIDEO_INFO_FPS_N(info)));
    ours += fill;
  }
  return ours;
}
