// See signal_guard.h for why.
#include "signal_guard.h"

#include <omp.h>
#include <pthread.h>

#include <cstring>
#include <initializer_list>

#include <dnnl.h>

namespace alexnet::cpu {
namespace {

// Every signal but the synchronous faults (glibc keeps its internal ones out itself, and
// SIGKILL and SIGSTOP cannot be blocked).
sigset_t make_async_set() {
  sigset_t s;
  sigfillset(&s);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&s, sig);
  return s;
}

const sigset_t& async_set() {
  static const sigset_t s = make_async_set();
  return s;
}

}  // namespace

bool SignalGuard::needed() {
  static const bool need = [] {
    const dnnl_version_t* v = dnnl_version();
    if (v->major != 3) return v->major < 3;
    return v->minor < 11 || (v->minor == 11 && v->patch < 2);
  }();
  return need;
}

bool SignalGuard::runs_gemm(const char* impl) {
  // "x64:gemm:jit", "gemm:jit", "gemm:ref"; not brgemm ("brgemm:avx512_core"), whose kernels
  // keep rsp on the stack, nor the int8 GEMM ("x64:gemm_s8u8s32:jit").
  return impl && std::strstr(impl, "gemm:") && std::strncmp(impl, "brg", 3) != 0;
}

SignalGuard::SignalGuard(const char* impl, int threads) {
  if (!runs_gemm(impl) || !needed()) return;
  active_ = pthread_sigmask(SIG_BLOCK, &async_set(), &saved_) == 0;
  // (Inside a caller's parallel region oneDNN gets a team of one: no workers to block.)
  if (active_ && threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    pthread_sigmask(SIG_BLOCK, &async_set(), nullptr);
  }
}

SignalGuard::~SignalGuard() {
  if (active_) pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

}  // namespace alexnet::cpu
