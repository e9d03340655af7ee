/* The concurrent path: batches on the workers, frames leave in arrival order.
 *
 * Who touches what (classify_engine.h): the queue and the open batch belong to whoever holds
 * the sink pad's stream lock (the streaming thread, or the pusher when it pushes finished
 * frames or sends a timed-out batch); the list of dispatched batches, the open batch's
 * deadline and the stop flag are under Batcher::lock, which the pusher sleeps on. */
#include "batcher.h"

#include <algorithm>
#include <chrono>

#include "alexnet/error.h"
#include "shared_instance.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

using alexnet::gst::Batcher;
using alexnet::gst::BatchResult;
using alexnet::gst::Clock;
using alexnet::gst::Engine;
using alexnet::gst::Job;
using alexnet::gst::MappedFrame;
using alexnet::gst::Settings;

/* Whether the open batch holds frames and its deadline (the first frame's arrival plus
 * batch-timeout) has passed: then it goes out partial. Under the stream lock. */
static bool open_batch_timed_out(const Batcher& b) {
  return !b.open.empty() && Clock::now() >= b.deadline;
}

/* Sets the open batch's deadline (under the stream lock) and wakes the pusher for it. */
static void set_deadline(Batcher& b, Clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> guard(b.lock);
    b.deadline = deadline;
  }
  b.wake.notify_one();
}

void gst_alexnet_classify_discard(GstAlexNetClassifyImpl* impl) {
  Batcher& b = impl->batcher;
  b.open.clear();
  set_deadline(b, Clock::time_point::max());
  b.queue.clear();
  impl->stream.objects.clear(); /* its slots may belong to frames just dropped */
  gst_alexnet_classify_drop_held_events(impl->stream);
}

void gst_alexnet_classify_stop_pusher(GstAlexNetClassifyImpl* impl) {
  Batcher& b = impl->batcher;
  {
    std::lock_guard<std::mutex> guard(b.lock);
    b.stop = true;
  }
  b.wake.notify_all();
  if (b.pusher.joinable()) b.pusher.join();
  std::lock_guard<std::mutex> guard(b.lock);
  b.dispatched.clear();
}

void gst_alexnet_classify_start_pusher(GstAlexNetClassify* self) {
  Batcher& b = self->impl->batcher;
  if (b.pusher.joinable()) return;
  {
    std::lock_guard<std::mutex> guard(b.lock);
    b.stop = false;
    b.dispatched.clear();
    b.deadline = Clock::time_point::max();
  }
  b.pusher = std::thread(gst_alexnet_classify_pusher, self);
}

/* Runs one batch on a worker's thread; its result (or error) is the returned future's. */
static std::shared_future<BatchResult> run_batch(GstAlexNetClassify* self,
                                                 std::shared_ptr<Engine> engine,
                                                 std::vector<alexnet::Frame> frames, int k,
                                                 bool embedding) {
  Batcher& b = self->impl->batcher;
  try {
    if (!engine) throw alexnet::Error("no model loaded");
    const int worker =
        static_cast<int>(b.next_worker++ % static_cast<unsigned>(engine->classifier->workers()));
    GST_LOG_OBJECT(self, "batch of %zu on worker %d", frames.size(), worker);
    return std::async(std::launch::async,
                      [engine, frames = std::move(frames), k, worker, embedding] {
                        return alexnet::gst::classify_batch(*engine, frames, k, worker, embedding);
                      })
        .share();
  } catch (...) {
    /* no model, thread or memory: the frames' result is the error, reported when they leave */
    std::promise<BatchResult> failed;
    failed.set_exception(std::current_exception());
    return failed.get_future().share();
  }
}

/* The pixels of one open image: its frame, or its object's box in it. */
static alexnet::Frame image_of(const Batcher::OpenImage& image) {
  Job* job = image.job;
  alexnet::Frame f = frame_of(&job->map->frame, job->format, job->matrix, job->range);
  if (job->roi_list) f.roi = job->objects.at(image.slot).box;
  return f;
}

