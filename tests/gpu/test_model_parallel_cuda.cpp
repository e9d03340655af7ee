// ModelParallel on GPUs: gpu:0,gpu:0 (two backends on one GPU: the exchanges are same-GPU
// copies) and, with two GPUs, gpu:0,gpu:1 (peer copies) against one GPU. Skips without a GPU,
// saying why. The same plan on CPUs is tested in tests/network/test_model_parallel.cpp.
//
// Tolerances (relative to max|expected|): logits and gradients 1e-4 — cuDNN picks other
// algorithms for half-width layers, and conv3/fc input gradients are sums of two halves;
// weights after 3 SGD steps 5e-4 (as DataParallel's gpu:0,gpu:0 test: momentum carries the
// ~1e-6 gradient differences through the steps).
#include <gtest/gtest.h>

#include <cmath>

#include "../reference/test_util.h"
#include "alexnet/classifier.h"
#include "alexnet/error.h"
#include "alexnet/model_parallel.h"
#include "alexnet/weights.h"

using namespace alexnet;

namespace {

#define REQUIRE_GPUS(n)                                                             \
  do {                                                                              \
    if (gpu_count() == 0) GTEST_SKIP() << "no GPU: " << gpu_unavailable_reason();   \
    if (gpu_count() < (n))                                                          \
      GTEST_SKIP() << "needs " << (n) << " GPUs; this machine has " << gpu_count(); \
  } while (0)

using testutil::grad_of;
using testutil::random_input;
using testutil::rel_diff;

// Three training steps (dropout on: model parallelism draws one device's masks) on one GPU
// and split over `devices`: loss, logits, every gradient, and the weights after.
void expect_trains_like_one_gpu(const std::string& devices) {
  NetConfig cfg = NetConfig::by_name("small-32", 7);  // groups 2, LRN, uneven fc8 split
  Model m = random_model(cfg, 12);
  Network one(cfg, make_cuda_backend(0));
  ModelParallel two(cfg, parse_devices(devices), 0);
  one.load(m);
  two.load(m);
  one.set_seed(3);
  two.set_seed(3);
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    Tensor x = random_input(cfg, 9, 40 + step);
    std::vector<int> labels;
    for (int i = 0; i < 9; ++i) labels.push_back((i * 3 + step) % 7);
    Tensor l1, l2;
    const float a = one.forward_backward(x, labels, &l1);
    const float b = two.forward_backward(x, labels, &l2);
    EXPECT_NEAR(b, a, 1e-4 * std::max(1.f, std::fabs(a)));
    EXPECT_LE(rel_diff(l2, l1), 1e-4);
    for (const ParamInfo& p : param_infos(cfg))
      EXPECT_LE(rel_diff(two.grad(p.name), grad_of(one, p.name)), 1e-4) << p.name;
    one.sgd_step(0.05f, 0.9f, 5e-4f);
    two.sgd_step(0.05f, 0.9f, 5e-4f);
  }
  auto w1 = one.get_params(), w2 = two.get_params();
  for (size_t i = 0; i < w1.size(); ++i)
    EXPECT_LE(rel_diff(w2[i].value, w1[i].value), 5e-4) << w1[i].name;
}

}  // namespace

TEST(CudaModelParallel, OneGpuTwiceTrainsLikeOneGpu) {
  REQUIRE_GPUS(1);
  expect_trains_like_one_gpu("gpu:0,gpu:0");
}

TEST(CudaModelParallel, TwoGpusTrainLikeOneGpu) {
  REQUIRE_GPUS(2);
  expect_trains_like_one_gpu("gpu:0,gpu:1");
}

// The paper's network at full size through the Classifier (what parallel=model in the
// element and alexnet-classify runs): the same logits as one GPU.
TEST(CudaModelParallel, PaperNetworkClassifierMatchesOneGpu) {
  REQUIRE_GPUS(1);
  Model m = random_model(NetConfig::paper(1000), 5);
  Tensor x = random_input(m.config, 4, 9);
  ClassifierOptions one_opts{"gpu:0", 0};
  ClassifierOptions two_opts{"gpu:0,gpu:0", 0};
  two_opts.parallel = Parallel::Model;
  Classifier one(m, one_opts);
  Classifier two(m, two_opts);
  EXPECT_EQ(two.workers(), 1);
  EXPECT_NE(two.describe().find("model-parallel"), std::string::npos) << two.describe();
  EXPECT_LE(rel_diff(two.logits(x), one.logits(x)), 1e-4);
}

TEST(CudaModelParallel, HalfPrecisionIsRefusedWithTheReason) {
  REQUIRE_GPUS(1);
  NetConfig cfg = NetConfig::by_name("small-32", 10);
  try {
    ModelParallel mp(cfg, parse_devices("gpu:0,gpu:0"), 0, Precision::F16);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp32 only"), std::string::npos) << e.what();
  }
}

// Backend::add_channels between two CUDA backends (same GPU here) and from a CPU tensor,
// against the host loop.
TEST(CudaModelParallel, AddChannelsMatchesHost) {
  REQUIRE_GPUS(1);
  auto a = make_cuda_backend(0), b = make_cuda_backend(0), cpu = make_reference_backend();
  testutil::Rng rng(3);
  Tensor src = testutil::random_tensor({3, 5, 4, 2}, rng),
         dst0 = testutil::random_tensor({3, 6, 4, 2}, rng);
  Tensor want = dst0.clone();
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 8; ++i)
        want.data()[(n * 6 + 2 + c) * 8 + i] += src.data()[(n * 5 + 1 + c) * 8 + i];
  Tensor dst = b->from_host(dst0);
  b->add_channels(a->from_host(src), *a, 1, dst, 2, 3);
  EXPECT_EQ(rel_diff(b->to_host(dst), want), 0.0);
  Tensor dst2 = b->from_host(dst0);
  b->add_channels(src, *cpu, 1, dst2, 2, 3);
  EXPECT_EQ(rel_diff(b->to_host(dst2), want), 0.0);
}
