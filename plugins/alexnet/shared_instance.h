/* model-instance-id (internal): one loaded model, with its device workers, shared by every
 * alexnetclassify in the process that names the same id. The first element to reach READY
 * loads it; the others must agree on the settings that shape it (model, labels-file, device,
 * threads, precision, parallel, batch-size, batch-timeout); it is freed when the last one goes
 * to NULL. A model swap on any sharer reaches all of them (shared_instance.cpp). */
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "classify_engine.h"

namespace alexnet::gst {

/* Sharers disagree on a setting: the message names the id, the property, both values and
 * both elements. */
struct SharedSettingsMismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/* Batches across streams: the frames the sharers submit are classified together, up to
 * batch-size frames, or whatever arrived by batch-timeout after the oldest one; a submission is
 * never split. Batches go to the workers in turn (concurrently), with the instance's current
 * engine; each submission's future gets its own rows, cut to its own top-k. */
class SharedBatcher {
 public:
  SharedBatcher(std::function<std::shared_ptr<Engine>()> engine, size_t batch_size,
                std::chrono::milliseconds timeout);
  ~SharedBatcher(); /* classifies what is queued, then stops */
  SharedBatcher(const SharedBatcher&) = delete;
  SharedBatcher& operator=(const SharedBatcher&) = delete;

  /* embedding: the submission wants the embedding (output-tensor=fc7); a batch computes it
   * when any of its submissions does. */
  std::shared_future<BatchResult> submit(std::vector<alexnet::Frame> frames, int top_k,
                                         bool embedding);
  double mean_batch() const; /* images per batch so far; 0 before the first */

 private:
  struct Submission {
    std::vector<alexnet::Frame> frames;
    int top_k = 0;
    bool embedding = false;
    std::promise<BatchResult> promise;
    Clock::time_point at;
  };
  void run();
  void launch(std::vector<Submission> batch);

  std::function<std::shared_ptr<Engine>()> engine_;
  const size_t batch_size_;
  const std::chrono::milliseconds timeout_;
  std::mutex lock_; /* queue_, queued_frames_, stop_, running_ */
  std::condition_variable wake_;
  std::deque<Submission> queue_;
  size_t queued_frames_ = 0;
  bool stop_ = false;
  std::vector<std::future<void>> running_; /* batches on the workers */
  unsigned next_worker_ = 0;
  std::atomic<guint64> images_{0}, batches_{0};
  std::thread thread_; /* last: started when everything above exists */
};

class SharedInstance {
 public:
  SharedInstance(std::string id, Settings settings, std::string creator)
      : id_(std::move(id)), settings_(std::move(settings)), creator_(std::move(creator)) {}

  const std::string& id() const { return id_; }
  std::shared_ptr<Engine> engine();
  /* Elements that hold the instance (each added at READY, removed at NULL). */
  void add_sharer(GstAlexNetClassify* element);
  void remove_sharer(GstAlexNetClassify* element);
  int sharers();
  /* The cross-stream batcher (made with the instance). */
  SharedBatcher& batcher() { return *batcher_; }
  /* A swapped-in engine (a model set on `initiator`, loaded in the background): becomes the
   * instance's and is left pending on every sharer still at READY or above (swapped in at its
   * next frame); the other sharers' `model`/`labels-file` are updated, each with a notify (the
   * initiator's are its own, and may have changed again meanwhile). */
  void swap_in(std::shared_ptr<Engine> engine, const Settings& from, GstAlexNetClassify* initiator);

  /* The first setting of `s` (element `element`) that differs from the creator's, described
   * for a message; "" if they agree. */
  std::string difference(const Settings& s, const std::string& element) const;

 private:
  friend std::shared_ptr<SharedInstance> acquire_shared_instance(
      const std::string&, const Settings&, const std::string&,
      const std::function<std::shared_ptr<Engine>()>&);
  std::string id_;
  Settings settings_; /* of the element that created it; model/labels follow swaps */
  std::string creator_;
  std::mutex lock_; /* engine_, sharers_, settings_ after creation */
  std::shared_ptr<Engine> engine_;
  std::vector<GstAlexNetClassify*> sharers_;
  std::unique_ptr<SharedBatcher> batcher_; /* declared last: stopped first */
};

/* The instance named `id`: the one an element already holds (its settings must agree with
 * `s`, else SharedSettingsMismatch), or a new one whose engine `make` loads (its errors are
 * thrown as they are). `element` is the caller's name, for messages. */
std::shared_ptr<SharedInstance> acquire_shared_instance(
    const std::string& id, const Settings& s, const std::string& element,
    const std::function<std::shared_ptr<Engine>()>& make);

}  // namespace alexnet::gst
