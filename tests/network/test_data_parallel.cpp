// DataParallel on CPU replicas (cpu,cpu): the same training as one device within float
// rounding, dropout off and on (the replicas draw one device's masks: set_batch_offset),
// replicas that stay bit-identical, slices of a batch (distributed training's ranks), uneven
// and tiny batches, and errors. The GPU lists (gpu:0,gpu:0)
// are tested in tests/gpu.
//
// Tolerance: weights after 4 steps within 1e-5 of max|w| — the only differences are the
// gradient sums' order (two half-batch means combined in double vs one batch mean).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "../reference/test_util.h"
#include "alexnet/data_parallel.h"
#include "alexnet/error.h"
#include "alexnet/weights.h"

using namespace alexnet;

namespace {

using testutil::labels_for;
using testutil::random_input;
using testutil::rel_diff;

}  // namespace

TEST(DataParallel, TwoCpuReplicasTrainLikeOneDevice) {
  for (double dropout : {0.0, 0.5})
    for (int64_t n : {8, 7}) {  // even and uneven splits
      NetConfig cfg = NetConfig::by_name("small-28", 10);
      cfg.dropout = dropout;
      Model m = random_model(cfg, 4);
      SCOPED_TRACE("batch " + std::to_string(n) + ", dropout " + std::to_string(dropout));
      DataParallel one(cfg, parse_devices("cpu"), 2);
      DataParallel two(cfg, parse_devices("cpu,cpu"), 2);
      one.load(m);
      two.load(m);
      EXPECT_EQ(two.replicas(), 2u);
      for (int step = 0; step < 4; ++step) {
        Tensor x = random_input(cfg, n, 50 + step);
        auto labels = labels_for(n, 10, step);
        Tensor l1, l2;
        float a = one.forward_backward(x, labels, &l1);
        float b = two.forward_backward(x, labels, &l2);
        EXPECT_NEAR(b, a, 1e-5 * std::max(1.f, std::fabs(a))) << "loss at step " << step;
        EXPECT_LE(rel_diff(l2, l1), 1e-5) << "logits at step " << step;
        one.sgd_step(0.05f, 0.9f, 5e-4f);
        two.sgd_step(0.05f, 0.9f, 5e-4f);
      }
      auto w1 = one.get_params();
      auto w2 = two.get_params();
      auto w2b = two.replica(1).get_params();
      for (size_t p = 0; p < w1.size(); ++p) {
        EXPECT_LE(rel_diff(w2[p].value, w1[p].value), 1e-5) << w1[p].name;
        for (int64_t i = 0; i < w2[p].value.numel(); ++i)
          ASSERT_EQ(w2[p].value.data()[i], w2b[p].value.data()[i])
              << "replicas diverged: " << w1[p].name << " at " << i;
      }
    }
}

// Distributed training's contract: two runners each given half of a batch (the second told
// its rows start at row 4) and their gradients combined n_r / N through the exchange hook
// train like one runner on the whole batch, dropout on. The hook is a two-party all-reduce
// between two threads: what training/src/distributed.cpp does over MPI between processes.
namespace {
class TwoPartyAllreduce {
 public:
  // Party `who`'s gradients (a mean over its rows) times `weight`, summed with the other's.
  void operator()(int who, float weight, Backend* backend, std::span<Tensor* const> grads) {
    std::vector<Tensor> mine;
    for (Tensor* g : grads) {
      Tensor h = backend ? backend->to_host(*g) : g->clone();
      for (int64_t i = 0; i < h.numel(); ++i) h.data()[i] *= weight;
      mine.push_back(std::move(h));
    }
    std::unique_lock<std::mutex> lock(mu_);
    parts_[who] = std::move(mine);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return arrived_ >= 2; });
    const std::vector<Tensor>& other = parts_[1 - who];
    for (size_t p = 0; p < grads.size(); ++p) {
      Tensor sum = parts_[who][p].clone();
      for (int64_t i = 0; i < sum.numel(); ++i) sum.data()[i] += other[p].data()[i];
      if (backend)
        backend->upload(sum, *grads[p]);
      else
        std::copy(sum.data(), sum.data() + sum.numel(), grads[p]->data());
    }
    if (++left_ == 2) arrived_ = left_ = 0;  // the next step's round
    cv_.notify_all();
    cv_.wait(lock, [&] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Tensor> parts_[2];
  int arrived_ = 0, left_ = 0;
};
}  // namespace

