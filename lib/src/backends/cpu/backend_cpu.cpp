// The "cpu" backend: oneDNN primitives (OpenMP runtime) on the host.
//
// Activations stay in the layouts the convolutions choose (nChw8c on AVX2) from layer to
// layer; a Tensor carries that oneDNN memory descriptor as its opaque layout, and only
// to_host() (or an op that needs it) turns it back into plain NCHW.
#include <cstring>

#include "alexnet/device.h"
#include "backends/op_common.h"
#include "cpu_common.h"
#include "cpu_debug.h"

namespace alexnet {
namespace cpu {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, int block, Dt inference)
      : ctx_(std::make_shared<Context>(threads, block, inference)) {}

  std::string name() const override {
    return ctx_->inference == bf16 ? "cpu (bf16)" : ctx_->inference == s8 ? "cpu (int8)" : "cpu";
  }
  Precision precision() const override {
    return ctx_->inference == bf16 ? Precision::BF16
           : ctx_->inference == s8 ? Precision::INT8
                                   : Precision::F32;
  }
  DeviceKind device() const override { return DeviceKind::Cpu; }

  Tensor zeros(const Shape& shape) override { return Tensor(shape); }

  // Ops read any plain host tensor directly, so this is only a copy (the caller's tensor
  // stays independent of the device one, as with a real device).
  Tensor from_host(const Tensor& host) override {
    if (!host.is_plain() || host.device() != DeviceKind::Cpu)
      throw Error("cpu backend: from_host needs a plain host tensor, got " +
                  shape_str(host.shape()));
    return host.clone();
  }

  Tensor to_host(const Tensor& t) override {
    ThreadScope scope(*ctx_);
    Md md = tensor_md(t);
    if (t.is_plain()) return t.clone();
    Tensor out(t.shape());
    // A fresh reorder each time (oneDNN's primitive cache makes that cheap): keeps to_host
    // free of shared state; the hot path (logits) is plain and only copied. int8 data is
    // dequantised by its scale.
    const float scale = tensor_scale(t);
    ReorderCache reorder;
    reorder.run(*ctx_, md, t.data(), plain_md(t.shape()), out.data(),
                scale > 0 ? 1.f / scale : 1.f);
    return out;
  }

  void synchronize() override { ALEXNET_DNNL(ctx_->strm.wait()); }

  std::unique_ptr<Op> make_op(const LayerSpec& spec) override {
    static constexpr OpFactories<ContextPtr> kOps{make_conv_op,    make_relu_op,    make_lrn_op,
                                                  make_maxpool_op, make_avgpool_op, make_linear_op,
                                                  make_dropout_op};
    if (auto op = kOps.make(spec, ctx_)) return op;
    throw Error("cpu backend: unknown layer kind for " + spec.name);
  }

  float softmax_cross_entropy(const Tensor& logits, std::span<const int> labels,
                              Tensor* dlogits) override {
    ThreadScope scope(*ctx_);
    if (logits.is_plain())
      return cpu::softmax_cross_entropy(*ctx_, logits, labels.data(), labels.size(), dlogits);
    return cpu::softmax_cross_entropy(*ctx_, to_host(logits), labels.data(), labels.size(),
                                      dlogits);
  }

  Tensor softmax(const Tensor& logits) override {
    ThreadScope scope(*ctx_);
    if (logits.rank() != 2)
      throw Error("cpu backend: softmax needs (N, K) logits, got " + shape_str(logits.shape()));
    Tensor plain = logits.is_plain() ? logits : to_host(logits);
    tensor_md(plain);  // checks it is a host tensor
    Tensor out(logits.shape());
    softmax_rows(*ctx_, plain.data(), out.data(), logits.dim(0), logits.dim(1));
    return out;
  }

  void sgd_update(Tensor& w, const Tensor& g, Tensor& v, float lr, float momentum,
                  float weight_decay) override {
    ThreadScope scope(*ctx_);
    cpu::sgd_update(*ctx_, w, g, v, lr, momentum, weight_decay);
  }

 private:
  std::shared_ptr<Context> ctx_;
};

}  // namespace
}  // namespace cpu

std::string cpu_precision_unavailable_reason(Precision precision) {
  switch (precision) {
    case Precision::F32:
      return "";
    case Precision::F16:
      return "precision fp16 is for GPUs (a CPU runs fp32 or bf16)";
    case Precision::INT8:
      // oneDNN 2.6 has int8 convolutions and inner products from AVX2 up (VNNI where the CPU
      // has it); below AVX2 only its reference kernels.
      if (dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx2) return "";
      return "precision int8 needs AVX2 or better, and oneDNN runs at " + cpu::effective_isa() +
             " here";
    case Precision::BF16: {
      // oneDNN 2.6 emulates bf16 on plain AVX-512 and has no bf16 kernels below it: only
      // avx512_bf16 (Cooper Lake, Zen 4) and AMX (Sapphire Rapids) run it natively.
      const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
      if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx)
        return "";
      return "precision bf16 needs avx512_bf16 or AMX, and oneDNN runs at " + cpu::effective_isa() +
             " here (ONEDNN_MAX_CPU_ISA may lower it)";
    }
  }
  return "unknown precision";
}

std::unique_ptr<Backend> make_cpu_backend(int threads, Precision precision) {
  if (threads < 0) throw Error("cpu backend: threads must be >= 0, got " + std::to_string(threads));
  const std::string why = cpu_precision_unavailable_reason(precision);
  if (!why.empty()) throw Error("device cpu: " + why);
  // The cores this process may run on (affinity mask, container quota): what every other
  // "all cores" in the library means too.
  if (threads == 0) threads = usable_cores();
  return std::make_unique<cpu::CpuBackend>(threads, cpu::block_from_env(),
                                           precision == Precision::BF16   ? cpu::bf16
                                           : precision == Precision::INT8 ? cpu::s8
                                                                          : cpu::f32);
}

std::string cpu_backend_isa() {
  return cpu::effective_isa();
}

}  // namespace alexnet
