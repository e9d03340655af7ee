// alexnetpublish's JSON: one object per frame from the buffer's GstAlexNetMeta (and, on
// request, GstAlexNetTensorMeta). The schema, with its version, is docs/publish-schema.md.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace alexnet_publish {

// The version of docs/publish-schema.md this code writes.
inline constexpr const char* kSchema = "alexnet-publish/1";

// What the element knows about a frame besides its metas.
struct FrameFacts {
  std::string source;         // the stream's id
  uint64_t seq = 0;           // per source, from 0
  int64_t pts = -1;           // ns; -1 = none (JSON null)
  int64_t running_time = -1;  // ns; -1 = none
  int64_t wall_clock_us = 0;  // g_get_real_time(): the timestamp field
  int width = 0, height = 0;  // from the caps (0: not video, left out)
};

// {"schema", "type": "frame", "source", "seq", "pts", "running-time", "timestamp", "width",
//  "height", "model", "results": [...], "objects": [...], "tensors": [...] (add_tensor)}
nlohmann::ordered_json frame_json(GstBuffer* buffer, const FrameFacts& facts, bool add_tensor);

// What the publisher itself adds to a stats object.
struct StatsFacts {
  std::string source;
  uint64_t seq = 0;           // per source, from 0: its own count, apart from the frames'
  int64_t wall_clock_us = 0;  // the timestamp field
  uint64_t frames = 0;        // frame objects published so far
  uint64_t dropped = 0;       // messages dropped so far (on-full=drop-oldest)
  int64_t queued = -1;        // method=mqtt: in the queue, unacknowledged; -1 = not mqtt
  int connected = -1;         // method=mqtt: 0/1; -1 = not mqtt
};

// {"schema", "type": "stats", "source", "seq", "timestamp", "stats": {the fields of
//  alexnetclassify's "alexnet-stats" structure}, "publish": {"frames", "dropped", "queued",
//  "connected"}}
nlohmann::ordered_json stats_json(const GstStructure* stats, const StatsFacts& facts);

// RFC 3339 in UTC with microseconds: "2026-12-06T19:05:01.123456Z".
std::string rfc3339(int64_t unix_us);

}  // namespace alexnet_publish
