// alexnet-streams: an example multi-stream analytics application. It runs N video files or
// URIs (rtsp://, file://, http://, ...) through ONE shared model: every input gets its own
// alexnetclassify element, all with the same model-instance-id, so the model is loaded once
// and the frames of all streams are classified together in batches. One JSON line per frame
// on stdout, read from the GstAlexNetMeta on each buffer (lines of different streams
// interleave, each stream's lines are in its own order):
//
//   {"stream": 1, "source": "file:///data/cam1.mp4", "pts": 33333333, "labels": ["tabby,
//   tabby cat", ...], "scores": [0.53, ...], "ids": [281, ...]}
//
// At each stream's end its element's "alexnet-stats" message, once the whole pipeline is at
// EOS a summary line per stream:
//
//   {"stream": 1, "stats": {"frames": 300, "fps": 212.5, "streams": 3, "mean-batch": 2.9, ...}}
//   {"stream": 1, "source": "file:///data/cam1.mp4", "frames": 300, "summary": true, "top": ...}
//
// The pipeline, one branch per input i, built from element factories:
//   uridecodebin uri=URI ! videoconvert ! alexnetclassify name=classify<i> model=MODEL
//       model-instance-id=ID batch-size=N ! fakesink sync=false
// with a pad probe on each sink's pad. Exit status: 0 done, 1 runtime error (printed from
// the bus), 2 usage error.
#include <gst/gst.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "example_util.h"
#include "gstalexnetmeta.h"

namespace {

constexpr const char* kProg = "alexnet-streams";

constexpr const char* kUsage = "usage: alexnet-streams [OPTIONS] MODEL.safetensors INPUT...\n";

constexpr const char* kHelp =
    "\n"
    "Classifies every frame of each INPUT (a video file or a URI: rtsp://, file://, http://...)\n"
    "through one shared alexnetclassify model (frames of all streams batched together) and\n"
    "prints one JSON line per frame on stdout, read from the GstAlexNetMeta on each buffer:\n"
    "  {\"stream\": I, \"source\": URI, \"pts\": NANOSECONDS|null, \"labels\": [...],\n"
    "   \"scores\": [...], \"ids\": [...]}\n"
    "(top-k, best first; with inference-region=roi-list an \"objects\" array instead). Each\n"
    "stream's \"alexnet-stats\" as {\"stream\": I, \"stats\": {...}}, and at the end one line\n"
    "per stream: {\"stream\": I, \"source\": URI, \"frames\": N, \"summary\": true, \"top\": "
    "LABEL}.\n"
    "\n"
    "Options (the first six set the alexnetclassify property of the same name):\n"
    "  -d, --device DEV         auto | cpu | cpu,cpu | gpu:0,gpu:1 ... (default: element's)\n"
    "  -t, --threads N          CPU threads, 0 = all cores\n"
    "  -b, --batch-size N       frames classified together (default: the number of inputs)\n"
    "      --batch-timeout MS   how long a batch waits to fill\n"
    "  -k, --top-k K            labels per frame\n"
    "  -l, --labels-file FILE   labels overriding the model's\n"
    "  -s, --set NAME=VALUE     any other alexnetclassify property (repeatable)\n"
    "      --instance-id ID     the shared model-instance-id (default: alexnet-streams)\n"
    "      --realtime           play at the streams' speed (fakesink sync=true)\n"
    "  -n, --max-frames N       stop once every stream gave N frames\n"
    "  -h, --help               this help\n"
    "\n"
    "The element is found like any GStreamer plugin; from a build folder run with\n"
    "GST_PLUGIN_PATH=build/plugins/alexnet. Exit status: 0 done, 1 error, 2 usage error.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n%s(--help for more)\n", kProg, what.c_str(), kUsage);
  std::exit(2);
}

struct Options {
  std::string model, instance_id = "alexnet-streams";
  std::vector<std::string> inputs;
  std::vector<std::pair<std::string, std::string>> props;  // alexnetclassify properties
  bool batch_size_set = false, realtime = false;
  guint64 max_frames = 0;  // 0 = all
};

struct App;

