// Fully connected: x (N, ...) is read as (N, in) with in = C*H*W (row-major flattening, as
// torch.flatten(x, 1)); y (N, out) = act(x W^T + b) with W (out, in), act = ReLU or identity.
// dx has x's own shape, so a 4D input gets a 4D gradient.
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

class Linear final : public RefOp {
 public:
  explicit Linear(const LayerSpec& spec) : RefOp(spec) {}

  const Tensor& forward(const Tensor& x, const OpParams& p, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());  // (N, out); checks the feature count
    const float* w = weight(p);
    const float* b = bias(p);
    float* y = reuse(y_, out).data();
    const float* xd = x.data();
    int64_t N = out[0], O = spec_.out_channels, I = spec_.in_channels;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o) {
        double acc = b[o];
        for (int64_t i = 0; i < I; ++i) acc += double(w[o * I + i]) * xd[n * I + i];
        if (spec_.fused_relu && acc < 0) acc = 0;
        y[n * O + o] = static_cast<float>(acc);
      }
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                         bool need_dx) override {
    const float* w = checked_backward_weight(x, y, dy, p);
    int64_t N = dy.dim(0), O = spec_.out_channels, I = spec_.in_channels;
    const float* xd = x.data();
    // g = dL/d(pre-activation) (N, O): the fused ReLU passes dy where y > 0.
    std::vector<double> g(static_cast<size_t>(N * O));
    for (int64_t k = 0; k < N * O; ++k)
      g[k] = (spec_.fused_relu && !(y.data()[k] > 0)) ? 0.0 : dy.data()[k];

    if (float* gw = grad_weight(p))
      for (int64_t o = 0; o < O; ++o)
        for (int64_t i = 0; i < I; ++i) {
          double acc = 0;  // dW[o, i] = sum_n g[n, o] * x[n, i]
          for (int64_t n = 0; n < N; ++n) acc += g[n * O + o] * xd[n * I + i];
          gw[o * I + i] = static_cast<float>(acc);
        }
    if (float* gb = grad_bias(p))
      for (int64_t o = 0; o < O; ++o) {
        double acc = 0;  // db[o] = sum_n g[n, o]
        for (int64_t n = 0; n < N; ++n) acc += g[n * O + o];
        gb[o] = static_cast<float>(acc);
      }
    if (!need_dx) return no_dx();
    float* dx = reuse(dx_, x.shape()).data();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < I; ++i) {
        double acc = 0;  // dx[n, i] = sum_o g[n, o] * W[o, i]
        for (int64_t o = 0; o < O; ++o) acc += g[n * O + o] * w[o * I + i];
        dx[n * I + i] = static_cast<float>(acc);
      }
    return dx_;
  }
};

}  // namespace

std::unique_ptr<Op> make_linear(const LayerSpec& spec) {
  return std::make_unique<Linear>(spec);
}

}  // namespace alexnet::reference
