/* For A/B measurements of the cpu backend's signal guard (docs/RELIABILITY.md, "Signals while
 * oneDNN computes"): preloaded, it makes dnnl_version() report 3.12, whose GEMM kernels are
 * fixed, so the guard (lib/src/backends/cpu/signal_guard.cpp) switches itself off.
 *   gcc -shared -fPIC -O2 tests/reliability/dnnl_version_3_12.c -o /tmp/dnnl312.so
 *   LD_PRELOAD=/tmp/dnnl312.so build/benchmarks/bench_forward ...
 * Never for real use: with Debian's oneDNN 2.6 it brings the heap corruption back (the test
 * cpu-signals aborts under it). Not built by meson. */
#include <dnnl.h>

static const dnnl_version_t fixed = {3, 12, 0, "pretend", 0, 0};

const dnnl_version_t* dnnl_version(void) {
  return &fixed;
}
