// CUDA graphs for inference at fixed batch sizes: the ops of one Network::forward captured
// once on the context's stream and replayed as one launch (Backend::replay_graph,
// capture_begin, capture_end; the protocol is in backend.h).
#pragma once

#include <cstdint>

#include "cuda_common.h"

namespace alexnet::cuda {

class GraphCache {
 public:
  explicit GraphCache(Context& ctx);
  ~GraphCache();
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;

  bool replay(uint64_t key);
  bool begin(uint64_t key);
  bool end(uint64_t key);

 private:
  Context& ctx_;
};

}  // namespace alexnet::cuda
