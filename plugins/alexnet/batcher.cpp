/* The concurrent path: batches on the workers, frames leave in arrival order. */
#include "batcher.h"

#include <chrono>

#define GST_CAT_DEFAULT gst_alexnet_debug

using alexnet::gst::BatchResult;
using alexnet::gst::Engine;
using alexnet::gst::Job;
using alexnet::gst::MappedFrame;
using alexnet::gst::Settings;

/* Whether the open batch holds frames and the first has waited `timeout_ms` or more (the
 * batch-timeout property): then it goes out partial. Under the stream lock. */
static bool open_batch_timed_out(const GstAlexNetClassifyImpl* impl, guint timeout_ms) {
  return !impl->open.empty() &&
         g_get_monotonic_time() - impl->open_since >= static_cast<gint64>(timeout_ms) * 1000;
}

void gst_alexnet_classify_discard(GstAlexNetClassifyImpl* impl) {
  impl->open.clear();
  impl->open_waiting = false;
  impl->queue.clear();
}

void gst_alexnet_classify_stop_pusher(GstAlexNetClassifyImpl* impl) {
  {
    std::lock_guard<std::mutex> guard(impl->pusher_lock);
    impl->pusher_stop = true;
  }
  impl->pusher_cond.notify_all();
  if (impl->pusher.joinable()) impl->pusher.join();
  std::lock_guard<std::mutex> guard(impl->pusher_lock);
  impl->dispatched.clear();
}

void gst_alexnet_classify_dispatch(GstAlexNetClassify* self, guint top_k) {
  GstAlexNetClassifyImpl* impl = self->impl;
  if (impl->open.empty()) return;
  std::shared_ptr<Engine> engine = impl->open.front()->engine;
  std::shared_future<BatchResult> result;
  try {
    std::vector<alexnet::Frame> frames;
    for (Job* job : impl->open)
      frames.push_back(frame_of(&job->map->frame, job->format, job->matrix, job->range));
    const int worker = static_cast<int>(impl->next_worker++ %
                                        static_cast<unsigned>(engine->classifier->workers()));
    const int k = static_cast<int>(top_k);
    GST_LOG_OBJECT(self, "batch of %zu on worker %d", frames.size(), worker);
    result = std::async(std::launch::async, [engine, frames = std::move(frames), k, worker] {
               auto t0 = std::chrono::steady_clock::now();
               BatchResult r;
               r.tops = engine->classifier->classify(frames, k, worker);
               r.us = static_cast<guint64>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now() - t0)
                                               .count());
               return r;
             }).share();
  } catch (...) {
    /* no thread, no memory: the frames' result is the error, reported when they leave */
    std::promise<BatchResult> failed;
    failed.set_exception(std::current_exception());
    result = failed.get_future().share();
  }
  for (size_t i = 0; i < impl->open.size(); i++) {
    impl->open[i]->result = result;
    impl->open[i]->index = i;
  }
  impl->open.clear();
  impl->open_waiting = false;
  {
    std::lock_guard<std::mutex> guard(impl->pusher_lock);
    impl->dispatched.push_back(result);
  }
  impl->pusher_cond.notify_one();
}

GstFlowReturn gst_alexnet_classify_enqueue(GstAlexNetClassify* self, GstBuffer* buffer) {
  GstBaseTransform* trans = GST_BASE_TRANSFORM(self);
  GstAlexNetClassifyImpl* impl = self->impl;
  GstFlowReturn ret = impl->pushed_ret.exchange(GST_FLOW_OK);
  if (ret != GST_FLOW_OK) {
    /* downstream refused a frame the pusher sent: tell upstream now */
    gst_buffer_unref(buffer);
    return ret;
  }
  if (!GST_VIDEO_FILTER(trans)->negotiated) {
    gst_buffer_unref(buffer);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (NULL), ("a buffer arrived before the caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  try {
    Settings s;
    {
      std::lock_guard<std::mutex> guard(impl->lock);
      s = impl->settings;
    }
    auto job = std::make_unique<Job>();
    job->buffer = gst_buffer_make_writable(buffer);
    job->info = GST_VIDEO_FILTER(trans)->in_info;
    job->map = std::make_unique<MappedFrame>(&job->info, job->buffer);
    if (!job->map->mapped) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map a video frame"),
                        ("%" GST_PTR_FORMAT, static_cast<void*>(job->buffer)));
      return GST_FLOW_ERROR;
    }
    gst_alexnet_classify_swap_pending(self, s.top_k);
    if (!impl->engine) {
      GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("No model loaded"), (NULL));
      return GST_FLOW_ERROR;
    }
    job->format = impl->format;
    job->matrix = impl->matrix;
    job->range = impl->range;
    job->engine = impl->engine;
    job->pts = GST_BUFFER_PTS(job->buffer);
    job->running_time = running_time_of(trans, job->pts);
    job->classify =
        gst_alexnet_classify_decide(self, job->buffer, s, job->running_time, impl->submitted_any);
    if (job->classify) {
      impl->submitted_any = true;
      if (impl->open.empty()) impl->open_since = g_get_monotonic_time();
      impl->open.push_back(job.get());
      impl->open_waiting = true;
    }
    impl->queue.push_back(std::move(job));
    if (impl->open.size() >= s.batch_size || open_batch_timed_out(impl, s.batch_timeout))
      gst_alexnet_classify_dispatch(self, s.top_k);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Classification failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* Annotates the oldest held frame (waiting for its batch if `wait`) and hands it out. */
