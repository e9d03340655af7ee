/* inference-region=roi-list (internal): the objects an upstream detector attached to a frame
 * as GstVideoRegionOfInterestMeta, filtered and clamped to the frame, and their results
 * (a "classification" param on each object's ROI meta, one GstAlexNetMeta per object, the
 * `objects` array of the bus message). */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "alexnet/classifier.h"
#include "alexnet/preprocess.h"
#include "batch_result.h"

namespace alexnet::gst {

/* Which objects to classify: object-class and min-object-size. */
struct ObjectFilter {
  std::vector<std::string> classes; /* roi_type names; empty = all */
  int min_width = 0;
  int min_height = 0;
};

/* "face,person" -> {"face", "person"} (spaces around names dropped, empty names ignored). */
std::vector<std::string> parse_object_classes(const std::string& text);
/* "WxH" with W, H in [0, 65535] -> true and *w, *h; false for anything else. */
bool parse_object_size(const std::string& text, int* w, int* h);

/* One object of a frame: its ROI meta (owned by the buffer) and its box clamped to the frame. */
struct Object {
  GstVideoRegionOfInterestMeta* meta = nullptr;
  alexnet::Rect box;
};

/* The frame's objects to classify, in meta order. ROI metas of other classes are left alone;
 * boxes that are empty or wholly outside the frame once clamped, or smaller than
 * min-object-size, are skipped and counted in *skipped. */
std::vector<Object> collect_objects(GstBuffer* buffer, int width, int height,
                                    const ObjectFilter& filter, guint64* skipped);

/* reclassify-interval N: the results of tracked objects (ROI id > 0, once per frame), kept for
 * N frames (DL Streamer's meaning) unless the box's area grows by 20% or more (DeepStream's
 * rule). Bounded: ids not seen for 2N frames are forgotten, and at most kMaxIds are held (the
 * longest unseen go first). Frame numbers are the element's frame count. */
class ObjectCache {
 public:
  static constexpr size_t kMaxIds = 4096;
  /* where the id's last classification is (its frame may not have left the element yet) */
  using Result = std::shared_ptr<Slot>;
  /* The result kept for `id` if it was classified fewer than `interval` frames before `frame`
   * and its area then was more than area / 1.2; null otherwise. Marks the id seen. */
  const Result* reuse(int id, gint64 area, guint64 frame, guint interval);
  /* Keeps a new result of `id`, classified at `frame` with that box area. */
  void store(int id, Result result, gint64 area, guint64 frame);
  /* Forgets ids not seen for 2 * interval frames up to `frame`. */
  void forget_stale(guint64 frame, guint interval);
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    Result result;
    gint64 area = 0;
    guint64 classified_at = 0;
    guint64 last_seen = 0;
  };
  std::unordered_map<int, Entry> entries_;
};

/* The ids of `objects` that are tracked: > 0 and not repeated within the frame. */
std::vector<bool> tracked_objects(const std::vector<Object>& objects);

/* The object's results: a "classification" param on its ROI meta and a GstAlexNetMeta with
 * its id and box, on the (writable) buffer. The GstAlexNetTensorMeta is results.h's. */
void attach_object_result(GstBuffer* buffer, const Object& object, const alexnet::TopK& top,
                          const std::string& model_name);

/* The element message "alexnet-classification" of a roi-list frame: pts, running-time,
 * classified, and `objects`: per object id, roi-type, x, y, width, height and the result
 * fields (empty when the frame was not classified). */
GstMessage* objects_message(GstObject* src, GstClockTime pts, GstClockTime running_time,
                            bool classified, const std::vector<Object>& objects,
                            const std::vector<alexnet::TopK>& tops);

}  // namespace alexnet::gst
