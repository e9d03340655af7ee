// fmnist-frames: raw video frames made from Fashion-MNIST (or MNIST) idx images, for the demo.
//
// Writes GRAY8 frames (WIDTH x HEIGHT bytes each, no header) to stdout: item START, START+1, …
// each shown for FRAMES_PER_ITEM frames, scaled up with whole-pixel blocks as large as fits the
// centred square of the frame (the part the classifier's centre crop sees), on black. Pipe it
// into `gst-launch-1.0 fdsrc ! rawvideoparse format=gray8 width=W height=H framerate=F/1 ! …`.
// With --labels-out, writes the items' true labels, one class index per line, in order.
//
//   fmnist-frames --images t10k-images-idx3-ubyte.gz [--labels t10k-labels-idx1-ubyte.gz
//                 --labels-out FILE] [--count N] [--start S] [--frames-per-item K]
//                 [--width W] [--height H]
//
// Reads idx files gzipped or not (zlib). Exit status: 0 done, 1 runtime error, 2 usage error.
#include <getopt.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: fmnist-frames --images IDX3[.gz] [--labels IDX1[.gz] --labels-out FILE]\n"
    "                     [--count N] [--start S] [--frames-per-item K] [--width W] [--height H]\n";

constexpr const char* kHelp =
    "\nWrites GRAY8 raw video frames to stdout, item after item of an idx image file (MNIST,\n"
    "Fashion-MNIST), each item scaled up in whole-pixel blocks into the centred square of the\n"
    "frame and shown for K frames.\n\n"
    "  --images FILE          idx3 images (.gz or not)                          [required]\n"
    "  --labels FILE          idx1 labels of the same items (needed by --labels-out)\n"
    "  --labels-out FILE      write the shown items' labels there, one index per line\n"
    "  --count N              items to show                                  [default: 100]\n"
    "  --start S              first item                                       [default: 0]\n"
    "  --frames-per-item K    frames each item is shown                       [default: 10]\n"
    "  --width W, --height H  frame size                               [default: 640x480]\n"
    "  -h, --help             this help\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "fmnist-frames: %s\n%s", what.c_str(), kUsage);
  std::exit(2);
}

std::vector<unsigned char> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": " + std::strerror(errno ? errno : ENOENT));
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw std::runtime_error(path + ": " + msg);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  gzclose(f);
  return out;
}

uint32_t be32(const std::vector<unsigned char>& d, size_t at) {
  return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) |
         d[at + 3];
}

long parse_int(const char* s, const char* opt, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno || !end || *end || end == s || v < lo || v > hi)
    usage_error(std::string(opt) + " must be an integer in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "], not '" + s + "'");
  return v;
}

bool write_all(const unsigned char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(1, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string images, labels, labels_out;
  long count = 100, start = 0, per_item = 10, width = 640, height = 480;
  enum { kImages = 1000, kLabels, kLabelsOut, kCount, kStart, kPerItem, kWidth, kHeight };
  const option opts[] = {{"images", required_argument, nullptr, kImages},
                         {"labels", required_argument, nullptr, kLabels},
                         {"labels-out", required_argument, nullptr, kLabelsOut},
                         {"count", required_argument, nullptr, kCount},
                         {"start", required_argument, nullptr, kStart},
                         {"frames-per-item", required_argument, nullptr, kPerItem},
                         {"width", required_argument, nullptr, kWidth},
                         {"height", required_argument, nullptr, kHeight},
                         {"help", no_argument, nullptr, 'h'},
                         {nullptr, 0, nullptr, 0}};
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", opts, nullptr)) != -1;) {
    switch (c) {
      case kImages:
        images = optarg;
        break;
      case kLabels:
        labels = optarg;
        break;
      case kLabelsOut:
        labels_out = optarg;
        break;
      case kCount:
        count = parse_int(optarg, "--count", 1, 1000000);
        break;
      case kStart:
        start = parse_int(optarg, "--start", 0, 100000000);
        break;
      case kPerItem:
        per_item = parse_int(optarg, "--frames-per-item", 1, 100000);
        break;
      case kWidth:
        width = parse_int(optarg, "--width", 16, 7680);
        break;
      case kHeight:
        height = parse_int(optarg, "--height", 16, 4320);
        break;
      case 'h':
        std::printf("%s%s", kUsage, kHelp);
        return 0;
      case ':':
        usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
      default:
        usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error(std::string("unexpected argument '") + argv[optind] + "'");
  if (images.empty()) usage_error("--images is required");
  if (!labels_out.empty() && labels.empty()) usage_error("--labels-out needs --labels");

  try {
    const std::vector<unsigned char> img = read_gz(images);
    if (img.size() < 16 || be32(img, 0) != 0x803)
      throw std::runtime_error(images + ": not an idx3 image file (magic 0x00000803)");
    const size_t n = be32(img, 4), rows = be32(img, 8), cols = be32(img, 12);
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || img.size() != 16 + n * rows * cols)
      throw std::runtime_error(images + ": header says " + std::to_string(n) + " images of " +
                               std::to_string(rows) + "x" + std::to_string(cols) +
                               ", which does not match the file's " + std::to_string(img.size()) +
                               " bytes");
    if (static_cast<size_t>(start + count) > n)
      throw std::runtime_error(images + ": has " + std::to_string(n) + " images; items " +
                               std::to_string(start) + " to " + std::to_string(start + count - 1) +
                               " asked for");
    if (!labels_out.empty()) {
      const std::vector<unsigned char> lab = read_gz(labels);
      if (lab.size() < 8 || be32(lab, 0) != 0x801 || be32(lab, 4) != n || lab.size() != 8 + n)
        throw std::runtime_error(labels + ": not an idx1 label file for the " + std::to_string(n) +
                                 " images of " + images);
      FILE* f = std::fopen(labels_out.c_str(), "w");
      if (!f) throw std::runtime_error(labels_out + ": " + std::strerror(errno));
      for (long i = start; i < start + count; ++i) std::fprintf(f, "%d\n", lab[8 + i]);
      if (std::fclose(f) != 0) throw std::runtime_error(labels_out + ": " + std::strerror(errno));
    }

    // Whole-pixel blocks, as large as fits the centred square.
    const size_t side = static_cast<size_t>(std::min(width, height));
    const size_t block = std::max<size_t>(1, std::min(side / rows, side / cols));
    const size_t x0 = (static_cast<size_t>(width) - block * cols) / 2;
    const size_t y0 = (static_cast<size_t>(height) - block * rows) / 2;
    std::vector<unsigned char> frame(static_cast<size_t>(width * height), 0);
    for (long i = start; i < start + count; ++i) {
      const unsigned char* src = img.data() + 16 + static_cast<size_t>(i) * rows * cols;
      for (size_t r = 0; r < rows; ++r)
        for (size_t by = 0; by < block; ++by) {
          unsigned char* dst =
              frame.data() + (y0 + r * block + by) * static_cast<size_t>(width) + x0;
          for (size_t c = 0; c < cols; ++c) std::memset(dst + c * block, src[r * cols + c], block);
        }
      for (long k = 0; k < per_item; ++k)
        if (!write_all(frame.data(), frame.size())) {
          if (errno == EPIPE) return 0;  // the reader stopped: not our error
          throw std::runtime_error(std::string("stdout: ") + std::strerror(errno));
        }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fmnist-frames: %s\n", e.what());
    return 1;
  }
  return 0;
}
