// Softmax, mean softmax cross-entropy and the paper's SGD step: small elementwise work over
// plain tensors, as OpenMP loops (the thread count comes from the caller's ThreadScope).
#include <string>
#include <utility>
#include <vector>

#include "backends/op_common.h"
#include "cpu_common.h"

namespace alexnet::cpu {

// softmax_row (op_common.h) works in double, as the reference does: the rows are tiny next to
// the layers, and the results then agree with the oracle to the last float bit or so.

void softmax_rows(const Context& ctx, const float* logits, float* out, int64_t n, int64_t k) {
  if (k < 1) return;
#pragma omp parallel num_threads(ctx.threads) if (n > 1)
  {
    std::vector<double> p(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      softmax_row(logits + i * k, p.data(), k);
      for (int64_t j = 0; j < k; ++j) out[i * k + j] = static_cast<float>(p[j]);
    }
  }
}

float softmax_cross_entropy(const Context& ctx, const Tensor& logits, const int* labels,
                            size_t n_labels, Tensor* dlogits) {
  if (logits.rank() != 2)
    throw Error("cpu backend: cross-entropy needs (N, K) logits, got " + shape_str(logits.shape()));
  tensor_md(logits);  // a host tensor
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (static_cast<int64_t>(n_labels) != n)
    throw Error("cpu backend: " + std::to_string(n_labels) + " labels for " + std::to_string(n) +
                " logit rows");
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= k)
      throw Error("cpu backend: label " + std::to_string(labels[i]) + " of row " +
                  std::to_string(i) + " is outside [0, " + std::to_string(k) + ")");
  if (n == 0) return 0.f;
  if (dlogits && (dlogits->shape() != logits.shape() || dlogits->empty() || !dlogits->is_plain()))
    *dlogits = Tensor(logits.shape());
  const float* z = logits.data();
  float* d = dlogits ? dlogits->data() : nullptr;
  double total = 0;
#pragma omp parallel num_threads(ctx.threads) if (n > 1) reduction(+ : total)
  {
    std::vector<double> p(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const float* row = z + i * k;
      total += softmax_row(row, p.data(), k) - row[labels[i]];
      if (d)  // (softmax - onehot) / N
        for (int64_t j = 0; j < k; ++j)
          d[i * k + j] = static_cast<float>((p[j] - (j == labels[i] ? 1.0 : 0.0)) / double(n));
    }
  }
  return static_cast<float>(total / static_cast<double>(n));
}

void sgd_update(const Context& ctx, Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                float weight_decay) {
  if (!w.is_plain() || !g.is_plain() || !v.is_plain())
    throw Error("cpu backend: sgd_update needs plain tensors");
  if (g.shape() != w.shape() || v.shape() != w.shape())
    throw Error("cpu backend: sgd_update shapes differ: w " + shape_str(w.shape()) + ", g " +
                shape_str(g.shape()) + ", v " + shape_str(v.shape()));
  for (const Tensor* t : {&std::as_const(w), &g, &std::as_const(v)}) tensor_md(*t);  // host
  float* wp = w.data();
  const float* gp = g.data();
  float* vp = v.data();
  const int64_t n = w.numel();
  // backend.h's formula, v = momentum * v - weight_decay * lr * w - lr * g; w = w + v,
  // evaluated exactly as the reference does (in double, rounded once per element), so both
  // backends give bit-identical weights. The loop is memory bound; double costs nothing.
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    double vi = double(momentum) * vp[i] - double(weight_decay) * lr * wp[i] - double(lr) * gp[i];
    vp[i] = static_cast<float>(vi);
    wp[i] = static_cast<float>(wp[i] + double(vp[i]));
  }
}

}  // namespace alexnet::cpu
