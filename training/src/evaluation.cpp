// The evaluation of a training run (evaluation.h).
#include "evaluation.h"

#include <algorithm>
#include <cmath>

#include "alexnet/classifier.h"
#include "alexnet/error.h"
#include "cluster.h"
#include "interrupt.h"

namespace train {

using alexnet::Error;
using alexnet::Tensor;

// Loss, top-1 and top-5 error over an evaluation set, through eval_transform() (= the
// library's preprocessing) or, with ten-crop, the softmax averaged over the ten crops. In a
// distributed job each rank evaluates its shard of every batch and the sums are reduced, so
// every rank returns the whole set's figures (and, with `predictions`, every prediction).
Eval evaluate(alexnet::Runner& learner, int classes, const std::shared_ptr<const Dataset>& val,
              const AugmentConfig& aug, const Options& o, int workers, Skips& skips,
              Cluster& cluster, const std::string& what, bool predictions) {
  LoaderConfig lc;
  // Ten crops make each sample ten rows: keep the forward batch near --batch-size rows.
  lc.batch_size = static_cast<size_t>(o.ten_crop ? std::max(1, o.batch_size / 10) : o.batch_size);
  lc.workers = workers;
  lc.prefetch = static_cast<size_t>(2 * workers);
  lc.train = false;
  lc.ten_crop = o.ten_crop;
  lc.seed = o.seed;
  lc.shard = static_cast<size_t>(cluster.rank());
  lc.shards = static_cast<size_t>(cluster.size());
  Loader loader(val, aug, lc, 0, 0, [&](const SkippedItem& s) { skips.add(s); });
  const int crops = o.ten_crop ? 10 : 1;
  const int k = classes, top = std::min(5, k);
  Eval e;
  double sums[4] = {0, 0, 0, 0};  // loss, wrong top-1, wrong top-5, images
  Batch b;
  std::vector<double> p(static_cast<size_t>(k));
  while (loader.next(b)) {
    // A stop asked for by a signal may end an evaluation early: it is redone on resume. (The
    // ranks of a job agree on stopping at their next step instead.)
    if (const int sig = stop_signal(); sig && !cluster.distributed())
      throw Interrupted(sig, "during evaluation");
    if (b.labels.empty()) continue;  // nothing of this rank's shard loaded
    Tensor probs = alexnet::softmax_rows(learner.forward(b.x));  // (N·crops, K)
    for (size_t j = 0; j < b.labels.size(); ++j) {
      std::fill(p.begin(), p.end(), 0.0);
      for (int c = 0; c < crops; ++c) {
        const float* row = probs.data() + (static_cast<int64_t>(j) * crops + c) * k;
        for (int i = 0; i < k; ++i) p[static_cast<size_t>(i)] += row[i] / crops;
      }
      const int label = b.labels[j];
      // Rank of the true class = classes with a higher probability (ties: lower index first,
      // as alexnet::top_k orders them).
      int rank = 0, best = 0;
      for (int i = 0; i < k; ++i) {
        if (p[i] > p[label] || (p[i] == p[label] && i < label)) ++rank;
        if (p[i] > p[best]) best = i;
      }
      sums[1] += rank >= 1;
      sums[2] += rank >= top;
      sums[0] += -std::log(std::max(p[static_cast<size_t>(label)], 1e-30));
      e.predictions.push_back({b.indices[j], best});
    }
    sums[3] += static_cast<double>(b.labels.size());
  }
  // The shards of a long evaluation may finish minutes apart on unequal machines.
  cluster.allreduce_sum(sums, 4, "the " + what + " sums", 20);
  e.images = static_cast<size_t>(sums[3]);
  if (e.images == 0) throw Error("no " + what + " image could be read");
  e.loss = sums[0] / e.images;
  e.top1_error = sums[1] / e.images;
  e.top5_error = sums[2] / e.images;
  if (predictions && cluster.size() > 1) {  // every rank's (index, class) pairs, in rank order
    const int64_t mine = static_cast<int64_t>(e.predictions.size());
    const std::vector<int64_t> counts = cluster.allgather(&mine, 1, "the " + what + " predictions");
    const int64_t most = *std::max_element(counts.begin(), counts.end());
    std::vector<int64_t> flat(static_cast<size_t>(2 * most), -1);
    for (size_t i = 0; i < e.predictions.size(); ++i) {
      flat[2 * i] = static_cast<int64_t>(e.predictions[i].first);
      flat[2 * i + 1] = e.predictions[i].second;
    }
    const std::vector<int64_t> all =
        cluster.allgather(flat.data(), flat.size(), "the " + what + " predictions");
    e.predictions.clear();
    for (size_t r = 0; r < counts.size(); ++r)
      for (int64_t i = 0; i < counts[r]; ++i) {
        const size_t at = r * flat.size() + 2 * static_cast<size_t>(i);
        e.predictions.push_back({static_cast<size_t>(all[at]), static_cast<int>(all[at + 1])});
      }
    std::sort(e.predictions.begin(), e.predictions.end());  // dataset order, as one process
  }
  return e;
}

}  // namespace train
