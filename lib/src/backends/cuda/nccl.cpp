// NCCL for data-parallel training: the gradients of replicas on distinct GPUs are summed in
// place with ncclAllReduce (lib/src/run/data_parallel.cpp decides when; the entry points are at
// the bottom of backend_cuda.cpp).
//
// NCCL is loaded lazily with dlopen("libnccl.so.2"), never linked: the module must load and
// run on a host without NCCL, where the all-reduce is "unavailable" with dlerror's reason and
// DataParallel reduces through host memory instead. nccl.h is included for its types only;
// every function is called through a pointer resolved with dlsym, so the module has no
// undefined nccl* symbol (`nm -D --undefined-only libalexnet-cuda.so | grep nccl` is empty).
//
// Communicators: one set per ordered device list, made once with ncclCommInitAll (one
// process, one thread, several devices) and kept for the process lifetime (destroying them
// at exit would race the CUDA runtime's own teardown). One mutex serialises every
// all-reduce: NCCL communicators are not safe to use from two threads at once.
#include <dlfcn.h>
#include <nccl.h>  // types and NCCL_VERSION only

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_common.h"
#include "kernels.h"

namespace alexnet::cuda {
namespace {

struct NcclLib {
  std::string reason;   // why NCCL is unavailable; "" when it is loaded
  std::string version;  // "2.28.9"
  ncclResult_t (*get_version)(int*) = nullptr;
  ncclResult_t (*comm_init_all)(ncclComm_t*, int, const int*) = nullptr;
  ncclResult_t (*comm_destroy)(ncclComm_t) = nullptr;
  ncclResult_t (*comm_abort)(ncclComm_t) = nullptr;  // optional (error paths)
  ncclResult_t (*group_start)() = nullptr;
  ncclResult_t (*group_end)() = nullptr;
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                             cudaStream_t) = nullptr;
  const char* (*error_string)(ncclResult_t) = nullptr;
  // Across processes (distributed training); optional: an older NCCL lacks the config init.
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*comm_init_rank_config)(ncclComm_t*, int, ncclUniqueId, int,
                                        ncclConfig_t*) = nullptr;
  ncclResult_t (*comm_get_async_error)(ncclComm_t, ncclResult_t*) = nullptr;
};

template <typename F>
bool resolve(void* handle, const char* name, F& fn, std::string& reason) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  if (!fn && reason.empty()) reason = std::string("libnccl.so.2 has no ") + name;
  return fn != nullptr;
}

NcclLib load_nccl() {
  NcclLib lib;
  void* handle = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    lib.reason = std::string("libnccl.so.2 could not be loaded: ") + (e ? e : "unknown reason");
    return lib;
  }
  std::string missing;
  resolve(handle, "ncclGetVersion", lib.get_version, missing);
  resolve(handle, "ncclCommInitAll", lib.comm_init_all, missing);
  resolve(handle, "ncclCommDestroy", lib.comm_destroy, missing);
  resolve(handle, "ncclGroupStart", lib.group_start, missing);
  resolve(handle, "ncclGroupEnd", lib.group_end, missing);
  resolve(handle, "ncclAllReduce", lib.all_reduce, missing);
  resolve(handle, "ncclGetErrorString", lib.error_string, missing);
  std::string optional;
  resolve(handle, "ncclCommAbort", lib.comm_abort, optional);
  resolve(handle, "ncclGetUniqueId", lib.get_unique_id, optional);
  resolve(handle, "ncclCommInitRank", lib.comm_init_rank, optional);
  resolve(handle, "ncclCommInitRankConfig", lib.comm_init_rank_config, optional);
  resolve(handle, "ncclCommGetAsyncError", lib.comm_get_async_error, optional);
  if (!missing.empty()) {
    lib.reason = missing;
    return lib;  // the library stays loaded (harmless), unused
  }
  int code = 0;
  ncclResult_t r = lib.get_version(&code);
  if (r != ncclSuccess) {
    lib.reason = std::string("ncclGetVersion failed: ") + lib.error_string(r);
    return lib;
  }
  // NCCL_VERSION(X, Y, Z): X*1000 + Y*100 + Z up to 2.8, X*10000 + Y*100 + Z from 2.9 on.
  int major = code >= 10000 ? code / 10000 : code / 1000;
  int minor = code >= 10000 ? (code % 10000) / 100 : (code % 1000) / 100;
  int patch = code % 100;
  lib.version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  return lib;
}