TEST(DataParallel, TwoSlicesWithTheirOffsetsTrainLikeTheWholeBatch) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  cfg.dropout = 0.5;
  Model m = random_model(cfg, 8);
  Network whole(cfg, make_backend(parse_devices("cpu")[0], 1));
  Network a(cfg, make_backend(parse_devices("cpu")[0], 1));
  DataParallel b(cfg, parse_devices("cpu,cpu"), 2);  // a data-parallel "rank"
  for (Runner* r : std::initializer_list<Runner*>{&whole, &a, &b}) {
    r->load(m);
    r->set_seed(99);
  }
  TwoPartyAllreduce allreduce;
  a.set_gradient_exchange(
      [&](Backend* be, std::span<Tensor* const> g) { allreduce(0, 0.5f, be, g); });
  b.set_gradient_exchange(
      [&](Backend* be, std::span<Tensor* const> g) { allreduce(1, 0.5f, be, g); });
  b.set_batch_offset(4);
  const int64_t N = 8;
  for (int step = 0; step < 3; ++step) {
    Tensor x = random_input(cfg, N, 70 + step);
    auto labels = labels_for(N, 10, step);
    Tensor lw, la, lb;
    whole.forward_backward(x, labels, &lw);
    std::thread ta([&] {
      a.forward_backward(copy_rows(x, 0, 4), std::span<const int>(labels).subspan(0, 4), &la);
    });
    std::thread tb([&] {
      b.forward_backward(copy_rows(x, 4, 8), std::span<const int>(labels).subspan(4, 4), &lb);
    });
    ta.join();
    tb.join();
    // The same masks: the same logits, within float rounding (relative to the largest).
    EXPECT_LE(rel_diff(la, copy_rows(lw, 0, 4)), 1e-5) << "rows 0-3, step " << step;
    EXPECT_LE(rel_diff(lb, copy_rows(lw, 4, 8)), 1e-5) << "rows 4-7, step " << step;
    for (Runner* r : std::initializer_list<Runner*>{&whole, &a, &b})
      r->sgd_step(0.05f, 0.9f, 5e-4f);
  }
  auto ww = whole.get_params(), wa = a.get_params(), wb = b.get_params();
  for (size_t p = 0; p < ww.size(); ++p) {
    EXPECT_LE(rel_diff(wa[p].value, ww[p].value), 1e-5) << ww[p].name;
    EXPECT_LE(rel_diff(wb[p].value, ww[p].value), 1e-5) << ww[p].name;
  }
  // Without the offsets the second half draws the first half's masks: the test can fail.
  Network c(cfg, make_backend(parse_devices("cpu")[0], 1));
  c.load(m);
  c.set_seed(99);
  Tensor x = random_input(cfg, N, 70);
  Network w2(cfg, make_backend(parse_devices("cpu")[0], 1));
  w2.load(m);
  w2.set_seed(99);
  Tensor full, part;
  auto labels = labels_for(N, 10, 0);
  w2.forward_backward(x, labels, &full);
  c.forward_backward(copy_rows(x, 4, 8), std::span<const int>(labels).subspan(4, 4), &part);
  double worst = 0;
  for (int64_t i = 0; i < 40; ++i)
    worst = std::max(worst, double(std::fabs(part.data()[i] - full.data()[40 + i])));
  EXPECT_GT(worst, 1e-3) << "rows 4-7 without their offset drew the same masks";
}

TEST(DataParallel, BatchSmallerThanTheReplicaCount) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  Model m = random_model(cfg, 5);
  DataParallel three(cfg, parse_devices("cpu,cpu,cpu"), 3);
  three.load(m);
  Tensor x = random_input(cfg, 2, 9);
  float loss = three.forward_backward(x, labels_for(2, 10, 0));
  EXPECT_TRUE(std::isfinite(loss));
  three.sgd_step(0.01f, 0.9f, 5e-4f);
  auto a = three.replica(0).get_params(), c = three.replica(2).get_params();
  for (size_t p = 0; p < a.size(); ++p)
    for (int64_t i = 0; i < a[p].value.numel(); ++i)
      ASSERT_EQ(a[p].value.data()[i], c[p].value.data()[i]) << a[p].name;
}

