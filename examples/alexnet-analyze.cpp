// alexnet-analyze: an example analytics application. It classifies every frame of a video
// file with the alexnetclassify element and prints one JSON line per frame, read from the
// GstAlexNetMeta the element attaches to each buffer (through the installed meta library,
// pkg-config gstalexnetmeta-1.0):
//
//   {"pts": 33333333, "labels": ["tabby, tabby cat", ...], "scores": [0.53, ...], "ids": [281,
//   ...]}
//
// The pipeline: filesrc ! decodebin ! videoconvert ! alexnetclassify ! fakesink, with a pad
// probe on the sink's pad. Exit status: 0 done, 1 runtime error (printed from the bus),
// 2 usage error.
#include <gst/gst.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "example_util.h"
#include "gstalexnetmeta.h"

namespace {

constexpr const char* kProg = "alexnet-analyze";

constexpr const char* kUsage = "usage: alexnet-analyze [OPTIONS] MODEL.safetensors VIDEO_FILE\n";

constexpr const char* kHelp =
    "\n"
    "Classifies every frame of VIDEO_FILE with the GStreamer element alexnetclassify and\n"
    "prints one JSON line per frame on stdout, read from the GstAlexNetMeta on each buffer:\n"
    "  {\"pts\": NANOSECONDS|null, \"labels\": [...], \"scores\": [...], \"ids\": [...]}\n"
    "(top-k, best first).\n"
    "\n"
    "Options (each sets the alexnetclassify property of the same name):\n"
    "  -d, --device DEV         auto | cpu | cpu,cpu | gpu:0,gpu:1 ... (default: element's)\n"
    "  -k, --top-k K            labels per frame\n"
    "  -t, --threads N          CPU threads, 0 = all cores\n"
    "  -i, --inference-interval N  classify every Nth frame, carry the result on the others\n"
    "  -b, --batch-size N       frames classified together\n"
    "  -l, --labels-file FILE   labels overriding the model's\n"
    "  -s, --set NAME=VALUE     any other alexnetclassify property (repeatable)\n"
    "  -h, --help               this help\n"
    "\n"
    "The element is found like any GStreamer plugin; from a build folder run with\n"
    "GST_PLUGIN_PATH=build/plugins/alexnet. Exit status: 0 done, 1 error, 2 usage error.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n%s(--help for more)\n", kProg, what.c_str(), kUsage);
  std::exit(2);
}

struct Probe {
  guint64 frames = 0;
  guint64 without_meta = 0;
};

// On fakesink's sink pad: one JSON line per buffer.
GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo* info, gpointer user_data) {
  auto* probe = static_cast<Probe*>(user_data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buf) return GST_PAD_PROBE_OK;
  probe->frames++;
  std::string line = "{\"pts\": ";
  if (GST_BUFFER_PTS_IS_VALID(buf))
    line += std::to_string(GST_BUFFER_PTS(buf));
  else
    line += "null";
  GstAlexNetMeta* meta = gst_buffer_get_alexnet_meta(buf);
  if (!meta) {
    probe->without_meta++;
    std::fprintf(stderr, "%s: warning: frame %" G_GUINT64_FORMAT " carries no GstAlexNetMeta\n",
                 kProg, probe->frames - 1);
  }
  line += ", ";
  example::json_topk(line, meta);
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
  return GST_PAD_PROBE_OK;
}

// decodebin's video pad → videoconvert; other streams (audio, subtitles) stay unlinked.
void on_pad_added(GstElement*, GstPad* pad, gpointer user_data) {
  const GstPadLinkReturn r = example::link_video_pad(pad, static_cast<GstElement*>(user_data));
  if (GST_PAD_LINK_FAILED(r))
    std::fprintf(stderr, "%s: could not link the decoder to videoconvert: %s\n", kProg,
                 gst_pad_link_get_name(r));
}

