// What a training run evaluates and what it skips: the evaluation over a data set (split
// between the ranks of a distributed job and reduced), and the list of images that could not
// be read (<run-dir>/skipped.txt). Used by trainer.cpp.
#pragma once

#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "alexnet/runner.h"
#include "augment.h"
#include "dataset.h"
#include "loader.h"
#include "metrics.h"
#include "trainer.h"

namespace train {

class Cluster;

// Names skipped items: the first few in the log, all of them in <run-dir>/skipped.txt.
class Skips {
 public:
  // Rank 0 of a distributed job (or the only process) keeps the list; the other ranks hand
  // theirs to it at each epoch's end (take_new / merge).
  Skips(Log& log, std::string path, bool keeper, std::string who)
      : log_(log), path_(std::move(path)), keeper_(keeper), who_(std::move(who)) {
    if (!keeper_) return;
    std::ifstream in(path_);  // a resumed run keeps what its earlier part found
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && seen_.insert(line.substr(0, line.find('\t'))).second)
        lines_.push_back(line);
  }
  void add(const SkippedItem& s) {
    ++count_;
    if (!seen_.insert(s.name).second) return;
    lines_.push_back(s.name + "\t" + s.reason);
    if (!keeper_) return;  // rank 0 logs it when it gets it (gather_skips)
    if (lines_.size() <= kShown)
      log_.line("skipped " + s.name + ": " + s.reason);
    else if (lines_.size() == kShown + 1)
      log_.line("skipped more images; all are listed in " + path_);
    dirty_ = true;
  }
  void write() {
    if (!dirty_ || !keeper_) return;
    std::string text;
    for (const auto& l : lines_) text += l + "\n";
    write_text_atomic(path_, text);
    dirty_ = false;
  }
  size_t distinct() const { return lines_.size(); }
  // Distributed: the lines this rank found since the last call ("NAME\tREASON\n" each), and
  // rank 0 taking in another rank's.
  std::string take_new() {
    std::string text;
    for (size_t i = sent_; i < lines_.size(); ++i) text += lines_[i] + "\n";
    sent_ = lines_.size();
    return text;
  }
  void merge(const std::string& text) {
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end - start);
      start = end == std::string::npos ? text.size() : end + 1;
      const size_t tab = line.find('\t');
      if (tab == std::string::npos) continue;
      add({0, line.substr(0, tab), line.substr(tab + 1)});
    }
  }

 private:
  static constexpr size_t kShown = 5;
  Log& log_;
  std::string path_;
  bool keeper_ = true;
  std::string who_;
  std::set<std::string> seen_;
  std::vector<std::string> lines_;
  size_t sent_ = 0;  // lines already handed to rank 0 (take_new)
  uint64_t count_ = 0;
  bool dirty_ = false;
};

struct Eval {
  double loss = 0, top1_error = 1, top5_error = 1;
  size_t images = 0;
  std::vector<std::pair<size_t, int>> predictions;  // (val index, predicted class)
};

// Loss, top-1 and top-5 error over an evaluation set, through eval_transform() (= the
// library's preprocessing) or, with ten-crop, the softmax averaged over the ten crops. In a
// distributed job each rank evaluates its shard of every batch and the sums are reduced, so
// every rank returns the whole set's figures (and, with `predictions`, every prediction).
Eval evaluate(alexnet::Runner& learner, int classes, const std::shared_ptr<const Dataset>& val,
              const AugmentConfig& aug, const Options& o, int workers, Skips& skips,
              Cluster& cluster, const std::string& what, bool predictions = false);

}  // namespace train
