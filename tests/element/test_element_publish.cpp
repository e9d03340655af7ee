// alexnetpublish (issue 19, method=file): every frame of a real pipeline becomes one JSON
// object, in order, whose fields equal the metas alexnetclassify attached; objects and
// tensors; the JSON array format; the default source; and the errors, naming the file.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "element_harness.h"
#include "gstalexnetmeta.h"
#include "gstalexnettensormeta.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace element_test;

namespace {

std::string temp_path(const std::string& name) {
  return (fs::path(files().a).parent_path() / name).string();
}

std::vector<json> read_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// What one frame's GstAlexNetMeta said, seen downstream of alexnetpublish.
struct Seen {
  guint64 pts = 0;
  std::vector<int> ids;
  std::vector<std::string> labels;
  std::vector<float> scores;
};

GstPadProbeReturn collect(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* seen = static_cast<std::vector<Seen>*>(data);
  GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
  Seen s;
  s.pts = GST_BUFFER_PTS(b);
  if (GstAlexNetMeta* m = gst_buffer_get_alexnet_meta(b))
    for (guint i = 0; i < m->n; ++i) {
      s.ids.push_back(m->ids[i]);
      s.labels.push_back(m->labels[i]);
      s.scores.push_back(m->scores[i]);
    }
  seen->push_back(std::move(s));
  return GST_PAD_PROBE_OK;
}

}  // namespace

TEST(Publish, EveryFrameInOrderWithTheElementsResults) {
  const std::string out = temp_path("publish-frames.jsonl");
  std::vector<Seen> seen;
  const std::string err = run_pipeline(
      "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,format=RGB,width=64,height=48,"
      "framerate=30/1 ! alexnetclassify model=" +
          files().a + " threads=1 ! alexnetpublish name=pub location=" + out +
          " ! fakesink name=out",
      collect, &seen);
  ASSERT_EQ(err, "");
  const std::vector<json> lines = read_lines(out);
  ASSERT_EQ(lines.size(), 30u);
  ASSERT_EQ(seen.size(), 30u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const json& j = lines[i];
    SCOPED_TRACE("frame " + std::to_string(i) + ": " + j.dump().substr(0, 300));
    EXPECT_EQ(j.at("schema"), "alexnet-publish/1");
    EXPECT_EQ(j.at("type"), "frame");
    EXPECT_EQ(j.at("source"), "pub");  // videotestsrc has no uri or location: the name
    EXPECT_EQ(j.at("seq").get<uint64_t>(), i);
    EXPECT_EQ(j.at("pts").get<uint64_t>(), seen[i].pts);
    EXPECT_EQ(j.at("running-time").get<uint64_t>(), seen[i].pts);  // one segment from 0
    EXPECT_EQ(j.at("width"), 64);
    EXPECT_EQ(j.at("height"), 48);
    EXPECT_EQ(j.at("timestamp").get<std::string>().back(), 'Z');
    EXPECT_EQ(j.at("model"), fs::path(files().a).filename().string());
    const json& r = j.at("results");
    ASSERT_EQ(r.size(), seen[i].ids.size());
    ASSERT_GT(r.size(), 0u);
    for (size_t k = 0; k < r.size(); ++k) {
      EXPECT_EQ(r[k].at("id").get<int>(), seen[i].ids[k]);
      EXPECT_EQ(r[k].at("label").get<std::string>(), seen[i].labels[k]);
      EXPECT_EQ(r[k].at("score").get<float>(), seen[i].scores[k]);  // exact through JSON
    }
  }
}

