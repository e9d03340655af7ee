/* model-instance-id: the process-wide registry of shared models (shared_instance.h). */
#include "shared_instance.h"

#include <map>

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
                                           : "fp32";
}

std::string parallel_name(GstAlexNetParallel p) {
  return p == GST_ALEXNET_PARALLEL_MODEL ? "model" : "data";
}

}  // namespace

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

void SharedInstance::swap_in(std::shared_ptr<Engine> engine, const Settings& from) {
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
    GST_OBJECT_LOCK(e);
    const bool changed =
        e->impl->settings.model != from.model || e->impl->settings.labels_file != from.labels_file;
    e->impl->settings.model = from.model;
    e->impl->settings.labels_file = from.labels_file;
    GST_OBJECT_UNLOCK(e);
    {
      std::lock_guard<std::mutex> guard(e->impl->model.lock);
      e->impl->model.pending = engine;
    }
    if (changed) g_object_notify(G_OBJECT(e), "model");
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
  slot = instance;
  return instance;
}

}  // namespace alexnet::gst
