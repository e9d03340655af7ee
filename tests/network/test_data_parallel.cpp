// DataParallel on CPU replicas (cpu,cpu): the same training as one device within float
// rounding (dropout off: with dropout each replica draws its own masks, by design), replicas
// that stay bit-identical, uneven and tiny batches, and errors. The GPU lists (gpu:0,gpu:0)
// are tested in tests/gpu.
//
// Tolerance: weights after 4 steps within 1e-5 of max|w| — the only differences are the
// gradient sums' order (two half-batch means combined in double vs one batch mean).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>

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
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  cfg.dropout = 0;
  Model m = random_model(cfg, 4);
  for (int64_t n : {8, 7}) {  // even and uneven splits
    SCOPED_TRACE("batch " + std::to_string(n));
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
