/* What a batch of images classified together gives back (internal), and where in it one
 * image's result is. Shared by the concurrent path, shared instances and roi-list's cache. */
#pragma once

#include <gst/gst.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "alexnet/classifier.h"

namespace alexnet::gst {

/* The results of N images classified together, by which model, and how long it took. */
struct BatchResult {
  std::vector<alexnet::TopK> tops;
  alexnet::Tensor probabilities; /* (N, classes) */
  alexnet::Tensor embedding;     /* (N, width) when output-tensor=fc7 asked for it; else empty */
  std::string model_name;
  guint64 us = 0;
};

/* One image's result: row `row` of a batch's result, once that batch is dispatched (`result`
 * is valid from then on). Frames and objects hold it by shared_ptr: a tracked object that keeps
 * its result (reclassify-interval) shares the slot of the frame that classified it. */
struct Slot {
  std::shared_future<BatchResult> result;
  size_t row = 0;
  bool ready() const {
    return result.valid() && result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
};

/* A slot whose result is already there (the synchronous path). */
inline std::shared_ptr<Slot> ready_slot(BatchResult r) {
  std::promise<BatchResult> p;
  p.set_value(std::move(r));
  auto slot = std::make_shared<Slot>();
  slot->result = p.get_future().share();
  return slot;
}

}  // namespace alexnet::gst
