// Training data sets for alexnet-train: ImageNet-style image folders, MNIST/Fashion-MNIST idx
// files (gzipped or not) and CIFAR-10 binary batches, behind one small interface.
//
// Everything read here is untrusted: every error is an alexnet::Error whose message names the
// file and the problem, and headers are validated against the file length before any buffer
// sized from them is allocated.
//
// Which files are opened:
//   idx     `path` is a folder holding `train-images-idx3-ubyte[.gz]` +
//           `train-labels-idx1-ubyte[.gz]` (train_split = true) or `t10k-images-idx3-ubyte[.gz]`
//           + `t10k-labels-idx1-ubyte[.gz]` (false); or `path` is an images file
//           `PREFIX-images[-.]idx3-ubyte[.gz]`, paired with `PREFIX-labels[-.]idx1-ubyte[.gz]`
//           in the same folder (train_split is then ignored). The whole decompressed set is
//           read into memory at open (Fashion-MNIST train: 47 MB).
//           Class names: Fashion-MNIST's ten names when the path (any component,
//           case-insensitive) contains "fashion"; otherwise "0".."9" (MNIST).
//   cifar10 `path` is a folder holding `data_batch_1.bin`..`data_batch_5.bin` (train_split =
//           true; the ones present, at least one) or `test_batch.bin` (false), possibly in a
//           `cifar-10-batches-bin` subfolder; or one `.bin` file. Records are 3073 bytes
//           (label, 1024 R, 1024 G, 1024 B). Names from `batches.meta.txt` beside the batches
//           when present, else CIFAR-10's ten names.
//   folder  `path` is `DIR/<class>/*.{jpg,jpeg,png}` (extension case-insensitive); classes are
//           the sorted subfolder names, files sorted by name within each class. Only the
//           list is made at open; images are decoded (OpenCV) by load().
//   auto    idx when the folder/file has idx names, cifar10 when it has the batch names,
//           else folder.
// labels_file ("" = none), one entry per line, '#' lines and blank lines ignored:
//   folder      "FOLDER readable name" (first whitespace-separated token = subfolder name);
//               a subfolder without an entry keeps its folder name as its class name.
//   idx/cifar10 one class name per line, in label order; the count must equal the classes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace train {

// One decoded image: 8-bit, interleaved HWC; RGB order when channels == 3, grey when 1.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels bytes
};

// A labelled set of images. Thread-safe for concurrent const calls (the loader's workers call
// load() in parallel).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Channels of every decoded image: 1 (idx) or 3 (cifar10, folders: grey/RGBA/CMYK/16-bit
  // images are converted to 8-bit RGB).
  virtual int channels() const = 0;
  // Label of sample i, in [0, class_names().size()). Known without decoding.
  virtual int label(size_t i) const = 0;
  // Readable class names, index = label.
  virtual const std::vector<std::string>& class_names() const = 0;
  // Names sample i in messages and the skipped-files list: the image path, or
  // "…/train-images-idx3-ubyte.gz#123", "…/data_batch_1.bin#5".
  virtual std::string item_name(size_t i) const = 0;
  // What was opened, for provenance: "idx:/usr/share/datasets/fashion-mnist (train)" etc.
  virtual std::string source() const = 0;
  // Decodes sample i into `out` (reusing its buffer). Returns false and sets *why (when not
  // null) for an item that cannot be used: corrupt, truncated, zero-byte, unreadable, or
  // larger than the pixel limit ("too large (W x H)"); the caller skips it. Only folder
  // items can fail; idx/cifar10 items never fail after open. Never throws for a bad item.
  virtual bool load(size_t i, Image& out, std::string* why) const = 0;
};

// Images with more pixels than this are refused from their header, before decoding.
constexpr int64_t kMaxImagePixels = 64LL * 1000 * 1000;

// Opens a data set (see the top of this file). format: "auto" | "folder" | "idx" | "cifar10".
// Throws alexnet::Error naming the file and the problem: missing files, bad headers, label out
// of range, no classes, a class folder with no images at all, unknown format.
std::shared_ptr<Dataset> open_dataset(const std::string& path, const std::string& format,
                                      bool train_split, const std::string& labels_file);

// The samples `indices` of `base`, renumbered 0..indices.size()-1 (labels, names and class
// names come from base). Throws alexnet::Error when an index is out of range.
std::shared_ptr<Dataset> subset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices);

// The seeded train/validation split of --val-split: a permutation of 0..n-1 from `seed`; the
// first round(n * val_fraction) go to validation. Both lists are returned sorted ascending
// (train, val). val_fraction in [0, 1); throws alexnet::Error otherwise.
std::pair<std::vector<size_t>, std::vector<size_t>> split_indices(size_t n, double val_fraction,
                                                                  uint64_t seed);

}  // namespace train
