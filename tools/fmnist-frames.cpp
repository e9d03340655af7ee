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

struct Options {
  std::string images, labels, labels_out;
  long count = 100, start = 0, per_item = 10, width = 640, height = 480;
};

// The options, as two tables: file names, and integers with their allowed range. getopt's
// codes are kPathCode + row and kIntCode + row.
struct PathOption {
  const char* name;
  std::string Options::*field;
};
constexpr PathOption kPathOptions[] = {{"images", &Options::images},
                                       {"labels", &Options::labels},
                                       {"labels-out", &Options::labels_out}};
struct IntOption {
  const char* name;
  long Options::*field;
  long lo, hi;
};
constexpr IntOption kIntOptions[] = {{"count", &Options::count, 1, 1000000},
                                     {"start", &Options::start, 0, 100000000},
                                     {"frames-per-item", &Options::per_item, 1, 100000},
                                     {"width", &Options::width, 16, 7680},
                                     {"height", &Options::height, 16, 4320}};
constexpr int kPathCode = 1000, kIntCode = 2000;

// Exits on --help (0) and on a usage error (2).
Options parse_args(int argc, char** argv) {
  std::vector<option> opts;
  for (int i = 0; const PathOption& p : kPathOptions)
    opts.push_back({p.name, required_argument, nullptr, kPathCode + i++});
  for (int i = 0; const IntOption& n : kIntOptions)
    opts.push_back({n.name, required_argument, nullptr, kIntCode + i++});
  opts.push_back({"help", no_argument, nullptr, 'h'});
  opts.push_back({nullptr, 0, nullptr, 0});

  Options o;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", opts.data(), nullptr)) != -1;) {
    if (c >= kIntCode) {
      const IntOption& n = kIntOptions[c - kIntCode];
      o.*n.field = parse_int(optarg, (std::string("--") + n.name).c_str(), n.lo, n.hi);
    } else if (c >= kPathCode) {
      o.*kPathOptions[c - kPathCode].field = optarg;
    } else if (c == 'h') {
      std::printf("%s%s", kUsage, kHelp);
      std::exit(0);
    } else if (c == ':') {
      usage_error(std::string("option ") + argv[optind - 1] + " needs a value");
    } else {
      usage_error(std::string("unknown option ") + argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error(std::string("unexpected argument '") + argv[optind] + "'");
  if (o.images.empty()) usage_error("--images is required");
  if (!o.labels_out.empty() && o.labels.empty()) usage_error("--labels-out needs --labels");
  return o;
}

// An idx3 image file: n images of rows x cols bytes after a 16-byte header.
struct Images {
  std::vector<unsigned char> bytes;
  size_t n, rows, cols;
  const unsigned char* item(long i) const {
    return bytes.data() + 16 + static_cast<size_t>(i) * rows * cols;
  }
};

// Reads and checks the images, items start .. start + count - 1 included.
Images read_images(const Options& o) {
  Images im;
  im.bytes = read_gz(o.images);
  const std::vector<unsigned char>& img = im.bytes;
  if (img.size() < 16 || be32(img, 0) != 0x803)
    throw std::runtime_error(o.images + ": not an idx3 image file (magic 0x00000803)");
  const size_t n = be32(img, 4), rows = be32(img, 8), cols = be32(img, 12);
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || img.size() != 16 + n * rows * cols)
    throw std::runtime_error(o.images + ": header says " + std::to_string(n) + " images of " +
                             std::to_string(rows) + "x" + std::to_string(cols) +
                             ", which does not match the file's " + std::to_string(img.size()) +
                             " bytes");
  if (static_cast<size_t>(o.start + o.count) > n)
    throw std::runtime_error(o.images + ": has " + std::to_string(n) + " images; items " +
                             std::to_string(o.start) + " to " +
                             std::to_string(o.start + o.count - 1) + " asked for");
  im.n = n, im.rows = rows, im.cols = cols;
  return im;
}

// --labels-out: the shown items' labels, read from --labels, one per line.
void write_labels(const Options& o, size_t n) {
  const std::vector<unsigned char> lab = read_gz(o.labels);
  if (lab.size() < 8 || be32(lab, 0) != 0x801 || be32(lab, 4) != n || lab.size() != 8 + n)
    throw std::runtime_error(o.labels + ": not an idx1 label file for the " + std::to_string(n) +
                             " images of " + o.images);
  FILE* f = std::fopen(o.labels_out.c_str(), "w");
  if (!f) throw std::runtime_error(o.labels_out + ": " + std::strerror(errno));
  for (long i = o.start; i < o.start + o.count; ++i) std::fprintf(f, "%d\n", lab[8 + i]);
  if (std::fclose(f) != 0) throw std::runtime_error(o.labels_out + ": " + std::strerror(errno));
}

// The frames to stdout, per_item of each item. False: the reader went away (EPIPE), which
// ends the run without an error.
bool write_frames(const Options& o, const Images& im) {
  // Whole-pixel blocks, as large as fits the centred square.
  const size_t rows = im.rows, cols = im.cols;
  const size_t side = static_cast<size_t>(std::min(o.width, o.height));
  const size_t block = std::max<size_t>(1, std::min(side / rows, side / cols));
  const size_t x0 = (static_cast<size_t>(o.width) - block * cols) / 2;
  const size_t y0 = (static_cast<size_t>(o.height) - block * rows) / 2;
  std::vector<unsigned char> frame(static_cast<size_t>(o.width * o.height), 0);
  for (long i = o.start; i < o.start + o.count; ++i) {
    const unsigned char* src = im.item(i);
    for (size_t r = 0; r < rows; ++r)
      for (size_t by = 0; by < block; ++by) {
        unsigned char* dst =
            frame.data() + (y0 + r * block + by) * static_cast<size_t>(o.width) + x0;
        for (size_t c = 0; c < cols; ++c) std::memset(dst + c * block, src[r * cols + c], block);
      }
    for (long k = 0; k < o.per_item; ++k)
      if (!write_all(frame.data(), frame.size())) {
        if (errno == EPIPE) return false;  // the reader stopped: not our error
        throw std::runtime_error(std::string("stdout: ") + std::strerror(errno));
      }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  try {
    const Images im = read_images(o);
    if (!o.labels_out.empty()) write_labels(o, im.n);
    write_frames(o, im);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fmnist-frames: %s\n", e.what());
    return 1;
  }
  return 0;
}
