// Finite-difference gradient checks of every reference op.
//
// For an op y = f(x; W, b) and a fixed random r we take the scalar loss L = sum(y * r), so
// dL/dy = r; backward(dy = r) must then return dL/dx, dL/dW, dL/db, which we compare with
// central differences (L(t + eps) - L(t - eps)) / 2eps for every element t of x, W and b.
//
// Tolerance: max_i |num_i - ana_i| <= kTol * max_i |ana_i|, kTol = 2e-3. The reference
// accumulates in double and rounds y to float once, so the numeric derivative carries
// about ulp(y) * sqrt(#outputs touched) / eps ~ 1e-4 of the gradient's scale, plus a
// truncation error of order eps^2 for the smooth ops (LRN, softmax); measured errors stay
// below 1e-4 of the scale (20x margin). A real mistake (a wrong index, a missing term, a wrong
// window) gives errors of order 1e-1..1 of the scale, and GradcheckDetectsASmallError shows a 1%
// error is caught. Inputs keep away from kinks (ReLU at 0, ties in max pooling) by more than eps,
// so every finite difference is taken on one smooth piece.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "alexnet/backend.h"
#include "test_util.h"

namespace {

using namespace testutil;
using alexnet::make_reference_backend;

constexpr double kTol = 2e-3;
constexpr double kEps = 1e-3;

std::unique_ptr<alexnet::Backend> backend() {
  return make_reference_backend();
}

// Checks one gradient (num from finite differences, ana from backward) against the scale.
void expect_close(const std::vector<double>& num, const Tensor& ana, const char* what) {
  GradDiff d = compare(num, ana);
  // A vanishing gradient would make the comparison vacuous.
  EXPECT_GT(d.max_ana, 1e-2) << what << ": gradient is (nearly) zero, the case tests nothing";
  EXPECT_LE(d.max_err, kTol * d.max_ana)
      << what << ": max |num - ana| = " << d.max_err << ", max |ana| = " << d.max_ana;
}

// Runs forward and backward once, then checks dx (and dW, db for conv/linear).
void gradcheck(OpCase& c, double eps = kEps) {
  Rng rng(c.seed ^ 0x5EEDu);
  Tensor r = random_tensor(c.spec.output_shape(c.x.shape()), rng);
  Tensor y = c.op->forward(c.x, c.params(), true).clone();
  Tensor dx = c.op->backward(c.x, y, r, c.params(), /*need_dx=*/true).clone();
  ASSERT_EQ(dx.shape(), c.x.shape());
  Tensor gw = c.gw, gb = c.gb;
  if (c.spec.has_params()) {
    gw = c.gw.clone();
    gb = c.gb.clone();
    // need_dx = false: no dx, the same parameter gradients.
    EXPECT_TRUE(c.op->backward(c.x, y, r, c.params(), /*need_dx=*/false).empty());
    EXPECT_EQ(values(c.gw), values(gw));
    EXPECT_EQ(values(c.gb), values(gb));
  }
  auto loss = [&] { return weighted_loss(c, r); };
  expect_close(numeric_grad(c.x, eps, loss), dx, "dx");
  if (c.spec.has_params()) {
    expect_close(numeric_grad(c.w, eps, loss), gw, "dW");
    expect_close(numeric_grad(c.b, eps, loss), gb, "db");
  }
}

// A conv or linear case with random x, W, b. With a fused ReLU the seed is advanced until
// every pre-activation is at least 5 eps from 0: one perturbed element moves a
// pre-activation by at most eps * max(|x|, |w|, 1) = eps, so no output crosses the kink.
OpCase param_case(const LayerSpec& spec, const Shape& x_shape, uint64_t seed) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    OpCase c;
    c.spec = spec;
    c.seed = seed + static_cast<uint64_t>(attempt);
    Rng rng(c.seed);
    c.x = random_tensor(x_shape, rng);
    c.w = random_tensor(spec.weight_shape(), rng, -0.5, 0.5);
    c.b = random_tensor(spec.bias_shape(), rng, -0.2, 0.2);
    c.op = backend()->make_op(spec);
    if (!spec.fused_relu) return c;
    LayerSpec linear = spec;
    linear.fused_relu = false;
    auto plain = backend()->make_op(linear);
    const Tensor& z = plain->forward(c.x, c.params(), true);
    float closest = 1e30f;
    for (int64_t i = 0; i < z.numel(); ++i) closest = std::min(closest, std::abs(z.data()[i]));
    if (closest > 5 * kEps) return c;
  }
  ADD_FAILURE() << "no seed keeps the pre-activations away from the ReLU kink";
  return {};
}

