// How alexnetclassify publishes one classification result: the full-frame
// GstVideoRegionOfInterestMeta with its "classification" structure (DL Streamer's scalar
// fields label / label_id / confidence plus the top-k arrays ids / labels / scores), our
// GstAlexNetMeta, and the "alexnet-classification" element message.
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>

#include "alexnet/classifier.h"
#include "batch_result.h"
#include "gstalexnetclassify.h"
#include "gstalexnetmeta.h"

namespace alexnet::gst {

// The top-k arrays (GstValueArray fields "ids", "labels", "scores") plus, for the top-1,
// "label", "label_id", "confidence", in a new structure called `name`.
GstStructure* result_structure(const char* name, const TopK& top);

// Adds the ROI meta (type "classification", the whole frame, param "classification") and
// GstAlexNetMeta (model = `model_name`) to a writable buffer.
void attach_result(GstBuffer* buffer, int width, int height, const TopK& top,
                   const std::string& model_name);

// gst_buffer_add_alexnet_meta with the arrays of `top` (the meta, or null if refused).
GstAlexNetMeta* add_alexnet_meta(GstBuffer* buffer, const TopK& top, const std::string& model_name);

// output-tensor: a GstAlexNetTensorMeta with the slot's row of the probabilities or the
// embedding (the slot's result must be ready); nothing for none, or when the batch was run
// without the embedding (output-tensor changed to fc7 while it was on its way).
void attach_tensor(GstBuffer* buffer, GstAlexNetOutputTensor kind, const Slot& slot, int roi_id,
                   bool has_roi);

// The element message "alexnet-classification": pts, running-time (GST_CLOCK_TIME_NONE when
// unknown), classified (false when the result was carried over), and the result fields.
GstMessage* result_message(GstObject* src, GstClockTime pts, GstClockTime running_time,
                           bool classified, const TopK& top);

}  // namespace alexnet::gst
