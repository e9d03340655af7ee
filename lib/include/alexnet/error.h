// Errors of libalexnet. The library reports every failure by throwing alexnet::Error whose
// message names the thing that failed (file, tensor, layer, device) and the problem; it never
// exits or aborts. Callers at a C boundary (the GStreamer element) catch it there.
#pragma once

#include <stdexcept>
#include <string>

namespace alexnet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace alexnet
