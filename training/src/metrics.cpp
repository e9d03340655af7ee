#include "metrics.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "alexnet/error.h"

namespace train {

Log::~Log() {
  if (file_) std::fclose(file_);
}

void Log::open_file(const std::string& path) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw alexnet::Error(path + ": cannot open for writing: " + std::strerror(errno));
}

void Log::line(const std::string& text) {
  if (quiet_) return;
  if (status_shown_) {
    std::fputs("\r\033[K", stdout);
    status_shown_ = false;
  }
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (file_) {
    std::fputs(text.c_str(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

void Log::status(const std::string& text) {
  if (!tty_) return line(text);
  std::fputs("\r\033[K", stdout);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  status_shown_ = true;
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  auto t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(Log& log, int epoch, int epochs, size_t batches, size_t start_batch,
                   double plain_every_s)
    : log_(log),
      epoch_(epoch),
      epochs_(epochs),
      batches_(batches),
      start_batch_(start_batch),
      plain_every_s_(plain_every_s),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::update(size_t batch, uint64_t images, double mean_loss, double lr) {
  auto now = std::chrono::steady_clock::now();
  double since_last = std::chrono::duration<double>(now - last_).count();
  bool last_batch = batch + 1 >= batches_;
  if (!last_batch && since_last < (log_.tty() ? 0.1 : plain_every_s_)) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double done = static_cast<double>(batch + 1 - start_batch_);
  double eta = done > 0 ? elapsed / done * static_cast<double>(batches_ - batch - 1) : -1;
  double ips = elapsed > 0 ? static_cast<double>(images) / elapsed : 0;
  char text[256];
  if (log_.tty()) {
    constexpr int kWidth = 24;
    int fill = static_cast<int>(kWidth * static_cast<double>(batch + 1) / batches_);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(kWidth, '.');
    std::snprintf(text, sizeof text, "epoch %d/%d [%s] %zu/%zu  %.0f img/s  loss %.4f  ETA %s",
                  epoch_, epochs_, bar.c_str(), batch + 1, batches_, ips, mean_loss,
                  format_duration(eta).c_str());
    log_.status(text);
  } else {
    std::snprintf(text, sizeof text,
                  "epoch %d/%d  batch %zu/%zu  %.0f img/s  loss %.4f  lr %g  ETA %s", epoch_,
                  epochs_, batch + 1, batches_, ips, mean_loss, lr, format_duration(eta).c_str());
    log_.line(text);
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw alexnet::Error(tmp + ": cannot open for writing: " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fflush(f) == 0) && ok;
  ok = (::fsync(fileno(f)) == 0) && ok;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw alexnet::Error(path + ": cannot write: " + std::strerror(errno));
  }
}

void write_metrics_csv(const std::string& path, const std::vector<EpochRecord>& history) {
  std::string out =
      "epoch,step,lr,train_loss,train_top1_error,val_loss,val_top1_error,val_top5_error,"
      "seconds,images_per_second,skipped\n";
  char row[512];
  for (const EpochRecord& r : history) {
    std::snprintf(row, sizeof row, "%d,%llu,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f,%.1f,%llu\n",
                  r.epoch, static_cast<unsigned long long>(r.step), r.lr, r.train_loss,
                  r.train_top1_error, r.val_loss, r.val_top1_error, r.val_top5_error, r.seconds,
                  r.images_per_second, static_cast<unsigned long long>(r.skipped));
    out += row;
  }
  write_text_atomic(path, out);
}

}  // namespace train
