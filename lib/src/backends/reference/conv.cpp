// Convolution with stride, zero padding, groups and an optional fused ReLU:
//   y[n, o, oy, ox] = act(b[o] + sum_{ci, ky, kx} w[o, ci, ky, kx] * x[n, g*Cg + ci, iy, ix])
// with iy = oy * stride - pad + ky (likewise ix), g = o / Og the group of output channel o,
// Cg = C / groups input channels per group, Og = O / groups, and act = ReLU or identity.
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

class Conv final : public RefOp {
 public:
  explicit Conv(const LayerSpec& spec) : RefOp(spec) {}

  const Tensor& forward(const Tensor& x, const OpParams& p, bool /*training*/) override {
    require_plain_host(x, who_, "input x");
    Shape out = spec_.output_shape(x.shape());  // checks rank, channels, size
    const float* w = weight(p);
    const float* b = bias(p);
    Tensor& y = reuse(y_, out);
    Dims d = dims(x.shape(), out);
    const float* xd = x.data();
    float* yd = y.data();
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t o = 0; o < d.o; ++o) {
        int64_t c0 = (o / d.og) * d.cg;  // first input channel of o's group
        for (int64_t oy = 0; oy < d.oh; ++oy)
          for (int64_t ox = 0; ox < d.ow; ++ox) {
            double acc = b[o];
            for (int64_t ci = 0; ci < d.cg; ++ci)
              for (int64_t ky = 0; ky < d.k; ++ky) {
                int64_t iy = oy * spec_.stride - spec_.pad + ky;
                if (iy < 0 || iy >= d.h) continue;  // zero padding
                for (int64_t kx = 0; kx < d.k; ++kx) {
                  int64_t ix = ox * spec_.stride - spec_.pad + kx;
                  if (ix < 0 || ix >= d.w) continue;
                  acc += double(w[((o * d.cg + ci) * d.k + ky) * d.k + kx]) *
                         xd[((n * d.c + c0 + ci) * d.h + iy) * d.w + ix];
                }
              }
            if (spec_.fused_relu && acc < 0) acc = 0;
            yd[((n * d.o + o) * d.oh + oy) * d.ow + ox] = static_cast<float>(acc);
          }
      }
    return y;
  }

  const Tensor& backward(const Tensor& x, const Tensor& y, const Tensor& dy, const OpParams& p,
                         bool need_dx) override {
    const float* w = checked_backward_weight(x, y, dy, p);
    Dims d = dims(x.shape(), dy.shape());
    const float* xd = x.data();
    const float* yd = spec_.fused_relu ? y.data() : nullptr;
    const float* dyd = dy.data();
    // g = dL/d(pre-activation) (N, O, OH, OW): the fused ReLU passes dy where y > 0.
    auto g = [&](int64_t i) -> double { return (yd && !(yd[i] > 0)) ? 0.0 : dyd[i]; };

    // Accumulate in double, then round once: dW sums N*OH*OW products, dx up to O*K*K.
    std::vector<double> dw(static_cast<size_t>(shape_numel(spec_.weight_shape())), 0.0);
    std::vector<double> db(static_cast<size_t>(d.o), 0.0);
    std::vector<double> dx(need_dx ? static_cast<size_t>(x.numel()) : 0, 0.0);
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t o = 0; o < d.o; ++o) {
        int64_t c0 = (o / d.og) * d.cg;
        for (int64_t oy = 0; oy < d.oh; ++oy)
          for (int64_t ox = 0; ox < d.ow; ++ox) {
            double go = g(((n * d.o + o) * d.oh + oy) * d.ow + ox);
            if (go == 0) continue;
            db[o] += go;
            for (int64_t ci = 0; ci < d.cg; ++ci)
              for (int64_t ky = 0; ky < d.k; ++ky) {
                int64_t iy = oy * spec_.stride - spec_.pad + ky;
                if (iy < 0 || iy >= d.h) continue;
                for (int64_t kx = 0; kx < d.k; ++kx) {
                  int64_t ix = ox * spec_.stride - spec_.pad + kx;
                  if (ix < 0 || ix >= d.w) continue;
                  int64_t wi = ((o * d.cg + ci) * d.k + ky) * d.k + kx;
                  int64_t xi = ((n * d.c + c0 + ci) * d.h + iy) * d.w + ix;
                  dw[wi] += go * xd[xi];
                  if (need_dx) dx[xi] += go * w[wi];
                }
              }
          }
      }

    if (float* gw = grad_weight(p)) round_into(dw, gw);
    if (float* gb = grad_bias(p)) round_into(db, gb);
    if (!need_dx) return no_dx();
    return dx_from(dx, x.shape());
  }

 private:
  struct Dims {
    int64_t n, c, h, w;  // input (N, C, H, W)
    int64_t o, oh, ow;   // output (N, O, OH, OW)
    int64_t k, cg, og;   // kernel side, input and output channels per group
  };
  Dims dims(const Shape& in, const Shape& out) const {
    Dims d;
    d.n = in[0], d.c = in[1], d.h = in[2], d.w = in[3];
    d.o = out[1], d.oh = out[2], d.ow = out[3];
    d.k = spec_.kernel, d.cg = d.c / spec_.groups, d.og = d.o / spec_.groups;
    return d;
  }
};

}  // namespace

std::unique_ptr<Op> make_conv(const LayerSpec& spec) {
  return std::make_unique<Conv>(spec);
}

}  // namespace alexnet::reference