// One input and its branch. The probe's fields are touched by its streaming thread only
// (and by the main thread once the pipeline is stopped).
struct Stream {
  App* app = nullptr;
  int index = 0;
  std::string uri, source_json;  // source_json: the URI as a JSON string
  GstElement *decode = nullptr, *convert = nullptr, *classify = nullptr, *sink = nullptr;
  guint64 frames = 0, without_meta = 0;
  guint64 entered = 0;  // frames into alexnetclassify (--max-frames; its streaming thread)
  bool done = false;    // reached max_frames or EOS (under App::mutex)
  std::vector<std::pair<std::string, guint64>> top1;  // top-1 label → frames, first seen first
};

struct App {
  std::vector<std::unique_ptr<Stream>> streams;
  GstElement* pipeline = nullptr;
  guint64 max_frames = 0;
  bool objects = false;  // inference-region=roi-list
  std::mutex mutex;      // stdout, Stream::done, done_count
  size_t done_count = 0;
  bool any_limited = false;
};

void write_line(App* app, const std::string& line) {
  std::lock_guard<std::mutex> lock(app->mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void count_top1(Stream* s, const GstAlexNetMeta* m) {
  if (!m || m->n == 0) return;
  const char* label = m->labels && m->labels[0] ? m->labels[0] : nullptr;
  const std::string key = label ? label : std::to_string(m->ids[0]);
  for (auto& [name, count] : s->top1)
    if (name == key) {
      count++;
      return;
    }
  s->top1.emplace_back(key, 1);
}

// A stream is done (max-frames reached, or EOS): once all are and one was cut short, the main
// thread is asked (an application message) to send EOS to the pipeline.
void mark_done(Stream* s, bool limited) {
  App* app = s->app;
  bool ask = false;
  {
    std::lock_guard<std::mutex> lock(app->mutex);
    if (s->done) return;
    s->done = true;
    app->any_limited |= limited;
    ask = ++app->done_count == app->streams.size() && app->any_limited;
  }
  if (ask)
    gst_element_post_message(
        app->pipeline, gst_message_new_application(GST_OBJECT(app->pipeline),
                                                   gst_structure_new_empty("max-frames-reached")));
}

// On each fakesink's sink pad: one JSON line per buffer; EOS marks the stream done.
GstPadProbeReturn on_data(GstPad*, GstPadProbeInfo* info, gpointer user_data) {
  auto* s = static_cast<Stream*>(user_data);
  App* app = s->app;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) mark_done(s, false);
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buf || (app->max_frames && s->frames >= app->max_frames)) return GST_PAD_PROBE_OK;
  s->frames++;
  std::string line = "{\"stream\": " + std::to_string(s->index) + ", \"source\": ";
  line += s->source_json + ", \"pts\": ";
  line += GST_BUFFER_PTS_IS_VALID(buf) ? std::to_string(GST_BUFFER_PTS(buf)) : "null";
  gpointer state = nullptr;
  const GstAlexNetMeta* frame_meta = nullptr;
  std::string objects;
  int n_objects = 0;
  while (const GstAlexNetMeta* m = gst_buffer_iterate_alexnet_meta(buf, &state)) {
    if (!m->has_roi) {
      if (!frame_meta) frame_meta = m;
      continue;
    }
    objects += n_objects++ ? ", {\"id\": " : "{\"id\": ";
    objects += std::to_string(m->roi_id) + ", \"x\": " + std::to_string(m->x) +
               ", \"y\": " + std::to_string(m->y) + ", \"width\": " + std::to_string(m->width) +
               ", \"height\": " + std::to_string(m->height) + ", ";
    example::json_topk(objects, m);
    objects += '}';
    count_top1(s, m);
  }
  if (app->objects || n_objects > 0) {
    line += ", \"objects\": [" + objects + "]";
  } else {
    line += ", ";
    example::json_topk(line, frame_meta);
    count_top1(s, frame_meta);
    if (!frame_meta && s->without_meta++ == 0)
      std::fprintf(
          stderr, "%s: warning: stream %d: frame %" G_GUINT64_FORMAT " carries no GstAlexNetMeta\n",
          kProg, s->index, s->frames - 1);
  }
  line += "}\n";
  write_line(app, line);
  if (app->max_frames && s->frames == app->max_frames) mark_done(s, true);
  return GST_PAD_PROBE_OK;
}