const NcclLib& nccl() {
  static const NcclLib lib = load_nccl();  // thread-safe, once
  return lib;
}

std::string nccl_result_str(ncclResult_t r) {
  const char* text = nccl().error_string ? nccl().error_string(r) : nullptr;
  return std::string(text ? text : "NCCL error") + " (ncclResult " +
         std::to_string(static_cast<int>(r)) + ")";
}

// Throws alexnet::Error: "cuda:1: NCCL call ... failed: unhandled cuda error (ncclResult 1)
// (lib/src/backends/cuda/nccl.cpp:123)", like ALEXNET_CUDA (the device is the calling thread's).
#define ALEXNET_NCCL(call)                                                                   \
  do {                                                                                       \
    ncclResult_t alexnet_r_ = (call);                                                        \
    if (alexnet_r_ != ncclSuccess)                                                           \
      ::alexnet::cuda::fail("NCCL", #call, nccl_result_str(alexnet_r_), __FILE__, __LINE__); \
  } while (0)

// The communicators of one ordered device list, and one event per rank (on its device) that
// marks the end of the last all-reduce on that rank's stream.
struct Clique {
  std::vector<ncclComm_t> comms;
  std::vector<cudaEvent_t> done;
};

std::mutex& nccl_mutex() {
  static std::mutex m;
  return m;
}

std::map<std::vector<int>, Clique>& cliques() {
  static auto* all = new std::map<std::vector<int>, Clique>;  // never destroyed (see above)
  return *all;
}

// A clique after a failure: out of the cache, its communicators aborted (ncclCommAbort does
// not wait for outstanding work; without it they are left as they are rather than risk a
// hang in ncclCommDestroy). The events are left too: their device may be the failed one.
void drop(const std::vector<int>& devices) {
  auto it = cliques().find(devices);
  if (it == cliques().end()) return;
  if (nccl().comm_abort)
    for (ncclComm_t c : it->second.comms) nccl().comm_abort(c);
  cliques().erase(it);
}

Clique& clique_for(const std::vector<int>& devices) {
  auto it = cliques().find(devices);
  if (it != cliques().end()) return it->second;
  Clique c;
  c.comms.assign(devices.size(), nullptr);
  ALEXNET_NCCL(
      nccl().comm_init_all(c.comms.data(), static_cast<int>(devices.size()), devices.data()));
  try {
    for (int d : devices) {
      DeviceScope scope(d);
      cudaEvent_t e = nullptr;
      ALEXNET_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      c.done.push_back(e);
    }
  } catch (...) {
    for (ncclComm_t comm : c.comms) nccl().comm_destroy(comm);  // nothing was enqueued yet
    throw;
  }
  return cliques().emplace(devices, std::move(c)).first->second;
}

// Seconds to wait for every GPU to finish an all-reduce ($ALEXNET_NCCL_TIMEOUT_S, default 60).
double wait_limit_s() {
  if (const char* env = std::getenv("ALEXNET_NCCL_TIMEOUT_S")) {
    char* end = nullptr;
    double v = std::strtod(env, &end);
    if (end != env && v > 0) return v;
  }
  return 60.0;
}

}  // namespace

std::string nccl_version_text(bool* available) {
  const NcclLib& lib = nccl();
  *available = lib.reason.empty();
  return lib.reason.empty() ? lib.version : lib.reason;
}

