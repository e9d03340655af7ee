// Adaptive average pooling to (out_size, out_size), torch's semantics: output row i averages
// input rows [floor(i * H / out), ceil((i + 1) * H / out)), likewise columns. Windows may
// overlap (H not a multiple of out) and out may exceed H (rows are then repeated).
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

class AdaptiveAvgPool final : public RefOp {
 public:
  explicit AdaptiveAvgPool(const LayerSpec& spec) : RefOp(spec) {}

  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());  // (N, C, S, S)
    float* y = reuse(y_, out).data();
    const float* xd = x.data();
    int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    for (int64_t nc = 0; nc < NC; ++nc)
      for_each_adaptive_window(H, W, S, [&](int64_t cell, const PoolWindow& win) {
        double sum = window_sum<double>(xd + nc * H * W, W, win);
        y[nc * S * S + cell] = static_cast<float>(sum / double(win.size()));
      });
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    if (!dx_wanted(x, dy, need_dx)) return dx_;
    int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), S = spec_.out_size;
    // Each dy is shared equally by the inputs of its window.
    std::vector<double> dx(static_cast<size_t>(x.numel()), 0.0);
    for (int64_t nc = 0; nc < NC; ++nc)
      for_each_adaptive_window(H, W, S, [&](int64_t cell, const PoolWindow& win) {
        double share = dy.data()[nc * S * S + cell] / double(win.size());
        add_to_window(dx.data() + nc * H * W, W, win, share);
      });
    return dx_from(dx, x.shape());
  }
};

}  // namespace

std::unique_ptr<Op> make_adaptive_avgpool(const LayerSpec& spec) {
  return std::make_unique<AdaptiveAvgPool>(spec);
}

}  // namespace alexnet::reference