// On alexnetclassify's sink pad with --max-frames: a stream's frames after the first N are
// dropped before they are classified (those already queued upstream when EOS is sent).
GstPadProbeReturn on_classify_input(GstPad*, GstPadProbeInfo*, gpointer user_data) {
  auto* s = static_cast<Stream*>(user_data);
  return s->entered++ < s->app->max_frames ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

// uridecodebin's video pad → the stream's videoconvert; other pads (audio) stay unlinked.
void on_pad_added(GstElement*, GstPad* pad, gpointer user_data) {
  auto* s = static_cast<Stream*>(user_data);
  const GstPadLinkReturn r = example::link_video_pad(pad, s->convert);
  if (GST_PAD_LINK_FAILED(r))
    std::fprintf(stderr, "%s: stream %d: could not link the decoder to videoconvert: %s\n", kProg,
                 s->index, gst_pad_link_get_name(r));
}

// The stream whose branch holds `obj` (an element inside uridecodebin included), or null.
Stream* stream_of(App& app, GstObject* obj) {
  for (; obj; obj = GST_OBJECT_PARENT(obj))
    for (auto& s : app.streams)
      if (obj == GST_OBJECT(s->decode) || obj == GST_OBJECT(s->convert) ||
          obj == GST_OBJECT(s->classify) || obj == GST_OBJECT(s->sink))
        return s.get();
  return nullptr;
}

// Prints an error or warning message from the bus, with the stream it came from.
void print_message(App& app, GstMessage* msg, const char* kind) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, &err, &debug);
  else
    gst_message_parse_warning(msg, &err, &debug);
  const Stream* s = stream_of(app, GST_MESSAGE_SRC(msg));
  const std::string where =
      s ? " (stream " + std::to_string(s->index) + ", " + s->uri + ")" : std::string();
  std::fprintf(stderr, "%s: %s from %s%s: %s\n", kProg, kind, GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
               where.c_str(), err ? err->message : "(no message)");
  if (debug) std::fprintf(stderr, "  (%s)\n", debug);
  g_clear_error(&err);
  g_free(debug);
}

// {"stream": i, "stats": {...}}: every field of the structure, numbers and strings as such,
// anything else serialized as a string.
void print_stats(App& app, const Stream& s, const GstStructure* st) {
  std::string line = "{\"stream\": " + std::to_string(s.index) + ", \"stats\": {";
  for (int i = 0, n = gst_structure_n_fields(st); i < n; i++) {
    const char* name = gst_structure_nth_field_name(st, i);
    const GValue* v = gst_structure_get_value(st, name);
    if (i) line += ", ";
    example::json_string(line, name);
    line += ": ";
    if (G_VALUE_HOLDS_UINT64(v)) {
      line += std::to_string(g_value_get_uint64(v));
    } else if (G_VALUE_HOLDS_INT64(v)) {
      line += std::to_string(g_value_get_int64(v));
    } else if (G_VALUE_HOLDS_UINT(v)) {
      line += std::to_string(g_value_get_uint(v));
    } else if (G_VALUE_HOLDS_INT(v)) {
      line += std::to_string(g_value_get_int(v));
    } else if (G_VALUE_HOLDS_DOUBLE(v)) {
      example::json_number(line, g_value_get_double(v));
    } else if (G_VALUE_HOLDS_FLOAT(v)) {
      example::json_number(line, g_value_get_float(v));
    } else if (G_VALUE_HOLDS_BOOLEAN(v)) {
      line += g_value_get_boolean(v) ? "true" : "false";
    } else if (G_VALUE_HOLDS_STRING(v)) {
      example::json_string(line, g_value_get_string(v));
    } else {  // anything else as GStreamer writes it
      gchar* text = gst_value_serialize(v);
      example::json_string(line, text);
      g_free(text);
    }
  }
  line += "}}\n";
  write_line(&app, line);
}