static GstFlowReturn gst_alexnet_classify_finish_front(GstAlexNetClassify* self, bool wait,
                                                       GstBuffer** outbuf) {
  GstAlexNetClassifyImpl* impl = self->impl;
  *outbuf = NULL;
  if (impl->queue.empty()) return GST_FLOW_OK;
  Job* job = impl->queue.front().get();
  if (job->classify) {
    if (!job->result.valid()) {
      if (!wait) return GST_FLOW_OK;
      guint top_k;
      {
        std::lock_guard<std::mutex> guard(impl->lock);
        top_k = impl->settings.top_k;
      }
      gst_alexnet_classify_dispatch(self, top_k);
    }
    if (!wait && job->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return GST_FLOW_OK;
  }
  std::unique_ptr<Job> owned = std::move(impl->queue.front());
  impl->queue.pop_front();
  try {
    if (job->classify) {
      const BatchResult& r = job->result.get();
      impl->last = r.tops.at(job->index);
      impl->have_last = true;
      gst_alexnet_classify_record(self, r.us);
    }
    gst_alexnet_classify_annotate(self, &job->map->frame, job->format, job->range, impl->last,
                                  job->engine->model_name, job->classify, job->pts,
                                  job->running_time);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Classification failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  job->map.reset();
  *outbuf = job->buffer;
  job->buffer = NULL;
  return GST_FLOW_OK;
}

GstFlowReturn gst_alexnet_classify_next_output(GstAlexNetClassify* self, GstBuffer** outbuf) {
  GstAlexNetClassifyImpl* impl = self->impl;
  *outbuf = NULL;
  if (impl->queue.empty()) return GST_FLOW_OK;
  guint batch, timeout;
  {
    std::lock_guard<std::mutex> guard(impl->lock);
    batch = impl->settings.batch_size;
    timeout = impl->settings.batch_timeout;
  }
  const int workers = impl->engine ? impl->engine->classifier->workers() : 1;
  /* bounded: at most one batch filling and one per worker in flight */
  const size_t limit = static_cast<size_t>(batch) * (workers + 1);
  return gst_alexnet_classify_finish_front(
      self, open_batch_timed_out(impl, timeout) || impl->queue.size() > limit, outbuf);
}

GstFlowReturn gst_alexnet_classify_drain(GstAlexNetClassify* self) {
  GstAlexNetClassifyImpl* impl = self->impl;
  GstFlowReturn ret = GST_FLOW_OK;
  while (!impl->queue.empty()) {
    GstBuffer* out = NULL;
    ret = gst_alexnet_classify_finish_front(self, true, &out);
    if (ret == GST_FLOW_OK && out) ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), out);
    if (ret != GST_FLOW_OK) {
      gst_alexnet_classify_discard(impl);
      break;
    }
  }
  return ret;
}

/* The pusher thread (concurrent path): waits for each dispatched batch, then, under the sink
 * pad's stream lock (taken with trylock so that a stop never waits on it), pushes every
 * finished frame at the head of the queue. */
void gst_alexnet_classify_pusher(GstAlexNetClassify* self) {
  GstAlexNetClassifyImpl* impl = self->impl;
  GRecMutex* stream_lock = GST_PAD_GET_STREAM_LOCK(GST_BASE_TRANSFORM_SINK_PAD(self));
  for (;;) {
    std::shared_future<BatchResult> next;
    {
      std::unique_lock<std::mutex> lock(impl->pusher_lock);
      impl->pusher_cond.wait_for(lock, std::chrono::milliseconds(2),
                                 [impl] { return impl->pusher_stop || !impl->dispatched.empty(); });
      if (impl->pusher_stop) return;
      if (!impl->dispatched.empty()) next = impl->dispatched.front();
    }
    if (!next.valid()) {
      /* nothing on the workers: send a partial batch whose batch-timeout is up */
      if (impl->open_waiting && g_rec_mutex_trylock(stream_lock)) {
        guint top_k, timeout;
        {
          std::lock_guard<std::mutex> guard(impl->lock);
          top_k = impl->settings.top_k;
          timeout = impl->settings.batch_timeout;
        }
        if (open_batch_timed_out(impl, timeout)) gst_alexnet_classify_dispatch(self, top_k);
        g_rec_mutex_unlock(stream_lock);
      }
      continue;
    }
    next.wait();
    bool locked = false;
    while (!locked) {
      {
        std::lock_guard<std::mutex> guard(impl->pusher_lock);
        if (impl->pusher_stop) return;
      }
      locked = g_rec_mutex_trylock(stream_lock);
      if (!locked) g_usleep(200);
    }
    GstFlowReturn ret = GST_FLOW_OK;
    for (;;) {
      GstBuffer* out = NULL;
      ret = gst_alexnet_classify_finish_front(self, false, &out);
      if (ret != GST_FLOW_OK || !out) break;
      ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), out);
      if (ret != GST_FLOW_OK) break;
    }
    if (ret != GST_FLOW_OK) {
      GST_DEBUG_OBJECT(self, "pusher: %s", gst_flow_get_name(ret));
      impl->pushed_ret = ret;
    }
    g_rec_mutex_unlock(stream_lock);
    std::lock_guard<std::mutex> guard(impl->pusher_lock);
    while (!impl->dispatched.empty() &&
           impl->dispatched.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      impl->dispatched.pop_front();
  }
}
