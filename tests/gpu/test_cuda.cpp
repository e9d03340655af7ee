// The CUDA backend end to end, against the oneDNN backend (itself tested op by op against the
// reference in tests/backends): whole networks forward and backward, training steps, two
// replicas on one GPU (gpu:0,gpu:0), fp16/bf16 inference, and the errors a user meets.
// Per-op CUDA tests are the "cuda" instance of tests/backends/test_ops.cpp.
//
// Without a GPU every test here skips and says why (CI has none); tests/gpu/run.sh runs them
// on a GPU host.
//
// Tolerances (relative to max|reference|):
//   forward logits fp32     1e-4  as every fast path (float sums in another order)
//   gradients fp32          1e-3  a whole backward chain: one ReLU/pool decision flipped by
//                                 rounding moves a few gradient entries by O(their size);
//                                 small configs against the CPU backend; full-size ones
//                                 against the reference (see FullSizeGradientsMatchReference)
//   weights after 5 steps   1e-4  of max|w| (lr 0.01 scales the gradient differences down)
//   fp16 / bf16 logits      3e-2 / 1e-1  11 / 8 mantissa bits through 8 layers (random
//                                 weights; relative to the largest logit)
//   fp16 / bf16 top-1       >= 99% agreement with fp32 on real images (the bar)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "../reference/test_util.h"
#include "alexnet/backend.h"
#include "alexnet/classifier.h"
#include "alexnet/data_parallel.h"
#include "alexnet/device.h"
#include "alexnet/error.h"
#include "alexnet/network.h"
#include "alexnet/weights.h"
#include "backends/cuda/fault_injection.h"
#include "npy.h"

using namespace alexnet;

namespace {

#define REQUIRE_GPU()                                                             \
  do {                                                                            \
    if (gpu_count() == 0) GTEST_SKIP() << "no GPU: " << gpu_unavailable_reason(); \
  } while (0)

using testutil::random_input;

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, double(std::fabs(t.data()[i])));
  return m;
}

// max|a - b| / max|b|, NaN-safe (a NaN gives infinity).
double rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = std::fabs(double(a.data()[i]) - double(b.data()[i]));
    if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
  }
  double s = max_abs(b);
  return s > 0 ? m / s : m;
}

int argmax_row(const Tensor& t, int64_t row) {
  int64_t K = t.dim(1);
  const float* r = t.data() + row * K;
  return static_cast<int>(std::max_element(r, r + K) - r);
}

std::unique_ptr<Network> net_on(const Model& m, std::unique_ptr<Backend> backend) {
  auto net = std::make_unique<Network>(m.config, std::move(backend));
  net->load(m);
  return net;
}

}  // namespace

TEST(Cuda, DescribesTheGpu) {
  REQUIRE_GPU();
  std::string facts = gpu_describe(0);
  std::printf("gpu:0: %s\n", facts.c_str());
  EXPECT_NE(facts.find("cuDNN"), std::string::npos) << facts;
}

TEST(Cuda, WholeNetworkForwardMatchesCpu) {
  REQUIRE_GPU();
  for (const char* name : {"small-28", "small-32", "torchvision", "paper"}) {
    SCOPED_TRACE(name);
    Model m = random_model(NetConfig::by_name(name, name[0] == 's' ? 10 : 1000), 42);
    Tensor x = random_input(m.config, 4, 7);
    Tensor cpu = net_on(m, make_cpu_backend(0))->forward(x);
    Tensor gpu = net_on(m, make_cuda_backend(0))->forward(x);
    double r = rel_diff(gpu, cpu);
    std::printf("  %-12s fp32 logits rel.err %.3g\n", name, r);
    EXPECT_LE(r, 1e-4);
  }
}

