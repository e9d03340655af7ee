// The trainer's data pipeline: data sets (real Fashion-MNIST, malformed idx/CIFAR files, an
// image folder with bad files), augmentation against the library's preprocessing, statistics,
// and the loader's determinism.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "alexnet/error.h"
#include "alexnet/preprocess.h"
#include "augment.h"
#include "dataset.h"
#include "loader.h"

namespace fs = std::filesystem;
using namespace train;

namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

// A fresh temporary folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("alexnet-train-data-" + std::string(t->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile g = gzopen(path.c_str(), "wb");
  ASSERT_NE(g, nullptr);
  if (!bytes.empty()) gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(g);
}

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

std::vector<uint8_t> idx_images(uint32_t magic, uint32_t n, uint32_t r, uint32_t c,
                                size_t data_bytes) {
  std::vector<uint8_t> v;
  put32(v, magic);
  put32(v, n);
  put32(v, r);
  put32(v, c);
  for (size_t i = 0; i < data_bytes; ++i) v.push_back(static_cast<uint8_t>(i * 7));
  return v;
}

std::vector<uint8_t> idx_labels(uint32_t magic, uint32_t n, std::vector<uint8_t> labels) {
  std::vector<uint8_t> v;
  put32(v, magic);
  put32(v, n);
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

// Expects open_dataset to throw an alexnet::Error whose message contains `file` and `what`.
void expect_error(const std::string& path, const std::string& format, const std::string& file,
                  const std::string& what) {
  try {
    open_dataset(path, format, true, "");
    ADD_FAILURE() << "no error for " << file << " (expected: " << what << ")";
  } catch (const alexnet::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(file), std::string::npos) << m;
    EXPECT_NE(m.find(what), std::string::npos) << m;
  }
}

// An in-memory data set; items in `bad` fail to load.
class MemDataset : public Dataset {
 public:
  MemDataset(size_t n, int channels, uint64_t seed, std::set<size_t> bad = {})
      : channels_(channels), bad_(std::move(bad)) {
    Rng rng(seed);
    for (size_t i = 0; i < n; ++i) {
      Image im;
      im.width = 20 + static_cast<int>(rng.below(30));
      im.height = 20 + static_cast<int>(rng.below(30));
      im.channels = channels;
      im.pixels.resize(static_cast<size_t>(im.width) * im.height * channels);
      for (uint8_t& p : im.pixels) p = static_cast<uint8_t>(rng.next());
      images_.push_back(std::move(im));
      labels_.push_back(static_cast<int>(i % 3));
    }
  }
  size_t size() const override { return images_.size(); }
  int channels() const override { return channels_; }
  int label(size_t i) const override { return labels_.at(i); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string item_name(size_t i) const override { return "mem#" + std::to_string(i); }
  std::string source() const override { return "mem"; }
  bool load(size_t i, Image& out, std::string* why) const override {
    if (bad_.count(i)) {
      if (why) *why = "bad on purpose";
      return false;
    }
    out = images_.at(i);
    return true;
  }

 private:
  int channels_;
  std::set<size_t> bad_;
  std::vector<Image> images_;
  std::vector<int> labels_;
  std::vector<std::string> names_{"a", "b", "c"};
};

AugmentConfig small_config(int channels) {
  AugmentConfig a = default_augment(16, channels);
  a.resize = 20;
  a.pad = 2;
  a.pca = channels == 3;
  a.pca_eigval = {0.2f, 0.02f, 0.005f};
  a.pca_eigvec = {{{0.58f, 0.58f, 0.57f}, {-0.7f, 0.0f, 0.7f}, {0.4f, -0.8f, 0.4f}}};
  a.mean = {0.4f, 0.5f, 0.6f};
  a.std = {0.2f, 0.25f, 0.3f};
  return a;
}

std::vector<Batch> all_batches(std::shared_ptr<const Dataset> d, const AugmentConfig& a,
                               LoaderConfig lc, uint64_t epoch, size_t start = 0,
                               std::vector<SkippedItem>* skipped = nullptr) {
  Loader l(d, a, lc, epoch, start, [&](const SkippedItem& s) {
    if (skipped) skipped->push_back(s);
  });
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(std::move(b));
  return out;
}

void expect_same(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.skipped, b.skipped);
  ASSERT_EQ(a.x.shape(), b.x.shape());
  EXPECT_EQ(0, std::memcmp(a.x.data(), b.x.data(), a.x.numel() * sizeof(float)))
      << "batch " << a.index << " differs";
}

}  // namespace

