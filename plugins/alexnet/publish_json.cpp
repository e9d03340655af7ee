// Frame → JSON for alexnetpublish (publish_json.h; the schema: docs/publish-schema.md).
#include "publish_json.h"

#include <ctime>

#include "gstalexnetmeta.h"
#include "gstalexnettensormeta.h"

namespace alexnet_publish {

using json = nlohmann::ordered_json;

std::string rfc3339(int64_t unix_us) {
  const std::time_t secs = static_cast<std::time_t>(unix_us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32], out[48];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out, sizeof out, "%s.%06lldZ", date, static_cast<long long>(unix_us % 1000000));
  return out;
}

namespace {

// The top-k of one meta, best first.
json results_json(const GstAlexNetMeta* m) {
  json r = json::array();
  for (guint i = 0; i < m->n; ++i)
    r.push_back({{"id", m->ids[i]},
                 {"label", m->labels && m->labels[i] ? m->labels[i] : ""},
                 {"score", m->scores[i]}});
  return r;
}

json ns_or_null(int64_t ns) {
  return ns >= 0 ? json(ns) : json(nullptr);
}

// One field of a GstStructure as JSON: numbers and booleans as such, strings, else GStreamer's
// serialisation of the value as a string.
json value_json(const GValue* v) {
  switch (G_VALUE_TYPE(v)) {
    case G_TYPE_UINT64:
      return g_value_get_uint64(v);
    case G_TYPE_INT64:
      return g_value_get_int64(v);
    case G_TYPE_UINT:
      return g_value_get_uint(v);
    case G_TYPE_INT:
      return g_value_get_int(v);
    case G_TYPE_DOUBLE:
      return g_value_get_double(v);
    case G_TYPE_FLOAT:
      return g_value_get_float(v);
    case G_TYPE_BOOLEAN:
      return static_cast<bool>(g_value_get_boolean(v));
    case G_TYPE_STRING: {
      const gchar* s = g_value_get_string(v);
      return s ? json(s) : json(nullptr);
    }
    default: {
      gchar* s = gst_value_serialize(v);
      json j = s ? json(s) : json(nullptr);
      g_free(s);
      return j;
    }
  }
}

}  // namespace

json stats_json(const GstStructure* stats, const StatsFacts& f) {
  json fields = json::object();
  const int n = gst_structure_n_fields(stats);
  for (int i = 0; i < n; ++i) {
    const gchar* name = gst_structure_nth_field_name(stats, static_cast<guint>(i));
    fields[name] = value_json(gst_structure_get_value(stats, name));
  }
  json publish{{"frames", f.frames}, {"dropped", f.dropped}};
  if (f.queued >= 0) publish["queued"] = f.queued;
  if (f.connected >= 0) publish["connected"] = f.connected == 1;
  return json{{"schema", kSchema},
              {"type", "stats"},
              {"source", f.source},
              {"seq", f.seq},
              {"timestamp", rfc3339(f.wall_clock_us)},
              {"stats", std::move(fields)},
              {"publish", std::move(publish)}};
}

json frame_json(GstBuffer* buffer, const FrameFacts& f, bool add_tensor) {
  json j{{"schema", kSchema},
         {"type", "frame"},
         {"source", f.source},
         {"seq", f.seq},
         {"pts", ns_or_null(f.pts)},
         {"running-time", ns_or_null(f.running_time)},
         {"timestamp", rfc3339(f.wall_clock_us)}};
  if (f.width > 0 && f.height > 0) {
    j["width"] = f.width;
    j["height"] = f.height;
  }
  json objects = json::array();
  gpointer state = nullptr;
  while (GstAlexNetMeta* m = gst_buffer_iterate_alexnet_meta(buffer, &state)) {
    if (m->model && !j.contains("model")) j["model"] = m->model;
    if (!m->has_roi) {
      j["results"] = results_json(m);
    } else {
      objects.push_back(
          {{"roi-id", m->roi_id},
           {"box", {{"x", m->x}, {"y", m->y}, {"width", m->width}, {"height", m->height}}},
           {"results", results_json(m)}});
    }
  }
  if (!objects.empty()) j["objects"] = std::move(objects);
  if (add_tensor) {
    json tensors = json::array();
    state = nullptr;
    while (GstAlexNetTensorMeta* t = gst_buffer_iterate_alexnet_tensor_meta(buffer, &state)) {
      json t_json{{"kind", gst_alexnet_tensor_kind_name(t->kind)},
                  {"data", std::vector<float>(t->data, t->data + t->n)}};
      if (t->has_roi) t_json["roi-id"] = t->roi_id;
      tensors.push_back(std::move(t_json));
    }
    if (!tensors.empty()) j["tensors"] = std::move(tensors);
  }
  return j;
}

}  // namespace alexnet_publish