// A non-negative integer option value, the whole string, at least `min`; else a usage error.
guint64 parse_count(const std::string& option, const std::string& text, long long min) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < min || v > G_MAXUINT)
    usage_error("option " + option + " needs an integer >= " + std::to_string(min) + ", not '" +
                text + "'");
  return static_cast<guint64>(v);
}

// Options setting the alexnetclassify property of their long name; `min` >= 0: an integer.
struct PropertyOption {
  const char *short_name, *property;
  int min;
};
constexpr PropertyOption kPropertyOptions[] = {
    {"-d", "device", -1},     {"-t", "threads", 0}, {"-b", "batch-size", 1},
    {"", "batch-timeout", 0}, {"-k", "top-k", 1},   {"-l", "labels-file", -1},
};

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (options_done || a.empty() || a[0] != '-' || a == "-") {
      positional.push_back(a);
      continue;
    }
    std::string name = a, inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      if (a == "--") {
        options_done = true;
        continue;
      }
      if (const auto eq = a.find('='); eq != std::string::npos) {
        name = a.substr(0, eq);
        inline_value = a.substr(eq + 1);
        has_inline = true;
      }
    }
    auto get = [&]() -> std::string {
      if (has_inline) return inline_value;
      if (i + 1 >= argc) usage_error("option " + name + " needs a value");
      return argv[++i];
    };
    const PropertyOption* prop = nullptr;
    for (const auto& p : kPropertyOptions)
      if (name == p.short_name || name == std::string("--") + p.property) prop = &p;
    if (name == "-h" || name == "--help") {
      std::fputs(kUsage, stdout);
      std::fputs(kHelp, stdout);
      std::exit(0);
    } else if (prop) {
      const std::string v = get();
      if (prop->min >= 0) parse_count(name, v, prop->min);
      if (std::strcmp(prop->property, "batch-size") == 0) o.batch_size_set = true;
      o.props.emplace_back(prop->property, v);
    } else if (name == "-s" || name == "--set") {
      const std::string kv = get();
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        usage_error("--set needs NAME=VALUE, not '" + kv + "'");
      if (kv.compare(0, eq, "batch-size") == 0) o.batch_size_set = true;
      o.props.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (name == "--instance-id") {
      o.instance_id = get();
    } else if (name == "--realtime" && !has_inline) {
      o.realtime = true;
    } else if (name == "-n" || name == "--max-frames") {
      o.max_frames = parse_count(name, get(), 1);
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (positional.size() < 2)
    usage_error("expected MODEL and at least one INPUT, got " + std::to_string(positional.size()) +
                " argument(s)");
  o.model = positional[0];
  o.inputs.assign(positional.begin() + 1, positional.end());
  return o;
}

// Sets one alexnetclassify property from its text, parsed by the property's type as
// gst-launch-1.0 does. An unknown property or a bad value: printed, false returned.
bool set_property(GstElement* classify, const std::string& name, const std::string& val) {
  GParamSpec* ps = g_object_class_find_property(G_OBJECT_GET_CLASS(classify), name.c_str());
  if (!ps || !(ps->flags & G_PARAM_WRITABLE)) {
    std::fprintf(stderr, "%s: alexnetclassify has no writable property '%s'\n", kProg,
                 name.c_str());
    return false;
  }
  GValue v = G_VALUE_INIT;
  g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(ps));
  const bool ok = gst_value_deserialize_with_pspec(&v, val.c_str(), ps) &&
                  !g_param_value_validate(ps, &v);  // TRUE: it was out of range
  if (ok)
    g_object_set_property(G_OBJECT(classify), name.c_str(), &v);
  else
    std::fprintf(stderr, "%s: invalid value '%s' for property '%s' (%s)\n", kProg, val.c_str(),
                 name.c_str(), g_type_name(G_PARAM_SPEC_VALUE_TYPE(ps)));
  g_value_unset(&v);
  return ok;
}

