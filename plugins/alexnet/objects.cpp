/* inference-region=roi-list: objects from ROI metas, and their results (objects.h). */
#include "objects.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>

#include "gstalexnetmeta.h"
#include "results.h"

namespace alexnet::gst {

std::vector<std::string> parse_object_classes(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    const size_t a = name.find_first_not_of(" \t"), b = name.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(name.substr(a, b - a + 1));
    start = end + 1;
  }
  return out;
}

bool parse_object_size(const std::string& text, int* w, int* h) {
  const size_t x = text.find('x');
  if (x == std::string::npos || x == 0 || x + 1 >= text.size()) return false;
  auto number = [](const std::string& s, int* out) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
      return false;
    const long v = std::strtol(s.c_str(), nullptr, 10);
    if (v > 65535) return false;
    *out = static_cast<int>(v);
    return true;
  };
  int pw = 0, ph = 0;
  if (!number(text.substr(0, x), &pw) || !number(text.substr(x + 1), &ph)) return false;
  *w = pw, *h = ph;
  return true;
}

std::vector<Object> collect_objects(GstBuffer* buffer, int width, int height,
                                    const ObjectFilter& filter, guint64* skipped) {
  std::vector<Object> objects;
  gpointer state = nullptr;
  GstMeta* meta;
  while ((meta = gst_buffer_iterate_meta_filtered(buffer, &state,
                                                  GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    auto* roi = reinterpret_cast<GstVideoRegionOfInterestMeta*>(meta);
    if (!filter.classes.empty()) {
      const char* type = g_quark_to_string(roi->roi_type);
      if (!type ||
          std::find(filter.classes.begin(), filter.classes.end(), type) == filter.classes.end())
        continue;
    }
    /* 64-bit: x + w of a hostile meta may exceed 32 bits */
    const gint64 x0 = std::min<gint64>(roi->x, width), y0 = std::min<gint64>(roi->y, height);
    const gint64 x1 = std::min<gint64>(gint64{roi->x} + roi->w, width);
    const gint64 y1 = std::min<gint64>(gint64{roi->y} + roi->h, height);
    if (x1 <= x0 || y1 <= y0 || x1 - x0 < filter.min_width || y1 - y0 < filter.min_height) {
      ++*skipped;
      continue;
    }
    Object o;
    o.meta = roi;
    o.box = {static_cast<int>(x0), static_cast<int>(y0), static_cast<int>(x1 - x0),
             static_cast<int>(y1 - y0)};
    objects.push_back(o);
  }
  return objects;
}

const ObjectCache::Result* ObjectCache::reuse(int id, gint64 area, guint64 frame, guint interval) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  Entry& e = it->second;
  e.last_seen = frame;
  const bool fresh = frame - e.classified_at < interval;
  const bool grew = area * 5 >= e.area * 6; /* area >= 1.2 x the classified area */
  return fresh && !grew ? &e.result : nullptr;
}

void ObjectCache::store(int id, Result result, gint64 area, guint64 frame) {
  if (entries_.size() >= kMaxIds && !entries_.count(id)) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second.last_seen < oldest->second.last_seen) oldest = it;
    entries_.erase(oldest);
  }
  Entry& e = entries_[id];
  e.result = std::move(result);
  e.area = area;
  e.classified_at = frame;
  e.last_seen = frame;
}

void ObjectCache::forget_stale(guint64 frame, guint interval) {
  const guint64 keep = 2 * static_cast<guint64>(interval);
  for (auto it = entries_.begin(); it != entries_.end();)
    it = frame - it->second.last_seen > keep ? entries_.erase(it) : std::next(it);
}

std::vector<bool> tracked_objects(const std::vector<Object>& objects) {
  std::unordered_map<int, int> count;
  for (const Object& o : objects) ++count[o.meta->id];
  std::vector<bool> tracked;
  for (const Object& o : objects) tracked.push_back(o.meta->id > 0 && count[o.meta->id] == 1);
  return tracked;
}

void attach_object_result(GstBuffer* buffer, const Object& object, const alexnet::TopK& top,
                          const std::string& model_name) {
  gst_video_region_of_interest_meta_add_param(object.meta, result_structure("classification", top));
  GstAlexNetMeta* m = add_alexnet_meta(buffer, top, model_name);
  if (!m) return;
  const alexnet::Rect& b = object.box;
  m->roi_id = object.meta->id;
  m->x = static_cast<guint>(b.x);
  m->y = static_cast<guint>(b.y);
  m->width = static_cast<guint>(b.width);
  m->height = static_cast<guint>(b.height);
  m->has_roi = TRUE;
}

GstMessage* objects_message(GstObject* src, GstClockTime pts, GstClockTime running_time,
                            bool classified, const std::vector<Object>& objects,
                            const std::vector<alexnet::TopK>& tops) {
  GValue list = G_VALUE_INIT;
  g_value_init(&list, GST_TYPE_ARRAY);
  for (size_t i = 0; classified && i < objects.size() && i < tops.size(); ++i) {
    const Object& o = objects[i];
    GstStructure* s = result_structure("object", tops[i]);
    const char* type = g_quark_to_string(o.meta->roi_type);
    gst_structure_set(s, "id", G_TYPE_INT, o.meta->id, "roi-type", G_TYPE_STRING, type ? type : "",
                      "x", G_TYPE_UINT, static_cast<guint>(o.box.x), "y", G_TYPE_UINT,
                      static_cast<guint>(o.box.y), "width", G_TYPE_UINT,
                      static_cast<guint>(o.box.width), "height", G_TYPE_UINT,
                      static_cast<guint>(o.box.height), nullptr);
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed(&v, s);
    gst_value_array_append_and_take_value(&list, &v);
  }
  GstStructure* msg =
      gst_structure_new("alexnet-classification", "pts", G_TYPE_UINT64, static_cast<guint64>(pts),
                        "running-time", G_TYPE_UINT64, static_cast<guint64>(running_time),
                        "classified", G_TYPE_BOOLEAN, classified ? TRUE : FALSE, nullptr);
  gst_structure_take_value(msg, "objects", &list);
  return gst_message_new_element(src, msg);
}

}  // namespace alexnet::gst
