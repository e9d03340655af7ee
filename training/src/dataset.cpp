// Data sets: idx (MNIST / Fashion-MNIST), CIFAR-10 binary batches, image folders.
// See dataset.h for which files are opened and how classes are named.
#include "dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "alexnet/error.h"
#include "augment.h"

#ifdef TRAIN_HAVE_LIBJPEG
#include <jerror.h>
#include <jpeglib.h>  // after <cstdio>: jpeglib.h needs FILE and size_t

#include <csetjmp>
#endif

namespace fs = std::filesystem;

namespace train {

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& problem) {
  throw alexnet::Error(file + ": " + problem);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

// Non-blank, non-'#' lines of a text file, trimmed.
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path, "cannot open (" + std::string(std::strerror(errno)) + ")");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    line = trim(line);
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const uint64_t n = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read its size (" + ec.message() + ")");
  return n;
}

// --- A whole file, decompressed when it is gzip, with its size known before allocating. ---

// Reads a file (gzip or plain). `expected(header)` is called with the first `header_len`
// decompressed bytes and returns the total decompressed length the header claims (it throws
// for a bad header); the buffer is allocated only once that length has been checked against
// the file: plain files by their length, gzip files by the trailer's ISIZE (length mod 2^32).
template <typename Expected>
std::vector<uint8_t> read_checked(const std::string& path, size_t header_len, Expected expected) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) fail(path, "cannot open (" + std::string(std::strerror(errno)) + ")");
  unsigned char magic[2] = {0, 0};
  probe.read(reinterpret_cast<char*>(magic), 2);
  const bool gz = probe.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  const uint64_t on_disk = file_size(path);
  uint32_t isize = 0;
  if (gz) {
    if (on_disk < 18) fail(path, "truncated gzip file (" + std::to_string(on_disk) + " bytes)");
    unsigned char t[4];
    probe.seekg(static_cast<std::streamoff>(on_disk - 4));
    probe.read(reinterpret_cast<char*>(t), 4);
    isize = t[0] | (t[1] << 8) | (t[2] << 16) | (static_cast<uint32_t>(t[3]) << 24);
  }
  probe.close();

  gzFile g = gzopen(path.c_str(), "rb");  // reads plain files transparently too
  if (g == nullptr) fail(path, "cannot open (" + std::string(std::strerror(errno)) + ")");
  struct Closer {
    gzFile g;
    ~Closer() { gzclose(g); }
  } closer{g};
  std::vector<uint8_t> head(header_len);
  const int got = gzread(g, head.data(), static_cast<unsigned>(header_len));
  if (got < 0) fail(path, std::string("corrupt gzip data (") + gzerror(g, nullptr) + ")");
  if (static_cast<size_t>(got) < header_len)
    fail(path, "truncated: " + std::to_string(got) + " bytes, shorter than the " +
                   std::to_string(header_len) + "-byte header");
  const uint64_t total = expected(head);
  const uint64_t actual = gz ? isize : on_disk;
  const uint64_t max_total = gz ? std::numeric_limits<uint32_t>::max() : on_disk;
  if (total > max_total || (total & 0xffffffffULL) != (actual & 0xffffffffULL) ||
      (!gz && total != actual))
    fail(path, "header claims " + std::to_string(total) + " bytes of data but the file " +
                   (gz ? "decompresses to " : "has ") + std::to_string(actual) + " bytes" +
                   (total > actual ? " (truncated or corrupt header)" : ""));
  std::vector<uint8_t> data(total);
  std::memcpy(data.data(), head.data(), header_len);
  size_t pos = header_len;
  while (pos < total) {
    const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(total - pos, 1u << 30));
    const int n = gzread(g, data.data() + pos, chunk);
    if (n < 0) fail(path, std::string("corrupt gzip data (") + gzerror(g, nullptr) + ")");
    if (n == 0) fail(path, "truncated: ends after " + std::to_string(pos) + " bytes");
    pos += static_cast<size_t>(n);
  }
  unsigned char extra;
  if (gzread(g, &extra, 1) != 0)
    fail(path, "has data after the " + std::to_string(total) + " bytes its header describes");
  return data;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};
