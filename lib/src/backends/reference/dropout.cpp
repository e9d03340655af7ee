// Inverted dropout. Training: y_i = x_i * 1/(1-p) if element i is kept, else 0, where the
// mask comes from dropout_mask.h (a hash of (OpParams::seed, OpParams::index_offset + i)),
// identical on every backend.
// Inference: y = x. Backward applies the same mask and scale to dy.
#include <cstring>

#include "core/dropout_mask.h"
#include "ops.h"

namespace alexnet::reference {
namespace {

class Dropout final : public RefOp {
 public:
  explicit Dropout(const LayerSpec& spec) : RefOp(spec) {}

  const Tensor& forward(const Tensor& x, const OpParams& p, bool training) override {
    require_plain_host(x, who_, "input x");
    float* y = reuse(y_, x.shape()).data();
    const float* xd = x.data();
    if (!training) {
      // A copy, not an alias of x: the next training forward writes into y_.
      if (x.numel()) std::memcpy(y, xd, static_cast<size_t>(x.numel()) * sizeof(float));
      return y_;
    }
    apply_mask(xd, y, x.numel(), p.seed, p.index_offset);
    seed_ = p.seed;  // backward must use the mask of this call
    offset_ = p.index_offset;
    have_mask_ = true;
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    require_backward_shapes(spec_, x, dy);
    if (!have_mask_) throw Error("layer " + spec_.name + ": backward without a training forward");
    if (!need_dx) return no_dx();
    apply_mask(dy.data(), reuse(dx_, x.shape()).data(), x.numel(), seed_, offset_);
    return dx_;
  }

 private:
  void apply_mask(const float* in, float* out, int64_t count, uint64_t seed,
                  uint64_t offset) const {
    const float scale = dropout_scale(spec_.drop_p);
    for (int64_t i = 0; i < count; ++i)
      out[i] = dropout_keep(seed, offset + static_cast<uint64_t>(i), spec_.drop_p) ? in[i] * scale
                                                                                   : 0.0f;
  }

  uint64_t seed_ = 0, offset_ = 0;
  bool have_mask_ = false;
};

}  // namespace

std::unique_ptr<Op> make_dropout(const LayerSpec& spec) {
  return std::make_unique<Dropout>(spec);
}

}  // namespace alexnet::reference
