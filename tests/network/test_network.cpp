// The whole network: the oneDNN backend agrees with the reference end to end (forward,
// gradients, an SGD step), training reduces the loss, and the Classifier's workers agree.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "../reference/test_util.h"
#include "alexnet/backend.h"
#include "alexnet/classifier.h"
#include "alexnet/error.h"
#include "alexnet/network.h"
#include "alexnet/weights.h"

using namespace alexnet;

namespace {

using testutil::max_abs;
using testutil::max_diff;
using testutil::random_input;

std::unique_ptr<Network> make_net(const Model& m, const char* backend) {
  auto net = std::make_unique<Network>(m.config, make_backend(backend, 0));
  net->load(m);
  return net;
}

}  // namespace

// Forward of full-size networks: relative to the largest logit, as every fast-path test.
TEST(Network, CpuForwardMatchesReferenceOnFullConfigs) {
  for (const char* name : {"torchvision", "paper"}) {
    Model m = random_model(NetConfig::by_name(name, 1000), 42);
    Tensor x = random_input(m.config, 2, 7);
    Tensor ref = make_net(m, "reference")->forward(x);
    Tensor cpu = make_net(m, "cpu")->forward(x);
    const float tol = 1e-4f * max_abs(ref);
    EXPECT_LE(max_diff(ref, cpu), tol) << name << ": max|ref| = " << max_abs(ref);
  }
}

// A training forward of the small configs, dropout on (same seeds, same masks): the loss and
// the logits. Not the gradients: whole-network gradients of two float backends can differ by
// O(dy) and both be right, where a ReLU input or two max-pool candidates lie within rounding
// of a tie and the backends take different branches (issue 12: this test compared them, and
// failed at AVX-512 on a pool2 window whose top two values differ by 6e-7). The gradients
// are held layer by layer on the cpu's own tensors (test_chain.cpp), and end to end against
// torch float64 following each backend's branches (test_gradients_torch.py, suite slow).
TEST(Network, CpuTrainingForwardMatchesReference) {
  for (const char* name : {"small-28", "small-32"}) {
    Model m = random_model(NetConfig::by_name(name, 10), 3);
    Tensor x = random_input(m.config, 4, 11);
    std::vector<int> labels{1, 7, 3, 1};
    auto ref = make_net(m, "reference");
    auto cpu = make_net(m, "cpu");
    ref->set_seed(5);
    cpu->set_seed(5);
    Tensor logits_r, logits_c;
    float lr = ref->forward_backward(x, labels, &logits_r);
    float lc = cpu->forward_backward(x, labels, &logits_c);
    EXPECT_NEAR(lr, lc, 1e-5f * std::fabs(lr)) << name;
    EXPECT_LE(max_diff(logits_r, logits_c), 1e-5f * max_abs(logits_r)) << name;
  }
}

// Backward + SGD together: a small network fits a small synthetic problem (loss / 10).
TEST(Network, LearnsASyntheticProblem) {
  NetConfig cfg = NetConfig::by_name("small-28", 4);
  Model m = random_model(cfg, 1);
  Network net(cfg, make_backend("cpu", 0));
  net.load(m);
  net.set_seed(9);
  // 4 classes: a bright square in one of the four quadrants, on noise.
  const int n = 32;
  Tensor x({n, 1, 28, 28});
  std::vector<int> labels(n);
  std::mt19937_64 rng(2);
  std::normal_distribution<float> noise(0.f, 0.3f);
  for (int i = 0; i < n; ++i) {
    labels[static_cast<size_t>(i)] = i % 4;
    float* img = x.data() + i * 28 * 28;
    for (int p = 0; p < 28 * 28; ++p) img[p] = noise(rng);
    int oy = (i % 4) / 2 * 14 + 3, ox = (i % 4) % 2 * 14 + 3;
    for (int y = oy; y < oy + 8; ++y)
      for (int xx = ox; xx < ox + 8; ++xx) img[y * 28 + xx] += 2.f;
  }
  float first = net.forward_backward(x, labels);
  float last = first;
  for (int step = 0; step < 150 && last > first / 20; ++step) {
    net.sgd_step(0.01f, 0.9f, 5e-4f);
    last = net.forward_backward(x, labels);
  }
  EXPECT_LT(last, first / 10) << "first loss " << first << ", last " << last;
}

TEST(Network, RejectsWrongInputShape) {
  Model m = random_model(NetConfig::by_name("small-28", 10), 1);
  auto net = make_net(m, "cpu");
  try {
    net->forward(Tensor({1, 3, 28, 28}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected (N, 1, 28, 28)"), std::string::npos) << e.what();
  }
  std::vector<int> labels{0, 1};
  EXPECT_THROW(net->forward_backward(Tensor({1, 1, 28, 28}), labels), Error);
  std::vector<int> out_of_range{10};
  EXPECT_THROW(net->forward_backward(Tensor({1, 1, 28, 28}), out_of_range), Error);
}

TEST(Classifier, TwoCpuWorkersAgreeWithOneAndKeepOrder) {
  Model m = random_model(NetConfig::by_name("small-32", 10), 5);
  Classifier one(m, {"cpu", 2});
  Classifier two(m, {"cpu,cpu", 2});
  EXPECT_EQ(two.workers(), 2);
  EXPECT_EQ(two.describe(), "cpu,cpu (1+1 CPU threads)");
  Tensor x = random_input(m.config, 7, 3);
  Tensor a = one.logits(x), b = two.logits(x);
  EXPECT_LE(max_diff(a, b), 1e-5f * max_abs(a));
  // Each worker alone gives the same rows as the split batch.
  Tensor w1 = two.logits_on(x, 1);
  EXPECT_LE(max_diff(a, w1), 1e-5f * max_abs(a));
  EXPECT_THROW(two.logits_on(x, 2), Error);
}

TEST(Classifier, FramesGoThroughPreprocessing) {
  Model m = random_model(NetConfig::by_name("small-32", 10), 5);
  m.preprocess.resize = 36;
  Classifier clf(m, {"cpu", 1});
  std::vector<uint8_t> pixels(40 * 50 * 3);
  std::mt19937 rng(1);
  for (auto& p : pixels) p = static_cast<uint8_t>(rng());
  Frame f = make_packed_frame(PixelFormat::RGB, 50, 40, pixels.data());
  std::vector<Frame> frames{f, f, f};
  auto r = clf.classify_parallel(frames, 3);
  ASSERT_EQ(r.size(), 3u);
  Tensor input = clf.preprocess_frames(frames);
  Tensor probs = clf.probabilities(input);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(r[i].size(), 3u);
    EXPECT_EQ(r[i][0].index, r[0][0].index);
    EXPECT_NEAR(r[i][0].probability, probs.data()[i * 10 + static_cast<size_t>(r[i][0].index)],
                1e-6);
    EXPECT_GE(r[i][0].probability, r[i][1].probability);
  }
  EXPECT_THROW(Classifier(m, {"gpu:0", 1}), Error);
  EXPECT_THROW(Classifier(m, {"bogus", 1}), Error);
}
