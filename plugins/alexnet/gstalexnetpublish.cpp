/**
 * SECTION:element-alexnetpublish
 * @title: alexnetpublish
 *
 * Passes buffers through unchanged and writes, for each frame, one JSON object made of the
 * results alexnetclassify attached (GstAlexNetMeta, and GstAlexNetTensorMeta with
 * add-tensor=true): the stream's id and a per-stream sequence number, the frame's PTS and
 * running time, the wall clock, its size, and the full-frame or per-object results. The
 * schema, with its version, is docs/publish-schema.md.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=cam1.mp4 ! decodebin ! videoconvert ! \
 *     alexnetclassify model=m.safetensors ! alexnetpublish location=cam1.jsonl ! fakesink
 * ]|
 * method=file writes JSON Lines (file-format=json-lines, one object per line, flushed per
 * frame) or one JSON array (file-format=json-array) to location, a path or "-" for stdout.
 * (method=mqtt, to a broker, is not built yet: issue 19.)
 *
 * source names the stream; by default it is the uri or location of the first element
 * upstream that has one (a filesrc, a uridecodebin, an rtspsrc), else this element's name.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstalexnetpublish.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <string>

#include "publish_json.h"
#include "publish_output.h"

GST_DEBUG_CATEGORY_EXTERN(gst_alexnet_debug);
#define GST_CAT_DEFAULT gst_alexnet_debug

enum {
  PROP_0,
  PROP_METHOD,
  PROP_LOCATION,
  PROP_FILE_FORMAT,
  PROP_SOURCE,
  PROP_ADD_TENSOR,
};

#define DEFAULT_METHOD GST_ALEXNET_PUBLISH_METHOD_FILE
#define DEFAULT_LOCATION "-"
#define DEFAULT_FILE_FORMAT GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_LINES
#define DEFAULT_ADD_TENSOR FALSE

struct _GstAlexNetPublish {
  GstBaseTransform parent;

  /* properties (the object lock guards them) */
  GstAlexNetPublishMethod method;
  gchar* location;
  GstAlexNetPublishFileFormat file_format;
  gchar* source;
  gboolean add_tensor;

  /* streaming state (the streaming thread, between start and stop) */
  alexnet_publish::JsonFile* out;
  std::string* stream_id; /* the source in use: the property, or found upstream */
  guint64 seq;
  gint width, height;
};

G_DEFINE_TYPE(GstAlexNetPublish, gst_alexnet_publish, GST_TYPE_BASE_TRANSFORM)

GType gst_alexnet_publish_method_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_PUBLISH_METHOD_FILE, "JSON to a file or stdout (location)", "file"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstAlexNetPublishMethod", values));
  return type;
}

GType gst_alexnet_publish_file_format_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_LINES, "One JSON object per line", "json-lines"},
      {GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_ARRAY, "One JSON array of the objects", "json-array"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstAlexNetPublishFileFormat", values));
  return type;
}

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void gst_alexnet_publish_set_property(GObject* object, guint id, const GValue* value,
                                             GParamSpec* pspec);
static void gst_alexnet_publish_get_property(GObject* object, guint id, GValue* value,
                                             GParamSpec* pspec);
static void gst_alexnet_publish_finalize(GObject* object);
static gboolean gst_alexnet_publish_start(GstBaseTransform* trans);
static gboolean gst_alexnet_publish_stop(GstBaseTransform* trans);
static gboolean gst_alexnet_publish_set_caps(GstBaseTransform* trans, GstCaps* in, GstCaps* out);
static GstFlowReturn gst_alexnet_publish_transform_ip(GstBaseTransform* trans, GstBuffer* buf);

