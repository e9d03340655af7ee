#include "alexnet/network.h"

#include <cmath>

#include "alexnet/error.h"
#include "core/seed_mix.h"

namespace alexnet {

Network::Network(const NetConfig& cfg, std::unique_ptr<Backend> backend)
    : cfg_(cfg), backend_(std::move(backend)) {
  if (!backend_) throw Error("Network: no backend");
  cfg_.validate();
  layers_ = build_layers(cfg_);
  param_index_.assign(layers_.size(), -1);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    ops_.push_back(backend_->make_op(l));
    if (!l.has_params()) continue;
    param_index_[i] = static_cast<int>(params_.size());
    for (const auto& [suffix, shape] :
         {std::pair{".weight", l.weight_shape()}, std::pair{".bias", l.bias_shape()}})
      params_.push_back(Param{l.name + suffix, backend_->zeros(shape), backend_->zeros(shape), {}});
  }
}

Network::~Network() = default;

void Network::set_params(const std::vector<NamedTensor>& host) {
  check_param_tensors(cfg_, host, "Network");
  for (size_t i = 0; i < params_.size(); ++i) params_[i].value = backend_->from_host(host[i].value);
  ++version_;
}

std::vector<NamedTensor> Network::get_params() {
  std::vector<NamedTensor> out;
  for (Param& p : params_) out.push_back({p.name, backend_->to_host(p.value)});
  return out;
}

std::string Network::describe() const {
  return backend_->name();
}

std::vector<NamedTensor> Network::get_momentum() {
  std::vector<NamedTensor> out;
  for (Param& p : params_)
    out.push_back(
        {p.name, p.momentum.empty() ? Tensor(p.value.shape()) : backend_->to_host(p.momentum)});
  return out;
}

void Network::set_momentum(const std::vector<NamedTensor>& host) {
  check_param_tensors(cfg_, host, "Network momentum");
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].momentum = backend_->from_host(host[i].value);
}

bool Network::grads_finite() {
  for (Param& p : params_) {
    const Tensor h = p.grad.device() == DeviceKind::Cpu && p.grad.is_plain()
                         ? p.grad
                         : backend_->to_host(p.grad);
    for (int64_t i = 0; i < h.numel(); ++i)
      if (!std::isfinite(h.data()[i])) return false;
  }
  return true;
}

bool Network::debug_poison_gradient() {
  Param& p = params_.front();
  Tensor h = backend_->to_host(p.grad);
  h.data()[0] = std::nanf("");
  p.grad = backend_->from_host(h);
  return true;
}

void Network::load(const Model& model) {
  if (!(model.config == cfg_))
    throw Error("Network: the model's config differs from the network's");
  if (backend_->precision() == Precision::INT8 && model.calibration.empty())
    throw Error((model.source.empty() ? std::string("the model") : model.source) +
                ": precision int8 needs a calibrated weights file (alexnet-calibrate --model " +
                (model.source.empty() ? std::string("IN") : model.source) +
                " --data DIR --out OUT); this one has no activation ranges");
  set_params(model.params);
  set_calibration(model.calibration);
}

void Network::set_calibration(const std::vector<LayerRange>& ranges) {
  if (!ranges.empty()) check_calibration(cfg_, ranges, "Network calibration");
  ranges_.assign(layers_.size(), LayerRange());
  has_ranges_ = !ranges.empty();
  size_t k = 0;
  for (size_t i = 0; i < layers_.size() && has_ranges_; ++i)
    if (layers_[i].has_params()) ranges_[i] = ranges[k++];
  ++version_;  // int8 plans are keyed by the version: new ranges, new scales
}

OpParams Network::op_params(size_t layer) {
  OpParams p;
  int w = param_index_[layer];
  if (w >= 0) {
    Param& weight = params_[static_cast<size_t>(w)];
    Param& bias = params_[static_cast<size_t>(w) + 1];
    p.weight = &weight.value;
    p.bias = &bias.value;
    p.grad_weight = &weight.grad;
    p.grad_bias = &bias.grad;
  }
  p.version = version_;
  p.seed = layer_seed(seed_, step_, layer);
  if (has_ranges_ && w >= 0) p.range = &ranges_[layer];
  return p;
}

const Tensor& Network::run_forward(const Tensor& x_device, bool training) {
  acts_.assign(1, x_device);
  for (size_t i = 0; i < ops_.size(); ++i) {
    OpParams p = op_params(i);
    const Tensor& x = acts_.back();  // (N, ...): a row is numel / N elements
    if (batch_offset_ != 0 && x.rank() > 0 && x.dim(0) > 0)
      p.index_offset = static_cast<uint64_t>(batch_offset_ * (x.numel() / x.dim(0)));
    acts_.push_back(ops_[i]->forward(x, p, training));
  }
  return acts_.back();
}

