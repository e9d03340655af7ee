#include "interrupt.h"

#include <csignal>

namespace train {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop = sig;
  std::signal(sig, SIG_DFL);  // the second one is not caught: it ends the process
}

}  // namespace

void install_stop_handlers() {
  for (int sig : {SIGTERM, SIGINT}) {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // the loader's reads and waits go on; the loop checks the flag
    sigaction(sig, &sa, nullptr);
  }
}

int stop_signal() {
  return g_stop;
}

std::string signal_name(int sig) {
  return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal " + std::to_string(sig);
}

}  // namespace train