const std::vector<std::string> kDigitNames = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kCifarNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

// Class names from a labels file for idx/cifar (one per line, `classes` of them), or `dflt`.
std::vector<std::string> names_or(const std::string& labels_file, size_t classes,
                                  const std::vector<std::string>& dflt) {
  if (labels_file.empty()) return dflt;
  std::vector<std::string> names = read_lines(labels_file);
  if (names.size() != classes)
    fail(labels_file, "has " + std::to_string(names.size()) + " class names, expected " +
                          std::to_string(classes));
  return names;
}

// ------------------------------------------------------------------------------------ idx

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images, const std::string& labels, bool train,
             const std::string& labels_file)
      : images_path_(images), train_(train) {
    const bool fashion = lower(fs::absolute(images).string()).find("fashion") != std::string::npos;
    names_ = names_or(labels_file, 10, fashion ? kFashionNames : kDigitNames);
    kind_ = labels_file.empty() ? (fashion ? "Fashion-MNIST" : "MNIST") : "idx";

    // Labels first: small, and their count checks the images' header.
    uint32_t nlabels = 0;
    labels_ = read_checked(labels, 8, [&](const std::vector<uint8_t>& h) -> uint64_t {
      if (be32(h.data()) != 0x00000801)
        fail(labels, "bad magic " + hex(be32(h.data())) + ", expected 0x00000801 (idx1 labels)");
      nlabels = be32(h.data() + 4);
      if (nlabels == 0) fail(labels, "holds no labels");
      return 8ULL + nlabels;
    });
    labels_.erase(labels_.begin(), labels_.begin() + 8);
    for (size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i] >= names_.size())
        fail(labels, "label " + std::to_string(labels_[i]) + " of item " + std::to_string(i) +
                         " is outside the class range [0, " + std::to_string(names_.size()) + ")");

    pixels_ = read_checked(images, 16, [&](const std::vector<uint8_t>& h) -> uint64_t {
      if (be32(h.data()) != 0x00000803)
        fail(images, "bad magic " + hex(be32(h.data())) + ", expected 0x00000803 (idx3 images)");
      const uint32_t n = be32(h.data() + 4), r = be32(h.data() + 8), c = be32(h.data() + 12);
      if (r < 1 || r > 4096 || c < 1 || c > 4096)
        fail(images,
             "image size " + std::to_string(r) + "x" + std::to_string(c) + " is outside [1, 4096]");
      if (n != nlabels)
        fail(images, "holds " + std::to_string(n) + " images but " + labels + " holds " +
                         std::to_string(nlabels) + " labels");
      rows_ = static_cast<int>(r);
      cols_ = static_cast<int>(c);
      return 16ULL + uint64_t{n} * r * c;
    });
  }

  size_t size() const override { return labels_.size(); }
  int channels() const override { return 1; }
  int label(size_t i) const override { return labels_.at(i); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string item_name(size_t i) const override { return images_path_ + "#" + std::to_string(i); }
  std::string source() const override {
    return "idx:" + images_path_ + " (" + kind_ + ", " + std::to_string(size()) + " images)";
  }
  bool load(size_t i, Image& out, std::string* why) const override {
    if (i >= size()) {
      if (why) *why = "index " + std::to_string(i) + " out of range";
      return false;
    }
    const size_t n = static_cast<size_t>(rows_) * cols_;
    out.width = cols_;
    out.height = rows_;
    out.channels = 1;
    const uint8_t* p = pixels_.data() + 16 + i * n;
    out.pixels.assign(p, p + n);
    return true;
  }

 private:
  static std::string hex(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
  }
  std::string images_path_, kind_;
  bool train_;
  std::vector<std::string> names_;
  std::vector<uint8_t> labels_;  // one byte per item (header removed)
  std::vector<uint8_t> pixels_;  // the whole images file, header included
  int rows_ = 0, cols_ = 0;
};