/* Sends the first n open images as one batch: to the next worker, or to the shared instance's
 * cross-stream batcher, classified by the model current now (even if it was swapped in after
 * some of them arrived). */
static void dispatch_batch(GstAlexNetClassify* self, size_t n, const Settings& s) {
  GstAlexNetClassifyImpl* impl = self->impl;
  Batcher& b = impl->batcher;
  std::vector<alexnet::Frame> frames;
  for (size_t i = 0; i < n; ++i) frames.push_back(image_of(b.open[i]));
  const bool embedding = s.output_tensor == GST_ALEXNET_OUTPUT_TENSOR_FC7;
  const int k = static_cast<int>(s.top_k);
  std::shared_future<BatchResult> result =
      impl->model.shared ? impl->model.shared->batcher().submit(std::move(frames), k, embedding)
                         : run_batch(self, impl->model.current, std::move(frames), k, embedding);
  for (size_t i = 0; i < n; i++) {
    alexnet::gst::Slot& slot = *b.open[i].job->slots.at(b.open[i].slot);
    slot.result = result;
    slot.row = i;
  }
  b.open.erase(b.open.begin(), b.open.begin() + static_cast<std::ptrdiff_t>(n));
  {
    std::lock_guard<std::mutex> guard(b.lock);
    if (b.open.empty()) b.deadline = Clock::time_point::max();
    b.dispatched.push_back(result);
  }
  b.wake.notify_one();
}

void gst_alexnet_classify_dispatch(GstAlexNetClassify* self, bool partial) {
  Batcher& b = self->impl->batcher;
  const Settings s = gst_alexnet_classify_settings(self);
  const size_t batch = std::max<size_t>(1, s.batch_size);
  while (b.open.size() >= batch || (partial && !b.open.empty()))
    dispatch_batch(self, std::min(batch, b.open.size()), s);
}

