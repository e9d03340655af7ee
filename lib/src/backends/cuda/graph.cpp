// The CUDA graph cache (graph.h): capture on the second call of a key, replay after that.
#include "graph.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace alexnet::cuda {

namespace {

bool graphs_requested() {
  const char* e = std::getenv("ALEXNET_CUDA_GRAPHS");
  return e != nullptr && std::string(e) == "1";
}

std::string error_text(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

}  // namespace

GraphCache::GraphCache(Context& ctx) : ctx_(ctx), enabled_(graphs_requested()) {}

GraphCache::~GraphCache() {
  // Destructors never throw: errors here (a GPU that already failed) are ignored. An exec
  // still running is freed by the driver when it completes.
  if (!capturing_ && !exec_) return;
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(ctx_.device);
  if (capturing_) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(ctx_.stream, &g);
    if (g) cudaGraphDestroy(g);
  }
  if (exec_) cudaGraphExecDestroy(exec_);
  cudaGetLastError();
  if (previous >= 0) cudaSetDevice(previous);
}

void GraphCache::drop() {
  if (!exec_) return;
  cudaGraphExec_t exec = exec_;
  exec_ = nullptr;
  graph_key_ = 0;
  graph_output_ = Tensor();
  graph_workspace_ = nullptr;
  // Safe while a launch of it is still in flight: the driver frees it on completion.
  ALEXNET_CUDA(cudaGraphExecDestroy(exec));
}

void GraphCache::give_up(const std::string& why) {
  enabled_ = false;
  eager_valid_ = false;
  std::fprintf(stderr, "alexnet: %s: CUDA graph capture failed (%s); running without graphs\n",
               ctx_.name.c_str(), why.c_str());
  drop();
}

void GraphCache::abandon_dangling_capture() {
  capturing_ = false;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(ctx_.stream, &status) == cudaSuccess &&
      status != cudaStreamCaptureStatusNone) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(ctx_.stream, &g);  // best effort: the capture is thrown away
    if (g) cudaGraphDestroy(g);
  }
  cudaGetLastError();  // the capture's errors are not sticky; clear them
  give_up("an op failed while capturing");
}

Tensor GraphCache::run(uint64_t key, const std::function<Tensor()>& run_ops) {
  if (replay(key)) return graph_output_;
  const bool capturing = begin(key);
  Tensor out;
  try {
    out = run_ops();
  } catch (...) {
    // Outside a capture the error is the caller's. Inside one, end it here on this thread
    // (thread-local capture mode requires it; graphs go off and the reason is printed) and run
    // eagerly; a capture that somehow still ended cleanly must not be replayed (it could be
    // partial), and the op's error is rethrown.
    if (!capturing || end(key)) {
      drop();
      throw;
    }
    return run_ops();
  }
  if (!capturing) return out;
  if (!end(key)) return run_ops();  // the capture ran nothing
  graph_output_ = out;
  return out;
}

bool GraphCache::replay(uint64_t key) {
  if (capturing_) abandon_dangling_capture();
  if (!enabled_ || !exec_ || key != graph_key_) return false;
  // workspace(0) never allocates: it only returns the current buffer.
  if (ctx_.workspace(0) != graph_workspace_) {
    drop();
    eager_valid_ = false;  // run eagerly once more, then capture again
    return false;
  }
  ALEXNET_CUDA(cudaGraphLaunch(exec_, ctx_.stream));
  return true;
}

bool GraphCache::begin(uint64_t key) {
  if (capturing_) abandon_dangling_capture();
  if (!enabled_) return false;
  // The caller did not replay, so it does not count on the held graph: whatever key it was
  // for, this forward (eager or captured) may move buffers it points at.
  drop();
  if (!eager_valid_ || eager_key_ != key) {
    eager_valid_ = true;
    eager_key_ = key;
    return false;
  }
  eager_valid_ = false;
  // Thread-local mode: a capture-unsafe call (cudaMalloc, a synchronisation, a synchronous
  // copy) made by this thread while capturing fails and invalidates the capture, so an op
  // that is not capture-safe is caught here (end() then reports it and falls back) instead of
  // being recorded into a graph that silently skips it (relaxed mode). Unlike global mode,
  // unsafe calls made meanwhile by other threads (another backend on this GPU, the element's
  // other workers, the host side of the pipeline) neither fail nor invalidate this capture.
  // The mode requires end() on this thread: run() makes both calls.
  cudaError_t e = cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    give_up("cudaStreamBeginCapture: " + error_text(e));
    return false;
  }
  capturing_ = true;
  capture_key_ = key;
  return true;
}

bool GraphCache::end(uint64_t key) {
  if (!capturing_) return false;  // nothing was begun: the caller runs the ops
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(ctx_.stream, &graph);
  if (e != cudaSuccess || graph == nullptr) {
    // cudaErrorStreamCaptureInvalidated when an op made an unsafe call (its own call failed
    // too, with cudaErrorStreamCaptureUnsupported or ...Implicit).
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    give_up("cudaStreamEndCapture: " +
            (e != cudaSuccess ? error_text(e) : std::string("no graph returned")));
    return false;
  }
  if (key != capture_key_) {
    cudaGraphDestroy(graph);
    throw Error(ctx_.name + ": capture_end for another key than capture_begin's");
  }
  cudaGraphExec_t exec = nullptr;
  e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph is independent of it
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (exec) cudaGraphExecDestroy(exec);
    give_up("cudaGraphInstantiate: " + error_text(e));
    return false;
  }
  exec_ = exec;
  graph_key_ = key;
  graph_workspace_ = ctx_.workspace(0);
  ALEXNET_CUDA(cudaGraphLaunch(exec_, ctx_.stream));  // the capture ran nothing
  return true;
}

}  // namespace alexnet::cuda
