// The CUDA backend's opt-in fast paths against the plain path: CUDA graphs
// (ALEXNET_CUDA_GRAPHS=1, lib/src/backends/cuda/graph.h) and preprocessing on the GPU
// (ALEXNET_CUDA_PREPROCESS=1, lib/src/backends/cuda/preprocess_frames.cpp). Both stay off by
// default until this file has passed on a real GPU (tests/gpu/run.sh). Without a GPU every test
// skips and says why.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../reference/test_util.h"
#include "alexnet/backend.h"
#include "alexnet/device.h"
#include "alexnet/error.h"
#include "alexnet/network.h"
#include "alexnet/preprocess.h"
#include "alexnet/weights.h"

using namespace alexnet;

namespace {

#define REQUIRE_GPU()                                                             \
  do {                                                                            \
    if (gpu_count() == 0) GTEST_SKIP() << "no GPU: " << gpu_unavailable_reason(); \
  } while (0)

using testutil::random_input;
using testutil::rel_diff;

std::unique_ptr<Network> net_on(const Model& m, std::unique_ptr<Backend> backend) {
  auto net = std::make_unique<Network>(m.config, std::move(backend));
  net->load(m);
  return net;
}

}  // namespace

// ===================================================================================
// CUDA graphs (lib/src/backends/cuda/graph.h): ALEXNET_CUDA_GRAPHS=1 against graphs off.
// A key's first forward runs eagerly, the second is captured and launched, later ones
// replay. Within one network that is bit-identical (same cuDNN algorithms, same buffers).
// Two networks may differ by float rounding: each measures its own convolution algorithms
// (cuDNN Find) and may pick another one, so graphs on vs off across networks uses 1e-5
// (fp32; rounding only, far below the 1e-4 of every fast path) and 1e-3 (fp16).
// ===================================================================================
namespace {

// ALEXNET_CUDA_GRAPHS set for the scope (read when a CUDA backend is made), then restored.
struct GraphsEnv {
  std::string saved;
  bool had = false;
  explicit GraphsEnv(const char* value) {
    if (const char* v = std::getenv("ALEXNET_CUDA_GRAPHS")) had = true, saved = v;
    setenv("ALEXNET_CUDA_GRAPHS", value, 1);
  }
  ~GraphsEnv() {
    if (had)
      setenv("ALEXNET_CUDA_GRAPHS", saved.c_str(), 1);
    else
      unsetenv("ALEXNET_CUDA_GRAPHS");
  }
};

std::unique_ptr<Network> graph_net(const Model& m, bool graphs, Precision p = Precision::F32) {
  GraphsEnv env(graphs ? "1" : "0");
  return net_on(m, make_cuda_backend(0, p));
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), size_t(a.numel()) * sizeof(float)) == 0;
}

// A failed capture still gives the right logits (the ops run eagerly), so the tests also
// check that none was reported: otherwise they would pass without any graph.
void expect_no_capture_failure(const std::string& stderr_text) {
  EXPECT_EQ(stderr_text.find("CUDA graph capture failed"), std::string::npos) << stderr_text;
}

}  // namespace

TEST(CudaGraphs, SameBatchReplaysBitIdentical) {
  REQUIRE_GPU();
  for (const char* name : {"small-28", "torchvision"}) {
    SCOPED_TRACE(name);
    Model m = random_model(NetConfig::by_name(name, name[0] == 's' ? 10 : 1000), 21);
    Tensor x = random_input(m.config, 4, 22);
    Tensor off = graph_net(m, false)->forward(x);
    auto on = graph_net(m, true);
    testing::internal::CaptureStderr();
    std::vector<Tensor> got;
    for (int call = 0; call < 4; ++call) got.push_back(on->forward(x));  // eager, capture, replay×2
    expect_no_capture_failure(testing::internal::GetCapturedStderr());
    for (int call = 1; call < 4; ++call)
      EXPECT_TRUE(bit_identical(got[size_t(call)], got[0])) << "call " << call << " vs eager";
    double r = rel_diff(got[3], off);
    std::printf("  %-12s graphs on vs off rel.err %.3g\n", name, r);
    EXPECT_LE(r, 1e-5);
  }
}

