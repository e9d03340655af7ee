// CUDA graphs for inference at fixed batch sizes: the ops of one Network::forward captured
// once on the context's stream and replayed as one launch (Backend::run_inference; Network
// gives one key per batch size and weights' version).
//
// Switch: the environment variable ALEXNET_CUDA_GRAPHS, read once when the backend is made.
// "1" turns graphs on; unset, "0" or anything else leaves them off (the default until a run on
// a real GPU has shown that capture works with this cuDNN/cuBLAS; then the default flips).
//
// One graph per backend, for the last key. A key is captured on its second consecutive call:
// the first runs eagerly and builds what the ops keep (cuDNN plans and algorithms, output
// buffers, the context's workspace), so the captured call allocates, measures and
// synchronises nothing. A new key drops the held graph (the eager call of the new key may
// move buffers the old graph points at). A capture that fails turns graphs off for this
// backend for good, with one line on stderr; the caller then runs the ops eagerly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cuda_common.h"

namespace alexnet::cuda {

class GraphCache {
 public:
  explicit GraphCache(Context& ctx);
  ~GraphCache();
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;

  // Backend::run_inference: replays the graph held for `key`, or runs run_ops eagerly, or
  // captures run_ops into a graph and launches it. Returns run_ops' output (for a replay, the
  // output of the call that was captured: the buffer the graph writes). An op that fails while
  // capturing turns graphs off and run_ops runs again eagerly; an eager failure is thrown.
  Tensor run(uint64_t key, const std::function<Tensor()>& run_ops);

 private:
  // Launches the held graph if it was captured for `key` (and what it points at is still
  // there); false otherwise.
  bool replay(uint64_t key);
  // Starts capturing on ctx.stream when graphs are on and the previous forward ran `key`
  // eagerly; false (run eagerly) otherwise.
  bool begin(uint64_t key);
  // Ends the capture begun for `key`, instantiates and launches the graph: true. false when the
  // capture failed (graphs are then off for good; nothing ran).
  bool end(uint64_t key);

  void drop();  // destroys the held graph, if any
  // Ends a capture whose end() never came (an op threw while capturing): graphs off for good.
  void abandon_dangling_capture();
  void give_up(const std::string& why);  // graphs off for good, one line on stderr

  Context& ctx_;
  bool enabled_ = false;
  bool capturing_ = false;
  uint64_t capture_key_ = 0;
  // The key of the previous forward if it ran eagerly (begin() declined for it).
  bool eager_valid_ = false;
  uint64_t eager_key_ = 0;
  cudaGraphExec_t exec_ = nullptr;  // the held graph, for graph_key_
  uint64_t graph_key_ = 0;
  Tensor graph_output_;  // run_ops' output when the held graph was captured: what it writes
  // Context::workspace's buffer when the graph was captured: a later, larger request (a
  // training backward) frees it, and the graph would then write into freed memory.
  void* graph_workspace_ = nullptr;
};

}  // namespace alexnet::cuda
