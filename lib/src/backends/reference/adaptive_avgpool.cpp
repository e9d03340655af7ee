// Adaptive average pooling to (out_size, out_size), torch's semantics: output row i averages
// input rows [floor(i * H / out), ceil((i + 1) * H / out)), likewise columns. Windows may
// overlap (H not a multiple of out) and out may exceed H (rows are then repeated).
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

// [start, end) of output cell i of `out` over an input side of `in`.
int64_t win_start(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
int64_t win_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

class AdaptiveAvgPool final : public RefOp {
 public:
  explicit AdaptiveAvgPool(const LayerSpec& spec) : RefOp(spec) {
    if (spec.out_size < 1)
      throw Error("layer " + spec.name + ": adaptive pooling output size must be >= 1");
  }

  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());  // (N, C, S, S)
    float* y = reuse(y_, out).data();
    const float* xd = x.data();
    int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oy = 0; oy < S; ++oy)
        for (int64_t ox = 0; ox < S; ++ox) {
          int64_t y0 = win_start(oy, H, S), y1 = win_end(oy, H, S);
          int64_t x0 = win_start(ox, W, S), x1 = win_end(ox, W, S);
          double sum = 0;
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) sum += xd[(nc * H + iy) * W + ix];
          y[(nc * S + oy) * S + ox] = static_cast<float>(sum / double((y1 - y0) * (x1 - x0)));
        }
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    if (!dx_wanted(x, dy, need_dx)) return dx_;
    int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    // Each dy is shared equally by the inputs of its window.
    std::vector<double> dx(static_cast<size_t>(x.numel()), 0.0);
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oy = 0; oy < S; ++oy)
        for (int64_t ox = 0; ox < S; ++ox) {
          int64_t y0 = win_start(oy, H, S), y1 = win_end(oy, H, S);
          int64_t x0 = win_start(ox, W, S), x1 = win_end(ox, W, S);
          double share = dy.data()[(nc * S + oy) * S + ox] / double((y1 - y0) * (x1 - x0));
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) dx[(nc * H + iy) * W + ix] += share;
        }
    float* dxd = reuse(dx_, x.shape()).data();
    for (size_t i = 0; i < dx.size(); ++i) dxd[i] = static_cast<float>(dx[i]);
    return dx_;
  }
};

}  // namespace

std::unique_ptr<Op> make_adaptive_avgpool(const LayerSpec& spec) {
  return std::make_unique<AdaptiveAvgPool>(spec);
}

}  // namespace alexnet::reference