// The first of `names` (with or without .gz) that exists in `dir`, or "".
std::string find_in(const fs::path& dir, const std::vector<std::string>& names) {
  for (const std::string& n : names)
    for (const char* ext : {"", ".gz"}) {
      const fs::path p = dir / (n + ext);
      if (fs::is_regular_file(p)) return p.string();
    }
  return "";
}

std::pair<std::string, std::string> idx_pair(const std::string& path, bool train) {
  if (fs::is_directory(path)) {
    const std::string pre = train ? "train" : "t10k";
    const std::string img = find_in(path, {pre + "-images-idx3-ubyte", pre + "-images.idx3-ubyte"});
    const std::string lab = find_in(path, {pre + "-labels-idx1-ubyte", pre + "-labels.idx1-ubyte"});
    if (img.empty() || lab.empty())
      fail(path, "no " + pre + "-images-idx3-ubyte[.gz] and " + pre +
                     "-labels-idx1-ubyte[.gz] pair in this folder");
    return {img, lab};
  }
  if (!fs::exists(path)) fail(path, "does not exist");
  // An images file: the labels file has the same name with images→labels, idx3→idx1.
  const fs::path p(path);
  std::string name = p.filename().string();
  const size_t a = name.find("images"), b = name.find("idx3");
  if (a == std::string::npos || b == std::string::npos)
    fail(path, "is not an idx images file (expected a name like train-images-idx3-ubyte[.gz])");
  name.replace(b, 4, "idx1");
  name.replace(a, 6, "labels");
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  const std::string lab = find_in(p.parent_path().empty() ? "." : p.parent_path(), {name});
  if (lab.empty()) fail(path, "has no labels file " + name + "[.gz] beside it");
  return {path, lab};
}

// --------------------------------------------------------------------------------- CIFAR-10

constexpr size_t kCifarRecord = 3073;

