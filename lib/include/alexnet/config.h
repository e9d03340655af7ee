// NetConfig: the architecture, serialised as JSON into the weights file (alexnet.config).
//
// Every variant has the same 8-layer structure:
//   conv1 → ReLU → [LRN] → pool → conv2 → ReLU → [LRN] → pool → conv3 → ReLU → conv4 → ReLU
//   → conv5 → ReLU → pool → [adaptive avg pool] → fc6 → ReLU → fc7 → ReLU → fc8
// with dropout on the inputs of fc6/fc7 (torchvision's order) or on the outputs of the ReLUs
// after fc6/fc7 (the paper's order) while training.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "alexnet/tensor.h"

namespace alexnet {

// How `alpha` enters the LRN denominator (k + alpha' * sum_{j in window} a_j^2)^beta.
//   Paper:     alpha' = alpha      (Krizhevsky et al. 2012, as written)
//   DividedByN alpha' = alpha / n  (Caffe, PyTorch's LocalResponseNorm, oneDNN)
enum class LrnAlpha { Paper, DividedByN };

struct LrnConfig {
  bool enabled = true;
  int size = 5;  // n: channels in the window, centred
  double alpha = 1e-4;
  double beta = 0.75;
  double k = 2.0;
  LrnAlpha alpha_convention = LrnAlpha::Paper;
  double effective_alpha() const {
    return alpha_convention == LrnAlpha::Paper ? alpha : alpha / size;
  }
  bool operator==(const LrnConfig&) const = default;
};

struct ConvLayerConfig {
  int out_channels = 0;
  int kernel = 3;
  int stride = 1;
  int pad = 0;
  int groups = 1;
  bool lrn = false;   // LRN after the ReLU (if LrnConfig::enabled)
  bool pool = false;  // max pool after (the LRN)
  bool operator==(const ConvLayerConfig&) const = default;
};

struct NetConfig {
  std::string variant = "paper";  // "paper" | "torchvision" | "custom"
  int in_channels = 3;
  int input_size = 227;  // square input H = W
  std::array<ConvLayerConfig, 5> conv{};
  LrnConfig lrn;
  int pool_kernel = 3;
  int pool_stride = 2;
  int adaptive_pool = 0;  // output side of the adaptive average pool after pool5; 0 = none
  std::array<int, 2> fc{4096, 4096};
  int classes = 1000;
  double dropout = 0.5;
  bool dropout_before_fc = false;  // torchvision: Dropout → Linear; paper: Linear → ReLU → Dropout

  static NetConfig paper(int classes = 1000);
  static NetConfig torchvision(int classes = 1000);
  // The 8-layer structure scaled down for small inputs (28, 32, 64): 1 or 3 channels.
  static NetConfig small(int in_channels, int input_size, int classes = 10);
  // "paper", "torchvision", "small-28", "small-32", "small-64" (3 channels), "small-28-gray" …
  static NetConfig by_name(const std::string& name, int classes);

  // Throws alexnet::Error naming the field when something cannot build a network.
  void validate() const;
  std::string to_json() const;
  // `origin` names where the JSON came from, for error messages.
  static NetConfig from_json(const std::string& json, const std::string& origin);

  bool operator==(const NetConfig&) const = default;
};

// One layer of the plan a backend executes.
enum class LayerKind { Conv, Relu, Lrn, MaxPool, AdaptiveAvgPool, Linear, Dropout };
const char* layer_kind_name(LayerKind k);

struct LayerSpec {
  LayerKind kind = LayerKind::Relu;
  std::string name;  // "conv1", "relu1", "lrn1", "pool1", "fc6", "drop6" …
  // Conv / Linear: weight (out, in/groups, k, k) or (out, in); bias (out).
  int in_channels = 0;  // Linear: in features (C*H*W of its input)
  int out_channels = 0;
  int kernel = 1, stride = 1, pad = 0, groups = 1;
  bool fused_relu = false;  // Conv/Linear: y = relu(conv(x)); a following ReLU is folded in
  // Lrn
  int lrn_size = 5;
  double lrn_alpha = 1e-4;  // already the effective alpha (see LrnConfig::effective_alpha)
  double lrn_beta = 0.75, lrn_k = 2.0;
  // MaxPool: kernel, stride. AdaptiveAvgPool: out_size.
  int out_size = 0;
  // Dropout
  double drop_p = 0.5;

  bool has_params() const { return kind == LayerKind::Conv || kind == LayerKind::Linear; }
  Shape weight_shape() const;
  Shape bias_shape() const;
  // Output shape for an input shape; throws alexnet::Error when the input does not fit.
  Shape output_shape(const Shape& in) const;
};

// The executed plan: ReLUs after conv/fc are fused into them (fused_relu = true).
std::vector<LayerSpec> build_layers(const NetConfig& cfg);

// The layer whose input is the network's embedding: the last layer with weights (fc8), so the
// embedding is fc7's output after its ReLU (dropout is the identity at inference): 4096 wide
// for the paper's and torchvision's configs, the features the paper's figure 4 compares.
size_t embedding_layer(const std::vector<LayerSpec>& layers);
// Its width: the last weighted layer's input features (`in_channels`).
int embedding_width(const NetConfig& cfg);

// Multiply-adds of one image's inference forward (convolutions and fully connected layers):
// 0.71 G for torchvision's config, 1.1 G for the paper's, ~10 M for the 28x28 ones.
double forward_macs(const NetConfig& cfg);

// The range of one weighted layer's input and output (after its fused ReLU) over calibration
// images: what int8 inference scales by (calibrate.h; docs/weights-format.md, key
// alexnet.calibration, format 1.1).
struct LayerRange {
  std::string layer;  // "conv1" … "fc8"
  float in_min = 0, in_max = 0, out_max = 0;
  bool operator==(const LayerRange&) const = default;
};

// Parameter names in file order: conv1.weight, conv1.bias, …, fc8.bias, with their shapes.
struct ParamInfo {
  std::string name;
  Shape shape;
};
std::vector<ParamInfo> param_infos(const NetConfig& cfg);

}  // namespace alexnet
