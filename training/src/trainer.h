// The training run of alexnet-train: options, and the loop that turns a data set into a
// weights file (see training/README.md for the user's view).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/runner.h"

namespace train {

// The choices of the command line, parsed once (alexnet-train.cpp) into these.
enum class Schedule { Plateau, Step };
// N(0, 0.01) and the paper's biases, or He et al.; Auto: Paper for the paper's config, Kaiming
// for the others (the small configs do not start learning from the paper's init: see
// training/README.md).
enum class Init { Auto, Paper, Kaiming };
struct AugmentChoice {
  bool automatic = true;  // "auto": crops and flips as the config suits, PCA for colour
  bool crop = false, flip = false, pca = false;  // else exactly these ("none": all off)
};
const char* schedule_name(Schedule s);             // "plateau", "step"
const char* init_name(Init i);                     // "auto", "paper", "kaiming"
std::string augment_name(const AugmentChoice& a);  // "auto", "none", "crop,flip,pca" ...

// Every option of the command line, with its default (alexnet-train.cpp documents them).
struct Options {
  // data
  std::string data, val, format = "auto", labels;
  std::string test;  // evaluated once at the end, with the weights validation chose
  double val_split = 0.1;
  size_t limit_train = 0, limit_val = 0;  // 0 = all
  size_t stats_samples = 10000;
  // network and recipe
  std::string config = "auto";
  int epochs = 90;
  int batch_size = 128;
  double lr = 0.01;
  Schedule lr_schedule = Schedule::Plateau;
  double lr_factor = 0.1;
  int lr_patience = 2;      // plateau: epochs without improvement before dividing
  int lr_step_epochs = 30;  // step: divide every N epochs
  double momentum = 0.9, weight_decay = 5e-4, dropout = 0.5;
  Init init = Init::Auto;
  AugmentChoice augment;
  bool ten_crop = false;
  // machine
  std::string device = "auto";
  alexnet::Parallel parallel = alexnet::Parallel::Data;
  int threads = 0;  // CPU backend threads; 0 = all cores
  int workers = 0;  // data loader threads; 0 = min(4, cores)
  uint64_t seed = 1;
  std::string distributed = "none";  // none | mpi (cluster.h)
  uint64_t dist_check_steps = 100;   // compare the ranks' weights every N steps, 0 = never
  // outputs
  std::string out, run_dir = "alexnet-run", resume;
  double checkpoint_minutes = 30;
  uint64_t checkpoint_steps = 0;  // 0 = off
  uint64_t max_bad_steps = 10;
  uint64_t max_steps = 0;  // 0 = no limit
  std::string predictions_out;
  int calibrate = 0;  // training images whose activation ranges go into the weights (int8)
  // testing hooks (not stored in checkpoints)
  uint64_t debug_kill_after_step = 0;
  int debug_kill_in_checkpoint = 0;
  std::vector<uint64_t> debug_nan_at;  // batch attempts (1-based, this process) to poison
  int debug_perturb_rank = -1;         // this rank nudges one weight after step ...
  uint64_t debug_perturb_step = 0;     // ... this one (tests the ranks' checksum)

  std::vector<std::string> args;  // the options as stored in checkpoints (paths absolute)
};

class Cluster;

// Runs (or resumes) a training, as one rank of `cluster` (cluster.h; a job of one process
// without --distributed). Throws alexnet::Error for anything that stops it; the caller prints
// "alexnet-train: <reason>" and exits 1 (under MPI: ends the job). After SIGTERM or SIGINT
// (on any rank: the ranks agree at the next step) it writes a checkpoint and throws
// train::Interrupted (interrupt.h); the caller exits 128 + the signal.
void run_training(const Options& o, Cluster& cluster);

}  // namespace train
