// ModelParallel (the paper's split of every layer over two devices) against one device:
// forward, gradients with dropout on, SGD steps, uneven splits, the torchvision order, the
// paper-size network, and errors. On two reference backends and on cpu,cpu (oneDNN); the
// GPU list gpu:0,gpu:0 is tested in tests/gpu.
//
// Tolerances (relative to the largest magnitude of the expected tensor):
//  - reference halves vs reference one device: 1e-5. The only differences are sums split in
//    two: conv3/fc inputs' gradients summed over the halves, partial LRN windows none.
//  - oneDNN halves vs oneDNN one device: 1e-4 (oneDNN picks other kernels for half widths).
//  - after 3 SGD steps: 1e-4 of max|w|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "../reference/test_util.h"
#include "alexnet/error.h"
#include "alexnet/model_parallel.h"
#include "alexnet/weights.h"

using namespace alexnet;

namespace {

using testutil::grad_of;
using testutil::labels_for;
using testutil::random_input;
using testutil::rel_diff;

// One training step on both, comparing loss, logits and every gradient.
void expect_same_step(Network& one, ModelParallel& two, const NetConfig& cfg, int64_t n, int step,
                      double tol) {
  Tensor x = random_input(cfg, n, 100 + step);
  auto labels = labels_for(n, cfg.classes, step);
  Tensor l1, l2;
  const float a = one.forward_backward(x, labels, &l1);
  const float b = two.forward_backward(x, labels, &l2);
  EXPECT_NEAR(b, a, tol * std::max(1.f, std::fabs(a))) << "loss at step " << step;
  EXPECT_LE(rel_diff(l2, l1), tol) << "logits at step " << step;
  for (const ParamInfo& p : param_infos(cfg))
    EXPECT_LE(rel_diff(two.grad(p.name), grad_of(one, p.name)), tol)
        << p.name << " gradient at step " << step;
}

}  // namespace

TEST(ModelParallel, ParseParallel) {
  EXPECT_EQ(parse_parallel("data"), Parallel::Data);
  EXPECT_EQ(parse_parallel("model"), Parallel::Model);
  EXPECT_STREQ(parallel_name(Parallel::Model), "model");
  try {
    parse_parallel("pipeline");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"pipeline\""), std::string::npos) << e.what();
  }
}

TEST(ModelParallel, ReferenceHalvesEqualOneDeviceWithDropout) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);  // groups 2, LRN after conv1 and conv2
  ASSERT_GT(cfg.dropout, 0);
  Model m = random_model(cfg, 3);
  Network one(cfg, make_reference_backend());
  ModelParallel two(cfg, make_reference_backend(), make_reference_backend());
  one.load(m);
  two.load(m);
  one.set_seed(9);
  two.set_seed(9);
  // Inference logits.
  Tensor x = random_input(cfg, 3, 7);
  EXPECT_LE(rel_diff(two.forward(x), one.forward(x)), 1e-5);
  // Training: dropout masks, LRN halos and the gathered fc inputs, backward.
  expect_same_step(one, two, cfg, 4, 0, 1e-5);
}

TEST(ModelParallel, ParamsRoundTripExactly) {
  NetConfig cfg = NetConfig::by_name("small-28", 7);  // 7 classes: fc8 splits 4 + 3
  Model m = random_model(cfg, 5);
  ModelParallel two(cfg, make_reference_backend(), make_reference_backend());
  two.load(m);
  auto back = two.get_params();
  ASSERT_EQ(back.size(), m.params.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].name, m.params[i].name);
    ASSERT_EQ(back[i].value.shape(), m.params[i].value.shape()) << back[i].name;
    EXPECT_EQ(0, std::memcmp(back[i].value.data(), m.params[i].value.data(),
                             static_cast<size_t>(back[i].value.numel()) * 4))
        << back[i].name;
  }
  // Momentum: zeros before the first step, then what was set.
  auto mom = two.get_momentum();
  for (const NamedTensor& t : mom)
    for (int64_t i = 0; i < t.value.numel(); ++i) ASSERT_EQ(t.value.data()[i], 0.f) << t.name;
  two.set_momentum(m.params);
  auto mom2 = two.get_momentum();
  for (size_t i = 0; i < mom2.size(); ++i)
    EXPECT_EQ(0, std::memcmp(mom2[i].value.data(), m.params[i].value.data(),
                             static_cast<size_t>(mom2[i].value.numel()) * 4));
}

