// A job of one process (no --distributed), and what both kinds of cluster share. The MPI
// cluster is cluster_mpi.cpp (built with the `mpi` Meson option).
#include "cluster.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "alexnet/error.h"

namespace train {

#ifdef ALEXNET_HAVE_MPI
std::unique_ptr<Cluster> make_mpi_cluster();  // cluster_mpi.cpp
#endif

namespace {

class SingleProcess final : public Cluster {
 public:
  SingleProcess() {
    hosts_ = {""};
    pids_ = {static_cast<int64_t>(::getpid())};
  }
  void allreduce_sum(double*, size_t, const std::string&, double) override {}
  void allreduce_sum(float*, size_t, const std::string&, double) override {}
  std::vector<int64_t> allgather(const int64_t* v, size_t n, const std::string&, double) override {
    return std::vector<int64_t>(v, v + n);
  }
  void broadcast(std::string&, const std::string&, double, int) override {}
  [[noreturn]] void abort(const std::string& message, int code) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(code);
  }
};

}  // namespace

std::string Cluster::who(int rank) const {
  if (!distributed()) return "";
  std::string s = "rank " + std::to_string(rank);
  if (rank >= 0 && static_cast<size_t>(rank) < hosts_.size())
    s += " (host " + hosts_[static_cast<size_t>(rank)] + ", pid " +
         std::to_string(pids_[static_cast<size_t>(rank)]) + ")";
  return s;
}

bool mpi_built_in() {
#ifdef ALEXNET_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Cluster> make_cluster(const std::string& mode) {
  if (mode == "none") return std::make_unique<SingleProcess>();
  if (mode == "mpi") {
#ifdef ALEXNET_HAVE_MPI
    return make_mpi_cluster();
#else
    throw alexnet::Error(
        "--distributed mpi: MPI support is not built in (install libopenmpi-dev and rebuild; "
        "the Meson option -Dmpi=enabled makes it required)");
#endif
  }
  throw alexnet::Error("--distributed \"" + mode + "\": expected none or mpi");
}

double dist_timeout_seconds() {
  const char* env = std::getenv("ALEXNET_DIST_TIMEOUT_S");
  if (!env || !*env) return 60.0;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(v > 0) || v > 1e9)
    throw alexnet::Error(std::string("ALEXNET_DIST_TIMEOUT_S=\"") + env +
                         "\": expected a number of seconds > 0");
  return v;
}

}  // namespace train
