// ReLU: y = max(0, x) elementwise, any shape; dx = dy where y > 0, else 0.
#include "ops.h"

namespace alexnet::reference {
namespace {

class Relu final : public RefOp {
 public:
  explicit Relu(const LayerSpec& spec) : RefOp(spec) {}

  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    float* y = reuse(y_, x.shape()).data();
    const float* xd = x.data();
    // `x < 0 ? 0 : x` rather than std::max so that a NaN input stays NaN, as in torch.
    for (int64_t i = 0; i < x.numel(); ++i) y[i] = xd[i] < 0 ? 0.0f : xd[i];
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& /*p*/,
                         bool need_dx) override {
    require_backward_shapes(spec_, x, dy);
    require_plain_host(y, who_, "output y");
    require_shape(y, x.shape(), who_, "output y");
    if (!need_dx) return no_dx();
    float* dx = reuse(dx_, x.shape()).data();
    const float* yd = y.data();
    const float* dyd = dy.data();
    for (int64_t i = 0; i < x.numel(); ++i) dx[i] = yd[i] > 0 ? dyd[i] : 0.0f;
    return dx_;
  }
};

}  // namespace

std::unique_ptr<Op> make_relu(const LayerSpec& spec) {
  return std::make_unique<Relu>(spec);
}

}  // namespace alexnet::reference