// Full-size gradients against the reference backend (the oracle), batch 2, dropout on with
// the same masks; the oneDNN backend's error is printed beside the GPU's, for scale.
// Tolerances, relative to max|reference gradient|, from an H100 run (tests/gpu/results/
// 2026-11-27-h100-run2): paper 1e-4 (measured: cuda <= 1.7e-6, cpu <= 1.7e-6); torchvision
// 2e-2 (measured: cuda <= 7.3e-3, cpu <= 1.2e-2, both in conv1-conv3 only). At batch 2 the
// torchvision chain is ill-conditioned: few positions per weight, and near-ties in pooling
// and ReLU masks that rounding flips; each op alone matches the reference to 1e-4
// (tests/backends, given the same x and y).
TEST(Cuda, FullSizeGradientsMatchReference) {
  REQUIRE_GPU();
  for (const char* name : {"torchvision", "paper"}) {
    SCOPED_TRACE(name);
    const double tol = std::string(name) == "paper" ? 1e-4 : 2e-2;
    Model m = random_model(NetConfig::by_name(name, 1000), 3);
    Tensor x = random_input(m.config, 2, 100);
    std::vector<int> labels{3, 998};
    auto ref = net_on(m, make_reference_backend());
    auto cpu = net_on(m, make_cpu_backend(0));
    auto gpu = net_on(m, make_cuda_backend(0));
    for (auto* n : {ref.get(), cpu.get(), gpu.get()}) n->set_seed(11);
    float lr = ref->forward_backward(x, labels);
    float lc = cpu->forward_backward(x, labels);
    float lg = gpu->forward_backward(x, labels);
    std::printf("  %s loss: reference %.6g  cpu %.6g  cuda %.6g\n", name, lr, lc, lg);
    EXPECT_NEAR(lg, lr, 1e-4 * std::max(1.f, std::fabs(lr)));
    for (size_t p = 0; p < ref->params().size(); ++p) {
      const std::string& pn = ref->params()[p].name;
      Tensor gr = ref->backend().to_host(ref->params()[p].grad);
      double ec = rel_diff(cpu->backend().to_host(cpu->params()[p].grad), gr);
      double eg = rel_diff(gpu->backend().to_host(gpu->params()[p].grad), gr);
      std::printf("  %-12s %-13s rel.err cuda %.3g  cpu %.3g\n", name, pn.c_str(), eg, ec);
      EXPECT_LE(eg, tol) << "gradient of " << pn;
    }
  }
}

// Five SGD steps of the small configs (the trainer's) on GPU and CPU, same dropout masks.
TEST(Cuda, TrainingStepsMatchCpu) {
  REQUIRE_GPU();
  for (const char* name : {"small-28", "small-32"}) {
    SCOPED_TRACE(name);
    Model m = random_model(NetConfig::by_name(name, 10), 3);
    auto cpu = net_on(m, make_cpu_backend(0));
    auto gpu = net_on(m, make_cuda_backend(0));
    cpu->set_seed(11);
    gpu->set_seed(11);
    const int64_t n = 8;
    for (int step = 0; step < 5; ++step) {
      Tensor x = random_input(m.config, n, 100 + step);
      std::vector<int> labels;
      for (int64_t i = 0; i < n; ++i) labels.push_back(int((i * 7 + step) % m.config.classes));
      float lc = cpu->forward_backward(x, labels);
      float lg = gpu->forward_backward(x, labels);
      EXPECT_NEAR(lg, lc, 1e-4 * std::max(1.f, std::fabs(lc))) << "loss, step " << step;
      if (step == 0) {
        for (size_t p = 0; p < cpu->params().size(); ++p) {
          Tensor gc = cpu->backend().to_host(cpu->params()[p].grad);
          Tensor gg = gpu->backend().to_host(gpu->params()[p].grad);
          EXPECT_LE(rel_diff(gg, gc), 1e-3) << "gradient of " << cpu->params()[p].name;
        }
      }
      cpu->sgd_step(0.01f, 0.9f, 5e-4f);
      gpu->sgd_step(0.01f, 0.9f, 5e-4f);
    }
    auto wc = cpu->get_params();
    auto wg = gpu->get_params();
    for (size_t p = 0; p < wc.size(); ++p)
      EXPECT_LE(rel_diff(wg[p].value, wc[p].value), 1e-4) << "after 5 steps: " << wc[p].name;
  }
}

