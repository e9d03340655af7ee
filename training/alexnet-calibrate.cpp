// alexnet-calibrate: makes a weights file ready for int8 inference. It runs N images of a data
// set through the model's fp32 network and writes the model again with the range of every
// weighted layer's input and output (metadata alexnet.calibration, format 1.1;
// docs/weights-format.md). The images are preprocessed as the classifier preprocesses frames.
//
//   alexnet-calibrate --model m.safetensors --data /usr/share/datasets/fashion-mnist \
//       --images 512 --out m-int8.safetensors
//
// Exit status: 0 written, 1 runtime error (unreadable model or data, nothing usable), 2 usage.
#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "alexnet/calibrate.h"
#include "alexnet/error.h"
#include "alexnet/weights.h"
#include "calibration.h"
#include "dataset.h"

namespace {

const char* kUsage = R"(Usage: alexnet-calibrate --model IN --data PATH --out OUT [OPTIONS]

Writes OUT: the model IN with the activation ranges int8 inference needs, measured by running
N images of PATH through IN's fp32 network (preprocessed as the classifier preprocesses
frames). Use images like the ones the model will see; their labels are not used.

  -m, --model IN        weights file (ours or a torchvision state_dict)      [required]
  -d, --data PATH       an image folder (DIR/<class>/*.jpg|png), or a data set the trainer
                        reads: idx (MNIST, Fashion-MNIST), CIFAR-10           [required]
  -o, --out OUT         the calibrated weights file to write (atomically)    [required]
      --format F        auto, folder, idx or cifar10                         [default: auto]
  -n, --images N        images to run, 1 to 100000                           [default: 512]
      --split S         train or test: which split of idx/CIFAR data         [default: train]
      --seed S          the seed of the images' choice                       [default: 1]
  -t, --threads N       CPU threads, 0 = all cores                            [default: 0]
  -h, --help            show this help and exit

Exit status: 0 written, 1 runtime error (unreadable or invalid file), 2 usage error.
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "alexnet-calibrate: " << msg << "\nTry 'alexnet-calibrate --help'.\n";
  std::exit(2);
}

long parse_long(const char* opt, const char* text, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi)
    usage_error(std::string(opt) + ": expected an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + text + "'");
  return v;
}

struct Options {
  std::string model, data, out, format = "auto";
  long images = 512, seed = 1, threads = 0;
  bool train_split = true;
};

Options parse_args(int argc, char** argv) {
  enum { kFormat = 1000, kSplit, kSeed };
  static const option long_opts[] = {
      {"model", required_argument, nullptr, 'm'},  {"data", required_argument, nullptr, 'd'},
      {"out", required_argument, nullptr, 'o'},    {"format", required_argument, nullptr, kFormat},
      {"images", required_argument, nullptr, 'n'}, {"split", required_argument, nullptr, kSplit},
      {"seed", required_argument, nullptr, kSeed}, {"threads", required_argument, nullptr, 't'},
      {"help", no_argument, nullptr, 'h'},         {nullptr, 0, nullptr, 0}};
  Options o;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":m:d:o:n:t:h", long_opts, nullptr)) != -1) {
    switch (c) {
      case 'm':
        o.model = optarg;
        break;
      case 'd':
        o.data = optarg;
        break;
      case 'o':
        o.out = optarg;
        break;
      case kFormat:
        o.format = optarg;
        if (o.format != "auto" && o.format != "folder" && o.format != "idx" &&
            o.format != "cifar10")
          usage_error("--format: expected auto, folder, idx or cifar10, got '" + o.format + "'");
        break;
      case 'n':
        o.images = parse_long("--images", optarg, 1, 100000);
        break;
      case kSplit:
        if (std::string(optarg) != "train" && std::string(optarg) != "test")
          usage_error(std::string("--split: expected train or test, got '") + optarg + "'");
        o.train_split = std::string(optarg) == "train";
        break;
      case kSeed:
        o.seed = parse_long("--seed", optarg, 0, 2147483647L);
        break;
      case 't':
        o.threads = parse_long("--threads", optarg, 0, 4096);
        break;
      case 'h':
        std::cout << kUsage;
        std::exit(0);
      case ':':
        usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
      default:
        usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error(std::string("unexpected argument '") + argv[optind] + "'");
  if (o.model.empty()) usage_error("--model is required");
  if (o.data.empty()) usage_error("--data is required");
  if (o.out.empty()) usage_error("--out is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  try {
    alexnet::Model model = alexnet::load_model(o.model);
    auto data = train::open_dataset(o.data, o.format, o.train_split, "");
    std::vector<std::string> skipped;
    const alexnet::Tensor images = train::calibration_images(
        *data, model, static_cast<size_t>(o.images), static_cast<uint64_t>(o.seed), &skipped);
    for (const std::string& s : skipped) std::cerr << "alexnet-calibrate: skipped " << s << "\n";
    model.calibration = alexnet::calibrate(model, images, static_cast<int>(o.threads));
    nlohmann::json prov = nlohmann::json::parse(model.provenance, nullptr, false);
    if (!prov.is_object()) prov = nlohmann::json::object();
    prov["calibration"] = {{"data", data->source()}, {"images", images.dim(0)}, {"seed", o.seed}};
    model.provenance = prov.dump();
    alexnet::save_model(model, o.out);
    std::printf("calibrated %s on %lld images of %s -> %s\n", o.model.c_str(),
                static_cast<long long>(images.dim(0)), data->source().c_str(), o.out.c_str());
    for (const alexnet::LayerRange& r : model.calibration)
      std::printf("  %-6s input [%.4g, %.4g]  output max %.4g\n", r.layer.c_str(), r.in_min,
                  r.in_max, r.out_max);
  } catch (const std::exception& e) {
    std::cerr << "alexnet-calibrate: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