TEST(ModelParallel, CpuHalvesTrainLikeOneDevice) {
  NetConfig cfg = NetConfig::by_name("small-28", 7);  // uneven fc8 split
  Model m = random_model(cfg, 4);
  Network one(cfg, make_cpu_backend(2));
  ModelParallel two(cfg, parse_devices("cpu,cpu"), 2);
  EXPECT_NE(two.describe().find("model-parallel"), std::string::npos) << two.describe();
  one.load(m);
  two.load(m);
  one.set_seed(1);
  two.set_seed(1);
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    expect_same_step(one, two, cfg, 5, step, 1e-4);
    one.sgd_step(0.05f, 0.9f, 5e-4f);
    two.sgd_step(0.05f, 0.9f, 5e-4f);
  }
  EXPECT_EQ(two.step(), 3u);
  auto w1 = one.get_params(), w2 = two.get_params();
  for (size_t i = 0; i < w1.size(); ++i)
    EXPECT_LE(rel_diff(w2[i].value, w1[i].value), 1e-4) << w1[i].name;
  EXPECT_TRUE(two.grads_finite());
}

TEST(ModelParallel, TorchvisionOrderAndAdaptivePool) {
  // Dropout before fc6/fc7, an adaptive average pool, no groups and no LRN, at a small size.
  NetConfig cfg = NetConfig::by_name("small-32", 10);
  cfg.dropout_before_fc = true;
  cfg.lrn.enabled = false;
  cfg.adaptive_pool = 2;
  for (auto& c : cfg.conv) c.groups = 1;
  cfg.validate();
  Model m = random_model(cfg, 6);
  Network one(cfg, make_reference_backend());
  ModelParallel two(cfg, make_reference_backend(), make_reference_backend());
  one.load(m);
  two.load(m);
  one.set_seed(4);
  two.set_seed(4);
  expect_same_step(one, two, cfg, 2, 0, 1e-5);
}

TEST(ModelParallel, PaperNetworkForwardOnCpuHalves) {
  NetConfig cfg = NetConfig::paper(1000);  // 227x227, groups 2, LRN: the layout of figure 2
  Model m = random_model(cfg, 8);
  Network one(cfg, make_cpu_backend(2));
  ModelParallel two(cfg, parse_devices("cpu,cpu"), 2);
  one.load(m);
  two.load(m);
  Tensor x = random_input(cfg, 2, 11);
  EXPECT_LE(rel_diff(two.forward(x), one.forward(x)), 1e-4);
}

TEST(ModelParallel, Errors) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one containing: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { ModelParallel mp(cfg, parse_devices("cpu"), 1); }, "exactly two devices");
  expect_error([&] { ModelParallel mp(cfg, parse_devices("cpu,cpu,cpu"), 1); },
               "got \"cpu,cpu,cpu\"");
  // Half a network on a CPU and half on a GPU is refused, and so is fp16 on GPUs, before any
  // GPU is touched.
  expect_error(
      [&] {
        ModelParallel mp(cfg, {Device{DeviceKind::Cpu, 0}, Device{DeviceKind::Gpu, 0}}, 1);
      },
      "two devices of one kind");
  expect_error(
      [&] {
        ModelParallel mp(cfg, {Device{DeviceKind::Gpu, 0}, Device{DeviceKind::Gpu, 1}}, 1,
                         Precision::F16);
      },
      "fp32 only");
  NetConfig odd = cfg;
  odd.conv[1].groups = 1;
  odd.conv[3].groups = 3;
  odd.conv[3].out_channels = 96;
  odd.validate();
  expect_error([&] { ModelParallel mp(odd, make_reference_backend(), make_reference_backend()); },
               "cannot split conv4: groups 3 is odd");
  ModelParallel two(cfg, make_reference_backend(), make_reference_backend());
  expect_error([&] { two.forward(Tensor({1, 3, 28, 28})); }, "expected (N, 1, 28, 28)");
  expect_error([&] { two.set_params({}); }, "ModelParallel parameter: got 0 tensors, expected 16");
  expect_error([&] { two.grad("conv9.weight"); }, "no parameter named conv9.weight");
}