// gpu:0,gpu:0: two replicas, each its own stream; batches split across them in order.
TEST(Cuda, TwoReplicasOnOneGpuAgreeWithOneAndKeepOrder) {
  REQUIRE_GPU();
  Model m = random_model(NetConfig::by_name("torchvision", 1000), 5);
  Tensor x = random_input(m.config, 16, 9);
  Classifier one(m, {"gpu:0", 0});
  Classifier two(m, {"gpu:0,gpu:0", 0});
  ASSERT_EQ(two.workers(), 2);
  Tensor a = one.logits(x);
  Tensor b = two.logits(x);  // split 8 + 8, run concurrently
  EXPECT_LE(rel_diff(b, a), 1e-5);
  // Both workers hammered from two threads at once: results stay each worker's own.
  Tensor x0 = random_input(m.config, 4, 21), x1 = random_input(m.config, 4, 22);
  Tensor want0 = one.logits(x0), want1 = one.logits(x1);
  Tensor got0, got1;
  std::thread t0([&] {
    for (int i = 0; i < 10; ++i) got0 = two.logits_on(x0, 0);
  });
  std::thread t1([&] {
    for (int i = 0; i < 10; ++i) got1 = two.logits_on(x1, 1);
  });
  t0.join();
  t1.join();
  EXPECT_LE(rel_diff(got0, want0), 1e-5);
  EXPECT_LE(rel_diff(got1, want1), 1e-5);
}

// Data-parallel training on gpu:0,gpu:0 (two replicas, host reduction) against one GPU,
// dropout off (as when replicas drew their own masks): same weights within 5e-4 of
// max|w| after 4 steps at lr 0.05 (measured on an H100: 9.2e-5; cuDNN picks other
// algorithms for the half batches, and backward-filter sums with atomics, so gradients
// differ by ~1e-6 and momentum carries that through the steps), and the two replicas
// bit-identical.
TEST(Cuda, DataParallelOnOneGpuTwiceTrainsLikeOneDevice) {
  REQUIRE_GPU();
  NetConfig cfg = NetConfig::by_name("small-32", 10);
  cfg.dropout = 0;
  Model m = random_model(cfg, 6);
  DataParallel one(cfg, parse_devices("gpu:0"), 0);
  DataParallel two(cfg, parse_devices("gpu:0,gpu:0"), 0);
  one.load(m);
  two.load(m);
  for (int step = 0; step < 4; ++step) {
    Tensor x = random_input(cfg, 31, 70 + step);
    std::vector<int> labels;
    for (int i = 0; i < 31; ++i) labels.push_back((i + step) % 10);
    float a = one.forward_backward(x, labels), b = two.forward_backward(x, labels);
    EXPECT_NEAR(b, a, 1e-5 * std::max(1.f, std::fabs(a))) << "loss at step " << step;
    one.sgd_step(0.05f, 0.9f, 5e-4f);
    two.sgd_step(0.05f, 0.9f, 5e-4f);
  }
  auto w1 = one.get_params(), w2 = two.get_params(), w2b = two.replica(1).get_params();
  for (size_t p = 0; p < w1.size(); ++p) {
    EXPECT_LE(rel_diff(w2[p].value, w1[p].value), 5e-4) << w1[p].name;
    EXPECT_EQ(rel_diff(w2b[p].value, w2[p].value), 0.0) << "replicas diverged: " << w1[p].name;
  }
}

// --- NCCL: the data-parallel gradient all-reduce between distinct GPUs ---------------------
// NCCL refuses two ranks on one GPU, so on a one-GPU machine only a one-rank communicator and
// the reduction logic can be tested; gpu:0,gpu:1 training needs two GPUs (and skips saying
// so). gpu:0,gpu:0 always takes the host reduction (DataParallelOnOneGpuTwice above).