TEST(Publish, ObjectsTensorsAndTheArrayFormat) {
  const std::string out = temp_path("publish-objects.json");
  // Properties before the harness starts the element (they are READY-only).
  GstElement* el = gst_element_factory_make("alexnetpublish", nullptr);
  g_object_set(el, "location", out.c_str(), "source", "cam-7", "add-tensor", TRUE, nullptr);
  gst_util_set_object_arg(G_OBJECT(el), "file-format", "json-array");
  GstHarness* h = gst_harness_new_empty();
  gst_harness_add_element_full(h, el, &any_src, "sink", &any_sink, "src");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=320,height=240,framerate=25/1");
  for (int f = 0; f < 3; ++f) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 320 * 240 * 3, nullptr);
    GST_BUFFER_PTS(b) = f * 40 * GST_MSECOND;
    const gint ids[2] = {3, 1};
    const gchar* labels[3] = {"cat", "dog", nullptr};
    const gfloat scores[2] = {0.75f, 0.25f};
    gst_buffer_add_alexnet_object_meta(b, 2, ids, labels, scores, "m.safetensors", 11, 10, 20, 30,
                                       40);
    gst_buffer_add_alexnet_object_meta(b, 1, ids + 1, labels + 1, scores + 1, "m.safetensors", 12,
                                       0, 0, 5, 6);
    const gfloat probs[3] = {0.5f, 0.25f, 0.25f};
    gst_buffer_add_alexnet_tensor_meta(b, GST_ALEXNET_TENSOR_PROBABILITIES, 11, TRUE, probs, 3);
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
    gst_buffer_unref(gst_harness_pull(h));
  }
  gst_harness_teardown(h);  // stop: the array is closed
  gst_object_unref(el);
  std::ifstream in(out);
  const json all = json::parse(in);  // one valid JSON document
  ASSERT_TRUE(all.is_array());
  ASSERT_EQ(all.size(), 3u);
  const json& j = all[2];
  EXPECT_EQ(j.at("source"), "cam-7");
  EXPECT_EQ(j.at("seq"), 2);
  EXPECT_EQ(j.at("pts"), 80 * GST_MSECOND);
  EXPECT_FALSE(j.contains("results"));  // no full-frame result
  ASSERT_EQ(j.at("objects").size(), 2u);
  const json& o = j.at("objects")[0];
  EXPECT_EQ(o.at("roi-id"), 11);
  EXPECT_EQ(o.at("box"), json({{"x", 10}, {"y", 20}, {"width", 30}, {"height", 40}}));
  EXPECT_EQ(o.at("results")[0].at("label"), "cat");
  EXPECT_EQ(o.at("results")[0].at("score").get<float>(), 0.75f);
  EXPECT_EQ(j.at("objects")[1].at("results").size(), 1u);
  ASSERT_EQ(j.at("tensors").size(), 1u);
  EXPECT_EQ(j.at("tensors")[0].at("kind"), "probabilities");
  EXPECT_EQ(j.at("tensors")[0].at("roi-id"), 11);
  EXPECT_EQ(j.at("tensors")[0].at("data"), json({0.5, 0.25, 0.25}));
}

TEST(Publish, SourceDefaultsToTheUpstreamLocation) {
  const std::string png = temp_path("publish-source.png");
  const std::string out = temp_path("publish-source.jsonl");
  ASSERT_EQ(run_pipeline("videotestsrc num-buffers=1 ! video/x-raw,width=32,height=32 ! "
                         "pngenc ! filesink location=" +
                         png),
            "");
  ASSERT_EQ(
      run_pipeline("filesrc location=" + png +
                   " ! pngdec ! videoconvert ! alexnetpublish location=" + out + " ! fakesink"),
      "");
  const std::vector<json> lines = read_lines(out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("source"), png);
}

TEST(Publish, AnUnwritableLocationIsAnErrorNamingIt) {
  EXPECT_EQ(run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish "
                         "location=/nonexistent-dir/x.jsonl ! fakesink"),
            "cannot write \"/nonexistent-dir/x.jsonl\": No such file or directory");
  EXPECT_NE(run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish location=\"\" ! fakesink")
                .find("location is empty"),
            std::string::npos);
  // An unknown method is refused when the description is parsed, naming the property.
  EXPECT_NE(run_pipeline("videotestsrc num-buffers=1 ! alexnetpublish method=kafka ! fakesink")
                .find("\"method\""),
            std::string::npos);
}

// add-stats: each "alexnet-stats" that alexnetclassify posts also reaches alexnetpublish (as a
// custom event through a queue and videoconvert) and becomes one "type": "stats" object equal
// to the bus message, placed right after the frames it counts. Both paths of the classifier:
// one frame at a time, and batches pushed by its own thread.
class PublishStats : public ::testing::TestWithParam<const char*> {};

