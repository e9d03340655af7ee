// See signal_guard.h for why.
#include "signal_guard.h"

#include <omp.h>
#include <pthread.h>

#include <initializer_list>

#include <dnnl.h>

namespace alexnet::cpu {
namespace {

// Every signal but the synchronous faults and SIGABRT (glibc refuses to block its own
// internal ones, and the kernel SIGKILL and SIGSTOP).
sigset_t make_async_set() {
  sigset_t s;
  sigfillset(&s);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) sigdelset(&s, sig);
  return s;
}

const sigset_t& async_set() {
  static const sigset_t s = make_async_set();
  return s;
}

// How many of this thread's OpenMP team members block them already. libgomp keeps one pool of
// workers per calling thread and reuses it for every parallel region of that thread; a worker
// it adds later is created by a region, inheriting the creator's mask (blocked inside a
// primitive; as found outside one: hence the explicit region below).
thread_local int t_workers_blocked = 1;

}  // namespace

bool SignalGuard::needed() {
  static const bool need = [] {
    const dnnl_version_t* v = dnnl_version();
    if (v->major != 3) return v->major < 3;
    return v->minor < 11 || (v->minor == 11 && v->patch < 2);
  }();
  return need;
}

SignalGuard::SignalGuard(int threads) {
  if (!needed()) return;
  active_ = pthread_sigmask(SIG_BLOCK, &async_set(), &saved_) == 0;
  // (Inside a caller's parallel region oneDNN gets a team of one: no workers to block.)
  if (active_ && threads > t_workers_blocked && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    pthread_sigmask(SIG_BLOCK, &async_set(), nullptr);
    t_workers_blocked = threads;
  }
}

SignalGuard::~SignalGuard() {
  if (active_) pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

}  // namespace alexnet::cpu
