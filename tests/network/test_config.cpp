// NetConfig, the layer plan, the device grammar and top-k: the small pieces everything uses.
#include <gtest/gtest.h>
#include <sched.h>

#include "alexnet/backend.h"
#include "alexnet/classifier.h"
#include "alexnet/config.h"
#include "alexnet/device.h"
#include "alexnet/error.h"

using namespace alexnet;

static int64_t count_params(const NetConfig& c) {
  int64_t n = 0;
  for (const ParamInfo& p : param_infos(c)) n += shape_numel(p.shape);
  return n;
}

TEST(Config, ParameterCountsMatchTheKnownNetworks) {
  // torchvision.models.alexnet(): 61,100,840 parameters. Caffe's bvlc_alexnet (the paper's
  // two-column network with groups): 60,965,224.
  EXPECT_EQ(count_params(NetConfig::torchvision()), 61100840);
  EXPECT_EQ(count_params(NetConfig::paper()), 60965224);
}

// Multiply-adds per image: torchvision's AlexNet is listed at 0.71 GFLOPS (its model card
// counts multiply-adds); worked out by hand for conv1 of the paper's (55*55*96 outputs of
// 11*11*3) and the 28x28 config the demo trains (conv1 28*28*32 of 5*5*1).
TEST(Config, ForwardMacsAndThePipelineThreadDefault) {
  EXPECT_NEAR(forward_macs(NetConfig::torchvision(1000)) / 1e6, 714.2, 0.5);
  const double paper_conv1 = 55.0 * 55 * 96 * 11 * 11 * 3;
  EXPECT_GT(forward_macs(NetConfig::paper(1000)), paper_conv1);
  EXPECT_LT(forward_macs(NetConfig::by_name("small-28", 10)), 20e6);
  EXPECT_GT(forward_macs(NetConfig::by_name("small-28", 10)), 28.0 * 28 * 32 * 5 * 5);
  EXPECT_EQ(pipeline_cpu_threads(NetConfig::by_name("small-28", 10)), 1);
  EXPECT_EQ(pipeline_cpu_threads(NetConfig::torchvision(1000)), usable_cores());
}

TEST(Config, PaperShapesFollowThePaper) {
  Shape s{1, 3, 227, 227};
  std::vector<std::pair<std::string, Shape>> seen;
  for (const LayerSpec& l : build_layers(NetConfig::paper())) {
    s = l.output_shape(s);
    seen.push_back({l.name, s});
  }
  auto find = [&](const std::string& n) {
    for (auto& [name, shape] : seen)
      if (name == n) return shape;
    return Shape{};
  };
  EXPECT_EQ(find("conv1"), (Shape{1, 96, 55, 55}));
  EXPECT_EQ(find("pool1"), (Shape{1, 96, 27, 27}));
  EXPECT_EQ(find("pool2"), (Shape{1, 256, 13, 13}));
  EXPECT_EQ(find("conv3"), (Shape{1, 384, 13, 13}));
  EXPECT_EQ(find("pool5"), (Shape{1, 256, 6, 6}));
  EXPECT_EQ(find("fc8"), (Shape{1, 1000}));
  // Paper order: fc6 → ReLU (fused) → dropout; torchvision: dropout → fc6.
  auto layers = build_layers(NetConfig::paper());
  auto torch = build_layers(NetConfig::torchvision());
  auto index = [](const std::vector<LayerSpec>& ls, const std::string& n) {
    for (size_t i = 0; i < ls.size(); ++i)
      if (ls[i].name == n) return static_cast<int>(i);
    return -1;
  };
  EXPECT_LT(index(layers, "fc6"), index(layers, "drop6"));
  EXPECT_GT(index(torch, "fc6"), index(torch, "drop6"));
  EXPECT_EQ(index(layers, "avgpool"), -1);
  EXPECT_GE(index(torch, "avgpool"), 0);
  EXPECT_EQ(index(torch, "lrn1"), -1);
}

TEST(Config, LrnAlphaConventionIsExplicit) {
  NetConfig c = NetConfig::paper();
  EXPECT_DOUBLE_EQ(c.lrn.effective_alpha(), 1e-4);
  c.lrn.alpha_convention = LrnAlpha::DividedByN;
  EXPECT_DOUBLE_EQ(c.lrn.effective_alpha(), 1e-4 / 5);
  for (const LayerSpec& l : build_layers(c)) {
    if (l.kind == LayerKind::Lrn) {
      EXPECT_DOUBLE_EQ(l.lrn_alpha, 1e-4 / 5);
    }
  }
}

TEST(Config, JsonRoundTripsEveryVariant) {
  for (const char* name : {"paper", "torchvision", "small-28", "small-32", "small-64"}) {
    NetConfig c = NetConfig::by_name(name, 10);
    EXPECT_EQ(NetConfig::from_json(c.to_json(), "test"), c) << name;
  }
  NetConfig c = NetConfig::paper();
  c.lrn.alpha_convention = LrnAlpha::DividedByN;
  EXPECT_EQ(NetConfig::from_json(c.to_json(), "test"), c);
}