class CifarDataset : public Dataset {
 public:
  CifarDataset(std::vector<std::string> files, const std::string& meta,
               const std::string& labels_file, std::string origin)
      : origin_(std::move(origin)) {
    if (!labels_file.empty())
      names_ = names_or(labels_file, 10, {});
    else if (!meta.empty()) {
      std::vector<std::string> m = read_lines(meta);
      if (m.size() < 10) fail(meta, "has " + std::to_string(m.size()) + " names, expected 10");
      names_.assign(m.begin(), m.begin() + 10);
    } else {
      names_ = kCifarNames;
    }
    for (const std::string& f : files) {
      const uint64_t n = file_size(f);
      if (n == 0 || n % kCifarRecord != 0)
        fail(f, "length " + std::to_string(n) +
                    " is not a positive multiple of the 3073-byte CIFAR-10 record");
      std::ifstream in(f, std::ios::binary);
      if (!in) fail(f, "cannot open (" + std::string(std::strerror(errno)) + ")");
      const size_t base = data_.size();
      data_.resize(base + n);
      in.read(reinterpret_cast<char*>(data_.data() + base), static_cast<std::streamsize>(n));
      if (static_cast<uint64_t>(in.gcount()) != n) fail(f, "short read");
      for (size_t r = 0; r < n / kCifarRecord; ++r) {
        const uint8_t l = data_[base + r * kCifarRecord];
        if (l >= names_.size())
          fail(f, "label " + std::to_string(l) + " of record " + std::to_string(r) +
                      " is outside the class range [0, " + std::to_string(names_.size()) + ")");
      }
      starts_.push_back(data_.size() / kCifarRecord);
      files_.push_back(f);
    }
  }
  size_t size() const override { return data_.size() / kCifarRecord; }
  int channels() const override { return 3; }
  int label(size_t i) const override { return data_.at(i * kCifarRecord); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string item_name(size_t i) const override {
    size_t f = 0, first = 0;
    while (f + 1 < starts_.size() && i >= starts_[f]) first = starts_[f++];
    return files_.at(f) + "#" + std::to_string(i - first);
  }
  std::string source() const override {
    return "cifar10:" + origin_ + " (" + std::to_string(size()) + " images)";
  }
  bool load(size_t i, Image& out, std::string* why) const override {
    if (i >= size()) {
      if (why) *why = "index " + std::to_string(i) + " out of range";
      return false;
    }
    // Record: label, then 32×32 planes R, G, B → HWC.
    const uint8_t* p = data_.data() + i * kCifarRecord + 1;
    out.width = out.height = 32;
    out.channels = 3;
    out.pixels.resize(32 * 32 * 3);
    for (int px = 0; px < 1024; ++px)
      for (int c = 0; c < 3; ++c) out.pixels[px * 3 + c] = p[c * 1024 + px];
    return true;
  }

 private:
  std::string origin_;
  std::vector<std::string> names_, files_;
  std::vector<size_t> starts_;  // cumulative record counts: end of each file
  std::vector<uint8_t> data_;
};

std::shared_ptr<Dataset> open_cifar(const std::string& path, bool train,
                                    const std::string& labels_file) {
  if (!fs::is_directory(path)) {
    if (!fs::exists(path)) fail(path, "does not exist");
    const fs::path meta = fs::path(path).parent_path() / "batches.meta.txt";
    return std::make_shared<CifarDataset>(std::vector<std::string>{path},
                                          fs::is_regular_file(meta) ? meta.string() : "",
                                          labels_file, path);
  }
  fs::path dir = path;
  if (!fs::exists(dir / "test_batch.bin") && !fs::exists(dir / "data_batch_1.bin") &&
      fs::is_directory(dir / "cifar-10-batches-bin"))
    dir /= "cifar-10-batches-bin";
  std::vector<std::string> files;
  if (train) {
    for (int b = 1; b <= 5; ++b) {
      const fs::path f = dir / ("data_batch_" + std::to_string(b) + ".bin");
      if (fs::is_regular_file(f)) files.push_back(f.string());
    }
  } else if (fs::is_regular_file(dir / "test_batch.bin")) {
    files.push_back((dir / "test_batch.bin").string());
  }
  if (files.empty())
    fail(path, train ? "no data_batch_1.bin … data_batch_5.bin in this folder"
                     : "no test_batch.bin in this folder");
  const fs::path meta = dir / "batches.meta.txt";
  return std::make_shared<CifarDataset>(files, fs::is_regular_file(meta) ? meta.string() : "",
                                        labels_file, path + (train ? " (train)" : " (test)"));
}

// ---------------------------------------------------------------------------- image folders

// Width and height from a PNG's IHDR or a JPEG's SOF marker, and whether a JPEG has its end
// (an EOI marker after the first scan): libjpeg decodes a truncated file into a partly grey
// picture with only a warning, so truncation must be caught here. Returns "" when fine.
std::string check_header(const std::vector<uint8_t>& b, int64_t& w, int64_t& h) {
  w = h = 0;
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 8 && std::memcmp(b.data(), kPng, 8) == 0) {
    if (b.size() < 24 || std::memcmp(b.data() + 12, "IHDR", 4) != 0)
      return "truncated or corrupt PNG header";
    w = be32(b.data() + 16);
    h = be32(b.data() + 20);
    // The IEND chunk closes a complete file (tolerating a little trailing data); libpng
    // would report a truncated one on stderr and fail anyway.
    const size_t from = b.size() > 1024 ? b.size() - 1024 : 8;
    for (size_t q = b.size() - 4; q >= from; --q)
      if (std::memcmp(b.data() + q, "IEND", 4) == 0) return "";
    return "truncated PNG (no IEND chunk)";
  }
  if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
    size_t p = 2;
    while (p + 4 <= b.size()) {
      if (b[p] != 0xff) return "corrupt JPEG (bad marker)";
      const uint8_t m = b[p + 1];
      if (m == 0xff) {  // fill byte
        ++p;
        continue;
      }
      if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {  // markers without a length
        p += 2;
        continue;
      }
      const size_t len = (size_t{b[p + 2]} << 8) | b[p + 3];
      if (len < 2) return "corrupt JPEG (bad segment length)";
      const bool sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
      if (sof) {
        if (p + 9 > b.size()) return "truncated JPEG";
        h = (int64_t{b[p + 5]} << 8) | b[p + 6];
        w = (int64_t{b[p + 7]} << 8) | b[p + 8];
      }
      if (m == 0xda) {  // start of scan: the entropy-coded data follows
        if (w == 0 && h == 0) return "corrupt JPEG (no frame header before the scan)";
        for (size_t q = b.size() - 1; q > p + 1 + len; --q)
          if (b[q] == 0xd9 && b[q - 1] == 0xff) return "";
        return "truncated JPEG (no end-of-image marker)";
      }
      p += 2 + len;
    }
    return "truncated JPEG";
  }
  return "not a JPEG or PNG file";
}

