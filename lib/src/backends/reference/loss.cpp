// Softmax and mean softmax cross-entropy over logits (N, K), numerically stable: every row
// is shifted by its maximum before exp, so large logits neither overflow nor lose the label's
// term.  L = (1/N) sum_n [log sum_k exp(z_nk) - z_n,label(n)],  dL/dz = (softmax - onehot) / N.
#include <span>
#include <string>
#include <vector>

#include "ops.h"

namespace alexnet::reference {
namespace {

void check_logits(const Tensor& logits, const char* who) {
  std::string w = who;
  if (logits.empty()) throw Error(w + ": logits are empty");
  if (logits.device() != DeviceKind::Cpu || !logits.is_plain())
    throw Error(w + ": logits must be a plain host tensor for the reference backend");
  if (logits.rank() != 2 || logits.dim(1) < 1)
    throw Error(w + ": logits " + shape_str(logits.shape()) + " must be (N, K) with K >= 1");
}

}  // namespace

float softmax_cross_entropy(const Tensor& logits, std::span<const int> labels, Tensor* dlogits) {
  const char* who = "softmax_cross_entropy";
  check_logits(logits, who);
  int64_t N = logits.dim(0), K = logits.dim(1);
  if (static_cast<int64_t>(labels.size()) != N)
    throw Error(std::string(who) + ": " + std::to_string(labels.size()) +
                " labels for a batch of " + std::to_string(N));
  for (size_t n = 0; n < labels.size(); ++n)
    if (labels[n] < 0 || labels[n] >= K)
      throw Error(std::string(who) + ": label " + std::to_string(labels[n]) + " of sample " +
                  std::to_string(n) + " is outside [0, " + std::to_string(K) + ")");
  float* d = nullptr;
  if (dlogits) {
    if (dlogits->empty() || dlogits->shape() != logits.shape()) *dlogits = Tensor(logits.shape());
    if (dlogits->device() != DeviceKind::Cpu || !dlogits->is_plain())
      throw Error(std::string(who) + ": dlogits must be a plain host tensor");
    d = dlogits->data();
  }
  std::vector<double> p(static_cast<size_t>(K));
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits.data() + n * K;
    int label = labels[static_cast<size_t>(n)];
    total += softmax_row(z, p.data(), K) - z[label];
    if (d)
      for (int64_t k = 0; k < K; ++k)
        d[n * K + k] = static_cast<float>((p[k] - (k == label ? 1.0 : 0.0)) / double(N));
  }
  return N ? static_cast<float>(total / double(N)) : 0.0f;
}

Tensor softmax(const Tensor& logits) {
  check_logits(logits, "softmax");
  int64_t N = logits.dim(0), K = logits.dim(1);
  Tensor out(logits.shape());  // (N, K)
  std::vector<double> p(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    softmax_row(logits.data() + n * K, p.data(), K);
    for (int64_t k = 0; k < K; ++k) out.data()[n * K + k] = static_cast<float>(p[k]);
  }
  return out;
}

}  // namespace alexnet::reference
