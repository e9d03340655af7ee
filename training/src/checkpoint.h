// Training checkpoints: everything a run needs to continue exactly where it stopped.
//
// A checkpoint is a safetensors file (the weights container, docs/weights-format.md) that the
// weights loader refuses on purpose: it carries the metadata key `alexnet.checkpoint` (the
// JSON state below) and tensors named
//   conv1.weight …             the current weights
//   optimizer.momentum.<name>  SGD velocities
//   state.best.<name>          the weights with the best validation error so far
// Writing goes through alexnet::write_safetensors (temp file in the same folder, fsync,
// rename, fsync of the folder), so a kill at any moment leaves the previous checkpoint whole.
// A checkpoint holding a non-finite value is never written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/weights.h"

namespace train {

// The learning-rate schedule's state (see trainer.cpp: plateau / step).
struct LrState {
  double lr = 0.01;
  double best_error = 2.0;  // plateau: best validation top-1 error seen (2 = none yet)
  int bad_epochs = 0;       // plateau: epochs since it last improved
  int reductions = 0;       // how many times lr was divided
};

// One row of the metrics file.
struct EpochRecord {
  int epoch = 0;  // 1-based, as printed
  uint64_t step = 0;
  double lr = 0;
  double train_loss = 0, train_top1_error = 0;
  double val_loss = 0, val_top1_error = 0, val_top5_error = 0;
  double seconds = 0;  // wall time of the epoch (training + evaluation)
  double images_per_second = 0;
  uint64_t skipped = 0;  // items skipped so far (unreadable files)
};

struct Checkpoint {
  // Position: `epoch` (0-based) is in progress and its first `batch` batches are consumed.
  int epoch = 0;
  uint64_t batch = 0;
  uint64_t step = 0;       // SGD updates done (= Network::step())
  uint64_t bad_steps = 0;  // refused (non-finite) steps so far
  uint64_t seed = 0;       // every random draw derives from it (see trainer.cpp)
  LrState lr;
  double best_val_error = 2.0;  // top-1 error of state.best.*; 2 = none yet
  int best_epoch = 0;
  double train_seconds = 0;  // wall time spent before this checkpoint
  // Running sums of the epoch in progress (its training loss and error).
  double epoch_loss_sum = 0;
  uint64_t epoch_images = 0, epoch_correct = 0;
  std::vector<EpochRecord> history;
  std::vector<std::string> args;  // the run's options, as given (debug options left out)
  std::string data_json = "{}";   // normalisation/PCA statistics, dataset sources (trainer's)
  std::vector<alexnet::NamedTensor> weights, momentum, best;  // host, param_infos order
};

// Writes atomically. Throws alexnet::Error naming the path and, for a non-finite value, the
// tensor (the previous checkpoint then stays as it was).
void save_checkpoint(const std::string& path, const Checkpoint& ck);

// Reads and validates a checkpoint (an error names the file and the problem).
Checkpoint load_checkpoint(const std::string& path);

// `path` may be a checkpoint file or a run folder (then <dir>/checkpoint.safetensors).
std::string resolve_checkpoint(const std::string& path);

// The checkpoint file of a run folder.
std::string checkpoint_path(const std::string& run_dir);

// Removes temp files a killed write left beside `path` (`<path>.tmp.*`). Returns how many.
int remove_stale_temp_files(const std::string& path);

// True when every value of every tensor is finite; else names the first bad tensor.
bool all_finite(const std::vector<alexnet::NamedTensor>& ts, std::string* bad = nullptr);

}  // namespace train

namespace train {

// The `args` of a checkpoint, read from its header alone (no tensor data): what --resume
// re-parses before the new command line's options.
std::vector<std::string> checkpoint_args(const std::string& path);

}  // namespace train
