// What a run tells its user: log lines (stdout, copied to <run-dir>/train.log), a progress bar
// on a terminal, and the per-epoch metrics file <run-dir>/metrics.csv.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "checkpoint.h"

namespace train {

// Log lines go to stdout and, once open_file() is called, to a file too.
class Log {
 public:
  ~Log();
  void open_file(const std::string& path);  // appends; resumed runs keep one log
  void line(const std::string& text);       // one line, newline added
  // Progress text that overwrites itself on a terminal (no newline; cleared by line()).
  void status(const std::string& text);
  bool tty() const { return tty_; }
  void set_tty(bool on) { tty_ = on; }
  // Nothing at all (the ranks of a distributed job other than rank 0).
  void set_quiet(bool on) { quiet_ = on; }

 private:
  std::FILE* file_ = nullptr;
  bool quiet_ = false;
  bool tty_ = false;
  bool status_shown_ = false;
};

// Progress of one epoch's training: a bar with images/s, loss and ETA on a terminal (at most
// 10 redraws a second), otherwise a plain line every `plain_every_s` seconds.
class Progress {
 public:
  Progress(Log& log, int epoch, int epochs, size_t batches, size_t start_batch,
           double plain_every_s = 30.0);
  // After batch `batch` (0-based, of the epoch): images trained in this session of the epoch
  // and the running mean loss.
  void update(size_t batch, uint64_t images, double mean_loss, double lr);

 private:
  Log& log_;
  int epoch_, epochs_;
  size_t batches_, start_batch_;
  double plain_every_s_;
  std::chrono::steady_clock::time_point start_, last_;
};

// Rewrites <run_dir>/metrics.csv from the whole history (temp file + rename), so a resumed run
// never holds rows of epochs that its checkpoint had not reached.
void write_metrics_csv(const std::string& path, const std::vector<EpochRecord>& history);

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

// Writes `text` to `path` through a temp file and rename (for small files of the run folder).
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace train
