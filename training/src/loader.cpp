// The batch loader: see loader.h for the ordering and determinism rules.
#include "loader.h"

#include <algorithm>
#include <cstring>

#include "alexnet/error.h"

namespace train {

std::vector<size_t> Loader::epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  if (shuffle) {  // Fisher–Yates with our portable generator
    Rng rng(mix_seed(seed, 0x0bde7ULL, epoch));
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  }
  return order;
}

Loader::Loader(std::shared_ptr<const Dataset> data, AugmentConfig aug, LoaderConfig cfg,
               uint64_t epoch, size_t start_batch, std::function<void(const SkippedItem&)> on_skip)
    : data_(std::move(data)),
      aug_(std::move(aug)),
      cfg_(cfg),
      epoch_(epoch),
      on_skip_(std::move(on_skip)) {
  if (!data_) throw alexnet::Error("loader: no data set");
  aug_.validate();
  if (cfg_.batch_size < 1) throw alexnet::Error("loader: batch size must be at least 1");
  if (cfg_.workers < 1) throw alexnet::Error("loader: workers must be at least 1");
  if (cfg_.ten_crop && cfg_.train)
    throw alexnet::Error("loader: ten-crop is an evaluation mode (train = false)");
  if (cfg_.shards < 1 || cfg_.shard >= cfg_.shards)
    throw alexnet::Error("loader: shard " + std::to_string(cfg_.shard) + " of " +
                         std::to_string(cfg_.shards));
  order_ = epoch_order(data_->size(), cfg_.seed, epoch_, cfg_.train);
  const size_t n = order_.size(), b = cfg_.batch_size;
  num_batches_ = (cfg_.train && cfg_.drop_last) ? n / b : (n + b - 1) / b;
  if (start_batch > num_batches_)
    throw alexnet::Error("loader: start batch " + std::to_string(start_batch) +
                         " is beyond the epoch's " + std::to_string(num_batches_) + " batches");
  next_claim_ = next_out_ = start_batch;
  window_ = std::max<size_t>(cfg_.prefetch, static_cast<size_t>(cfg_.workers));
  const size_t workers = std::min<size_t>(static_cast<size_t>(cfg_.workers),
                                          std::max<size_t>(1, num_batches_ - start_batch));
  for (size_t t = 0; t < workers; ++t) threads_.emplace_back([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Loader::work() {
  for (;;) {
    size_t k;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // A batch may be started only inside the window after the next one to hand out: at
      // most window_ batches exist at once.
      cv_work_.wait(lock, [&] {
        return stop_ || next_claim_ >= num_batches_ || next_claim_ < next_out_ + window_;
      });
      if (stop_ || next_claim_ >= num_batches_) return;
      k = next_claim_++;
    }
    Slot slot;
    try {
      build(k, slot);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(k, std::move(slot));
    }
    cv_ready_.notify_all();
  }
}

void Loader::build(size_t k, Slot& slot) const {
  const size_t begin = k * cfg_.batch_size;
  const size_t length = std::min(begin + cfg_.batch_size, order_.size()) - begin;
  const size_t first = begin + length * cfg_.shard / cfg_.shards;  // this shard's positions
  const size_t last = begin + length * (cfg_.shard + 1) / cfg_.shards;
  const size_t per = input_numel(aug_) * (cfg_.ten_crop ? 10 : 1);
  const int64_t s = aug_.input_size, c = aug_.channels;
  Batch& b = slot.batch;
  b.index = k;
  // (B·crops, C, S, S), filled in position order; shrunk below if items were skipped.
  alexnet::Tensor x({static_cast<int64_t>((last - first) * (cfg_.ten_crop ? 10 : 1)), c, s, s});
  Image img;
  std::string why;
  size_t n = 0;
  for (size_t pos = first; pos < last; ++pos) {
    const size_t i = order_[pos];
    why.clear();
    if (!data_->load(i, img, &why)) {
      slot.skipped.push_back({i, data_->item_name(i), why.empty() ? "cannot load" : why});
      continue;
    }
    float* dst = x.data() + n * per;
    if (cfg_.ten_crop) {
      ten_crop(img, aug_, dst);
    } else if (cfg_.train) {
      Rng rng(mix_seed(cfg_.seed, epoch_, i, 0xa06ULL));
      train_transform(img, aug_, rng, dst);
    } else {
      eval_transform(img, aug_, dst);
    }
    b.labels.push_back(data_->label(i));
    b.indices.push_back(i);
    ++n;
  }
  b.skipped = slot.skipped.size();
  if (n == last - first) {
    b.x = std::move(x);
  } else if (n > 0) {
    alexnet::Tensor y({static_cast<int64_t>(n * (cfg_.ten_crop ? 10 : 1)), c, s, s});
    std::memcpy(y.data(), x.data(), n * per * sizeof(float));
    b.x = std::move(y);
  }
}

bool Loader::next(Batch& out) {
  for (;;) {
    Slot slot;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (next_out_ >= num_batches_) return false;
      cv_ready_.wait(lock, [&] { return ready_.count(next_out_) > 0; });
      auto it = ready_.find(next_out_);
      slot = std::move(it->second);
      ready_.erase(it);
      ++next_out_;
    }
    cv_work_.notify_all();
    if (slot.error) {
      try {
        std::rethrow_exception(slot.error);
      } catch (const alexnet::Error&) {
        throw;
      } catch (const std::exception& e) {
        throw alexnet::Error("loader: batch " + std::to_string(slot.batch.index) + ": " + e.what());
      }
    }
    if (on_skip_)
      for (const SkippedItem& s : slot.skipped) on_skip_(s);
    if (!slot.batch.labels.empty() || cfg_.shards > 1) {
      out = std::move(slot.batch);
      return true;
    }
  }
}

}  // namespace train
