// Asynchronous signals held off while oneDNN's f32 GEMM kernels run.
//
// oneDNN before 3.11.2 (Debian 12 ships 2.6.3) has f32 GEMM kernels (jit_avx512_common_gemm_f32,
// jit_avx_gemm_f32) that, once K is larger than their stack buffer holds (84 on AVX-512, 252
// on AVX2), point rsp at a workspace on the heap. A signal delivered to that thread meanwhile
// has its frame (several KB with AVX-512 state) written below rsp: over the heap's bookkeeping.
// glibc aborts later, in some free() ("corrupted size vs. prev_size"). oneDNN issue #4845,
// fixed by its PR #4855 (3.11.2, 3.12). alexnet-train died of it after SIGINT, about one run
// in 300; any host process of the element that handles signals (gst-launch's Ctrl-C, a
// profiler's SIGPROF) could too. In 2.6.3 those kernels run under the implementations named
// "…gemm:…" (gemm convolution, gemm inner product, gemm matmul), and RNNs, which we do not use.
//
// So while such a primitive runs, the calling thread blocks every asynchronous signal, and so
// do its OpenMP workers (which run parts of the same kernels). The workers are blocked anew
// before each such primitive, by a parallel region of the primitive's team size on the same
// thread: libgomp retires and re-creates pool workers whenever a region of another size runs
// (oneDNN's own GEMM driver does that), so a worker blocked once may be gone the next time.
// They stay blocked afterwards (they only run OpenMP regions; a signal sent to one of them
// alone waits). A process-directed signal that arrives meanwhile is delivered when the
// primitive returns, or to another thread: the delay is at most one primitive.
// The synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) stay unblocked, so
// a real fault still reaches its handler; SIGABRT is blocked (abort() unblocks it itself).
// With a fixed oneDNN (checked at run time) the guard does nothing. It assumes oneDNN's
// OpenMP runtime (Debian's build): with TBB or a threadpool it could not reach the workers.
#pragma once

#include <signal.h>

namespace alexnet::cpu {

class SignalGuard {
 public:
  // `impl`: the primitive's implementation name (impl_info_str); `threads`: the OpenMP team
  // size it runs with (Context::threads). Does nothing unless the primitive runs the GEMM.
  SignalGuard(const char* impl, int threads);
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // Whether an implementation of that name runs oneDNN's f32 GEMM kernels.
  static bool runs_gemm(const char* impl);
  // Whether this oneDNN has the bug (a version before 3.11.2).
  static bool needed();

 private:
  bool active_ = false;
  sigset_t saved_;
};

}  // namespace alexnet::cpu