#ifdef TRAIN_HAVE_LIBJPEG
// libjpeg turns damaged entropy-coded data into grey blocks with only a warning, and OpenCV
// passes such a picture on as good. So a JPEG's scans are first entropy-decoded (Huffman only:
// no IDCT, no colour conversion, a fraction of a decode) with the warnings that mean damage
// made errors. Returns "" when the data is intact.
struct JpegErr {
  jpeg_error_mgr mgr;
  std::jmp_buf jmp;
  char msg[JMSG_LENGTH_MAX];
  bool damaged;
};

void jpeg_fail(j_common_ptr c) {
  JpegErr* e = reinterpret_cast<JpegErr*>(c->err);
  (*c->err->format_message)(c, e->msg);
  std::longjmp(e->jmp, 1);
}

void jpeg_warn(j_common_ptr c, int level) {
  if (level >= 0) return;  // trace messages
  JpegErr* e = reinterpret_cast<JpegErr*>(c->err);
  const int code = c->err->msg_code;
  // Damage, as opposed to benign notes (unknown JFIF revision, ICC quirks, extra bytes).
  if (code == JWRN_HIT_MARKER || code == JWRN_JPEG_EOF || code == JWRN_MUST_RESYNC ||
      code == JWRN_NOT_SEQUENTIAL || code == JWRN_HUFF_BAD_CODE || code == JWRN_BOGUS_PROGRESSION) {
    if (!e->damaged) (*c->err->format_message)(c, e->msg);
    e->damaged = true;
  }
}

std::string check_jpeg_data(const std::vector<uint8_t>& b) {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  err.msg[0] = 0;
  err.damaged = false;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_warn;
  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jmp) == 0) {  // no C++ objects live across the longjmp
    jpeg_mem_src(&cinfo, b.data(), static_cast<unsigned long>(b.size()));
    jpeg_read_header(&cinfo, TRUE);
    jpeg_read_coefficients(&cinfo);
    jpeg_finish_decompress(&cinfo);
  } else {
    err.damaged = true;
  }
  jpeg_destroy_decompress(&cinfo);
  return err.damaged ? std::string("corrupt JPEG (") + err.msg + ")" : std::string();
}
#endif