// Prints an error or warning message from the bus.
void print_message(GstMessage* msg, const char* kind) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, &err, &debug);
  else
    gst_message_parse_warning(msg, &err, &debug);
  std::fprintf(stderr, "%s: %s from %s: %s\n", kProg, kind, GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
               err ? err->message : "(no message)");
  if (debug) std::fprintf(stderr, "  (%s)\n", debug);
  g_clear_error(&err);
  g_free(debug);
}

struct Options {
  std::string model, video;
  std::vector<std::pair<std::string, std::string>> props;  // alexnetclassify properties
};

// The options that set the alexnetclassify property of their long name.
constexpr const char* kPropertyOptions[][2] = {
    {"-d", "device"},     {"-k", "top-k"},       {"-t", "threads"}, {"-i", "inference-interval"},
    {"-b", "batch-size"}, {"-l", "labels-file"},
};

// The property option `name` (short or long form) sets, or nullptr.
const char* property_of_option(const std::string& name) {
  for (const auto& [short_name, property] : kPropertyOptions)
    if (name == short_name || name == std::string("--") + property) return property;
  return nullptr;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  auto value = [&](int& i, std::string_view name) -> std::string {
    if (i + 1 >= argc) usage_error("option " + std::string(name) + " needs a value");
    return argv[++i];
  };
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
    auto get = [&]() { return has_inline ? inline_value : value(i, name); };
    if (name == "-h" || name == "--help") {
      std::fputs(kUsage, stdout);
      std::fputs(kHelp, stdout);
      std::exit(0);
    } else if (const char* property = property_of_option(name)) {
      o.props.emplace_back(property, get());
    } else if (name == "-s" || name == "--set") {
      const std::string kv = get();
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        usage_error("--set needs NAME=VALUE, not '" + kv + "'");
      o.props.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (positional.size() != 2)
    usage_error("expected MODEL and VIDEO_FILE, got " + std::to_string(positional.size()) +
                " argument(s)");
  o.model = positional[0];
  o.video = positional[1];
  return o;
}

// The pipeline's elements: filesrc ! decodebin ! videoconvert ! alexnetclassify ! fakesink.
struct Elements {
  GstElement *src, *decode, *convert, *classify, *sink;
};

// Makes the elements (not yet in a bin). A missing one is printed with the package that brings
// it, and false returned with nothing left to free.
bool make_elements(Elements& e) {
  e.classify = gst_element_factory_make("alexnetclassify", "classify");
  if (!e.classify) {
    std::fprintf(stderr,
                 "%s: GStreamer element 'alexnetclassify' not found: the plugin libgstalexnet.so "
                 "is not installed and not on GST_PLUGIN_PATH; from a build folder run with "
                 "GST_PLUGIN_PATH=build/plugins/alexnet\n",
                 kProg);
    return false;
  }
  const char* names[] = {"filesrc", "decodebin", "videoconvert", "fakesink"};
  GstElement* el[4] = {};
  for (int i = 0; i < 4; i++) {
    el[i] = gst_element_factory_make(names[i], nullptr);
    if (!el[i]) {
      std::fprintf(stderr, "%s: GStreamer element '%s' not found (gstreamer1.0-plugins-base)\n",
                   kProg, names[i]);
      for (int j = 0; j < i; j++) gst_object_unref(el[j]);
      gst_object_unref(e.classify);
      return false;
    }
  }
  e.src = el[0], e.decode = el[1], e.convert = el[2], e.sink = el[3];
  return true;
}

// Sets the --set and short-option properties on alexnetclassify, each value parsed by the
// property's type as gst-launch-1.0 does. An unknown property or a bad value is a usage error:
// printed, and false returned.
bool set_properties(GstElement* classify, const Options& opt) {
  for (const auto& [name, val] : opt.props) {
    GParamSpec* ps = g_object_class_find_property(G_OBJECT_GET_CLASS(classify), name.c_str());
    if (!ps || !(ps->flags & G_PARAM_WRITABLE)) {
      std::fprintf(stderr, "%s: alexnetclassify has no writable property '%s'\n", kProg,
                   name.c_str());
      return false;
    }
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(ps));
    if (!gst_value_deserialize_with_pspec(&v, val.c_str(), ps)) {
      std::fprintf(stderr, "%s: invalid value '%s' for property '%s' (%s)\n", kProg, val.c_str(),
                   name.c_str(), g_type_name(G_PARAM_SPEC_VALUE_TYPE(ps)));
      g_value_unset(&v);
      return false;
    }
    g_object_set_property(G_OBJECT(classify), name.c_str(), &v);
    g_value_unset(&v);
  }
  return true;
}

