// alexnet-train: trains AlexNet the way the 2012 paper did and writes one weights file that
// alexnet-classify and the alexnetclassify element load unchanged.
//
//   alexnet-train --data DIR [OPTIONS]
//   alexnet-train --resume RUN_DIR [OPTIONS]
//
// Exit codes (all our tools): 0 success, 1 runtime error ("alexnet-train: <reason>"), 2 usage
// error (one line naming the option and the problem); after SIGTERM or SIGINT a checkpoint
// is written and the exit code is 143 or 130.
#include <getopt.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "alexnet/device.h"
#include "alexnet/error.h"
#include "alexnet/runner.h"
#include "src/checkpoint.h"
#include "src/cluster.h"
#include "src/interrupt.h"
#include "src/trainer.h"

namespace {

const char* kUsage = R"(Usage: alexnet-train --data PATH [OPTIONS]
       alexnet-train --resume RUN_DIR|CHECKPOINT [OPTIONS]

Train AlexNet (Krizhevsky, Sutskever, Hinton 2012) and write one weights file with the
config, labels and preprocessing inside. The defaults are the paper's recipe.

Data:
      --data PATH          training set: an image folder DIR/<class>/*.{jpg,jpeg,png}, an idx
                           folder or file (MNIST, Fashion-MNIST; .gz or not) or CIFAR-10
                           binary batches                                         [required]
      --val PATH           validation set (idx/CIFAR folders: their test split) [default: a
                           held-out part of --data, see --val-split]
      --val-split F        fraction of --data held out for validation when there is no
                           --val, chosen with --seed, in (0, 1)                [default: 0.1]
      --test PATH          test set (idx/CIFAR folders: their test split), evaluated once at
                           the end with the weights validation chose; the result goes into
                           the log and the weights' provenance          [default: no test]
      --format F           auto, folder, idx or cifar10                       [default: auto]
      --labels FILE        class names: folders: "FOLDER name" lines; idx/CIFAR: one name per
                           line                              [default: folder/built-in names]
      --limit-train N      train on a seeded choice of N images, 0 = all         [default: 0]
      --limit-val N        validate on a seeded choice of N images, 0 = all      [default: 0]
      --stats-samples N    training images for the mean/std/PCA statistics    [default: 10000]

Network and recipe:
      --config NAME        auto, paper, torchvision, small-28 (grey), small-32, small-64;
                           auto = small-28 for idx, small-32 for CIFAR, else paper
                                                                              [default: auto]
      --epochs N           epochs to train                                      [default: 90]
  -b, --batch-size N       images per SGD step                                 [default: 128]
      --lr X               initial learning rate                              [default: 0.01]
      --lr-schedule S      plateau (divide when the validation error stops improving) or step
                           (divide every --lr-step-epochs epochs)          [default: plateau]
      --lr-factor X        what the learning rate is multiplied by, in (0, 1)  [default: 0.1]
      --lr-patience N      plateau: epochs without improvement before dividing   [default: 2]
      --lr-step-epochs N   step: epochs between divisions                       [default: 30]
      --momentum X         SGD momentum, in [0, 1)                              [default: 0.9]
      --weight-decay X     weight decay, >= 0                                [default: 0.0005]
      --dropout P          dropout probability on fc6/fc7, in [0, 1)            [default: 0.5]
      --init I             paper (weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6,
                           fc7, else 0), kaiming (N(0, 2/fan_in), zero biases), or auto:
                           paper for --config paper, kaiming for the others (the paper's
                           init leaves the small configs at chance)          [default: auto]
      --augment LIST       comma-separated crop, flip, pca (the paper's colour augmentation,
                           3-channel networks only), or none; auto = crop,flip plus pca for
                           3-channel networks                                 [default: auto]
      --ten-crop           evaluate on the four corner and centre crops and their flips,
                           averaging the softmax                     [default: centre crop]

Machine:
      --device LIST        auto, or a comma-separated list of cpu and gpu:N (the library's
                           grammar); several devices train data-parallel (the batch is
                           split, gradients averaged)                         [default: auto]
      --parallel MODE      with several devices: data (each takes part of every batch), or
                           model: exactly two devices, each holding half of every layer (the
                           paper's split; same results as one device)       [default: data]
  -t, --threads N          CPU threads of the network in all (split among cpu devices),
                           0 = all cores; fix it for bit-reproducible runs       [default: 0]
      --workers N          data loading threads, 0 = min(4, cores)               [default: 0]
      --seed N             seed of every random choice                           [default: 1]
      --distributed MODE   none, or mpi: one rank of `mpirun -np N alexnet-train ...`; the
                           batch is split between the ranks, gradients summed with
                           MPI_Allreduce; gpu:local in --device = the rank's GPU on its
                           machine (training/README.md: several machines)   [default: none]
      --dist-check-steps N  compare the ranks' weights (a checksum) every N steps, 0 = never
                                                                               [default: 100]

Outputs:
      --run-dir DIR        checkpoints, train.log, metrics.csv, curves.png,
                           conv1_filters.png, skipped.txt                [default: alexnet-run]
  -o, --out FILE           the weights file (best validation error)
                                                    [default: RUN_DIR/alexnet.safetensors]
      --resume PATH        continue the run of a run folder or checkpoint file exactly; the
                           run's options are reused, and only --epochs, --out, --run-dir,
                           --device, --parallel, --threads, --workers, --max-steps,
                           --checkpoint-*, --max-bad-steps, --predictions-out, --calibrate,
                           --test, --distributed and --dist-check-steps may be given anew
      --checkpoint-minutes M  also checkpoint every M minutes, 0 = only at epoch ends
                                                                                [default: 30]
      --checkpoint-steps N also checkpoint every N SGD steps, 0 = off            [default: 0]
      --max-bad-steps K    stop after K steps refused for a non-finite loss or gradient
                                                                                [default: 10]
      --max-steps N        stop after N SGD steps in all (then evaluate and write), 0 = no
                           limit                                                 [default: 0]
      --predictions-out FILE  after training, write the best weights' top-1 prediction for
                           each validation item: "NAME<TAB>PREDICTED<TAB>LABEL" lines
      --calibrate N        also store the activation ranges of N training images in the
                           weights file, for int8 inference (as alexnet-calibrate) [default: 0]
  -h, --help               show this help and exit

Testing hooks (never stored in checkpoints):
      --debug-kill-after-step N      SIGKILL itself right after SGD step N
      --debug-kill-in-checkpoint N   SIGKILL itself in the middle of its N-th checkpoint write
      --debug-nan-at-step N[,M...]   poison the loss and a gradient of the N-th, M-th ... batch
                                     this process trains on
      --debug-perturb RANK:STEP      rank RANK nudges one of its weights after step STEP

Exit status: 0 success, 1 runtime error, 2 usage error; 143 / 130 after SIGTERM / SIGINT
(a checkpoint is written first: continue with --resume RUN_DIR).
)";

// A bad command line: main prints it and exits 2 (parsing itself never exits).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void usage_error(const std::string& msg) {
  throw UsageError(msg);
}

double parse_double(const std::string& opt, const char* text, double lo, double hi,
                    bool lo_open = false, bool hi_open = false) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  bool ok = !errno && end != text && !*end && std::isfinite(v) && (lo_open ? v > lo : v >= lo) &&
            (hi_open ? v < hi : v <= hi);
  if (!ok)
    usage_error(opt + ": expected a number in " + (lo_open ? "(" : "[") + std::to_string(lo) +
                ", " + std::to_string(hi) + (hi_open ? ")" : "]") + ", got '" + text + "'");
  return v;
}

uint64_t parse_u64(const std::string& opt, const char* text, uint64_t lo, uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno || end == text || *end || *text == '-' || v < lo || v > hi)
    usage_error(opt + ": expected an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + text + "'");
  return v;
}

// parse() with its alexnet::Error turned into a usage error naming the option.
template <class F>
auto parse_or_usage_error(const std::string& opt, F&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const alexnet::Error& e) {
    usage_error(opt + ": " + e.what());
  }
}

// Calls f on each item of a comma-separated list ("a,b,,c": a, b, an empty item, c).
template <class F>
void for_each_item(const std::string& list, F&& f) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    f(list.substr(start, end - start));
    start = end + 1;
  }
}

void check_choice(const std::string& opt, const std::string& v, const std::set<std::string>& ok) {
  if (ok.count(v)) return;
  std::string list;
  for (const auto& s : ok) list += (list.empty() ? "" : ", ") + s;
  usage_error(opt + ": unknown value '" + v + "' (expected one of: " + list + ")");
}

enum Opt {
  kData = 1000,
  kVal,
  kValSplit,
  kFormat,
  kLabels,
  kLimitTrain,
  kLimitVal,
  kStatsSamples,
  kConfig,
  kEpochs,
  kLr,
  kLrSchedule,
  kLrFactor,
  kLrPatience,
  kLrStepEpochs,
  kMomentum,
  kWeightDecay,
  kDropout,
  kInit,
  kAugment,
  kTenCrop,
  kDevice,
  kParallel,
  kWorkers,
  kSeed,
  kRunDir,
  kResume,
  kCheckpointMinutes,
  kCheckpointSteps,
  kMaxBadSteps,
  kMaxSteps,
  kPredictionsOut,
  kCalibrate,
  kKillAfter,
  kKillInCheckpoint,
  kNanAt,
  kTest,
  kDistributed,
  kDistCheckSteps,
  kPerturb
};

const option kLongOpts[] = {
    {"data", required_argument, nullptr, kData},
    {"val", required_argument, nullptr, kVal},
    {"val-split", required_argument, nullptr, kValSplit},
    {"format", required_argument, nullptr, kFormat},
    {"labels", required_argument, nullptr, kLabels},
    {"limit-train", required_argument, nullptr, kLimitTrain},
    {"limit-val", required_argument, nullptr, kLimitVal},
    {"stats-samples", required_argument, nullptr, kStatsSamples},
    {"config", required_argument, nullptr, kConfig},
    {"epochs", required_argument, nullptr, kEpochs},
    {"batch-size", required_argument, nullptr, 'b'},
    {"lr", required_argument, nullptr, kLr},
    {"lr-schedule", required_argument, nullptr, kLrSchedule},
    {"lr-factor", required_argument, nullptr, kLrFactor},
    {"lr-patience", required_argument, nullptr, kLrPatience},
    {"lr-step-epochs", required_argument, nullptr, kLrStepEpochs},
    {"momentum", required_argument, nullptr, kMomentum},
    {"weight-decay", required_argument, nullptr, kWeightDecay},
    {"dropout", required_argument, nullptr, kDropout},
    {"init", required_argument, nullptr, kInit},
    {"augment", required_argument, nullptr, kAugment},
    {"ten-crop", no_argument, nullptr, kTenCrop},
    {"device", required_argument, nullptr, kDevice},
    {"parallel", required_argument, nullptr, kParallel},
    {"threads", required_argument, nullptr, 't'},
    {"workers", required_argument, nullptr, kWorkers},
    {"seed", required_argument, nullptr, kSeed},
    {"run-dir", required_argument, nullptr, kRunDir},
    {"out", required_argument, nullptr, 'o'},
    {"resume", required_argument, nullptr, kResume},
    {"checkpoint-minutes", required_argument, nullptr, kCheckpointMinutes},
    {"checkpoint-steps", required_argument, nullptr, kCheckpointSteps},
    {"max-bad-steps", required_argument, nullptr, kMaxBadSteps},
    {"max-steps", required_argument, nullptr, kMaxSteps},
    {"predictions-out", required_argument, nullptr, kPredictionsOut},
    {"calibrate", required_argument, nullptr, kCalibrate},
    {"debug-kill-after-step", required_argument, nullptr, kKillAfter},
    {"debug-kill-in-checkpoint", required_argument, nullptr, kKillInCheckpoint},
    {"debug-nan-at-step", required_argument, nullptr, kNanAt},
    {"test", required_argument, nullptr, kTest},
    {"distributed", required_argument, nullptr, kDistributed},
    {"dist-check-steps", required_argument, nullptr, kDistCheckSteps},
    {"debug-perturb", required_argument, nullptr, kPerturb},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0}};

// Options a resumed run may change: where things go and how fast, never what is computed.
const std::set<std::string> kResumable = {"epochs",
                                          "out",
                                          "run-dir",
                                          "device",
                                          "parallel",
                                          "threads",
                                          "workers",
                                          "max-steps",
                                          "checkpoint-minutes",
                                          "checkpoint-steps",
                                          "max-bad-steps",
                                          "predictions-out",
                                          "calibrate",
                                          "distributed",
                                          "dist-check-steps",
                                          "test",
                                          "resume",
                                          "debug-kill-after-step",
                                          "debug-kill-in-checkpoint",
                                          "debug-nan-at-step"};
const std::set<std::string> kPathOptions = {"data", "val", "test", "labels", "run-dir", "out"};

std::string option_name(int c) {
  for (const option* o = kLongOpts; o->name; ++o)
    if (o->val == c) return o->name;
  return "?";
}

// Options of the data: --data, --val, --val-split, --format, --labels, --limit-*, --stats-samples.
// False: not one of them.
bool set_data_option(train::Options& o, int c, const std::string& opt, const char* v) {
  switch (c) {
    case kData:
      o.data = v;
      break;
    case kVal:
      o.val = v;
      break;
    case kTest:
      o.test = v;
      break;
    case kValSplit:
      o.val_split = parse_double(opt, v, 0, 1, true, true);
      break;
    case kFormat:
      check_choice(opt, v, {"auto", "folder", "idx", "cifar10"});
      o.format = v;
      break;
    case kLabels:
      o.labels = v;
      break;
    case kLimitTrain:
      o.limit_train = parse_u64(opt, v, 0, 1ull << 40);
      break;
    case kLimitVal:
      o.limit_val = parse_u64(opt, v, 0, 1ull << 40);
      break;
    case kStatsSamples:
      o.stats_samples = parse_u64(opt, v, 1, 1ull << 40);
      break;
    default:
      return false;
  }
  return true;
}

// Options of the network and the recipe: --config, --epochs, --batch-size, --lr*, --momentum,
// --weight-decay, --dropout, --init, --augment, --ten-crop. False: not one of them.
bool set_recipe_option(train::Options& o, int c, const std::string& opt, const char* v) {
  switch (c) {
    case kConfig:
      check_choice(opt, v, {"auto", "paper", "torchvision", "small-28", "small-32", "small-64"});
      o.config = v;
      break;
    case kEpochs:
      o.epochs = static_cast<int>(parse_u64(opt, v, 1, 1000000));
      break;
    case 'b':
      o.batch_size = static_cast<int>(parse_u64(opt, v, 1, 65536));
      break;
    case kLr:
      o.lr = parse_double(opt, v, 0, 100, true);
      break;
    case kLrSchedule:
      check_choice(opt, v, {"plateau", "step"});
      o.lr_schedule = std::string(v) == "step" ? train::Schedule::Step : train::Schedule::Plateau;
      break;
    case kLrFactor:
      o.lr_factor = parse_double(opt, v, 0, 1, true, true);
      break;
    case kLrPatience:
      o.lr_patience = static_cast<int>(parse_u64(opt, v, 1, 1000000));
      break;
    case kLrStepEpochs:
      o.lr_step_epochs = static_cast<int>(parse_u64(opt, v, 1, 1000000));
      break;
    case kMomentum:
      o.momentum = parse_double(opt, v, 0, 1, false, true);
      break;
    case kWeightDecay:
      o.weight_decay = parse_double(opt, v, 0, 1);
      break;
    case kDropout:
      o.dropout = parse_double(opt, v, 0, 1, false, true);
      break;
    case kInit:
      check_choice(opt, v, {"auto", "paper", "kaiming"});
      o.init = std::string(v) == "kaiming" ? train::Init::Kaiming
               : std::string(v) == "paper" ? train::Init::Paper
                                           : train::Init::Auto;
      break;
    case kAugment: {
      const std::string list = v;
      o.augment = train::AugmentChoice{list == "auto"};
      if (list != "auto" && list != "none") {
        for_each_item(list, [&](const std::string& item) {
          check_choice(opt, item, {"crop", "flip", "pca"});
          (item == "crop"   ? o.augment.crop
           : item == "flip" ? o.augment.flip
                            : o.augment.pca) = true;
        });
      }
      break;
    }
    case kTenCrop:
      o.ten_crop = true;
      break;
    default:
      return false;
  }
  return true;
}

// Options of the machine: --device, --parallel, --threads, --workers, --seed. False: not one of
// them.
bool set_machine_option(train::Options& o, int c, const std::string& opt, const char* v) {
  switch (c) {
    case kDevice: {
      // Checked only (gpu:local, a distributed rank's own GPU, checked as gpu:0).
      std::string check = v;
      for (size_t at; (at = check.find("gpu:local")) != std::string::npos;)
        check.replace(at, 9, "gpu:0");
      parse_or_usage_error(opt, [&] { return alexnet::parse_devices(check); });
      o.device = v;
      break;
    }
    case kDistributed:
      check_choice(opt, v, {"none", "mpi"});
      o.distributed = v;
      break;
    case kDistCheckSteps:
      o.dist_check_steps = parse_u64(opt, v, 0, UINT64_MAX);
      break;
    case kParallel:
      o.parallel = parse_or_usage_error(opt, [&] { return alexnet::parse_parallel(v); });
      break;
    case 't':
      o.threads = static_cast<int>(parse_u64(opt, v, 0, 1024));
      break;
    case kWorkers:
      o.workers = static_cast<int>(parse_u64(opt, v, 0, 256));
      break;
    case kSeed:
      o.seed = parse_u64(opt, v, 0, UINT64_MAX);
      break;
    default:
      return false;
  }
  return true;
}

// Options of outputs and testing hooks: --run-dir, --out, --resume, --checkpoint-*, --max-*,
// --predictions-out, --debug-*. False: not one of them.
bool set_output_option(train::Options& o, int c, const std::string& opt, const char* v) {
  switch (c) {
    case kRunDir:
      o.run_dir = v;
      break;
    case 'o':
      o.out = v;
      break;
    case kResume:
      o.resume = v;
      break;
    case kCheckpointMinutes:
      o.checkpoint_minutes = parse_double(opt, v, 0, 1e6);
      break;
    case kCheckpointSteps:
      o.checkpoint_steps = parse_u64(opt, v, 0, UINT64_MAX);
      break;
    case kMaxBadSteps:
      o.max_bad_steps = parse_u64(opt, v, 1, UINT64_MAX);
      break;
    case kMaxSteps:
      o.max_steps = parse_u64(opt, v, 0, UINT64_MAX);
      break;
    case kPredictionsOut:
      o.predictions_out = v;
      break;
    case kCalibrate:
      o.calibrate = static_cast<int>(parse_u64(opt, v, 0, 100000));
      break;
    case kKillAfter:
      o.debug_kill_after_step = parse_u64(opt, v, 1, UINT64_MAX);
      break;
    case kKillInCheckpoint:
      o.debug_kill_in_checkpoint = static_cast<int>(parse_u64(opt, v, 1, 1000000));
      break;
    case kPerturb: {
      unsigned long long r = 0, s = 0;
      char tail = 0;
      if (std::sscanf(v, "%llu:%llu%c", &r, &s, &tail) != 2 || r > 100000 || s < 1)
        usage_error(opt + ": expected RANK:STEP (STEP >= 1), got '" + std::string(v) + "'");
      o.debug_perturb_rank = static_cast<int>(r);
      o.debug_perturb_step = s;
      break;
    }
    case kNanAt:
      for_each_item(v, [&](const std::string& item) {
        o.debug_nan_at.push_back(parse_u64(opt, item.c_str(), 1, UINT64_MAX));
      });
      break;

    default:
      return false;
  }
  return true;
}

struct Parsed {
  bool help = false;  // -h / --help: print the usage and do nothing else
  train::Options o;
  std::vector<std::pair<std::string, std::string>> given;  // (long name, value) in order
};

Parsed parse(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  Parsed p;
  train::Options& o = p.o;
  opterr = 0;
  optind = 0;  // GNU: start over (parse() runs more than once with --resume)
  int c;
  const int argc = static_cast<int>(args.size());
  while ((c = getopt_long(argc, argv.data(), ":b:t:o:h", kLongOpts, nullptr)) != -1) {
    if (c == 'h') {
      p.help = true;
      return p;
    }
    if (c == ':') usage_error(std::string("option '") + argv[optind - 1] + "' needs a value");
    if (c == '?') {
      std::string bad = optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1];
      usage_error("unknown option '" + bad + "' (see --help)");
    }
    const std::string name = option_name(c), opt = "--" + name;
    const char* v = optarg ? optarg : "";
    p.given.push_back({name, v});
    if (!set_data_option(o, c, opt, v) && !set_recipe_option(o, c, opt, v) &&
        !set_machine_option(o, c, opt, v) && !set_output_option(o, c, opt, v))
      usage_error("unknown option (see --help)");
    if (kPathOptions.count(name) && p.given.back().second.empty())
      usage_error(opt + ": needs a non-empty path");
  }
  if (optind < argc) usage_error(std::string("unexpected argument '") + argv[optind] + "'");
  if (p.o.parallel == alexnet::Parallel::Model) {
    const std::vector<alexnet::Device> devices = alexnet::parse_devices(p.o.device);
    const std::string list = alexnet::join_devices(devices);
    if (devices.size() != 2)
      usage_error(
          "--parallel model needs exactly two devices in --device (e.g. gpu:0,gpu:1 or "
          "cpu,cpu); --device " +
          p.o.device + " means " + list);
  }
  return p;
}

// The options a checkpoint keeps: all but --resume and the testing hooks, paths made absolute
// so the run can be resumed from any folder.
std::vector<std::string> stored_args(const Parsed& p) {
  std::vector<std::string> out{"alexnet-train"};
  std::map<std::string, std::string> last;  // an option given twice (resumed runs): the last
  for (const auto& [name, value] : p.given) last[name] = value;
  std::set<std::string> done;
  for (const auto& [name, ignored] : p.given) {
    if (name == "resume" || name.rfind("debug-", 0) == 0 || !done.insert(name).second) continue;
    std::string v = last[name];
    if (kPathOptions.count(name)) v = std::filesystem::absolute(v).lexically_normal().string();
    out.push_back("--" + name + (name == "ten-crop" ? "" : "=" + v));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  train::Options options;
  try {
    Parsed p = parse(args);
    if (p.help) {
      std::cout << kUsage;
      return 0;
    }
    if (!p.o.resume.empty()) {
      // The run's own options first, then the new command line's (later options win).
      std::string ck = train::resolve_checkpoint(p.o.resume);
      std::vector<std::string> base_args = train::checkpoint_args(ck);
      Parsed base = parse(base_args);
      std::map<std::string, std::string> was;
      for (const auto& [n, v] : base.given) was[n] = v;
      for (const auto& [n, v] : p.given)
        if (!kResumable.count(n) && was[n] != v)
          usage_error("--" + n + ": cannot be changed when resuming (the run has " +
                      (was.count(n) && !was[n].empty() ? "'" + was[n] + "'" : "the default") +
                      "; only --epochs, --out, --run-dir, --device, --parallel, --threads, "
                      "--workers, --max-steps, --checkpoint-*, --max-bad-steps, --predictions-out, "
                      "--calibrate, --test, --distributed and --dist-check-steps may)");
      std::vector<std::string> merged = base_args;
      merged.insert(merged.end(), args.begin() + 1, args.end());
      Parsed m = parse(merged);
      bool run_dir_given = false;
      for (const auto& [n, v] : p.given) run_dir_given |= n == "run-dir";
      // `--resume RUN_DIR` keeps writing into that folder unless told otherwise.
      if (!run_dir_given && std::filesystem::is_directory(p.o.resume)) m.o.run_dir = p.o.resume;
      if (!run_dir_given && !std::filesystem::is_directory(p.o.resume))
        m.o.run_dir = std::filesystem::path(ck).parent_path().string();
      m.o.args = stored_args(m);
      p = std::move(m);
    } else {
      if (p.o.data.empty()) usage_error("--data is required (or --resume a run)");
      p.o.args = stored_args(p);
    }
    options = std::move(p.o);
  } catch (const UsageError& e) {
    std::cerr << "alexnet-train: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "alexnet-train: " << e.what() << "\n";
    return 1;
  }
  // The job: this process alone, or a rank of an MPI job. From here on, a rank that fails
  // ends the whole job (MPI_Abort), so that no other rank waits for it.
  std::unique_ptr<train::Cluster> cluster;
  try {
    cluster = train::make_cluster(options.distributed);
  } catch (const std::exception& e) {
    std::cerr << "alexnet-train: " << e.what() << "\n";
    return 1;
  }
  const std::string who = cluster->distributed() ? cluster->me() + ": " : "";
  try {
    train::run_training(options, *cluster);
    cluster->finish();
  } catch (const train::Interrupted& e) {
    // Every rank stops at the same step (they agree on it), so the job ends in order.
    if (cluster->root()) std::cerr << "alexnet-train: " << e.what() << "\n";
    try {
      cluster->finish();
    } catch (const std::exception& f) {
      cluster->abort("alexnet-train: " + who + f.what(), 128 + e.signal);
    }
    return 128 + e.signal;  // 143 for SIGTERM, 130 for SIGINT, as if the signal had ended it
  } catch (const std::exception& e) {
    if (cluster->distributed()) cluster->abort("alexnet-train: " + who + e.what(), 1);
    std::cerr << "alexnet-train: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