// A case for an op without parameters.
OpCase input_case(const LayerSpec& spec, Tensor x, uint64_t seed = 1) {
  OpCase c;
  c.spec = spec;
  c.seed = seed;
  c.x = std::move(x);
  c.op = backend()->make_op(spec);
  return c;
}

// ---- convolution ---------------------------------------------------------------------------

TEST(Gradcheck, ConvPlain) {
  OpCase c = param_case(conv_spec(3, 4, 3, 1, 1, 1, false), {2, 3, 5, 5}, 11);
  gradcheck(c);
}

TEST(Gradcheck, ConvGroupsStridePadding) {
  // groups = 2: output channels 0..2 read inputs 0..1, channels 3..5 read inputs 2..3.
  OpCase c = param_case(conv_spec(4, 6, 3, 2, 1, 2, false), {2, 4, 7, 7}, 21);
  gradcheck(c);
}

TEST(Gradcheck, ConvFusedReluGroups) {
  OpCase c = param_case(conv_spec(4, 4, 3, 2, 2, 2, true), {2, 4, 6, 6}, 31);
  gradcheck(c);
}

TEST(Gradcheck, ConvStrideLargerThanKernel) {
  // stride 3 > kernel 2: some inputs are read by no window and must get a zero gradient.
  OpCase c = param_case(conv_spec(2, 3, 2, 3, 0, 1, false), {1, 2, 7, 8}, 41);
  gradcheck(c);
}

// ---- LRN -----------------------------------------------------------------------------------
// alpha is large here (the paper's 1e-4 makes the cross-channel term invisible to the test).

TEST(Gradcheck, LrnWindowClippedAtEdges) {
  Rng rng(51);
  OpCase c = input_case(lrn_spec(5, 0.5, 0.75, 2.0), random_tensor({2, 7, 2, 3}, rng, -1.5, 1.5));
  gradcheck(c);
}

TEST(Gradcheck, LrnFewerChannelsThanWindow) {
  Rng rng(52);
  OpCase c = input_case(lrn_spec(5, 0.4, 0.75, 1.0), random_tensor({1, 3, 2, 2}, rng, -1.5, 1.5));
  gradcheck(c);
}

TEST(Gradcheck, LrnSize3OtherBeta) {
  Rng rng(53);
  OpCase c = input_case(lrn_spec(3, 0.3, 0.6, 1.0), random_tensor({2, 4, 3, 2}, rng, -1.5, 1.5));
  gradcheck(c);
}

// ---- pooling -------------------------------------------------------------------------------

// Distinct values at least 2/numel apart in random order: no ties, and no two elements of a
// window swap order under a perturbation of eps (2/numel > 2 eps for numel < 1000).
Tensor distinct_values(const Shape& shape, uint64_t seed) {
  Tensor t(shape);
  std::vector<int64_t> order(static_cast<size_t>(t.numel()));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] =
        static_cast<float>(2.0 * double(order[static_cast<size_t>(i)]) / double(t.numel()) - 1);
  return t;
}

TEST(Gradcheck, MaxPoolOverlapping) {
  OpCase c = input_case(pool_spec(3, 2), distinct_values({2, 2, 7, 7}, 61));
  gradcheck(c);
}

TEST(Gradcheck, MaxPoolFloorDropsLastColumn) {
  OpCase c = input_case(pool_spec(2, 2), distinct_values({1, 3, 6, 5}, 62));
  gradcheck(c);
}

TEST(Gradcheck, AdaptiveAvgPoolDivisible) {
  Rng rng(71);
  OpCase c = input_case(avgpool_spec(3), random_tensor({2, 2, 6, 6}, rng));
  gradcheck(c);
}

