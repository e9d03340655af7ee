// The processes of one training job: just this one, or the ranks of an MPI job
// (`mpirun -np N alexnet-train --distributed mpi ...`; training/README.md, "Several machines").
//
// The trainer talks to the other ranks through the few collectives below, all called from its
// main thread in the same order on every rank. MPI itself has no timeouts, so every collective
// here is bounded by a watchdog: it is started non-blocking and polled, and each rank also
// tells rank 0 (and rank 0 tells each rank) that it reached collective number k. A rank that
// does not arrive within ALEXNET_DIST_TIMEOUT_S seconds (default 60) is named, and the job is
// ended with MPI_Abort:
//   rank 0: rank 1 (host node2, pid 4711) has not reached the gradient all-reduce of step 57
//   within 60 s (ALEXNET_DIST_TIMEOUT_S): it is stalled or stopped; ending the job
// A rank that dies is mpirun's to notice: it ends the job itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace train {

class Cluster {
 public:
  virtual ~Cluster() = default;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // among the ranks on this machine
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1 || mpi_; }
  // "rank 1 (host node2, pid 4711)"; "" for a job of one process started without MPI.
  std::string who(int rank) const;
  std::string me() const { return who(rank_); }

  // Sums `n` values over every rank, in place on every rank. `what` names the collective in
  // a watchdog message ("the gradient all-reduce of step 57"). timeout_scale stretches the
  // watchdog for collectives that wait on known slow work of one rank (rank 0's outputs).
  virtual void allreduce_sum(double* data, size_t n, const std::string& what,
                             double timeout_scale = 1) = 0;
  virtual void allreduce_sum(float* data, size_t n, const std::string& what,
                             double timeout_scale = 1) = 0;
  // Every rank's `n` values, rank after rank (size() * n values).
  virtual std::vector<int64_t> allgather(const int64_t* values, size_t n, const std::string& what,
                                         double timeout_scale = 1) = 0;
  // Rank `from`'s bytes to every rank (`bytes` is resized on the others).
  virtual void broadcast(std::string& bytes, const std::string& what, double timeout_scale = 1,
                         int from = 0) = 0;
  // Ends the whole job now, after `message` went to stderr (MPI_Abort under MPI; exit
  // otherwise). Safe to call from any rank, at any time.
  [[noreturn]] virtual void abort(const std::string& message, int code) = 0;
  // The orderly end of a run (MPI_Finalize after a bounded barrier).
  virtual void finish() {}

 protected:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool mpi_ = false;
  std::vector<std::string> hosts_;  // per rank
  std::vector<int64_t> pids_;
};

// "none": this process alone. "mpi": MPI_Init and the ranks of the job; throws
// alexnet::Error when this build has no MPI ("MPI support is not built in").
std::unique_ptr<Cluster> make_cluster(const std::string& mode);
bool mpi_built_in();

// ALEXNET_DIST_TIMEOUT_S (seconds, > 0; default 60). Throws alexnet::Error for a bad value.
double dist_timeout_seconds();

}  // namespace train