TEST(CudaGraphs, AlternatingBatchSizesMatchGraphsOff) {
  REQUIRE_GPU();
  Model m = random_model(NetConfig::by_name("torchvision", 1000), 23);
  auto off = graph_net(m, false);
  auto on = graph_net(m, true);
  const std::vector<int> batches{1, 8, 1, 8, 8, 8, 1};
  testing::internal::CaptureStderr();
  double worst = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    Tensor x = random_input(m.config, batches[i], 30 + i);  // a new input every call
    Tensor want = off->forward(x);
    Tensor got = on->forward(x);
    double r = rel_diff(got, want);
    worst = std::max(worst, r);
    EXPECT_LE(r, 1e-5) << "call " << i << ", batch " << batches[i];
  }
  expect_no_capture_failure(testing::internal::GetCapturedStderr());
  std::printf("  batches 1,8,1,8,8,8,1: graphs on vs off worst rel.err %.3g\n", worst);
}

// New weights change the key: the next forwards use them, not the graph of the old ones
// (at fp16 the ops' converted weight copies are refreshed too).
TEST(CudaGraphs, NewWeightsAreNotReplayedWithTheOldGraph) {
  REQUIRE_GPU();
  const NetConfig cfg = NetConfig::by_name("small-28", 10);
  Model m1 = random_model(cfg, 24), m2 = random_model(cfg, 25);
  Tensor x = random_input(cfg, 8, 26);
  for (Precision p : {Precision::F32, Precision::F16}) {
    SCOPED_TRACE(precision_name(p));
    const double tol = p == Precision::F32 ? 1e-5 : 1e-3;
    Tensor want1 = graph_net(m1, false, p)->forward(x);
    Tensor want2 = graph_net(m2, false, p)->forward(x);
    ASSERT_GT(rel_diff(want2, want1), 1e-2) << "the two models must differ";
    auto on = graph_net(m1, true, p);
    testing::internal::CaptureStderr();
    for (int call = 0; call < 3; ++call)  // eager, capture, replay
      EXPECT_LE(rel_diff(on->forward(x), want1), tol) << "old weights, call " << call;
    on->set_params(m2.params);
    for (int call = 0; call < 3; ++call) {
      Tensor got = on->forward(x);
      EXPECT_LE(rel_diff(got, want2), tol) << "new weights, call " << call;
      EXPECT_GT(rel_diff(got, want1), 1e-2) << "the old weights' logits, call " << call;
    }
    expect_no_capture_failure(testing::internal::GetCapturedStderr());
  }
}

TEST(CudaGraphs, Fp16MatchesGraphsOff) {
  REQUIRE_GPU();
  for (const char* name : {"small-28", "torchvision"}) {
    SCOPED_TRACE(name);
    Model m = random_model(NetConfig::by_name(name, name[0] == 's' ? 10 : 1000), 27);
    Tensor x = random_input(m.config, 8, 28);
    Tensor off = graph_net(m, false, Precision::F16)->forward(x);
    auto on = graph_net(m, true, Precision::F16);
    testing::internal::CaptureStderr();
    std::vector<Tensor> got;
    for (int call = 0; call < 4; ++call) got.push_back(on->forward(x));
    expect_no_capture_failure(testing::internal::GetCapturedStderr());
    for (int call = 1; call < 4; ++call)
      EXPECT_TRUE(bit_identical(got[size_t(call)], got[0])) << "call " << call << " vs eager";
    double r = rel_diff(got[3], off);
    std::printf("  %-12s fp16 graphs on vs off rel.err %.3g\n", name, r);
    EXPECT_LE(r, 1e-3);
  }
}

// ===================================================================================
// Preprocessing on the GPU (Backend::preprocess, lib/src/backends/cuda/preprocess_frames.cpp): raw
// frames → the network input in one kernel, against the host's preprocess_batch. The kernel
// repeats the reference's float operations (lib/src/preprocess/preprocess_pixel.h, --fmad=false),
// so 1e-5 of max(1, |value|) is a few ulps' margin; the same code runs on the host in
// tests/preprocess/test_preprocess_pixel.cpp, which finds no difference at all.
// ===================================================================================
namespace {

// Frames with seeded random bytes; strides `pad` bytes wider than their rows.
struct RandomFrames {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<Frame> frames;