TEST_P(PublishStats, EqualTheBusMessagesAndFollowTheFramesTheyCount) {
  const std::string out = temp_path("publish-stats.jsonl");
  std::vector<json> posted;  // the bus's alexnet-stats, as JSON
  const int n = 40;
  const std::string err = run_pipeline(
      "videotestsrc num-buffers=" + std::to_string(n) +
          " pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! "
          "alexnetclassify name=cls model=" +
          files().a + " threads=1 stats-interval=1 " + GetParam() +
          " ! queue ! videoconvert ! alexnetpublish add-stats=true source=cam-s location=" + out +
          " ! fakesink",
      nullptr, nullptr, nullptr, nullptr, [&](const GstStructure* s) {
        if (!gst_structure_has_name(s, "alexnet-stats")) return;
        json j = json::object();
        for (int i = 0; i < gst_structure_n_fields(s); ++i) {
          const gchar* name = gst_structure_nth_field_name(s, static_cast<guint>(i));
          const GValue* v = gst_structure_get_value(s, name);
          if (G_VALUE_HOLDS_UINT64(v))
            j[name] = g_value_get_uint64(v);
          else if (G_VALUE_HOLDS_DOUBLE(v))
            j[name] = g_value_get_double(v);
          else if (G_VALUE_HOLDS_UINT(v))
            j[name] = g_value_get_uint(v);
        }
        posted.push_back(std::move(j));
      });
  ASSERT_EQ(err, "");
  const std::vector<json> lines = read_lines(out);
  std::vector<json> stats;
  uint64_t frames_before = 0;
  for (const json& j : lines) {
    if (j.at("type") == "frame") {
      ++frames_before;
      continue;
    }
    ASSERT_EQ(j.at("type"), "stats") << j.dump();
    SCOPED_TRACE("stats " + j.dump());
    EXPECT_EQ(j.at("schema"), "alexnet-publish/1");
    EXPECT_EQ(j.at("source"), "cam-s");
    EXPECT_EQ(j.at("seq").get<uint64_t>(), stats.size());  // its own count, from 0
    // right after the frames it counts: every frame that had left the classifier is written
    EXPECT_EQ(j.at("stats").at("frames").get<uint64_t>(), frames_before);
    EXPECT_EQ(j.at("publish").at("frames").get<uint64_t>(), frames_before);
    EXPECT_EQ(j.at("publish").at("dropped"), 0);
    EXPECT_FALSE(j.at("publish").contains("queued"));  // method=file
    EXPECT_EQ(j.at("stats").at("element"), "cls");     // which classifier
    stats.push_back(j);
    stats.back()["stats"].erase("element");  // not in the bus message, which has its source
  }
  EXPECT_EQ(frames_before, static_cast<uint64_t>(n));
  ASSERT_EQ(stats.size(), posted.size()) << "one stats object per bus message";
  ASSERT_GE(stats.size(), 2u) << "stats-interval=1: several windows, and the one at EOS";
  for (size_t i = 0; i < stats.size(); ++i)
    EXPECT_EQ(stats[i].at("stats"), posted[i]) << "stats " << i;  // doubles exact through JSON
  EXPECT_EQ(stats.back().at("stats").at("frames"), n);            // the one at EOS
}

INSTANTIATE_TEST_SUITE_P(ClassifierPaths, PublishStats,
                         ::testing::Values("batch-size=1", "batch-size=4 batch-timeout=5"),
                         [](const auto& info) {
                           return std::string(info.index == 0 ? "OneFrameAtATime" : "Batched");
                         });

TEST(Publish, WithoutAddStatsOnlyFrames) {
  const std::string out = temp_path("publish-nostats.jsonl");
  ASSERT_EQ(run_pipeline("videotestsrc num-buffers=5 ! video/x-raw,format=RGB,width=32,height=32 "
                         "! alexnetclassify model=" +
                         files().a + " threads=1 ! alexnetpublish location=" + out + " ! fakesink"),
            "");
  const std::vector<json> lines = read_lines(out);
  ASSERT_EQ(lines.size(), 5u);
  for (const json& j : lines) EXPECT_EQ(j.at("type"), "frame");
}

// Two classifiers in a row, the second batching: the first's stats wait in the second until the
// frames they count have left it (no drain of its partial batch), so in the output every stats
// object, whichever classifier sent it, follows exactly the frames it counts.
TEST(Publish, StatsOfAChainOfClassifiersFollowTheirFrames) {
  const std::string out = temp_path("publish-chain.jsonl");
  const int n = 40;
  ASSERT_EQ(
      run_pipeline("videotestsrc num-buffers=" + std::to_string(n) +
                   " ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! "
                   "alexnetclassify name=first model=" +
                   files().a +
                   " threads=1 stats-interval=1 ! alexnetclassify name=second model=" + files().a +
                   " threads=1 batch-size=4 batch-timeout=20 stats-interval=3 ! "
                   "alexnetpublish add-stats=true location=" +
                   out + " ! fakesink"),
      "");
  uint64_t frames_before = 0;
  std::map<std::string, int> per_element;
  for (const json& j : read_lines(out)) {
    if (j.at("type") == "frame") {
      ++frames_before;
      continue;
    }
    const std::string element = j.at("stats").at("element");
    ++per_element[element];
    EXPECT_EQ(j.at("stats").at("frames").get<uint64_t>(), frames_before) << j.dump();
  }
  EXPECT_EQ(frames_before, static_cast<uint64_t>(n));
  EXPECT_GE(per_element["first"], 2) << "several windows and the one at EOS";
  EXPECT_GE(per_element["second"], 1);
  EXPECT_EQ(per_element.size(), 2u);
}
