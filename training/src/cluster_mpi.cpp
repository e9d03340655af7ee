// The ranks of an MPI job (cluster.h): bounded collectives and the watchdog that names a
// stalled rank.
//
// Each collective is started non-blocking (MPI_Iallreduce, MPI_Iallgather, MPI_Ibcast,
// MPI_Ibarrier) and polled from the trainer's main thread (MPI_THREAD_FUNNELED: no other
// thread calls MPI). Beside it, every rank sends rank 0 the collective's sequence number and
// rank 0 sends it to every rank ("arrivals"): when the watchdog fires, rank 0 knows which
// ranks never reached the collective, and every other rank knows whether rank 0 did. Two
// 8-byte messages per rank and collective; a step makes three collectives. A rank stopped
// inside a collective (after it arrived) is told by its silence: while they wait, ranks send
// rank 0 a heartbeat (and rank 0 sends every rank one) every min(1 s, timeout / 4), and the
// watchdog names the ranks it has not heard from for half the timeout.
// The C API only (Open MPI's deprecated C++ bindings warn under -Wextra).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "alexnet/error.h"
#include "cluster.h"

namespace train {
namespace {

[[noreturn]] void mpi_fail(const char* call, int code, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw alexnet::Error(std::string("MPI call ") + call + " failed: " + text + " (" + file + ":" +
                       std::to_string(line) + ")");
}

// Every MPI call of the trainer goes through this: an error names the call and file:line.
#define ALEXNET_MPI(call)                                                                     \
  do {                                                                                        \
    const int alexnet_mpi_rc_ = (call);                                                       \
    if (alexnet_mpi_rc_ != MPI_SUCCESS) mpi_fail(#call, alexnet_mpi_rc_, __FILE__, __LINE__); \
  } while (0)

constexpr int kArrivalTag = 7301;
constexpr int kHeartbeatTag = 7302;
constexpr size_t kHostChars = 64;
constexpr size_t kMaxCount = size_t{1} << 30;  // elements per MPI call (counts are int)

using Clock = std::chrono::steady_clock;

class MpiCluster final : public Cluster {
 public:
  MpiCluster() {
    int provided = 0;
    ALEXNET_MPI(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
    if (provided < MPI_THREAD_FUNNELED)
      throw alexnet::Error("MPI: the library does not allow threads (MPI_THREAD_FUNNELED)");
    ALEXNET_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    ALEXNET_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    ALEXNET_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    mpi_ = true;
    timeout_ = dist_timeout_seconds();
    MPI_Comm node = MPI_COMM_NULL;  // the ranks on this machine
    ALEXNET_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    ALEXNET_MPI(MPI_Comm_rank(node, &local_rank_));
    ALEXNET_MPI(MPI_Comm_free(&node));
    arrived_.assign(static_cast<size_t>(size_), 0);
    beat_in_.assign(static_cast<size_t>(size_), 0);
    heard_.assign(static_cast<size_t>(size_), Clock::now());
    beat_recv_.assign(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    beat_send_.assign(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    beat_out_.assign(static_cast<size_t>(size_), 0);
    for (int peer : peers()) listen(peer);
    // Who is who, for every later message.
    char host[kHostChars] = {};
    ::gethostname(host, kHostChars - 1);
    std::vector<char> hosts(kHostChars * static_cast<size_t>(size_));
    run("the start of the job", 10, [&](MPI_Request* r) {
      return MPI_Iallgather(host, kHostChars, MPI_CHAR, hosts.data(), kHostChars, MPI_CHAR,
                            MPI_COMM_WORLD, r);
    });
    const int64_t pid = ::getpid();
    pids_ = allgather(&pid, 1, "the start of the job", 10);
    for (int r = 0; r < size_; ++r)
      hosts_.emplace_back(hosts.data() + kHostChars * static_cast<size_t>(r));
  }

  void allreduce_sum(double* data, size_t n, const std::string& what, double scale) override {
    reduce(data, n, MPI_DOUBLE, what, scale);
  }
  void allreduce_sum(float* data, size_t n, const std::string& what, double scale) override {
    reduce(data, n, MPI_FLOAT, what, scale);
  }

  std::vector<int64_t> allgather(const int64_t* values, size_t n, const std::string& what,
                                 double scale) override {
    std::vector<int64_t> all(n * static_cast<size_t>(size_));
    run(what, scale, [&](MPI_Request* r) {
      return MPI_Iallgather(values, static_cast<int>(n), MPI_INT64_T, all.data(),
                            static_cast<int>(n), MPI_INT64_T, MPI_COMM_WORLD, r);
    });
    return all;
  }

  void broadcast(std::string& bytes, const std::string& what, double scale, int from) override {
    int64_t n = static_cast<int64_t>(bytes.size());
    run(what, scale,
        [&](MPI_Request* r) { return MPI_Ibcast(&n, 1, MPI_INT64_T, from, MPI_COMM_WORLD, r); });
    if (static_cast<size_t>(n) > kMaxCount)
      throw alexnet::Error("MPI broadcast of " + std::to_string(n) + " bytes: too large");
    bytes.resize(static_cast<size_t>(n));
    run(what, scale, [&](MPI_Request* r) {
      return MPI_Ibcast(bytes.data(), static_cast<int>(n), MPI_BYTE, from, MPI_COMM_WORLD, r);
    });
  }

  [[noreturn]] void abort(const std::string& message, int code) override {
    // A new line first: rank 0's progress bar may be on the terminal's last line.
    std::fprintf(stderr, "\n%s\n", message.c_str());
    std::fflush(stderr);
    // mpirun forwards our stderr on its own schedule, and MPI_Abort kills at once: give it a
    // moment, or the one line that says why the job ended is lost.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; in case it did
  }

  void finish() override {
    // Rank 0 writes the outputs (weights, plots, calibration) while the others wait here.
    // No heartbeats in this last wait: none is left unreceived when MPI_Finalize comes (the
    // watchdog still names a rank that never arrives).
    beating_ = false;
    run("the end of the run", 20, [&](MPI_Request* r) { return MPI_Ibarrier(MPI_COMM_WORLD, r); });
    for (MPI_Request& r : beat_recv_)
      if (r != MPI_REQUEST_NULL) {
        MPI_Cancel(&r);
        MPI_Request_free(&r);
      }
    for (MPI_Request& r : beat_send_)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
    MPI_Finalize();
  }

 private:
  double timeout_ = 60;
  int64_t seq_ = 0;       // collectives started by this rank
  int64_t sent_seq_ = 0;  // the arrival message's buffer (must outlive its send)
  std::vector<int64_t> arrived_;
  // Heartbeats: rank 0 hears from every rank, every rank from rank 0.
  std::vector<int64_t> beat_in_;
  std::vector<int64_t> beat_out_;  // one send buffer per peer
  bool beating_ = true;
  std::vector<Clock::time_point> heard_;  // the last arrival or heartbeat of each peer
  std::vector<MPI_Request> beat_recv_, beat_send_;
  Clock::time_point last_beat_ = Clock::now();

  std::vector<int> peers() const {
    std::vector<int> p;
    if (root())
      for (int r = 1; r < size_; ++r) p.push_back(r);
    else
      p.push_back(0);
    return p;
  }
  void listen(int peer) {
    ALEXNET_MPI(MPI_Irecv(&beat_in_[static_cast<size_t>(peer)], 1, MPI_INT64_T, peer, kHeartbeatTag,
                          MPI_COMM_WORLD, &beat_recv_[static_cast<size_t>(peer)]));
  }
  // Takes in the heartbeats that came, and sends ours when it is time (one in flight per peer).
  void heartbeats(double interval) {
    const Clock::time_point now = Clock::now();
    for (int peer : peers()) {
      MPI_Request& in = beat_recv_[static_cast<size_t>(peer)];
      for (int flag = 1; flag;) {
        ALEXNET_MPI(MPI_Test(&in, &flag, MPI_STATUS_IGNORE));
        if (!flag) break;
        heard_[static_cast<size_t>(peer)] = now;
        listen(peer);
      }
    }
    if (!beating_ || std::chrono::duration<double>(now - last_beat_).count() < interval) return;
    last_beat_ = now;
    for (int peer : peers()) {
      MPI_Request& out = beat_send_[static_cast<size_t>(peer)];
      int done = 1;
      if (out != MPI_REQUEST_NULL) ALEXNET_MPI(MPI_Test(&out, &done, MPI_STATUS_IGNORE));
      if (!done) continue;  // its buffer is still being sent
      beat_out_[static_cast<size_t>(peer)] = seq_;
      ALEXNET_MPI(MPI_Isend(&beat_out_[static_cast<size_t>(peer)], 1, MPI_INT64_T, peer,
                            kHeartbeatTag, MPI_COMM_WORLD, &out));
    }
  }

  void reduce(void* data, size_t n, MPI_Datatype type, const std::string& what, double scale) {
    const size_t bytes = type == MPI_DOUBLE ? sizeof(double) : sizeof(float);
    for (size_t done = 0; done < n;) {
      const size_t count = std::min(kMaxCount, n - done);
      char* p = static_cast<char*>(data) + done * bytes;
      run(what, scale, [&](MPI_Request* r) {
        return MPI_Iallreduce(MPI_IN_PLACE, p, static_cast<int>(count), type, MPI_SUM,
                              MPI_COMM_WORLD, r);
      });
      done += count;
    }
  }

  // Starts the arrivals and the collective, then polls them until done or the watchdog fires.
  void run(const std::string& what, double scale, const std::function<int(MPI_Request*)>& start) {
    const int64_t seq = ++seq_;
    sent_seq_ = seq;
    std::vector<MPI_Request> arrivals;  // receives first: [r] for rank 0, [0] for the others
    std::vector<int> from;
    std::vector<MPI_Request> others;  // sends and the collective itself
    auto post = [&](int peer) {
      arrivals.emplace_back(MPI_REQUEST_NULL);
      from.push_back(peer);
      ALEXNET_MPI(MPI_Irecv(&arrived_[static_cast<size_t>(peer)], 1, MPI_INT64_T, peer, kArrivalTag,
                            MPI_COMM_WORLD, &arrivals.back()));
      others.emplace_back(MPI_REQUEST_NULL);
      ALEXNET_MPI(
          MPI_Isend(&sent_seq_, 1, MPI_INT64_T, peer, kArrivalTag, MPI_COMM_WORLD, &others.back()));
    };
    arrivals.reserve(static_cast<size_t>(size_));
    others.reserve(static_cast<size_t>(size_) + 1);
    if (root())
      for (int r = 1; r < size_; ++r) post(r);
    else
      post(0);
    others.emplace_back(MPI_REQUEST_NULL);
    ALEXNET_MPI(start(&others.back()));
    wait(arrivals, from, others, what, scale);
    for (int peer : from)
      if (arrived_[static_cast<size_t>(peer)] != seq)
        abort(me() + ": " + who(peer) + " is at collective #" +
                  std::to_string(arrived_[static_cast<size_t>(peer)]) + ", this rank at #" +
                  std::to_string(seq) + " (" + what +
                  "): the ranks disagree on the order of collectives (a bug); ending the job",
              1);
  }

  static bool test(std::vector<MPI_Request>& reqs) {
    bool all = true;
    for (MPI_Request& r : reqs) {
      if (r == MPI_REQUEST_NULL) continue;
      int flag = 0;
      ALEXNET_MPI(MPI_Test(&r, &flag, MPI_STATUS_IGNORE));  // sets r to NULL when done
      all = all && flag;
    }
    return all;
  }

  void wait(std::vector<MPI_Request>& arrivals, const std::vector<int>& from,
            std::vector<MPI_Request>& others, const std::string& what, double scale) {
    const double limit = timeout_ * scale;
    const double beat = std::min(1.0, timeout_ / 4);
    const Clock::time_point t0 = Clock::now();
    bool extended = false;  // a non-root rank whose rank 0 arrived waits twice as long
    for (long spins = 0;; ++spins) {
      std::vector<bool> was_active(arrivals.size());
      for (size_t i = 0; i < arrivals.size(); ++i) was_active[i] = arrivals[i] != MPI_REQUEST_NULL;
      const bool a = test(arrivals), o = test(others);
      for (size_t i = 0; i < arrivals.size(); ++i)  // an arrival is a sign of life too
        if (was_active[i] && arrivals[i] == MPI_REQUEST_NULL)
          heard_[static_cast<size_t>(from[i])] = Clock::now();
      if (a && o) return;
      heartbeats(beat);
      const Clock::time_point now = Clock::now();
      const double waited = std::chrono::duration<double>(now - t0).count();
      if (waited > limit && !extended) {
        // Not arrived; or arrived, and silent for half the timeout (stopped inside it).
        std::string missing, silent;
        int count = 0;
        for (size_t i = 0; i < arrivals.size(); ++i) {
          const int peer = from[i];
          const double quiet =
              std::chrono::duration<double>(now - heard_[static_cast<size_t>(peer)]).count();
          if (arrivals[i] != MPI_REQUEST_NULL)
            missing += (count++ ? ", " : "") + who(peer);
          else if (quiet > limit / 2)
            silent += (silent.empty() ? "" : ", ") + who(peer);
        }
        char secs[32];
        std::snprintf(secs, sizeof secs, "%g s", limit);
        if (!missing.empty())
          abort(me() + ": " + missing + (count > 1 ? " have" : " has") + " not reached " + what +
                    " within " + secs +
                    " (ALEXNET_DIST_TIMEOUT_S): stalled or stopped; ending the job",
                1);
        if (!silent.empty())
          abort(me() + ": " + silent + " reached " + what + " but has not been heard from for " +
                    "half of " + secs + " (ALEXNET_DIST_TIMEOUT_S): stalled or stopped; " +
                    "ending the job",
                1);
        if (root())
          abort(me() + ": " + what + " did not complete within " + secs +
                    " (ALEXNET_DIST_TIMEOUT_S) although every rank reached it and is alive; " +
                    "ending the job",
                1);
        extended = true;  // rank 0 arrived: it names the stalled rank when its watchdog fires
      }
      if (waited > 2 * limit)
        abort(me() + ": " + what + " did not complete within twice ALEXNET_DIST_TIMEOUT_S; " +
                  "another rank is stalled or stopped (rank 0 names it); ending the job",
              1);
      // Poll briskly at first (a collective between idle ranks takes microseconds), then
      // back off: a rank waiting for a slower one must not take its CPU (oversubscribed).
      if (spins < 200)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(spins < 2000 ? 20 : 200));
    }
  }
};

}  // namespace

std::unique_ptr<Cluster> make_mpi_cluster() {
  return std::make_unique<MpiCluster>();
}

}  // namespace train