namespace {

// Checks the arguments of nccl_allreduce and returns each rank's device.
std::vector<int> allreduce_devices(const std::vector<Context*>& ranks, float* const* const* buffers,
                                   const int64_t* counts, int t) {
  const int n = static_cast<int>(ranks.size());
  if (n < 1) throw Error("NCCL all-reduce over no GPU");
  if (t < 0 || (t > 0 && (!buffers || !counts))) throw Error("NCCL all-reduce: bad buffer list");
  std::vector<int> devices;
  for (int r = 0; r < n; ++r) {
    if (!ranks[static_cast<size_t>(r)]) throw Error("NCCL all-reduce: rank without a context");
    int d = ranks[static_cast<size_t>(r)]->device;
    for (int e : devices)
      if (e == d)
        throw Error("NCCL needs distinct GPUs; gpu:" + std::to_string(d) + " is listed twice");
    devices.push_back(d);
    if (t > 0 && !buffers[r])
      throw Error("NCCL all-reduce: no buffers for gpu:" + std::to_string(d));
  }
  for (int j = 0; j < t; ++j) {
    if (counts[j] < 0)
      throw Error("NCCL all-reduce: negative count for buffer " + std::to_string(j));
    for (int r = 0; r < n; ++r)
      if (counts[j] > 0 && !buffers[r][j])
        throw Error("NCCL all-reduce: buffer " + std::to_string(j) +
                    " of gpu:" + std::to_string(devices[static_cast<size_t>(r)]) + " is null");
  }
  return devices;
}

// One thread driving several GPUs: every rank's call inside one group, or the first call
// would wait for the others forever. The group is closed even when a call in it fails.
void enqueue_allreduce_group(const std::vector<Context*>& ranks, const std::vector<int>& devices,
                             Clique& clique, float* const* const* buffers, const int64_t* counts,
                             int t) {
  const int n = static_cast<int>(ranks.size());
  const NcclLib& lib = nccl();
  ncclResult_t first = ncclSuccess;
  std::string failed_on;
  ALEXNET_NCCL(lib.group_start());
  for (int j = 0; j < t && first == ncclSuccess; ++j) {
    if (counts[j] == 0) continue;
    for (int r = 0; r < n; ++r) {
      ncclResult_t e = lib.all_reduce(buffers[r][j], buffers[r][j], static_cast<size_t>(counts[j]),
                                      ncclFloat, ncclSum, clique.comms[static_cast<size_t>(r)],
                                      ranks[static_cast<size_t>(r)]->stream);
      if (e != ncclSuccess) {
        first = e;
        failed_on = "gpu:" + std::to_string(devices[static_cast<size_t>(r)]);
        break;
      }
    }
  }
  ncclResult_t end = lib.group_end();
  if (first != ncclSuccess || end != ncclSuccess) {
    std::string what = first != ncclSuccess
                           ? "ncclAllReduce on " + failed_on + ": " + nccl_result_str(first)
                           : "ncclGroupEnd: " + nccl_result_str(end);
    drop(devices);
    throw Error("NCCL all-reduce over " + std::to_string(n) + " GPU" + (n == 1 ? "" : "s") +
                " failed: " + what);
  }
}

// Bounded wait: poll each rank's event, so a GPU that fails or hangs is an error naming it,
// not a hang of the whole training.
void wait_allreduce_bounded(const std::vector<Context*>& ranks, const std::vector<int>& devices,
                            Clique& clique) {
  const int n = static_cast<int>(ranks.size());
  for (int r = 0; r < n; ++r) {
    DeviceScope scope(devices[static_cast<size_t>(r)]);
    ALEXNET_CUDA(cudaEventRecord(clique.done[static_cast<size_t>(r)],
                                 ranks[static_cast<size_t>(r)]->stream));
  }
  const double limit = wait_limit_s();
  const auto start = std::chrono::steady_clock::now();
  std::vector<bool> finished(static_cast<size_t>(n), false);
  for (int left = n, spins = 0; left > 0; ++spins) {
    for (int r = 0; r < n; ++r) {
      if (finished[static_cast<size_t>(r)]) continue;
      const int d = devices[static_cast<size_t>(r)];
      cudaError_t q;
      {
        DeviceScope scope(d);
        q = cudaEventQuery(clique.done[static_cast<size_t>(r)]);
      }
      if (q == cudaSuccess) {
        finished[static_cast<size_t>(r)] = true;
        --left;
      } else if (q != cudaErrorNotReady) {
        drop(devices);
        throw Error("gpu:" + std::to_string(d) + " failed during the NCCL all-reduce: " +
                    cudaGetErrorName(q) + " (" + cudaGetErrorString(q) + ")");
      }
    }
    if (left == 0) break;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > limit) {
      std::string late;
      for (int r = 0; r < n; ++r)
        if (!finished[static_cast<size_t>(r)])
          late +=
              (late.empty() ? "gpu:" : ", gpu:") + std::to_string(devices[static_cast<size_t>(r)]);
      drop(devices);
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", limit);
      throw Error(late + " did not finish the NCCL all-reduce within " + secs +
                  " s (ALEXNET_NCCL_TIMEOUT_S); a GPU failed or another rank is stuck");
    }
    if (spins < 1000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace

// ranks[r]: the context (device, stream) of rank r; buffers[r][j] holds counts[j] floats on
// that device. Scales rank r's buffers by scales[r] (if scales), then sums every buffer j over
// the ranks in place, each rank on its own stream, and waits (bounded) until all are done.
void nccl_allreduce(const std::vector<Context*>& ranks, float* const* const* buffers,
                    const int64_t* counts, int t, const float* scales) {
  const std::vector<int> devices = allreduce_devices(ranks, buffers, counts, t);
  {
    bool available = false;
    std::string why = nccl_version_text(&available);
    if (!available) throw Error("NCCL is not available: " + why);
  }
  int caller_device = -1;
  cudaGetDevice(&caller_device);
  struct Restore {  // the caller's current device, whatever NCCL or we set meanwhile
    int device;
    ~Restore() {
      if (device >= 0) cudaSetDevice(device);
    }
  } restore{caller_device};

  // Weights first, on each rank's stream (ordered after the backward pass that wrote them).
  const int n = static_cast<int>(ranks.size());
  if (scales)
    for (int r = 0; r < n; ++r) {
      if (scales[r] == 1.0f) continue;
      Context& ctx = *ranks[static_cast<size_t>(r)];
      DeviceScope scope(ctx.device);
      for (int j = 0; j < t; ++j) {
        kernels::scale(buffers[r][j], counts[j], scales[r], ctx.stream);
        ALEXNET_CUDA_LAUNCHED();
      }
    }

  std::lock_guard<std::mutex> lock(nccl_mutex());
  Clique& clique = clique_for(devices);
  enqueue_allreduce_group(ranks, devices, clique, buffers, counts, t);
  wait_allreduce_bounded(ranks, devices, clique);
}

// ---------------------------------------------------------------------------------------------
// Across processes: distributed training with one rank per GPU (training/src/cluster.h). One
// rank makes a unique id, the trainer hands it to every rank over MPI, and each joins the
// group with its GPU (ncclCommInitRank). Init and every all-reduce are bounded: the init is
// non-blocking where NCCL has ncclCommInitRankConfig, and the all-reduce is polled through
// an event and ncclCommGetAsyncError (a peer that died or stalled), for at most
// $ALEXNET_NCCL_TIMEOUT_S; then the communicator is aborted and the error names the rank.

struct ProcessGroup {
  ncclComm_t comm = nullptr;
  int device = 0, rank = 0, nranks = 0;
  cudaEvent_t done = nullptr;
  bool broken = false;  // aborted after a failure: refuses further use
};

namespace {

const NcclLib& nccl_across() {
  const NcclLib& lib = nccl();
  if (!lib.reason.empty()) throw Error("NCCL is not available: " + lib.reason);
  if (!lib.get_unique_id || !lib.comm_init_rank)
    throw Error("NCCL " + lib.version + " lacks ncclGetUniqueId/ncclCommInitRank");
  return lib;
}

std::string group_name(const ProcessGroup& g) {
  return "rank " + std::to_string(g.rank) + " of " + std::to_string(g.nranks) +
         " (gpu:" + std::to_string(g.device) + ")";
}

// Polls `ready` and the communicator's asynchronous error until ready, an error, or the
// timeout; on either of the last two the communicator is aborted and the error names `what`.
template <class Ready>
void wait_group(ProcessGroup& g, const std::string& what, Ready ready) {
  const NcclLib& lib = nccl();
  const double limit = wait_limit_s();
  const auto start = std::chrono::steady_clock::now();
  for (int spins = 0;; ++spins) {
    if (ready()) return;
    ncclResult_t async = ncclSuccess;
    if (lib.comm_get_async_error && g.comm) lib.comm_get_async_error(g.comm, &async);
    std::string why;
    if (async != ncclSuccess && async != ncclInProgress) why = nccl_result_str(async);
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (why.empty() && waited > limit) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", limit);
      why = std::string("not finished within ") + secs +
            " s (ALEXNET_NCCL_TIMEOUT_S): another rank failed, stalled or never joined";
    }
    if (!why.empty()) {
      g.broken = true;
      if (lib.comm_abort && g.comm) lib.comm_abort(g.comm);
      g.comm = nullptr;
      throw Error(group_name(g) + ": " + what + ": " + why);
    }
    if (spins < 1000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace

std::string nccl_unique_id() {
  const NcclLib& lib = nccl_across();
  ncclUniqueId id;
  ALEXNET_NCCL(lib.get_unique_id(&id));
  return std::string(id.internal, sizeof id.internal);
}

ProcessGroup* nccl_join(const std::string& id, int nranks, int rank, Context& ctx) {
  const NcclLib& lib = nccl_across();
  if (id.size() != NCCL_UNIQUE_ID_BYTES)
    throw Error("NCCL group: the unique id has " + std::to_string(id.size()) + " bytes, not " +
                std::to_string(NCCL_UNIQUE_ID_BYTES));
  if (nranks < 1 || rank < 0 || rank >= nranks)
    throw Error("NCCL group: rank " + std::to_string(rank) + " of " + std::to_string(nranks));
  ncclUniqueId uid;
  std::memcpy(uid.internal, id.data(), NCCL_UNIQUE_ID_BYTES);
  auto* g = new ProcessGroup;  // never freed: see the cliques above
  g->device = ctx.device;
  g->rank = rank;
  g->nranks = nranks;
  DeviceScope scope(ctx.device);
  if (lib.comm_init_rank_config) {  // non-blocking: the wait below is bounded
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = lib.comm_init_rank_config(&g->comm, nranks, uid, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress)
      throw Error(group_name(*g) + ": ncclCommInitRankConfig: " + nccl_result_str(r));
    wait_group(*g, "joining the NCCL group", [&] {
      ncclResult_t state = ncclInProgress;
      lib.comm_get_async_error(g->comm, &state);
      return state == ncclSuccess;
    });
  } else {
    ALEXNET_NCCL(lib.comm_init_rank(&g->comm, nranks, uid, rank));
  }
  ALEXNET_CUDA(cudaEventCreateWithFlags(&g->done, cudaEventDisableTiming));
  return g;
}

// buffers[j]: counts[j] floats on the group's GPU, scaled by `scale`, then summed over the
// group's ranks in place on ctx's stream; returns when this GPU has the sum (bounded).
void nccl_group_allreduce(ProcessGroup& g, Context& ctx, float* const* buffers,
                          const int64_t* counts, int t, float scale) {
  const NcclLib& lib = nccl_across();
  if (g.broken || !g.comm) throw Error(group_name(g) + ": the NCCL group failed earlier");
  if (ctx.device != g.device)
    throw Error(group_name(g) + ": called with gpu:" + std::to_string(ctx.device));
  DeviceScope scope(ctx.device);
  if (scale != 1.0f)
    for (int j = 0; j < t; ++j) {
      kernels::scale(buffers[j], counts[j], scale, ctx.stream);
      ALEXNET_CUDA_LAUNCHED();
    }
  ALEXNET_NCCL(lib.group_start());
  ncclResult_t first = ncclSuccess;
  for (int j = 0; j < t && first == ncclSuccess; ++j)
    if (counts[j] > 0)
      first = lib.all_reduce(buffers[j], buffers[j], static_cast<size_t>(counts[j]), ncclFloat,
                             ncclSum, g.comm, ctx.stream);
  const ncclResult_t end = lib.group_end();
  // Non-blocking communicators may answer "in progress": the wait below sees it through.
  for (ncclResult_t r : {first, end})
    if (r != ncclSuccess && r != ncclInProgress) {
      g.broken = true;
      if (lib.comm_abort) lib.comm_abort(g.comm);
      g.comm = nullptr;
      throw Error(group_name(g) + ": ncclAllReduce: " + nccl_result_str(r));
    }
  bool recorded = false;
  wait_group(g, "the NCCL all-reduce", [&] {
    // An asynchronous error is never "ready": wait_group sees it and throws.
    ncclResult_t state = ncclSuccess;
    if (lib.comm_get_async_error) lib.comm_get_async_error(g.comm, &state);
    if (state != ncclSuccess) return false;  // in progress (non-blocking), or an error
    if (!recorded) {
      ALEXNET_CUDA(cudaEventRecord(g.done, ctx.stream));
      recorded = true;
    }
    const cudaError_t q = cudaEventQuery(g.done);
    if (q == cudaErrorNotReady) return false;
    ALEXNET_CUDA(q);
    return true;
  });
}

}  // namespace alexnet::cuda