TEST(Config, BadJsonNamesTheField) {
  auto err = [](const std::string& json) {
    try {
      NetConfig::from_json(json, "m.safetensors alexnet.config");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string good = NetConfig::paper().to_json();
  EXPECT_NE(err("{").find("malformed JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(err(R"({"variant":"paper","variant":"x"})").find("duplicate JSON key \"variant\""),
            std::string::npos);
  std::string j = good;
  j.replace(j.find("\"classes\":1000"), 14, "\"classes\":0");
  EXPECT_NE(err(j).find("classes must be in"), std::string::npos);
  j = good;
  j.replace(j.find("\"groups\":2"), 10, "\"groups\":3");
  EXPECT_NE(err(j).find("conv2.groups"), std::string::npos);
  j = good;
  j.replace(j.find("\"input_size\":227"), 16, "\"input_size\":20");
  EXPECT_NE(err(j).find("does not fit"), std::string::npos) << err(j);
  j = good;
  j.replace(j.find("\"alpha_convention\":\"paper\""), 26, "\"alpha_convention\":\"caffe\"");
  EXPECT_NE(err(j).find("alpha_convention"), std::string::npos);
  EXPECT_NE(err(R"({"variant":"paper"})").find("missing field 'in_channels'"), std::string::npos);
}

TEST(Config, UnknownConfigName) {
  EXPECT_THROW(NetConfig::by_name("vgg", 10), Error);
}

TEST(Devices, Grammar) {
  EXPECT_EQ(parse_devices("cpu"), (std::vector<Device>{{DeviceKind::Cpu, 0}}));
  EXPECT_EQ(parse_devices("cpu,cpu").size(), 2u);
  auto g = parse_devices("gpu:0,gpu:1");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[1].kind, DeviceKind::Gpu);
  EXPECT_EQ(g[1].index, 1);
  EXPECT_EQ(g[1].str(), "gpu:1");
  EXPECT_EQ(parse_devices("gpu:0,gpu:0").size(), 2u);
  EXPECT_EQ(parse_devices("auto").size(), 1u);
  for (const char* bad : {"", "cpu,", ",cpu", "gpu", "gpu:", "gpu:x", "gpu:-1", "tpu", "auto,cpu",
                          "CPU", "cpu, cpu", "gpu:123456"}) {
    try {
      parse_devices(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST(Devices, GpuWithoutCudaBackendIsAClearError) {
  try {
    make_backend(Device{DeviceKind::Gpu, 0}, 1);
    FAIL() << "a GPU backend was created";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("device gpu:0 is not available: "), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(gpu_unavailable_reason().empty());
}

// "All cores" is the cores this process may run on, and CPU workers split them.
TEST(Devices, CpuThreadsSplitTheUsableCores) {
  const auto cpu = parse_devices("cpu"), two = parse_devices("cpu,cpu");
  EXPECT_EQ(split_cpu_threads(two, 5), (std::vector<int>{3, 2}));
  EXPECT_EQ(split_cpu_threads(two, 1), (std::vector<int>{1, 1}));  // never 0 threads
  const std::vector<Device> mixed{{DeviceKind::Cpu, 0}, {DeviceKind::Gpu, 0}, {DeviceKind::Cpu, 0}};
  EXPECT_EQ(split_cpu_threads(mixed, 4), (std::vector<int>{2, 0, 2}));
  EXPECT_EQ(join_devices(mixed), "cpu,gpu:0,cpu");
  EXPECT_EQ(parse_devices(join_devices(mixed)), mixed);
  EXPECT_THROW(split_cpu_threads(cpu, -1), Error);
  EXPECT_GE(usable_cores(), 1);
  EXPECT_EQ(split_cpu_threads(cpu, 0), (std::vector<int>{usable_cores()}));

  // Pinned to one core (as under taskset -c 0), "all cores" is one core.
  cpu_set_t saved, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &saved)) ++first;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  const int pinned = usable_cores();
  const std::vector<int> split = split_cpu_threads(two, 0);
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
  EXPECT_EQ(pinned, 1);
  EXPECT_EQ(split, (std::vector<int>{1, 1}));
}

// Tensors say what their elements are: fp16/bf16 (and int8) buffers are sized by their dtype.
TEST(Tensor, DTypeSizesTheBuffer) {
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::S8), 1u);
  EXPECT_EQ(dtype_size(DType::U8), 1u);
  EXPECT_EQ(dtype_size(DType::S32), 4u);
  EXPECT_STREQ(dtype_name(DType::BF16), "bf16");
  Tensor f({2, 3});
  EXPECT_EQ(f.dtype(), DType::F32);
  EXPECT_EQ(f.nbytes(), 24u);
  // 6 half elements in a buffer of 3 floats: a view that says what it holds.
  auto buf = std::make_shared<std::vector<float>>(3);
  Tensor h({2, 3}, buf->data(), 6, buf, DeviceKind::Cpu, nullptr, DType::F16);
  EXPECT_EQ(h.element_size(), 2u);
  EXPECT_EQ(h.nbytes(), 12u);
  EXPECT_EQ(h.reshaped({6}).dtype(), DType::F16);
  EXPECT_THROW(h.clone(), Error);  // clone() is for f32 host tensors
  try {
    Tensor small({4}, buf->data(), 3, buf, DeviceKind::Cpu, nullptr, DType::S8);
    FAIL() << "a 3-element buffer took 4 elements";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 s8 elements"), std::string::npos) << e.what();
  }
}

TEST(TopK, OrderAndTies) {
  std::vector<float> p{0.1f, 0.4f, 0.1f, 0.4f};
  TopK t = top_k(p, 3, {"a", "b", "c", "d"});
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].index, 1);
  EXPECT_EQ(t[1].index, 3);
  EXPECT_EQ(t[2].index, 0);
  EXPECT_EQ(t[1].label, "d");
  EXPECT_EQ(top_k(p, 10, {}).size(), 4u);
  EXPECT_THROW(top_k(p, 0, {}), Error);
}
