// Asynchronous signals held off while a oneDNN primitive runs.
//
// oneDNN before 3.11.2 (Debian 12 ships 2.6.3) has f32 GEMM kernels (jit_avx512_common_gemm_f32,
// jit_avx_gemm_f32, behind every "gemm:jit" implementation) that, once K is larger than their
// stack buffer holds (84 on AVX-512, 252 on AVX2), point rsp at a workspace on the heap. A
// signal delivered to that thread meanwhile has its frame (several KB with AVX-512 state)
// written below rsp: over the heap's bookkeeping. glibc aborts later, in some free() ("corrupted
// size vs. prev_size"). oneDNN issue #4845, fixed by its PR #4855 (3.11.2, 3.12). alexnet-train
// died of it after SIGINT, about one run in 300; any host process of the element that handles
// signals (gst-launch's Ctrl-C, a profiler's SIGPROF) could too.
//
// So while a primitive runs, the calling thread blocks every asynchronous signal, and its
// OpenMP workers (which run parts of the same kernels) block them for good. A signal that
// arrives meanwhile stays pending and is delivered when the primitive returns, or to another
// thread of the process: the delay is at most one primitive. Synchronous faults (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) and SIGABRT stay unblocked, so a real fault still
// reaches its handler. With a fixed oneDNN (checked at run time) this does nothing.
#pragma once

#include <signal.h>

namespace alexnet::cpu {

class SignalGuard {
 public:
  // `threads`: the OpenMP team size the primitive will run with (Context::threads).
  explicit SignalGuard(int threads);
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // Whether this oneDNN needs it (a version before 3.11.2).
  static bool needed();

 private:
  bool active_ = false;
  sigset_t saved_;
};

}  // namespace alexnet::cpu
