// Reference ops on tiny inputs whose results are worked out by hand in the comments, the
// dropout mask's statistics and determinism, and the errors the ops must raise.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/error.h"
#include "core/dropout_mask.h"
#include "test_util.h"

namespace {

using namespace testutil;
using alexnet::Error;

std::unique_ptr<alexnet::Backend> backend() {
  return alexnet::make_reference_backend();
}

void expect_values(const Tensor& t, const std::vector<float>& want, float tol = 1e-6f) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(t.data()[i], want[i], tol) << "element " << i;
}

// An expectation that `f` throws alexnet::Error whose message contains `part`.
template <class F>
void expect_error(F f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(KnownValues, ConvPaddingStride) {
  // x = [[1 2 3] [4 5 6] [7 8 9]], w = [[1 2] [3 4]], b = -10, pad 1, stride 2 -> 2x2:
  //   (0,0): only x00 under w11:               4*1           = 4   -> -6
  //   (0,1): x01 under w10, x02 under w11:     3*2 + 4*3     = 18  -> 8
  //   (1,0): x10 under w01, x20 under w11:     2*4 + 4*7     = 36  -> 26
  //   (1,1): x11 x12 x21 x22 under w00..w11:   5 + 12 + 24 + 36 = 77 -> 67
  Tensor x = make_tensor({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = make_tensor({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor b = make_tensor({1}, {-10});
  OpParams p;
  p.weight = &w;
  p.bias = &b;
  auto conv = backend()->make_op(conv_spec(1, 1, 2, 2, 1, 1, false));
  expect_values(conv->forward(x, p, false), {-6, 8, 26, 67});
  auto conv_relu = backend()->make_op(conv_spec(1, 1, 2, 2, 1, 1, true));
  expect_values(conv_relu->forward(x, p, false), {0, 8, 26, 67});
}

TEST(KnownValues, ConvGroups) {
  // groups = 2 with 1x1 kernels: each output channel sees only its own input channel.
  // x = [2, 3], w = [10, 100], b = [1, -1] -> y = [2*10 + 1, 3*100 - 1].
  Tensor x = make_tensor({1, 2, 1, 1}, {2, 3});
  Tensor w = make_tensor({2, 1, 1, 1}, {10, 100});
  Tensor b = make_tensor({2}, {1, -1});
  OpParams p;
  p.weight = &w;
  p.bias = &b;
  auto conv = backend()->make_op(conv_spec(2, 2, 1, 1, 0, 2, false));
  expect_values(conv->forward(x, p, false), {21, 299});
}

TEST(KnownValues, Lrn1x3) {
  // x = [1, 2, 3], n = 3, alpha = 0.1 (effective), beta = 0.75, k = 2. Windows clip:
  //   c0: {0,1}   s = 2 + 0.1 * (1 + 4)     = 2.5 -> 1 / 2.5^0.75 = 0.50297337
  //   c1: {0,1,2} s = 2 + 0.1 * (1 + 4 + 9) = 3.4 -> 2 / 3.4^0.75 = 0.79876828
  //   c2: {1,2}   s = 2 + 0.1 * (4 + 9)     = 3.3 -> 3 / 3.3^0.75 = 1.22528128
  Tensor x = make_tensor({1, 3, 1, 1}, {1, 2, 3});
  std::vector<float> want{0.50297337f, 0.79876828f, 1.22528128f};
  auto lrn = backend()->make_op(lrn_spec(3, 0.1, 0.75, 2.0));
  expect_values(lrn->forward(x, {}, false), want);
  // The Caffe/torch convention alpha/n reaches the op already divided: 0.3 / 3 = 0.1.
  alexnet::LrnConfig cfg{true, 3, 0.3, 0.75, 2.0, alexnet::LrnAlpha::DividedByN};
  auto lrn2 = backend()->make_op(lrn_spec(3, cfg.effective_alpha(), 0.75, 2.0));
  expect_values(lrn2->forward(x, {}, false), want);
}

TEST(KnownValues, MaxPoolRoutesToFirstMaximum) {
  // All four equal: the gradient goes to the first (top-left) element only.
  Tensor x = make_tensor({1, 1, 2, 2}, {1, 1, 1, 1});
  auto pool = backend()->make_op(pool_spec(2, 2));
  Tensor y = pool->forward(x, {}, true).clone();
  expect_values(pool->backward(x, y, make_tensor({1, 1, 1, 1}, {5}), {}, true), {5, 0, 0, 0});
  // Overlapping 2x2 windows, stride 1, over a 3x3 whose centre is the maximum: all four
  // windows pick the centre, which collects the sum of the four dy.
  Tensor x3 = make_tensor({1, 1, 3, 3}, {1, 2, 3, 4, 9, 5, 6, 7, 8});
  auto pool3 = backend()->make_op(pool_spec(2, 1));
  Tensor y3 = pool3->forward(x3, {}, true).clone();
  expect_values(y3, {9, 9, 9, 9});
  Tensor dy3 = make_tensor({1, 1, 2, 2}, {1, 2, 3, 4});
  expect_values(pool3->backward(x3, y3, dy3, {}, true), {0, 0, 0, 0, 10, 0, 0, 0, 0});
}

TEST(KnownValues, AdaptiveAvgPoolOverlapping) {
  // 3x3 -> 2x2: windows [0,2) and [1,3) on both axes; x = 1..9.
  //   (1+2+4+5)/4 = 3, (2+3+5+6)/4 = 4, (4+5+7+8)/4 = 6, (5+6+8+9)/4 = 7
  Tensor x = make_tensor({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto pool = backend()->make_op(avgpool_spec(2));
  expect_values(pool->forward(x, {}, false), {3, 4, 6, 7});
}

TEST(KnownValues, Linear) {
  // x = [1, 2] (as 1x2x1x1), W = [[1 2] [3 4] [-5 0]], b = [0.5, 0, 1]
  //   y = [1 + 4 + 0.5, 3 + 8, -5 + 1] = [5.5, 11, -4]; fused ReLU -> [5.5, 11, 0].
  Tensor x = make_tensor({1, 2, 1, 1}, {1, 2});
  Tensor w = make_tensor({3, 2}, {1, 2, 3, 4, -5, 0});
  Tensor b = make_tensor({3}, {0.5f, 0, 1});
  OpParams p;
  p.weight = &w;
  p.bias = &b;
  expect_values(backend()->make_op(linear_spec(2, 3, false))->forward(x, p, false), {5.5f, 11, -4});
  expect_values(backend()->make_op(linear_spec(2, 3, true))->forward(x, p, false), {5.5f, 11, 0});
}

TEST(KnownValues, SoftmaxCrossEntropy) {
  auto be = backend();
  // Row 0: z = [1, 2, 3], label 2: log(e + e^2 + e^3) - 3 = 0.40760596
  // Row 1: z = [0, 0, 0], label 0: log 3 = 1.09861229.   Mean = 0.75310913.
  Tensor z = make_tensor({2, 3}, {1, 2, 3, 0, 0, 0});
  std::vector<int> labels{2, 0};
  Tensor dz;
  EXPECT_NEAR(be->softmax_cross_entropy(z, labels, &dz), 0.75310913f, 1e-6f);
  // dz = (softmax - onehot) / 2; softmax of row 1 is 1/3 each.
  double e = std::exp(1.0), s = e + e * e + e * e * e;
  expect_values(dz, {float(e / s / 2), float(e * e / s / 2), float((e * e * e / s - 1) / 2),
                     float((1.0 / 3 - 1) / 2), float(1.0 / 6), float(1.0 / 6)});
  // Numerically stable: a logit of 1000 neither overflows nor loses the other term.
  Tensor big = make_tensor({1, 2}, {1000, 0});
  EXPECT_NEAR(be->softmax_cross_entropy(big, std::vector<int>{1}, nullptr), 1000.0f, 1e-3f);
  EXPECT_NEAR(be->softmax_cross_entropy(big, std::vector<int>{0}, nullptr), 0.0f, 1e-6f);
  // softmax([0, ln 3]) = [1/4, 3/4]
  expect_values(be->softmax(make_tensor({1, 2}, {0, float(std::log(3.0))})), {0.25f, 0.75f});
}

TEST(KnownValues, SoftmaxCrossEntropyRejectsBadLabels) {
  auto be = backend();
  Tensor z({2, 3});
  expect_error([&] { be->softmax_cross_entropy(z, std::vector<int>{0, 3}, nullptr); }, "label 3");
  expect_error([&] { be->softmax_cross_entropy(z, std::vector<int>{-1, 0}, nullptr); }, "label -1");
  expect_error([&] { be->softmax_cross_entropy(z, std::vector<int>{0}, nullptr); }, "1 labels");
}

TEST(KnownValues, SgdOneStep) {
  // lr = 0.1, momentum = 0.9, weight decay = 0.01:
  //   v0 = 0.9*0.1  - 0.01*0.1*1    - 0.1*0.5  = 0.039;  w0 = 1 + 0.039   = 1.039
  //   v1 = 0.9*-0.2 - 0.01*0.1*(-2) - 0.1*0.25 = -0.203; w1 = -2 - 0.203 = -2.203
  Tensor w = make_tensor({2}, {1, -2});
  Tensor g = make_tensor({2}, {0.5f, 0.25f});
  Tensor v = make_tensor({2}, {0.1f, -0.2f});
  backend()->sgd_update(w, g, v, 0.1f, 0.9f, 0.01f);
  expect_values(v, {0.039f, -0.203f});
  expect_values(w, {1.039f, -2.203f});
  Tensor wrong({3});
  expect_error([&] { backend()->sgd_update(w, wrong, v, 0.1f, 0.9f, 0.01f); }, "gradient");
}

// ---- dropout -------------------------------------------------------------------------------

LayerSpec dropout(double p) {
  LayerSpec s = simple_spec(LayerKind::Dropout, "drop_test");
  s.drop_p = p;
  return s;
}

TEST(Dropout, KeepsAboutOneMinusPAndScales) {
  Tensor x({1000, 1000});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 1.0f + float(i % 7);
  for (double p : {0.5, 0.2}) {
    auto op = backend()->make_op(dropout(p));
    OpParams params;
    params.seed = 42;
    const Tensor& y = op->forward(x, params, true);
    int64_t kept = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      if (y.data()[i] == 0) continue;
      ++kept;
      ASSERT_FLOAT_EQ(y.data()[i], x.data()[i] * float(1 / (1 - p))) << "element " << i;
    }
    // 1e6 Bernoulli draws: the standard deviation of the kept fraction is <= 5e-4.
    EXPECT_NEAR(double(kept) / double(x.numel()), 1 - p, 3e-3) << "p = " << p;
  }
}

TEST(Dropout, MaskDependsOnSeedOnly) {
  Rng rng(3);
  Tensor x = random_tensor({4, 8, 8, 8}, rng, 0.5, 1.0);  // no zeros: y == 0 means dropped
  auto a = backend()->make_op(dropout(0.5));
  auto b = backend()->make_op(dropout(0.5));
  OpParams s1, s2;
  s1.seed = 1;
  s2.seed = 2;
  std::vector<float> y1 = values(a->forward(x, s1, true));
  EXPECT_EQ(values(b->forward(x, s1, true)), y1) << "same seed, another op: same mask";
  EXPECT_EQ(values(a->forward(x, s1, true)), y1) << "same seed again: same mask";
  std::vector<float> y2 = values(a->forward(x, s2, true));
  int64_t differ = 0;
  for (size_t i = 0; i < y1.size(); ++i) differ += (y1[i] == 0) != (y2[i] == 0);
  // Independent masks with p = 0.5 disagree on about half the elements.
  EXPECT_NEAR(double(differ) / double(y1.size()), 0.5, 0.05);
  // The op's mask is exactly the shared definition in dropout_mask.h.
  for (size_t i = 0; i < y1.size(); ++i)
    ASSERT_EQ(y1[i] != 0, alexnet::dropout_keep(1, i, 0.5)) << "element " << i;
}

TEST(Dropout, InferenceIsIdentityAndBackwardUsesForwardMask) {
  Rng rng(4);
  Tensor x = random_tensor({2, 3, 5, 5}, rng);
  auto op = backend()->make_op(dropout(0.5));
  OpParams p;
  p.seed = 9;
  EXPECT_EQ(values(op->forward(x, p, false)), values(x));
  Tensor y = op->forward(x, p, true).clone();
  Tensor ones({2, 3, 5, 5});
  for (int64_t i = 0; i < ones.numel(); ++i) ones.data()[i] = 1;
  const Tensor& dx = op->backward(x, y, ones, p, true);
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(dx.data()[i], y.data()[i] == 0 ? 0.0f : 2.0f) << "element " << i;
}

TEST(Dropout, HashIsUniformAndSeedSensitive) {
  double sum = 0;
  int same = 0;
  for (uint64_t i = 0; i < 100000; ++i) {
    double u = alexnet::dropout_uniform(7, i);
    ASSERT_TRUE(u >= 0 && u < 1);
    sum += u;
    same += alexnet::dropout_keep(7, i, 0.5) == alexnet::dropout_keep(8, i, 0.5);
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
  EXPECT_NEAR(same / 100000.0, 0.5, 0.01);  // neighbouring seeds: unrelated masks
  static_assert(alexnet::dropout_keep(1, 2, 0.0), "p = 0 keeps everything");
}

// ---- errors, buffers, the backend object ---------------------------------------------------

TEST(Errors, NameTheLayerAndTheProblem) {
  auto be = backend();
  Tensor w({4, 3, 3, 3}), b({4});
  OpParams p;
  p.weight = &w;
  p.bias = &b;
  auto conv = be->make_op(conv_spec(3, 4, 3, 1, 1, 1, false));
  expect_error([&] { conv->forward(Tensor({1, 2, 5, 5}), p, false); }, "conv_test");
  expect_error([&] { conv->forward(Tensor({1, 3, 5}), p, false); }, "(N, C, H, W)");
  expect_error([&] { conv->forward(Tensor({1, 3, 5, 5}), OpParams{}, false); }, "missing weight");
  Tensor small_w({4, 3, 2, 2});
  OpParams bad = p;
  bad.weight = &small_w;
  expect_error([&] { conv->forward(Tensor({1, 3, 5, 5}), bad, false); }, "weight has shape");
  // A tensor in some backend's blocked layout is refused, not misread.
  Tensor plain({1, 3, 5, 5});
  Tensor blocked(plain.shape(), plain.data(), plain.capacity(), nullptr, alexnet::DeviceKind::Cpu,
                 std::make_shared<int>(0));
  expect_error([&] { conv->forward(blocked, p, false); }, "layout");
  expect_error([&] { be->to_host(blocked); }, "layout");
  auto fc = be->make_op(linear_spec(10, 2, false));
  expect_error([&] { fc->forward(Tensor({2, 3, 2, 2}), p, false); }, "fc_test");
  expect_error([&] { be->make_op(conv_spec(3, 4, 3, 1, 1, 2, false)); }, "groups");
  auto drop = be->make_op(dropout(0.5));
  Tensor x({2, 2});
  expect_error([&] { drop->backward(x, x, x, {}, true); }, "without a training forward");
  auto lrn = be->make_op(lrn_spec(5, 1e-4, 0.75, 2));
  expect_error([&] { lrn->forward(Tensor({2, 3}), {}, false); }, "lrn_test");
}

TEST(Buffers, OutputReusedForTheSameShape) {
  auto relu = backend()->make_op(simple_spec(LayerKind::Relu, "relu_test"));
  Tensor a({2, 3}), b({2, 3}), c({4, 3});
  const float* first = relu->forward(a, {}, false).data();
  EXPECT_EQ(relu->forward(b, {}, false).data(), first);
  EXPECT_EQ(relu->forward(c, {}, false).shape(), c.shape());
}

TEST(Backend, HostCopiesAndName) {
  auto be = backend();
  EXPECT_EQ(be->name(), "reference");
  EXPECT_EQ(be->device(), alexnet::DeviceKind::Cpu);
  Tensor z = be->zeros({2, 2});
  EXPECT_EQ(values(z), std::vector<float>(4, 0.0f));
  Tensor h = make_tensor({2, 2}, {1, 2, 3, 4});
  Tensor d = be->from_host(h);
  h.data()[0] = 100;  // from_host copies: the device tensor keeps the old value
  EXPECT_EQ(values(d), (std::vector<float>{1, 2, 3, 4}));
  Tensor back = be->to_host(d);
  d.data()[1] = 200;
  EXPECT_EQ(values(back), (std::vector<float>{1, 2, 3, 4}));
  be->synchronize();
}

}  // namespace
