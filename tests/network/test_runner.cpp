// make_runner and the Runner interface: the device list and mode pick the runner, and the
// three runners train alike through the one interface the trainer and classifier use.
#include <gtest/gtest.h>

#include <cmath>

#include "../reference/test_util.h"
#include "alexnet/error.h"
#include "alexnet/network.h"
#include "alexnet/runner.h"

using namespace alexnet;
using testutil::labels_for;
using testutil::random_input;
using testutil::rel_diff;

namespace {

std::unique_ptr<Runner> runner(const NetConfig& cfg, const char* devices, Parallel p) {
  return make_runner(cfg, parse_devices(devices), p, 2);
}

}  // namespace

TEST(Runner, DeviceListAndModePickTheRunner) {
  const NetConfig cfg = NetConfig::by_name("small-28", 10);
  EXPECT_EQ(runner(cfg, "cpu", Parallel::Data)->describe(), "cpu");
  EXPECT_NE(runner(cfg, "cpu,cpu", Parallel::Data)->describe().find("2 replicas"),
            std::string::npos);
  EXPECT_NE(runner(cfg, "cpu,cpu", Parallel::Model)->describe().find("model-parallel"),
            std::string::npos);
  EXPECT_THROW(runner(cfg, "cpu", Parallel::Model), Error);  // needs two devices
  try {
    make_runner(cfg, parse_devices("cpu,cpu"), Parallel::Data, 2, Precision::F16);
    FAIL() << "fp16 data-parallel accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu,cpu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp16"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_runner(cfg, {}, Parallel::Data, 2), Error);
}

// Two SGD steps from the same weights, dropout off: the same weights (within rounding) and
// momenta on every runner; momenta round-trip; non-finite gradients are seen.
TEST(Runner, ThreeRunnersTrainAlike) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  cfg.dropout = 0;
  const Model m = random_model(cfg, 8);
  std::vector<std::unique_ptr<Runner>> rs;
  rs.push_back(runner(cfg, "cpu", Parallel::Data));
  rs.push_back(runner(cfg, "cpu,cpu", Parallel::Data));
  rs.push_back(runner(cfg, "cpu,cpu", Parallel::Model));
  for (auto& r : rs) {
    r->load(m);
    r->set_seed(3);
    for (int step = 0; step < 2; ++step) {
      const Tensor x = random_input(cfg, 6, 70 + step);
      const float loss = r->forward_backward(x, labels_for(6, 10, step));
      EXPECT_TRUE(std::isfinite(loss)) << r->describe();
      EXPECT_TRUE(r->grads_finite()) << r->describe();
      r->sgd_step(0.05f, 0.9f, 5e-4f);
    }
    EXPECT_EQ(r->step(), 2u) << r->describe();
  }
  const auto w0 = rs[0]->get_params(), m0 = rs[0]->get_momentum();
  for (size_t k = 1; k < rs.size(); ++k) {
    const auto w = rs[k]->get_params(), mo = rs[k]->get_momentum();
    for (size_t p = 0; p < w0.size(); ++p) {
      EXPECT_LE(rel_diff(w[p].value, w0[p].value), 1e-5) << rs[k]->describe() << " " << w0[p].name;
      EXPECT_LE(rel_diff(mo[p].value, m0[p].value), 1e-4) << rs[k]->describe() << " " << w0[p].name;
    }
    rs[k]->set_momentum(m0);
    const auto back = rs[k]->get_momentum();
    for (size_t p = 0; p < m0.size(); ++p) EXPECT_EQ(rel_diff(back[p].value, m0[p].value), 0.0);
  }
  // The trainer's overflow drill: Network and DataParallel take the NaN and report it.
  for (size_t k = 0; k < 2; ++k) {
    rs[k]->forward_backward(random_input(cfg, 4, 99), labels_for(4, 10, 0));
    ASSERT_TRUE(rs[k]->debug_poison_gradient());
    EXPECT_FALSE(rs[k]->grads_finite()) << rs[k]->describe();
  }
  // A momentum list of the wrong shape is refused, naming the tensor.
  auto wrong = m0;
  wrong[0].value = Tensor({1});
  try {
    rs[0]->set_momentum(wrong);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight has shape (1)"), std::string::npos)
        << e.what();
  }
}

// The embedding (fc7 after its ReLU) that forward_embedding hands out: the input of the last
// weighted layer in a plain forward of the same batch (dropout off), (N, embedding_width), on
// the reference backend, the cpu backend and the model-parallel split; and the logits that come
// with it equal forward()'s.
TEST(Runner, EmbeddingIsTheLastWeightedLayersInput) {
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  cfg.dropout = 0;
  const Model m = random_model(cfg, 5);
  const Tensor x = random_input(cfg, 3, 41);
  const int width = embedding_width(cfg);
  const std::vector<LayerSpec> layers = build_layers(cfg);
  ASSERT_EQ(layers[embedding_layer(layers)].name, "fc8");

  // The oracle: the reference Network's training forward keeps every activation.
  Network ref(cfg, make_reference_backend());
  ref.load(m);
  const Tensor ref_logits = ref.forward(x, /*training=*/true);
  const Tensor want = ref.backend().to_host(ref.activations()[embedding_layer(layers)]);
  ASSERT_EQ(want.numel(), 3 * width);

  std::vector<std::pair<std::string, std::unique_ptr<Runner>>> rs;
  rs.emplace_back("reference", std::make_unique<Network>(cfg, make_reference_backend()));
  rs.emplace_back("cpu", runner(cfg, "cpu", Parallel::Data));
  rs.emplace_back("cpu,cpu model", runner(cfg, "cpu,cpu", Parallel::Model));
  for (auto& [name, r] : rs) {
    r->load(m);
    Tensor e;
    const Tensor logits = r->forward_embedding(x, &e);
    ASSERT_EQ(e.shape(), (Shape{3, width})) << name;
    EXPECT_LE(rel_diff(e, want.reshaped({3, width})), 1e-5) << name;
    EXPECT_LE(rel_diff(logits, ref_logits), 1e-5) << name;
    EXPECT_LE(rel_diff(logits, r->forward(x)), 1e-6) << name;  // same as the plain forward
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < e.numel(); ++i) {
      lo = std::min(lo, e.data()[i]);
      hi = std::max(hi, e.data()[i]);
    }
    EXPECT_EQ(lo, 0.f) << name << ": after fc7's ReLU nothing is negative";
    EXPECT_GT(hi, 0.f) << name;
  }
  // A data-parallel runner (training only) says it has none.
  Tensor e;
  EXPECT_THROW(runner(cfg, "cpu,cpu", Parallel::Data)->forward_embedding(x, &e), Error);
}