#define REQUIRE_NCCL()                                                                    \
  do {                                                                                    \
    REQUIRE_GPU();                                                                        \
    if (nccl_version().empty()) GTEST_SKIP() << "no NCCL: " << nccl_unavailable_reason(); \
  } while (0)

// ALEXNET_REDUCE unset for the scope (the tests below choose the reduction themselves).
struct NoReduceEnv {
  std::string saved;
  bool had = false;
  NoReduceEnv() {
    if (const char* v = std::getenv("ALEXNET_REDUCE")) had = true, saved = v;
    unsetenv("ALEXNET_REDUCE");
  }
  ~NoReduceEnv() {
    if (had) setenv("ALEXNET_REDUCE", saved.c_str(), 1);
  }
};

// NCCL between processes (distributed training, issue 17), with a group of one process: the
// unique id, joining (non-blocking init, bounded), and the scaled in-place sum, which with one
// rank is the scaling alone: 0.25 x g exactly. A bad id is refused before NCCL sees it. (Two
// ranks need two GPUs, one per process: not run here; train-mpi-* test the same protocol
// over MPI on CPU ranks.)
TEST(Cuda, NcclGroupOfOneProcessScalesAndSumsInPlace) {
  REQUIRE_NCCL();
  auto backend = make_backend(parse_devices("gpu:0")[0], 0);
  const std::string id = nccl_unique_id();
  EXPECT_EQ(id.size(), 128u);
  EXPECT_THROW(nccl_join(id.substr(0, 7), 1, 0, *backend), Error);
  EXPECT_THROW(nccl_join(id, 1, 1, *backend), Error);  // rank 1 of 1
  NcclGroup* group = nccl_join(id, 1, 0, *backend);
  ASSERT_NE(group, nullptr);
  Tensor a({3, 1000}), b({7});
  for (int64_t i = 0; i < a.numel(); ++i) a.data()[i] = static_cast<float>(i % 97) - 40.0f;
  for (int64_t i = 0; i < b.numel(); ++i) b.data()[i] = 1.0f + static_cast<float>(i);
  Tensor da = backend->from_host(a), db = backend->from_host(b);
  Tensor* grads[] = {&da, &db};
  nccl_group_allreduce(group, *backend, grads, 0.25f);
  const Tensor ha = backend->to_host(da), hb = backend->to_host(db);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(ha.data()[i], 0.25f * a.data()[i]) << i;
  for (int64_t i = 0; i < b.numel(); ++i) ASSERT_EQ(hb.data()[i], 0.25f * b.data()[i]) << i;
}