// Plays the pipeline to its end: 0 at EOS, 1 on an error (printed from the bus). Warnings are
// printed and play goes on. Leaves the pipeline in NULL.
int play(GstElement* pipeline) {
  int status = 0;
  GstBus* bus = gst_element_get_bus(pipeline);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The element posted the reason (e.g. the model file) on the bus.
    bool printed = false;
    while (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      print_message(msg, "error");
      gst_message_unref(msg);
      printed = true;
    }
    if (!printed) std::fprintf(stderr, "%s: the pipeline failed to start\n", kProg);
    status = 1;
  } else {
    for (bool done = false; !done;) {
      GstMessage* msg = gst_bus_timed_pop_filtered(
          bus, GST_CLOCK_TIME_NONE,
          static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_WARNING | GST_MESSAGE_EOS));
      switch (GST_MESSAGE_TYPE(msg)) {
        case GST_MESSAGE_ERROR:
          print_message(msg, "error");
          status = 1;
          done = true;
          break;
        case GST_MESSAGE_WARNING:
          print_message(msg, "warning");
          break;
        default:
          done = true;
          break;
      }
      gst_message_unref(msg);
    }
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  return status;
}

// A run that played to the end still fails when the video had no frames, or when a frame came
// through without the element's meta (the very thing this example exists to read).
int check_frames(const Probe& probe, const Options& opt) {
  if (probe.frames == 0) {
    std::fprintf(stderr, "%s: no video frames in '%s'\n", kProg, opt.video.c_str());
    return 1;
  }
  if (probe.without_meta > 0) {
    std::fprintf(stderr,
                 "%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                 " frames carried no GstAlexNetMeta\n",
                 kProg, probe.without_meta, probe.frames);
    return 1;
  }
  return 0;
}

int run(const Options& opt) {
  if (!g_file_test(opt.video.c_str(), G_FILE_TEST_IS_REGULAR)) {
    std::fprintf(stderr, "%s: input video '%s' not found or not a file\n", kProg,
                 opt.video.c_str());
    return 1;
  }
  Elements e;
  if (!make_elements(e)) return 1;
  GstElement* pipeline = gst_pipeline_new("alexnet-analyze");
  gst_bin_add_many(GST_BIN(pipeline), e.src, e.decode, e.convert, e.classify, e.sink, nullptr);

  g_object_set(e.src, "location", opt.video.c_str(), nullptr);
  g_object_set(e.sink, "sync", FALSE, nullptr);
  g_object_set(e.classify, "model", opt.model.c_str(), nullptr);
  if (!set_properties(e.classify, opt)) {
    gst_object_unref(pipeline);
    return 2;
  }

  // decodebin's source pad appears once it has seen the stream: linked then (on_pad_added).
  if (!gst_element_link(e.src, e.decode) ||
      !gst_element_link_many(e.convert, e.classify, e.sink, nullptr)) {
    std::fprintf(stderr, "%s: could not link the pipeline\n", kProg);
    gst_object_unref(pipeline);
    return 1;
  }
  g_signal_connect(e.decode, "pad-added", G_CALLBACK(on_pad_added), e.convert);

  Probe probe;
  GstPad* sinkpad = gst_element_get_static_pad(e.sink, "sink");
  gst_pad_add_probe(sinkpad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &probe, nullptr);
  gst_object_unref(sinkpad);

  const int status = play(pipeline);
  gst_object_unref(pipeline);
  return status != 0 ? status : check_frames(probe, opt);
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