void check_input(const NetConfig& cfg, const Tensor& x) {
  const Shape want{x.rank() > 0 ? x.dim(0) : 0, cfg.in_channels, cfg.input_size, cfg.input_size};
  if (x.rank() != 4 || x.dim(0) < 1 || x.shape() != want)
    throw Error("network input has shape " + shape_str(x.shape()) + ", expected (N, " +
                std::to_string(cfg.in_channels) + ", " + std::to_string(cfg.input_size) + ", " +
                std::to_string(cfg.input_size) + ")");
}

Tensor Network::run_inference() {
  // One key per (batch size, weights): the buffers of a key do not move between calls.
  // A training forward in between may reallocate op buffers (fp16 inference buffers become
  // fp32) without a weights change, so the count of training forwards is part of the key.
  const uint64_t key = splitmix64(splitmix64(version_ ^ splitmix64(training_forwards_)) +
                                  static_cast<uint64_t>(input_.dim(0)));
  // The backend may replay the calls of an earlier run of this key (a CUDA graph) instead.
  Tensor out = backend_->run_inference(key, [this] { return run_forward(input_, false); });
  acts_.clear();  // inference keeps no activations alive
  return out;
}

Tensor Network::run_embedding(Tensor* embedding) {
  // Outside run_inference: a replayed graph keeps no activations. Counted like a training
  // forward, since an op may size its buffers anew here (the inference key changes).
  ++training_forwards_;
  const Tensor logits = backend_->to_host(run_forward(input_, false));
  const Tensor e = backend_->to_host(acts_[embedding_layer(layers_)]);  // (N, …) → (N, width)
  *embedding = e.reshaped({e.dim(0), e.numel() / e.dim(0)});
  acts_.clear();
  return logits;
}

Tensor Network::forward_inspect(const Tensor& x) {
  check_input(cfg_, x);
  backend_->upload(x, input_);
  ++training_forwards_;  // as run_embedding: outside run_inference
  return backend_->to_host(run_forward(input_, false));
}

Tensor Network::forward_embedding(const Tensor& x, Tensor* embedding) {
  check_input(cfg_, x);
  backend_->upload(x, input_);
  return run_embedding(embedding);
}

Tensor Network::forward(const Tensor& x, bool training) {
  check_input(cfg_, x);
  backend_->upload(x, input_);
  if (!training) return backend_->to_host(run_inference());
  ++training_forwards_;
  return backend_->to_host(run_forward(input_, training));
}

Tensor Network::forward_frames(std::span<const Frame> frames, const PreprocessConfig& preprocess,
                               Tensor* embedding) {
  if (frames.empty()) throw Error("forward_frames: no frames");
  // Objects' boxes become frames of their own here, so a backend's preprocessing (the GPU
  // kernel) sees plain frames; no pixels are copied.
  std::vector<Frame> views;
  views.reserve(frames.size());
  for (const Frame& f : frames) views.push_back(crop_view(f));
  if (!backend_->preprocess(views, preprocess, cfg_.in_channels, cfg_.input_size, input_))
    backend_->upload(preprocess_batch(views, preprocess, cfg_.in_channels, cfg_.input_size),
                     input_);
  if (embedding) return run_embedding(embedding);
  return backend_->to_host(run_inference());
}

float Network::forward_backward(const Tensor& x, std::span<const int> labels, Tensor* logits_out) {
  check_input(cfg_, x);
  if (static_cast<int64_t>(labels.size()) != x.dim(0))
    throw Error("forward_backward: " + std::to_string(labels.size()) + " labels for a batch of " +
                std::to_string(x.dim(0)));
  backend_->upload(x, input_);
  ++training_forwards_;
  const Tensor& logits = run_forward(input_, /*training=*/true);
  if (dlogits_.shape() != logits.shape()) dlogits_ = backend_->zeros(logits.shape());
  float loss = backend_->softmax_cross_entropy(logits, labels, &dlogits_);
  if (logits_out) *logits_out = backend_->to_host(logits);
  const Tensor* dy = &dlogits_;
  for (size_t i = ops_.size(); i-- > 0;) {
    dy = &ops_[i]->backward(acts_[i], acts_[i + 1], *dy, op_params(i), /*need_dx=*/i > 0);
  }
  if (exchange_) {
    std::vector<Tensor*> grads;
    for (Param& p : params_) grads.push_back(&p.grad);
    exchange_(backend_.get(), grads);
  }
  return loss;
}

void Network::set_batch_offset(int64_t first_row) {
  if (first_row < 0)
    throw Error("set_batch_offset: negative first row " + std::to_string(first_row));
  batch_offset_ = first_row;
}

void Network::sgd_step(float lr, float momentum, float weight_decay) {
  for (Param& p : params_) {
    if (p.momentum.empty()) p.momentum = backend_->zeros(p.value.shape());
    backend_->sgd_update(p.value, p.grad, p.momentum, lr, momentum, weight_decay);
  }
  ++version_;
  ++step_;
}

}  // namespace alexnet