// Runs anywhere (no GPU needed): which reduction a device list gets, and the errors.
TEST(Cuda, ReductionChoiceAndNcclRefusals) {
  NoReduceEnv env;
  std::string version = nccl_version(), why = nccl_unavailable_reason();
  std::printf("  NCCL: %s\n", version.empty() ? ("unavailable: " + why).c_str() : version.c_str());
  EXPECT_NE(version.empty(), why.empty()) << "exactly one of version and reason";
  NetConfig cfg = NetConfig::by_name("small-28", 10);
  DataParallel cpus(cfg, parse_devices("cpu,cpu"), 2);
  EXPECT_EQ(cpus.reduction(), Reduction::Host);
  EXPECT_EQ(cpus.describe(), "cpu,cpu (2 replicas, host reduction)");
  EXPECT_NE(cpus.reduction_note().find("cpu is not a GPU"), std::string::npos)
      << cpus.reduction_note();
  try {
    DataParallel forced(cfg, parse_devices("cpu,cpu"), 2, Reduction::Nccl);
    ADD_FAILURE() << "NCCL on cpu,cpu: " << forced.describe();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu is not a GPU"), std::string::npos) << e.what();
  }
  setenv("ALEXNET_REDUCE", "sideways", 1);
  EXPECT_THROW(DataParallel(cfg, parse_devices("cpu,cpu"), 2), Error);
  setenv("ALEXNET_REDUCE", "nccl", 1);
  EXPECT_THROW(DataParallel(cfg, parse_devices("cpu,cpu"), 2), Error);
  setenv("ALEXNET_REDUCE", "host", 1);
  EXPECT_EQ(DataParallel(cfg, parse_devices("cpu,cpu"), 2).reduction(), Reduction::Host);
  unsetenv("ALEXNET_REDUCE");
  // One replica needs no reduction, whatever is asked.
  EXPECT_EQ(DataParallel(cfg, parse_devices("cpu"), 1, Reduction::Nccl).describe(),
            "cpu (1 replica)");
  if (gpu_count() == 0) return;  // the rest needs the CUDA backend
  // gpu:0 listed twice: the host reduction (NCCL refuses two ranks on one GPU), said so.
  DataParallel twice(cfg, parse_devices("gpu:0,gpu:0"), 0);
  EXPECT_EQ(twice.reduction(), Reduction::Host);
  EXPECT_EQ(twice.describe(), "gpu:0,gpu:0 (2 replicas, host reduction)");
  EXPECT_NE(twice.reduction_note().find("NCCL needs distinct GPUs; gpu:0 is listed twice"),
            std::string::npos)
      << twice.reduction_note();
  try {
    DataParallel forced(cfg, parse_devices("gpu:0,gpu:0"), 0, Reduction::Nccl);
    ADD_FAILURE() << "NCCL on gpu:0,gpu:0: " << forced.describe();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NCCL needs distinct GPUs; gpu:0 is listed twice"),
              std::string::npos)
        << e.what();
  }
}

// The module itself refuses what NCCL cannot do, with a clear message: two ranks on one GPU,
// a backend that is not a CUDA backend. (Checked before NCCL is loaded: runs without NCCL.)
TEST(Cuda, NcclAllReduceRefusesOneGpuTwiceAndNonCudaBackends) {
  REQUIRE_GPU();
  auto a = make_cuda_backend(0), b = make_cuda_backend(0);
  Tensor ta = a->from_host(Tensor({16})), tb = b->from_host(Tensor({16}));
  std::vector<Backend*> two{a.get(), b.get()};
  std::vector<int64_t> counts{16};
  try {
    gpu_allreduce(two, {{ta.data()}, {tb.data()}}, counts);
    ADD_FAILURE() << "NCCL all-reduce with gpu:0 twice";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NCCL needs distinct GPUs; gpu:0 is listed twice"),
              std::string::npos)
        << e.what();
  }
  auto cpu = make_cpu_backend(1);
  Tensor tc({16});
  std::vector<Backend*> mixed{a.get(), cpu.get()};
  try {
    gpu_allreduce(mixed, {{ta.data()}, {tc.data()}}, counts);
    ADD_FAILURE() << "NCCL all-reduce with a CPU backend";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a CUDA backend"), std::string::npos) << e.what();
  }
}

