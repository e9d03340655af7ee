// alexnet-classify: classify image files (or preprocessed .npy tensors) with a weights file.
//
//   alexnet-classify --model m.safetensors [options] INPUT...
//
// Exit codes (all our tools): 0 success, 1 runtime error (one line naming the file and the
// problem), 2 usage error.
#include <getopt.h>

#include <sys/stat.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "alexnet/classifier.h"
#include "alexnet/error.h"
#include "npy.h"

namespace {

const char* kUsage = R"(Usage: alexnet-classify --model FILE [OPTIONS] INPUT...

Classify images (JPEG, PNG, anything OpenCV decodes) or already preprocessed float32
(N, C, H, W) .npy tensors with an AlexNet weights file (safetensors).

Options:
  -m, --model FILE      weights file (ours, or a torchvision AlexNet state_dict)  [required]
  -l, --labels FILE     labels file, one per line; overrides the labels in the model
  -k, --top-k K         how many classes to print per input, >= 1            [default: 5]
  -d, --device LIST     auto, or a comma-separated list of cpu and gpu:N,
                        e.g. cpu, cpu,cpu, gpu:0 or gpu:0,gpu:1             [default: auto]
      --precision P     fp32, fp16 (GPU), bf16 (GPU; CPU with avx512_bf16/AMX) or int8
                        (CPU; a model calibrated with alexnet-calibrate)  [default: fp32]
      --parallel MODE   data: a whole network per device, the batch split between
                        them; model: exactly two devices, each holding half of every
                        layer (the paper's split; fp32)                  [default: data]
  -t, --threads N       CPU threads in all, split among CPU workers; 0 = all [default: 0]
  -b, --batch-size N    images classified together, >= 1                    [default: 16]
  -j, --json            print JSON Lines: {"input": ..., "top": [{"index", "label",
                        "probability"}, ...]} per input (per row for .npy inputs)
      --logits FILE     also write the raw logits of every input, in order, as a float32
                        (N, classes) .npy file
  -v, --verbose         say which devices and model are used (on stderr)
  -h, --help            show this help and exit

Exit status: 0 success, 1 runtime error (unreadable or invalid file), 2 usage error.
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "alexnet-classify: " << msg << "\nTry 'alexnet-classify --help'.\n";
  std::exit(2);
}

int parse_int(const char* opt, const char* text, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi)
    usage_error(std::string(opt) + ": expected an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], got '" + text + "'");
  return static_cast<int>(v);
}

// parse() with its alexnet::Error turned into a usage error naming the option.
template <class F>
auto parse_or_usage_error(const char* opt, F&& parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const alexnet::Error& e) {
    usage_error(std::string(opt) + ": " + e.what());
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

enum { kLogits = 1000, kPrecision, kParallel };  // long options without a short form

struct Options {
  std::string model, labels, device = "auto", logits;
  alexnet::Precision precision = alexnet::Precision::F32;
  alexnet::Parallel parallel = alexnet::Parallel::Data;
  int top_k = 5, threads = 0, batch = 16;
  bool json = false, verbose = false;
  std::vector<std::string> inputs;
};

// Sets the option getopt_long returned as `c` (with its value in optarg); exits on --help and
// on a usage error.
void set_option(Options& o, int c, char** argv) {
  switch (c) {
    case 'm':
      o.model = optarg;
      break;
    case 'l':
      o.labels = optarg;
      break;
    case 'k':
      o.top_k = parse_int("--top-k", optarg, 1, 1000000);
      break;
    case 'd':
      o.device = optarg;
      break;
    case 't':
      o.threads = parse_int("--threads", optarg, 0, 1024);
      break;
    case 'b':
      o.batch = parse_int("--batch-size", optarg, 1, 4096);
      break;
    case 'j':
      o.json = true;
      break;
    case 'v':
      o.verbose = true;
      break;
    case kLogits:
      o.logits = optarg;
      break;
    case kPrecision:
      o.precision =
          parse_or_usage_error("--precision", [] { return alexnet::parse_precision(optarg); });
      break;
    case kParallel:
      o.parallel =
          parse_or_usage_error("--parallel", [] { return alexnet::parse_parallel(optarg); });
      break;
    case 'h':
      std::cout << kUsage;
      std::exit(0);
    case ':':
      usage_error(std::string("option '") + argv[optind - 1] + "' needs a value");
    default:
      usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
  }
}

Options parse_args(int argc, char** argv) {
  static const option long_opts[] = {{"model", required_argument, nullptr, 'm'},
                                     {"labels", required_argument, nullptr, 'l'},
                                     {"top-k", required_argument, nullptr, 'k'},
                                     {"device", required_argument, nullptr, 'd'},
                                     {"threads", required_argument, nullptr, 't'},
                                     {"batch-size", required_argument, nullptr, 'b'},
                                     {"json", no_argument, nullptr, 'j'},
                                     {"logits", required_argument, nullptr, kLogits},
                                     {"precision", required_argument, nullptr, kPrecision},
                                     {"parallel", required_argument, nullptr, kParallel},
                                     {"verbose", no_argument, nullptr, 'v'},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  Options o;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":m:l:k:d:t:b:jvh", long_opts, nullptr)) != -1)
    set_option(o, c, argv);
  for (int i = optind; i < argc; ++i) o.inputs.push_back(argv[i]);
  if (o.model.empty()) usage_error("--model is required");
  if (o.inputs.empty()) usage_error("no input files given");
  const auto devices =
      parse_or_usage_error("--device", [&] { return alexnet::parse_devices(o.device); });
  if (o.parallel == alexnet::Parallel::Model && o.device != "auto" && devices.size() != 2)
    usage_error(
        "--parallel model needs exactly two devices in --device (e.g. gpu:0,gpu:1 or "
        "cpu,cpu); got \"" +
        o.device + "\"");
  return o;
}

