// bench_preprocess: preprocessing of one 1920x1080 frame to the network's 3x224x224 input,
// per pixel format and interpolation (the element's per-frame CPU cost before the network).
//
//   bench_preprocess [--runs N]      (default 50 timed runs after one warm-up, per case)
//
// Prints the median wall and CPU (this thread) milliseconds per frame, one RESULT line per
// case. The frame is synthetic (a seeded pattern): the cost depends on the sizes, not the
// picture. Not part of `meson test`: speed is measured here, never asserted.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "alexnet/backend.h"
#include "alexnet/preprocess.h"

using namespace alexnet;

namespace {

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const char* interp_name(Interpolation ip) {
  return ip == Interpolation::Bilinear ? "bilinear"
         : ip == Interpolation::Area   ? "area"
                                       : "nearest";
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_preprocess [--runs N]\n");
      return 2;
    }
  }
  if (runs < 1) {
    std::fprintf(stderr, "bench_preprocess: --runs must be >= 1\n");
    return 2;
  }
  const int w = 1920, h = 1080;
  std::printf("# 1920x1080 -> 3x224x224 (resize 256, centre crop), %d runs per case; cpu: %s\n",
              runs, cpu_backend_isa().c_str());
  std::vector<float> out(3 * 224 * 224);
  for (PixelFormat f :
       {PixelFormat::RGB, PixelFormat::BGRx, PixelFormat::I420, PixelFormat::NV12}) {
    std::vector<uint8_t> bytes(frame_buffer_size(f, w, h));
    uint32_t s = 12345;  // an LCG: a fixed, busy pattern
    for (uint8_t& b : bytes) b = static_cast<uint8_t>((s = s * 1664525u + 1013904223u) >> 24);
    const Frame frame = make_packed_frame(f, w, h, bytes.data());
    for (Interpolation ip :
         {Interpolation::Bilinear, Interpolation::Area, Interpolation::Nearest}) {
      PreprocessConfig cfg;
      cfg.interpolation = ip;
      preprocess(frame, cfg, 3, 224, out.data());  // warm the caches
      std::vector<double> wall, cpu;
      for (int r = 0; r < runs; ++r) {
        const double c0 = thread_cpu_ms();
        const auto t0 = std::chrono::steady_clock::now();
        preprocess(frame, cfg, 3, 224, out.data());
        wall.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
        cpu.push_back(thread_cpu_ms() - c0);
      }
      std::printf(
          "RESULT bench=preprocess format=%s interpolation=%s width=%d height=%d runs=%d "
          "median_ms=%.3f median_cpu_ms=%.3f\n",
          pixel_format_name(f), interp_name(ip), w, h, runs, median(wall), median(cpu));
    }
  }
  return 0;
}