// A one-rank communicator (what a one-GPU machine can run): the sum over one rank leaves the
// buffers as they are; a scale of 0.5 halves them exactly; a scale of 0 zeroes them, NaN
// included (a replica without a slice contributes nothing). Twice, so the cached
// communicator is reused.
TEST(Cuda, NcclOneRankAllReduce) {
  REQUIRE_NCCL();
  std::printf("  NCCL %s\n", nccl_version().c_str());
  auto gpu = make_cuda_backend(0);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> d(0.f, 1.f);
  Tensor h1({1000}), h2({37});
  for (int64_t i = 0; i < h1.numel(); ++i) h1.data()[i] = d(rng);
  for (int64_t i = 0; i < h2.numel(); ++i) h2.data()[i] = d(rng);
  Tensor g1 = gpu->from_host(h1), g2 = gpu->from_host(h2);
  std::vector<Backend*> one{gpu.get()};
  std::vector<int64_t> counts{1000, 37};
  for (int round = 0; round < 2; ++round) {
    ASSERT_NO_THROW(gpu_allreduce(one, {{g1.data(), g2.data()}}, counts));
    Tensor r1 = gpu->to_host(g1), r2 = gpu->to_host(g2);
    EXPECT_EQ(std::memcmp(r1.data(), h1.data(), 1000 * sizeof(float)), 0) << "round " << round;
    EXPECT_EQ(std::memcmp(r2.data(), h2.data(), 37 * sizeof(float)), 0) << "round " << round;
  }
  std::vector<float> half{0.5f};
  ASSERT_NO_THROW(gpu_allreduce(one, {{g1.data(), g2.data()}}, counts, half));
  Tensor r1 = gpu->to_host(g1);
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(r1.data()[i], h1.data()[i] * 0.5f) << i;
  h2.data()[5] = NAN;  // a stale NaN gradient of a replica without a slice
  gpu->upload(h2, g2);
  std::vector<float> zero{0.0f};
  ASSERT_NO_THROW(gpu_allreduce(one, {{g1.data(), g2.data()}}, counts, zero));
  Tensor z2 = gpu->to_host(g2);
  for (int64_t i = 0; i < 37; ++i) ASSERT_EQ(z2.data()[i], 0.0f) << i;
}

// gpu:0,gpu:1 with the NCCL all-reduce against one GPU: the same bar as
// DataParallelOnOneGpuTwiceTrainsLikeOneDevice (5e-4 of max|w| after the steps, replicas
// bit-identical: an all-reduce gives every rank the same sum), plus a batch of 1, where
// gpu:0's replica has no slice (scaled by 0).
TEST(Cuda, DataParallelOnTwoGpusWithNcclTrainsLikeOneDevice) {
  REQUIRE_GPU();
  if (gpu_count() < 2)
    GTEST_SKIP() << "needs two GPUs; this machine has " << gpu_count()
                 << " (NCCL refuses two ranks on one GPU)";
  REQUIRE_NCCL();
  NetConfig cfg = NetConfig::by_name("small-32", 10);
  cfg.dropout = 0;
  Model m = random_model(cfg, 6);
  DataParallel one(cfg, parse_devices("gpu:0"), 0);
  DataParallel two(cfg, parse_devices("gpu:0,gpu:1"), 0, Reduction::Nccl);
  ASSERT_EQ(two.describe(), "gpu:0,gpu:1 (2 replicas, NCCL all-reduce)");
  one.load(m);
  two.load(m);
  for (int step = 0; step < 5; ++step) {
    const int n = step < 4 ? 31 : 1;
    Tensor x = random_input(cfg, n, 70 + step);
    std::vector<int> labels;
    for (int i = 0; i < n; ++i) labels.push_back((i + step) % 10);
    float a = one.forward_backward(x, labels), b = two.forward_backward(x, labels);
    EXPECT_NEAR(b, a, 1e-5 * std::max(1.f, std::fabs(a))) << "loss at step " << step;
    one.sgd_step(0.05f, 0.9f, 5e-4f);
    two.sgd_step(0.05f, 0.9f, 5e-4f);
  }
  auto w1 = one.get_params(), w2 = two.get_params(), w2b = two.replica(1).get_params();
  for (size_t p = 0; p < w1.size(); ++p) {
    double r = rel_diff(w2[p].value, w1[p].value);
    std::printf("  %-13s rel.err %.3g\n", w1[p].name.c_str(), r);
    EXPECT_LE(r, 5e-4) << w1[p].name;
    EXPECT_EQ(rel_diff(w2b[p].value, w2[p].value), 0.0) << "replicas diverged: " << w1[p].name;
  }
}