TEST(DataParallel, ErrorsNameTheProblem) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  DataParallel two(cfg, parse_devices("cpu,cpu"), 2);
  Tensor x = random_input(cfg, 4, 1);
  EXPECT_THROW(two.forward_backward(x, labels_for(3, 10, 0)), Error);
  std::vector<int> bad{0, 1, 2, 99};
  EXPECT_THROW(two.forward_backward(x, bad), Error);
  EXPECT_THROW(DataParallel(cfg, {}, 1), Error);
  // The testing switch ALEXNET_CPU_BACKEND takes onednn or reference, nothing else.
  const char* was = std::getenv("ALEXNET_CPU_BACKEND");
  const std::string saved = was ? was : "";
  ::setenv("ALEXNET_CPU_BACKEND", "fast", 1);
  try {
    DataParallel bad(cfg, parse_devices("cpu"), 1);
    ADD_FAILURE() << "ALEXNET_CPU_BACKEND=fast was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ALEXNET_CPU_BACKEND=\"fast\""), std::string::npos)
        << e.what();
  }
  if (was)
    ::setenv("ALEXNET_CPU_BACKEND", saved.c_str(), 1);
  else
    ::unsetenv("ALEXNET_CPU_BACKEND");
}

// A replica that stops responding (ALEXNET_DEBUG_STALL: replica 1 sleeps from step 2 on)
// ends the step with an error naming it after ALEXNET_DEVICE_TIMEOUT_S (10x a normal step, at
// least 0.5 s), not a hang; the
// runner then refuses further work, and its destructor does not wait for the stalled thread.
// A timeout that is not a number is an error naming the variable.
TEST(DataParallel, AStalledReplicaEndsTheStepWithinTheTimeout) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  Tensor x = random_input(cfg, 4, 1);
  const auto labels = labels_for(4, 10, 0);
  ::setenv("ALEXNET_DEVICE_TIMEOUT_S", "soon", 1);
  {
    DataParallel two(cfg, parse_devices("cpu,cpu"), 2);
    try {
      two.forward_backward(x, labels);
      ADD_FAILURE() << "a timeout of \"soon\" was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("ALEXNET_DEVICE_TIMEOUT_S=\"soon\""), std::string::npos)
          << e.what();
    }
  }
  ::unsetenv("ALEXNET_DEVICE_TIMEOUT_S");
  ::setenv("ALEXNET_DEBUG_STALL", "1:2", 1);
  double timeout = 0;
  std::chrono::steady_clock::time_point start;
  {
    DataParallel two(cfg, parse_devices("cpu,cpu"), 2);
    const auto t0 = std::chrono::steady_clock::now();
    two.forward_backward(x, labels);  // step 1: both answer
    two.sgd_step(0.01f, 0.9f, 0.f);
    // A timeout well above a normal step (sanitizer builds and the reference backend are
    // slow), so that only the stalled replica can miss it.
    timeout = std::max(
        0.5, 10 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    ::setenv("ALEXNET_DEVICE_TIMEOUT_S", std::to_string(timeout).c_str(), 1);
    start = std::chrono::steady_clock::now();
    try {
      two.forward_backward(x, labels);
      ADD_FAILURE() << "the stalled replica was not noticed";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("replica 1 (cpu) did not finish"), std::string::npos) << what;
      EXPECT_NE(what.find(" s (ALEXNET_DEVICE_TIMEOUT_S)"), std::string::npos) << what;
    }
    EXPECT_THROW(two.sgd_step(0.01f, 0.9f, 0.f), Error);  // refused: replica 1 stalled
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(took, timeout + 30.0) << "the stall was not bounded by the timeout (" << timeout
                                  << " s)";
  ::unsetenv("ALEXNET_DEBUG_STALL");
  ::unsetenv("ALEXNET_DEVICE_TIMEOUT_S");
}
