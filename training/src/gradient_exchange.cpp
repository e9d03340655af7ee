// Gradients summed over the ranks of a job (gradient_exchange.h).
#include "gradient_exchange.h"

#include <algorithm>
#include <cstdlib>

namespace train {

using alexnet::Tensor;

std::string GradientExchange::choose(const std::string& devices) {
  const char* reduce = std::getenv("ALEXNET_REDUCE");
  bool gpus = true;
  for (const alexnet::Device& d : alexnet::parse_devices(devices))
    gpus = gpus && d.kind == alexnet::DeviceKind::Gpu;
  std::string why;
  if (!gpus)
    why = "not every device is a GPU";
  else if (reduce && std::string(reduce) == "host")
    why = "ALEXNET_REDUCE=host";
  else if (!alexnet::nccl_unavailable_reason().empty())
    why = alexnet::nccl_unavailable_reason();
  double ok = why.empty() ? 1 : 0;
  cl_.allreduce_sum(&ok, 1, "the choice of the gradient reduction");
  use_nccl_ = ok == cl_.size();
  if (!gpus) return "";
  return use_nccl_ ? std::string("gradients between ranks: NCCL (its id broadcast over MPI)")
                   : "gradients between ranks: MPI_Allreduce through host memory (" +
                         (why.empty() ? std::string("another rank cannot use NCCL") : why) + ")";
}

void GradientExchange::exchange(alexnet::Backend* backend, std::span<Tensor* const> grads,
                                const std::string& what) {
  if (backend && use_nccl_) {  // on the GPUs: one NCCL group per replica's GPU
    alexnet::NcclGroup*& group = nccl_groups_[backend];
    if (!group) {
      std::string id = cl_.root() ? alexnet::nccl_unique_id() : std::string();
      cl_.broadcast(id, "the NCCL unique id");
      group = alexnet::nccl_join(id, cl_.size(), cl_.rank(), *backend);
    }
    alexnet::nccl_group_allreduce(group, *backend, grads, static_cast<float>(weight_));
    return;
  }
  size_t total = 0;
  for (const Tensor* g : grads) total += static_cast<size_t>(g->numel());
  flat_.resize(total);
  const float w = static_cast<float>(weight_);
  auto on_host = [&](const Tensor* g) {
    return !backend || (g->device() == alexnet::DeviceKind::Cpu && g->is_plain());
  };
  size_t at = 0;
  for (Tensor* g : grads) {
    const Tensor h = on_host(g) ? *g : backend->to_host(*g);
    for (int64_t i = 0; i < h.numel(); ++i) flat_[at + static_cast<size_t>(i)] = w * h.data()[i];
    at += static_cast<size_t>(h.numel());
  }
  cl_.allreduce_sum(flat_.data(), total, what);
  at = 0;
  for (Tensor* g : grads) {
    const size_t n = static_cast<size_t>(g->numel());
    const auto first = flat_.begin() + static_cast<std::ptrdiff_t>(at);
    if (on_host(g)) {
      std::copy(first, first + static_cast<std::ptrdiff_t>(n), g->data());
    } else {
      Tensor h(g->shape());
      std::copy(first, first + static_cast<std::ptrdiff_t>(n), h.data());
      backend->upload(h, *g);
    }
    at += n;
  }
}

std::string resolve_local_devices(const std::string& devices, int local_rank) {
  std::string out;
  size_t start = 0;
  while (start <= devices.size()) {
    size_t end = devices.find(',', start);
    if (end == std::string::npos) end = devices.size();
    std::string item = devices.substr(start, end - start);
    if (item == "gpu:local") item = "gpu:" + std::to_string(local_rank);
    out += (out.empty() ? "" : ",") + item;
    start = end + 1;
  }
  return out;
}

uint64_t checksum(const std::vector<alexnet::NamedTensor>& tensors, uint64_t h) {
  for (const alexnet::NamedTensor& t : tensors) {
    const auto* p = reinterpret_cast<const unsigned char*>(t.value.data());
    for (size_t i = 0; i < t.value.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace train
