// Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3):
//   y_c = x_c / s_c^beta,   s_c = k + alpha * sum_{j in W(c)} x_j^2
// where W(c) = [c - n/2, c + (n-1)/2] clipped to [0, C) (for odd n: n/2 either side, as in
// the paper; for even n it matches torch's LocalResponseNorm), and alpha is the effective
// alpha (LayerSpec::lrn_alpha: the config already converted the paper/Caffe conventions).
//
// Backward, exact: with t_c = dy_c * x_c * s_c^(-beta-1),
//   dx_j = dy_j * s_j^(-beta) - 2 * alpha * beta * x_j * sum_{c : j in W(c)} t_c
#include <cmath>
#include <utility>
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

class Lrn final : public RefOp {
 public:
  explicit Lrn(const LayerSpec& spec) : RefOp(spec) {
    if (spec.lrn_size < 1) throw Error("layer " + spec.name + ": LRN size must be >= 1");
    if (!(spec.lrn_k > 0) || !(spec.lrn_alpha >= 0) || !(spec.lrn_beta >= 0))
      throw Error("layer " + spec.name + ": LRN needs k > 0, alpha >= 0 and beta >= 0");
  }

  const Tensor& forward(const Tensor& x, const OpParams& /*p*/, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    Shape shape = spec_.output_shape(x.shape());  // requires (N, C, H, W)
    float* y = reuse(y_, shape).data();
    const float* xd = x.data();
    int64_t N = shape[0], C = shape[1], HW = shape[2] * shape[3];
    std::vector<double> s(static_cast<size_t>(C));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const float* xc = xd + n * C * HW + i;  // x[n, :, h, w], channel stride HW
        scales(xc, C, HW, s);
        for (int64_t c = 0; c < C; ++c)
          y[n * C * HW + c * HW + i] =
              static_cast<float>(xc[c * HW] * std::pow(s[c], -spec_.lrn_beta));
      }
    return y_;
  }

  const Tensor& backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dy,
                         const OpParams& /*p*/, bool need_dx) override {
    if (!dx_wanted(x, dy, need_dx)) return dx_;
    float* dx = reuse(dx_, x.shape()).data();
    int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    const double alpha = spec_.lrn_alpha, beta = spec_.lrn_beta;
    std::vector<double> s(static_cast<size_t>(C)), t(static_cast<size_t>(C)),
        back(static_cast<size_t>(C));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        int64_t base = n * C * HW + i;
        const float* xc = x.data() + base;
        const float* dyc = dy.data() + base;
        scales(xc, C, HW, s);  // recomputed from x: cheap, and keeps the op stateless
        for (int64_t c = 0; c < C; ++c) {
          t[c] = double(dyc[c * HW]) * xc[c * HW] * std::pow(s[c], -beta - 1);
          back[c] = 0;
        }
        // Every output c sends t_c back to each input j of its window.
        for (int64_t c = 0; c < C; ++c) {
          auto [lo, hi] = window(c, C);
          for (int64_t j = lo; j <= hi; ++j) back[j] += t[c];
        }
        for (int64_t j = 0; j < C; ++j)
          dx[base + j * HW] = static_cast<float>(double(dyc[j * HW]) * std::pow(s[j], -beta) -
                                                 2 * alpha * beta * xc[j * HW] * back[j]);
      }
    return dx_;
  }

 private:
  // The channels [lo, hi] in the window of channel c, clipped at the edges.
  std::pair<int64_t, int64_t> window(int64_t c, int64_t C) const {
    int64_t lo = c - spec_.lrn_size / 2, hi = c + (spec_.lrn_size - 1) / 2;
    return {lo < 0 ? 0 : lo, hi >= C ? C - 1 : hi};
  }

  // s_c = k + alpha * sum_{j in W(c)} x_j^2 for one pixel; x_j = xc[j * stride].
  void scales(const float* xc, int64_t C, int64_t stride, std::vector<double>& s) const {
    for (int64_t c = 0; c < C; ++c) {
      auto [lo, hi] = window(c, C);
      double sum = 0;
      for (int64_t j = lo; j <= hi; ++j) sum += double(xc[j * stride]) * xc[j * stride];
      s[c] = spec_.lrn_k + spec_.lrn_alpha * sum;
    }
  }
};

}  // namespace

std::unique_ptr<Op> make_lrn(const LayerSpec& spec) {
  return std::make_unique<Lrn>(spec);
}

}  // namespace alexnet::reference