// fp16/bf16 on random weights and inputs: logits near fp32's.
TEST(Cuda, HalfPrecisionLogitsNearFp32) {
  REQUIRE_GPU();
  for (const char* name : {"small-28", "torchvision"}) {
    Model m = random_model(NetConfig::by_name(name, name[0] == 's' ? 10 : 1000), 8);
    Tensor x = random_input(m.config, 8, 10);
    Tensor f32 = net_on(m, make_cuda_backend(0, Precision::F32))->forward(x);
    Tensor f16 = net_on(m, make_cuda_backend(0, Precision::F16))->forward(x);
    Tensor b16 = net_on(m, make_cuda_backend(0, Precision::BF16))->forward(x);
    double r16 = rel_diff(f16, f32), rb16 = rel_diff(b16, f32);
    std::printf("  %-12s fp16 rel.err %.3g  bf16 rel.err %.3g\n", name, r16, rb16);
    EXPECT_LE(r16, 3e-2) << name;
    EXPECT_LE(rb16, 1e-1) << name;
  }
}

// The bar: top-1 agreement >= 99% with fp32 on real images through a trained model.
// ALEXNET_TEST_MODEL: weights trained by alexnet-train (grey 28x28, e.g. Fashion-MNIST);
// ALEXNET_TEST_IMAGES: a float32 .npy (N, H, W) of 8-bit grey pixel values (0..255), e.g.
// Fashion-MNIST test images (tests/gpu/fmnist_npy.py). Each image goes through the library's
// preprocessing as a GRAY8 frame, as in the element. Both travel with the GPU bundle.
TEST(Cuda, HalfPrecisionTop1AgreesOnRealImages) {
  REQUIRE_GPU();
  const char* model_path = std::getenv("ALEXNET_TEST_MODEL");
  const char* images_path = std::getenv("ALEXNET_TEST_IMAGES");
  if (!model_path || !images_path || !std::filesystem::exists(model_path) ||
      !std::filesystem::exists(images_path))
    GTEST_SKIP() << "set ALEXNET_TEST_MODEL (trained weights) and ALEXNET_TEST_IMAGES "
                    "(float32 .npy (N, H, W) of grey pixel values) to run this test";
  Model m = load_model(model_path);
  Tensor images = npy::read(images_path);
  ASSERT_EQ(images.rank(), 3) << images_path;
  const int64_t n = images.dim(0), h = images.dim(1), w = images.dim(2);
  std::vector<uint8_t> pixels(static_cast<size_t>(images.numel()));
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>(std::clamp(images.data()[i], 0.f, 255.f));
  std::vector<Frame> frames;
  for (int64_t i = 0; i < n; ++i)
    frames.push_back(
        make_packed_frame(PixelFormat::GRAY8, int(w), int(h), pixels.data() + i * h * w));
  Classifier f32(m, {"gpu:0", 0, Precision::F32});
  Tensor x = f32.preprocess_frames(frames);
  Tensor base = f32.logits(x);
  Classifier cpu(m, {"cpu", 0});
  EXPECT_LE(rel_diff(base, cpu.logits(x)), 1e-4) << "fp32 GPU logits against the CPU's";
  for (Precision p : {Precision::F16, Precision::BF16}) {
    Classifier c(m, {"gpu:0", 0, p});
    Tensor got = c.logits(x);
    int64_t agree = 0;
    for (int64_t i = 0; i < n; ++i) agree += argmax_row(got, i) == argmax_row(base, i);
    double rate = double(agree) / double(n);
    std::printf("  %s top-1 agreement with fp32 on %lld real images: %lld = %.4f\n",
                precision_name(p), (long long)n, (long long)agree, rate);
    EXPECT_GE(rate, 0.99) << precision_name(p);
  }
}

TEST(Cuda, ErrorsNameTheDevice) {
  REQUIRE_GPU();
  try {
    make_cuda_backend(gpu_count() + 3);
    ADD_FAILURE() << "no error for a GPU that does not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpu:" + std::to_string(gpu_count() + 3)),
              std::string::npos)
        << e.what();
  }
  auto b = make_cuda_backend(0);
  try {
    b->zeros({int64_t{1} << 20, int64_t{1} << 20});  // 4 TiB
    ADD_FAILURE() << "no error for a 4 TiB tensor";
  } catch (const Error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("cuda:0"), std::string::npos) << w;
    EXPECT_NE(w.find("out of GPU memory"), std::string::npos) << w;
  }
  // The backend still works after the failed allocation.
  Tensor t = b->to_host(b->from_host(Tensor({3})));
  EXPECT_EQ(t.numel(), 3);
}

