#include "results.h"

#include "gstalexnetmeta.h"
#include "gstalexnettensormeta.h"

#include <vector>

namespace alexnet::gst {

GstStructure* result_structure(const char* name, const TopK& top) {
  GstStructure* s = gst_structure_new_empty(name);
  if (!top.empty()) {
    gst_structure_set(s, "label", G_TYPE_STRING, top[0].label.c_str(), "label_id", G_TYPE_INT,
                      top[0].index, "confidence", G_TYPE_DOUBLE,
                      static_cast<double>(top[0].probability), nullptr);
  }
  GValue ids = G_VALUE_INIT, labels = G_VALUE_INIT, scores = G_VALUE_INIT;
  g_value_init(&ids, GST_TYPE_ARRAY);
  g_value_init(&labels, GST_TYPE_ARRAY);
  g_value_init(&scores, GST_TYPE_ARRAY);
  for (const Prediction& p : top) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_INT);
    g_value_set_int(&v, p.index);
    gst_value_array_append_and_take_value(&ids, &v);
    GValue l = G_VALUE_INIT;
    g_value_init(&l, G_TYPE_STRING);
    g_value_set_string(&l, p.label.c_str());
    gst_value_array_append_and_take_value(&labels, &l);
    GValue d = G_VALUE_INIT;
    g_value_init(&d, G_TYPE_DOUBLE);
    g_value_set_double(&d, static_cast<double>(p.probability));
    gst_value_array_append_and_take_value(&scores, &d);
  }
  gst_structure_take_value(s, "ids", &ids);
  gst_structure_take_value(s, "labels", &labels);
  gst_structure_take_value(s, "scores", &scores);
  return s;
}

void attach_tensor(GstBuffer* buffer, GstAlexNetOutputTensor kind, const Slot& slot, int roi_id,
                   bool has_roi) {
  if (kind == GST_ALEXNET_OUTPUT_TENSOR_NONE) return;
  const BatchResult& r = slot.result.get();
  const bool fc7 = kind == GST_ALEXNET_OUTPUT_TENSOR_FC7;
  const Tensor& t = fc7 ? r.embedding : r.probabilities;
  if (t.rank() != 2 || static_cast<int64_t>(slot.row) >= t.dim(0)) return;
  const int64_t width = t.dim(1);
  gst_buffer_add_alexnet_tensor_meta(
      buffer, fc7 ? GST_ALEXNET_TENSOR_FC7 : GST_ALEXNET_TENSOR_PROBABILITIES, roi_id,
      has_roi ? TRUE : FALSE, t.data() + static_cast<int64_t>(slot.row) * width,
      static_cast<guint>(width));
}

GstAlexNetMeta* add_alexnet_meta(GstBuffer* buffer, const TopK& top,
                                 const std::string& model_name) {
  std::vector<gint> ids;
  std::vector<const gchar*> labels;
  std::vector<gfloat> scores;
  for (const Prediction& p : top) {
    ids.push_back(p.index);
    labels.push_back(p.label.c_str());
    scores.push_back(p.probability);
  }
  labels.push_back(nullptr);
  return gst_buffer_add_alexnet_meta(buffer, static_cast<guint>(top.size()), ids.data(),
                                     labels.data(), scores.data(), model_name.c_str());
}

void attach_result(GstBuffer* buffer, int width, int height, const TopK& top,
                   const std::string& model_name) {
  GstVideoRegionOfInterestMeta* roi = gst_buffer_add_video_region_of_interest_meta(
      buffer, "classification", 0, 0, static_cast<guint>(width), static_cast<guint>(height));
  if (roi)
    gst_video_region_of_interest_meta_add_param(roi, result_structure("classification", top));
  GstAlexNetMeta* m = add_alexnet_meta(buffer, top, model_name);
  if (m) {
    m->width = static_cast<guint>(width); /* the whole frame; has_roi stays FALSE */
    m->height = static_cast<guint>(height);
  }
}

GstMessage* result_message(GstObject* src, GstClockTime pts, GstClockTime running_time,
                           bool classified, const TopK& top) {
  GstStructure* s = result_structure("alexnet-classification", top);
  gst_structure_set(s, "pts", G_TYPE_UINT64, static_cast<guint64>(pts), "running-time",
                    G_TYPE_UINT64, static_cast<guint64>(running_time), "classified", G_TYPE_BOOLEAN,
                    classified ? TRUE : FALSE, nullptr);
  return gst_message_new_element(src, s);
}

}  // namespace alexnet::gst
