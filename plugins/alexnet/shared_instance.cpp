/* model-instance-id: the process-wide registry of shared models (shared_instance.h). */
#include "shared_instance.h"

#include <algorithm>
#include <map>

#include "alexnet/error.h"

#define GST_CAT_DEFAULT gst_alexnet_debug

namespace alexnet::gst {

namespace {

/* id -> instance; an entry whose last holder went to NULL has expired and is replaced. */
std::mutex& registry_lock() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::weak_ptr<SharedInstance>>& registry() {
  static std::map<std::string, std::weak_ptr<SharedInstance>> r;
  return r;
}

std::string quoted(const std::string& v) {
  return "\"" + v + "\"";
}

std::string precision_name(GstAlexNetPrecision p) {
  return p == GST_ALEXNET_PRECISION_FP16   ? "fp16"
         : p == GST_ALEXNET_PRECISION_BF16 ? "bf16"
         : p == GST_ALEXNET_PRECISION_INT8 ? "int8"
                                           : "fp32";
}

std::string parallel_name(GstAlexNetParallel p) {
  return p == GST_ALEXNET_PARALLEL_MODEL ? "model" : "data";
}

/* Rows [begin, begin + n) of a batch's result, each top-k cut to `top_k`. */
BatchResult rows_of(const BatchResult& all, size_t begin, size_t n, int top_k) {
  BatchResult r;
  r.model_name = all.model_name;
  r.us = all.us;
  for (size_t i = begin; i < begin + n; ++i) {
    alexnet::TopK t = all.tops.at(i);
    if (t.size() > static_cast<size_t>(top_k)) t.resize(static_cast<size_t>(top_k));
    r.tops.push_back(std::move(t));
  }
  auto rows = [&](const alexnet::Tensor& t) {
    if (t.rank() != 2) return alexnet::Tensor();
    const int64_t w = t.dim(1);
    alexnet::Tensor out({static_cast<int64_t>(n), w});
    std::copy(t.data() + static_cast<int64_t>(begin) * w,
              t.data() + static_cast<int64_t>(begin + n) * w, out.data());
    return out;
  };
  r.probabilities = rows(all.probabilities);
  r.embedding = rows(all.embedding);
  return r;
}

}  // namespace

SharedBatcher::SharedBatcher(std::function<std::shared_ptr<Engine>()> engine, size_t batch_size,
                             std::chrono::milliseconds timeout)
    : engine_(std::move(engine)),
      batch_size_(std::max<size_t>(1, batch_size)),
      timeout_(timeout),
      thread_([this] { run(); }) {}

SharedBatcher::~SharedBatcher() {
  {
    std::lock_guard<std::mutex> guard(lock_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  for (std::future<void>& f : running_) f.wait();
}

std::shared_future<BatchResult> SharedBatcher::submit(std::vector<alexnet::Frame> frames, int top_k,
                                                      bool embedding) {
  Submission sub;
  sub.frames = std::move(frames);
  sub.top_k = top_k;
  sub.embedding = embedding;
  sub.at = Clock::now();
  std::shared_future<BatchResult> result = sub.promise.get_future().share();
  {
    std::lock_guard<std::mutex> guard(lock_);
    queued_frames_ += sub.frames.size();
    queue_.push_back(std::move(sub));
  }
  wake_.notify_one();
  return result;
}

double SharedBatcher::mean_batch() const {
  const guint64 b = batches_.load();
  return b ? static_cast<double>(images_.load()) / static_cast<double>(b) : 0.0;
}

void SharedBatcher::run() {
  std::unique_lock<std::mutex> lock(lock_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return; /* stopping, nothing left */
    /* fill: batch-size frames, or the oldest submission's deadline (not when stopping) */
    const Clock::time_point deadline = queue_.front().at + timeout_;
    wake_.wait_until(lock, deadline, [this] { return stop_ || queued_frames_ >= batch_size_; });
    std::vector<Submission> batch;
    size_t n = 0;
    while (!queue_.empty() && (batch.empty() || n + queue_.front().frames.size() <= batch_size_)) {
      n += queue_.front().frames.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_frames_ -= n;
    std::erase_if(running_, [](std::future<void>& f) {
      return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
    lock.unlock();
    launch(std::move(batch));
    lock.lock();
  }
}

void SharedBatcher::launch(std::vector<Submission> batch) {
  auto subs = std::make_shared<std::vector<Submission>>(std::move(batch));
  try {
    std::shared_ptr<Engine> engine = engine_();
    if (!engine) throw alexnet::Error("the shared model is not loaded");
    const int worker =
        static_cast<int>(next_worker_++ % static_cast<unsigned>(engine->classifier->workers()));
    std::future<void> f = std::async(std::launch::async, [this, engine, subs, worker] {
      try {
        std::vector<alexnet::Frame> frames;
        int k = 1;
        bool embedding = false;
        for (const Submission& s : *subs) {
          frames.insert(frames.end(), s.frames.begin(), s.frames.end());
          k = std::max(k, s.top_k);
          embedding = embedding || s.embedding;
        }
        const BatchResult all = classify_batch(*engine, frames, k, worker, embedding);
        images_ += frames.size();
        batches_++;
        size_t row = 0;
        for (Submission& s : *subs) {
          s.promise.set_value(rows_of(all, row, s.frames.size(), s.top_k));
          row += s.frames.size();
        }
      } catch (...) {
        for (Submission& s : *subs) {
          try {
            s.promise.set_exception(std::current_exception());
          } catch (const std::future_error&) { /* already set */
          }
        }
      }
    });
    std::lock_guard<std::mutex> guard(lock_);
    running_.push_back(std::move(f));
  } catch (...) {
    for (Submission& s : *subs) s.promise.set_exception(std::current_exception());
  }
}

std::shared_ptr<Engine> SharedInstance::engine() {
  std::lock_guard<std::mutex> guard(lock_);
  return engine_;
}

void SharedInstance::add_sharer(GstAlexNetClassify* element) {
  std::lock_guard<std::mutex> guard(lock_);
  sharers_.push_back(element);
}

void SharedInstance::remove_sharer(GstAlexNetClassify* element) {
  std::lock_guard<std::mutex> guard(lock_);
  std::erase(sharers_, element);
}

int SharedInstance::sharers() {
  std::lock_guard<std::mutex> guard(lock_);
  return static_cast<int>(sharers_.size());
}

std::string SharedInstance::difference(const Settings& s, const std::string& element) const {
  const Settings& c = settings_;
  struct Field {
    const char* name;
    std::string mine, theirs;
  };
  const Field fields[] = {
      {"model", s.model, c.model},
      {"labels-file", s.labels_file, c.labels_file},
      {"device", s.device, c.device},
      {"threads", std::to_string(s.threads), std::to_string(c.threads)},
      {"precision", precision_name(s.precision), precision_name(c.precision)},
      {"parallel", parallel_name(s.parallel), parallel_name(c.parallel)},
      {"batch-size", std::to_string(s.batch_size), std::to_string(c.batch_size)},
      {"batch-timeout", std::to_string(s.batch_timeout), std::to_string(c.batch_timeout)},
  };
  for (const Field& f : fields)
    if (f.mine != f.theirs)
      return std::string(f.name) + " is " + quoted(f.mine) + " on " + element + " but " +
             quoted(f.theirs) + " on " + creator_ + ", which shares model-instance-id " +
             quoted(id_);
  return "";
}

void SharedInstance::swap_in(std::shared_ptr<Engine> engine, const Settings& from,
                             GstAlexNetClassify* initiator) {
  std::vector<GstAlexNetClassify*> targets;
  {
    std::lock_guard<std::mutex> guard(lock_);
    engine_ = engine;
    settings_.model = from.model;
    settings_.labels_file = from.labels_file;
    /* a sharer removes itself under lock_ before it can go away: a ref keeps it meanwhile */
    for (GstAlexNetClassify* e : sharers_)
      targets.push_back(GST_ALEXNET_CLASSIFY(gst_object_ref(e)));
  }
  for (GstAlexNetClassify* e : targets) {
    bool model_changed = false, labels_changed = false;
    if (e != initiator) {
      GST_OBJECT_LOCK(e);
      model_changed = e->impl->settings.model != from.model;
      labels_changed = e->impl->settings.labels_file != from.labels_file;
      e->impl->settings.model = from.model;
      e->impl->settings.labels_file = from.labels_file;
      GST_OBJECT_UNLOCK(e);
    }
    {
      /* not on a sharer on its way to NULL: it would keep the engine after leaving */
      std::lock_guard<std::mutex> guard(e->impl->model.lock);
      if (e->impl->model.loaded) e->impl->model.pending = engine;
    }
    if (model_changed) g_object_notify(G_OBJECT(e), "model");
    if (labels_changed) g_object_notify(G_OBJECT(e), "labels-file");
    gst_object_unref(e);
  }
}

std::shared_ptr<SharedInstance> acquire_shared_instance(
    const std::string& id, const Settings& s, const std::string& element,
    const std::function<std::shared_ptr<Engine>()>& make) {
  /* Held while a new instance loads, so that two elements starting together load it once. */
  std::lock_guard<std::mutex> guard(registry_lock());
  std::weak_ptr<SharedInstance>& slot = registry()[id];
  if (std::shared_ptr<SharedInstance> held = slot.lock()) {
    std::string diff;
    {
      std::lock_guard<std::mutex> g(held->lock_);
      diff = held->difference(s, element);
    }
    if (!diff.empty()) throw SharedSettingsMismatch(diff);
    return held;
  }
  auto instance = std::make_shared<SharedInstance>(id, s, element);
  instance->engine_ = make();
  SharedInstance* raw = instance.get(); /* the batcher dies first (declared last) */
  instance->batcher_ = std::make_unique<SharedBatcher>(
      [raw] { return raw->engine(); }, s.batch_size, std::chrono::milliseconds(s.batch_timeout));
  slot = instance;
  return instance;
}

}  // namespace alexnet::gst
