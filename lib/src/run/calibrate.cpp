// calibrate(): every weighted layer's activation range over calibration images (calibrate.h).
#include "alexnet/calibrate.h"

#include <algorithm>
#include <limits>

#include "alexnet/error.h"
#include "alexnet/network.h"

namespace alexnet {

std::vector<LayerRange> calibrate(const Model& model, const Tensor& images, int threads) {
  const NetConfig& cfg = model.config;
  check_input(cfg, images);
  Network net(cfg, make_cpu_backend(threads));
  net.load(model);
  const std::vector<LayerSpec>& layers = net.layers();
  std::vector<LayerRange> ranges;
  std::vector<size_t> index;  // layer index of each range
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].has_params()) {
      LayerRange r;
      r.layer = layers[i].name;
      r.in_min = std::numeric_limits<float>::max();
      r.in_max = std::numeric_limits<float>::lowest();
      ranges.push_back(r);
      index.push_back(i);
    }
  const int64_t n = images.dim(0), per = images.numel() / n, chunk = 32;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t m = std::min(chunk, n - begin);
    Shape s = images.shape();
    s[0] = m;
    Tensor x(s);
    std::copy(images.data() + begin * per, images.data() + (begin + m) * per, x.data());
    net.forward_inspect(x);
    const std::span<const Tensor> acts = net.activations();
    for (size_t k = 0; k < ranges.size(); ++k) {
      const Tensor in = net.backend().to_host(acts[index[k]]);
      const Tensor out = net.backend().to_host(acts[index[k] + 1]);
      const auto [lo, hi] = std::minmax_element(in.data(), in.data() + in.numel());
      ranges[k].in_min = std::min(ranges[k].in_min, *lo);
      ranges[k].in_max = std::max(ranges[k].in_max, *hi);
      ranges[k].out_max =
          std::max(ranges[k].out_max, *std::max_element(out.data(), out.data() + out.numel()));
    }
  }
  for (LayerRange& r : ranges) r.out_max = std::max(r.out_max, 0.f);
  check_calibration(cfg, ranges,
                    "calibration of " + (model.source.empty() ? "the model" : model.source));
  return ranges;
}

}  // namespace alexnet