GstFlowReturn gst_alexnet_classify_enqueue(GstAlexNetClassify* self, GstBuffer* buffer) {
  GstBaseTransform* trans = GST_BASE_TRANSFORM(self);
  GstAlexNetClassifyImpl* impl = self->impl;
  Batcher& b = impl->batcher;
  const Clock::time_point entered = Clock::now();
  GstFlowReturn ret = b.pushed_ret.exchange(GST_FLOW_OK);
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
    const Settings s = gst_alexnet_classify_settings(self);
    auto job = std::make_unique<Job>();
    job->entered = entered;
    job->buffer = gst_buffer_make_writable(buffer);
    job->info = GST_VIDEO_FILTER(trans)->in_info;
    job->map = std::make_unique<MappedFrame>(&job->info, job->buffer);
    if (!job->map->mapped) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not map a video frame"),
                        ("%" GST_PTR_FORMAT, static_cast<void*>(job->buffer)));
      return GST_FLOW_ERROR;
    }
    gst_alexnet_classify_swap_model(self);
    if (!impl->model.current) {
      GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("No model loaded"), (NULL));
      return GST_FLOW_ERROR;
    }
    job->format = impl->stream.format;
    job->matrix = impl->stream.matrix;
    job->range = impl->stream.range;
    job->pts = GST_BUFFER_PTS(job->buffer);
    job->running_time = running_time_of(trans, job->pts);
    const guint64 frame_no = impl->stream.frame_index;
    job->classify = gst_alexnet_classify_decide(self, job->buffer, s, job->running_time,
                                                impl->stream.dispatched_any);
    job->roi_list = s.region == GST_ALEXNET_INFERENCE_REGION_ROI_LIST;
    if (job->roi_list) {
      gst_alexnet_classify_take_objects(self, job.get(), s, frame_no);
    } else if (job->classify) {
      job->slots.push_back(std::make_shared<alexnet::gst::Slot>());
      job->fresh.push_back(true);
    }
    Clock::time_point deadline = b.deadline;
    if (job->classify) impl->stream.dispatched_any = true;
    for (size_t i = 0; i < job->slots.size(); ++i) {
      if (!job->fresh[i]) continue;
      if (b.open.empty()) deadline = Clock::now() + std::chrono::milliseconds(s.batch_timeout);
      b.open.push_back({job.get(), i});
    }
    b.queue.push_back(std::move(job));
    /* full batches leave now; a shared instance fills its batches across the streams, so
     * every image goes at once (in batches of at most batch-size) */
    gst_alexnet_classify_dispatch(self, impl->model.shared != nullptr || Clock::now() >= deadline);
    if (!b.open.empty() && deadline != b.deadline)
      set_deadline(b, deadline); /* a batch opened: the pusher sends it at its deadline */
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Classification failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* Annotates the oldest held frame (waiting for its batch if `wait`) and hands it out. */
static GstFlowReturn gst_alexnet_classify_finish_front(GstAlexNetClassify* self, bool wait,
                                                       GstBuffer** outbuf) {
  Batcher& b = self->impl->batcher;
  *outbuf = NULL;
  gst_alexnet_classify_push_stats_event(self); /* the frame before has been pushed */
  if (b.queue.empty()) return GST_FLOW_OK;
  Job* job = b.queue.front().get();
  for (const std::shared_ptr<alexnet::gst::Slot>& slot : job->slots) {
    if (!slot->result.valid()) {
      /* an image still in the open batch (a kept object's slot was dispatched with its
       * earlier frame, which has left) */
      if (!wait) return GST_FLOW_OK;
      gst_alexnet_classify_dispatch(self, true);
      if (!slot->result.valid()) {
        /* not in any batch: a bookkeeping error, reported rather than waited on forever */
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Classification failed: a result was lost"),
                          ("frame %" GST_TIME_FORMAT, GST_TIME_ARGS(job->pts)));
        return GST_FLOW_ERROR;
      }
    }
    if (!wait && !slot->ready()) return GST_FLOW_OK;
  }
  std::unique_ptr<Job> owned = std::move(b.queue.front());
  b.queue.pop_front();
  try {
    if (job->roi_list) {
      gst_alexnet_classify_annotate_objects(self, job);
    } else {
      if (job->classify) gst_alexnet_classify_keep_result(self, job->slots.at(0));
      gst_alexnet_classify_annotate(self, &job->map->frame, job->format, job->range, job->classify,
                                    job->pts, job->running_time);
    }
    gst_alexnet_classify_frame_left(self, job->entered);
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
  Batcher& b = impl->batcher;
  *outbuf = NULL;
  if (b.queue.empty()) return GST_FLOW_OK;
  const guint batch = gst_alexnet_classify_settings(self).batch_size;
  const int workers = impl->model.current ? impl->model.current->classifier->workers() : 1;
  /* bounded: at most one batch filling and one per worker in flight */
  const size_t limit = static_cast<size_t>(batch) * (workers + 1);
  return gst_alexnet_classify_finish_front(self, open_batch_timed_out(b) || b.queue.size() > limit,
                                           outbuf);
}