static void gst_alexnet_publish_class_init(GstAlexNetPublishClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  gobject_class->set_property = gst_alexnet_publish_set_property;
  gobject_class->get_property = gst_alexnet_publish_get_property;
  gobject_class->finalize = gst_alexnet_publish_finalize;

  const GParamFlags rw_ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                        GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_METHOD,
      g_param_spec_enum("method", "Method", "Where the JSON goes", GST_TYPE_ALEXNET_PUBLISH_METHOD,
                        DEFAULT_METHOD, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location",
                          "method=file: the file to write (created or truncated), or \"-\" for "
                          "stdout",
                          DEFAULT_LOCATION, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_FILE_FORMAT,
      g_param_spec_enum("file-format", "File format",
                        "method=file: JSON Lines (one object per line) or one JSON array",
                        GST_TYPE_ALEXNET_PUBLISH_FILE_FORMAT, DEFAULT_FILE_FORMAT, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_SOURCE,
      g_param_spec_string("source", "Source",
                          "The stream's id in every object (default: the uri or location of the "
                          "first upstream element that has one, else this element's name)",
                          nullptr, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_ADD_TENSOR,
      g_param_spec_boolean("add-tensor", "Add tensor",
                           "Also write the GstAlexNetTensorMeta of each frame or object "
                           "(alexnetclassify output-tensor=probabilities|fc7)",
                           DEFAULT_ADD_TENSOR, rw_ready));

  gst_element_class_set_static_metadata(
      element_class, "AlexNet result publisher", "Filter/Metadata",
      "Writes the classification results of each frame as JSON, passing the frames through",
      "alexnet-gst");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PUBLISH_METHOD, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PUBLISH_FILE_FORMAT,
                              static_cast<GstPluginAPIFlags>(0));

  trans_class->start = GST_DEBUG_FUNCPTR(gst_alexnet_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_alexnet_publish_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_alexnet_publish_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_alexnet_publish_transform_ip);
  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->transform_ip_on_passthrough = TRUE; /* read-only: metas are only read */
}

static void gst_alexnet_publish_init(GstAlexNetPublish* self) {
  self->method = DEFAULT_METHOD;
  self->location = g_strdup(DEFAULT_LOCATION);
  self->file_format = DEFAULT_FILE_FORMAT;
  self->source = nullptr;
  self->add_tensor = DEFAULT_ADD_TENSOR;
  self->out = new alexnet_publish::JsonFile();
  self->stream_id = new std::string();
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_alexnet_publish_finalize(GObject* object) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(object);
  g_free(self->location);
  g_free(self->source);
  delete self->out;
  delete self->stream_id;
  G_OBJECT_CLASS(gst_alexnet_publish_parent_class)->finalize(object);
}

static void gst_alexnet_publish_set_property(GObject* object, guint id, const GValue* value,
                                             GParamSpec* pspec) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_METHOD:
      self->method = static_cast<GstAlexNetPublishMethod>(g_value_get_enum(value));
      break;
    case PROP_LOCATION:
      g_free(self->location);
      self->location = g_value_dup_string(value);
      break;
    case PROP_FILE_FORMAT:
      self->file_format = static_cast<GstAlexNetPublishFileFormat>(g_value_get_enum(value));
      break;
    case PROP_SOURCE:
      g_free(self->source);
      self->source = g_value_dup_string(value);
      break;
    case PROP_ADD_TENSOR:
      self->add_tensor = g_value_get_boolean(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_alexnet_publish_get_property(GObject* object, guint id, GValue* value,
                                             GParamSpec* pspec) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_METHOD:
      g_value_set_enum(value, self->method);
      break;
    case PROP_LOCATION:
      g_value_set_string(value, self->location);
      break;
    case PROP_FILE_FORMAT:
      g_value_set_enum(value, self->file_format);
      break;
    case PROP_SOURCE:
      g_value_set_string(value, self->source);
      break;
    case PROP_ADD_TENSOR:
      g_value_set_boolean(value, self->add_tensor);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_alexnet_publish_start(GstBaseTransform* trans) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  GST_OBJECT_LOCK(self);
  const std::string location = self->location ? self->location : "";
  const bool array = self->file_format == GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_ARRAY;
  *self->stream_id = self->source ? self->source : "";
  GST_OBJECT_UNLOCK(self);
  self->seq = 0;
  self->width = self->height = 0;
  if (location.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("location is empty: give a file to write, or \"-\" for stdout"), (nullptr));
    return FALSE;
  }
  try {
    self->out->open(location, array);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", e.what()),
                      ("location=%s", location.c_str()));
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_alexnet_publish_stop(GstBaseTransform* trans) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  try {
    self->out->close();
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, CLOSE, ("%s", e.what()), (nullptr));
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_alexnet_publish_set_caps(GstBaseTransform* trans, GstCaps* in, GstCaps*) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  GstVideoInfo info;
  self->width = self->height = 0;
  if (gst_video_info_from_caps(&info, in)) {
    self->width = GST_VIDEO_INFO_WIDTH(&info);
    self->height = GST_VIDEO_INFO_HEIGHT(&info);
  }
  return TRUE;
}

