// The paper's SGD with momentum and weight decay (Krizhevsky et al. 2012, section 5),
// elementwise over one parameter tensor:
//   v = momentum * v - weight_decay * lr * w - lr * g;   w = w + v
#include <string>

#include "ops.h"

namespace alexnet::reference {

void sgd_update(Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                float weight_decay) {
  const std::string who = "sgd_update";
  require_plain_host(w, who, "weight");
  require_plain_host(g, who, "gradient");
  require_plain_host(v, who, "momentum");
  require_shape(g, w.shape(), who, "gradient");
  require_shape(v, w.shape(), who, "momentum");
  float* wd = w.data();
  float* vd = v.data();
  const float* gd = g.data();
  for (int64_t i = 0; i < w.numel(); ++i) {
    // In double, rounded once per tensor element, so the oracle adds no error of its own.
    double vi = double(momentum) * vd[i] - double(weight_decay) * lr * wd[i] - double(lr) * gd[i];
    vd[i] = static_cast<float>(vi);
    wd[i] = static_cast<float>(wd[i] + double(vd[i]));
  }
}

}  // namespace alexnet::reference
