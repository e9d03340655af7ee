// The training loop. Reading order: class Training at the bottom (its stages run top to
// bottom), then the pieces it uses above it.
//
// Reproducibility: every random draw is a pure function of the seed and a position, never of
// a generator's history — epoch order = perm(seed, epoch), augmentation of sample i in epoch e
// = Rng(seed, e, i) (loader.h), dropout = hash(seed, step, layer) (Network), initial weights
// = Rng(seed). So a checkpoint only records positions (epoch, batch, step), and a run resumed
// from one continues bit for bit when the backend's thread count is the same.
#include "trainer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "alexnet/backend.h"
#include "alexnet/calibrate.h"
#include "alexnet/classifier.h"
#include "alexnet/data_parallel.h"
#include "alexnet/device.h"
#include "alexnet/error.h"
#include "alexnet/network.h"
#include "alexnet/runner.h"
#include "alexnet/weights.h"
#include "augment.h"
#include "calibration.h"
#include "checkpoint.h"
#include "cluster.h"
#include "dataset.h"
#include "evaluation.h"
#include "gradient_exchange.h"
#include "interrupt.h"
#include "loader.h"
#include "metrics.h"
#include "plots.h"

#ifndef ALEXNET_TRAIN_VERSION
#define ALEXNET_TRAIN_VERSION "0"
#endif