// Makes and links stream i's branch in the pipeline; false (printed) when an element is missing.
bool add_stream(App& app, const Options& opt, Stream& s) {
  const std::string i = std::to_string(s.index);
  s.classify = gst_element_factory_make("alexnetclassify", ("classify" + i).c_str());
  if (!s.classify) {
    std::fprintf(stderr,
                 "%s: GStreamer element 'alexnetclassify' not found: the plugin libgstalexnet.so "
                 "is not installed and not on GST_PLUGIN_PATH; from a build folder run with "
                 "GST_PLUGIN_PATH=build/plugins/alexnet\n",
                 kProg);
    return false;
  }
  gst_bin_add(GST_BIN(app.pipeline), s.classify);
  const char* factories[] = {"uridecodebin", "videoconvert", "fakesink"};
  const char* prefixes[] = {"source", "convert", "sink"};
  GstElement** elements[] = {&s.decode, &s.convert, &s.sink};
  for (int k = 0; k < 3; k++) {
    *elements[k] = gst_element_factory_make(factories[k], (prefixes[k] + i).c_str());
    if (!*elements[k]) {
      std::fprintf(stderr, "%s: GStreamer element '%s' not found (gstreamer1.0-plugins-base)\n",
                   kProg, factories[k]);
      return false;
    }
    gst_bin_add(GST_BIN(app.pipeline), *elements[k]);
  }
  g_object_set(s.decode, "uri", s.uri.c_str(), nullptr);
  g_object_set(s.sink, "sync", opt.realtime ? TRUE : FALSE, nullptr);
  if (!gst_element_link_many(s.convert, s.classify, s.sink, nullptr)) {
    std::fprintf(stderr, "%s: could not link stream %d\n", kProg, s.index);
    return false;
  }
  g_signal_connect(s.decode, "pad-added", G_CALLBACK(on_pad_added), &s);
  GstPad* pad = gst_element_get_static_pad(s.sink, "sink");
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      on_data, &s, nullptr);
  gst_object_unref(pad);
  if (opt.max_frames > 0) {
    pad = gst_element_get_static_pad(s.classify, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_classify_input, &s, nullptr);
    gst_object_unref(pad);
  }
  return true;
}

// The element's settings: the shared instance, the model, the batch size, then the options.
// 0, or the exit status of a usage error.
int configure(App& app, const Options& opt, Stream& s) {
  g_object_set(s.classify, "model-instance-id", opt.instance_id.c_str(), "model", opt.model.c_str(),
               nullptr);
  for (const auto& [name, val] : opt.props)
    if (!set_property(s.classify, name, val)) return 2;
  app.objects = false;
  GParamSpec* rs = g_object_class_find_property(G_OBJECT_GET_CLASS(s.classify), "inference-region");
  if (rs && G_IS_PARAM_SPEC_ENUM(rs)) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(rs));
    g_object_get_property(G_OBJECT(s.classify), "inference-region", &v);
    const GEnumValue* e = g_enum_get_value(G_PARAM_SPEC_ENUM(rs)->enum_class, g_value_get_enum(&v));
    app.objects = e && std::strcmp(e->value_nick, "roi-list") == 0;
    g_value_unset(&v);
  }
  if (!opt.batch_size_set && !app.objects) {  // roi-list classifies at batch-size 1 so far
    GParamSpec* ps = g_object_class_find_property(G_OBJECT_GET_CLASS(s.classify), "batch-size");
    const guint max = ps ? G_PARAM_SPEC_UINT(ps)->maximum : 1;
    g_object_set(s.classify, "batch-size", MIN(static_cast<guint>(app.streams.size()), max),
                 nullptr);
  }
  return 0;
}

