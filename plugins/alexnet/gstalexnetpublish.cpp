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
 *
 * method=mqtt (builds with libmosquitto) publishes each object to a broker:
 * |[
 * gst-launch-1.0 uridecodebin uri=rtsp://cam1/stream ! videoconvert ! \
 *     alexnetclassify model=m.safetensors ! \
 *     alexnetpublish method=mqtt address=broker:1883 topic=cams/{source}/{type} qos=1 ! fakesink
 * ]|
 * It keeps its own bounded queue (max-queued): a message leaves it when the broker acknowledges
 * it; while the broker is away the element reconnects (0.5 s doubling to 30 s) and the queue
 * fills, then blocks the stream (on-full=block) or drops the oldest message (drop-oldest,
 * counted in the dropped property and an "alexnetpublish-dropped" element message). qos 1
 * delivers at least once (consumers drop repeats by source and seq), qos 2 exactly once.
 *
 * add-stats=true also writes each "alexnet-stats" of the alexnetclassify upstream (which sends
 * it downstream as a custom event after the frames it counts) as a "type": "stats" object, with
 * this element's own counts (frames published, messages dropped, queued).
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
#ifdef ALEXNET_HAVE_MQTT
#include "publish_mqtt.h"
#endif

GST_DEBUG_CATEGORY_EXTERN(gst_alexnet_debug);
#define GST_CAT_DEFAULT gst_alexnet_debug

enum {
  PROP_0,
  PROP_METHOD,
  PROP_LOCATION,
  PROP_FILE_FORMAT,
  PROP_SOURCE,
  PROP_ADD_TENSOR,
  PROP_ADD_STATS,
  PROP_ADDRESS,
  PROP_TOPIC,
  PROP_QOS,
  PROP_CLIENT_ID,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_TLS_CA_FILE,
  PROP_TLS_CERT_FILE,
  PROP_TLS_KEY_FILE,
  PROP_KEEPALIVE,
  PROP_MAX_QUEUED,
  PROP_ON_FULL,
  PROP_DROPPED,
};

#define DEFAULT_METHOD GST_ALEXNET_PUBLISH_METHOD_FILE
#define DEFAULT_LOCATION "-"
#define DEFAULT_FILE_FORMAT GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_LINES
#define DEFAULT_ADD_TENSOR FALSE
#define DEFAULT_ADD_STATS FALSE
#define DEFAULT_ADDRESS "127.0.0.1"
#define DEFAULT_TOPIC "alexnet/{source}/{type}"
#define DEFAULT_QOS 1
#define DEFAULT_KEEPALIVE 60
#define DEFAULT_MAX_QUEUED 10000
#define DEFAULT_ON_FULL GST_ALEXNET_PUBLISH_ON_FULL_BLOCK

struct _GstAlexNetPublish {
  GstBaseTransform parent;

  /* properties (the object lock guards them) */
  GstAlexNetPublishMethod method;
  gchar* location;
  GstAlexNetPublishFileFormat file_format;
  gchar* source;
  gboolean add_tensor, add_stats;
  gchar *address, *topic, *client_id, *username, *password;
  gchar *tls_ca_file, *tls_cert_file, *tls_key_file;
  guint qos, keepalive, max_queued;
  GstAlexNetPublishOnFull on_full;

  /* streaming state (the streaming thread, between start and stop) */
  alexnet_publish::JsonFile* out;
  std::string* stream_id; /* the source in use: the property, or found upstream */
  guint64 seq;
  guint64 stats_seq; /* the stats objects' own count */
  gint width, height;
#ifdef ALEXNET_HAVE_MQTT
  alexnet_publish::MqttOutput* mqtt; /* method=mqtt, between start and stop */
#endif
  guint64 dropped_posted;
};

G_DEFINE_TYPE(GstAlexNetPublish, gst_alexnet_publish, GST_TYPE_BASE_TRANSFORM)

GType gst_alexnet_publish_method_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_PUBLISH_METHOD_FILE, "JSON to a file or stdout (location)", "file"},
#ifdef ALEXNET_HAVE_MQTT
      {GST_ALEXNET_PUBLISH_METHOD_MQTT, "JSON messages to an MQTT broker (address, topic)", "mqtt"},
#endif
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