namespace train {

using alexnet::Error;
using alexnet::NamedTensor;
using alexnet::Network;
using alexnet::Tensor;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// ---------------------------------------------------------------------------------------------
// Data

struct Data {
  std::shared_ptr<const Dataset> train, val, test;  // test: null without --test
  std::vector<std::string> class_names;
  std::string config_name;  // the network config to use
};

// The `n` samples of a seeded choice (all when n == 0 or n >= size), in dataset order.
std::shared_ptr<const Dataset> limit(std::shared_ptr<const Dataset> d, size_t n, uint64_t seed) {
  if (n == 0 || n >= d->size()) return d;
  std::vector<size_t> idx = Loader::epoch_order(d->size(), mix_seed(seed, 0x11A17), 0, true);
  idx.resize(n);
  std::sort(idx.begin(), idx.end());
  return subset(d, std::move(idx));
}

std::string detect_kind(const Dataset& d) {
  std::string s = d.source();
  return s.substr(0, s.find(':'));  // "idx", "cifar10", "folder"
}

Data open_data(const Options& o, Log& log) {
  Data d;
  std::shared_ptr<const Dataset> base = open_dataset(o.data, o.format, true, o.labels);
  if (!o.val.empty()) {
    d.train = base;
    d.val = open_dataset(o.val, o.format, false, o.labels);
    if (d.val->class_names().size() != base->class_names().size())
      throw Error(o.val + ": has " + std::to_string(d.val->class_names().size()) +
                  " classes, the training data " + o.data + " has " +
                  std::to_string(base->class_names().size()));
  } else {
    auto [tr, va] = split_indices(base->size(), o.val_split, o.seed);
    if (va.empty()) throw Error(o.data + ": --val-split leaves no validation images");
    d.train = subset(base, std::move(tr));
    d.val = subset(base, std::move(va));
  }
  d.train = limit(d.train, o.limit_train, o.seed);
  d.val = limit(d.val, o.limit_val, o.seed + 1);
  d.class_names = base->class_names();
  if (d.train->size() == 0) throw Error(o.data + ": no training images");
  const std::string val_kind = detect_kind(*d.val);
  if (!o.val.empty() && (val_kind == "idx" || val_kind == "cifar10"))
    log.line("note: --val " + o.val + " reads that folder's test split: the best epoch and the " +
             "learning-rate schedule are then chosen on test images, and the validation accuracy " +
             "is not a test result. Hold validation out of --data (--val-split) and give the " +
             "test split to --test instead");
  if (!o.test.empty()) {
    d.test = open_dataset(o.test, o.format, false, o.labels);
    if (d.test->class_names().size() != base->class_names().size())
      throw Error(o.test + ": has " + std::to_string(d.test->class_names().size()) +
                  " classes, the training data " + o.data + " has " +
                  std::to_string(base->class_names().size()));
    std::error_code ec;
    if (!o.val.empty() &&
        (d.test->source() == d.val->source() || fs::equivalent(o.val, o.test, ec)))
      log.line("note: --val and --test read the same images (" + d.test->source() +
               "): the test result is not independent of the model selection");
  }
  d.config_name = o.config;
  if (d.config_name == "auto") {
    std::string kind = detect_kind(*base);
    d.config_name = kind == "idx" ? "small-28" : kind == "cifar10" ? "small-32" : "paper";
  }
  log.line(
      "data: " + base->source() + ", " + std::to_string(d.train->size()) + " training, " +
      std::to_string(d.val->size()) + " validation images" +
      (o.val.empty() ? " (held out with --val-split)" : " from " + d.val->source()) +
      (d.test ? ", " + std::to_string(d.test->size()) + " test images (evaluated once, at the end)"
              : "") +
      ", " + std::to_string(d.class_names.size()) + " classes");
  return d;
}

// ---------------------------------------------------------------------------------------------
// Initialisation

// The paper (section 5): weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6 and fc7
// ("accelerates the early stages of learning by providing the ReLUs with positive inputs"),
// 0 elsewhere. Kaiming: N(0, 2 / fan_in) weights, zero biases.
std::vector<NamedTensor> initial_weights(const alexnet::NetConfig& cfg, Init init, uint64_t seed) {
  std::vector<NamedTensor> ps;
  Rng rng(mix_seed(seed, 0x1417));
  static const std::set<std::string> ones{"conv2.bias", "conv4.bias", "conv5.bias", "fc6.bias",
                                          "fc7.bias"};
  for (const alexnet::ParamInfo& p : alexnet::param_infos(cfg)) {
    Tensor t(p.shape);
    float* d = t.data();
    if (p.shape.size() > 1) {
      double sd = 0.01;
      if (init == Init::Kaiming) sd = std::sqrt(2.0 / static_cast<double>(t.numel() / p.shape[0]));
      for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<float>(sd * rng.normal());
    } else if (init == Init::Paper && ones.count(p.name)) {
      std::fill(d, d + t.numel(), 1.0f);
    }
    ps.push_back({p.name, std::move(t)});
  }
  return ps;
}

// ---------------------------------------------------------------------------------------------
// The model being trained: a Runner (alexnet/runner.h): one Network, data-parallel replicas of
// it (the batch split, gradients averaged, every replica taking the same step), or the
// paper's split of every layer over two devices (--parallel model). Each keeps its own
// momenta and checks its own gradients.
using Learner = alexnet::Runner;

// ---------------------------------------------------------------------------------------------
// Evaluation

void restore(Learner& learner, const alexnet::NetConfig& cfg, const Checkpoint& ck,
             const std::string& path) {
  alexnet::check_param_tensors(cfg, ck.weights, path + ": weights");
  alexnet::check_param_tensors(cfg, ck.momentum, path + ": momentum");
  if (!ck.best.empty()) alexnet::check_param_tensors(cfg, ck.best, path + ": best weights");
  learner.set_params(ck.weights);
  learner.set_momentum(ck.momentum);
  learner.set_step(ck.step);
}

// ---------------------------------------------------------------------------------------------
// The learning-rate schedules, applied after each epoch's evaluation.

void update_lr(LrState& s, const Options& o, int epochs_done, double val_error, Log& log) {
  if (o.lr_schedule == Schedule::Step) {
    s.reductions = epochs_done / o.lr_step_epochs;
    double lr = o.lr * std::pow(o.lr_factor, s.reductions);
    if (lr != s.lr) log.line("learning rate " + std::to_string(s.lr) + " -> " + std::to_string(lr));
    s.lr = lr;
    return;
  }
  // plateau: the paper divides by 10 "when the validation error rate stopped improving".
  if (val_error < s.best_error) {
    s.best_error = val_error;
    s.bad_epochs = 0;
  } else if (++s.bad_epochs >= o.lr_patience) {
    log.line("validation error has not improved for " + std::to_string(s.bad_epochs) +
             " epochs: learning rate " + std::to_string(s.lr) + " -> " +
             std::to_string(s.lr * o.lr_factor));
    s.lr *= o.lr_factor;
    s.bad_epochs = 0;
    ++s.reductions;
  }
}

// ---------------------------------------------------------------------------------------------
// What the run writes

json augment_json(const AugmentConfig& a) {
  return {{"mean", a.mean},
          {"std", a.std},
          {"pca_eigval", a.pca_eigval},
          {"pca_eigvec", a.pca_eigvec},
          {"resize", a.resize},
          {"pad", a.pad},
          {"random_crop", a.random_crop},
          {"flip", a.flip},
          {"pca", a.pca}};
}

void apply_saved_stats(const json& j, AugmentConfig& a) {
  a.mean = j.at("mean").get<std::array<float, 3>>();
  a.std = j.at("std").get<std::array<float, 3>>();
  a.pca_eigval = j.at("pca_eigval").get<std::array<float, 3>>();
  a.pca_eigvec = j.at("pca_eigvec").get<std::array<std::array<float, 3>, 3>>();
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_predictions(const std::string& path, const Eval& e, const Dataset& val) {
  std::string text;
  for (const auto& [i, pred] : e.predictions)
    text +=
        val.item_name(i) + "\t" + std::to_string(pred) + "\t" + std::to_string(val.label(i)) + "\n";
  write_text_atomic(path, text);
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The run, in the order it happens: prepare() (resume or start, devices, data, statistics, the
// network), then per epoch train_epoch() (batches, SGD steps, periodic checkpoints) and
// end_epoch() (evaluation, best weights, schedule, metrics, checkpoint), then
// write_outputs() (the best weights with their provenance, plots).

class Training {
 public:
  Training(const Options& o, Cluster& cluster)
      : o_(o), cl_(cluster), ck_path_(checkpoint_path(o.run_dir)) {}

  void run() {
    prepare();
    bool stop = o_.max_steps > 0 && learner().step() >= o_.max_steps;
    try {
      while (ck_.epoch < o_.epochs && !stop) {
        const auto epoch_start = Clock::now();
        Loader loader(data_.train, aug_, loader_config(), static_cast<uint64_t>(ck_.epoch),
                      ck_.batch, [&](const SkippedItem& s) { skips_->add(s); });
        const uint64_t images = train_epoch(loader, stop);
        if (cl_.distributed()) agree_on_stop("the end of epoch " + std::to_string(ck_.epoch + 1));
        end_epoch(loader.num_batches(), images, seconds_since(epoch_start), stop);
      }
    } catch (const Interrupted& i) {
      // Thrown only where ck_ and the network agree (between steps, or before the epoch's
      // evaluation is recorded), so this checkpoint resumes like any other.
      const std::string name = signal_name(i.signal);
      save(name.c_str());
      throw Interrupted(i.signal, "stopped by " + name + " at step " + std::to_string(ck_.step) +
                                      "; checkpoint " + ck_path_ +
                                      "; continue with: alexnet-train --resume " + o_.run_dir);
    }
    write_outputs();
  }

 private:
  const Options& o_;
  Cluster& cl_;  // this process alone, or the ranks of an MPI job
  const std::string ck_path_;
  const Clock::time_point run_start_ = Clock::now();
  Log log_;
  Checkpoint ck_;
  Data data_;
  alexnet::NetConfig cfg_;
  AugmentConfig aug_;
  int workers_ = 1;
  std::unique_ptr<Learner> runner_;
  std::vector<NamedTensor> best_;  // the weights of the best validation error so far
  std::unique_ptr<Skips> skips_;
  double seconds_before_ = 0;  // training time of the run's earlier parts (resumed runs)
  int checkpoint_writes_ = 0;
  int64_t saved_step_ = -1;  // the step of the checkpoint on disk (-1: none yet)
  uint64_t attempts_ = 0;    // batches tried by this process (--debug-nan-at-step counts these)
  Clock::time_point last_checkpoint_ = Clock::now();
  Tensor blank_;  // (1, C, S, S) zeros: a step's input on a rank with no rows
  static constexpr double kSlowWait = 20;  // the watchdog's allowance after slow work
  bool slow_next_ = false;                 // the next step's first wait gets it
  GradientExchange exchange_{cl_};         // the ranks' gradient sum (the runner's hook)

  Learner& learner() { return *runner_; }
  // --init auto: the paper's for its own config; Kaiming for the small ones, which the
  // paper's N(0, 0.01) leaves stuck at chance for epochs (their layers are thinner, so the
  // signal shrinks through them; He et al. 2015 scale by fan-in to keep it).
  Init init() const {
    if (o_.init != Init::Auto) return o_.init;
    return data_.config_name == "paper" ? Init::Paper : Init::Kaiming;
  }
  std::string step_text() { return "step " + std::to_string(learner().step() + 1); }

  // --- prepare ------------------------------------------------------------------------------

  void prepare() {
    // Rank 0 of a distributed job writes the run folder and prints; the others stay quiet.
    log_.set_quiet(!cl_.root());
    if (cl_.root()) {
      fs::create_directories(o_.run_dir);
      log_.set_tty(::isatty(STDOUT_FILENO));
      log_.open_file(o_.run_dir + "/train.log");
    }
    log_.line("alexnet-train " ALEXNET_TRAIN_VERSION " " + utc_now() +
              (o_.resume.empty() ? "" : ", resuming " + o_.resume));
    open_checkpoint();
    if (cl_.distributed()) check_distributed_options();
    // The devices first, so that an unusable one is reported before any data is read.
    const std::vector<alexnet::Device> devices = alexnet::parse_devices(rank_devices());
    for (const alexnet::Device& d : devices) alexnet::make_backend(d, 1);

    data_ = open_data(o_, log_);
    cfg_ =
        alexnet::NetConfig::by_name(data_.config_name, static_cast<int>(data_.class_names.size()));
    cfg_.dropout = o_.dropout;
    cfg_.validate();
    workers_ = o_.workers > 0 ? o_.workers : std::clamp(alexnet::usable_cores(), 1, 4);
    prepare_augmentation();
    // Training drops a final partial batch, so a set smaller than one batch trains nothing.
    if (data_.train->size() < static_cast<size_t>(o_.batch_size))
      throw Error(o_.data + ": " + std::to_string(data_.train->size()) +
                  " training images, fewer than one batch (--batch-size " +
                  std::to_string(o_.batch_size) + "); give a smaller --batch-size");
    prepare_network(devices);
    skips_ = std::make_unique<Skips>(log_, o_.run_dir + "/skipped.txt", cl_.root(), cl_.me());
    if (cl_.distributed()) {
      agree_on_setup();
      check_ranks_agree("the start");
    }
    seconds_before_ = ck_.train_seconds;
    last_checkpoint_ = Clock::now();  // --checkpoint-minutes counts training time from here
  }

  // Resume: the checkpoint holds the position and state; without one, a run folder that
  // already has a checkpoint is refused rather than overwritten.
  void open_checkpoint() {
    if (!o_.resume.empty()) {
      const std::string path = resolve_checkpoint(o_.resume);
      ck_ = load_checkpoint(path);
      saved_step_ = static_cast<int64_t>(ck_.step);
      if (ck_.seed != o_.seed) throw Error(path + ": the checkpoint's seed differs from --seed");
      const int was = json::parse(ck_.data_json).value("world_size", 1);
      if (was != cl_.size())
        throw Error(path + ": written by a job of " + std::to_string(was) + " rank" +
                    (was == 1 ? "" : "s") + ", this one has " + std::to_string(cl_.size()) +
                    ": resume with the same number of ranks (mpirun -np " + std::to_string(was) +
                    (was == 1 ? " or no mpirun" : "") + ")");
    } else if (cl_.root() && fs::exists(ck_path_)) {
      throw Error(o_.run_dir + ": already holds a checkpoint; continue it with --resume " +
                  o_.run_dir + ", or choose another --run-dir");
    }
    if (int n = cl_.root() ? remove_stale_temp_files(ck_path_) : 0)
      log_.line("removed " + std::to_string(n) + " unfinished checkpoint write(s) in " +
                o_.run_dir);
  }

  // Augmentation, and the normalisation/PCA statistics: computed on the training set, or
  // the resumed run's own.
  void prepare_augmentation() {
    aug_ = default_augment(cfg_.input_size, cfg_.in_channels);
    if (!o_.augment.automatic) {
      aug_.random_crop = o_.augment.crop;
      aug_.flip = o_.augment.flip;
      aug_.pca = o_.augment.pca;
    } else {
      aug_.pca = cfg_.in_channels == 3;
    }
    if (aug_.pca && cfg_.in_channels != 3)
      throw Error("--augment pca needs a 3-channel network; config " + data_.config_name +
                  " takes " + std::to_string(cfg_.in_channels) + " channel(s)");
    if (!o_.resume.empty()) {
      apply_saved_stats(json::parse(ck_.data_json).at("augment"), aug_);
    } else {
      const auto t = Clock::now();
      const Stats s = compute_stats(*data_.train, aug_, o_.stats_samples, o_.seed, workers_);
      apply_stats(s, aug_);
      log_.line("statistics of " + std::to_string(s.images) + " training images: mean " +
                fmt("%.4f %.4f %.4f", s.mean[0], s.mean[1], s.mean[2]) + ", std " +
                fmt("%.4f %.4f %.4f", s.std[0], s.std[1], s.std[2]) + " (" +
                format_duration(seconds_since(t)) + ")");
    }
    aug_.validate();
  }

  // The network on its device(s), with the resumed state or fresh weights.
  void prepare_network(const std::vector<alexnet::Device>& devices) {
    runner_ = alexnet::make_runner(cfg_, devices, o_.parallel, o_.threads);
    learner().set_seed(mix_seed(o_.seed, 0xD809));
    if (cl_.distributed()) {
      learner().set_gradient_exchange([this](alexnet::Backend* b, std::span<Tensor* const> g) {
        exchange_.exchange(b, g, "the gradient all-reduce of " + step_text());
      });
      blank_ = Tensor({1, cfg_.in_channels, cfg_.input_size, cfg_.input_size});
    }
    log_.line(
        "network: " + data_.config_name + " (" + std::to_string(cfg_.in_channels) + "x" +
        std::to_string(cfg_.input_size) + "x" + std::to_string(cfg_.input_size) + " -> " +
        std::to_string(cfg_.classes) + " classes) on " + learner().describe() +
        (o_.threads > 0 ? " with " + std::to_string(o_.threads) + " threads" : "") +
        (cl_.distributed() ? " on each of " + std::to_string(cl_.size()) + " MPI ranks" : "") +
        ", " + std::to_string(workers_) + " loader threads");
    if (!o_.resume.empty()) {
      restore(learner(), cfg_, ck_, o_.resume);
      best_ = ck_.best;
      log_.line("resumed at epoch " + std::to_string(ck_.epoch + 1) + ", batch " +
                std::to_string(ck_.batch) + ", step " + std::to_string(ck_.step));
    } else {
      learner().set_params(initial_weights(cfg_, init(), o_.seed));
      ck_.seed = o_.seed;
      ck_.lr.lr = o_.lr;
    }
    ck_.args = o_.args;
    ck_.data_json = json{
        {"augment", augment_json(aug_)},
        {"train", data_.train->source()},
        {"val", data_.val->source()},
        {"config", data_.config_name},
        {"world_size",
         cl_.size()}}.dump();
  }

  LoaderConfig loader_config() const {
    LoaderConfig lc;
    lc.batch_size = static_cast<size_t>(o_.batch_size);
    lc.workers = workers_;
    lc.prefetch = static_cast<size_t>(2 * workers_);
    lc.train = true;
    lc.drop_last = true;  // equal batches: the paper's batch size, and a stable step count
    lc.seed = o_.seed;
    lc.shard = static_cast<size_t>(cl_.rank());  // each rank loads its part of every batch
    lc.shards = static_cast<size_t>(cl_.size());
    return lc;
  }

  // --- one epoch ----------------------------------------------------------------------------

  // The epoch's batches from ck_.batch on, until its end or --max-steps (then `stop`).
  // Returns the images trained on in the epoch (all ranks').
  uint64_t train_epoch(Loader& loader, bool& stop) {
    Progress progress(log_, ck_.epoch + 1, o_.epochs, loader.num_batches(), ck_.batch);
    uint64_t images = 0;
    Batch b;
    // The ranks of a job agree on a signal at the start of a step (plan_step); one process
    // looks at it here.
    while (!stop && (cl_.distributed() || !stop_signal()) && loader.next(b)) {
      const StepPlan plan = plan_step(b);
      ck_.batch = b.index + 1;
      const uint64_t n = train_step(b, plan);
      if (n == 0) continue;
      images += n;
      progress.update(b.index, images, ck_.epoch_loss_sum / ck_.epoch_images, ck_.lr.lr);
      const uint64_t step = learner().step();
      stop = o_.max_steps > 0 && step >= o_.max_steps;
      const bool end_of_epoch = ck_.batch >= loader.num_batches();
      if (!end_of_epoch && !stop &&
          ((o_.checkpoint_steps > 0 && step % o_.checkpoint_steps == 0) ||
           (cl_.distributed() ? plan.checkpoint_due
                              : o_.checkpoint_minutes > 0 && seconds_since(last_checkpoint_) >=
                                                                 60 * o_.checkpoint_minutes))) {
        save("periodic");
      }
      if (o_.debug_kill_after_step > 0 && step == o_.debug_kill_after_step) std::raise(SIGKILL);
      check_run_dir();
    }
    if (const int sig = stop_signal(); sig && !cl_.distributed())
      throw Interrupted(sig, "between steps");
    if (ck_.epoch_images == 0)
      throw Error(o_.data + ": no training image of this epoch could be read");
    return images;
  }

  // A step of a distributed job: every rank's row count (so that each knows where its rows
  // sit in the global batch) and any rank's stop signal, gathered before anything is trained.
  struct StepPlan {
    int64_t rows = 0;             // this rank's
    int64_t total = 0;            // the global batch's (0: nothing of it loaded, anywhere)
    bool checkpoint_due = false;  // rank 0's clock says --checkpoint-minutes have passed
  };
  StepPlan plan_step(const Batch& b) {
    StepPlan plan;
    plan.rows = plan.total = static_cast<int64_t>(b.labels.size());
    if (!cl_.distributed()) return plan;
    // Rank 0's clock alone decides time-based checkpoints, so that every rank knows when rank 0
    // is busy writing one.
    const bool due = cl_.root() && o_.checkpoint_minutes > 0 &&
                     seconds_since(last_checkpoint_) >= 60 * o_.checkpoint_minutes;
    const int64_t mine[3] = {plan.rows, stop_signal(), due ? 1 : 0};
    // After a checkpoint or an evaluation the ranks may arrive far apart (rank 0 wrote the
    // checkpoint; evaluation shards finish unevenly): that wait is allowed kSlowWait times more.
    const double scale = slow_next_ ? kSlowWait : 1;
    slow_next_ = false;
    const std::vector<int64_t> all = cl_.allgather(mine, 3, "the start of " + step_text(), scale);
    int64_t offset = 0, sig = 0;
    plan.total = 0;
    for (int r = 0; r < cl_.size(); ++r) {
      const int64_t rows = all[3 * static_cast<size_t>(r)];
      if (r < cl_.rank()) offset += rows;
      plan.total += rows;
      sig = std::max(sig, all[3 * static_cast<size_t>(r) + 1]);
    }
    plan.checkpoint_due = all[2] != 0;
    if (sig) throw Interrupted(static_cast<int>(sig), "between steps");  // on every rank alike
    learner().set_batch_offset(offset);
    exchange_.set_weight(plan.total > 0 ? double(plan.rows) / double(plan.total) : 0);
    return plan;
  }

  // x: (N, C, S, S) → logits (N, K); one SGD step unless the loss or a gradient is not
  // finite (then the step is refused, counted, and after --max-bad-steps the run stops).
  // Returns the images of the step (all ranks'); 0 when no step was taken. In a job, the
  // gradients are summed over the ranks inside forward_backward (exchange_, the runner's
  // hook), and the loss, the correct count and the refusal are summed here, so every rank
  // decides alike.
  uint64_t train_step(const Batch& b, const StepPlan& plan) {
    if (plan.total == 0) return 0;
    // A rank none of whose rows loaded still takes part in the all-reduce: one blank row,
    // weighted 0 (exchange_.set_weight).
    const bool blank = plan.rows == 0;
    const int one_label = 0;
    Tensor logits;
    float loss = blank ? learner().forward_backward(blank_, std::span<const int>(&one_label, 1))
                       : learner().forward_backward(b.x, b.labels, &logits);
    ++attempts_;
    if (std::find(o_.debug_nan_at.begin(), o_.debug_nan_at.end(), attempts_) !=
        o_.debug_nan_at.end()) {
      loss = std::nanf("");
      learner().debug_poison_gradient();
    }
    const int k = cfg_.classes;
    double sums[3] = {0, 0, 0};  // loss × rows, correct, refused
    sums[2] = !std::isfinite(loss) || !learner().grads_finite();
    if (!blank) {
      sums[0] = static_cast<double>(loss) * plan.rows;
      for (size_t j = 0; j < b.labels.size(); ++j) {
        const float* row = logits.data() + static_cast<int64_t>(j) * k;
        sums[1] += std::max_element(row, row + k) - row == b.labels[j];
      }
    }
    if (cl_.distributed()) cl_.allreduce_sum(sums, 3, "the loss of " + step_text());
    if (sums[2] > 0 || !std::isfinite(sums[0])) {
      ++ck_.bad_steps;
      log_.line("epoch " + std::to_string(ck_.epoch + 1) + " batch " + std::to_string(b.index + 1) +
                ": non-finite " + (std::isfinite(sums[0]) ? "gradient" : "loss") +
                ", step refused (" + std::to_string(ck_.bad_steps) + " of --max-bad-steps " +
                std::to_string(o_.max_bad_steps) + ")");
      if (ck_.bad_steps >= o_.max_bad_steps)
        throw Error("stopping: " + std::to_string(ck_.bad_steps) +
                    " steps had a non-finite loss or gradient (--max-bad-steps " +
                    std::to_string(o_.max_bad_steps) + "); try a lower --lr. " +
                    (fs::exists(ck_path_) ? "The last good state is in " + ck_path_
                                          : std::string("No checkpoint was written")));
      return 0;
    }
    learner().sgd_step(static_cast<float>(ck_.lr.lr), static_cast<float>(o_.momentum),
                       static_cast<float>(o_.weight_decay));
    // Running training loss and top-1 error of the epoch.
    ck_.epoch_correct += static_cast<uint64_t>(sums[1]);
    ck_.epoch_loss_sum += sums[0];
    ck_.epoch_images += static_cast<uint64_t>(plan.total);
    if (cl_.distributed()) {
      const uint64_t step = learner().step();
      if (o_.debug_perturb_rank == cl_.rank() && step == o_.debug_perturb_step) debug_perturb();
      if (o_.dist_check_steps > 0 && step % o_.dist_check_steps == 0)
        check_ranks_agree("step " + std::to_string(step));
    }
    return static_cast<uint64_t>(plan.total);
  }

  // End of the epoch (or of --max-steps): evaluate, keep the best weights, schedule, record,
  // and checkpoint the position to continue from: the next epoch's start, or where
  // --max-steps stopped inside this one.
  void end_epoch(uint64_t num_batches, uint64_t images, double seconds, bool stop) {
    const Eval e = evaluate(learner(), cfg_.classes, data_.val, aug_, o_, workers_, *skips_, cl_,
                            "validation");
    EpochRecord r;
    r.epoch = ck_.epoch + 1;
    r.step = learner().step();
    r.lr = ck_.lr.lr;
    r.train_loss = ck_.epoch_loss_sum / ck_.epoch_images;
    r.train_top1_error = 1.0 - static_cast<double>(ck_.epoch_correct) / ck_.epoch_images;
    r.val_loss = e.loss;
    r.val_top1_error = e.top1_error;
    r.val_top5_error = e.top5_error;
    r.seconds = seconds;
    r.images_per_second = images / std::max(1e-9, r.seconds);
    if (cl_.distributed()) gather_skips();
    r.skipped = skips_->distinct();
    ck_.history.push_back(r);
    log_.line(fmt("epoch %.0f: train loss %.4f top-1 %.4f | val loss %.4f", r.epoch, r.train_loss,
                  r.train_top1_error, r.val_loss) +
              fmt(" top-1 %.4f top-5 %.4f | %.0f img/s, ", r.val_top1_error, r.val_top5_error,
                  r.images_per_second) +
              format_duration(r.seconds) + (o_.ten_crop ? " (ten-crop)" : ""));
    if (best_.empty() || r.val_top1_error < ck_.best_val_error) {
      best_ = learner().get_params();
      ck_.best_val_error = r.val_top1_error;
      ck_.best_epoch = r.epoch;
    }
    update_lr(ck_.lr, o_, r.epoch, r.val_top1_error, log_);
    ck_.epoch_loss_sum = 0;
    ck_.epoch_images = ck_.epoch_correct = 0;
    if (cl_.root()) write_metrics_csv(o_.run_dir + "/metrics.csv", ck_.history);
    if (stop && ck_.batch < num_batches) {
      save("--max-steps");
    } else {
      ++ck_.epoch;
      ck_.batch = 0;
      save("end of epoch");
    }
  }

  // --- checkpoints and outputs --------------------------------------------------------------

  // A run folder deleted under a running trainer: stop now rather than train on for hours
  // with nowhere to save (one stat() per step).
  void check_run_dir() const {
    if (cl_.root() && !fs::is_directory(o_.run_dir))
      throw Error(o_.run_dir + ": the run folder was removed while training; stopping, since " +
                  "no checkpoint or output can be written there");
  }

  void save(const char* why) {
    slow_next_ = true;        // every rank: rank 0 may be writing for a while
    if (!cl_.root()) return;  // rank 0 writes the job's checkpoints
    check_run_dir();
    ck_.step = learner().step();
    ck_.weights = learner().get_params();
    ck_.momentum = learner().get_momentum();
    ck_.best = best_;
    ck_.train_seconds = seconds_before_ + seconds_since(run_start_);
    if (o_.debug_kill_in_checkpoint > 0 && ++checkpoint_writes_ == o_.debug_kill_in_checkpoint) {
      // Testing hook: die in the middle of a checkpoint write, as kill -9 would — the
      // temp file is half written and the rename never happens.
      const std::string tmp = ck_path_ + ".tmp." + std::to_string(::getpid()) + ".debug";
      save_checkpoint(tmp, ck_);
      if (::truncate(tmp.c_str(), static_cast<off_t>(fs::file_size(tmp) / 2)) != 0) std::abort();
      std::raise(SIGKILL);
    }
    try {
      save_checkpoint(ck_path_, ck_);
    } catch (const Error& e) {  // e.g. the disk is full: say what is safe
      throw Error("checkpoint of step " + std::to_string(ck_.step) + " not written: " + e.what() +
                  (saved_step_ >= 0
                       ? "; the previous checkpoint (step " + std::to_string(saved_step_) +
                             ") in " + ck_path_ + " is intact: continue with --resume " + o_.run_dir
                       : std::string("; no checkpoint had been written yet")));
    }
    saved_step_ = static_cast<int64_t>(ck_.step);
    skips_->write();
    log_.line(std::string("checkpoint (") + why + "): step " + std::to_string(ck_.step) + " -> " +
              ck_path_);
    last_checkpoint_ = Clock::now();
  }

  // The weights with the best validation error, with what made them; the curves and filters.
  void write_outputs() {
    if (best_.empty()) throw Error("no epoch was evaluated; nothing to write");
    const EpochRecord* bestr = nullptr;
    for (const EpochRecord& r : ck_.history)
      if (r.epoch == ck_.best_epoch && r.val_top1_error == ck_.best_val_error) bestr = &r;
    if (!bestr) bestr = &ck_.history.back();
    // The evaluations first: every rank of a job takes part in them.
    learner().set_params(best_);
    Eval test;
    if (data_.test) {  // once, on images that chose nothing
      test =
          evaluate(learner(), cfg_.classes, data_.test, aug_, o_, workers_, *skips_, cl_, "test");
      log_.line(fmt("test: top-1 error %.4f (accuracy %.2f%%), top-5 error %.4f, loss %.4f on ",
                    test.top1_error, 100 * (1 - test.top1_error), test.top5_error, test.loss) +
                std::to_string(test.images) + " images of " + data_.test->source() +
                ", evaluated once with the weights of epoch " + std::to_string(bestr->epoch) +
                " (chosen on validation)");
    }
    Eval predictions;
    if (!o_.predictions_out.empty())  // the best weights' own top-1 per validation item
      predictions = evaluate(learner(), cfg_.classes, data_.val, aug_, o_, workers_, *skips_, cl_,
                             "validation", true);
    if (!cl_.root()) return;
    const std::string out = o_.out.empty() ? o_.run_dir + "/alexnet.safetensors" : o_.out;
    alexnet::Model m;
    m.config = cfg_;
    m.preprocess = to_preprocess_config(aug_);
    m.labels = data_.class_names;
    m.params = best_;
    m.provenance = provenance(*bestr, data_.test ? &test : nullptr).dump();
    if (o_.calibrate > 0) {  // int8: ranges over training images (the validation set chose)
      m.calibration = alexnet::calibrate(
          m,
          calibration_images(*data_.train, m, static_cast<size_t>(o_.calibrate), o_.seed, nullptr),
          o_.threads);
      log_.line("calibrated on " + std::to_string(o_.calibrate) + " training images (int8)");
    }
    alexnet::save_model(m, out);
    skips_->write();
    if (!o_.predictions_out.empty()) write_predictions(o_.predictions_out, predictions, *data_.val);
    plot_curves(ck_.history, o_.run_dir + "/curves.png");
    plot_filters(best_.front().value, o_.run_dir + "/conv1_filters.png");
    log_.line(fmt("done: best validation top-1 error %.4f, top-5 %.4f (epoch %.0f) -> ",
                  bestr->val_top1_error, bestr->val_top5_error, bestr->epoch) +
              out + " (" + format_duration(seconds_since(run_start_)) + ")");
  }

  json provenance(const EpochRecord& best, const Eval* test) const {
    json j{{"trainer", "alexnet-train " ALEXNET_TRAIN_VERSION},
           {"dataset", data_.train->source()},
           {"validation", data_.val->source()},
           {"config", data_.config_name},
           {"epochs", ck_.history.size()},
           {"steps", runner_->step()},
           {"best_epoch", best.epoch},
           {"val_top1_error", best.val_top1_error},
           {"val_top5_error", best.val_top5_error},
           {"val_loss", best.val_loss},
           {"ten_crop", o_.ten_crop},
           {"date", utc_now()},
           {"seed", o_.seed},
           {"recipe",
            {{"batch_size", o_.batch_size},
             {"lr", o_.lr},
             {"lr_schedule", schedule_name(o_.lr_schedule)},
             {"momentum", o_.momentum},
             {"weight_decay", o_.weight_decay},
             {"dropout", o_.dropout},
             {"init", init_name(init())},
             {"augment", augment_name(o_.augment)}}},
           {"train_seconds", seconds_before_ + seconds_since(run_start_)},
           {"ranks", cl_.size()}};
    if (test)
      j["test"] = {
          {"source", data_.test->source()},
          {"images", test->images},
          {"top1_error", test->top1_error},
          {"top5_error", test->top5_error},
          {"loss", test->loss},
          {"note", "evaluated once, after training, with the weights chosen on validation"}};
    return j;
  }

  // --- distributed training (cluster.h) -----------------------------------------------------

  // How this rank's replicas sum their gradients: every rank must do it alike, since the
  // exchange with the others follows it (agree_on_setup compares it).
  std::string replica_reduction() {
    if (auto* dp = dynamic_cast<alexnet::DataParallel*>(runner_.get()))
      return dp->replicas() == 1                           ? "one replica"
             : dp->reduction() == alexnet::Reduction::Nccl ? "nccl"
                                                           : "host";
    return "one device";
  }

  // --device with gpu:local: the GPU of this rank's place on its machine.
  std::string rank_devices() const { return resolve_local_devices(o_.device, cl_.local_rank()); }

  // The other ranks' skipped images, to rank 0's list (skipped.txt and the metrics' count
  // cover the whole job): each rank's new lines in turn, by broadcast.
  void gather_skips() {
    for (int r = 1; r < cl_.size(); ++r) {
      std::string text = cl_.rank() == r ? skips_->take_new() : std::string();
      cl_.broadcast(text, "the skipped images of " + cl_.who(r), kSlowWait, r);
      if (cl_.root()) skips_->merge(text);
    }
  }

  // A signal seen by any rank, agreed by all (a rank that stops alone would leave the others
  // waiting): Interrupted on every rank alike.
  void agree_on_stop(const std::string& where) {
    const int64_t mine = stop_signal();
    int64_t sig = 0;
    for (int64_t s : cl_.allgather(&mine, 1, where)) sig = std::max(sig, s);
    if (sig) throw Interrupted(static_cast<int>(sig), "at " + where);
  }

  void check_distributed_options() const {
    if (o_.parallel == alexnet::Parallel::Model)
      throw Error("--distributed mpi: --parallel model is not supported across ranks; use the " +
                  std::string("data-parallel mode (each rank may list several devices)"));
    if (o_.batch_size < cl_.size())
      throw Error("--batch-size " + std::to_string(o_.batch_size) + " is the global batch, split " +
                  "between the " + std::to_string(cl_.size()) + " ranks: it must be at least " +
                  std::to_string(cl_.size()));
  }

  // Every rank must train on the same data with the same statistics and recipe: rank 0's
  // description goes to every rank, and a rank that differs stops the job naming both.
  void agree_on_setup() {
    const std::string mine = json{
        {"config", data_.config_name},
        {"classes", data_.class_names},
        {"train", data_.train->size()},
        {"val", data_.val->size()},
        {"test", data_.test ? data_.test->size() : 0},
        {"augment", augment_json(aug_)},
        {"args", o_.args},
        {"reduction", replica_reduction()},
        {"step",
         learner().step()}}.dump();
    std::string root = mine;
    cl_.broadcast(root, "the comparison of the ranks' setup", 10);
    if (root != mine)
      throw Error(cl_.me() + ": its data, statistics or options differ from rank 0's: " + mine +
                  " (rank 0: " + root + "); every machine needs the same data set and options");
    // NCCL between GPU ranks, else MPI through host memory (gradient_exchange.h)
    if (const std::string line = exchange_.choose(rank_devices()); !line.empty()) log_.line(line);
    std::string ranks;
    for (int r = 0; r < cl_.size(); ++r) ranks += (r ? ", " : "") + cl_.who(r);
    log_.line("distributed: " + std::to_string(cl_.size()) + " MPI ranks, batch " +
              std::to_string(o_.batch_size) + " split between them: " + ranks);
  }

  // A checksum of the weights and momenta, compared between the ranks: they must be equal bit
  // for bit after every step. A rank that differs stops the job, named.
  void check_ranks_agree(const std::string& when) {
    uint64_t h = checksum(learner().get_params(), kChecksumStart);
    if (learner().step() > 0) h = checksum(learner().get_momentum(), h);
    const int64_t mine = static_cast<int64_t>(h);
    const std::vector<int64_t> all = cl_.allgather(&mine, 1, "the weight checksum at " + when);
    std::string differ;
    for (int r = 1; r < cl_.size(); ++r)
      if (all[static_cast<size_t>(r)] != all[0])
        differ += (differ.empty() ? "" : ", ") + cl_.who(r);
    if (!differ.empty())
      throw Error("at " + when + " the weights or momenta of " + differ + " differ from rank 0's " +
                  "(checksums compared every --dist-check-steps steps): the ranks have diverged " +
                  "(a faulty device or memory, or differing libraries); stopping");
  }

  // Testing hook (--debug-perturb-rank/-step): one weight of this rank nudged, as a bit flip
  // in one rank's memory would.
  void debug_perturb() {
    std::vector<NamedTensor> w = learner().get_params();
    w.front().value.data()[0] += 1e-3f;
    learner().set_params(w);
  }
};

}  // namespace

void run_training(const Options& o, Cluster& cluster) {
  install_stop_handlers();
  Training(o, cluster).run();
}

const char* schedule_name(Schedule s) {
  return s == Schedule::Step ? "step" : "plateau";
}

const char* init_name(Init i) {
  return i == Init::Kaiming ? "kaiming" : i == Init::Paper ? "paper" : "auto";
}

std::string augment_name(const AugmentChoice& a) {
  if (a.automatic) return "auto";
  std::string s;
  for (auto [on, name] : {std::pair{a.crop, "crop"}, {a.flip, "flip"}, {a.pca, "pca"}})
    if (on) {
      if (!s.empty()) s.append(",");
      s.append(name);
    }
  return s.empty() ? "none" : s;
}

}  // namespace train