  void add(PixelFormat format, int width, int height, int pad, std::mt19937& rng,
           ColorMatrix matrix = ColorMatrix::BT601, ColorRange range = ColorRange::Limited) {
    const bool i420 = format == PixelFormat::I420, nv12 = format == PixelFormat::NV12;
    const int cw = (width + 1) / 2, ch = (height + 1) / 2;
    const int bpp = format == PixelFormat::RGB || format == PixelFormat::BGR ? 3
                    : format == PixelFormat::GRAY8 || i420 || nv12           ? 1
                                                                             : 4;
    const int count = i420 ? 3 : nv12 ? 2 : 1;
    const int row[3] = {width * bpp, nv12 ? 2 * cw : cw, cw};
    const int rows[3] = {height, ch, ch};
    size_t total = 0;
    for (int p = 0; p < count; ++p) total += size_t(row[p] + pad) * rows[p];
    std::vector<uint8_t> bytes(total);
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& b : bytes) b = uint8_t(byte(rng));
    Frame f;
    f.format = format;
    f.width = width;
    f.height = height;
    f.matrix = matrix;
    f.range = range;
    size_t at = 0;
    for (int p = 0; p < count; ++p) {
      f.planes[size_t(p)] = bytes.data() + at;
      f.strides[size_t(p)] = row[p] + pad;
      at += size_t(row[p] + pad) * rows[p];
    }
    storage.push_back(std::move(bytes));  // the vector's heap block does not move
    frames.push_back(f);
  }
};

// max |a − b| / max(1, |b|) over the elements.
double max_scaled_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i) {
    const double d = std::fabs(double(a.data()[i]) - double(b.data()[i])) /
                     std::max(1.0, std::fabs(double(b.data()[i])));
    if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
  }
  return m;
}

RandomFrames mixed_frames(uint32_t seed) {
  std::mt19937 rng(seed);
  RandomFrames f;
  f.add(PixelFormat::RGB, 301, 199, 3, rng);
  f.add(PixelFormat::BGRx, 64, 48, 0, rng);
  f.add(PixelFormat::xRGB, 17, 9, 1, rng);
  f.add(PixelFormat::GRAY8, 127, 31, 7, rng);
  f.add(PixelFormat::I420, 33, 65, 5, rng, ColorMatrix::BT709, ColorRange::Limited);
  f.add(PixelFormat::NV12, 641, 361, 2, rng, ColorMatrix::BT601, ColorRange::Full);
  f.add(PixelFormat::I420, 1203, 1101, 1, rng);  // area slivers at resize 1099, size 16
  return f;
}

}  // namespace

// GPU preprocessing is opt-in (ALEXNET_CUDA_PREPROCESS=1) until this suite has passed on a GPU.
struct PreprocessOn {
  PreprocessOn() { setenv("ALEXNET_CUDA_PREPROCESS", "1", 1); }
  ~PreprocessOn() { unsetenv("ALEXNET_CUDA_PREPROCESS"); }
};

TEST(CudaPreprocess, MatchesHostPreprocessing) {
  REQUIRE_GPU();
  PreprocessOn on;
  const RandomFrames mixed = mixed_frames(11);
  for (Precision precision : {Precision::F32, Precision::F16}) {
    auto gpu = make_cuda_backend(0, precision);
    for (Interpolation interp :
         {Interpolation::Bilinear, Interpolation::Nearest, Interpolation::Area})
      for (Crop crop : {Crop::Center, Crop::Stretch})
        for (int channels : {3, 1})
          for (int size : {16, 227}) {
            PreprocessConfig cfg = PreprocessConfig::imagenet();
            cfg.interpolation = interp;
            cfg.crop = crop;
            cfg.resize = size == 16 ? 1099 : 256;
            if (channels == 1) cfg.mean = {0.5f, 0.0f, 0.0f}, cfg.std = {0.25f, 1.0f, 1.0f};
            SCOPED_TRACE(std::string(precision_name(precision)) + " interp " +
                         std::to_string(int(interp)) + " crop " + std::to_string(int(crop)) +
                         " channels " + std::to_string(channels) + " size " + std::to_string(size));
            const Tensor want = preprocess_batch(mixed.frames, cfg, channels, size);
            Tensor dst;
            ASSERT_TRUE(gpu->preprocess(mixed.frames, cfg, channels, size, dst));
            ASSERT_EQ(dst.device(), DeviceKind::Gpu);
            const float* first = dst.data();
            EXPECT_LE(max_scaled_diff(gpu->to_host(dst), want), 1e-5);
            // A second call reuses dst's memory (CUDA graphs keep the input's address).
            ASSERT_TRUE(gpu->preprocess(mixed.frames, cfg, channels, size, dst));
            EXPECT_EQ(dst.data(), first);
            EXPECT_LE(max_scaled_diff(gpu->to_host(dst), want), 1e-5);
          }
  }
}

