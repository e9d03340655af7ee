// SIGTERM and SIGINT end a training run cleanly. The first one asks the trainer to stop at
// the next safe point (between two steps, or between two evaluation batches); there it writes
// a checkpoint and alexnet-train exits 128 + the signal (143, 130), as shells and job
// schedulers expect. A second signal acts at once (the handler gives back the default action),
// so a run that is stuck can still be killed with another Ctrl-C.
#pragma once

#include <stdexcept>
#include <string>

namespace train {

// Installs the handlers for SIGTERM and SIGINT (once per process).
void install_stop_handlers();

// 0, or the signal that asked the run to stop.
int stop_signal();

// "SIGTERM", "SIGINT".
std::string signal_name(int sig);

// Thrown at a safe point once a stop was asked for; the checkpoint is written by then.
struct Interrupted : std::runtime_error {
  Interrupted(int sig, const std::string& what) : std::runtime_error(what), signal(sig) {}
  int signal;
};

}  // namespace train
