// Signals arriving while the cpu backend computes must leave the process intact.
//
// oneDNN before 3.11.2 (Debian 12 ships 2.6.3) has f32 GEMM kernels (jit_avx512_common_gemm_f32,
// jit_avx_gemm_f32) that, once K exceeds what fits their stack buffer (84 on AVX-512, 252 on
// AVX2), point rsp at a workspace on the heap; a signal delivered to that thread meanwhile has
// its frame written there, over the heap's bookkeeping (oneDNN issue #4845). alexnet-train died
// of it after SIGINT, about one run in 300 ("corrupted size vs. prev_size while consolidating"
// in a free() under an inner product). The backend blocks asynchronous signals while such a
// primitive runs, on the calling thread and its OpenMP workers (signal_guard.h).
//
// The test: fully connected forward and backward with K = 4096 (a gemm:jit inner product on
// AVX-512 and AVX2), run over and over while another thread sends SIGUSR1 to the process every
// ~20 µs, with a handler installed, at 1, 2 and 3 threads. Before every step the computing
// thread runs OpenMP regions of its own (as preprocessing or the host application may): of 2
// threads, then of the backend's count, so libgomp retires workers and makes new ones outside
// the backend, which inherit no blocked mask. Without the guard the heap was corrupted at once
// (checked at both ISAs, with the workers alone unguarded, and with the workers guarded only
// once per thread: glibc aborts in free()). With it: the signals are still handled (counted;
// pending ones merge, so far fewer than sent), and the results equal those of a run without
// signals, bit for bit.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../reference/test_util.h"
#include "alexnet/backend.h"
#include "alexnet/tensor.h"
#include "backends/cpu/cpu_debug.h"

namespace {

using namespace alexnet;
using namespace testutil;

std::atomic<long> g_handled{0};
extern "C" void count_signal(int) {
  g_handled.fetch_add(1, std::memory_order_relaxed);
}

struct Results {
  Tensor y, dx, gw, gb;
};

// One training step's worth of fc work: y = relu(x·wᵀ + b), then dx, dW, db.
Results step(Op& op, const Tensor& x, Tensor& w, Tensor& b, const Tensor& dy) {
  Results r;
  OpParams p{&w, &b, &r.gw, &r.gb, 1, 0};
  const Tensor& y = op.forward(x, p, true);
  r.y = y.clone();
  r.dx = op.backward(x, y, dy, p, true).clone();
  return r;
}

void expect_same(const Tensor& a, const Tensor& b, const char* what) {
  ASSERT_EQ(a.numel(), b.numel()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)), 0)
      << what << " differs from the run without signals";
}

class CpuSignals : public ::testing::TestWithParam<int> {};

TEST_P(CpuSignals, SignalsDuringGemmKernelsLeaveTheHeapIntact) {
  const int threads = GetParam();
  const int64_t n = 32, k = 4096, o = 256;
  const LayerSpec spec = linear_spec(static_cast<int>(k), static_cast<int>(o), true);
  Rng rng(42);
  // 4-D x: the inner product on a 4-D source is what runs oneDNN's gemm:jit (fc6 after pool5);
  // on a 2-D one oneDNN 2.6 picks brgemm at AVX-512.
  const Tensor x = random_tensor({n, k / 16, 4, 4}, rng), dy = random_tensor({n, o}, rng);
  Tensor w = random_tensor({o, k}, rng, -0.02, 0.02), b = random_tensor({o}, rng);
  // Regions of this thread's own, outside the backend: libgomp's pool shrinks to 2 and grows
  // back to `threads` (at 3 threads), so the backend meets workers it has never seen.
  auto own_regions = [threads] {
    std::atomic<int> team{0};
#pragma omp parallel num_threads(2)
    team.fetch_add(1);
#pragma omp parallel num_threads(threads)
    team.fetch_add(1);
    return team.load();
  };
  ASSERT_EQ(own_regions(), 2 + threads);
  auto be = make_cpu_backend(threads);
  auto op = be->make_op(spec);
  const Results quiet = step(*op, x, w, b, dy);
  const std::string impls = cpu::describe_op(*op);
  std::printf("[%d thread(s), %s]\n%s", threads, cpu::effective_isa().c_str(), impls.c_str());
  if (impls.find("gemm:jit") == std::string::npos)
    GTEST_SKIP() << "oneDNN chose no gemm:jit inner product at this ISA, so the kernels "
                    "this test is about do not run:\n"
                 << impls;

  struct sigaction sa = {}, old = {};
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  g_handled = 0;
  std::atomic<bool> done{false};
  long sent = 0;
  std::thread sender([&] {
    // Not to itself: the signals go to the computing thread and its OpenMP workers (or to a
    // thread idle in join, which is fine too: the kernel picks one that does not block it).
    sigset_t mine;
    sigemptyset(&mine);
    sigaddset(&mine, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &mine, nullptr);
    while (!done.load()) {
      kill(getpid(), SIGUSR1);
      ++sent;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int steps = 0;
  std::vector<Results> all;
  while (std::chrono::steady_clock::now() < until) {
    own_regions();
    Results r = step(*op, x, w, b, dy);
    std::vector<float> churn(1000 + 97 * static_cast<size_t>(steps % 50));  // malloc and free
    churn[0] = 1;
    if (steps % 8 == 0) all.push_back(std::move(r));
    ++steps;
  }
  done = true;
  sender.join();
  signal(SIGUSR1, SIG_IGN);  // drops any still pending before the old action is back
  sigaction(SIGUSR1, &old, nullptr);
  std::printf("%d steps, %ld signals sent, %ld handled\n", steps, sent, g_handled.load());
  EXPECT_GT(g_handled.load(), 20) << "too few signals reached the process to test anything";
  for (const Results& r : all) {
    expect_same(r.y, quiet.y, "y");
    expect_same(r.dx, quiet.dx, "dx");
    expect_same(r.gw, quiet.gw, "dW");
    expect_same(r.gb, quiet.gb, "db");
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, CpuSignals, ::testing::Values(1, 2, 3),
                         [](const auto& info) { return std::to_string(info.param) + "Threads"; });

}  // namespace