class FolderDataset : public Dataset {
 public:
  FolderDataset(const std::string& root, const std::string& labels_file) : root_(root) {
    std::vector<std::string> classes;
    for (const fs::directory_entry& e : fs::directory_iterator(root)) {
      const std::string n = e.path().filename().string();
      if (e.is_directory() && !n.empty() && n[0] != '.') classes.push_back(n);
    }
    std::sort(classes.begin(), classes.end());
    if (classes.empty())
      fail(root, "has no class subfolders (expected DIR/<class>/*.jpg|jpeg|png)");
    std::map<std::string, std::string> readable;
    if (!labels_file.empty())
      for (const std::string& line : read_lines(labels_file)) {
        const size_t sp = line.find_first_of(" \t");
        if (sp == std::string::npos) continue;  // a bare folder name: keep it
        readable[line.substr(0, sp)] = trim(line.substr(sp));
      }
    for (size_t c = 0; c < classes.size(); ++c) {
      const fs::path dir = fs::path(root) / classes[c];
      std::vector<std::string> files;
      for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
        const std::string ext = lower(e.path().extension().string());
        if ((ext == ".jpg" || ext == ".jpeg" || ext == ".png") && !e.is_directory())
          files.push_back(e.path().string());
      }
      if (files.empty()) fail(dir.string(), "class folder holds no .jpg/.jpeg/.png images");
      std::sort(files.begin(), files.end());
      for (std::string& f : files) {
        paths_.push_back(std::move(f));
        labels_.push_back(static_cast<int>(c));
      }
      auto it = readable.find(classes[c]);
      names_.push_back(it != readable.end() ? it->second : classes[c]);
    }
  }
  size_t size() const override { return paths_.size(); }
  int channels() const override { return 3; }
  int label(size_t i) const override { return labels_.at(i); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string item_name(size_t i) const override { return paths_.at(i); }
  std::string source() const override {
    return "folder:" + root_ + " (" + std::to_string(names_.size()) + " classes, " +
           std::to_string(size()) + " images)";
  }
  bool load(size_t i, Image& out, std::string* why) const override {
    std::string reason;
    try {
      reason = decode(i, out);
    } catch (const std::exception& e) {  // cv::Exception, bad_alloc: the item, not the run
      reason = std::string("cannot decode (") + e.what() + ")";
    }
    if (reason.empty()) return true;
    if (why) *why = reason;
    return false;
  }

 private:
  std::string decode(size_t i, Image& out) const {
    if (i >= size()) return "index " + std::to_string(i) + " out of range";
    const std::string& path = paths_[i];
    std::ifstream f(path, std::ios::binary);
    if (!f) return "cannot open (" + std::string(std::strerror(errno)) + ")";
    f.seekg(0, std::ios::end);
    const std::streamoff n = f.tellg();
    if (n < 0) return "cannot read its size";
    if (n == 0) return "empty file (0 bytes)";
    // Bounds what a worker allocates for one file (a 64-megapixel image is well below it).
    if (n > (int64_t{1} << 30)) return "file too large (" + std::to_string(n) + " bytes)";
    f.seekg(0);
    std::vector<uint8_t> bytes(static_cast<size_t>(n));
    f.read(reinterpret_cast<char*>(bytes.data()), n);
    if (f.gcount() != n) return "read error";
    int64_t w = 0, h = 0;
    const std::string bad = check_header(bytes, w, h);
    // Size first: a huge picture is refused as such even when its file is also cut short.
    // Each side first: a PNG's are 32-bit, and their product overflowed int64 (fuzz_dataset,
    // UBSan).
    if (w > kMaxImagePixels || h > kMaxImagePixels || w * h > kMaxImagePixels)
      return "too large (" + std::to_string(w) + " x " + std::to_string(h) + ")";
    if (!bad.empty()) return bad;
    if (w < 1 || h < 1)
      return "invalid dimensions (" + std::to_string(w) + " x " + std::to_string(h) + ")";
#ifdef TRAIN_HAVE_LIBJPEG
    if (bytes[0] == 0xff) {
      const std::string damage = check_jpeg_data(bytes);
      if (!damage.empty()) return damage;
    }
#endif
    // IMREAD_COLOR: grey, RGBA, CMYK and 16-bit images all become 8-bit BGR.
    const cv::Mat bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
    if (bgr.empty()) return "cannot decode (corrupt or unsupported image data)";
    if (bgr.type() != CV_8UC3) return "cannot decode (unexpected pixel type)";
    out.width = bgr.cols;
    out.height = bgr.rows;
    out.channels = 3;
    out.pixels.resize(static_cast<size_t>(bgr.cols) * bgr.rows * 3);
    cv::Mat rgb(bgr.rows, bgr.cols, CV_8UC3, out.pixels.data());
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return "";
  }

  std::string root_;
  std::vector<std::string> paths_, names_;
  std::vector<int> labels_;
};

