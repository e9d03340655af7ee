// Max pooling: square window `kernel`, `stride`, no padding, floor mode (a last partial
// window is dropped). Backward sends each dy to the first maximum of its window in row-major
// order (ties are broken the same way in forward and backward); overlapping windows
// (kernel > stride, as in AlexNet's 3/2 pooling) add up.
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

class MaxPool final : public RefOp {
 public:
  explicit MaxPool(const LayerSpec& spec) : RefOp(spec) {}

  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());  // (N, C, OH, OW)
    float* y = reuse(y_, out).data();
    for_each_window(
        x, out, [&](int64_t out_index, int64_t in_index) { y[out_index] = x.data()[in_index]; });
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    if (!dx_wanted(x, dy, need_dx)) return dx_;
    // The argmax is recomputed from x (the same rule as forward), so nothing is kept.
    std::vector<double> dx(static_cast<size_t>(x.numel()), 0.0);
    for_each_window(x, dy.shape(), [&](int64_t out_index, int64_t in_index) {
      dx[in_index] += dy.data()[out_index];
    });
    return dx_from(dx, x.shape());
  }

 private:
  // Calls f(flat output index, flat input index of the window's first maximum) per output.
  template <class F>
  void for_each_window(const Tensor& x, const Shape& out, F f) const {
    int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
    int64_t OH = out[2], OW = out[3], K = spec_.kernel, S = spec_.stride;
    const float* xd = x.data();
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          int64_t best = (nc * H + oy * S) * W + ox * S;  // the window's top-left element
          for (int64_t ky = 0; ky < K; ++ky)
            for (int64_t kx = 0; kx < K; ++kx) {
              int64_t i = (nc * H + oy * S + ky) * W + ox * S + kx;
              // Strict: the first maximum wins. A NaN wins over numbers, as in torch.
              bool nan = xd[i] != xd[i] && xd[best] == xd[best];
              if (xd[i] > xd[best] || nan) best = i;
            }
          f((nc * OH + oy) * OW + ox, best);
        }
  }
};

}  // namespace

std::unique_ptr<Op> make_maxpool(const LayerSpec& spec) {
  return std::make_unique<MaxPool>(spec);
}

}  // namespace alexnet::reference