TEST(Gradcheck, AdaptiveAvgPoolNonDivisible) {
  // 7 rows -> 3: windows [0,3), [2,5), [4,7) overlap; 5 columns -> 3: [0,2), [1,4), [3,5).
  Rng rng(72);
  OpCase c = input_case(avgpool_spec(3), random_tensor({1, 2, 7, 5}, rng));
  gradcheck(c);
}

TEST(Gradcheck, AdaptiveAvgPoolUpsampling) {
  Rng rng(73);
  OpCase c = input_case(avgpool_spec(3), random_tensor({1, 2, 2, 2}, rng));
  gradcheck(c);
}

// ---- linear, relu, dropout -----------------------------------------------------------------

TEST(Gradcheck, LinearFrom4DInput) {
  OpCase c = param_case(linear_spec(12, 5, false), {3, 2, 2, 3}, 81);
  gradcheck(c);
}

TEST(Gradcheck, LinearFusedRelu) {
  OpCase c = param_case(linear_spec(6, 7, true), {4, 6}, 82);
  gradcheck(c);
}

TEST(Gradcheck, Relu) {
  // |x| >= 0.05 >> eps: no element crosses 0 when perturbed.
  Rng rng(91);
  Tensor x = random_tensor({2, 3, 4, 4}, rng, 0.05, 1.0);
  for (int64_t i = 0; i < x.numel(); i += 2) x.data()[i] = -x.data()[i];
  OpCase c = input_case(simple_spec(LayerKind::Relu, "relu_test"), std::move(x));
  gradcheck(c);
}

TEST(Gradcheck, DropoutFixedMask) {
  Rng rng(101);
  LayerSpec spec = simple_spec(LayerKind::Dropout, "drop_test");
  spec.drop_p = 0.4;
  OpCase c = input_case(spec, random_tensor({2, 3, 4, 4}, rng), /*seed=*/12345);
  gradcheck(c);  // every forward in the check uses seed 12345, hence the same mask
}

// ---- softmax cross-entropy -----------------------------------------------------------------

TEST(Gradcheck, SoftmaxCrossEntropy) {
  auto be = backend();
  Rng rng(111);
  Tensor logits = random_tensor({4, 5}, rng, -3, 3);
  std::vector<int> labels{0, 4, 2, 2};
  Tensor dlogits;
  be->softmax_cross_entropy(logits, labels, &dlogits);
  ASSERT_EQ(dlogits.shape(), logits.shape());
  // The loss is returned as float: eps = 1e-2 keeps its rounding (~1e-7) well below the
  // difference quotient's resolution; the truncation error is ~eps^2 * |L'''| ~ 1e-5.
  auto loss = [&] { return double(be->softmax_cross_entropy(logits, labels, nullptr)); };
  expect_close(numeric_grad(logits, 1e-2, loss), dlogits, "dlogits");
}

// ---- the check itself ----------------------------------------------------------------------

TEST(Gradcheck, DetectsASmallError) {
  // A gradient off by 1% in a single element must fail the tolerance, or the checks above
  // would not catch subtle mistakes.
  OpCase c = param_case(conv_spec(2, 2, 3, 1, 1, 1, false), {1, 2, 4, 4}, 121);
  Rng rng(7);
  Tensor r = random_tensor(c.spec.output_shape(c.x.shape()), rng);
  Tensor y = c.op->forward(c.x, c.params(), true).clone();
  Tensor dx = c.op->backward(c.x, y, r, c.params(), true).clone();
  auto num = numeric_grad(c.x, kEps, [&] { return weighted_loss(c, r); });
  GradDiff good = compare(num, dx);
  EXPECT_LE(good.max_err, kTol * good.max_ana);
  auto biggest = std::max_element(dx.data(), dx.data() + dx.numel(),
                                  [](float a, float b) { return std::abs(a) < std::abs(b); });
  *biggest *= 1.01f;
  GradDiff bad = compare(num, dx);
  EXPECT_GT(bad.max_err, kTol * bad.max_ana);
}

}  // namespace