GstFlowReturn gst_alexnet_classify_drain(GstAlexNetClassify* self) {
  GstAlexNetClassifyImpl* impl = self->impl;
  GstFlowReturn ret = GST_FLOW_OK;
  while (!impl->batcher.queue.empty()) {
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

/* What woke the pusher. */
enum class PusherWork { Stop, BatchDispatched, DeadlinePassed, IdleCheck };
constexpr auto kIdleCheck = std::chrono::milliseconds(100);

/* Sleeps until a batch is on the workers (its future in *next), the open batch's deadline
 * has passed, stop, or kIdleCheck without any of those (IdleCheck). dispatch, set_deadline
 * and stop notify `wake`. *deadline is the open batch's deadline as last seen. */
static PusherWork wait_for_work(Batcher& b, std::shared_future<BatchResult>* next,
                                Clock::time_point* deadline) {
  std::unique_lock<std::mutex> lock(b.lock);
  for (;;) {
    *deadline = b.deadline;
    if (b.stop) return PusherWork::Stop;
    if (!b.dispatched.empty()) {
      *next = b.dispatched.front();
      return PusherWork::BatchDispatched;
    }
    if (Clock::now() >= b.deadline) return PusherWork::DeadlinePassed;
    /* At most kIdleCheck without any work: then a pass over the held frames, so that a frame
     * whose results are all kept from an earlier frame's batch (roi-list) never waits on a
     * wake-up that no dispatch will send. */
    const Clock::time_point check = Clock::now() + kIdleCheck;
    if (b.wake.wait_until(lock, std::min(b.deadline, check)) == std::cv_status::timeout &&
        Clock::now() >= check && Clock::now() < b.deadline)
      return PusherWork::IdleCheck;
  }
}

/* Waits for a dispatched batch, but not past the open batch's deadline: a partial batch goes
 * out on time while another batch is still on a worker. */
static PusherWork wait_for_batch(const std::shared_future<BatchResult>& next,
                                 Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) {
    next.wait();
    return PusherWork::BatchDispatched;
  }
  return next.wait_until(deadline) == std::future_status::ready ? PusherWork::BatchDispatched
                                                                : PusherWork::DeadlinePassed;
}

/* Takes the sink pad's stream lock, as the streaming thread would; false (not holding it)
 * when the element is stopping meanwhile: nothing more is annotated, counted or posted. */
static bool lock_stream_unless_stopped(Batcher& b, GRecMutex* stream_lock) {
  g_rec_mutex_lock(stream_lock);
  std::lock_guard<std::mutex> guard(b.lock);
  if (!b.stop) return true;
  g_rec_mutex_unlock(stream_lock);
  return false;
}

/* Under the stream lock: pushes every finished frame at the head of the queue. */
static int push_finished_frames(GstAlexNetClassify* self) {
  GstFlowReturn ret = GST_FLOW_OK;
  int pushed = 0;
  for (;;) {
    GstBuffer* out = NULL;
    ret = gst_alexnet_classify_finish_front(self, false, &out);
    if (ret != GST_FLOW_OK || !out) break;
    ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(self), out);
    ++pushed;
    if (ret != GST_FLOW_OK) break;
  }
  if (ret != GST_FLOW_OK) {
    GST_DEBUG_OBJECT(self, "pusher: %s", gst_flow_get_name(ret));
    self->impl->batcher.pushed_ret = ret;
  }
  return pushed;
}

/* The pusher thread (concurrent path). It takes the sink pad's stream lock, as the streaming
 * thread would, to send a timed-out batch or push the finished frames at the head of the
 * queue. Blocking on that lock cannot deadlock: no holder of it ever waits for the pusher
 * (stop() joins it outside the lock, after the pad's deactivation has let go of it). */
void gst_alexnet_classify_pusher(GstAlexNetClassify* self) {
  Batcher& b = self->impl->batcher;
  GRecMutex* stream_lock = GST_PAD_GET_STREAM_LOCK(GST_BASE_TRANSFORM_SINK_PAD(self));
  for (;;) {
    std::shared_future<BatchResult> next;
    Clock::time_point deadline;
    PusherWork work = wait_for_work(b, &next, &deadline);
    if (work == PusherWork::Stop) return;
    if (work == PusherWork::BatchDispatched) work = wait_for_batch(next, deadline);
    if (!lock_stream_unless_stopped(b, stream_lock)) return;
    if (work == PusherWork::DeadlinePassed) {
      /* no input came to send it: send the partial batch (unless the streaming thread did) */
      if (open_batch_timed_out(b))
        gst_alexnet_classify_dispatch(self, true);
      else if (b.open.empty())
        set_deadline(b, Clock::time_point::max());
      g_rec_mutex_unlock(stream_lock);
      continue;
    }
    if (push_finished_frames(self) > 0 && work == PusherWork::IdleCheck)
      GST_INFO_OBJECT(self, "pusher: the idle check found finished frames nothing woke it for");
    g_rec_mutex_unlock(stream_lock);
    std::lock_guard<std::mutex> guard(b.lock);
    while (!b.dispatched.empty() &&
           b.dispatched.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      b.dispatched.pop_front();
  }
}
