// The reference backend: host memory, plain layout, one plain-loop op per layer (ops.h).
#include <memory>

#include "alexnet/backend.h"
#include "backends/op_common.h"
#include "ops.h"

namespace alexnet {
namespace {

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }
  DeviceKind device() const override { return DeviceKind::Cpu; }

  Tensor zeros(const Shape& shape) override { return Tensor(shape); }

  Tensor from_host(const Tensor& host) override {
    reference::require_plain_host(host, "reference from_host", "tensor");
    return host.clone();
  }

  Tensor to_host(const Tensor& t) override {
    // Only this backend's own tensors can come here, and they are always plain.
    reference::require_plain_host(t, "reference to_host", "tensor");
    return t.clone();
  }

  void synchronize() override {}  // everything runs synchronously on the calling thread

  std::unique_ptr<Op> make_op(const LayerSpec& spec) override {
    using namespace reference;
    static constexpr OpFactories<> kOps{
        make_conv,   make_relu,   make_lrn, make_maxpool, make_adaptive_avgpool,
        make_linear, make_dropout};
    if (auto op = kOps.make(spec)) return op;
    throw Error("layer " + spec.name + ": unknown layer kind");
  }

  float softmax_cross_entropy(const Tensor& logits, std::span<const int> labels,
                              Tensor* dlogits) override {
    return reference::softmax_cross_entropy(logits, labels, dlogits);
  }

  Tensor softmax(const Tensor& logits) override { return reference::softmax(logits); }

  void sgd_update(Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                  float weight_decay) override {
    reference::sgd_update(w, g, v, lr, momentum, weight_decay);
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() {
  return std::make_unique<ReferenceBackend>();
}

}  // namespace alexnet