// ---------------------------------------------------------------------------------- subset

class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<size_t> idx)
      : base_(std::move(base)), idx_(std::move(idx)) {
    for (size_t i : idx_)
      if (i >= base_->size())
        throw alexnet::Error(base_->source() + ": subset index " + std::to_string(i) +
                             " is outside [0, " + std::to_string(base_->size()) + ")");
  }
  size_t size() const override { return idx_.size(); }
  int channels() const override { return base_->channels(); }
  int label(size_t i) const override { return base_->label(idx_.at(i)); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  std::string item_name(size_t i) const override { return base_->item_name(idx_.at(i)); }
  std::string source() const override {
    return base_->source() + " [subset of " + std::to_string(idx_.size()) + "]";
  }
  bool load(size_t i, Image& out, std::string* why) const override {
    if (i >= idx_.size()) {
      if (why) *why = "index " + std::to_string(i) + " out of range";
      return false;
    }
    return base_->load(idx_[i], out, why);
  }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<size_t> idx_;
};

bool has_idx(const fs::path& p) {
  if (fs::is_directory(p))
    return !find_in(p, {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte",
                        "train-images.idx3-ubyte", "t10k-images.idx3-ubyte"})
                .empty();
  return p.filename().string().find("idx3") != std::string::npos;
}

bool has_cifar(const fs::path& p) {
  if (fs::is_directory(p))
    return fs::exists(p / "data_batch_1.bin") || fs::exists(p / "test_batch.bin") ||
           fs::is_directory(p / "cifar-10-batches-bin");
  return lower(p.extension().string()) == ".bin";
}

}  // namespace

std::shared_ptr<Dataset> open_dataset(const std::string& path, const std::string& format,
                                      bool train_split, const std::string& labels_file) {
  // Decoders report through our reasons; OpenCV's own log lines would only repeat them.
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  if (path.empty()) throw alexnet::Error("data set path is empty");
  if (!fs::exists(path)) fail(path, "does not exist");
  if (!labels_file.empty() && !fs::is_regular_file(labels_file))
    fail(labels_file, "labels file does not exist");
  std::string fmt = format;
  if (fmt == "auto") fmt = has_idx(path) ? "idx" : has_cifar(path) ? "cifar10" : "folder";
  if (fmt == "idx") {
    const auto [img, lab] = idx_pair(path, train_split);
    return std::make_shared<IdxDataset>(img, lab, train_split, labels_file);
  }
  if (fmt == "cifar10") return open_cifar(path, train_split, labels_file);
  if (fmt == "folder") {
    if (!fs::is_directory(path)) fail(path, "is not a folder (format folder)");
    return std::make_shared<FolderDataset>(path, labels_file);
  }
  throw alexnet::Error("data format '" + format + "' is not one of auto, folder, idx, cifar10");
}

std::shared_ptr<Dataset> subset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices) {
  if (!base) throw alexnet::Error("subset: no base data set");
  return std::make_shared<SubsetDataset>(std::move(base), std::move(indices));
}

std::pair<std::vector<size_t>, std::vector<size_t>> split_indices(size_t n, double val_fraction,
                                                                  uint64_t seed) {
  if (!(val_fraction >= 0.0 && val_fraction < 1.0))
    throw alexnet::Error("validation split " + std::to_string(val_fraction) + " is outside [0, 1)");
  std::vector<size_t> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = i;
  Rng rng(mix_seed(seed, 0x5eedull, 0x5017ull));
  for (size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  const size_t nval = static_cast<size_t>(std::llround(static_cast<double>(n) * val_fraction));
  std::vector<size_t> val(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(nval));
  std::vector<size_t> tr(perm.begin() + static_cast<std::ptrdiff_t>(nval), perm.end());
  std::sort(val.begin(), val.end());
  std::sort(tr.begin(), tr.end());
  return {tr, val};
}

}  // namespace train