/* The uri or location of the first element upstream that has one (string property, set). */
static std::string upstream_source(GstAlexNetPublish* self) {
  GstPad* pad = GST_PAD(gst_object_ref(GST_BASE_TRANSFORM_SINK_PAD(self)));
  std::string found;
  for (int hops = 0; hops < 64 && pad && found.empty(); ++hops) {
    GstPad* peer = gst_pad_get_peer(pad);
    gst_object_unref(pad);
    pad = nullptr;
    if (!peer) break;
    /* A ghost pad's target side: its parent is the bin, which may have the uri itself. */
    GstElement* el = gst_pad_get_parent_element(peer);
    if (!el && GST_IS_PROXY_PAD(peer)) {
      GstProxyPad* ghost = gst_proxy_pad_get_internal(GST_PROXY_PAD(peer));
      if (ghost) {
        el = gst_pad_get_parent_element(GST_PAD(ghost));
        gst_object_unref(ghost);
      }
    }
    gst_object_unref(peer);
    if (!el) break;
    for (const char* name : {"uri", "location"}) {
      GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(el), name);
      if (!spec || spec->value_type != G_TYPE_STRING || !(spec->flags & G_PARAM_READABLE)) continue;
      gchar* value = nullptr;
      g_object_get(el, name, &value, nullptr);
      if (value && *value) found = value;
      g_free(value);
      if (!found.empty()) break;
    }
    /* On to the element's first sink pad. */
    GstIterator* it = gst_element_iterate_sink_pads(el);
    GValue item = G_VALUE_INIT;
    if (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      pad = GST_PAD(g_value_dup_object(&item));
      g_value_unset(&item);
    }
    gst_iterator_free(it);
    gst_object_unref(el);
  }
  if (pad) gst_object_unref(pad);
  if (!found.empty()) return found;
  gchar* name = gst_object_get_name(GST_OBJECT(self));
  std::string mine = name ? name : "alexnetpublish";
  g_free(name);
  return mine;
}

static GstFlowReturn gst_alexnet_publish_transform_ip(GstBaseTransform* trans, GstBuffer* buf) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  try {
    if (self->stream_id->empty()) *self->stream_id = upstream_source(self);
    GST_OBJECT_LOCK(self);
    const bool add_tensor = self->add_tensor;
    GST_OBJECT_UNLOCK(self);
    alexnet_publish::FrameFacts f;
    f.source = *self->stream_id;
    f.seq = self->seq++;
    const GstClockTime pts = GST_BUFFER_PTS(buf);
    if (GST_CLOCK_TIME_IS_VALID(pts)) {
      f.pts = static_cast<int64_t>(pts);
      const GstClockTime rt = gst_segment_to_running_time(&trans->segment, GST_FORMAT_TIME, pts);
      if (GST_CLOCK_TIME_IS_VALID(rt)) f.running_time = static_cast<int64_t>(rt);
    }
    f.wall_clock_us = g_get_real_time();
    f.width = self->width;
    f.height = self->height;
    self->out->write(alexnet_publish::frame_json(buf, f, add_tensor));
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", e.what()), (nullptr));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}