// What a machine without a GPU (CI) must do: auto means CPU, and an explicit GPU is a clear
// error that says why.
TEST(Cuda, WithoutGpuAutoFallsBackToCpuAndSaysWhy) {
  if (gpu_count() > 0) GTEST_SKIP() << "a GPU is present (" << gpu_describe(0) << ")";
  auto devices = parse_devices("auto");
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].kind, DeviceKind::Cpu);
  EXPECT_FALSE(gpu_unavailable_reason().empty());
  try {
    make_backend(Device{DeviceKind::Gpu, 0}, 0);
    ADD_FAILURE() << "gpu:0 made without a GPU";
  } catch (const Error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("gpu:0"), std::string::npos) << w;
    EXPECT_NE(w.find("not available"), std::string::npos) << w;
  }
}

// ALEXNET_CUDA_FAULT's plan (backends/cuda/fault_injection.h): parsed, refused with the
// variable named, and firing exactly once at the Nth call of its kind. Host code: runs
// without a GPU.
TEST(CudaFault, PlanParsesAndFiresOnceAtTheNthCall) {
  using cuda::Fault;
  const cuda::FaultPlan plan = cuda::parse_fault_plan("malloc:3,cudnn:1");
  EXPECT_EQ(plan.nth[0], 3u);
  EXPECT_EQ(plan.nth[1], 0u);
  EXPECT_EQ(plan.nth[2], 1u);
  cuda::FaultCounter counter(plan);
  std::vector<bool> mallocs;
  for (int i = 0; i < 5; ++i) mallocs.push_back(counter.fail_now(Fault::Malloc));
  EXPECT_EQ(mallocs, (std::vector<bool>{false, false, true, false, false}));
  EXPECT_TRUE(counter.fail_now(Fault::Cudnn));
  EXPECT_FALSE(counter.fail_now(Fault::Cudnn));
  EXPECT_FALSE(counter.fail_now(Fault::Launch));
  for (const char* bad : {"malloc", "malloc:0", "malloc:-1", "malloc:x", "disk:2", "launch:1,"}) {
    try {
      cuda::parse_fault_plan(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("ALEXNET_CUDA_FAULT=\"") + bad + "\""),
                std::string::npos)
          << e.what();
    }
  }
}

// On a GPU, run by the meson tests cuda-fault-{malloc,launch,cudnn}, each its own process with
// ALEXNET_CUDA_FAULT set: the injected failure of a classifier on gpu:0 is an alexnet::Error
// naming the device and the call, the process goes on (a second classifier, made after the
// planned fault has fired, works), and device memory comes back to where it was.
TEST(CudaFault, InjectedFailureNamesTheDeviceAndTheCall) {
  const char* spec = std::getenv("ALEXNET_CUDA_FAULT");
  if (!spec || !*spec) GTEST_SKIP() << "run by the cuda-fault-* tests (ALEXNET_CUDA_FAULT unset)";
  REQUIRE_GPU();
  Model m = random_model(NetConfig::by_name("small-32", 10), 3);
  Tensor x = random_input(m.config, 4, 1);
  std::string what;
  try {
    Classifier c(m, {"gpu:0", 0});
    for (int i = 0; i < 3; ++i) c.logits(x);
  } catch (const Error& e) {
    what = e.what();
  }
  ASSERT_FALSE(what.empty()) << "ALEXNET_CUDA_FAULT=" << spec << " did not fail anything";
  EXPECT_NE(what.find("cuda:0"), std::string::npos) << what;
  EXPECT_NE(what.find("injected by ALEXNET_CUDA_FAULT"), std::string::npos) << what;
  Classifier again(m, {"gpu:0", 0});
  EXPECT_EQ(again.logits(x).dim(0), 4);
}