GType gst_alexnet_publish_on_full_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ALEXNET_PUBLISH_ON_FULL_BLOCK, "Wait for room (nothing is lost)", "block"},
      {GST_ALEXNET_PUBLISH_ON_FULL_DROP_OLDEST, "Drop the oldest message not yet sent, counted",
       "drop-oldest"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstAlexNetPublishOnFull", values));
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
static gboolean gst_alexnet_publish_sink_event(GstBaseTransform* trans, GstEvent* event);

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
  g_object_class_install_property(
      gobject_class, PROP_ADD_STATS,
      g_param_spec_boolean("add-stats", "Add stats",
                           "Also write each \"alexnet-stats\" of the alexnetclassify upstream as "
                           "an object of \"type\": \"stats\", with this element's own counts "
                           "(frames published, dropped, queued)",
                           DEFAULT_ADD_STATS, rw_ready));

  auto string_prop = [&](guint id, const char* name, const char* blurb, const char* def) {
    g_object_class_install_property(gobject_class, id,
                                    g_param_spec_string(name, name, blurb, def, rw_ready));
  };
  string_prop(PROP_ADDRESS, "address",
              "method=mqtt: the broker, host[:port] (port 1883, or 8883 with tls-ca-file)",
              DEFAULT_ADDRESS);
  string_prop(PROP_TOPIC, "topic",
              "method=mqtt: the topic; {source} and {type} are replaced (MQTT wildcards in the "
              "source become _)",
              DEFAULT_TOPIC);
  string_prop(PROP_CLIENT_ID, "client-id",
              "method=mqtt: the client id (kept session across reconnects); default: random",
              nullptr);
  string_prop(PROP_USERNAME, "username", "method=mqtt: user name for the broker", nullptr);
  string_prop(PROP_PASSWORD, "password", "method=mqtt: password for the broker", nullptr);
  string_prop(PROP_TLS_CA_FILE, "tls-ca-file",
              "method=mqtt: TLS with the broker, whose certificate this CA signed (PEM)", nullptr);
  string_prop(PROP_TLS_CERT_FILE, "tls-cert-file",
              "method=mqtt: this client's certificate (PEM), with tls-key-file", nullptr);
  string_prop(PROP_TLS_KEY_FILE, "tls-key-file", "method=mqtt: this client's key (PEM)", nullptr);
  g_object_class_install_property(
      gobject_class, PROP_QOS,
      g_param_spec_uint("qos", "QoS",
                        "method=mqtt: 0 at most once, 1 at least once (consumers drop repeats by "
                        "source and seq), 2 exactly once",
                        0, 2, DEFAULT_QOS, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_KEEPALIVE,
      g_param_spec_uint("keepalive", "Keepalive", "method=mqtt: MQTT keepalive, seconds", 5, 3600,
                        DEFAULT_KEEPALIVE, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUED,
      g_param_spec_uint("max-queued", "Max queued",
                        "method=mqtt: messages kept until the broker acknowledges them", 1,
                        G_MAXINT, DEFAULT_MAX_QUEUED, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_ON_FULL,
      g_param_spec_enum("on-full", "On full", "method=mqtt: what a full queue does",
                        GST_TYPE_ALEXNET_PUBLISH_ON_FULL, DEFAULT_ON_FULL, rw_ready));
  g_object_class_install_property(
      gobject_class, PROP_DROPPED,
      g_param_spec_uint64(
          "dropped", "Dropped", "method=mqtt: messages dropped by on-full=drop-oldest so far", 0,
          G_MAXUINT64, 0, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata(
      element_class, "AlexNet result publisher", "Filter/Metadata",
      "Writes the classification results of each frame as JSON, passing the frames through",
      "alexnet-gst");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PUBLISH_METHOD, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PUBLISH_FILE_FORMAT,
                              static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ALEXNET_PUBLISH_ON_FULL, static_cast<GstPluginAPIFlags>(0));

  trans_class->start = GST_DEBUG_FUNCPTR(gst_alexnet_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_alexnet_publish_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR(gst_alexnet_publish_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_alexnet_publish_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_alexnet_publish_sink_event);
  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->transform_ip_on_passthrough = TRUE; /* read-only: metas are only read */
}

static void gst_alexnet_publish_init(GstAlexNetPublish* self) {
  self->method = DEFAULT_METHOD;
  self->location = g_strdup(DEFAULT_LOCATION);
  self->file_format = DEFAULT_FILE_FORMAT;
  self->source = nullptr;
  self->add_tensor = DEFAULT_ADD_TENSOR;
  self->add_stats = DEFAULT_ADD_STATS;
  self->address = g_strdup(DEFAULT_ADDRESS);
  self->topic = g_strdup(DEFAULT_TOPIC);
  self->client_id = self->username = self->password = nullptr;
  self->tls_ca_file = self->tls_cert_file = self->tls_key_file = nullptr;
  self->qos = DEFAULT_QOS;
  self->keepalive = DEFAULT_KEEPALIVE;
  self->max_queued = DEFAULT_MAX_QUEUED;
  self->on_full = DEFAULT_ON_FULL;
#ifdef ALEXNET_HAVE_MQTT
  self->mqtt = nullptr;
#endif
  self->dropped_posted = 0;
  self->out = new alexnet_publish::JsonFile();
  self->stream_id = new std::string();
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
}

static void gst_alexnet_publish_finalize(GObject* object) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(object);
  g_free(self->location);
  g_free(self->source);
  for (gchar* p : {self->address, self->topic, self->client_id, self->username, self->password,
                   self->tls_ca_file, self->tls_cert_file, self->tls_key_file})
    g_free(p);
#ifdef ALEXNET_HAVE_MQTT
  delete self->mqtt;
#endif
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
    case PROP_ADD_STATS:
      self->add_stats = g_value_get_boolean(value);
      break;
    case PROP_ADDRESS:
    case PROP_TOPIC:
    case PROP_CLIENT_ID:
    case PROP_USERNAME:
    case PROP_PASSWORD:
    case PROP_TLS_CA_FILE:
    case PROP_TLS_CERT_FILE:
    case PROP_TLS_KEY_FILE: {
      gchar** field = id == PROP_ADDRESS         ? &self->address
                      : id == PROP_TOPIC         ? &self->topic
                      : id == PROP_CLIENT_ID     ? &self->client_id
                      : id == PROP_USERNAME      ? &self->username
                      : id == PROP_PASSWORD      ? &self->password
                      : id == PROP_TLS_CA_FILE   ? &self->tls_ca_file
                      : id == PROP_TLS_CERT_FILE ? &self->tls_cert_file
                                                 : &self->tls_key_file;
      g_free(*field);
      *field = g_value_dup_string(value);
      break;
    }
    case PROP_QOS:
      self->qos = g_value_get_uint(value);
      break;
    case PROP_KEEPALIVE:
      self->keepalive = g_value_get_uint(value);
      break;
    case PROP_MAX_QUEUED:
      self->max_queued = g_value_get_uint(value);
      break;
    case PROP_ON_FULL:
      self->on_full = static_cast<GstAlexNetPublishOnFull>(g_value_get_enum(value));
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
    case PROP_ADD_STATS:
      g_value_set_boolean(value, self->add_stats);
      break;
    case PROP_ADDRESS:
      g_value_set_string(value, self->address);
      break;
    case PROP_TOPIC:
      g_value_set_string(value, self->topic);
      break;
    case PROP_CLIENT_ID:
      g_value_set_string(value, self->client_id);
      break;
    case PROP_USERNAME:
      g_value_set_string(value, self->username);
      break;
    case PROP_PASSWORD:
      g_value_set_string(value, self->password);
      break;
    case PROP_TLS_CA_FILE:
      g_value_set_string(value, self->tls_ca_file);
      break;
    case PROP_TLS_CERT_FILE:
      g_value_set_string(value, self->tls_cert_file);
      break;
    case PROP_TLS_KEY_FILE:
      g_value_set_string(value, self->tls_key_file);
      break;
    case PROP_QOS:
      g_value_set_uint(value, self->qos);
      break;
    case PROP_KEEPALIVE:
      g_value_set_uint(value, self->keepalive);
      break;
    case PROP_MAX_QUEUED:
      g_value_set_uint(value, self->max_queued);
      break;
    case PROP_ON_FULL:
      g_value_set_enum(value, self->on_full);
      break;
    case PROP_DROPPED: {
      guint64 n = self->dropped_posted; /* the last count (kept after stop) */
#ifdef ALEXNET_HAVE_MQTT
      if (self->mqtt) n = self->mqtt->dropped();
#endif
      g_value_set_uint64(value, n);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

#ifdef ALEXNET_HAVE_MQTT
static std::string str(const gchar* s) {
  return s ? s : "";
}

/* method=mqtt: the queue and the connection; an error names the broker's address. */
static gboolean start_mqtt(GstAlexNetPublish* self) {
  alexnet_publish::MqttConfig c;
  GST_OBJECT_LOCK(self);
  c.address = str(self->address);
  c.topic = str(self->topic);
  c.qos = static_cast<int>(self->qos);
  c.client_id = str(self->client_id);
  c.username = str(self->username);
  c.password = str(self->password);
  c.tls_ca_file = str(self->tls_ca_file);
  c.tls_cert_file = str(self->tls_cert_file);
  c.tls_key_file = str(self->tls_key_file);
  c.keepalive_s = static_cast<int>(self->keepalive);
  c.max_queued = self->max_queued;
  c.drop_oldest = self->on_full == GST_ALEXNET_PUBLISH_ON_FULL_DROP_OLDEST;
  GST_OBJECT_UNLOCK(self);
  const std::string address = c.address;
  auto* out = new alexnet_publish::MqttOutput(std::move(c), [self](const std::string& text) {
    GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("%s", text.c_str()), (nullptr));
  });
  try {
    out->open();
  } catch (const std::exception& e) {
    delete out;
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", e.what()),
                      ("address=%s", address.c_str()));
    return FALSE;
  }
  self->mqtt = out;
  return TRUE;
}
#endif

static gboolean gst_alexnet_publish_start(GstBaseTransform* trans) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  GST_OBJECT_LOCK(self);
  const std::string location = self->location ? self->location : "";
  const bool array = self->file_format == GST_ALEXNET_PUBLISH_FILE_FORMAT_JSON_ARRAY;
  const GstAlexNetPublishMethod method = self->method;
  *self->stream_id = self->source ? self->source : "";
  GST_OBJECT_UNLOCK(self);
  self->seq = 0;
  self->stats_seq = 0;
  self->width = self->height = 0;
  self->dropped_posted = 0;
#ifdef ALEXNET_HAVE_MQTT
  if (method == GST_ALEXNET_PUBLISH_METHOD_MQTT) return start_mqtt(self);
#else
  (void)method;
#endif
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
#ifdef ALEXNET_HAVE_MQTT
  if (self->mqtt) {
    /* What the broker has not acknowledged after flush_timeout_s is lost: say so. */
    const size_t left = self->mqtt->close();
    self->dropped_posted = self->mqtt->dropped();
    if (left > 0)
      GST_ELEMENT_WARNING(self, RESOURCE, WRITE,
                          ("%zu message(s) not acknowledged by the MQTT broker at stop", left),
                          (nullptr));
    delete self->mqtt;
    self->mqtt = nullptr;
    return TRUE;
  }
#endif
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

/* The stream's id: the property, or found upstream at the first frame or event. */
static const std::string& stream_id(GstAlexNetPublish* self) {
  if (self->stream_id->empty()) *self->stream_id = upstream_source(self);
  return *self->stream_id;
}

/* One object out, to the file or the broker (streaming thread). Throws on a write error. */
static void emit(GstAlexNetPublish* self, const nlohmann::ordered_json& j, const char* type) {
#ifdef ALEXNET_HAVE_MQTT
  if (self->mqtt) {
    GST_OBJECT_LOCK(self);
    std::string topic = str(self->topic);
    GST_OBJECT_UNLOCK(self);
    std::string source = stream_id(self);  // MQTT wildcards may not appear in a published topic
    for (char& c : source)
      if (c == '+' || c == '#') c = '_';
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"{source}", source}, {"{type}", type}})
      for (size_t at; (at = topic.find(key)) != std::string::npos;)
        topic.replace(at, key.size(), value);
    self->mqtt->publish(topic, j.dump());
    const guint64 dropped = self->mqtt->dropped();
    if (dropped != self->dropped_posted) {
      self->dropped_posted = dropped;
      gst_element_post_message(
          GST_ELEMENT(self),
          gst_message_new_element(GST_OBJECT(self),
                                  gst_structure_new("alexnetpublish-dropped", "dropped",
                                                    G_TYPE_UINT64, dropped, nullptr)));
    }
    return;
  }
#else
  (void)type;
#endif
  self->out->write(j);
}

static GstFlowReturn gst_alexnet_publish_transform_ip(GstBaseTransform* trans, GstBuffer* buf) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  try {
    GST_OBJECT_LOCK(self);
    const bool add_tensor = self->add_tensor;
    GST_OBJECT_UNLOCK(self);
    alexnet_publish::FrameFacts f;
    f.source = stream_id(self);
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
    emit(self, alexnet_publish::frame_json(buf, f, add_tensor), "frame");
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", e.what()), (nullptr));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* add-stats: alexnetclassify sends each "alexnet-stats" downstream as a custom event, in order
 * with the frames; it becomes one "type": "stats" object. Every event goes on downstream. */
static gboolean gst_alexnet_publish_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstAlexNetPublish* self = GST_ALEXNET_PUBLISH(trans);
  GST_OBJECT_LOCK(self);
  const bool add_stats = self->add_stats;
  GST_OBJECT_UNLOCK(self);
  bool written = true;
  if (add_stats && GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
      gst_event_has_name(event, "alexnet-stats")) {
    try {
      alexnet_publish::StatsFacts f;
      f.source = stream_id(self);
      f.seq = self->stats_seq++;
      f.wall_clock_us = g_get_real_time();
      f.frames = self->seq;
#ifdef ALEXNET_HAVE_MQTT
      if (self->mqtt) {
        f.dropped = self->mqtt->dropped();
        f.queued = static_cast<int64_t>(self->mqtt->queued());
        f.connected = self->mqtt->connected() ? 1 : 0;
      }
#endif
      emit(self, alexnet_publish::stats_json(gst_event_get_structure(event), f), "stats");
    } catch (const std::exception& e) {
      GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", e.what()), (nullptr));
      written = false;
    }
  }
  const gboolean forwarded =
      GST_BASE_TRANSFORM_CLASS(gst_alexnet_publish_parent_class)->sink_event(trans, event);
  return written && forwarded;
}
