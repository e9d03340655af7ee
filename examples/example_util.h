// What the example applications share (header-only, to keep each example one file plus
// this): JSON output of alexnetclassify's results, and decodebin's video pad linking.
#pragma once

#include <gst/gst.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "gstalexnetmeta.h"

namespace example {

// JSON string literal: quotes, backslashes and control characters escaped; UTF-8 kept.
inline void json_string(std::string& out, const char* s) {
  if (!s) {
    out += "null";
    return;
  }
  out += '"';
  for (const char* p = s; *p; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// A number, or null when it is not finite (JSON has no NaN).
inline void json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out += buf;
}

// "labels": [...], "scores": [...], "ids": [...] of one meta (empty arrays for none).
inline void json_topk(std::string& out, const GstAlexNetMeta* m) {
  const guint n = m ? m->n : 0;
  out += "\"labels\": [";
  for (guint i = 0; i < n; i++) {
    if (i) out += ", ";
    json_string(out, m->labels ? m->labels[i] : nullptr);
  }
  out += "], \"scores\": [";
  for (guint i = 0; i < n; i++) {
    if (i) out += ", ";
    json_number(out, m->scores[i]);
  }
  out += "], \"ids\": [";
  for (guint i = 0; i < n; i++) {
    if (i) out += ", ";
    out += std::to_string(m->ids[i]);
  }
  out += ']';
}

// A decoder's new pad: linked to `convert` when it carries video and convert's sink is free
// (audio, subtitles stay unlinked). Returns the link's result (GST_PAD_LINK_OK when there was
// nothing to link).
inline GstPadLinkReturn link_video_pad(GstPad* pad, GstElement* convert) {
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const bool video =
      caps && gst_caps_get_size(caps) > 0 &&
      g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "video/");
  if (caps) gst_caps_unref(caps);
  if (!video) return GST_PAD_LINK_OK;
  GstPad* sink = gst_element_get_static_pad(convert, "sink");
  GstPadLinkReturn r = GST_PAD_LINK_OK;
  if (!gst_pad_is_linked(sink)) r = gst_pad_link(pad, sink);
  gst_object_unref(sink);
  return r;
}

}  // namespace example