// One classified row: the name it is printed under and its probabilities' top-k.
void print_row(const Options& o, const std::string& name, const alexnet::TopK& top) {
  if (o.json) {
    nlohmann::json j{{"input", name}, {"top", nlohmann::json::array()}};
    for (const auto& p : top)
      j["top"].push_back({{"index", p.index}, {"label", p.label}, {"probability", p.probability}});
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << name << "\n";
    for (size_t i = 0; i < top.size(); ++i)
      std::printf("  %zu. %-32s %.4f\n", i + 1, top[i].label.c_str(), top[i].probability);
  }
}

// --logits: every batch's logits, in order, as one (rows, classes) .npy file.
void write_logits(const std::string& path, const std::vector<alexnet::Tensor>& batches,
                  int64_t rows, int classes) {
  alexnet::Tensor out({rows, classes});
  int64_t row = 0;
  for (const alexnet::Tensor& l : batches) {
    std::copy(l.data(), l.data() + l.numel(), out.data() + row * classes);
    row += l.dim(0);
  }
  alexnet::npy::write(path, out);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  try {
    alexnet::Model model = alexnet::load_model(o.model, o.labels);
    const int classes = model.config.classes;
    if (o.verbose)
      std::cerr << "model: " << o.model << " (" << model.config.variant << ", " << classes
                << " classes)\n";
    alexnet::Classifier clf(std::move(model), {o.device, o.threads, o.precision, o.parallel});
    if (o.verbose) std::cerr << "devices: " << clf.describe() << "\n";

    std::vector<alexnet::Tensor> all_logits;
    int64_t total_rows = 0;
    auto run = [&](const alexnet::Tensor& input, const std::vector<std::string>& names) {
      alexnet::Tensor logits = clf.logits(input);
      alexnet::Tensor probs = alexnet::softmax_rows(logits);
      for (int64_t i = 0; i < probs.dim(0); ++i)
        print_row(o, names[static_cast<size_t>(i)],
                  alexnet::top_k({probs.data() + i * classes, static_cast<size_t>(classes)},
                                 o.top_k, clf.model().labels));
      total_rows += logits.dim(0);
      if (!o.logits.empty()) all_logits.push_back(std::move(logits));
    };

    std::vector<cv::Mat> images;
    std::vector<std::string> names;
    auto flush_images = [&] {
      if (images.empty()) return;
      std::vector<alexnet::Frame> frames;
      for (const cv::Mat& m : images)
        frames.push_back(
            alexnet::make_packed_frame(alexnet::PixelFormat::BGR, m.cols, m.rows, m.data));
      run(clf.preprocess_frames(frames), names);
      images.clear();
      names.clear();
    };
    for (const std::string& path : o.inputs) {
      if (ends_with(path, ".npy")) {
        flush_images();
        alexnet::Tensor t = alexnet::npy::read(path);
        std::vector<std::string> rows;
        for (int64_t i = 0; i < (t.rank() ? t.dim(0) : 0); ++i)
          rows.push_back(path + "[" + std::to_string(i) + "]");
        try {
          run(t, rows);
        } catch (const alexnet::Error& e) {
          throw alexnet::Error(path + ": " + e.what());
        }
        continue;
      }
      struct stat st;
      if (stat(path.c_str(), &st) != 0)
        throw alexnet::Error(path + ": cannot open: " + std::strerror(errno));
      cv::Mat img = cv::imread(path, cv::IMREAD_COLOR);  // 8-bit BGR, whatever the file holds
      if (img.empty())
        throw alexnet::Error(path + ": cannot decode the image (unsupported or corrupt)");
      if (!img.isContinuous()) img = img.clone();
      images.push_back(img);
      names.push_back(path);
      if (static_cast<int>(images.size()) == o.batch) flush_images();
    }
    flush_images();

    if (!o.logits.empty()) write_logits(o.logits, all_logits, total_rows, classes);
  } catch (const std::exception& e) {
    std::cerr << "alexnet-classify: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
