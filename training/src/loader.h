// A threaded, prefetching batch loader: worker threads decode and transform whole batches
// ahead of the consumer, into a bounded window of batches, and next() hands them out in
// order. The result is a pure function of (data, augment config, seed, epoch, batch number):
//   - the epoch's order is a permutation seeded by (seed, epoch) (training), or 0..n-1 (eval);
//   - sample i's augmentation draws from Rng(mix_seed(seed, epoch, i)) (i = dataset index);
//   - batch k holds the order's positions [k·B, (k+1)·B) (a shard of them: LoaderConfig).
// So batches are bit-identical whatever the worker count and timing, and a loader started at
// `start_batch` = k gives exactly the batches k, k+1, … of a full epoch (resume mid-epoch).
//
// Skipped items (Dataset::load() returned false): the batch simply becomes smaller (no refill
// from later positions, so batch k never depends on other batches). A batch in which every
// item was skipped is not returned; next() goes on to the following one (Batch::index says
// which batch of the epoch a batch is). Each skipped item is passed, in epoch order, to the
// on_skip callback on the consumer's thread (inside next()); a bad image is reported again in
// each epoch that reads it.
//
// Memory: at most max(prefetch, workers) batches exist at once (being built or ready), each
// B·C·S·S floats (×10 with ten-crop), whatever the data set's size.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alexnet/tensor.h"
#include "augment.h"
#include "dataset.h"

namespace train {

struct SkippedItem {
  size_t index = 0;    // dataset index
  std::string name;    // Dataset::item_name()
  std::string reason;  // why load() failed
};

struct Batch {
  size_t index = 0;  // batch number within the epoch
  // (N, C, S, S) host tensor; with ten-crop (N·10, C, S, S): rows 10j..10j+9 are the ten crops
  // of sample j (ten_crop() order).
  alexnet::Tensor x;
  std::vector<int> labels;      // N labels
  std::vector<size_t> indices;  // N dataset indices
  size_t skipped = 0;           // items of this batch's positions that did not load
};

struct LoaderConfig {
  size_t batch_size = 128;
  int workers = 2;         // decode/augment threads (>= 1)
  size_t prefetch = 4;     // batches in flight (built or ready); raised to `workers` if smaller
  bool train = true;       // true: shuffled order + train_transform; false: in order + eval
  bool ten_crop = false;   // eval only: ten crops per sample (see Batch::x)
  bool drop_last = false;  // training: leave out a final partial batch
  uint64_t seed = 0;
  // Distributed training: this process loads only its shard of every batch, positions
  // [L·shard/shards, L·(shard+1)/shards) of a batch of L, so the shards of the ranks, in rank
  // order, are the batch one process would load. With shards > 1 next() also returns a batch
  // in which nothing of this shard loaded (no labels): every rank sees every batch.
  size_t shard = 0, shards = 1;
};

class Loader {
 public:
  // Starts the workers for one epoch (`epoch` counts from 0), from batch `start_batch`.
  // Throws alexnet::Error for an invalid config (batch 0, workers < 1, ten_crop with train,
  // channels/size mismatch) or start_batch > num_batches().
  Loader(std::shared_ptr<const Dataset> data, AugmentConfig aug, LoaderConfig cfg, uint64_t epoch,
         size_t start_batch = 0, std::function<void(const SkippedItem&)> on_skip = nullptr);
  ~Loader();  // stops and joins the workers (a partly consumed epoch is fine)
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Batches in this epoch (counting ones that may turn out empty).
  size_t num_batches() const { return num_batches_; }
  // The next batch in order; false at the end of the epoch. Rethrows (as alexnet::Error) what
  // a worker threw.
  bool next(Batch& out);

  // The epoch's order of dataset indices (the permutation; identity for eval).
  static std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle);

 private:
  struct Slot {
    Batch batch;
    std::vector<SkippedItem> skipped;
    std::exception_ptr error;
  };
  void work();
  void build(size_t k, Slot& slot) const;

  std::shared_ptr<const Dataset> data_;
  AugmentConfig aug_;
  LoaderConfig cfg_;
  uint64_t epoch_;
  std::function<void(const SkippedItem&)> on_skip_;
  std::vector<size_t> order_;
  size_t num_batches_ = 0;

  std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_;
  size_t next_claim_ = 0;  // next batch a worker builds
  size_t next_out_ = 0;    // next batch next() returns
  size_t window_ = 0;      // batches allowed in flight
  bool stop_ = false;
  std::map<size_t, Slot> ready_;
  std::vector<std::thread> threads_;
};

}  // namespace train