// Plays the pipeline until the bus's EOS (every stream at its end): 0, or 1 on an error
// (printed from the bus). Prints "alexnet-stats" messages as they come; warnings are printed
// and play goes on. Leaves the pipeline in NULL.
int play(App& app) {
  int status = 0;
  GstBus* bus = gst_element_get_bus(app.pipeline);
  if (gst_element_set_state(app.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The element posted the reason (e.g. the model file) on the bus; later errors (the
    // failed state change itself) add nothing.
    if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      print_message(app, msg, "error");
      gst_message_unref(msg);
    } else {
      std::fprintf(stderr, "%s: the pipeline failed to start\n", kProg);
    }
    status = 1;
  } else {
    const auto types =
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_EOS |
                                    GST_MESSAGE_ELEMENT | GST_MESSAGE_APPLICATION);
    for (bool done = false; !done;) {
      GstMessage* msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE, types);
      const GstStructure* st = gst_message_get_structure(msg);
      switch (GST_MESSAGE_TYPE(msg)) {
        case GST_MESSAGE_ERROR:
          print_message(app, msg, "error");
          status = 1;
          done = true;
          break;
        case GST_MESSAGE_WARNING:
          print_message(app, msg, "warning");
          break;
        case GST_MESSAGE_ELEMENT:
          if (gst_structure_has_name(st, "alexnet-stats"))
            if (const Stream* s = stream_of(app, GST_MESSAGE_SRC(msg))) print_stats(app, *s, st);
          break;
        case GST_MESSAGE_APPLICATION:  // --max-frames: every stream gave its frames
          if (gst_structure_has_name(st, "max-frames-reached"))
            gst_element_send_event(app.pipeline, gst_event_new_eos());
          break;
        default:
          done = true;
          break;
      }
      gst_message_unref(msg);
    }
  }
  gst_element_set_state(app.pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  return status;
}

// The summary lines; 1 when a stream had no frames or frames without the element's meta.
int summarize(App& app) {
  int status = 0;
  for (const auto& s : app.streams) {
    const std::pair<std::string, guint64>* best = nullptr;
    for (const auto& t : s->top1)
      if (!best || t.second > best->second) best = &t;
    std::string line =
        "{\"stream\": " + std::to_string(s->index) + ", \"source\": " + s->source_json +
        ", \"frames\": " + std::to_string(s->frames) + ", \"summary\": true, \"top\": ";
    example::json_string(line, best ? best->first.c_str() : nullptr);
    write_line(&app, line + "}\n");
    if (s->frames == 0) {
      std::fprintf(stderr, "%s: no video frames in stream %d (%s)\n", kProg, s->index,
                   s->uri.c_str());
      status = 1;
    } else if (s->without_meta > 0) {
      std::fprintf(stderr,
                   "%s: stream %d: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   " frames carried no GstAlexNetMeta\n",
                   kProg, s->index, s->without_meta, s->frames);
      status = 1;
    }
  }
  return status;
}

int run(const Options& opt) {
  App app;
  app.max_frames = opt.max_frames;
  for (const std::string& input : opt.inputs) {
    auto s = std::make_unique<Stream>();
    s->app = &app;
    s->index = static_cast<int>(app.streams.size());
    if (gst_uri_is_valid(input.c_str())) {
      s->uri = input;
    } else {  // a path
      if (!g_file_test(input.c_str(), G_FILE_TEST_IS_REGULAR)) {
        std::fprintf(stderr, "%s: input '%s' not found or not a file\n", kProg, input.c_str());
        return 1;
      }
      GError* err = nullptr;
      gchar* uri = gst_filename_to_uri(input.c_str(), &err);
      if (!uri) {
        std::fprintf(stderr, "%s: input '%s': %s\n", kProg, input.c_str(), err->message);
        g_error_free(err);
        return 1;
      }
      s->uri = uri;
      g_free(uri);
    }
    example::json_string(s->source_json, s->uri.c_str());
    app.streams.push_back(std::move(s));
  }
  app.pipeline = gst_pipeline_new("alexnet-streams");
  int status = 0;
  for (auto& s : app.streams)
    if (!add_stream(app, opt, *s)) {
      status = 1;
      break;
    }
  for (size_t i = 0; status == 0 && i < app.streams.size(); i++)
    status = configure(app, opt, *app.streams[i]);
  if (status == 0) status = play(app);
  if (status == 0) status = summarize(app);
  gst_object_unref(app.pipeline);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Our own options first (--help must work without GStreamer's option group).
  const Options opt = parse_args(argc, argv);
  gst_init(nullptr, nullptr);
  const int status = run(opt);
  gst_deinit();
  return status;
}