TEST(CudaPreprocess, OneFormatBatchesAndErrors) {
  REQUIRE_GPU();
  PreprocessOn on;
  auto gpu = make_cuda_backend(0);
  const PreprocessConfig cfg = PreprocessConfig::imagenet();
  std::mt19937 rng(12);
  for (PixelFormat format :
       {PixelFormat::RGB, PixelFormat::BGR, PixelFormat::RGBx, PixelFormat::BGRx, PixelFormat::xRGB,
        PixelFormat::xBGR, PixelFormat::RGBA, PixelFormat::BGRA, PixelFormat::GRAY8,
        PixelFormat::I420, PixelFormat::NV12}) {
    SCOPED_TRACE(pixel_format_name(format));
    RandomFrames f;
    for (int i = 0; i < 5; ++i) f.add(format, 320 + 7 * i, 240 - 5 * i, i, rng);
    Tensor dst = Tensor({5, 3, 224, 224});  // a host tensor of the right shape is replaced
    ASSERT_TRUE(gpu->preprocess(f.frames, cfg, 3, 224, dst));
    ASSERT_EQ(dst.device(), DeviceKind::Gpu);
    EXPECT_LE(max_scaled_diff(gpu->to_host(dst), preprocess_batch(f.frames, cfg, 3, 224)), 1e-5);
  }
  // Invalid frames fail like the host path, with its message.
  RandomFrames bad;
  bad.add(PixelFormat::NV12, 8, 6, 0, rng);
  bad.frames[0].strides[1] = 3;
  Tensor dst;
  std::string want, got;
  try {
    preprocess_batch(bad.frames, cfg, 3, 16);
  } catch (const Error& e) {
    want = e.what();
  }
  try {
    gpu->preprocess(bad.frames, cfg, 3, 16, dst);
  } catch (const Error& e) {
    got = e.what();
  }
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(got, want);
}

TEST(CudaPreprocess, ForwardFramesMatchesForwardOfHostPreprocessing) {
  REQUIRE_GPU();
  PreprocessOn on;
  for (const char* name : {"small-28", "torchvision"}) {
    SCOPED_TRACE(name);
    Model m = random_model(NetConfig::by_name(name, name[0] == 's' ? 10 : 1000), 31);
    auto net = net_on(m, make_cuda_backend(0));
    const RandomFrames mixed = mixed_frames(13);
    PreprocessConfig cfg = PreprocessConfig::imagenet();
    if (m.config.in_channels == 1) cfg.mean = {0.5f, 0.0f, 0.0f}, cfg.std = {0.25f, 1.0f, 1.0f};
    const Tensor want = net->forward(
        preprocess_batch(mixed.frames, cfg, m.config.in_channels, m.config.input_size));
    for (int call = 0; call < 3; ++call) {  // again: buffers reused (and graphs, when on)
      const Tensor got = net->forward_frames(mixed.frames, cfg);
      const double r = rel_diff(got, want);
      if (call == 0) std::printf("  %-12s forward_frames vs forward rel.err %.3g\n", name, r);
      EXPECT_LE(r, 1e-5) << "call " << call;
    }
    // output-tensor=fc7: the embedding (outside graph replay) against the host's (oneDNN),
    // and graph replay still right after it.
    Network host(m.config, make_cpu_backend(0));
    host.load(m);
    Tensor want_e;
    host.forward_embedding(
        preprocess_batch(mixed.frames, cfg, m.config.in_channels, m.config.input_size), &want_e);
    Tensor got_e;
    const Tensor got = net->forward_frames(mixed.frames, cfg, &got_e);
    const double re = rel_diff(got_e, want_e);
    std::printf("  %-12s embedding vs cpu rel.err %.3g\n", name, re);
    EXPECT_LE(re, 1e-4);
    EXPECT_LE(rel_diff(got, want), 1e-5);
    EXPECT_LE(rel_diff(net->forward_frames(mixed.frames, cfg), want), 1e-5) << "after fc7";
  }
}