// ------------------------------------------------------------------------- Fashion-MNIST

TEST(FashionMnist, RealFiles) {
  if (!fs::exists(std::string(kFashion) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << kFashion << " is missing (Debian package dataset-fashion-mnist)";
  auto tr = open_dataset(kFashion, "auto", true, "");
  auto te = open_dataset(kFashion, "idx", false, "");
  ASSERT_EQ(tr->size(), 60000u);
  ASSERT_EQ(te->size(), 10000u);
  EXPECT_EQ(tr->channels(), 1);
  ASSERT_EQ(tr->class_names().size(), 10u);
  EXPECT_EQ(tr->class_names()[0], "T-shirt/top");
  EXPECT_EQ(tr->class_names()[9], "Ankle boot");
  // Known first labels (read from the files with Python's gzip).
  const int tr_first[] = {9, 0, 0, 3, 0, 2, 7, 2}, te_first[] = {9, 2, 1, 1, 6, 1, 4, 6};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(tr->label(i), tr_first[i]) << i;
    EXPECT_EQ(te->label(i), te_first[i]) << i;
  }
  EXPECT_EQ(tr->class_names()[tr->label(0)], "Ankle boot");
  Image im;
  std::string why;
  ASSERT_TRUE(tr->load(0, im, &why)) << why;
  EXPECT_EQ(im.width, 28);
  EXPECT_EQ(im.height, 28);
  EXPECT_EQ(im.channels, 1);
  ASSERT_EQ(im.pixels.size(), 784u);
  long sum = 0;
  int mx = 0;
  for (uint8_t p : im.pixels) sum += p, mx = std::max<int>(mx, p);
  EXPECT_EQ(sum, 76247);  // Python: sum of the first image's bytes
  EXPECT_EQ(mx, 255);
  EXPECT_EQ(im.pixels[14 * 28 + 14], 217);
  EXPECT_NE(tr->item_name(5).find("train-images-idx3-ubyte.gz#5"), std::string::npos);
  EXPECT_NE(tr->source().find("Fashion-MNIST"), std::string::npos) << tr->source();

  // A direct images-file path pairs with its labels file.
  auto direct =
      open_dataset(std::string(kFashion) + "/t10k-images-idx3-ubyte.gz", "auto", true, "");
  EXPECT_EQ(direct->size(), 10000u);
  EXPECT_EQ(direct->label(1), 2);

  // The evaluation loader over the whole test set, 2 workers.
  AugmentConfig a = default_augment(28, 1);
  LoaderConfig lc;
  lc.train = false;
  lc.batch_size = 1000;
  auto batches = all_batches(te, a, lc, 0);
  ASSERT_EQ(batches.size(), 10u);
  EXPECT_EQ(batches[0].x.shape(), (alexnet::Shape{1000, 1, 28, 28}));
  EXPECT_EQ(batches[0].labels[1], 2);
}

TEST(Split, SeededDisjointSorted) {
  auto [tr, va] = split_indices(1000, 0.1, 7);
  EXPECT_EQ(va.size(), 100u);
  EXPECT_EQ(tr.size(), 900u);
  std::set<size_t> all(tr.begin(), tr.end());
  all.insert(va.begin(), va.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(va.begin(), va.end()));
  EXPECT_EQ(split_indices(1000, 0.1, 7).second, va);
  EXPECT_NE(split_indices(1000, 0.1, 8).second, va);
  EXPECT_THROW(split_indices(10, 1.0, 0), alexnet::Error);
  auto base = std::make_shared<MemDataset>(10, 3, 1);
  auto sub = subset(base, {3, 5});
  EXPECT_EQ(sub->size(), 2u);
  EXPECT_EQ(sub->label(1), base->label(5));
  EXPECT_EQ(sub->item_name(0), "mem#3");
  EXPECT_THROW(subset(base, {10}), alexnet::Error);
}

// ----------------------------------------------------------------------- malformed idx

TEST(Idx, MalformedFilesGiveErrorsNamingTheFile) {
  TempDir t;
  const std::string img = t / "train-images-idx3-ubyte", lab = t / "train-labels-idx1-ubyte";
  const auto good_labels = idx_labels(0x801, 4, {1, 2, 3, 4});
  // Good, to start with.
  write_file(img, idx_images(0x803, 4, 5, 6, 4 * 30));
  write_file(lab, good_labels);
  auto d = open_dataset(t.path().string(), "auto", true, "");
  EXPECT_EQ(d->size(), 4u);
  EXPECT_EQ(d->class_names()[3], "3");  // no "fashion" in the path: MNIST digits

  write_file(img, idx_images(0x804, 4, 5, 6, 4 * 30));
  expect_error(t.path().string(), "idx", img, "bad magic 0x00000804");
  write_file(img, idx_images(0x803, 4, 5, 6, 4 * 30 - 1));
  expect_error(t.path().string(), "idx", img, "truncated");
  write_file(img, idx_images(0x803, 3, 5, 6, 3 * 30));
  expect_error(t.path().string(), "idx", img, "holds 3 images but");
  write_file(img, idx_images(0x803, 4, 0, 6, 0));
  expect_error(t.path().string(), "idx", img, "outside [1, 4096]");
  write_file(img, idx_images(0x803, 4, 5, 6, 2));
  write_file(img, std::vector<uint8_t>{0, 0, 8});
  expect_error(t.path().string(), "idx", img, "header");

  // A header claiming ~10^12 bytes must be refused before anything that size is allocated.
  write_file(lab, idx_labels(0x801, 0xfffffff0u, {1, 2}));
  write_file(img, idx_images(0x803, 0xfffffff0u, 4096, 4096, 10));
  expect_error(t.path().string(), "idx", lab, "header claims 4294967288 bytes");
  write_file(lab, good_labels);
  write_file(img, idx_images(0x803, 4, 4096, 4096, 10));
  expect_error(t.path().string(), "idx", img, "header claims 67108880 bytes");

  // Labels: bad magic, out of range.
  write_file(img, idx_images(0x803, 4, 5, 6, 4 * 30));
  write_file(lab, idx_labels(0x803, 4, {1, 2, 3, 4}));
  expect_error(t.path().string(), "idx", lab, "bad magic");
  write_file(lab, idx_labels(0x801, 4, {1, 2, 10, 4}));
  expect_error(t.path().string(), "idx", lab, "label 10 of item 2 is outside the class range");

  // Gzipped: the same checks, the claimed size against the gzip trailer.
  fs::remove(img);
  fs::remove(lab);
  write_gz(lab + ".gz", good_labels);
  write_gz(img + ".gz", idx_images(0x803, 4, 5, 6, 4 * 30));
  EXPECT_EQ(open_dataset(t.path().string(), "idx", true, "")->size(), 4u);
  write_gz(img + ".gz", idx_images(0x803, 4, 4096, 4096, 100));
  expect_error(t.path().string(), "idx", img + ".gz", "decompresses to 116 bytes");
  write_gz(img + ".gz", idx_images(0x803, 0xfffffff0u, 4096, 4096, 100));
  expect_error(t.path().string(), "idx", img + ".gz", "holds 4294967280 images but");
  write_file(img + ".gz", {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_THROW(open_dataset(t.path().string(), "idx", true, ""), alexnet::Error);

  // Missing pair.
  fs::remove(lab + ".gz");
  expect_error(t.path().string(), "idx", t.path().string(), "no train-images-idx3-ubyte");
}

// ----------------------------------------------------------------------------- CIFAR-10

TEST(Cifar, GoodAndMalformedBatches) {
  TempDir t;
  std::vector<uint8_t> rec;
  for (int r = 0; r < 3; ++r) {
    rec.push_back(static_cast<uint8_t>(r + 7));
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 1024; ++p) rec.push_back(static_cast<uint8_t>(c * 50 + r + (p % 3)));
  }
  write_file(t / "data_batch_1.bin", rec);
  write_file(t / "data_batch_2.bin", rec);
  write_file(t / "test_batch.bin", rec);
  auto d = open_dataset(t.path().string(), "auto", true, "");
  EXPECT_EQ(d->size(), 6u);
  EXPECT_EQ(d->channels(), 3);
  EXPECT_EQ(d->label(4), 8);
  EXPECT_EQ(d->class_names()[9], "truck");
  EXPECT_EQ(d->item_name(4), t / "data_batch_2.bin" + "#1");
  Image im;
  ASSERT_TRUE(d->load(4, im, nullptr));
  ASSERT_EQ(im.pixels.size(), 3072u);
  // HWC RGB: pixel 1 = (R, G, B) = (0·50 + 1 + 1, 50 + 2, 100 + 2).
  EXPECT_EQ(im.pixels[3], 2);
  EXPECT_EQ(im.pixels[4], 52);
  EXPECT_EQ(im.pixels[5], 102);
  EXPECT_EQ(open_dataset(t.path().string(), "cifar10", false, "")->size(), 3u);

  std::ofstream(t / "batches.meta.txt") << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
  EXPECT_EQ(open_dataset(t.path().string(), "cifar10", true, "")->class_names()[9], "j");

  auto bad = rec;
  bad.pop_back();
  write_file(t / "data_batch_2.bin", bad);
  expect_error(t.path().string(), "cifar10", t / "data_batch_2.bin", "not a positive multiple");
  bad = rec;
  bad[3073] = 10;
  write_file(t / "data_batch_2.bin", bad);
  expect_error(t.path().string(), "cifar10", t / "data_batch_2.bin", "label 10 of record 1");
  write_file(t / "data_batch_2.bin", {});
  expect_error(t.path().string(), "cifar10", t / "data_batch_2.bin", "length 0");
}

// -------------------------------------------------------------------------- image folders

// A PNG whose sides are near 2^32 (found by fuzz_dataset, UBSan): their product overflowed
// int64 before the pixel-limit check; refused as too large, from the header.
TEST(Folder, HugeSidesAreRefusedWithoutOverflow) {
  TempDir t;
  std::vector<uint8_t> png;
  cv::imencode(".png", cv::Mat(2, 2, CV_8UC3, cv::Scalar(1, 2, 3)), png);
  png[16] = 0xfe, png[17] = 0xe5, png[18] = 0xb6, png[19] = 0xc8;  // width 4276467400
  png[20] = 0xc5, png[21] = 0x42, png[22] = 0xd9, png[23] = 0x80;  // height 3309492608
  write_file(t / "a/wide.png", png);
  Image im;
  std::string why;
  EXPECT_FALSE(open_dataset(t.path().string(), "folder", true, "")->load(0, im, &why));
  EXPECT_EQ(why, "too large (4276467400 x 3309492608)");
}

TEST(Folder, BadFilesAreSkippedWithReasons) {
  TempDir t;
  cv::Mat photo(40, 60, CV_8UC3);
  cv::randu(photo, 0, 256);
  std::vector<uint8_t> jpg, png;
  cv::imencode(".jpg", photo, jpg);
  cv::imencode(".png", photo, png);
  write_file(t / "cat/a_good.jpg", jpg);
  write_file(t / "cat/b_good.PNG", png);
  write_file(t / "cat/c_zero.png", {});
  write_file(t / "cat/d_trunc.jpg",
             std::vector<uint8_t>(jpg.begin(), jpg.begin() + jpg.size() / 2));
  write_file(t / "cat/e_trunc.png",
             std::vector<uint8_t>(png.begin(), png.begin() + png.size() / 2));
  write_file(t / "cat/notes.txt", {1, 2, 3});
  std::vector<uint8_t> garbage(500);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 31 + 5);
  write_file(t / "dog/a_garbage.jpg", garbage);
  auto corrupt = jpg;  // a valid header, then noise in the scan
  for (size_t i = corrupt.size() / 3; i + 2 < corrupt.size(); ++i) corrupt[i] = 0xff;
  write_file(t / "dog/b_corrupt.jpeg", corrupt);
  write_file(
      t / "dog/c_cmyk.jpg",
      std::vector<uint8_t>{
          0xff, 0xd8, 0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00,
          0x00, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03,
          0x03, 0x03, 0x03, 0x04, 0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a,
          0x07, 0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d, 0x0e, 0x12,
          0x10, 0x0d, 0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x15,
          0x15, 0x0c, 0x0f, 0x17, 0x18, 0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0xff, 0xc0, 0x00,
          0x14, 0x08, 0x00, 0x0a, 0x00, 0x0c, 0x04, 0x43, 0x11, 0x00, 0x4d, 0x11, 0x00, 0x59, 0x11,
          0x00, 0x4b, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01,
          0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
          0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01,
          0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02,
          0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
          0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
          0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27,
          0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47,
          0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
          0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85,
          0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2,
          0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,
          0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5,
          0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
          0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00, 0x0e, 0x04,
          0x43, 0x00, 0x4d, 0x00, 0x59, 0x00, 0x4b, 0x00, 0x00, 0x3f, 0x00, 0xfd, 0x53, 0xaf, 0xca,
          0xaa, 0xfc, 0xaa, 0xaf, 0xd5, 0x3a, 0x28, 0xa2, 0x8a, 0x28, 0xa2, 0x8a, 0x28, 0xa2, 0x8a,
          0xff, 0xd9});
  cv::Mat deep(30, 20, CV_16UC3, cv::Scalar(65535, 32768, 0));  // BGR: B full, G half, R 0
  cv::imwrite(t / "dog/d_16bit.png", deep);
  // A PNG whose header claims 10000 × 9000 (90 megapixels): refused before decoding.
  std::vector<uint8_t> huge(png.begin(), png.begin() + 33);
  huge[16] = 0, huge[17] = 0, huge[18] = 0x27, huge[19] = 0x10;  // 10000
  huge[20] = 0, huge[21] = 0, huge[22] = 0x23, huge[23] = 0x28;  // 9000
  write_file(t / "dog/e_huge.png", huge);
  fs::create_directories(t.path() / "emptyish");
  write_file(t / "emptyish/x.png", png);

  const std::string labels = t / "labels.txt";
  std::ofstream(labels) << "# folder name\ncat Felis catus\ndog Canis familiaris\n";
  auto d = open_dataset(t.path().string(), "auto", true, labels);
  ASSERT_EQ(d->class_names().size(), 3u);
  EXPECT_EQ(d->class_names()[0], "Felis catus");
  EXPECT_EQ(d->class_names()[2], "emptyish");
  ASSERT_EQ(d->size(), 11u);  // notes.txt is not an image
  std::map<std::string, std::string> reasons;
  std::set<std::string> loaded;
  for (size_t i = 0; i < d->size(); ++i) {
    Image im;
    std::string why;
    const std::string name = fs::path(d->item_name(i)).filename().string();
    if (d->load(i, im, &why)) {
      loaded.insert(name);
      EXPECT_EQ(im.channels, 3);
      EXPECT_EQ(im.pixels.size(), static_cast<size_t>(im.width) * im.height * 3);
      if (name == "c_cmyk.jpg") {  // pure red in CMYK → red in RGB
        EXPECT_EQ(im.width, 12);
        EXPECT_GT(im.pixels[0], 200);
        EXPECT_LT(im.pixels[1], 60);
      }
      if (name == "d_16bit.png") {  // 16-bit → 8-bit RGB
        EXPECT_EQ(im.pixels[0], 0);
        EXPECT_EQ(im.pixels[1], 128);
        EXPECT_EQ(im.pixels[2], 255);
      }
      if (name == "a_good.jpg" || name == "b_good.PNG") {
        EXPECT_EQ(im.width, 60);
      }
    } else {
      EXPECT_FALSE(why.empty()) << name;
      reasons[name] = why;
    }
  }
#ifndef TRAIN_HAVE_LIBJPEG
  loaded.erase("b_corrupt.jpeg");
  reasons.erase("b_corrupt.jpeg");
#endif
  EXPECT_EQ(loaded, (std::set<std::string>{"a_good.jpg", "b_good.PNG", "c_cmyk.jpg", "d_16bit.png",
                                           "x.png"}));
  EXPECT_EQ(reasons["c_zero.png"], "empty file (0 bytes)");
  EXPECT_EQ(reasons["e_huge.png"], "too large (10000 x 9000)");
  EXPECT_NE(reasons["d_trunc.jpg"].find("truncated"), std::string::npos) << reasons["d_trunc.jpg"];
  EXPECT_EQ(reasons["e_trunc.png"], "truncated PNG (no IEND chunk)");
  EXPECT_EQ(reasons["a_garbage.jpg"], "not a JPEG or PNG file");
#ifdef TRAIN_HAVE_LIBJPEG  // damaged scan data is only found with libjpeg
  EXPECT_NE(reasons["b_corrupt.jpeg"].find("corrupt JPEG"), std::string::npos);
#endif
  for (auto& [k, v] : reasons) std::cout << "skipped " << k << ": " << v << "\n";

  // The loader goes on through them, reporting each once per epoch, in epoch order.
  std::vector<SkippedItem> skipped;
  LoaderConfig lc;
  lc.batch_size = 4;
  lc.workers = 2;
  AugmentConfig a = default_augment(16, 3);
  a.resize = 20;
  auto batches = all_batches(d, a, lc, 0, 0, &skipped);
  size_t n = 0, s = 0;
  for (const Batch& b : batches) n += b.labels.size(), s += b.skipped;
  EXPECT_EQ(n + skipped.size(), 11u);
  EXPECT_EQ(skipped.size(), reasons.size() + (loaded.size() == 5 ? 0 : 1));
  EXPECT_EQ(s, skipped.size());
  // Errors for folders: none at all, no classes, an empty class.
  TempDir e;
  expect_error(e.path().string(), "folder", e.path().string(), "no class subfolders");
  fs::create_directories(e.path() / "a");
  expect_error(e.path().string(), "folder", "a", "holds no .jpg/.jpeg/.png images");
  expect_error(e / "nope", "auto", "nope", "does not exist");
  EXPECT_THROW(open_dataset(e.path().string(), "tiff", true, ""), alexnet::Error);
}

// ------------------------------------------------------------------------- augmentation

TEST(Augment, EvalEqualsLibraryPreprocess) {
  for (int ch : {1, 3}) {
    MemDataset d(6, ch, 11 + ch);
    for (int model_ch : {1, 3}) {
      AugmentConfig a = small_config(model_ch);
      a.interpolation =
          model_ch == 3 ? alexnet::Interpolation::Area : alexnet::Interpolation::Bilinear;
      const size_t n = input_numel(a);
      for (size_t i = 0; i < d.size(); ++i) {
        Image im;
        ASSERT_TRUE(d.load(i, im, nullptr));
        std::vector<float> lib(n), ev(n), tr(n), ten(10 * n), cen(n);
        const alexnet::Frame f = alexnet::make_packed_frame(
            ch == 3 ? alexnet::PixelFormat::RGB : alexnet::PixelFormat::GRAY8, im.width, im.height,
            im.pixels.data());
        alexnet::preprocess(f, to_preprocess_config(a), model_ch, a.input_size, lib.data());
        eval_transform(im, a, ev.data());
        AugmentConfig off = a;
        off.random_crop = off.flip = off.pca = false;
        Rng rng(1);
        train_transform(im, off, rng, tr.data());
        ten_crop(im, a, ten.data());
        // The training path's own resampling (OpenCV) with a centre crop and no change:
        // PCA on with sigma 0 forces that path.
        AugmentConfig opencv_path = off;
        opencv_path.pca = true;
        opencv_path.pca_std = 0.0f;
        train_transform(im, opencv_path, rng, cen.data());
        float worst = 0;
        for (size_t k = 0; k < n; ++k) {
          ASSERT_NEAR(ev[k], lib[k], 1e-5f);
          ASSERT_EQ(tr[k], lib[k]);
          ASSERT_EQ(ten[4 * n + k], lib[k]);
          worst = std::max(worst, std::fabs(cen[k] - lib[k]));
        }
        EXPECT_LT(worst, 2e-4f) << "training resize differs from the library's";
        // Crop 9 is crop 4 mirrored; crop 0 (top-left) mirrored is crop 5.
        const int s = a.input_size;
        EXPECT_EQ(ten[9 * n + 0], ten[4 * n + s - 1]);
        EXPECT_EQ(ten[5 * n + 0], ten[0 * n + s - 1]);
      }
    }
  }
}

TEST(Augment, RandomCropsFlipsAndPca) {
  MemDataset d(1, 3, 5);
  Image im;
  ASSERT_TRUE(d.load(0, im, nullptr));
  AugmentConfig a = small_config(3);
  const size_t n = input_numel(a);
  std::vector<float> x(n), y(n);
  Rng r1(42), r2(42), r3(43);
  train_transform(im, a, r1, x.data());
  train_transform(im, a, r2, y.data());
  EXPECT_EQ(x, y);  // same seed, same result
  train_transform(im, a, r3, y.data());
  EXPECT_NE(x, y);
  // PCA alone: a constant shift per channel of sum_i alpha_i lambda_i p_i / std.
  AugmentConfig p = a;
  p.random_crop = p.flip = false;
  p.pca_std = 1.0f;
  std::vector<float> base(n), lit(n);
  eval_transform(im, p, base.data());
  Rng r4(9);
  train_transform(im, p, r4, lit.data());
  const size_t plane = n / 3;
  for (int c = 0; c < 3; ++c) {
    const float d0 = lit[c * plane] - base[c * plane];
    EXPECT_GT(std::fabs(d0), 1e-4f);
    for (size_t k = 0; k < plane; ++k)
      ASSERT_NEAR(lit[c * plane + k] - base[c * plane + k], d0, 3e-4f);
  }
}

TEST(Stats, MeanStdAndEigen) {
  std::array<std::array<double, 3>, 3> m = {{{4, 1, 0}, {1, 3, 0}, {0, 0, 1}}}, vec;
  std::array<double, 3> val;
  symmetric_eigen3(m, val, vec);
  EXPECT_NEAR(val[0], 3.5 + std::sqrt(1.25), 1e-12);
  EXPECT_NEAR(val[1], 3.5 - std::sqrt(1.25), 1e-12);
  EXPECT_NEAR(val[2], 1.0, 1e-12);
  for (int i = 0; i < 3; ++i)
    for (int r = 0; r < 3; ++r) {  // M v = lambda v
      double mv = 0;
      for (int k = 0; k < 3; ++k) mv += m[r][k] * vec[i][k];
      EXPECT_NEAR(mv, val[i] * vec[i][r], 1e-12);
    }

  MemDataset d(40, 3, 3, {5});
  AugmentConfig a = small_config(3);
  const Stats s1 = compute_stats(d, a, 30, 1, 1), s3 = compute_stats(d, a, 30, 1, 3);
  EXPECT_EQ(s1.images + s1.skipped, 30u);
  EXPECT_EQ(std::memcmp(&s1.mean, &s3.mean, sizeof s1.mean), 0);
  EXPECT_EQ(std::memcmp(&s1.eigvec, &s3.eigvec, sizeof s1.eigvec), 0);
  for (int c = 0; c < 3; ++c) {  // uniform random bytes: mean ~0.5, std ~0.29 before resizing
    EXPECT_NEAR(s1.mean[c], 0.5, 0.05);
    EXPECT_GT(s1.std[c], 0.1);
    EXPECT_LT(s1.std[c], 0.3);
  }
  EXPECT_GE(s1.eigval[0], s1.eigval[1]);
  EXPECT_GE(s1.eigval[1], s1.eigval[2]);
  AugmentConfig b = a;
  apply_stats(s1, b);
  EXPECT_EQ(b.mean, s1.mean);
  EXPECT_NO_THROW(b.validate());
}

// ------------------------------------------------------------------------------- loader

TEST(Loader, DeterministicWhateverTheWorkersAndResumable) {
  auto d = std::make_shared<MemDataset>(103, 3, 21, std::set<size_t>{7, 50, 51});
  AugmentConfig a = small_config(3);
  LoaderConfig lc;
  lc.batch_size = 10;
  lc.seed = 1234;
  lc.workers = 1;
  lc.prefetch = 1;
  std::vector<SkippedItem> sk1, sk3;
  const auto one = all_batches(d, a, lc, 2, 0, &sk1);
  lc.workers = 3;
  lc.prefetch = 5;
  const auto three = all_batches(d, a, lc, 2, 0, &sk3);
  ASSERT_EQ(one.size(), 11u);
  ASSERT_EQ(three.size(), one.size());
  for (size_t k = 0; k < one.size(); ++k) expect_same(one[k], three[k]);
  ASSERT_EQ(sk1.size(), 3u);
  ASSERT_EQ(sk3.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(sk1[i].index, sk3[i].index);
  EXPECT_EQ(sk1[0].reason, "bad on purpose");
  size_t total = 0;
  std::set<size_t> seen;
  for (const Batch& b : one) {
    total += b.labels.size();
    seen.insert(b.indices.begin(), b.indices.end());
    for (size_t j = 0; j < b.labels.size(); ++j) EXPECT_EQ(b.labels[j], d->label(b.indices[j]));
  }
  EXPECT_EQ(total, 100u);
  EXPECT_EQ(seen.size(), 100u);

  // Resuming at batch k gives batches k, k+1, … of the full run.
  for (size_t k : {1u, 6u, 10u}) {
    const auto rest = all_batches(d, a, lc, 2, k);
    ASSERT_EQ(rest.size(), one.size() - k);
    for (size_t j = 0; j < rest.size(); ++j) expect_same(rest[j], one[k + j]);
  }
  EXPECT_TRUE(all_batches(d, a, lc, 2, 11).empty());
  EXPECT_THROW(Loader(d, a, lc, 2, 12), alexnet::Error);

  // Another epoch, another order; a stopped loader (destroyed mid-epoch) is fine.
  const auto other = all_batches(d, a, lc, 3, 0);
  EXPECT_NE(other[0].indices, one[0].indices);
  {
    Loader l(d, a, lc, 0);
    Batch b;
    ASSERT_TRUE(l.next(b));
  }
  // Evaluation: in order, no randomness, ten-crop gives 10 rows per sample.
  LoaderConfig ev;
  ev.train = false;
  ev.ten_crop = true;
  ev.batch_size = 8;
  ev.workers = 2;
  const auto e = all_batches(d, a, ev, 0);
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(e[0].indices, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6}));  // 7 skipped
  EXPECT_EQ(e[0].skipped, 1u);
  EXPECT_EQ(e[0].x.shape(), (alexnet::Shape{70, 3, 16, 16}));
  lc.ten_crop = true;
  EXPECT_THROW(Loader(d, a, lc, 0), alexnet::Error);
}
