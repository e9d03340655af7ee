#include "plots.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "alexnet/error.h"

namespace train {

namespace {

void write_png(const std::string& path, const cv::Mat& img) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, img);
  } catch (const cv::Exception& e) {
    throw alexnet::Error(path + ": cannot write the PNG: " + e.what());
  }
  if (!ok) throw alexnet::Error(path + ": cannot write the PNG");
}

// One chart: axes, ticks, and a polyline per series; `ymax` = top of the y range.
struct Series {
  std::vector<double> y;
  cv::Scalar colour;
  std::string name;
};

void draw_panel(cv::Mat& img, cv::Rect area, const std::string& title, int epochs,
                const std::vector<Series>& series, double ymax) {
  const cv::Scalar black(0, 0, 0), grey(200, 200, 200);
  const int left = area.x + 50, right = area.x + area.width - 15;
  const int top = area.y + 30, bottom = area.y + area.height - 35;
  auto px = [&](double e) {
    return left + static_cast<int>((right - left) * (epochs > 1 ? (e - 1) / (epochs - 1) : 0.5));
  };
  auto py = [&](double v) {
    v = std::clamp(v, 0.0, ymax);
    return bottom - static_cast<int>((bottom - top) * v / ymax);
  };
  cv::putText(img, title, {left, area.y + 20}, cv::FONT_HERSHEY_SIMPLEX, 0.5, black, 1,
              cv::LINE_AA);
  for (int i = 0; i <= 4; ++i) {  // horizontal grid lines with their values
    double v = ymax * i / 4;
    cv::line(img, {left, py(v)}, {right, py(v)}, grey, 1);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    cv::putText(img, buf, {area.x + 5, py(v) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.35, black, 1,
                cv::LINE_AA);
  }
  cv::rectangle(img, {left, top}, {right, bottom}, black, 1);
  int step = std::max(1, epochs / 10);
  for (int e = 1; e <= epochs; e += step) {
    cv::line(img, {px(e), bottom}, {px(e), bottom + 4}, black, 1);
    cv::putText(img, std::to_string(e), {px(e) - 4, bottom + 16}, cv::FONT_HERSHEY_SIMPLEX, 0.35,
                black, 1, cv::LINE_AA);
  }
  cv::putText(img, "epoch", {(left + right) / 2 - 15, bottom + 30}, cv::FONT_HERSHEY_SIMPLEX, 0.4,
              black, 1, cv::LINE_AA);
  int ly = top + 15;
  for (const Series& s : series) {
    for (size_t i = 1; i < s.y.size(); ++i)
      cv::line(img, {px(static_cast<double>(i)), py(s.y[i - 1])},
               {px(static_cast<double>(i + 1)), py(s.y[i])}, s.colour, 2, cv::LINE_AA);
    for (size_t i = 0; i < s.y.size(); ++i)
      cv::circle(img, {px(static_cast<double>(i + 1)), py(s.y[i])}, 3, s.colour, -1, cv::LINE_AA);
    cv::line(img, {right - 120, ly - 4}, {right - 100, ly - 4}, s.colour, 2);
    cv::putText(img, s.name, {right - 95, ly}, cv::FONT_HERSHEY_SIMPLEX, 0.4, black, 1,
                cv::LINE_AA);
    ly += 16;
  }
}

}  // namespace

void plot_curves(const std::vector<EpochRecord>& h, const std::string& png_path) {
  cv::Mat img(360, 960, CV_8UC3, cv::Scalar(255, 255, 255));
  Series train_loss{{}, {200, 80, 0}, "train loss"}, val_loss{{}, {0, 0, 220}, "val loss"};
  Series train_top1{{}, {200, 80, 0}, "train top-1"}, val_top1{{}, {0, 0, 220}, "val top-1"},
      val_top5{{}, {0, 150, 0}, "val top-5"};
  double max_loss = 0.1;
  for (const EpochRecord& r : h) {
    train_loss.y.push_back(r.train_loss);
    val_loss.y.push_back(r.val_loss);
    train_top1.y.push_back(r.train_top1_error);
    val_top1.y.push_back(r.val_top1_error);
    val_top5.y.push_back(r.val_top5_error);
    max_loss = std::max({max_loss, r.train_loss, r.val_loss});
  }
  int epochs = std::max<int>(1, static_cast<int>(h.size()));
  draw_panel(img, {0, 0, 480, 360}, "loss", epochs, {train_loss, val_loss}, max_loss * 1.05);
  draw_panel(img, {480, 0, 480, 360}, "error", epochs, {train_top1, val_top1, val_top5}, 1.0);
  write_png(png_path, img);
}

void plot_filters(const alexnet::Tensor& w, const std::string& png_path) {
  if (w.rank() != 4 || (w.dim(1) != 1 && w.dim(1) != 3))
    throw alexnet::Error("conv1 weights of shape " + alexnet::shape_str(w.shape()) +
                         " cannot be drawn as filters");
  const int n = static_cast<int>(w.dim(0)), c = static_cast<int>(w.dim(1));
  const int kh = static_cast<int>(w.dim(2)), kw = static_cast<int>(w.dim(3));
  const int zoom = std::max(1, 48 / std::max(kh, kw)), gap = 2;
  const int cols = static_cast<int>(std::ceil(std::sqrt(n * 2.0)));  // wider than tall
  const int rows = (n + cols - 1) / cols;
  const int th = kh * zoom, tw = kw * zoom;
  cv::Mat img(rows * (th + gap) + gap, cols * (tw + gap) + gap, CV_8UC3, cv::Scalar(0, 0, 0));
  const int64_t per = static_cast<int64_t>(c) * kh * kw;
  for (int f = 0; f < n; ++f) {
    const float* d = w.data() + f * per;
    const auto range = std::minmax_element(d, d + per);  // not a structured binding: the
    const float lo = *range.first, hi = *range.second;   // lambda below uses it (clang 14)
    float scale = hi > lo ? 255.f / (hi - lo) : 0.f;
    int x0 = gap + (f % cols) * (tw + gap), y0 = gap + (f / cols) * (th + gap);
    for (int y = 0; y < th; ++y)
      for (int x = 0; x < tw; ++x) {
        auto v = [&](int ch) {
          return cv::saturate_cast<uint8_t>((d[(ch * kh + y / zoom) * kw + x / zoom] - lo) * scale);
        };
        // Weights are RGB (the network's channel order); OpenCV pixels are BGR.
        cv::Vec3b px = c == 3 ? cv::Vec3b(v(2), v(1), v(0)) : cv::Vec3b(v(0), v(0), v(0));
        img.at<cv::Vec3b>(y0 + y, x0 + x) = px;
      }
  }
  write_png(png_path, img);
}

}  // namespace train
